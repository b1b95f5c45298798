/*
 * tern - start, stop and look after Tern; make instances.
 *
 * SYNOPSIS
 *	tern init [--port N] DIR
 *	tern [-c config_dir] start [-f]
 *	tern [-c config_dir] stop | reload | status | flush | check
 *	tern [-c config_dir] setup [--non-interactive] [--preseed FILE] [--NAME VALUE]...
 *	tern [-c config_dir] migrate-sendmail [--from DIR] [--to DIR] [--apply]
 *
 * DESCRIPTION
 *	The administrator's command, like Postfix's postfix(1). `init` makes
 *	a self-contained instance (tern_init.c); `setup` asks the install
 *	questions and writes their answers (tern_setup.c); `migrate-sendmail`
 *	translates a sendmail host's /etc/mail (tern_migrate.c); the others control the
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

#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mail/config.h"
#include "mail/daemon.h"
#include "tools/tern.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/mem.h"

static void usage(void)
{
	fprintf(stderr,
		"usage: tern init [--port N] DIR\n"
		"       tern [-c config_dir] start [-f]\n"
		"       tern [-c config_dir] stop | reload | status | flush | check\n"
		"       tern [-c config_dir] setup [--non-interactive] [--preseed FILE] [--NAME VALUE]...\n"
		"       tern [-c config_dir] migrate-sendmail [--from DIR] [--to DIR] [--apply]\n");
	exit(EX_USAGE);
}

/*
 * Root never acts for a configuration that someone else controls: its
 * owner could name any daemon_directory (run as root by start) or write
 * any pid into the pid file (signalled by stop). When the configuration
 * directory or its main.cf belongs to another user, tern becomes that
 * user first, so the instance runs exactly as if its owner had started
 * it, and nothing of it runs as root.
 */
void act_as_config_owner(const char *dir)
{
	if (geteuid() != 0)
		return;
	const char *cdir = dir ? dir : config_default_dir();
	char *main_cf = xasprintf("%s/main.cf", cdir);
	struct stat dst, mst;
	uid_t owner = 0;
	if (stat(cdir, &dst) == 0 && dst.st_uid != 0)
		owner = dst.st_uid;
	if (stat(main_cf, &mst) == 0 && mst.st_uid != 0)
		owner = mst.st_uid;
	free(main_cf);
	if (owner == 0)
		return;
	struct passwd *pw = getpwuid(owner);
	gid_t gid = pw ? pw->pw_gid : (owner == dst.st_uid ? dst.st_gid : mst.st_gid);
	struct buf err = BUF_INIT;
	if (priv_drop_ids(owner, gid, &err) < 0)
		msg_fatal_status(EX_NOPERM, "cannot become %s, the owner of %s: %s",
				 pw ? pw->pw_name : "its owner", cdir, buf_str(&err));
	msg_debug("acting as uid %ld, the owner of %s", (long)owner, cdir);
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
			if (strcmp(cmd, "setup") == 0)
				return cmd_setup(argc - i, argv + i, dir);
			if (strcmp(cmd, "migrate-sendmail") == 0)
				return cmd_migrate(argc - i, argv + i, dir);
		} else
			usage();
	}
	if (cmd == NULL)
		usage();
	if (dir && *dir == '\0')
		usage();
	act_as_config_owner(dir);
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
