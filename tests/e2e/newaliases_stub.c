/*
 * newaliases_stub.c - test stand-in for `newaliases` / `sendmail -bi`:
 * rebuilds the alias databases named on its command line with the same
 * library call (newaliases_rebuild) and prints what newaliases prints.
 * Used by t_map_interop.sh only; runs as the test's user.
 */
#include "compat.h"

#include <stdio.h>
#include <sysexits.h>

#include "mail/newaliases.h"
#include "util/buf.h"

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: newaliases_stub type:/path ...\n");
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
