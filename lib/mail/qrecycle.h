/*
 * qrecycle.h - spent queue files kept for reuse.
 *
 * Mail layer; runs as mail_owner in the queue directory (smtpd, pickup,
 * qmgr and its delivery processes). A delivered message's queue file is
 * not unlinked: it is emptied and renamed into the pool directory
 * (recycle/, mode 0700) under its queue id, and a new queue file is made
 * by renaming a spare one out of it. A busy queue then allocates and
 * frees no inodes. On ext4 without a journal that matters a great deal:
 * so that a crash cannot point an old directory entry at a new file, its
 * inode allocator skips, one by one, every inode freed in the last
 * minutes, and a queue that unlinks a file per message makes every file
 * creation on that file system slower and slower.
 *
 * Renames that never replace anything make concurrent processes safe
 * without a lock. qmgr keeps the pool at queue_recycle_limit files
 * (qrecycle_trim); a busy pool thus follows the queue's own size.
 *
 * Crash safety is the caller's (qfile.c): a reused file is truncated
 * before anything is written to it, and a reused inode that a crash left
 * with a second, stale name is recognised by its link count and by its
 * I record, which names the file it belongs to.
 */
#ifndef TERN_MAIL_QRECYCLE_H
#define TERN_MAIL_QRECYCLE_H

#include <stdbool.h>
#include <time.h>

/* Use (or not) the pool directory dir. */
void qrecycle_enable(const char *dir, bool on);
/* The same from the configuration: $queue_directory/recycle, on unless queue_recycle_limit is 0. */
void qrecycle_configure(void);

/*
 * Move a spare file to path, which must not exist yet: 0, or -1 when the
 * pool is off or empty (an empty pool is looked at again a second later).
 * The caller opens it and checks what it got (a regular file of its own
 * with one link).
 */
int qrecycle_take(const char *path);

/*
 * path (named by its queue id) is spent: empty it through fd (a writable
 * descriptor of it, or -1 to open one) where it is and move it into the
 * pool with one rename, or unlink it when the pool is off. 0, or -1 with
 * errno set. Cut short in between, it leaves an empty file under path.
 * When fd's file no longer is path's (qfile_still_named), it was moved
 * away by another process: neither is touched, and 1 returned.
 */
int qrecycle_give(const char *path, int fd);

/*
 * What qrecycle_adopt_empty did with path. QR_FAILED sets errno.
 */
enum {
	QR_ADOPTED,	/* it was spent: now in the pool (unlinked, the pool off) */
	QR_HELD,	/* another process holds its lock (a delivery process at work): left to it */
	QR_GONE,	/* it left path meanwhile (its give, by the process that holds it, ended) */
	QR_NOT_SPENT,	/* not what a cut-short give leaves, or no locks to tell: the caller deals with it */
	QR_FAILED,	/* it could be neither moved into the pool nor unlinked */
};

/*
 * path, in active/ and named by its queue id, may be what a give cut
 * short left (an empty file under the message's name): if so, move it
 * into the pool (or unlink it when the pool is off). It is taken only
 * under its lock (the one a delivery process holds while it works on a
 * file) and when the descriptor shows an empty regular file with one
 * link, still under path, whose inode is the one its queue id names (a
 * copied or restored file is not). It is never truncated: a process
 * whose give was under way when path was opened may have moved it into
 * the pool since, and a writer may have taken it from there and written
 * a new message into it.
 */
int qrecycle_adopt_empty(const char *path);

/*
 * Unlink spare files beyond the first keep (never one that is not
 * empty: qfile.c sets such a one aside), and dot files at least
 * half_given_age seconds old (what a crash left half-given when a give
 * emptied the file under a dot name in the pool, as it once did; younger
 * ones are left alone; 0: all). qmgr, now and then. Returns how many were
 * removed.
 */
long qrecycle_trim(unsigned long keep, time_t half_given_age);

#endif
