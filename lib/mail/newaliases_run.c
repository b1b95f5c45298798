/*
 * newaliases_run.c - newaliases and sendmail -bi: rebuild the databases
 * named by the alias_database parameter (see newaliases.h).
 *
 * Mail layer; runs with its caller's privileges. Kept apart from
 * newaliases.c so that code using only the builder does not pull in the
 * configuration.
 */
#include "compat.h"

#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "mail/config.h"
#include "mail/newaliases.h"
#include "util/log.h"

int newaliases_run(void)
{
	char **dbs = cfg_list(P_alias_database);
	struct buf out = BUF_INIT, diag = BUF_INIT;
	char *none[] = {NULL};
	int status = newaliases_rebuild(dbs ? dbs : none, &out, &diag);
	fputs(buf_str(&out), stdout);
	fflush(stdout);
	/* One warning per problem line. */
	char *s = diag.data;
	while (s && *s) {
		char *nl = strchr(s, '\n');
		if (nl)
			*nl = '\0';
		msg_warn("%s", s);
		s = nl ? nl + 1 : s + strlen(s);
	}
	buf_free(&out);
	buf_free(&diag);
	return status;
}
