/*
 * resolve.c - resolve_address() with the settings of the loaded main.cf.
 *
 * Mail layer. Runs in whatever process calls it (cleanup, smtpd, qmgr,
 * sendmail -bv/-bt) with that process's privileges; it reads alias_maps
 * and the password database, nothing else. Parameters read:
 * mydestination, virtual_alias_domains, myorigin, recipient_delimiter,
 * relayhost, local_maildir_base, alias_maps.
 */
#include "compat.h"

#include <pwd.h>
#include <stdlib.h>
#include <string.h>

#include "mail/config.h"
#include "mail/resolve.h"
#include "util/log.h"
#include "util/map.h"
#include "util/mem.h"

/* alias_maps, opened on first use and kept: lookups are frequent. */
static struct maplist *alias_list;
static char *alias_spec;

static struct maplist *aliases(void)
{
	const char *spec = cfg_str("alias_maps");
	struct buf err = BUF_INIT;

	if (alias_spec != NULL && strcmp(alias_spec, spec) == 0)
		return alias_list;
	if (alias_list != NULL)
		maplist_close(alias_list);
	free(alias_spec);
	alias_spec = xstrdup(spec);
	alias_list = NULL;
	if (*spec != '\0') {
		alias_list = maplist_open(spec, 0, &err);
		if (alias_list == NULL)
			msg_warn("alias_maps: %s", buf_str(&err));
	}
	buf_free(&err);
	return alias_list;
}

int resolve_local_user_known(const char *full, const char *base, void *ctx)
{
	struct maplist *list = aliases();
	struct buf value = BUF_INIT;
	int found = 0;

	(void)ctx;
	if (list != NULL) {
		found = maplist_lookup(list, full, &value) > 0;
		if (!found && strcmp(full, base) != 0)
			found = maplist_lookup(list, base, &value) > 0;
	}
	buf_free(&value);
	if (!found)
		found = getpwnam(base) != NULL;
	return found;
}

int resolve_address(const char *address, struct resolved *r)
{
	struct resolve_conf conf = {
		.mydestination = cfg_list("mydestination"),
		.virtual_alias_domains = cfg_list("virtual_alias_domains"),
		.myorigin = cfg_str("myorigin"),
		.recipient_delimiter = cfg_str("recipient_delimiter"),
		.relayhost = cfg_str("relayhost"),
		.local_maildir_base = cfg_str("local_maildir_base"),
		.user_known = resolve_local_user_known,
	};

	return resolve_address_with(address, &conf, r);
}
