/*
 * dotlock.c - dot-locks on mbox files: take, release, break when stale,
 * and remove on a stopping signal (see dotlock.h).
 *
 * Generic utility layer. Runs in the local delivery agent, as root (a
 * mailbox in the mail spool) or as the recipient (any other mbox); no
 * privileges of its own. The signal handler only calls setfsuid() and
 * unlink() on a path stored beforehand (system calls, async-signal-safe).
 */
#include "compat.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/dotlock.h"
#include "util/log.h"

/*
 * The locks this process holds, for the signal handler. A slot's path is
 * written while it is free (held == 0) and read by the handler only once
 * held is set; a fork()ed child inherits them, so a writer child stopped
 * with its parent removes the lock too (whichever unlink comes second
 * fails harmlessly).
 */
#define DOTLOCK_SLOTS 4
static struct {
	volatile sig_atomic_t held;
	uid_t fsuid;		/* who took it */
	char path[4096];
} slots[DOTLOCK_SLOTS];

static void on_stop(int sig)
{
	int saved = errno;
	for (int i = 0; i < DOTLOCK_SLOTS; i++)
		if (slots[i].held) {
			/*
			 * Removed as whoever took it: local takes a spool lock as
			 * root but writes the mailbox with the recipient's
			 * file-system uid, which may not remove root's file in a
			 * sticky directory, and takes a home mailbox's lock as
			 * the recipient, whose directory may lead root elsewhere.
			 * Possible only while the effective uid allows it; the
			 * process dies right after.
			 */
			(void)setfsuid(slots[i].fsuid);
			unlink(slots[i].path);
		}
	errno = saved;
	/* SA_RESETHAND made the action the default again: die of SIG as before. */
	raise(sig);
}

static void catch_stops(void)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP };
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		struct sigaction old, sa = { .sa_handler = on_stop, .sa_flags = SA_RESETHAND };
		sigemptyset(&sa.sa_mask);
		/* Only where the signal would kill us: a caller's own handler stays. */
		if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler == SIG_DFL)
			sigaction(sigs[i], &sa, NULL);
	}
}

static void remember(const char *path)
{
	for (int i = 0; i < DOTLOCK_SLOTS; i++)
		if (!slots[i].held) {
			if (strlen(path) >= sizeof(slots[i].path))
				return;
			memcpy(slots[i].path, path, strlen(path) + 1);
			/* An id that cannot be set (-1) changes nothing and returns the current one. */
			slots[i].fsuid = (uid_t)setfsuid((uid_t)-1);
			slots[i].held = 1;
			catch_stops();
			return;
		}
}

static void forget(const char *path)
{
	for (int i = 0; i < DOTLOCK_SLOTS; i++)
		if (slots[i].held && strcmp(slots[i].path, path) == 0)
			slots[i].held = 0;
}

bool dotlock_is_stale(const char *text, size_t len, time_t mtime, time_t now, long long stale_secs)
{
	if (stale_secs > 0 && (long long)(now - mtime) > stale_secs)
		return true;
	/* Exactly digits (11 at most: no overflow), then at most a newline. */
	size_t n = 0;
	long long pid = 0;
	while (n < len && n < 11 && text[n] >= '0' && text[n] <= '9')
		pid = pid * 10 + (text[n++] - '0');
	if (n == 0 || (n < len && !(text[n] == '\n' && n + 1 == len)))
		return false;
	if (pid <= 1 || pid > 0x7fffffff)	/* 0 or 1: another program's convention, not a holder */
		return false;
	return kill((pid_t)pid, 0) < 0 && errno == ESRCH;
}

/* Break LOCK if stale; 1 removed, 0 not stale (or gone, or replaced meanwhile). */
static int break_stale(const char *lock, long long stale_secs)
{
	char text[32];
	struct stat st, now_st;
	int fd = open(lock, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT;	/* gone meanwhile: try again at once */
	ssize_t n = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? read(fd, text, sizeof(text)) : -1;
	close(fd);
	if (n < 0 || !dotlock_is_stale(text, (size_t)n, st.st_mtime, time(NULL), stale_secs))
		return 0;
	/* Still the file just read, not a lock another process took since. */
	if (lstat(lock, &now_st) < 0 || now_st.st_ino != st.st_ino || now_st.st_dev != st.st_dev)
		return 0;
	msg_warn("removing stale lock %s", lock);
	return unlink(lock) == 0 || errno == ENOENT;
}

int dotlock_take(const char *path, long attempts, long delay, long long stale_secs, struct buf *lock)
{
	int free_tries = 8;	/* a broken (or vanished) lock costs no attempt, up to this */

	buf_reset(lock);
	buf_printf(lock, "%s.lock", path);
	for (long i = 0; i < (attempts > 0 ? attempts : 1); i++) {
		int fd = open(buf_str(lock), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd >= 0) {
			char text[32];
			int len = snprintf(text, sizeof(text), "%ld\n", (long)getpid());
			/* Recorded first: a signal from here on removes it. */
			remember(buf_str(lock));
			if (write(fd, text, (size_t)len) != len)
				msg_warn("write %s: %m", buf_str(lock));	/* still a lock, by age only */
			close(fd);
			return 1;
		}
		if (errno != EEXIST)
			return 0;	/* no permission in this directory: other locks only */
		if (break_stale(buf_str(lock), stale_secs) > 0 && free_tries-- > 0) {
			i--;
			continue;
		}
		if (i + 1 < attempts)
			sleep((unsigned)(delay > 0 ? delay : 1));
	}
	return -1;
}

void dotlock_release(const struct buf *lock)
{
	const char *path = buf_str(lock);
	/* Forgotten first: the handler never removes a lock another process may hold by then. */
	forget(path);
	unlink(path);
}
