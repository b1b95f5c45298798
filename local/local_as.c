/*
 * local_as.c - running a delivery as someone else: write_as() switches
 * the file-system ids of the local delivery agent's own process to the
 * recipient for a write and back (no fork per delivery); run_as() runs
 * a delivery in a child that drops every id for good (commands,
 * .forward).
 *
 * Runs as root in the local delivery agent (the child of run_as as the
 * recipient).
 */
#include "compat.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <sys/fsuid.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/capability.h>

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

static void groups_root(void);

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
	groups_root();	/* no child starts with a user's group (write_as) */
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
 * Run fn with id's file-system uid and gid and its groups, then as root
 * again.
 *
 * Only the file-system ids change (setfsuid, setfsgid: Linux), not the
 * effective ones. The kernel checks every file access by the
 * file-system ids, and when the fsuid goes from 0 to another value it
 * clears the file-system capabilities (CAP_DAC_OVERRIDE,
 * CAP_DAC_READ_SEARCH, CAP_FOWNER, CAP_FSETID, CAP_CHOWN, CAP_MKNOD,
 * CAP_LINUX_IMMUTABLE) from the effective set, and raises them again
 * from the permitted set when it comes back to 0: the write is the
 * user's as with seteuid. Files are created with the fsuid and fsgid as
 * owner. But the real, effective and saved uid stay 0 all the time, so
 * the user's processes can neither signal, trace, renice, re-schedule
 * nor set the CPU affinity of this process (the kernel compares those
 * with the target's real and effective or saved uid): nothing is left to
 * put back after a delivery, as there was with seteuid.
 *
 * What the kernel does not take away with the fsuid is the rest of
 * root's capabilities, and one of them changes file writes:
 * CAP_SYS_RESOURCE lets a write exceed disk quotas and use the blocks
 * reserved for root. So the first switch of a process also clears from
 * its effective set every capability but the file-system ones (given
 * back at each switch to root), CAP_SETUID and CAP_SETGID (to switch,
 * and for the children of run_as) and CAP_KILL (a |command's process
 * group is killed on timeout); the permitted set keeps them all. No
 * code of this process needs another.
 *
 * setfsuid and setfsgid report no error: they return the previous id.
 * Each switch is checked by asking again (an id that cannot be set, -1,
 * changes nothing and returns the current one). Failing to switch back
 * leaves a process that must not go on: it exits, and the queue manager
 * retries whatever it had not answered.
 *
 * The file-system ids are per thread (glibc does not pass setfsuid on
 * to the other threads, as it does setresuid and setgroups); the
 * process that delivers has one thread.
 *
 * The groups: setgroups(1, gid) before the switch, unless the groups
 * are that already. After the switch back they are left as they are (no
 * file access of root's depends on them: root's fsuid has the
 * file-system capabilities) and put back to root's only before run_as
 * forks, so that no child starts with a user's group. A run of
 * deliveries to one user costs four calls and two checks per switch.
 */
static uid_t as_uid;
static gid_t *root_groups;
static int nroot_groups = -1;
static bool user_groups;	/* the groups are {user_gid}, not root's */
static gid_t user_gid;

uid_t local_fs_uid(void)
{
	return local_as_user ? as_uid : geteuid();
}

/* The capabilities this process keeps effective (see above). */
static int caps_limit(struct buf *err)
{
	struct __user_cap_header_struct hd = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3];
	static const int keep[] = {CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER, CAP_FSETID,
				   CAP_CHOWN, CAP_MKNOD, CAP_LINUX_IMMUTABLE, CAP_MAC_OVERRIDE,
				   CAP_SETUID, CAP_SETGID, CAP_KILL};
	uint32_t mask[_LINUX_CAPABILITY_U32S_3] = {0};

	if (syscall(SYS_capget, &hd, d) < 0) {
		buf_printf(err, "capget: %s", strerror(errno));
		return -1;
	}
	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
		mask[CAP_TO_INDEX(keep[i])] |= CAP_TO_MASK(keep[i]);
	for (int i = 0; i < _LINUX_CAPABILITY_U32S_3; i++)
		d[i].effective &= mask[i];
	if (syscall(SYS_capset, &hd, d) < 0) {
		buf_printf(err, "capset: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static void groups_root(void)
{
	if (!user_groups)
		return;
	if (setgroups((size_t)nroot_groups, root_groups) < 0)
		msg_fatal("cannot put back root's groups: %m");
	user_groups = false;
}

static void fs_back_to_root(const char *why, const char *user)
{
	setfsuid(0);
	setfsgid(0);
	if ((uid_t)setfsuid((uid_t)-1) != 0 || (gid_t)setfsgid((gid_t)-1) != 0)
		msg_fatal("cannot switch back to root %s %s", why, user);
	local_as_user = false;
}

void write_as(const struct ident *id, as_user_fn fn, void *arg, struct lresult_text *res)
{
	if (!local_is_root() || id->uid == 0) {
		fn(arg, res);	/* nobody to become (ident_become would do nothing) */
		return;
	}
	if (nroot_groups < 0) {
		struct buf err = BUF_INIT;
		int n = getgroups(0, NULL);

		if (n >= 0) {
			root_groups = xcalloc((size_t)n + 1, sizeof(gid_t));
			n = getgroups(n, root_groups);
		}
		if (n < 0)
			buf_printf(&err, "getgroups: %s", strerror(errno));
		/* Without the limit a write could exceed the user's quota: no write at all. */
		if (n < 0 || caps_limit(&err) < 0) {
			lres_set(res, LRESULT_DEFER, "4.3.0", "cannot write as %s: %s", id->user,
			    buf_str(&err));
			buf_free(&err);
			free(root_groups);
			root_groups = NULL;
			return;
		}
		nroot_groups = n;
	}
	if (!user_groups || user_gid != id->gid) {
		if (setgroups(1, &id->gid) < 0) {
			int e = errno;
			user_groups = true;	/* not known: put back whatever they are */
			user_gid = (gid_t)-1;
			groups_root();
			lres_set(res, LRESULT_DEFER, "4.3.0", "cannot become %s: setgroups: %s", id->user,
			    strerror(e));
			return;
		}
		user_groups = true;
		user_gid = id->gid;
	}
	as_uid = id->uid;
	local_as_user = true;
	setfsgid(id->gid);
	setfsuid(id->uid);
	if ((uid_t)setfsuid((uid_t)-1) != id->uid || (gid_t)setfsgid((gid_t)-1) != id->gid) {
		fs_back_to_root("after failing to become", id->user);
		lres_set(res, LRESULT_DEFER, "4.3.0", "cannot become %s: the file-system ids did not change",
		    id->user);
		return;
	}
	fn(arg, res);
	fs_back_to_root("after delivering as", id->user);
}
