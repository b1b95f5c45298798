/*
 * fuzz_migrate.c - libFuzzer target for the parsers of tern
 * migrate-sendmail (lib/mail/migrate_parse.c), which read a sendmail
 * host's files: the input is split at the first tab into a key and a
 * value for the access, virtusertable and mailertable parsers, and is
 * given whole to the sendmail.mc, sendmail.cf and DAEMON_OPTIONS parsers.
 * Nothing may crash, leak or read out of bounds; a translation that
 * succeeds has non-empty parts.
 */
#include "compat.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mail/migrate.h"
#include "util/mem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = xstrndup((const char *)data, size);
	char *tab = strchr(s, '\t');
	const char *key = s, *value = "";
	if (tab) {
		*tab = '\0';
		value = tab + 1;
	}
	struct buf k = BUF_INIT, v = BUF_INIT, why = BUF_INIT;
	struct mig_access a;
	if (mig_access_entry(key, value, &a, &why)) {
		if (a.n == 0 || a.n > 3)
			abort();
		for (size_t i = 0; i < a.n; i++)
			if (a.e[i].key[0] == '\0' || a.e[i].value[0] == '\0')
				abort();
		mig_access_free(&a);
	}
	bool is_error;
	if (mig_virtuser_entry(key, value, &k, &v, &is_error, &why) && (k.len == 0 || v.len == 0))
		abort();
	if (mig_mailertable_entry(key, value, &k, &v, &why) && (k.len == 0 || v.len == 0))
		abort();
	if (tab)
		*tab = '\t';
	struct mig_mc_call c;
	if (mig_mc_line(s, &c, &why) == 1) {
		if (c.name[0] == '\0' || c.argc > MIG_MC_MAXARGS)
			abort();
		mig_mc_call_free(&c);
	}
	(void)mig_mc_complete(s);
	char kind, *name, *val;
	if (mig_cf_line(s, &kind, &name, &val)) {
		if (name[0] == '\0')
			abort();
		free(name);
		free(val);
	}
	struct mig_daemon d;
	if (mig_daemon_options(s, &d, &why))
		mig_daemon_free(&d);
	buf_free(&k);
	buf_free(&v);
	buf_free(&why);
	free(s);
	return 0;
}
