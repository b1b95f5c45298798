/*
 * newaliases_stub.c - the alias database builder without sendmail around
 * it: with -C DIR it loads DIR/main.cf and calls newaliases_run() as
 * sendmail -bi does; otherwise it rebuilds the databases named on its
 * command line with newaliases_rebuild() (no configuration at all).
 * Used by t_map_interop.sh (t_newaliases.sh runs the real newaliases);
 * runs as the test's user.
 */
#include "compat.h"

#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "mail/config.h"
#include "mail/newaliases.h"
#include "util/buf.h"
#include "util/log.h"

int main(int argc, char **argv)
{
	log_init("newaliases", LOG_TO_STDERR);
	if (argc == 3 && strcmp(argv[1], "-C") == 0) {
		struct buf err = BUF_INIT;
		if (config_load(argv[2], false, &err) < 0) {
			fprintf(stderr, "newaliases: %s\n", buf_str(&err));
			buf_free(&err);
			return EX_CONFIG;
		}
		buf_free(&err);
		return newaliases_run();
	}
	if (argc < 2) {
		fprintf(stderr, "usage: newaliases_stub -C dir | type:/path ...\n");
		return EX_USAGE;
	}
	struct buf out = BUF_INIT, diag = BUF_INIT;
	int status = newaliases_rebuild(argv + 1, &out, &diag);
	fputs(buf_str(&out), stdout);
	fputs(buf_str(&diag), stderr);
	buf_free(&out);
	buf_free(&diag);
	return status;
}
