/*
 * qrecycle.h - spent queue files kept for reuse.
 *
 * Mail layer; runs as mail_owner in the queue directory (smtpd, pickup,
 * qmgr and its delivery processes). A delivered message's queue file is
 * not unlinked: it is renamed into the pool directory (recycle/, mode
 * 0700) under its queue id, as it is, and a new queue file is made by
 * renaming a spare one out of it and writing the new message over the
 * old. A busy queue then allocates and frees no inodes, and no blocks: a
 * spare keeps its blocks, so the next commit writes over blocks that are
 * allocated and written already. On ext4 that spares the commit's fsync
 * a wait: a newly allocated block is first an unwritten extent, which a
 * kernel worker must convert once the write is done, before the fsync
 * may return (and, with the discard mount option, the free of the old
 * blocks discards them at once). On ext4 without a journal that matters a great deal:
 * so that a crash cannot point an old directory entry at a new file, its
 * inode allocator skips, one by one, every inode freed in the last
 * minutes, and a queue that unlinks a file per message makes every file
 * creation on that file system slower and slower.
 *
 * Renames that never replace anything make concurrent processes safe
 * without a lock. qmgr keeps the pool at queue_recycle_limit files
 * (qrecycle_trim); a busy pool thus follows the queue's own size.
 *
 * Crash safety is the caller's (qfile.c): a file written over a spare
 * carries a checksum, checked when it is read in a later boot, so that a
 * crash that left some of the old message's blocks in it is caught (see
 * qfile.h); a spare is written over only when it holds the message its
 * pool name says (qfile_spare_spent) or nothing; a reused inode that a
 * crash left with a second, stale name is recognised by its link count
 * (which fsck mends after a crash on a file system without a journal;
 * without it the count can be short and the stale name missed) and by
 * its I record, which names the file it belongs to. A spare holds
 * the content of a delivered message until it is reused or trimmed, in
 * a directory only mail_owner may read, like the queue itself.
 */
#ifndef TERN_MAIL_QRECYCLE_H
#define TERN_MAIL_QRECYCLE_H

#include <stdbool.h>
#include <time.h>

/*
 * The largest file kept as a spare: a larger one is unlinked when given
 * (and by qrecycle_trim). Spares keep their blocks; without a bound a
 * burst of large messages would leave queue_recycle_limit times their
 * size in the pool. The gain is the commit's (no block allocated), and
 * matters for the small messages that make most of a busy queue.
 */
#define QRECYCLE_SPARE_MAX	(256 * 1024)

/* Use (or not) the pool directory dir (trimmed all the same: qrecycle_trim). */
void qrecycle_enable(const char *dir, bool on);
/* The same from the configuration: $queue_directory/recycle, on unless queue_recycle_limit is 0. */
void qrecycle_configure(void);

/*
 * Move a spare file to path, which must not exist yet: 0 and its name in
 * the pool in name (size bytes), or -1 when the pool is off or empty (an
 * empty pool is looked at again a second later). The caller opens it and
 * checks what it got (a regular file of its own with one link, empty or
 * holding the message name names: qfile_spare_spent).
 */
int qrecycle_take(const char *path, char *name, size_t size);

/*
 * path (named by its queue id) is spent: move it into the pool with one
 * rename, as it is (fd: a descriptor of it, or -1), or unlink it when the
 * pool is off. 0, or -1 with errno set. When fd's file no longer is
 * path's (qfile_still_named), it was moved away by another process:
 * neither is touched, and 1 returned.
 */
int qrecycle_give(const char *path, int fd);

/*
 * Whether the pool holds the file st describes under the name id: then
 * a name of it outside the pool (the one st was taken of) is a stale one
 * a crash left behind when the file was given, still holding the
 * delivered message (qfile.c asks for files written in an earlier boot).
 */
struct stat;
bool qrecycle_pooled(const char *id, const struct stat *st);

/*
 * path (named by its queue id, id) is a second name of a queue file whose
 * link count is short (QF_LINKS, qfile.h): a crash without fsck on a file
 * system without a journal. Move it, and the pool's name of the same
 * inode when there is one, into corrupt/links/ (made when missing) as
 * ID.DIR (ID.recycle for the pool's), where neither a writer nor qmgr's
 * trims of the pool and of corrupt/ look: nothing is unlinked, since with
 * one link counted for two names that would free the inode under the
 * other. 1 when the pool's name went too, 0 when there was none, or -1
 * with errno set (path not moved). e2fsck on the queue's file system
 * mends the count; the files there may be removed after it.
 */
int qrecycle_park(const char *path, const char *id);

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
 * path, in active/ and named by its queue id, may be what a give of an
 * earlier version cut short left (it emptied the file first: an empty
 * file under the message's name): if so, move it
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
 * Whether active/, incoming/, deferred/ or hold/ holds a file named id
 * that is st's inode (the queue directory is the pool directory's
 * parent): then a name of st's file found elsewhere (in the pool, a
 * temporary one in incoming/), with one link counted, is a second name a
 * crash left, never to be unlinked.
 */
bool qrecycle_named_in_queue(const char *id, const struct stat *st);

/*
 * Whether spares must give way to mail: avail bytes free in the queue's
 * file system are less than twice what smtpd wants free to take a message
 * (qspace_enough: queue_minfree, 1.5 x message_size_limit).
 */
bool qrecycle_room_short(unsigned long long avail, unsigned long long minfree,
			 unsigned long long size_limit);

/*
 * Unlink spare files beyond the first keep, every one when the pool is
 * off or room is short (qrecycle_room_short with minfree and size_limit:
 * queue_minfree and message_size_limit), and any larger than
 * QRECYCLE_SPARE_MAX (never one that holds another
 * message than its own: qfile.c sets such a one aside), and dot files at least
 * half_given_age seconds old (what a crash left half-given when a give
 * emptied the file under a dot name in the pool, as it once did; younger
 * ones are left alone; 0: all). qmgr, now and then. Returns how many were
 * removed.
 */
long qrecycle_trim(unsigned long keep, time_t half_given_age, unsigned long long minfree,
		   unsigned long long size_limit);

#endif
