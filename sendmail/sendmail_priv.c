/*
 * sendmail_priv.c - one program start with the maildrop's guarantees:
 * open the maildrop file (a plain submission) or split off the
 * privileged maildrop writer (other modes) at entry, then drop the group.
 *
 * A plain submission (sm_prepass, sendmail_opts.c: -bm with recipients
 * or -t) forks nothing: start_direct() has drop_direct_open()
 * (sendmail/drop.c) load the configuration and create the maildrop file
 * under its final name, mode 0200, with its first record, while the
 * group is held and the environment is an empty one; then the group is
 * dropped as below, and sendmail_submit.c writes the records into that
 * descriptor through drop.c's checks. The rest of this comment is about
 * the other modes.
 *
 * Part of the sendmail program. Installed set-group-ID setgid_group
 * (root:terndrop 2755), sendmail calls sm_priv_start() first thing in
 * main(), before it looks at its arguments, environment, standard input
 * or any configuration file. It forks: the child runs drop_serve()
 * (sendmail/drop.c, terndrop's own code) on one end of a socket pair and
 * holds the group; the parent sets real, effective and saved group ids
 * to the caller's real gid (setresgid) and checks that it cannot get
 * the group back, so everything sendmail parses afterwards (argv, the
 * environment, -C and its main.cf, the message, headers for -t) is
 * parsed with the caller's privileges only. The parent then sends the
 * child one request and, for a message, the record stream of
 * lib/mail/droprec.h: the same stream a separate terndrop would read,
 * with the same checks. A sendmail without the set-group-ID bit (the
 * build tree's) works the same way, with no group to drop, so the child
 * can write only where the caller may (and says so).
 */
#include "compat.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

extern char **environ;

#include "mail/config.h"
#include "mail/droprec.h"
#include "mail/qfile.h"
#include "sendmail/drop.h"
#include "sendmail/sendmail.h"
#include "util/buf.h"
#include "util/log.h"

static int priv_fd = -1;
static pid_t priv_pid = -1;

/* Before log_init: one fixed line and exit, no formatting of anything. */
static void die(const char *what)
{
	static const char head[] = "sendmail: fatal: cannot start: ";
	if (write(2, head, sizeof(head) - 1) < 0 || write(2, what, strlen(what)) < 0 || write(2, "\n", 1) < 0)
		_exit(EX_OSERR);
	_exit(EX_OSERR);
}

static bool direct;
static const char *direct_dir;

bool sm_priv_direct(const char **dir)
{
	if (dir != NULL)
		*dir = direct_dir;
	return direct;
}

/* For good: real, effective and saved group ids all the caller's. NULL, or what failed. */
static const char *drop_group(gid_t gid, gid_t egid)
{
	if (setresgid(gid, gid, gid) != 0 || getegid() != gid)
		return "setresgid";
	/* (root may take any group anyway: the check means something for others only) */
	if (getegid() != getgid() || (geteuid() != 0 && egid != gid && setegid(egid) == 0))
		return "the group could be regained";
	return NULL;
}

/*
 * One-process submission: the maildrop file is opened with the group,
 * before anything of the caller's but -C and TERN_CONFIG_DIR is read,
 * then the group goes. While the group is held the environment is an
 * empty one (the caller's comes back once it is gone: only the caller's
 * privileges read it then). -C's argument is looked at (a file means
 * its directory) with the caller's group as effective group.
 */
static void start_direct(const struct sm_prepass *pre, gid_t gid, gid_t egid)
{
	static char path_value[] = "PATH=/usr/bin:/bin";
	static char *clean_env[] = {path_value, NULL};
	static char *owned;
	const char *env_dir = getenv("TERN_CONFIG_DIR");
	char **caller_env = environ;

	direct = true;
	if (pre->config != NULL) {
		if (egid != gid && setegid(gid) != 0)
			die("setegid");
		direct_dir = sm_config_dir_of(pre->config, &owned);
		if (egid != gid && setegid(egid) != 0)
			die("setegid");
	}
	/* Tests' fault injection: honoured only when not set-id (qfile.c). */
	if (qfile_fault_from_env() != 0)
		die("bad TERN_QFILE_FAULT");
	environ = clean_env;
	drop_direct_open(direct_dir != NULL ? direct_dir : env_dir);
	/* exit(), not _exit(): the maildrop file is emptied on the way out (drop.c). */
	const char *failed = drop_group(gid, egid);
	if (failed != NULL)
		msg_fatal_status(EX_OSERR, "cannot start: %s", failed);
	environ = caller_env;
}

void sm_priv_start(int argc, char **argv)
{
	int sv[2];
	gid_t gid = getgid(), egid = getegid();
	struct sm_prepass pre;

	/* Descriptors 0-2 open before the socket pair can take one of them. */
	for (int fd = 0; fd <= 2; fd++)
		if (fcntl(fd, F_GETFD) == -1 && open("/dev/null", O_RDWR) != fd)
			die("descriptors");
	sm_prepass(argc, argv, &pre);
	if (pre.plain) {
		start_direct(&pre, gid, egid);
		return;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
		die("socketpair");
	priv_pid = fork();
	if (priv_pid < 0)
		die("fork");
	if (priv_pid == 0) {
		close(sv[0]);
		drop_serve(sv[1]);
	}
	close(sv[1]);
	priv_fd = sv[0];
	const char *failed = drop_group(gid, egid);
	if (failed != NULL)
		die(failed);
}

pid_t sm_priv_pid(void)
{
	return priv_pid;
}

int sm_priv_request(char op, const struct sm_opts *o, struct buf *out)
{
	struct buf req = BUF_INIT;
	const char *dir = sm_config_arg(o);
	buf_addc(&req, op);
	if (dir)
		buf_adds(&req, dir);
	droprec_put(out, 'Q', req.data, req.len);
	buf_free(&req);
	return priv_fd;
}

int sm_priv_wait(void)
{
	int status;
	if (priv_fd >= 0)
		close(priv_fd);
	priv_fd = -1;
	if (priv_pid <= 0)
		return EX_SOFTWARE;
	while (waitpid(priv_pid, &status, 0) < 0)
		if (errno != EINTR)
			msg_fatal_status(EX_OSERR, "waitpid: %m");
	priv_pid = -1;
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	msg_error("terndrop killed by signal %d: nothing was queued", WTERMSIG(status));
	return EX_TEMPFAIL;
}

int sm_priv_list(const struct sm_opts *o)
{
	struct buf out = BUF_INIT;
	int fd = sm_priv_request(DROP_REQ_LIST, o, &out);
	fflush(stdout);
	ssize_t n = write(fd, out.data, out.len);
	buf_free(&out);
	if (n < 0)
		msg_error("cannot ask for the queue listing: %m");
	return sm_priv_wait();
}
