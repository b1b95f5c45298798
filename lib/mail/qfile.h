/*
 * qfile.h - Tern's queue file: its format, the one safe way to write one,
 * and a reader that validates everything.
 *
 * Mail layer. Runs with the privileges of its caller: terndrop (setgid
 * terndrop) writes maildrop/ files with it, cleanup (mail_owner) writes
 * incoming/ files, pickup and the queue manager read them.
 *
 * FORMAT (one file per message; all text records end in LF)
 *
 *   TERNQ 2                      magic and format version, always first
 *   T <secs>.<usecs>             arrival time (decimal, usecs 6 digits)
 *   I <queue id>                 the file's own queue id (see below)
 *   S <sender>                   envelope sender; "S " alone is <>
 *   N <name>=<value>             attribute, zero or more
 *   R<st><nf>\t<addr>\t<orcpt>   recipient, zero or more (only maildrop
 *                                files of sendmail -t have none):
 *                                  <st> one status byte, overwritten in
 *                                       place when the recipient is done:
 *                                       '-' pending, 'D' delivered,
 *                                       'B' bounced (failure notice sent
 *                                       or not wanted), 'E' expanded into
 *                                       another queue file (aliases)
 *                                  <nf> DSN NOTIFY as one hex digit
 *                                       (DSN_NOTIFY_* bits of cleanup.h;
 *                                       0 = not given)
 *                                  <orcpt> DSN ORCPT as given ("" = none)
 *   M <20 decimal digits>        content length in bytes; the content
 *                                follows immediately
 *   <content>                    the message, headers then body, lines
 *                                ending in LF
 *   E <boot> <checksum>          end record, at exactly M's offset +
 *                                length: <boot> the boot the file was
 *                                written in (/proc/sys/kernel/random/
 *                                boot_id without dashes, 32 lower-case
 *                                hex digits; zeros when not known),
 *                                <checksum> hash64 (util/hash64.h) of
 *                                every byte before the record, with each
 *                                R record's status byte taken as '-' and
 *                                M's 20 digits as zeros, 16 lower-case
 *                                hex digits
 *   NUL bytes                    from the end record's LF up to the next
 *                                multiple of QF_PAD (4096): the file's
 *                                size is always one, so that writing it
 *                                over a spare that keeps its blocks
 *                                (qrecycle.h) in one write (up to 256
 *                                KiB) writes whole pages and does not
 *                                read the old ones first
 *
 * Version 1 files ("TERNQ 1", written before version 2) end in "E\n" at
 * exactly M's offset + length, with nothing after it and no checksum;
 * they are read as before.
 *
 * THE CHECKSUM is there for one case: a file written over a spare that
 * still holds an old, delivered message, when the system stops before
 * the commit's fsync has written all of it. The rename to the queue id
 * may then be on disk with only some of the new blocks, the others still
 * the old message's: a file that may parse, and whose content is partly
 * somebody else's. A reader checks the checksum of every file written in
 * an earlier boot (a crash means a reboot); one written in this boot is
 * read from the page cache, which holds what was written, whole, so it
 * is not read twice for it. A mismatch is QF_CORRUPT: such a file was
 * never acknowledged (the 250 waits for the fsync). A delivery process
 * that opened a checked file sets its end record's boot to this one
 * (qfile_mark_checked; the boot is outside the checksum), so it is
 * checked once, not at every retry. One case is not covered: after a
 * write-back error the page cache may drop clean pages that then read
 * back the spare's old blocks in this same boot, unchecked; a commit
 * whose fsync failed is never acknowledged, but the queue manager may
 * have taken it already (see qfile_commit).
 *
 * Records appear in this order; N and R records may each be absent. Note
 * that the arrival time in the name and in T is the writer's clock, so
 * do not derive anything but uniqueness from the id (qmgr spaces the
 * retries of a file it cannot read by its id's second, lacking any other). No field holds a control character (NUL, CR, LF, TAB, ...) other
 * than as described; the writer refuses them and the reader reports such
 * a file as corrupt. A file without a correct end record was truncated
 * (or is still being written: writers use temporary names starting with
 * '.', which every directory scan must skip).
 *
 * QUEUE IDS are the arrival second (8+ hex digits), the microsecond (5
 * hex digits) and the inode number of the file (hex), all upper case:
 * unique among the files of one file system and safe as a file name.
 * qfile_id_valid() says whether a string is one.
 *
 * WRITING: qfile_create() renames a spare from the pool (qrecycle.h) to
 * a temporary name in the target directory, or makes one with
 * O_CREAT|O_EXCL (a file of up to 256 KiB is then written with one
 * write(2) at the commit, over the spare's old blocks; a spare longer
 * than the new file is cut to its end); qfile_commit() is the one safe queue-write: it
 * writes the end record, fsyncs the file, renames it to its queue id
 * (never replacing a file) and fsyncs the directory (or, where the writer
 * may not read the directory, as terndrop in maildrop/ mode 1730, syncs
 * the file system holding the file, which commits the entry as well). Any failure (disk
 * full, I/O error, ...) is a temporary failure: the temporary file is
 * unlinked and nothing was queued. Only after qfile_commit() returns 0
 * may anyone answer 250 or exit 0. Threads of one process that commit
 * into the same directory at once share directory fsyncs (group commit):
 * one fsync covers every rename completed before it started; when it
 * fails, every commit it covered fails (see qfile.c). With shared sync
 * on (qfile_set_shared_sync), they share the files' syncs as well: the
 * files are renamed first, then one syncfs(2) makes a whole batch durable
 * in place of one fsync per file (a renamed file is not acknowledged
 * until that sync and the directory fsync have succeeded). Where the
 * file system commits a rename with the renamed file's own fsync (ext4,
 * XFS: qfile_rename_covered) and queue_directory_sync is auto, the order
 * is rename, then fsync of the file, and no directory fsync; the same
 * for the shared syncfs where that commits the renames (ext4 with a
 * journal, XFS: qfile_syncfs_covered).
 *
 * FAULT INJECTION: every open/write/fsync/rename of this layer (and
 * qfile_open's reads: "read" the end record of a partly read file,
 * "readfile" the rest) goes through counting wrappers, so tests can make
 * the Nth call fail with ENOSPC or EIO (qfile_fault_inject), or from the
 * environment of a program that is not set-id (smtpd, pickup, qmgr):
 * TERN_QFILE_FAULT="write:3:ENOSPC" (call
 * open|write|fsync|rename|syncfs|read|readfile, N, errno name
 * ENOSPC|EIO|EDQUOT|EINTR; append ":all" to fail every call from the Nth
 * on; an EINTR is retried a bounded number of times).
 */
#ifndef TERN_MAIL_QFILE_H
#define TERN_MAIL_QFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/time.h>
#include <sys/types.h>

#include "util/buf.h"

#define QF_MAGIC		"TERNQ 2"	/* what writers write */
#define QF_MAGIC_V1		"TERNQ 1"	/* still read */
#define QF_END_LEN		52	/* "E " + 32 + " " + 16 + "\n" */
#define QF_PAD			4096	/* version 2 files are a multiple of it long */
#define QF_ID_MAX		48	/* room for any queue id and its NUL */
#define QF_RECORD_MAX		65536	/* longest envelope record */

/* Recipient status bytes. */
#define QF_RCPT_PENDING		'-'
#define QF_RCPT_DELIVERED	'D'
#define QF_RCPT_BOUNCED		'B'
#define QF_RCPT_EXPANDED	'E'

/* Results of qfile_open. */
#define QF_OK		0
#define QF_CORRUPT	1	/* does not parse: move it to corrupt/ */
#define QF_IOERR	2	/* could not read it (gone, permissions, I/O) */
/*
 * A second name of a reused queue file (qrecycle.h) that a system crash
 * left behind: more than one link, and the content is some other file's
 * (an I record naming another id, or no queue file at all). The file
 * lives on under its own name; only this name is to be removed.
 */
#define QF_STALE	3
/*
 * A second name of a queue file whose link count is short: one link
 * counted for two names, as a system crash leaves on a file system
 * without a journal when no fsck ran after it. The other name is the
 * pool's (the file was given after delivery) or a live queue file's (the
 * file holds the message whose queue id names this inode). Unlinking
 * either name would free the inode under the other, which a writer may
 * have taken for a new message: neither is ever unlinked; the caller
 * moves this name, and the pool's, where nothing trims or reuses them
 * (qrecycle_park) and says to run e2fsck.
 */
#define QF_LINKS	4

bool qfile_id_valid(const char *id);
/*
 * The inode number a queue id names (its part after the second and the
 * microsecond): true and *ino, or false when id is not one. The ids of
 * qfile_create_final() (maildrop/ only) end in a process id instead.
 */
bool qfile_id_inode(const char *id, unsigned long long *ino);
/*
 * Whether an errno of a failed qfile_open says the file system cannot give
 * the file back (EIO: a failing disk; ext4's EFSCORRUPTED and EFSBADCRC),
 * as opposed to one that passes or says nothing of the file (ENOENT,
 * EMFILE, ENOMEM...).
 */
bool qfile_errno_unreadable(int e);
/* The second a queue id was made in (its first 8 hex digits): true and *t, or false. */
bool qfile_id_time(const char *id, time_t *t);
/* True when a field may be stored (no control characters, bounded). */
bool qfile_field_valid(const char *s);

/* --- writing ----------------------------------------------------------- */

struct qfile_writer;

/* Temp file in dir, mode 0600; NULL with a reason in err (a temporary failure). */
struct qfile_writer *qfile_create(const char *dir, struct buf *err);
/* The same with another mode (maildrop files: 0644, read by pickup). */
struct qfile_writer *qfile_create_mode(const char *dir, mode_t mode, struct buf *err);
/* The temporary name (for a signal handler that must unlink it). */
const char *qfile_writer_temp_path(const struct qfile_writer *w);
/* Allow committing a file without recipients (maildrop files of sendmail -t). */
void qfile_allow_no_rcpt(struct qfile_writer *w);
const char *qfile_writer_id(const struct qfile_writer *w);
const char *qfile_writer_path(const struct qfile_writer *w);	/* final path */
/* Default: the time of qfile_create. */
void qfile_set_arrival(struct qfile_writer *w, const struct timeval *tv);
/*
 * The envelope: these may be called in any order until the first
 * qfile_write; they return -1 for a field that cannot be stored.
 */
int qfile_set_sender(struct qfile_writer *w, const char *addr);
int qfile_add_rcpt(struct qfile_writer *w, const char *addr, int notify, const char *orcpt);
int qfile_add_attr(struct qfile_writer *w, const char *name, const char *value);
size_t qfile_writer_rcpt_count(const struct qfile_writer *w);
/* Content in pieces of any size; -1 with a reason on an I/O error. */
int qfile_write(struct qfile_writer *w, const void *data, size_t len, struct buf *err);
/*
 * Content: len bytes of the file fd from offset off (copy_file_range, or
 * read and write where the kernel cannot). -1 with a reason on an error,
 * as qfile_write.
 */
int qfile_write_fd(struct qfile_writer *w, int fd, off_t off, unsigned long long len,
		   struct buf *err);
/*
 * Commit into dir (same file system) instead of the directory of
 * qfile_create: cleanup's quarantine into hold/. The file is then made
 * durable with an fsync of its own, never a shared syncfs.
 */
void qfile_set_commit_dir(struct qfile_writer *w, const char *dir);
/* Content bytes so far. */
unsigned long long qfile_content_written(const struct qfile_writer *w);
/*
 * Finish: end record, fsync, rename to the queue id, fsync directory
 * (or, where qfile_rename_covered: rename, then one fsync of the file).
 * 0: durable, id copied to id (if not NULL). -1: temporary failure,
 * reason in err, nothing left behind. Frees w either way.
 */
int qfile_commit(struct qfile_writer *w, char *id, size_t idlen, struct buf *err);
/*
 * Let concurrent qfile_commit() calls of this process (smtpd's commit
 * threads) make their files durable with one syncfs(2) per batch instead
 * of one fsync(2) each. Off by default.
 */
void qfile_set_shared_sync(bool on);
/*
 * queue_directory_sync: "auto" (default) skips the directory fsync where
 * an fsync of the file made after its rename also makes the rename
 * durable (qfile_rename_covered), "always" keeps it everywhere.
 * qfile_configure() reads it from the configuration; call it once at
 * start, before any commit thread runs. Without it, auto.
 */
void qfile_configure(void);
void qfile_set_dir_sync_always(bool always);
/*
 * The decision, for tests: true when on a file system of statfs type
 * fstype an fsync(2) (not fdatasync) of a file after its rename commits
 * the rename: ext4 run by the ext4 driver (ext4_driver; with a journal,
 * or without one: ext4_sync_parent), XFS.
 */
bool qfile_rename_covered(long fstype, bool ext4_driver);
/*
 * The same for a syncfs(2) after the renames: ext4 with a journal
 * (journal: jbd2 runs one), XFS.
 */
bool qfile_syncfs_covered(long fstype, bool journal);
/*
 * One-process submission (set-group-ID sendmail, sendmail/drop.c): the
 * file is created O_CREAT|O_EXCL under its final name in dir with mode
 * 0200 (unreadable to pickup, which skips such files) and its first
 * record is written at once, so that it is never empty while its writer
 * lives. Its id is the arrival time and the writer's pid (no inode:
 * the name comes before the file). The writer may then lose the
 * privilege that let it create the file: everything after goes through
 * the descriptor. NULL with a reason in err (a temporary failure; a
 * file whose first record could not be written is unlinked at once).
 */
struct qfile_writer *qfile_create_final(const char *dir, struct buf *err);
/*
 * Finish such a file: end record, fchmod to mode (the complete one, for
 * pickup), one fsync (and a syncfs of its file system where that fsync
 * does not also persist the new directory entry: qfile_create_covered),
 * then fstat: a file removed meanwhile (no link left) is a failure. 0:
 * durable under its name. -1: temporary failure, reason in err, the file
 * truncated to 0 and back at 0200 (its writer may not be able to unlink
 * it; pickup removes it). Frees w either way. qfile_abort() on such a
 * writer truncates the same way instead of unlinking.
 */
int qfile_commit_final(struct qfile_writer *w, mode_t mode, char *id, size_t idlen, struct buf *err);
/*
 * The decision, for tests: true when on a file system of statfs type
 * fstype an fsync(2) of a newly created file also persists its directory
 * entry: ext4 (ext4_driver: the ext4 driver, not ext2's, runs it;
 * journal or not), XFS, btrfs.
 */
bool qfile_create_covered(long fstype, bool ext4_driver);
/*
 * How qfile_commit_final tells the ext4 driver from ext2's on the ext4
 * magic, for tests: true when the ext4 driver runs the file fd is open
 * on (EXT4_IOC_GETSTATE answers); false: not known (/sys/fs/ext4 decides).
 */
bool qfile_ext4_driver_ioctl(int fd);
/* The writer's descriptor (for a signal handler that truncates a qfile_create_final file). */
int qfile_writer_fd(const struct qfile_writer *w);
/* Unlink the temporary file (or truncate a qfile_create_final one) and free w. */
void qfile_abort(struct qfile_writer *w);

/*
 * Move a queue file into another directory of the same file system
 * (rename, then fsync of both directories), e.g. incoming/ -> active/
 * or -> corrupt/. 0 ok, -1 with a reason.
 */
int qfile_move(const char *path, const char *todir, struct buf *err);
/*
 * The same in two steps, for many files at once (qmgr taking in a batch
 * from incoming/): the renames, then one qfile_sync_dir for all of them
 * (of the target at least: see qmgr.c).
 */
int qfile_move_nosync(const char *path, const char *todir, struct buf *err);
int qfile_sync_dir(const char *dir, struct buf *err);
/*
 * The same through a descriptor of dir the caller keeps open (qmgr's
 * active/, synced after every look into incoming/): the fsync alone, not
 * an open and a close around it. dir names it in the reason.
 */
int qfile_sync_dir_fd(int fd, const char *dir, struct buf *err);

/*
 * Whether a rename between directories of dir's file system survives a
 * crash whole without any fsync (the file under one name or the other,
 * never under neither): where a journal holds the rename (ext4 with one,
 * XFS: qfile_syncfs_covered) and queue_directory_sync is auto. qmgr then
 * moves files into active/ without the fsync of active/ that a file
 * system without a journal needs.
 */
bool qfile_renames_atomic(const char *dir);

/* --- reading ----------------------------------------------------------- */

struct qfile;

struct qfile_rcpt {
	const char *address;
	const char *orcpt;	/* "" when none */
	int notify;		/* DSN_NOTIFY_* bits, 0 = not given */
	char status;		/* QF_RCPT_* */
	off_t status_offset;	/* where the status byte lives */
};

/*
 * Open and validate a whole queue file (envelope, content length, end
 * record). writable: open O_RDWR so qfile_mark_done can be used.
 * Returns QF_OK with *qp set, or QF_CORRUPT / QF_IOERR / QF_STALE / QF_LINKS with
 * a reason (after QF_IOERR errno is the failed call's: ENOENT gone, EIO
 * unreadable, ...). A file whose name is a queue id must hold that id.
 */
int qfile_open(const char *path, bool writable, struct qfile **qp, struct buf *err);
/*
 * The same, reading the whole file with one read into mem (the caller's
 * buffer, kept from one message to the next so that its memory is not
 * faulted in again for each): for a reader that wants the content
 * anyway (local delivery). q refers to mem until qfile_close: mem must
 * not change until then. qfile_open reads only the start of a large file.
 */
int qfile_open_whole(const char *path, bool writable, struct buf *mem, struct qfile **qp,
		     struct buf *err);
/*
 * The message is done with: its file (opened writable) goes to the pool
 * of spare queue files when qrecycle_enable() turned it on, or is
 * unlinked; not synced either way. Then q is closed. 0, 1 when another
 * process had moved the file away from its name (it is left alone), or
 * -1 with errno.
 */
int qfile_remove(struct qfile *q);
/*
 * Whether fd, a spare found in the pool under the queue id id, holds that
 * message (its I record names id): the delivered message it held when it
 * was given. Anything else in a spare that is not empty is another
 * message's (see reuse_spare in qfile.c): never written over.
 */
bool qfile_spare_spent(int fd, const char *id);
/*
 * The queue id fd's file holds (its I record, from the file's first
 * bytes; any queue file has one from its creation on): true and id set
 * (size bytes), or false when there is none to read.
 */
bool qfile_head_id(int fd, char *id, size_t size);
/*
 * A file of an earlier boot was checked whole by its open (qfile.h, THE
 * CHECKSUM): set its end record's boot to this one, so that later opens
 * do not read it whole again. Only for a file opened writable, held
 * under its lock and known to be still under its name (a delivery
 * process): at open time another process may have given it to the pool
 * and a writer taken it for a new message, which this would write into.
 * Does nothing for a file that was not checked.
 */
void qfile_mark_checked(struct qfile *q);
/*
 * The same from a buffer (tests and fuzzing): the checksum of a version
 * 2 file is always checked. No mark_done, content via qfile_read.
 */
int qfile_parse_buffer(const char *data, size_t len, struct qfile **qp, struct buf *err);
void qfile_close(struct qfile *q);

const char *qfile_id(const struct qfile *q);
const char *qfile_sender(const struct qfile *q);	/* "" = <> */
struct timeval qfile_arrival(const struct qfile *q);
/* Attribute value, or NULL. The last one wins when a name repeats. */
const char *qfile_attr(const struct qfile *q, const char *name);
/* Iterate attributes: index 0..count-1. */
size_t qfile_attr_count(const struct qfile *q);
void qfile_attr_get(const struct qfile *q, size_t i, const char **name, const char **value);

size_t qfile_rcpt_count(const struct qfile *q);
const struct qfile_rcpt *qfile_rcpt(const struct qfile *q, size_t i);
/* Recipients whose status is still QF_RCPT_PENDING. */
size_t qfile_pending_count(const struct qfile *q);
/*
 * Mark recipient i done (QF_RCPT_DELIVERED, _BOUNCED or _EXPANDED): one
 * pwrite of the status byte, seen at once by any later reader (the page
 * cache outlives a crash of the process). 0 ok, -1 with a reason.
 */
int qfile_mark_done(struct qfile *q, size_t i, char status, struct buf *err);
/*
 * fdatasync the marks, so that they also outlive a crash of the system:
 * before a file with marks is kept for a later attempt. (A file that is
 * removed once all are done needs none: a crash before the removal
 * reached the disk delivers its recipients again, never loses them.)
 */
int qfile_sync(struct qfile *q, struct buf *err);

/* The message content. */
unsigned long long qfile_content_size(const struct qfile *q);
off_t qfile_content_offset(const struct qfile *q);
/* Rewind to the content start; qfile_read reads on (0 at the end, -1 error). */
void qfile_rewind(struct qfile *q);
ssize_t qfile_read(struct qfile *q, void *data, size_t len);
/* The content where it lies in memory (a whole file read, a buffer), or NULL. */
const char *qfile_content_mem(const struct qfile *q);
int qfile_fd(const struct qfile *q);	/* -1 for a buffer */
/*
 * Whether path still names fd's file (linked, and path's inode): a
 * process that locks a file after opening it learns so whether the one
 * that held the lock meanwhile moved it away (deferred, or given to the
 * pool, where a writer may already have taken it for a new message).
 */
bool qfile_still_named(int fd, const char *path);
/*
 * Whether q's file is still under the name q was opened by: for a reader
 * that reads the content without the file's lock (the smtp program, while
 * a delivery process holds it). True after the last read means every
 * byte read was this message's: a file leaves its name before the pool
 * gets it (qrecycle_give), and the name never comes back for another.
 */
bool qfile_still_there(const struct qfile *q);

/* --- fault injection (tests) ----------------------------------------- */

/*
 * QF_CALL_READ: the read of the end record of a file qfile_open reads in
 * part; QF_CALL_READ_FILE: qfile_open's other reads (the envelope, or
 * the whole file).
 */
enum qfile_call { QF_CALL_OPEN, QF_CALL_WRITE, QF_CALL_FSYNC, QF_CALL_RENAME, QF_CALL_SYNCFS, QF_CALL_READ,
		  QF_CALL_READ_FILE, QF_CALL_MAX };
/* Fail the nth call (1 = the next one) with err; every call from then on if sticky. */
void qfile_fault_inject(enum qfile_call call, unsigned nth, int err, bool sticky);
void qfile_fault_reset(void);
/*
 * Tests: call hook (NULL: none) in the thread that is about to fsync a
 * queue directory for qfile_commit, after it became the group's leader.
 */
void qfile_fault_dirsync_hook(void (*hook)(void));
/*
 * Tests: call hook (NULL: none) in the thread that is about to make a
 * batch of written queue files durable (shared sync on), after it became
 * the leader; batch counts the files (1: an fsync of its own, more: one
 * syncfs).
 */
void qfile_fault_filesync_hook(void (*hook)(unsigned batch));
/*
 * Tests: call hook (NULL: none) in qfile_commit right after the file got
 * its final name (qfile_commit_final: right after it was made readable),
 * before it is made durable.
 */
void qfile_fault_rename_hook(void (*hook)(void));
/*
 * Tests: queue directories seen from now on take covered and
 * syncfs_covered as given (0 or 1) instead of asking their file system
 * (and whatever queue_directory_sync says); -1, -1 undoes it.
 */
void qfile_fault_dir_covered(int covered, int syncfs_covered);
/*
 * Tests: the boot id (32 lower-case hex digits) this process writes into
 * end records and compares them with, as if the system had restarted;
 * NULL goes back to the real one.
 */
void qfile_fault_boot_id(const char *hex);
/* Read TERN_QFILE_FAULT (ignored in set-id programs); 0 ok, -1 bad syntax. */
int qfile_fault_from_env(void);

#endif
