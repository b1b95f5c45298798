/*
 * dns_config.c - the DNS module's settings from main.cf, for the smtp
 * delivery program: smtp_dns_support_level = dnssec turns validation on,
 * with the trust anchors of dns_trust_anchor_file.
 *
 * Mail layer, no privileges. Apart from dns.c so that a program that
 * sets up DNS its own way (smtpd, from smtpd_dns_servers) does not read
 * these parameters.
 */
#include "compat.h"

#include <string.h>

#include "mail/config.h"
#include "mail/dns.h"

int dns_init_from_config(struct buf *err)
{
	struct dns_conf c = {
		.dnssec = strcmp(cfg_str(P_smtp_dns_support_level), "dnssec") == 0,
		.trust_anchor_file = cfg_str(P_dns_trust_anchor_file),
		.servers = NULL,
	};
	return dns_init(&c, err);
}
