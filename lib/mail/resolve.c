/*
 * resolve.c - resolve_address() with the settings of the loaded main.cf.
 *
 * Mail layer. Runs in whatever process calls it (cleanup, smtpd, qmgr,
 * sendmail -bv/-bt) with that process's privileges; it reads alias_maps
 * and the password database, nothing else. Parameters read:
 * mydestination, virtual_alias_domains, myorigin, recipient_delimiter,
 * relayhost, local_maildir_base, alias_maps, swap_bangpath,
 * allow_percent_hack, append_dot_mydomain, mydomain, allow_min_user,
 * transport_maps, default_transport, relay_transport, relay_domains.
 */
#include "compat.h"

#include <pwd.h>
#include <stdlib.h>
#include <string.h>

#include "mail/config.h"
#include "mail/domain_list.h"
#include "mail/param_maps.h"
#include "mail/resolve.h"
#include "util/log.h"
#include "util/mem.h"

/* alias_maps and transport_maps, opened on first use and kept: lookups are frequent. */
static struct param_maps aliases = PARAM_MAPS_INIT(P_alias_maps);
static struct param_maps transports = PARAM_MAPS_INIT(P_transport_maps);

/* relay_domains, opened again when its value or one of its tables changed. */
static struct domain_list *relay_list;
static char *relay_list_value;

static int transport_lookup(const char *key, struct buf *value, void *ctx)
{
	(void)ctx;
	return param_maps_lookup(&transports, key, value);
}

static int relay_domain(const char *domain, void *ctx)
{
	const char *v = cfg_str(P_relay_domains);
	struct buf err = BUF_INIT;
	int rc;

	(void)ctx;
	if (relay_list != NULL && (strcmp(relay_list_value, v) != 0 || domain_list_changed(relay_list))) {
		domain_list_free(relay_list);
		relay_list = NULL;
		free(relay_list_value);
	}
	if (relay_list == NULL) {
		relay_list = domain_list_open(v, &err);
		if (relay_list == NULL) {
			msg_warn("relay_domains: %s", buf_str(&err));
			buf_free(&err);
			return -1;
		}
		relay_list_value = xstrdup(v);
	}
	rc = domain_list_match(relay_list, domain, &err);
	if (rc < 0)
		msg_warn("relay_domains: %s", buf_str(&err));
	buf_free(&err);
	return rc;
}

int resolve_local_user_known(const char *full, const char *base, void *ctx)
{
	struct buf value = BUF_INIT;
	int found;

	(void)ctx;
	found = param_maps_lookup(&aliases, full, &value) > 0;
	if (!found && strcmp(full, base) != 0)
		found = param_maps_lookup(&aliases, base, &value) > 0;
	buf_free(&value);
	if (!found)
		found = getpwnam(base) != NULL;
	return found;
}

bool resolve_unroutable(const char *address, char *dsn, size_t dsnsize, struct buf *text)
{
	struct resolved r;
	bool refuse;

	if (!resolve_domain_not_ascii(address))
		return false;
	resolved_init(&r);
	refuse = resolve_address(address, &r) != 0 && r.nexthop.len > 0;
	if (refuse)
		resolve_error_text(buf_str(&r.nexthop), '5', dsn, dsnsize, text);
	resolved_free(&r);
	return refuse;
}

int resolve_address(const char *address, struct resolved *r)
{
	struct resolve_conf conf = {
		.mydestination = cfg_list(P_mydestination),
		.virtual_alias_domains = cfg_list(P_virtual_alias_domains),
		.myorigin = cfg_str(P_myorigin),
		.recipient_delimiter = cfg_str(P_recipient_delimiter),
		.relayhost = cfg_str(P_relayhost),
		.local_maildir_base = cfg_str(P_local_maildir_base),
		.user_known = resolve_local_user_known,
		.swap_bangpath = cfg_bool(P_swap_bangpath),
		.percent_hack = cfg_bool(P_allow_percent_hack),
		.append_dot_mydomain = cfg_bool(P_append_dot_mydomain) ? cfg_str(P_mydomain) : NULL,
		.reject_min_user = !cfg_bool(P_allow_min_user),
		.default_transport = cfg_str(P_default_transport),
		.relay_transport = cfg_str(P_relay_transport),
		.relay_domain = relay_domain,
		.transport_lookup = transport_lookup,
	};

	return resolve_address_with(address, &conf, r);
}
