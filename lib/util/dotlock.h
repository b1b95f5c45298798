/*
 * dotlock.h - dot-locks (FILE.lock) as mail programs share them on an
 * mbox: created with O_EXCL, holding the holder's process id in ASCII,
 * removed by the holder when it is done or stopped by a signal, and
 * broken by others once stale.
 *
 * Generic utility layer, no privileges of its own: the caller takes the
 * lock with whatever identity may write in the mailbox's directory
 * (root in the mail spool, the user elsewhere). See local(8).
 */
#ifndef TERN_UTIL_DOTLOCK_H
#define TERN_UTIL_DOTLOCK_H

#include <stdbool.h>
#include <sys/types.h>
#include <time.h>

#include "util/buf.h"

/*
 * Take PATH.lock (its name is left in LOCK): ATTEMPTS tries, DELAY
 * seconds apart, breaking a stale lock (dotlock_is_stale) on the way.
 * Returns 1 taken, 0 when no lock can be made there (no permission in
 * the directory: the caller relies on its other locks), -1 still busy.
 * A lock taken is recorded so that SIGTERM, SIGINT or SIGHUP remove it
 * before the process dies (with that signal, as it would have).
 */
int dotlock_take(const char *path, long attempts, long delay, long long stale_secs,
		 struct buf *lock);

/* Remove a lock taken by dotlock_take(), and forget it. */
void dotlock_release(const struct buf *lock);

/*
 * Is a lock file stale? TEXT (LEN bytes, the file's start) names its
 * holder when it is a decimal process id, optionally followed by a
 * newline: a holder that no longer exists (kill(pid, 0) fails with
 * ESRCH) makes the lock stale at once. Any lock older than STALE_SECS
 * (> 0) is stale, with or without a process id in it.
 */
bool dotlock_is_stale(const char *text, size_t len, time_t mtime, time_t now, long long stale_secs);

#endif
