/*
 * sendmail_priv.c - one program start with the maildrop's guarantees:
 * split off the privileged maildrop writer at entry, then drop the group.
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

#include "mail/config.h"
#include "mail/droprec.h"
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

void sm_priv_start(void)
{
	int sv[2];
	gid_t gid = getgid(), egid = getegid();

	/* Descriptors 0-2 open before the socket pair can take one of them. */
	for (int fd = 0; fd <= 2; fd++)
		if (fcntl(fd, F_GETFD) == -1 && open("/dev/null", O_RDWR) != fd)
			die("descriptors");
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
	/* For good: real, effective and saved group ids all the caller's. */
	if (setresgid(gid, gid, gid) != 0 || getegid() != gid)
		die("setresgid");
	/* (root may take any group anyway: the check means something for others only) */
	if (getegid() != getgid() || (geteuid() != 0 && egid != gid && setegid(egid) == 0))
		die("the group could be regained");
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
