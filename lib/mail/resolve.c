/*
 * resolve.c - resolve_address() with the settings of the loaded main.cf.
 *
 * Mail layer. Runs in whatever process calls it (cleanup, smtpd, qmgr,
 * sendmail -bv/-bt) with that process's privileges; it reads alias_maps
 * and the password database, nothing else. Parameters read:
 * mydestination, virtual_alias_domains, myorigin, recipient_delimiter,
 * relayhost, local_maildir_base, alias_maps, swap_bangpath,
 * allow_percent_hack, append_dot_mydomain, mydomain, allow_min_user.
 */
#include "compat.h"

#include <pwd.h>
#include <stdlib.h>
#include <string.h>

#include "mail/config.h"
#include "mail/param_maps.h"
#include "mail/resolve.h"

/* alias_maps, opened on first use and kept: lookups are frequent. */
static struct param_maps aliases = PARAM_MAPS_INIT(P_alias_maps);

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
	};

	return resolve_address_with(address, &conf, r);
}
