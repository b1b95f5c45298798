/*
 * local_as.c - running a delivery as someone else: write_as() switches
 * the effective ids of the local delivery agent's own process to the
 * recipient for a write and back (no fork per delivery, as Postfix's
 * local does); run_as() runs a delivery in a child that drops every id
 * for good (commands, .forward). The agent's scheduling state is put
 * back after every switch (see write_as).
 *
 * Runs as root in the local delivery agent (the child of run_as as the
 * recipient).
 */
#include "compat.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "local/local.h"
#include "util/log.h"
#include "util/mem.h"

/* Write all of data, again after EINTR; false with errno set (EIO for a
 * write that wrote nothing) when it could not. */
bool local_write_all(int fd, const char *data, size_t len)
{
	size_t done = 0;
	while (done < len) {
		ssize_t w = write(fd, data + done, len - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			if (w == 0)
				errno = EIO;
			return false;
		}
		done += (size_t)w;
	}
	return true;
}

/* a then b, as local_write_all: one writev(2) for both when the kernel takes it all. */
bool local_write2(int fd, const char *a, size_t alen, const char *b, size_t blen)
{
	while (alen > 0) {
		struct iovec iov[2] = {{(void *)a, alen}, {(void *)b, blen}};
		ssize_t w = writev(fd, iov, blen > 0 ? 2 : 1);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			if (w == 0)
				errno = EIO;
			return false;
		}
		if ((size_t)w < alen) {
			a += w;
			alen -= (size_t)w;
		} else {
			b += (size_t)w - alen;
			blen -= (size_t)w - alen;
			alen = 0;
		}
	}
	return local_write_all(fd, b, blen);
}

void run_as(const struct ident *id, as_user_fn fn, void *arg, struct lresult_text *res)
{
	struct buf got = BUF_INIT;
	char chunk[1024];
	int p[2], status = 0;
	ssize_t n;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0) {
		lres_set(res, LRESULT_DEFER, "4.3.0", "pipe: %s", strerror(errno));
		return;
	}
	pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		lres_set(res, LRESULT_DEFER, "4.3.0", "fork: %s", strerror(errno));
		return;
	}
	if (pid == 0) {
		struct lresult_text r = {.text = BUF_INIT};
		struct buf err = BUF_INIT, line = BUF_INIT;

		close(p[0]);
		if (ident_become(id, &err) < 0)
			lres_set(&r, LRESULT_DEFER, "4.3.0", "cannot become %s: %s", id->user, buf_str(&err));
		else
			fn(arg, &r);
		buf_printf(&line, "%d%s %s", (int)r.result, r.dsn, buf_str(&r.text));
		local_write_all(p[1], line.data, line.len);
		_exit(0);
	}
	close(p[1]);
	while ((n = read(p[0], chunk, sizeof(chunk))) > 0 || (n < 0 && errno == EINTR))
		if (n > 0 && got.len < 4096)
			buf_add(&got, chunk, (size_t)n);
	close(p[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (got.len < 3 || got.data[0] < '0' || got.data[0] > '2' || strchr(got.data, ' ') == NULL) {
		lres_set(res, LRESULT_DEFER, "4.3.0", "delivery process died (status 0x%x)",
		    (unsigned)status);
	} else {
		char *sp = strchr(got.data, ' ');
		*sp = '\0';
		lres_set(res, (enum lresult)(got.data[0] - '0'), got.data + 1, "%s", sp + 1);
	}
	buf_free(&got);
}

/*
 * Run fn with id's effective uid, gid and groups, then take root's back.
 * Failing to switch back leaves a process that must not go on: it exits,
 * and the queue manager retries whatever it had not answered.
 */
/*
 * While the process has a user's effective uid, the kernel lets that
 * user change its nice value, scheduling policy and CPU affinity, which
 * would outlast the switch back and slow down everyone's mail: they are
 * put back as root after every switch.
 *
 * What runs in this process as the user is only this agent's own code
 * (the writes of mbox_append and the Maildir; a .forward command or
 * mailbox_command runs in a child, run_as, which never switches back).
 * So the state cannot change but through another process of that user
 * (setpriority, sched_setscheduler, sched_setaffinity aimed at this
 * pid while its effective uid is the user's), and nothing but root can
 * change it outside a switch. It is therefore read once per process,
 * at its first switch, and not before every one. The three calls that
 * put it back stay after each switch: reading the state to see whether
 * it changed would cost four, and a change by the user's processes
 * cannot be seen coming. (An administrator who renices the running
 * agent sees that undone at its next delivery; a new process, after a
 * reload, takes the new value.)
 */
struct sched_state {
	int nice;
	int policy;
	struct sched_param param;
	cpu_set_t cpus;
	bool have_nice, have_policy, have_cpus;
};

static void sched_save(struct sched_state *st)
{
	errno = 0;
	st->nice = getpriority(PRIO_PROCESS, 0);
	st->have_nice = errno == 0;
	st->policy = sched_getscheduler(0);
	st->have_policy = st->policy >= 0 && sched_getparam(0, &st->param) == 0;
	st->have_cpus = sched_getaffinity(0, sizeof(st->cpus), &st->cpus) == 0;
}

static void sched_restore(const struct sched_state *st)
{
	if (st->have_nice && setpriority(PRIO_PROCESS, 0, st->nice) < 0)
		msg_warn("cannot restore the nice value: %m");
	if (st->have_policy && sched_setscheduler(0, st->policy, &st->param) < 0)
		msg_warn("cannot restore the scheduling policy: %m");
	if (st->have_cpus && sched_setaffinity(0, sizeof(st->cpus), &st->cpus) < 0)
		msg_warn("cannot restore the CPU affinity: %m");
}

void write_as(const struct ident *id, as_user_fn fn, void *arg, struct lresult_text *res)
{
	static struct sched_state sched;
	static bool sched_saved;
	static gid_t *root_groups;
	static int nroot_groups = -1;

	if (!local_is_root() || id->uid == 0) {
		fn(arg, res);	/* nobody to become (ident_become would do nothing) */
		return;
	}
	if (nroot_groups < 0) {
		int n = getgroups(0, NULL);
		if (n >= 0) {
			root_groups = xcalloc((size_t)n + 1, sizeof(gid_t));
			n = getgroups(n, root_groups);
		}
		if (n < 0) {
			lres_set(res, LRESULT_DEFER, "4.3.0", "getgroups: %s", strerror(errno));
			return;
		}
		nroot_groups = n;
	}
	if (!sched_saved) {
		sched_save(&sched);
		sched_saved = true;
	}
	local_as_user = true;
	if (setgroups(1, &id->gid) < 0 || setegid(id->gid) < 0 || seteuid(id->uid) < 0
	    || geteuid() != id->uid || getegid() != id->gid) {
		int e = errno;
		if (seteuid(0) < 0 || setegid(0) < 0 || setgroups((size_t)nroot_groups, root_groups) < 0)
			msg_fatal("cannot switch back to root after failing to become %s: %m", id->user);
		local_as_user = false;
		sched_restore(&sched);	/* the effective uid may have been the user's for a while */
		lres_set(res, LRESULT_DEFER, "4.3.0", "cannot become %s: %s", id->user, strerror(e));
		return;
	}
	fn(arg, res);
	if (seteuid(0) < 0 || setegid(0) < 0 || setgroups((size_t)nroot_groups, root_groups) < 0
	    || geteuid() != 0 || getegid() != 0)
		msg_fatal("cannot switch back to root after delivering as %s: %m", id->user);
	local_as_user = false;
	sched_restore(&sched);
}
