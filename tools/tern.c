/*
 * tern - start, stop and look after Tern; make instances.
 *
 * SYNOPSIS
 *	tern init [--port N] DIR
 *	tern [-c config_dir] start [-f]
 *	tern [-c config_dir] stop | reload | status | flush | check
 *
 * DESCRIPTION
 *	The administrator's command, like Postfix's postfix(1). `init` makes
 *	a self-contained instance (tern_init.c); the others control the
 *	master ternd(8) of the configuration directory given with -c (before
 *	or after the command), $TERN_CONFIG_DIR, or the default (tern_ctl.c).
 *
 * SECURITY
 *	Runs with the caller's privileges: root on a real host, the owner on
 *	an instance. Not set-id. It starts ternd with those same privileges.
 *	`tern init` run by root creates the unprivileged account the instance
 *	runs as (tern-account) and hands it the parts its processes write.
 *
 * SEE ALSO
 *	tern(8), ternd(8)
 */
#include "compat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "tools/tern.h"
#include "util/log.h"

static void usage(void)
{
	fprintf(stderr,
		"usage: tern init [--port N] DIR\n"
		"       tern [-c config_dir] start [-f]\n"
		"       tern [-c config_dir] stop | reload | status | flush | check\n");
	exit(EX_USAGE);
}

int main(int argc, char **argv)
{
	const char *dir = NULL;
	bool foreground = false;
	int i = 1;

	log_init("tern", LOG_TO_STDERR);
	/* -c DIR and -v may come before or after the command. */
	const char *cmd = NULL;
	for (; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
			dir = argv[++i];
		else if (strncmp(argv[i], "-c", 2) == 0 && argv[i][2])
			dir = argv[i] + 2;
		else if (strcmp(argv[i], "-v") == 0)
			log_set_verbose(1);
		else if (strcmp(argv[i], "-f") == 0 && cmd && strcmp(cmd, "start") == 0)
			foreground = true;
		else if (cmd == NULL && argv[i][0] != '-') {
			cmd = argv[i];
			if (strcmp(cmd, "init") == 0)
				return cmd_init(argc - i, argv + i);
		} else
			usage();
	}
	if (cmd == NULL)
		usage();
	if (dir && *dir == '\0')
		usage();
	if (strcmp(cmd, "start") == 0)
		return cmd_start(dir, foreground);
	if (strcmp(cmd, "stop") == 0)
		return cmd_stop(dir);
	if (strcmp(cmd, "reload") == 0)
		return cmd_reload(dir);
	if (strcmp(cmd, "status") == 0)
		return cmd_status(dir);
	if (strcmp(cmd, "flush") == 0)
		return cmd_flush(dir);
	if (strcmp(cmd, "check") == 0)
		return cmd_check(dir);
	fprintf(stderr, "tern: unknown command \"%s\"\n", cmd);
	usage();
}
