/*
 * tern_init.c - `tern init [--port N] DIR`: make a self-contained
 * instance that runs without root (the work is lib/mail/instance.c).
 *
 * Runs as the caller, who becomes the instance's mail_owner; run by
 * root, the instance's mail_owner is the unprivileged account TERN_USER
 * ("tern", created when missing by the tern-account script that make
 * install uses too), so that only ternd and local run as root. The last
 * line of output is the SMTP address, 127.0.0.1:PORT. Run again on an
 * instance it made, it changes nothing and exits 0; a directory that is
 * neither empty nor such an instance is refused with exit 73
 * (EX_CANTCREAT).
 *
 * From the build tree (this program is the file TERN_BUILD_DIR/stage/tern
 * leads to) the instance's daemon_directory and command_directory are the
 * build tree's stage/, so nothing needs installing; an installed tern
 * (even one installed under the build directory) leaves the compiled-in
 * defaults. The "Start it:" line names this tern by its full path, so it
 * works as printed whatever PATH holds.
 */
#include "compat.h"

#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

#include "mail/daemon.h"
#include "mail/instance.h"
#include "tools/tern.h"
#include "util/buf.h"
#include "util/mem.h"

static void init_usage(void)
{
	fprintf(stderr, "usage: tern init [--port N] DIR\n");
	exit(EX_USAGE);
}

/* mkdir -p */
static int make_path(const char *path, mode_t mode)
{
	char tmp[PATH_MAX];
	if (strlcpy(tmp, path, sizeof(tmp)) >= sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(tmp, mode) < 0 && errno != EEXIST)
		return -1;
	return 0;
}

/*
 * The build tree's stage/ when this tern is the build tree's, else NULL.
 * Decided by what the binary is, not where it lies: the running program
 * must be the very file stage/tern leads to. An installed copy is another
 * file even when the install prefix lies inside the build directory.
 */
static const char *stage_dir(void)
{
	static char stage[PATH_MAX + 8];
	char self[PATH_MAX], staged[PATH_MAX];
	struct stat a, b;
	snprintf(stage, sizeof(stage), "%s/stage", TERN_BUILD_DIR);
	char *tern = xasprintf("%s/tern", stage);
	bool same = realpath("/proc/self/exe", self) != NULL && realpath(tern, staged) != NULL &&
		    strcmp(self, staged) == 0 && stat(self, &a) == 0 && stat(staged, &b) == 0 &&
		    a.st_dev == b.st_dev && a.st_ino == b.st_ino;
	free(tern);
	if (!same || realpath(stage, self) == NULL)
		return NULL;
	strlcpy(stage, self, sizeof(stage));
	return stage;
}

/*
 * The account a root-made instance runs as: TERN_USER, created when
 * missing by the same script `make install` uses (conf/tern-account.sh,
 * tern-account in stage/ or the daemon directory).
 */
static int owner_account(const char *stage, struct buf *err)
{
	if (getpwnam(TERN_USER) != NULL)
		return 0;
	char *helper = xasprintf("%s/tern-account", stage ? stage : TERN_DAEMON_DIR);
	char *argv[] = { helper, TERN_USER, TERN_QUEUE_DIR, NULL };
	int status = -1;
	pid_t pid = fork();
	if (pid == 0) {
		dup2(2, 1);	/* stdout's last line is the instance's address */
		execv(helper, argv);
		fprintf(stderr, "tern: cannot run %s: %s\n", helper, strerror(errno));
		_exit(EX_UNAVAILABLE);
	}
	while (pid > 0 && waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (pid < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0 || getpwnam(TERN_USER) == NULL) {
		buf_printf(err, "cannot create the user %s (with %s) for the instance to run as",
			   TERN_USER, helper);
		free(helper);
		return -1;
	}
	free(helper);
	return 0;
}

/*
 * Can the owner reach PATH (search every directory on the way)? Asked
 * in a child that becomes the owner, since only the kernel knows. A
 * clone under /root (0700) cannot host an instance that runs as tern.
 */
static bool owner_reaches(const char *owner, const char *path)
{
	uid_t uid;
	gid_t gid;
	struct buf err = BUF_INIT;
	if (priv_lookup(owner, &uid, &gid, &err) < 0) {
		buf_free(&err);
		return false;
	}
	pid_t pid = fork();
	if (pid == 0)
		_exit(priv_drop_ids(uid, gid, &err) == 0 && access(path, X_OK) == 0 ? 0 : 1);
	int status = -1;
	while (pid > 0 && waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return pid > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* WORD as one shell word: as it is when it needs no quoting, else in single quotes. */
static void shell_word(struct buf *b, const char *word)
{
	if (*word && strspn(word, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			    "0123456789/._+-=:,@%") == strlen(word)) {
		buf_adds(b, word);
		return;
	}
	buf_adds(b, "'");
	for (const char *p = word; *p; p++) {
		if (*p == '\'')
			buf_adds(b, "'\\''");
		else
			buf_add(b, p, 1);
	}
	buf_adds(b, "'");
}

/*
 * The command that starts the instance, as it can be typed: this tern by
 * its full path (the build tree's stage/tern, or the installed program),
 * since neither need be on the caller's PATH.
 */
static void start_command(struct buf *b, const char *stage, const char *dir)
{
	char self[PATH_MAX];
	char *prog = stage ? xasprintf("%s/tern", stage)
			   : realpath("/proc/self/exe", self) ? xstrdup(self) : xstrdup(TERN_COMMAND_DIR "/tern");
	shell_word(b, prog);
	buf_adds(b, " -c ");
	shell_word(b, dir);
	buf_adds(b, " start");
	free(prog);
}

static void print_summary(const char *dir, const char *stage, int port, bool made)
{
	struct buf start = BUF_INIT;
	char *text = instance_read(dir, "main.cf");
	if (made)
		printf("tern: made the instance %s\n", dir);
	else
		printf("tern: %s is already a Tern instance; nothing changed\n", dir);
	printf("Its settings (%s/main.cf):\n", dir);
	for (char *line = text ? strtok(text, "\n") : NULL; line; line = strtok(NULL, "\n"))
		if (line[0] != '#' && line[0] != ' ' && line[0] != '\t')
			printf("    %s\n", line);
	free(text);
	start_command(&start, stage, dir);
	printf("Start it: %s\n", buf_str(&start));
	printf("Mail for LOCALPART@localhost arrives in %s/mail/LOCALPART/new/\n", dir);
	buf_free(&start);
	if (port > 0)
		printf("127.0.0.1:%d\n", port);
	else
		printf("(no smtp service in %s/master.cf)\n", dir);
}

int cmd_init(int argc, char **argv)
{
	int port = 0;
	const char *arg_dir = NULL;
	char dir[PATH_MAX];

	for (int i = 1; i < argc; i++) {
		const char *v = NULL;
		if (strcmp(argv[i], "--port") == 0 || strcmp(argv[i], "-p") == 0) {
			if (i + 1 >= argc)
				init_usage();
			v = argv[++i];
		} else if (strncmp(argv[i], "--port=", 7) == 0) {
			v = argv[i] + 7;
		} else if (argv[i][0] == '-' || arg_dir) {
			init_usage();
		} else {
			arg_dir = argv[i];
		}
		if (v) {
			char *end;
			long p = strtol(v, &end, 10);
			if (*v == '\0' || *end || p < 1 || p > 65535) {
				fprintf(stderr, "tern: bad port \"%s\" (1 to 65535)\n", v);
				return EX_USAGE;
			}
			port = (int)p;
		}
	}
	if (arg_dir == NULL)
		init_usage();
	if (make_path(arg_dir, 0755) < 0 || realpath(arg_dir, dir) == NULL) {
		fprintf(stderr, "tern: cannot create %s: %s\n", arg_dir, strerror(errno));
		return EX_CANTCREAT;
	}

	struct instance_opts opts = { .port = port, .stage = stage_dir(), .drop_group = TERN_DROP_GROUP };
	struct buf err = BUF_INIT;
	int have = -1;
	/* Root's instance runs as an unprivileged account, never as root. */
	if (geteuid() == 0 && !instance_is(dir)) {
		if (owner_account(opts.stage, &err) < 0) {
			fprintf(stderr, "tern: %s\n", buf_str(&err));
			buf_free(&err);
			return EX_CANTCREAT;
		}
		opts.owner = TERN_USER;
		/* DIR itself is opened to the owner by instance_init(). */
		char parent[PATH_MAX];
		strlcpy(parent, dir, sizeof(parent));
		*strrchr(parent, '/') = '\0';
		const char *need[] = { *parent ? parent : "/", opts.stage };
		for (size_t i = 0; i < 2; i++) {
			if (need[i] && !owner_reaches(TERN_USER, need[i])) {
				fprintf(stderr, "tern: the instance would run as %s, who cannot reach %s "
					"(a directory on the way is closed to others, as /root is);\n"
					"      make it where %s can reach it, or open the way with chmod o+x\n",
					TERN_USER, need[i], TERN_USER);
				return EX_CANTCREAT;
			}
		}
	}
	switch (instance_init(dir, &opts, &have, &err)) {
	case INSTANCE_MADE:
		print_summary(dir, opts.stage, have, true);
		break;
	case INSTANCE_EXISTS:
		if (port && have != port)
			fprintf(stderr, "tern: %s already listens on port %d; --port %d ignored\n",
				dir, have, port);
		print_summary(dir, opts.stage, have, false);
		break;
	case INSTANCE_FOREIGN:
		fprintf(stderr, "tern: %s is not empty and not a Tern instance; not touching it\n", dir);
		return EX_CANTCREAT;
	case INSTANCE_ERROR:
		fprintf(stderr, "tern: %s\n", buf_str(&err));
		buf_free(&err);
		return EX_CANTCREAT;
	}
	buf_free(&err);
	return 0;
}
