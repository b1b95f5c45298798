/*
 * qfile.c - queue file writer, reader and fault injection (see qfile.h
 * for the format).
 *
 * Mail layer. Runs with the privileges of its caller (terndrop setgid
 * terndrop, cleanup and the queue manager as mail_owner). Every system
 * call that can lose mail goes through the q_* wrappers below, so tests
 * can make any of them fail.
 */
#include "compat.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "mail/config.h"
#include "mail/param_names.h"
#include "mail/qfile.h"
#include "mail/qrecycle.h"
#include "util/buf.h"
#include "util/hash64.h"
#include "util/log.h"
#include "util/mem.h"

/* ------------------------------------------------------------------ */
/* Fault injection: count calls, fail the chosen one.                  */

struct fault {
	unsigned count;		/* calls so far since injection */
	unsigned nth;		/* 0 = no fault */
	int err;
	bool sticky;
};
static struct fault faults[QF_CALL_MAX];
/* smtpd's commit threads call in concurrently: the counters need a lock. */
static pthread_mutex_t faults_lock = PTHREAD_MUTEX_INITIALIZER;

void qfile_fault_inject(enum qfile_call call, unsigned nth, int err, bool sticky)
{
	if ((unsigned)call >= QF_CALL_MAX)
		return;
	pthread_mutex_lock(&faults_lock);
	faults[call].count = 0;
	faults[call].nth = nth;
	faults[call].err = err;
	faults[call].sticky = sticky;
	pthread_mutex_unlock(&faults_lock);
}

void qfile_fault_reset(void)
{
	pthread_mutex_lock(&faults_lock);
	memset(faults, 0, sizeof(faults));
	pthread_mutex_unlock(&faults_lock);
}

/* True (errno set) when this call must fail. */
static bool fault_hit(enum qfile_call call)
{
	struct fault *f = &faults[call];
	bool hit = false;
	int err = 0;
	pthread_mutex_lock(&faults_lock);
	if (f->nth != 0) {
		f->count++;
		hit = f->count == f->nth || (f->sticky && f->count > f->nth);
		err = f->err;
	}
	pthread_mutex_unlock(&faults_lock);
	if (hit)
		errno = err;
	return hit;
}

int qfile_fault_from_env(void)
{
	/* A set-id program must not let its caller steer it, even to fail. */
	if (getuid() != geteuid() || getgid() != getegid())
		return 0;
	const char *spec = getenv("TERN_QFILE_FAULT");
	if (spec == NULL || *spec == '\0')
		return 0;
	char call[16], errname[16], mode[8] = "";
	unsigned nth;
	/* NOLINTNEXTLINE(cert-err34-c): a test's fault-injection setting, not input */
	if (sscanf(spec, "%15[a-z]:%u:%15[A-Z]:%7[a-z]", call, &nth, errname, mode) < 3)
		return -1;
	static const char *const calls[QF_CALL_MAX] = {"open", "write", "fsync", "rename", "syncfs", "read",
								  "readfile"};
	int c;
	for (c = 0; c < QF_CALL_MAX; c++)
		if (strcmp(call, calls[c]) == 0)
			break;
	if (c == QF_CALL_MAX || nth == 0)
		return -1;
	int err;
	if (strcmp(errname, "ENOSPC") == 0)
		err = ENOSPC;
	else if (strcmp(errname, "EIO") == 0)
		err = EIO;
	else if (strcmp(errname, "EDQUOT") == 0)
		err = EDQUOT;
	else if (strcmp(errname, "EINTR") == 0)
		err = EINTR;
	else
		return -1;
	qfile_fault_inject((enum qfile_call)c, nth, err, strcmp(mode, "all") == 0);
	return 0;
}

/*
 * EINTR: a call interrupted by a signal did nothing and is made again
 * (a file system mounted with "intr", or FUSE, can interrupt any of
 * them); it is no reason to refuse a message or defer a delivery. Only
 * EINTR: an fsync that failed with EIO is never retried, its write-back
 * error is reported once. Bounded, should a signal arrive at every try.
 */
#define EINTR_TRIES 100

static int q_open(const char *path, int flags, mode_t mode)
{
	int fd;
	for (int i = 0;; i++) {
		fd = fault_hit(QF_CALL_OPEN) ? -1 : open(path, flags | O_CLOEXEC, mode);
		if (fd >= 0 || errno != EINTR || i == EINTR_TRIES)
			return fd;
	}
}

static ssize_t q_write(int fd, const void *data, size_t len)
{
	if (fault_hit(QF_CALL_WRITE))
		return -1;
	return write(fd, data, len);	/* write_all() retries EINTR */
}

static ssize_t q_pwrite(int fd, const void *data, size_t len, off_t off)
{
	ssize_t n;
	for (int i = 0;; i++) {
		n = fault_hit(QF_CALL_WRITE) ? -1 : pwrite(fd, data, len, off);
		if (n >= 0 || errno != EINTR || i == EINTR_TRIES)
			return n;
	}
}

static int q_fsync(int fd, bool data_only)
{
	int rc;
	for (int i = 0;; i++) {
		rc = fault_hit(QF_CALL_FSYNC) ? -1 : data_only ? fdatasync(fd) : fsync(fd);
		if (rc == 0 || errno != EINTR || i == EINTR_TRIES)
			return rc;
	}
}

static int q_rename_once(const char *from, const char *to, bool noreplace);

static int q_rename(const char *from, const char *to, bool noreplace)
{
	int rc;
	for (int i = 0;; i++) {
		rc = q_rename_once(from, to, noreplace);
		if (rc == 0 || errno != EINTR || i == EINTR_TRIES)
			return rc;
	}
}

static int q_rename_once(const char *from, const char *to, bool noreplace)
{
	if (fault_hit(QF_CALL_RENAME))
		return -1;
	if (noreplace) {
		if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
			return 0;
		if (errno != EINVAL && errno != ENOSYS)
			return -1;
		/* No RENAME_NOREPLACE here: link+unlink never replaces a file either. */
		if (link(from, to) != 0)
			return -1;
		if (unlink(from) != 0) {
			int saved = errno;
			unlink(to);
			errno = saved;
			return -1;
		}
		return 0;
	}
	return rename(from, to);
}

static int write_all(int fd, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t n = q_write(fd, data, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0) {
			errno = EIO;
			return -1;
		}
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

/* fsync a directory so that a rename in it survives a crash. */
static int fsync_dir(const char *dir)
{
	int fd = q_open(dir, O_RDONLY | O_DIRECTORY, 0);
	if (fd < 0)
		return -1;
	int rc = q_fsync(fd, false);
	int saved = errno;
	close(fd);
	errno = saved;
	return rc;
}

/*
 * fsync a directory; when it cannot be opened for reading (terndrop's
 * group may only write and search maildrop/, mode 1730), sync the file
 * system that holds the open file instead, which also commits the
 * directory entry.
 */
static int fsync_dir_or_fs(const char *dir, int fd)
{
	if (fsync_dir(dir) == 0)
		return 0;
	if (errno != EACCES)
		return -1;
	if (fault_hit(QF_CALL_FSYNC))
		return -1;
	return syncfs(fd);
}

/*
 * Group commit. Concurrent commits in one process (smtpd's commit
 * threads) share their syncs: a sync makes durable every update done
 * before it started, so a committer whose update is done waits for the
 * first sync that starts after that; if none is running it runs it
 * itself (the "leader"), otherwise it waits for the running one to end
 * and then for (or as the leader of) the next. Generations count syncs:
 * "started" and "finished" (equal when none is running); the sync an
 * update needs is number started + 1 as seen right after the update.
 * "waiting" counts the committers that need that next sync: the leader's
 * batch.
 *
 * Without shared sync a committer fsyncs its file, renames it, and the
 * directory fsync is shared (the "dirs" group of the queue directory);
 * where the directory is covered (dir_covered), it renames, then fsyncs
 * its file, and shares nothing.
 * With shared sync (qfile_set_shared_sync) the file is renamed first
 * and the whole commit is shared (the "batch" group): a leader alone
 * fsyncs its own file, a leader with others runs one syncfs(2) of the
 * queue file system for all of them; then it fsyncs the directory. The
 * disk sees two cache flushes per batch instead of two per message
 * (one, where the file system commits the rename with the file or the
 * syncfs: the directory fsync is skipped, see dir_covered). (In
 * between, the queue manager may already see the file and deliver it:
 * should the sync then fail, the client gets no 250 and sends it again,
 * once too often but never lost. A system crash in between can leave
 * an incomplete file under its final name, which was never acknowledged
 * and goes to corrupt/ when read.)
 *
 * A failed sync fails every waiter whose generation is at or before the
 * last failure seen, not only the exact one: after an fsync error Linux
 * may report later fsyncs as successful although the earlier updates
 * were lost, so a later success does not prove anything. A failed syncfs
 * also fails the next generation, whose files may have been written back
 * (and lost) by it, and switches the directory to one fsync per file,
 * which reports each file's own write-back errors; syncfs(2) reports
 * errors of the whole file system since it last ran on the group's
 * descriptor, so one it missed could otherwise pass unseen (a commit
 * that chose shared sync before the failure and reaches the group only
 * after it fsyncs its own file for the same reason: durable_commit). The
 * worst this does is a spurious temporary failure, never a false 250.
 *
 * Across processes nothing is shared.
 */
struct syncgroup {
	pthread_cond_t cond;
	unsigned long long started;
	unsigned long long finished;
	unsigned long long failed_gen;	/* last generation that failed, 0 none */
	int failed_errno;
	unsigned waiting;		/* committers that need sync number started + 1 */
};

struct qdirsync {
	struct qdirsync *next;
	char *dir;
	int fs_fd;			/* the directory, open for syncfs; -1 none */
	bool per_file;			/* no syncfs (failed, or no fs_fd): fsync each file */
	bool covered;			/* the file's fsync after the rename commits it */
	bool syncfs_covered;		/* so does a syncfs after the renames (a journal) */
	struct syncgroup batch;		/* shared sync: file(s) and directory */
	struct syncgroup dirs;		/* otherwise: the directory */
};

static pthread_mutex_t sync_lock = PTHREAD_MUTEX_INITIALIZER;
static struct qdirsync *qdirsyncs;	/* never freed: one per queue directory */
static bool shared_sync;
static bool dir_sync_always;		/* queue_directory_sync = always */
/*
 * The test hooks are read without the lock (atomically): a commit takes
 * sync_lock only to find its directory's state and for the group
 * itself, since each lock a commit thread takes while the others commit
 * too is a futex call when they meet.
 */
static void (*dirsync_hook)(void);	/* tests: runs before each directory fsync */
static void (*filesync_hook)(unsigned batch);	/* tests: before each shared sync */
static void (*rename_hook)(void);	/* tests: after a commit's rename, before its sync */
static int forced_covered = -1;		/* tests: (covered, syncfs_covered) of new dirs, -1 not */
static int forced_syncfs_covered = -1;

void qfile_set_shared_sync(bool on)
{
	pthread_mutex_lock(&sync_lock);
	__atomic_store_n(&shared_sync, on, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&sync_lock);
}

void qfile_fault_dirsync_hook(void (*hook)(void))
{
	__atomic_store_n(&dirsync_hook, hook, __ATOMIC_RELEASE);
}

void qfile_fault_filesync_hook(void (*hook)(unsigned batch))
{
	__atomic_store_n(&filesync_hook, hook, __ATOMIC_RELEASE);
}

void qfile_fault_rename_hook(void (*hook)(void))
{
	__atomic_store_n(&rename_hook, hook, __ATOMIC_RELEASE);
}

void qfile_fault_dir_covered(int covered, int syncfs_covered)
{
	pthread_mutex_lock(&sync_lock);
	forced_covered = covered;
	forced_syncfs_covered = syncfs_covered;
	pthread_mutex_unlock(&sync_lock);
}

void qfile_set_dir_sync_always(bool always)
{
	pthread_mutex_lock(&sync_lock);
	dir_sync_always = always;
	pthread_mutex_unlock(&sync_lock);
}

void qfile_configure(void)
{
	qfile_set_dir_sync_always(strcmp(cfg_str(P_queue_directory_sync), "always") == 0);
}

/*
 * Directory sync elision. A rename is durable once the directory that
 * holds the new entry is on disk; fsync(2) of the directory does that
 * everywhere, at the price of one more disk cache flush per commit. On
 * ext4 and XFS it is also durable once the renamed file's own fsync (not
 * fdatasync) returns, provided that fsync is made after the rename:
 * - ext4 with a journal and XFS change the renamed inode (its ctime) in
 *   the same journal transaction as the directory entries, and fsync
 *   commits the journal up to the inode's last change (ext4: the
 *   transaction i_sync_tid names; XFS: the log up to the inode's last
 *   commit sequence); transactions commit in order, so the file's
 *   creation is covered too;
 * - ext4 without a journal: the rename adds the new entry with
 *   ext4_add_entry(), which marks the renamed inode EXT4_STATE_NEWENTRY,
 *   and the file's fsync then writes its parent directory's blocks and
 *   inode (ext4_sync_parent) before the one cache flush. Only the ext4
 *   driver does that (not ext2's). Kernels 5.5 to 6.4 skip both when
 *   the inode is no longer dirty at the fsync: see durable_commit.
 * A syncfs(2) after the renames covers them only with a journal (ext4's
 * sync_fs commits it, XFS forces its log): without one, ext4's syncfs
 * sends its cache flush before its last write of the block device's
 * dirty buffers, so the directory is fsynced after it.
 * The argument with references is in doc/internals.md ("Durability").
 * Anywhere else (the ext2 driver, btrfs, NFS, tmpfs, anything unknown),
 * or with queue_directory_sync = always, the directory is fsynced.
 */
#define FS_EXT4_MAGIC	0xEF53L		/* EXT4_SUPER_MAGIC (also ext2/3) */
#define FS_XFS_MAGIC	0x58465342L	/* XFS_SUPER_MAGIC */

bool qfile_rename_covered(long fstype, bool ext4_driver)
{
	if (fstype == FS_EXT4_MAGIC)
		return ext4_driver;
	return fstype == FS_XFS_MAGIC;
}

bool qfile_syncfs_covered(long fstype, bool journal)
{
	if (fstype == FS_EXT4_MAGIC)
		return journal;
	return fstype == FS_XFS_MAGIC;
}

/*
 * Whether the ext4 file system on device dev has a journal in its inode
 * 8 (the one mkfs.ext4 makes): jbd2 lists each journal it runs as
 * /proc/fs/jbd2/NAME-INODE, NAME being the kernel's name of the block
 * device, the name /sys/dev/block/MAJ:MIN links to (ext4 lists the file
 * system as /sys/fs/ext4/NAME). An external journal, a device with no
 * such link, or no /proc or /sys (some containers) count as none: the
 * directory is fsynced there after a syncfs. Only readlink and stat: no
 * descriptor.
 */
/*
 * Whether PATTERN, with the kernel's name of block device dev put in for
 * its %s (the last component of the /sys/dev/block/MAJ:MIN link), names
 * a directory.
 */
static bool dev_dir_exists(dev_t dev, const char *pattern)
{
	char path[PATH_MAX], link[256];	/* block device names are short */
	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u", major(dev), minor(dev));
	ssize_t n = readlink(path, link, sizeof(link) - 1);
	if (n <= 0)
		return false;
	link[n] = '\0';
	const char *name = strrchr(link, '/');
	name = name != NULL ? name + 1 : link;
	if (*name == '\0' || strcmp(name, "..") == 0 || strcmp(name, ".") == 0)
		return false;
	snprintf(path, sizeof(path), pattern, name);
	struct stat st;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool ext4_has_journal(dev_t dev)
{
	return dev_dir_exists(dev, "/proc/fs/jbd2/%s-8");
}

/* Whether the ext4 driver (not ext2's) runs the file system on dev: it lists it in /sys/fs/ext4. */
static bool ext4_driver_runs(dev_t dev)
{
	return dev_dir_exists(dev, "/sys/fs/ext4/%s");
}

/*
 * Whether dir lies where the file's fsync after a rename into it commits
 * the rename (*covered), and where a syncfs after the renames does
 * (*syncfs_covered).
 */
static void dir_covered(const char *dir, bool *covered, bool *syncfs_covered)
{
	struct statfs sfs;
	struct stat st;
	*covered = *syncfs_covered = false;
	if (statfs(dir, &sfs) != 0 || stat(dir, &st) != 0)
		return;
	long type = (long)sfs.f_type;
	bool ext4 = type == FS_EXT4_MAGIC && ext4_driver_runs(st.st_dev);
	*covered = qfile_rename_covered(type, ext4);
	*syncfs_covered = qfile_syncfs_covered(type, ext4 && ext4_has_journal(st.st_dev));
}

bool qfile_renames_atomic(const char *dir)
{
	bool covered, syncfs_covered, always;
	int forced;

	pthread_mutex_lock(&sync_lock);
	forced = forced_covered >= 0 ? forced_syncfs_covered : -1;	/* as qdirsync_get */
	always = dir_sync_always;
	pthread_mutex_unlock(&sync_lock);
	if (forced >= 0)
		return forced > 0;
	if (always)
		return false;
	dir_covered(dir, &covered, &syncfs_covered);
	return syncfs_covered;
}

/* The sync state of dir (lock held). */
static struct qdirsync *qdirsync_get(const char *dir)
{
	struct qdirsync *d;
	for (d = qdirsyncs; d != NULL; d = d->next)
		if (strcmp(d->dir, dir) == 0)
			return d;
	d = xcalloc(1, sizeof(*d));
	d->dir = xstrdup(dir);
	d->fs_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	d->per_file = d->fs_fd < 0;	/* unreadable (maildrop/): fsync each file */
	if (forced_covered >= 0) {
		d->covered = forced_covered;
		d->syncfs_covered = forced_syncfs_covered;
	} else if (!dir_sync_always) {
		dir_covered(dir, &d->covered, &d->syncfs_covered);
	}
	pthread_cond_init(&d->batch.cond, NULL);
	pthread_cond_init(&d->dirs.cond, NULL);
	d->next = qdirsyncs;
	__atomic_store_n(&qdirsyncs, d, __ATOMIC_RELEASE);	/* read without the lock: qdirsync_known */
	return d;
}

/* Whether dir has its sync state already; without the lock (entries are never freed). */
static bool qdirsync_known(const char *dir)
{
	for (struct qdirsync *d = __atomic_load_n(&qdirsyncs, __ATOMIC_ACQUIRE); d != NULL; d = d->next)
		if (strcmp(d->dir, dir) == 0)
			return true;
	return false;
}

/* What a leader runs, without the lock; 0 or -1 with errno. */
typedef int sync_fn(struct qdirsync *d, int fd, unsigned batch);

/* Wait for (or lead) the sync that covers an update just done. Lock held. */
static int group_sync(struct qdirsync *d, struct syncgroup *g, sync_fn *run, int fd)
{
	unsigned long long need = g->started + 1;
	g->waiting++;
	while (g->finished < need) {
		if (g->started == g->finished) {
			/* None running, so this is sync number need: lead it. */
			unsigned long long gen = ++g->started;
			unsigned batch = g->waiting;
			g->waiting = 0;
			pthread_mutex_unlock(&sync_lock);
			int rc = run(d, fd, batch);
			int err = errno;
			pthread_mutex_lock(&sync_lock);
			g->finished = gen;
			if (rc != 0) {
				if (gen > g->failed_gen)
					g->failed_gen = gen;
				g->failed_errno = err;
			}
			pthread_cond_broadcast(&g->cond);
		} else {
			pthread_cond_wait(&g->cond, &sync_lock);
		}
	}
	if (g->failed_gen >= need) {
		errno = g->failed_errno;
		return -1;
	}
	return 0;
}

static int sync_dir(struct qdirsync *d, int fd, unsigned batch)
{
	(void)batch;
	void (*hook)(void) = __atomic_load_n(&dirsync_hook, __ATOMIC_ACQUIRE);
	if (hook != NULL)
		hook();
	/*
	 * The directory's descriptor kept for syncfs serves its fsync too:
	 * no open and close per commit. It names the same inode for the
	 * life of the process (queue directories are never replaced under a
	 * running daemon), and an error of its write-back is reported to the
	 * first fsync after it, as to a descriptor opened just before.
	 */
	if (d->fs_fd >= 0)
		return q_fsync(d->fs_fd, false);
	return fsync_dir_or_fs(d->dir, fd);
}

/* Shared sync: the files renamed so far (one syncfs, or fd alone), then the directory. */
static int sync_batch(struct qdirsync *d, int fd, unsigned batch)
{
	void (*hook)(unsigned) = __atomic_load_n(&filesync_hook, __ATOMIC_ACQUIRE);
	if (hook != NULL)
		hook(batch);
	if (batch <= 1) {
		if (q_fsync(fd, false) != 0)
			return -1;
	} else if (fault_hit(QF_CALL_SYNCFS) || syncfs(d->fs_fd) != 0) {
		int err = errno;
		pthread_mutex_lock(&sync_lock);
		d->per_file = true;
		/* The next generation's files may have been written back, and lost, too. */
		d->batch.failed_gen = d->batch.started + 1;
		d->batch.failed_errno = err;
		pthread_mutex_unlock(&sync_lock);
		errno = err;
		return -1;
	}
	/*
	 * The file's fsync after its rename commits the rename where covered;
	 * a syncfs commits the journal, which holds the renames.
	 */
	return (batch <= 1 ? d->covered : d->syncfs_covered) ? 0 : sync_dir(d, fd, batch);
}

/*
 * Make the queue file fd, written in dir, durable under its final name.
 * rename: renames it (0 or -1 with errno), before the shared sync or
 * after an fsync of its own. -1 with errno and what failed in *what.
 */
static int durable_commit(const char *dir, int fd, bool own_fsync, int (*rename_fn)(void *),
			  void *arg, const char **what)
{
	pthread_mutex_lock(&sync_lock);
	struct qdirsync *d = qdirsync_get(dir);
	bool shared = shared_sync && !d->per_file && !own_fsync;
	bool covered = d->covered && !shared;	/* set once, at the directory's first commit */
	pthread_mutex_unlock(&sync_lock);

	/*
	 * Covered (see dir_covered): rename, then one fsync of the file,
	 * which makes both durable. Never fdatasync: only fsync waits for
	 * the inode's last change, the rename's. Like the shared sync, the
	 * name exists before the data is on disk: a crash in between can
	 * leave an incomplete file under it, never acknowledged (it goes to
	 * corrupt/ when read); a failed fsync takes the name back.
	 * Journal-less ext4 on kernels 5.5 to 6.4 (Debian 12's 6.1): the
	 * fsync returns early, with no ext4_sync_parent and no cache flush,
	 * when the inode was written back in between (another process's
	 * syncfs, the flusher), so the entry may not be on disk. The
	 * portable order had the same hole there (the directory's fsync
	 * skips its flush alike); journal-less ext4 is not mkfs's default,
	 * and a journal is recommended for the queue (doc/internals.md,
	 * "Durability of the commit").
	 */
	if (!shared && !covered) {
		*what = "cannot fsync queue file";
		if (q_fsync(fd, false) != 0)
			return -1;
	}
	*what = "cannot rename queue file to";
	if (rename_fn(arg) != 0)
		return -1;
	void (*hook)(void) = __atomic_load_n(&rename_hook, __ATOMIC_ACQUIRE);
	if (hook != NULL)
		hook();
	if (covered) {
		*what = "cannot fsync queue file";
		return q_fsync(fd, false);
	}
	*what = shared ? "cannot fsync queue file" : "cannot fsync queue directory";
	pthread_mutex_lock(&sync_lock);
	if (shared && d->per_file) {
		/*
		 * A syncfs failed since this commit chose shared sync. Its
		 * generation and the next are failed, but this commit may come
		 * later (its rename took long) and would then be covered by a
		 * syncfs that cannot report the error the failed one consumed,
		 * although this file's pages may be what was lost. Decided here,
		 * under the lock that group_sync() computes the generation under:
		 * fsync the file itself, which reports its own write-back errors.
		 */
		pthread_mutex_unlock(&sync_lock);
		shared = false;
		*what = "cannot fsync queue file";
		if (q_fsync(fd, false) != 0)
			return -1;
		if (d->covered)
			return 0;	/* after the rename: it committed the rename too */
		*what = "cannot fsync queue directory";
		pthread_mutex_lock(&sync_lock);
	}
	int rc = shared ? group_sync(d, &d->batch, sync_batch, fd) : group_sync(d, &d->dirs, sync_dir, fd);
	pthread_mutex_unlock(&sync_lock);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Validation helpers.                                                 */

bool qfile_id_valid(const char *id)
{
	size_t n = 0;
	for (const char *p = id; *p; p++, n++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'A' && *p <= 'F')))
			return false;
	return n >= 14 && n < QF_ID_MAX;
}

bool qfile_id_inode(const char *id, unsigned long long *ino)
{
	const char *hex;
	char *end;

	if (!qfile_id_valid(id))
		return false;
	hex = id + 13;	/* "%08llX%05lX": 8 digits until 2106, then 5; valid: at least 14 */
	if (strlen(hex) > 16)
		return false;
	*ino = strtoull(hex, &end, 16);
	return *end == '\0';
}

bool qfile_errno_unreadable(int e)
{
	return e == EIO || e == EUCLEAN || e == EBADMSG;
}

bool qfile_id_time(const char *id, time_t *t)
{
	unsigned long long secs = 0;

	if (!qfile_id_valid(id))
		return false;
	for (int i = 0; i < 8; i++)	/* as qfile_id_inode: 8 digits until 2106 */
		secs = secs * 16 + (unsigned long long)(id[i] <= '9' ? id[i] - '0' : id[i] - 'A' + 10);
	*t = (time_t)secs;
	return true;
}

bool qfile_field_valid(const char *s)
{
	size_t n = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++, n++)
		if (*p < ' ' || *p == 0x7f)
			return false;
	return n < QF_RECORD_MAX - 64;
}

static bool attr_name_valid(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
			return false;
	return true;
}

/* ------------------------------------------------------------------ */
/* Writer.                                                             */

/*
 * Content is gathered in memory and written in pieces of about this
 * size: a message up to it (nearly all mail, 100 KiB ones too) is one
 * write(2), with the M record's length filled in before it goes out, so
 * no pwrite(2) either. Larger ones are written as they come.
 */
#define WBUF_FLUSH	(256 * 1024)
#define TAIL_ROOM	(QF_END_LEN + QF_PAD + 16)
/*
 * Writers' buffers are kept for the next writer of the process (up to
 * WBUF_SPARES of them): a fresh buffer for every message cost a page
 * fault per 4 KiB touched and a realloc copy per doubling, and freeing
 * it gave the memory back (brk, a TLB flush on every CPU) only to fault
 * it in again for the next message. A buffer grows only as far as its
 * messages need (at most WBUF_FLUSH, unless an envelope is larger).
 */
#define WBUF_SPARES	16

static struct buf wbuf_spare[WBUF_SPARES];
static size_t wbuf_nspare;
static pthread_mutex_t wbuf_lock = PTHREAD_MUTEX_INITIALIZER;

static void wbuf_take(struct buf *b)
{
	pthread_mutex_lock(&wbuf_lock);
	if (wbuf_nspare > 0 && b->data == NULL)
		*b = wbuf_spare[--wbuf_nspare];
	pthread_mutex_unlock(&wbuf_lock);
	buf_reset(b);
}

static void wbuf_give(struct buf *b)
{
	bool kept = false;
	if (b->data != NULL && b->cap <= WBUF_FLUSH) {
		pthread_mutex_lock(&wbuf_lock);
		if (wbuf_nspare < WBUF_SPARES) {
			wbuf_spare[wbuf_nspare++] = *b;
			kept = true;
		}
		pthread_mutex_unlock(&wbuf_lock);
	}
	if (kept)
		buf_init(b);
	else
		buf_free(b);
}

struct qfile_writer {
	int fd;
	char *dir;
	char *tmp_path;
	char *final_path;
	char id[QF_ID_MAX];
	struct timeval arrival;
	struct buf sender;
	bool sender_set;
	struct buf attrs;	/* "N name=value\n" records */
	struct buf rcpts;	/* "R-x\taddr\torcpt\n" records */
	size_t nrcpt;
	bool content_started;
	off_t length_offset;	/* where M's digits are */
	unsigned long long content_len;
	struct buf out;		/* pending bytes */
	size_t out_hashed;	/* leading bytes of out already in hash */
	struct hash64 hash;	/* every byte written, M's digits as zeros (qfile.h) */
	off_t spare_size;	/* a reused spare's size before: cut to the new end if larger */
	off_t file_size;	/* with the end record and its padding (add_end_record) */
	bool flushed;		/* some were written: the M record is in the file */
	bool failed;
	bool allow_no_rcpt;
	bool own_fsync;		/* commit with an fsync of its own (qfile_set_commit_dir) */
	bool in_place;		/* qfile_create_final: under its final name, truncate on abort */
	bool published;		/* in_place, made readable (0644): pickup may be reading it */
	size_t prefix_len;	/* bytes already in the file before start_content (in_place) */
};

static void set_err(struct buf *err, const char *what, const char *path)
{
	if (err == NULL)
		return;
	buf_reset(err);
	buf_printf(err, "%s %s: %s", what, path, strerror(errno));
}

struct qfile_writer *qfile_create(const char *dir, struct buf *err)
{
	return qfile_create_mode(dir, 0600, err);
}

const char *qfile_writer_temp_path(const struct qfile_writer *w)
{
	return w->tmp_path ? w->tmp_path : "";
}

void qfile_allow_no_rcpt(struct qfile_writer *w)
{
	w->allow_no_rcpt = true;
}

/* The directory part of path ("." for a bare name). */
static char *dir_of(const char *path)
{
	char *dir = xstrdup(path);
	char *slash = strrchr(dir, '/');
	if (slash != NULL) {
		*slash = '\0';
		return dir;
	}
	free(dir);
	return xstrdup(".");
}

/*
 * A spare queue file from the pool, renamed to path: its descriptor, -1
 * when there is none to use (create one instead), or -2 when opening it
 * failed (errno set; the caller fails as for a create). Only a regular
 * file of this user with no other name is used, empty or holding the
 * delivered message whose queue id it had in the pool (qfile_spare_spent):
 * the pool holds nothing else. Anything else is let go. A spare that
 * holds another message is not written over but set aside in corrupt/:
 * after a crash on a file system without a journal (and without the fsck
 * that fixes link counts), the pool's name may be a second name of an
 * acknowledged message, whose taking the crash undid.
 */
static int reuse_spare(const char *path, struct stat *out)
{
	char name[NAME_MAX + 1];
	struct stat st;
	int fd;

	if (qrecycle_take(path, name, sizeof(name)) < 0)
		return -1;
	fd = q_open(path, O_RDWR | O_NOFOLLOW, 0);
	if (fd < 0) {
		int saved = errno;
		unlink(path);
		errno = saved;
		return -2;
	}
	if (fstat(fd, &st) != 0) {
		close(fd);
		return -1;	/* left under its temporary name: never unlink the unknown */
	}
	if (S_ISREG(st.st_mode) && st.st_nlink == 1 && st.st_uid == geteuid() &&
	    (st.st_size == 0 || qfile_spare_spent(fd, name))) {
		*out = st;	/* the caller needs no fstat of its own */
		return fd;
	}
	close(fd);
	if (st.st_size > 0 && st.st_nlink == 1) {
		char *dir = dir_of(path);
		char *aside = xasprintf("%s/../corrupt/spare.%llu", dir, (unsigned long long)st.st_ino);
		if (renameat2(AT_FDCWD, path, AT_FDCWD, aside, RENAME_NOREPLACE) == 0)
			msg_warn("a spare queue file held another message than its own; moved to %s",
				 aside);
		else
			msg_warn("a spare queue file held another message than its own; left as %s "
				 "(move to %s: %m)", path, aside);
		free(aside);
		free(dir);
		return -1;
	}
	unlink(path);
	return -1;
}

/*
 * The process id in temporary names, asked once per process: a forked
 * child asks again (pthread_atfork), so that parent and child never
 * make the same name.
 */
static long cached_pid;

static void pid_forget(void)
{
	__atomic_store_n(&cached_pid, 0, __ATOMIC_RELAXED);
}

static void pid_once_init(void)
{
	pthread_atfork(NULL, NULL, pid_forget);
}

/* dir/name, malloc'ed: appended, not xasprintf (twice a message). */
static char *join_path(const char *dir, const char *name)
{
	struct buf b = BUF_INIT;
	buf_adds(&b, dir);
	buf_addc(&b, '/');
	buf_adds(&b, name);
	return buf_steal(&b);
}

static long my_pid(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, pid_once_init);
	long pid = __atomic_load_n(&cached_pid, __ATOMIC_RELAXED);
	if (pid == 0) {
		pid = (long)getpid();
		__atomic_store_n(&cached_pid, pid, __ATOMIC_RELAXED);
	}
	return pid;
}

struct qfile_writer *qfile_create_mode(const char *dir, mode_t mode, struct buf *err)
{
	static unsigned serial;
	struct stat st;
	bool have_st = false;	/* st is the open file's (a spare's, from reuse_spare) */
	struct qfile_writer *w = xcalloc(1, sizeof(*w));
	w->fd = -1;
	hash64_init(&w->hash);
	w->dir = xstrdup(dir);
	gettimeofday(&w->arrival, NULL);
	/*
	 * Shared sync: the directory's descriptor for syncfs must be open
	 * before this file is written, so that syncfs reports any write-back
	 * error of it (errors are counted from the descriptor's opening).
	 */
	if (__atomic_load_n(&shared_sync, __ATOMIC_ACQUIRE) && !qdirsync_known(dir)) {
		pthread_mutex_lock(&sync_lock);
		if (shared_sync)
			(void)qdirsync_get(dir);
		pthread_mutex_unlock(&sync_lock);
	}

	for (int attempt = 0; attempt < 100; attempt++) {
		free(w->tmp_path);
		/* "%s/.tmp.%ld.%u.%ld": pid, serial, microseconds + attempt, all >= 0 */
		struct buf tmp = BUF_INIT;
		buf_adds(&tmp, dir);
		buf_adds(&tmp, "/.tmp.");
		buf_add_dec(&tmp, (unsigned long long)my_pid(), 0);
		buf_addc(&tmp, '.');
		/* commit threads create files concurrently: the counter is atomic */
		buf_add_dec(&tmp, __atomic_fetch_add(&serial, 1, __ATOMIC_RELAXED), 0);
		buf_addc(&tmp, '.');
		buf_add_dec(&tmp, (unsigned long long)w->arrival.tv_usec + (unsigned long long)attempt, 0);
		w->tmp_path = buf_steal(&tmp);
		/* A failed open fails as a create would: faults mean the same with a pool. */
		if (attempt == 0 && (w->fd = reuse_spare(w->tmp_path, &st)) != -1) {
			if (w->fd == -2) {
				w->fd = -1;
			} else {
				have_st = true;
				w->spare_size = st.st_size;
			}
			break;
		}
		w->fd = q_open(w->tmp_path, O_WRONLY | O_CREAT | O_EXCL, 0600);
		if (w->fd >= 0 || errno != EEXIST)
			break;
	}
	if (w->fd < 0) {
		set_err(err, "cannot create queue file in", dir);
		free(w->tmp_path);
		w->tmp_path = NULL;
		qfile_abort(w);
		return NULL;
	}
	/*
	 * The mode the caller asked for, whatever the umask took away or a
	 * recycled file had; fchmod only when it differs (it seldom does).
	 */
	if ((!have_st && fstat(w->fd, &st) != 0) || ((st.st_mode & 07777) != mode && fchmod(w->fd, mode) != 0)) {
		set_err(err, "cannot stat", w->tmp_path);
		qfile_abort(w);
		return NULL;
	}
	snprintf(w->id, sizeof(w->id), "%08llX%05lX%llX",
		 (unsigned long long)w->arrival.tv_sec, (unsigned long)w->arrival.tv_usec,
		 (unsigned long long)st.st_ino);
	w->final_path = join_path(dir, w->id);
	return w;
}

const char *qfile_writer_id(const struct qfile_writer *w)
{
	return w->id;
}

const char *qfile_writer_path(const struct qfile_writer *w)
{
	return w->final_path;
}

void qfile_set_arrival(struct qfile_writer *w, const struct timeval *tv)
{
	w->arrival = *tv;
}

int qfile_set_sender(struct qfile_writer *w, const char *addr)
{
	if (w->content_started || !qfile_field_valid(addr))
		return -1;
	buf_reset(&w->sender);
	buf_adds(&w->sender, addr);
	w->sender_set = true;
	return 0;
}

int qfile_add_rcpt(struct qfile_writer *w, const char *addr, int notify, const char *orcpt)
{
	if (orcpt == NULL)
		orcpt = "";
	if (w->content_started || *addr == '\0' || !qfile_field_valid(addr) ||
	    !qfile_field_valid(orcpt) || notify < 0 || notify > 15)
		return -1;
	/* "R%c%X\t%s\t%s\n" appended piece by piece: no printf per record. */
	buf_addc(&w->rcpts, 'R');
	buf_addc(&w->rcpts, QF_RCPT_PENDING);
	buf_addc(&w->rcpts, "0123456789ABCDEF"[notify]);
	buf_addc(&w->rcpts, '\t');
	buf_adds(&w->rcpts, addr);
	buf_addc(&w->rcpts, '\t');
	buf_adds(&w->rcpts, orcpt);
	buf_addc(&w->rcpts, '\n');
	w->nrcpt++;
	return 0;
}

int qfile_add_attr(struct qfile_writer *w, const char *name, const char *value)
{
	if (w->content_started || !attr_name_valid(name) || !qfile_field_valid(name) ||
	    !qfile_field_valid(value))
		return -1;
	buf_add(&w->attrs, "N ", 2);	/* "N %s=%s\n" without printf */
	buf_adds(&w->attrs, name);
	buf_addc(&w->attrs, '=');
	buf_adds(&w->attrs, value);
	buf_addc(&w->attrs, '\n');
	return 0;
}

size_t qfile_writer_rcpt_count(const struct qfile_writer *w)
{
	return w->nrcpt;
}

/*
 * The boot this process runs in: /proc/sys/kernel/random/boot_id without
 * its dashes, 32 hex digits; zeros when it cannot be read (a reader then
 * checks every version 2 file it opens). A test may pretend another.
 */
static char boot_hex[33];
static char boot_pretend[33];
static const char boot_unknown[33] = "00000000000000000000000000000000";
static pthread_once_t boot_once = PTHREAD_ONCE_INIT;

static void boot_read(void)
{
	char raw[64];
	size_t n = 0;
	int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
	ssize_t got = fd >= 0 ? read(fd, raw, sizeof(raw) - 1) : -1;

	if (fd >= 0)
		close(fd);
	for (ssize_t i = 0; i < got && n < 32; i++) {
		char c = (char)tolower((unsigned char)raw[i]);
		if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))
			boot_hex[n++] = c;
	}
	if (n != 32)
		n = 0;
	memset(boot_hex + n, '0', 32 - n);
	boot_hex[32] = '\0';
}

static const char *boot_id(void)
{
	if (__atomic_load_n(&boot_pretend[0], __ATOMIC_ACQUIRE) != '\0')
		return boot_pretend;
	pthread_once(&boot_once, boot_read);
	return boot_hex;
}

void qfile_fault_boot_id(const char *hex)
{
	if (hex == NULL || strlen(hex) != 32) {
		__atomic_store_n(&boot_pretend[0], '\0', __ATOMIC_RELEASE);
		return;
	}
	memcpy(boot_pretend + 1, hex + 1, 32);
	__atomic_store_n(&boot_pretend[0], hex[0], __ATOMIC_RELEASE);
}

/*
 * The end record (qfile.h): the pending bytes join the checksum first
 * (M's digits still zeros), then "E <boot> <checksum>\n" and the NULs to
 * the next QF_PAD boundary, which are not part of it.
 */
static void add_end_record(struct qfile_writer *w)
{
	static const char hex[] = "0123456789abcdef";
	char rec[QF_END_LEN];

	hash64_add(&w->hash, w->out.data + w->out_hashed, w->out.len - w->out_hashed);
	uint64_t sum = hash64_value(&w->hash);
	rec[0] = 'E';
	rec[1] = ' ';
	memcpy(rec + 2, boot_id(), 32);
	rec[34] = ' ';
	for (int i = 0; i < 16; i++)
		rec[35 + i] = hex[(sum >> (60 - 4 * i)) & 15];
	rec[51] = '\n';
	buf_add(&w->out, rec, sizeof(rec));
	unsigned long long end = w->hash.total + QF_END_LEN;
	size_t pad = (size_t)((QF_PAD - end % QF_PAD) % QF_PAD);
	buf_reserve(&w->out, pad);
	memset(w->out.data + w->out.len, 0, pad);
	w->out.len += pad;
	w->out.data[w->out.len] = '\0';
	w->out_hashed = w->out.len;
	w->file_size = (off_t)(end + pad);
}

static int flush_out(struct qfile_writer *w, struct buf *err)
{
	if (w->out.len == 0)
		return 0;
	hash64_add(&w->hash, w->out.data + w->out_hashed, w->out.len - w->out_hashed);
	w->out_hashed = 0;
	if (write_all(w->fd, w->out.data, w->out.len) != 0) {
		set_err(err, "cannot write queue file", w->tmp_path);
		w->failed = true;
		return -1;
	}
	buf_reset(&w->out);
	w->flushed = true;
	return 0;
}

static void start_content(struct qfile_writer *w)
{
	wbuf_take(&w->out);
	if (w->prefix_len == 0) {
		buf_adds(&w->out, QF_MAGIC);
		buf_addc(&w->out, '\n');
	}
	/* "T %lld.%06ld\nI %s\nS %s\n", appended without printf (once a message). */
	if (w->arrival.tv_sec >= 0 && w->arrival.tv_usec >= 0) {
		buf_add(&w->out, "T ", 2);
		buf_add_dec(&w->out, (unsigned long long)w->arrival.tv_sec, 0);
		buf_addc(&w->out, '.');
		buf_add_dec(&w->out, (unsigned long long)w->arrival.tv_usec, 6);
	} else {
		buf_printf(&w->out, "T %lld.%06ld", (long long)w->arrival.tv_sec,
			   (long)w->arrival.tv_usec);
	}
	buf_add(&w->out, "\nI ", 3);
	buf_adds(&w->out, w->id);
	buf_add(&w->out, "\nS ", 3);
	buf_adds(&w->out, buf_str(&w->sender));
	buf_addc(&w->out, '\n');
	buf_add(&w->out, w->attrs.data, w->attrs.len);
	buf_add(&w->out, w->rcpts.data, w->rcpts.len);
	w->length_offset = (off_t)(w->prefix_len + w->out.len) + 2;
	buf_adds(&w->out, "M 00000000000000000000\n");	/* "M %020llu\n" of 0, filled in at the end */
	w->content_started = true;
	buf_free(&w->attrs);
	buf_free(&w->rcpts);
}

int qfile_write(struct qfile_writer *w, const void *data, size_t len, struct buf *err)
{
	if (w->failed)
		return -1;
	if (!w->content_started)
		start_content(w);
	w->content_len += len;
	/* Room kept for the end record, its padding and buf's NUL: the buffer never outgrows WBUF_FLUSH. */
	if (w->out.len + len + TAIL_ROOM > WBUF_FLUSH) {
		if (flush_out(w, err) != 0)
			return -1;
		if (len + TAIL_ROOM > WBUF_FLUSH) {
			/* A large piece goes out from the caller's memory, not copied. */
			hash64_add(&w->hash, data, len);
			if (write_all(w->fd, data, len) != 0) {
				set_err(err, "cannot write queue file", w->tmp_path);
				w->failed = true;
				return -1;
			}
			return 0;
		}
	}
	buf_add(&w->out, data, len);
	return 0;
}

/*
 * The checksum of what copy_file_range copied in the kernel: the same
 * bytes read again from the source (its page cache, just read). 0, or
 * -1 with errno.
 */
static int hash_from(struct qfile_writer *w, int fd, off_t off, size_t len)
{
	char chunk[16384];
	while (len > 0) {
		ssize_t n = pread(fd, chunk, len < sizeof(chunk) ? len : sizeof(chunk), off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			return -1;
		}
		hash64_add(&w->hash, chunk, (size_t)n);
		off += n;
		len -= (size_t)n;
	}
	return 0;
}

/* The rest of the content from fd[off, off + len): in the kernel where it can be. */
int qfile_write_fd(struct qfile_writer *w, int fd, off_t off, unsigned long long len,
		   struct buf *err)
{
	char chunk[65536];

	if (w->failed)
		return -1;
	if (!w->content_started)
		start_content(w);
	if (flush_out(w, err) != 0)
		return -1;
	bool kernel = true;
	while (len > 0) {
		size_t want = len > (1u << 30) ? (1u << 30) : (size_t)len;
		ssize_t n;
		if (fault_hit(QF_CALL_WRITE)) {
			n = -1;
		} else if (kernel) {
			off_t from = off;
			n = copy_file_range(fd, &off, w->fd, NULL, want, 0);
			if (n < 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL ||
				      errno == EOPNOTSUPP)) {
				kernel = false;	/* old kernel or file system: copy through memory */
				continue;
			}
			if (n > 0 && hash_from(w, fd, from, (size_t)n) != 0)
				n = -1;
		} else {
			n = pread(fd, chunk, want < sizeof(chunk) ? want : sizeof(chunk), off);
			if (n > 0)
				hash64_add(&w->hash, chunk, (size_t)n);
			if (n > 0 && write_all(w->fd, chunk, (size_t)n) != 0)
				n = -1;
			else if (n > 0)
				off += n;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;	/* the source is shorter than said */
			set_err(err, "cannot write queue file", w->tmp_path);
			w->failed = true;
			return -1;
		}
		len -= (unsigned long long)n;
		w->content_len += (unsigned long long)n;
	}
	return 0;
}

void qfile_set_commit_dir(struct qfile_writer *w, const char *dir)
{
	free(w->final_path);
	free(w->dir);
	w->dir = xstrdup(dir);
	w->final_path = join_path(dir, w->id);
	/*
	 * The shared syncfs counts write-back errors from the opening of the
	 * directory's descriptor, which for this directory may come after
	 * the file was written: an fsync of its own reports them all.
	 */
	w->own_fsync = true;
}

unsigned long long qfile_content_written(const struct qfile_writer *w)
{
	return w->content_len;
}

/* Rename the temporary file to its queue id (never replacing a file). */
static int rename_into_place(void *arg)
{
	struct qfile_writer *w = arg;
	if (q_rename(w->tmp_path, w->final_path, true) != 0)
		return -1;
	free(w->tmp_path);
	w->tmp_path = NULL;
	return 0;
}

int qfile_commit(struct qfile_writer *w, char *id, size_t idlen, struct buf *err)
{
	char digits[21];

	if (w->failed)
		goto tempfail;
	if (w->nrcpt == 0 && !w->allow_no_rcpt) {
		errno = EINVAL;
		set_err(err, "no recipients for queue file", w->tmp_path);
		goto tempfail;
	}
	if (!w->content_started)
		start_content(w);
	add_end_record(w);
	snprintf(digits, sizeof(digits), "%020llu", w->content_len);
	if (!w->flushed) {
		/* The whole file is still in memory: fill in M's length and write it once. */
		memcpy(w->out.data + w->length_offset, digits, 20);
		if (flush_out(w, err) != 0)
			goto tempfail;
	} else if (flush_out(w, err) != 0) {
		goto tempfail;
	} else if (q_pwrite(w->fd, digits, 20, w->length_offset) != 20) {
		if (errno == 0)
			errno = EIO;
		set_err(err, "cannot write queue file", w->tmp_path);
		goto tempfail;
	}
	/* A spare that held a longer message: its old end goes (its blocks are freed). */
	if (w->spare_size > w->file_size && ftruncate(w->fd, w->file_size) != 0) {
		set_err(err, "cannot truncate queue file", w->tmp_path);
		goto tempfail;
	}
	const char *what;
	if (durable_commit(w->dir, w->fd, w->own_fsync, rename_into_place, w, &what) != 0) {
		/*
		 * Not durable, no 250: take the name back, so that the client's
		 * retry does not make a second copy. (Should the queue manager
		 * already have taken the file, the unlink fails and the message
		 * may be delivered twice, never lost.)
		 */
		set_err(err, what, w->tmp_path != NULL ? w->tmp_path : w->final_path);
		if (w->tmp_path == NULL)
			unlink(w->final_path);
		goto tempfail;
	}
	if (close(w->fd) != 0) {
		w->fd = -1;
		set_err(err, "cannot close queue file", w->final_path);
		unlink(w->final_path);
		goto tempfail;
	}
	w->fd = -1;
	if (id != NULL && idlen > 0)
		strlcpy(id, w->id, idlen);
	qfile_abort(w);		/* frees; nothing left to unlink */
	return 0;

tempfail:
	qfile_abort(w);
	return -1;
}

/*
 * Whether a new file's own fsync also persists its directory entry (the
 * argument with the kernel functions is in doc/internals.md, "Submission"):
 * ext4 run by the ext4 driver, with a journal (the inode's fsync commits
 * the transaction that created the entry) or without (ext4_sync_parent
 * for an inode in EXT4_STATE_NEWENTRY), XFS (the log forced up to the
 * inode's last change, which includes the create) and btrfs (a new
 * inode is logged with its new name). Anything else: syncfs as well.
 */
#define FS_BTRFS_MAGIC	0x9123683EL	/* BTRFS_SUPER_MAGIC */

bool qfile_create_covered(long fstype, bool ext4_driver)
{
	if (fstype == FS_EXT4_MAGIC)
		return ext4_driver;
	return fstype == FS_XFS_MAGIC || fstype == FS_BTRFS_MAGIC;
}

/*
 * Whether the ext4 driver runs the file fd is open on, asked of the file:
 * EXT4_IOC_GETSTATE (Linux 5.3) exists in ext4's ioctl only, without a
 * permission check; the ext2 driver answers ENOTTY. false: not known
 * (the ext2 driver, an older ext4, an ioctl a security module refused).
 */
#define EXT4_IOC_GETSTATE_	_IOW('f', 41, uint32_t)	/* linux/ext4.h's EXT4_IOC_GETSTATE */

bool qfile_ext4_driver_ioctl(int fd)
{
	uint32_t state;
	return ioctl(fd, EXT4_IOC_GETSTATE_, &state) == 0;
}

/*
 * dev: the file's st_dev (the caller's fstat). On ext4 the ioctl above
 * (one system call) says yes; where it does not, /sys/fs/ext4 decides
 * (two look-ups in sysfs, some 30 us here).
 */
static bool fd_create_covered(int fd, dev_t dev)
{
	struct statfs sfs;
	if (fstatfs(fd, &sfs) != 0)
		return false;
	long type = (long)sfs.f_type;
	bool ext4_driver = false;
	if (type == FS_EXT4_MAGIC)
		ext4_driver = qfile_ext4_driver_ioctl(fd) || ext4_driver_runs(dev);
	return qfile_create_covered(type, ext4_driver);
}

int qfile_writer_fd(const struct qfile_writer *w)
{
	return w->fd;
}

struct qfile_writer *qfile_create_final(const char *dir, struct buf *err)
{
	struct qfile_writer *w = xcalloc(1, sizeof(*w));
	w->fd = -1;
	hash64_init(&w->hash);
	w->in_place = true;
	w->dir = xstrdup(dir);
	gettimeofday(&w->arrival, NULL);
	/* Unique: one process of this pid at a time; O_EXCL catches the rest. */
	for (unsigned attempt = 0; attempt < 100; attempt++) {
		snprintf(w->id, sizeof(w->id), "%08llX%05lX%lX", (unsigned long long)w->arrival.tv_sec,
			 (unsigned long)w->arrival.tv_usec + attempt, (unsigned long)getpid());
		free(w->final_path);
		w->final_path = join_path(dir, w->id);
		w->fd = q_open(w->final_path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0200);
		if (w->fd >= 0 || errno != EEXIST)
			break;
	}
	if (w->fd < 0) {
		set_err(err, "cannot create queue file in", dir);
		qfile_abort(w);
		return NULL;
	}
	/* The first record at once: a 0200 file with nothing in it is a failed writer's. */
	buf_printf(&w->out, "%s\n", QF_MAGIC);
	w->prefix_len = w->out.len;
	if (flush_out(w, err) != 0) {
		/* Its writer may still unlink it here (the privilege that made it is not gone yet). */
		set_err(err, "cannot write queue file", w->final_path);
		unlink(w->final_path);
		w->in_place = false;
		qfile_abort(w);
		return NULL;
	}
	return w;
}

int qfile_commit_final(struct qfile_writer *w, mode_t mode, char *id, size_t idlen, struct buf *err)
{
	char digits[21];
	struct stat st;

	if (w->failed)
		goto tempfail;
	if (w->nrcpt == 0 && !w->allow_no_rcpt) {
		errno = EINVAL;
		set_err(err, "no recipients for queue file", w->final_path);
		goto tempfail;
	}
	if (!w->content_started)
		start_content(w);
	add_end_record(w);
	if (flush_out(w, err) != 0)
		goto tempfail;
	snprintf(digits, sizeof(digits), "%020llu", w->content_len);
	if (q_pwrite(w->fd, digits, 20, w->length_offset) != 20) {
		if (errno == 0)
			errno = EIO;
		set_err(err, "cannot write queue file", w->final_path);
		goto tempfail;
	}
	/*
	 * Removed under us while still 0200 (pickup's clean-up of a writer it
	 * took for dead): not queued. Asked before the file is made readable:
	 * from then on pickup may take it, and a missing name means taken.
	 */
	if (fstat(w->fd, &st) != 0) {
		set_err(err, "cannot stat queue file", w->final_path);
		goto tempfail;
	}
	if (st.st_nlink == 0) {
		errno = ENOENT;
		set_err(err, "queue file removed while being written:", w->final_path);
		goto tempfail;
	}
	/*
	 * Complete: readable to pickup, then durable with the mode in one
	 * fsync. From the fchmod on, pickup may be reading the file, so it is
	 * never emptied again (qfile_abort): a failure after it gives the
	 * file back its 0200 if pickup has not taken it yet, whole, and the
	 * caller's retry may make a second copy, never a truncated one.
	 */
	w->published = true;
	if (fchmod(w->fd, mode) != 0) {
		w->published = false;
		set_err(err, "cannot change the mode of queue file", w->final_path);
		goto tempfail;
	}
	void (*hook)(void) = __atomic_load_n(&rename_hook, __ATOMIC_ACQUIRE);
	if (hook != NULL)
		hook();
	if (q_fsync(w->fd, false) != 0) {
		set_err(err, "cannot fsync queue file", w->final_path);
		goto published_fail;
	}
	pthread_mutex_lock(&sync_lock);
	bool always = dir_sync_always;	/* queue_directory_sync = always: the syncfs everywhere */
	pthread_mutex_unlock(&sync_lock);
	if ((always || !fd_create_covered(w->fd, st.st_dev)) && (fault_hit(QF_CALL_SYNCFS) || syncfs(w->fd) != 0)) {
		set_err(err, "cannot sync the file system of queue file", w->final_path);
		goto published_fail;
	}
	if (close(w->fd) != 0) {
		w->fd = -1;
		set_err(err, "cannot close queue file", w->final_path);
		goto tempfail;
	}
	w->fd = -1;
	if (id != NULL && idlen > 0)
		strlcpy(id, w->id, idlen);
	qfile_abort(w);
	return 0;

published_fail:
	/*
	 * Taken by pickup already (its name gone: pickup unlinks a readable
	 * file only once its own copy is committed in incoming/, or refused
	 * with a report to the sender): queued, whatever this sync said.
	 */
	if (fstat(w->fd, &st) == 0 && st.st_nlink == 0) {
		buf_reset(err);
		if (id != NULL && idlen > 0)
			strlcpy(id, w->id, idlen);
		qfile_abort(w);
		return 0;
	}
	(void)fchmod(w->fd, 0200);	/* not to be taken now; whole, for a reader that has it open */
tempfail:
	qfile_abort(w);
	return -1;
}

void qfile_abort(struct qfile_writer *w)
{
	if (w == NULL)
		return;
	int saved = errno;
	if (w->in_place && !w->published && w->fd >= 0) {
		/* Nothing of it is to be delivered; its writer may not unlink it (pickup does). */
		if (fchmod(w->fd, 0200) != 0 || ftruncate(w->fd, 0) != 0)
			msg_warn("cannot empty unfinished queue file %s: %m", w->final_path);
	}
	if (w->fd >= 0)
		close(w->fd);
	if (w->tmp_path != NULL)
		unlink(w->tmp_path);
	free(w->tmp_path);
	free(w->final_path);
	free(w->dir);
	buf_free(&w->sender);
	buf_free(&w->attrs);
	buf_free(&w->rcpts);
	wbuf_give(&w->out);
	free(w);
	errno = saved;
}

int qfile_move_nosync(const char *path, const char *todir, struct buf *err)
{
	const char *base = strrchr(path, '/');
	char *to = xasprintf("%s/%s", todir, base ? base + 1 : path);
	int rc = q_rename(path, to, false);
	if (rc != 0)
		set_err(err, "cannot move queue file", path);
	free(to);
	return rc;
}

int qfile_sync_dir(const char *dir, struct buf *err)
{
	if (fsync_dir(dir) != 0) {
		set_err(err, "cannot fsync queue directory", dir);
		return -1;
	}
	return 0;
}

int qfile_sync_dir_fd(int fd, const char *dir, struct buf *err)
{
	if (q_fsync(fd, false) != 0) {
		set_err(err, "cannot fsync queue directory", dir);
		return -1;
	}
	return 0;
}

int qfile_move(const char *path, const char *todir, struct buf *err)
{
	char *fromdir = dir_of(path);
	int rc = -1;
	if (qfile_move_nosync(path, todir, err) == 0 && qfile_sync_dir(todir, err) == 0
	    && qfile_sync_dir(fromdir, err) == 0)
		rc = 0;
	free(fromdir);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Reader.                                                             */

struct qattr {
	char *name;
	char *value;
};

struct qfile {
	int fd;			/* -1 when parsed from a buffer */
	const char *mem;	/* buffer contents (not owned) */
	/*
	 * The whole file as qfile_open read it, when its first read took all
	 * of it (most mail: up to 16 KiB): the content is then copied from
	 * here, not read again. The content never changes once the file is
	 * committed (only the envelope's status bytes do), so the copy stays
	 * true. NULL otherwise.
	 */
	char *whole;
	const char *borrowed;	/* the same in the caller's buffer (qfile_open_whole) */
	char *path;
	char id[QF_ID_MAX];
	struct timeval arrival;
	char *sender;
	struct qattr *attrs;
	size_t nattr;
	struct qfile_rcpt *rcpts;
	size_t nrcpt;
	off_t content_off;
	unsigned long long content_len;
	unsigned long long read_pos;	/* within the content */
	int version;			/* of the format: 1 or 2 (QF_MAGIC_V1, QF_MAGIC) */
	unsigned long long end_off;	/* where the end record starts */
	char boot[33];			/* version 2: the boot it was written in */
	bool checked;			/* its checksum was checked at the open */
	uint64_t sum;			/* version 2: its checksum */
};

static void corrupt(struct buf *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void corrupt(struct buf *err, const char *fmt, ...)
{
	if (err == NULL)
		return;
	va_list ap;
	buf_reset(err);
	va_start(ap, fmt);
	buf_vprintf(err, fmt, ap);
	va_end(ap);
}

/* Parse an unsigned decimal of exactly the given text; false when not. */
static bool parse_ull(const char *s, size_t len, unsigned long long max, unsigned long long *out)
{
	unsigned long long v = 0;
	if (len == 0 || len > 20)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, (unsigned)(s[i] - '0'), &v))
			return false;
	}
	if (v > max)
		return false;
	*out = v;
	return true;
}

static bool text_valid(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < ' ' || s[i] == 0x7f)
			return false;
	return true;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static bool status_valid(char c)
{
	return c == QF_RCPT_PENDING || c == QF_RCPT_DELIVERED || c == QF_RCPT_BOUNCED ||
	       c == QF_RCPT_EXPANDED;
}

/*
 * Parse the envelope in env[0..len) (which starts at file offset 0 and
 * may extend into the content). total is the file size. Fills q.
 */
enum { ST_MAGIC, ST_T, ST_I, ST_S, ST_NR, ST_R };

static int parse_envelope(struct qfile *q, const char *env, size_t len, unsigned long long total,
			  struct buf *err)
{
	size_t pos = 0;
	int state = ST_MAGIC;

	for (;;) {
		const char *line = env + pos;
		const char *nl = memchr(line, '\n', len - pos);
		if (nl == NULL) {
			corrupt(err, "truncated envelope (no M record)");
			return QF_CORRUPT;
		}
		size_t n = (size_t)(nl - line);
		size_t next = pos + n + 1;
		if (n >= QF_RECORD_MAX) {
			corrupt(err, "envelope record too long at offset %zu", pos);
			return QF_CORRUPT;
		}
		if (state == ST_MAGIC) {
			if (n == strlen(QF_MAGIC) && memcmp(line, QF_MAGIC, n) == 0) {
				q->version = 2;
			} else if (n == strlen(QF_MAGIC_V1) && memcmp(line, QF_MAGIC_V1, n) == 0) {
				q->version = 1;
			} else {
				corrupt(err, "not a queue file (bad magic)");
				return QF_CORRUPT;
			}
			state = ST_T;
		} else if (n < 2) {
			corrupt(err, "short record at offset %zu", pos);
			return QF_CORRUPT;
		} else if (state == ST_T) {
			const char *dot = memchr(line, '.', n);
			unsigned long long secs, usecs;
			if (line[0] != 'T' || line[1] != ' ' || dot == NULL ||
			    !parse_ull(line + 2, (size_t)(dot - line - 2), (unsigned long long)LLONG_MAX, &secs) ||
			    (size_t)(line + n - dot - 1) != 6 ||
			    !parse_ull(dot + 1, 6, 999999, &usecs)) {
				corrupt(err, "bad or missing arrival time record");
				return QF_CORRUPT;
			}
			q->arrival.tv_sec = (time_t)secs;
			q->arrival.tv_usec = (suseconds_t)usecs;
			state = ST_I;
		} else if (state == ST_I) {
			if (line[0] != 'I' || line[1] != ' ' || n - 2 >= QF_ID_MAX) {
				corrupt(err, "bad or missing queue id record");
				return QF_CORRUPT;
			}
			memcpy(q->id, line + 2, n - 2);
			q->id[n - 2] = '\0';
			if (!qfile_id_valid(q->id)) {
				corrupt(err, "bad queue id");
				return QF_CORRUPT;
			}
			state = ST_S;
		} else if (state == ST_S) {
			if (line[0] != 'S' || line[1] != ' ' || !text_valid(line + 2, n - 2)) {
				corrupt(err, "bad or missing sender record");
				return QF_CORRUPT;
			}
			q->sender = xstrndup(line + 2, n - 2);
			state = ST_NR;
		} else if (line[0] == 'N' && state == ST_NR) {
			const char *eq = memchr(line, '=', n);
			if (line[1] != ' ' || eq == NULL || !text_valid(line + 2, n - 2)) {
				corrupt(err, "bad attribute record at offset %zu", pos);
				return QF_CORRUPT;
			}
			char *name = xstrndup(line + 2, (size_t)(eq - line - 2));
			if (!attr_name_valid(name)) {
				free(name);
				corrupt(err, "bad attribute name at offset %zu", pos);
				return QF_CORRUPT;
			}
			q->attrs = xreallocarray(q->attrs, q->nattr + 1, sizeof(*q->attrs));
			q->attrs[q->nattr].name = name;
			q->attrs[q->nattr].value = xstrndup(eq + 1, (size_t)(line + n - eq - 1));
			q->nattr++;
		} else if (line[0] == 'R') {
			/* R<st><nf>\t<addr>\t<orcpt> */
			const char *tab1 = n > 3 ? memchr(line + 3, '\t', n - 3) : NULL;
			const char *tab2 = tab1 ? memchr(tab1 + 1, '\t', (size_t)(line + n - tab1 - 1)) : NULL;
			if (n < 5 || !status_valid(line[1]) || hexval(line[2]) < 0 || line[3] != '\t' ||
			    tab2 == NULL || tab2 == tab1 + 1 ||
			    !text_valid(tab1 + 1, (size_t)(tab2 - tab1 - 1)) ||
			    !text_valid(tab2 + 1, (size_t)(line + n - tab2 - 1))) {
				corrupt(err, "bad recipient record at offset %zu", pos);
				return QF_CORRUPT;
			}
			q->rcpts = xreallocarray(q->rcpts, q->nrcpt + 1, sizeof(*q->rcpts));
			struct qfile_rcpt *r = &q->rcpts[q->nrcpt++];
			r->address = xstrndup(tab1 + 1, (size_t)(tab2 - tab1 - 1));
			r->orcpt = xstrndup(tab2 + 1, (size_t)(line + n - tab2 - 1));
			r->notify = hexval(line[2]);
			r->status = line[1];
			r->status_offset = (off_t)(pos + 1);
			state = ST_R;
		} else if (line[0] == 'M') {
			unsigned long long clen;
			if (n != 22 || line[1] != ' ' || !parse_ull(line + 2, 20, ULLONG_MAX, &clen)) {
				corrupt(err, "bad content length record");
				return QF_CORRUPT;
			}
			q->content_off = (off_t)next;
			q->content_len = clen;
			unsigned long long want = 0;
			bool over = __builtin_add_overflow((unsigned long long)next, clen, &q->end_off);
			if (q->version == 1) {
				over = over || __builtin_add_overflow(q->end_off, 2ULL, &want);
			} else {
				/* The end record, then NULs up to the next QF_PAD boundary. */
				over = over || __builtin_add_overflow(q->end_off, QF_END_LEN + QF_PAD - 1, &want);
				want -= want % QF_PAD;
			}
			if (over || want != total) {
				corrupt(err, "truncated or oversized file (size %llu, expected %llu)",
					total, want);
				return QF_CORRUPT;
			}
			return QF_OK;
		} else {
			corrupt(err, "unexpected record '%c' at offset %zu", isprint((unsigned char)line[0]) ? line[0] : '?', pos);
			return QF_CORRUPT;
		}
		pos = next;
	}
}

static bool lower_hex(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
			return false;
	return true;
}

/*
 * The end record and what follows it (the file's bytes from q->end_off
 * to its end, n of them: parse_envelope checked the count): "E\n" in
 * version 1; in version 2 "E <boot> <checksum>\n" and NULs only.
 */
static int check_end(struct qfile *q, const char *p, size_t n, struct buf *err)
{
	if (q->version == 1) {
		if (n == 2 && memcmp(p, "E\n", 2) == 0)
			return QF_OK;
	} else if (n >= QF_END_LEN && p[0] == 'E' && p[1] == ' ' && lower_hex(p + 2, 32) &&
		   p[34] == ' ' && lower_hex(p + 35, 16) && p[51] == '\n') {
		static const char nuls[QF_PAD];	/* n - QF_END_LEN < QF_PAD: parse_envelope */
		if (n - QF_END_LEN >= QF_PAD || memcmp(p + QF_END_LEN, nuls, n - QF_END_LEN) != 0) {
			corrupt(err, "bytes after the end record");
			return QF_CORRUPT;
		}
		memcpy(q->boot, p + 2, 32);
		q->boot[32] = '\0';
		q->sum = strtoull(p + 35, NULL, 16);	/* 16 hex digits, checked */
		return QF_OK;
	}
	corrupt(err, "missing end record");
	return QF_CORRUPT;
}

/*
 * The checksum of a version 2 file, data its bytes up to the end record:
 * with each recipient's status byte as '-' and M's digits as zeros, as
 * the writer had them (qfile.h).
 */
static uint64_t file_sum(const struct qfile *q, const char *data)
{
	static const char zeros[] = "00000000000000000000";
	struct hash64 h;
	size_t at = 0;

	hash64_init(&h);
	for (size_t i = 0; i < q->nrcpt; i++) {
		size_t st = (size_t)q->rcpts[i].status_offset;
		hash64_add(&h, data + at, st - at);
		hash64_add(&h, "-", 1);
		at = st + 1;
	}
	size_t digits = (size_t)q->content_off - 21;	/* "M " + 20 digits + "\n" */
	hash64_add(&h, data + at, digits - at);
	hash64_add(&h, zeros, 20);
	at = digits + 20;
	hash64_add(&h, data + at, (size_t)q->end_off - at);
	return hash64_value(&h);
}

/*
 * Whether a version 2 file is to be checked against its checksum before
 * use: when it was written in an earlier boot (or either boot is not
 * known). One written in this boot was read back from the page cache,
 * which holds it whole; only a crash can leave on disk a file some of
 * whose blocks are from the message the spare held before (qrecycle.h).
 */
static bool needs_check(const struct qfile *q)
{
	const char *now = boot_id();
	return q->version == 2 &&
	       (strcmp(q->boot, now) != 0 || strcmp(now, boot_unknown) == 0);
}

/* The checksum against data, the whole file; q->checked notes that it held (qfile_mark_checked). */
static int check_sum(struct qfile *q, const char *data, struct buf *err)
{
	q->checked = file_sum(q, data) == q->sum;
	if (q->checked)
		return QF_OK;
	corrupt(err, "content does not match its checksum (written over a spare when the "
		"system stopped?)");
	return QF_CORRUPT;
}

void qfile_mark_checked(struct qfile *q)
{
	const char *now = boot_id();
	/*
	 * The boot is outside the checksum; a torn write of it only names no
	 * boot, which checks again. Only a boot a file may name: not one
	 * unknown, nor a test's that no file can.
	 */
	if (q->checked && q->fd >= 0 && lower_hex(now, 32) && strcmp(now, boot_unknown) != 0 &&
	    pwrite(q->fd, now, 32, (off_t)q->end_off + 2) == 32)
		memcpy(q->boot, now, 33);
	q->checked = false;
}

static struct qfile *qfile_new(void)
{
	struct qfile *q = xcalloc(1, sizeof(*q));
	q->fd = -1;
	return q;
}

int qfile_parse_buffer(const char *data, size_t len, struct qfile **qp, struct buf *err)
{
	struct qfile *q = qfile_new();
	int rc = parse_envelope(q, data, len, len, err);
	if (rc == QF_OK)
		rc = check_end(q, data + q->end_off, len - (size_t)q->end_off, err);
	if (rc == QF_OK && q->version == 2)
		rc = check_sum(q, data, err);
	if (rc != QF_OK) {
		qfile_close(q);
		*qp = NULL;
		return rc;
	}
	q->mem = data;
	*qp = q;
	return QF_OK;
}

static int open_impl(const char *path, bool writable, struct buf *mem, struct qfile **qp,
		     struct buf *err);

int qfile_open(const char *path, bool writable, struct qfile **qp, struct buf *err)
{
	return open_impl(path, writable, NULL, qp, err);
}

int qfile_open_whole(const char *path, bool writable, struct buf *mem, struct qfile **qp,
		     struct buf *err)
{
	return open_impl(path, writable, mem, qp, err);
}

/* Read fd whole into b (st_size bytes, fewer if it ends first); -1 with errno. */
static int read_whole(int fd, off_t size, struct buf *b)
{
	buf_reserve(b, (size_t)size);
	for (int tries = 0; b->len < (size_t)size;) {
		ssize_t n = fault_hit(QF_CALL_READ_FILE) ? -1
			  : pread(fd, b->data + b->len, (size_t)size - b->len, (off_t)b->len);
		if (n < 0 && errno == EINTR && tries++ < EINTR_TRIES)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		b->len += (size_t)n;
	}
	b->data[b->len] = '\0';
	return 0;
}

static int open_impl(const char *path, bool writable, struct buf *mem, struct qfile **qp,
		     struct buf *err)
{
	struct qfile *q = qfile_new();
	struct buf own = BUF_INIT;
	struct buf *envp = mem != NULL ? mem : &own;
	struct stat st;
	int rc = QF_IOERR;

	*qp = NULL;
	q->path = xstrdup(path);
	q->fd = open(path, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC | O_NOFOLLOW);
	if (q->fd < 0 || fstat(q->fd, &st) != 0) {
		set_err(err, "cannot open queue file", path);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		corrupt(err, "%s: not a regular file", path);
		rc = QF_CORRUPT;
		goto out;
	}
	buf_reset(envp);
	/* The whole file at once (one read) when the caller wants it (and it is sane). */
	bool whole = mem != NULL && st.st_size <= (off_t)1 << 30;
	if (whole && read_whole(q->fd, st.st_size, envp) != 0) {
		set_err(err, "cannot read queue file", path);
		goto out;
	}
	/*
	 * Else read until the M record has been seen (or the file ends), 16
	 * KiB at a time straight into the buffer: through a chunk on the
	 * stack it was a memcpy of the 16 KiB per open (qmgr opens each file
	 * twice, its scheduler and its delivery process).
	 */
	for (int tries = 0; !whole;) {
		const size_t chunk = 16384;
		buf_reserve(envp, chunk);
		envp->data[envp->len] = '\0';
		ssize_t n = fault_hit(QF_CALL_READ_FILE) ? -1
			  : pread(q->fd, envp->data + envp->len, chunk, (off_t)envp->len);
		if (n < 0) {
			if (errno == EINTR && tries++ < EINTR_TRIES)
				continue;
			set_err(err, "cannot read queue file", path);
			goto out;
		}
		if (n == 0)
			break;
		size_t before = envp->len;
		envp->len += (size_t)n;
		envp->data[envp->len] = '\0';
		/* Stop once "\nM " and its line end are in: look in the new part. */
		const char *scan = envp->data + (before > 24 ? before - 24 : 0);
		const char *m = memmem(scan, (size_t)(envp->data + envp->len - scan), "\nM ", 3);
		if (m != NULL && memchr(m + 1, '\n', (size_t)(envp->data + envp->len - m - 1)) != NULL)
			break;
		if (envp->len > (size_t)16 * 1024 * 1024)
			break;	/* envelope absurdly large: let the parser complain */
	}
	/* Both ways above reserved room in the buffer: its data is set,
	 * even for an empty file. */
	rc = parse_envelope(q, envp->data, envp->len, (unsigned long long)st.st_size, err);
	if (rc == QF_OK && envp->len == (size_t)st.st_size) {
		/* All of it was read: the end record is in hand. */
		rc = check_end(q, envp->data + q->end_off, envp->len - (size_t)q->end_off, err);
		if (rc == QF_OK && needs_check(q))
			rc = check_sum(q, envp->data, err);
		if (rc == QF_OK && mem != NULL)
			q->borrowed = mem->data;
		else if (rc == QF_OK)
			q->whole = buf_steal(&own);
	} else if (rc == QF_OK) {
		char end[QF_END_LEN + QF_PAD];
		size_t n = (size_t)st.st_size - (size_t)q->end_off;	/* bounded by parse_envelope */
		size_t got = 0;
		for (int tries = 0; got < n;) {
			ssize_t r = fault_hit(QF_CALL_READ) ? -1
				  : pread(q->fd, end + got, n - got, (off_t)q->end_off + (off_t)got);
			if (r < 0 && errno == EINTR && tries++ < EINTR_TRIES)
				continue;
			if (r == 0)
				errno = ENODATA;	/* shorter than fstat said: changed meanwhile */
			if (r <= 0)
				break;
			got += (size_t)r;
		}
		/*
		 * A read error, or a file that ended before the size fstat gave
		 * (it changed meanwhile), says nothing about the file's content:
		 * to be read again, never called corrupt.
		 */
		if (got != n) {
			set_err(err, "cannot read queue file's end", path);
			rc = QF_IOERR;
		} else {
			rc = check_end(q, end, n, err);
		}
		if (rc == QF_OK && needs_check(q)) {
			/* From an earlier boot: the whole of it, once, for its checksum. */
			struct buf all = BUF_INIT;
			int got_all = read_whole(q->fd, st.st_size, &all);
			if (got_all != 0 || all.len != (size_t)st.st_size) {
				if (got_all == 0)
					errno = ENODATA;	/* shorter than fstat said: changed meanwhile */
				set_err(err, "cannot read queue file", path);
				rc = QF_IOERR;
			} else {
				rc = check_sum(q, all.data, err);
			}
			buf_free(&all);
		}
	}
	{
		const char *name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
		unsigned long long ino;
		if (rc == QF_OK && qfile_id_valid(name) && strcmp(name, q->id) != 0) {
			corrupt(err, "holds queue id %s", q->id);
			rc = QF_CORRUPT;
			/*
			 * The message its id says was written into this very
			 * inode (ids end with it): this is a second name of a
			 * live queue file. With one link counted, a short count
			 * (a crash and no fsck): this name must never be
			 * unlinked, as corrupt/'s trim would one day.
			 */
			if (st.st_nlink == 1 && qfile_id_inode(q->id, &ino) && ino == (unsigned long long)st.st_ino) {
				corrupt(err, "holds queue id %s, written into this inode, with one link: a crash "
					"without fsck left a short link count (run e2fsck)", q->id);
				rc = QF_LINKS;
			}
		}
		/*
		 * Given to the pool (with its message, as a spare is) and still
		 * here: a name a crash left. Only a crash makes such a name, so
		 * only a file with a second name, or one from an earlier boot
		 * (whose link count may be wrong without fsck), is looked up.
		 * With two links, this name goes (QF_STALE: qmgr unlinks it).
		 * With one, the count is short (a crash and no fsck): unlinking
		 * either name would free the inode under the other, which a
		 * writer may then take for a new message (QF_LINKS: both names
		 * are parked, neither unlinked; e2fsck mends the count).
		 */
		if (rc == QF_OK && (st.st_nlink > 1 || needs_check(q)) && qrecycle_pooled(name, &st)) {
			if (st.st_nlink > 1) {
				corrupt(err, "a spare in the pool under the same name: given after delivery");
				rc = QF_STALE;
			} else {
				corrupt(err, "also in the pool under the same name, with one link: a crash "
					"without fsck left a short link count (run e2fsck)");
				rc = QF_LINKS;
			}
		}
		if (rc == QF_CORRUPT && st.st_nlink > 1 && qfile_id_valid(name))
			rc = QF_STALE;
	}
	if ((rc == QF_CORRUPT || rc == QF_LINKS) && err != NULL) {
		struct buf tmp = BUF_INIT;
		buf_printf(&tmp, "%s: %s", path, buf_str(err));
		buf_reset(err);
		buf_add(err, tmp.data, tmp.len);
		buf_free(&tmp);
	}
out:;
	int failed_errno = errno;	/* a QF_IOERR's, for the caller (qfile.h) */
	buf_free(&own);
	if (rc != QF_OK) {
		qfile_close(q);
		errno = failed_errno;
		return rc;
	}
	*qp = q;
	return QF_OK;
}

int qfile_remove(struct qfile *q)
{
	int rc = qrecycle_give(q->path, q->fd);
	int saved = errno;

	qfile_close(q);
	errno = saved;
	return rc;
}

void qfile_close(struct qfile *q)
{
	if (q == NULL)
		return;
	if (q->fd >= 0)
		close(q->fd);
	for (size_t i = 0; i < q->nattr; i++) {
		free(q->attrs[i].name);
		free(q->attrs[i].value);
	}
	free(q->attrs);
	for (size_t i = 0; i < q->nrcpt; i++) {
		free((char *)q->rcpts[i].address);
		free((char *)q->rcpts[i].orcpt);
	}
	free(q->rcpts);
	free(q->sender);
	free(q->path);
	free(q->whole);
	free(q);
}

const char *qfile_id(const struct qfile *q)
{
	return q->id;
}

const char *qfile_sender(const struct qfile *q)
{
	return q->sender;
}

struct timeval qfile_arrival(const struct qfile *q)
{
	return q->arrival;
}

const char *qfile_attr(const struct qfile *q, const char *name)
{
	for (size_t i = q->nattr; i-- > 0;)
		if (strcmp(q->attrs[i].name, name) == 0)
			return q->attrs[i].value;
	return NULL;
}

size_t qfile_attr_count(const struct qfile *q)
{
	return q->nattr;
}

void qfile_attr_get(const struct qfile *q, size_t i, const char **name, const char **value)
{
	*name = q->attrs[i].name;
	*value = q->attrs[i].value;
}

size_t qfile_rcpt_count(const struct qfile *q)
{
	return q->nrcpt;
}

const struct qfile_rcpt *qfile_rcpt(const struct qfile *q, size_t i)
{
	return i < q->nrcpt ? &q->rcpts[i] : NULL;
}

size_t qfile_pending_count(const struct qfile *q)
{
	size_t n = 0;
	for (size_t i = 0; i < q->nrcpt; i++)
		if (q->rcpts[i].status == QF_RCPT_PENDING)
			n++;
	return n;
}

int qfile_mark_done(struct qfile *q, size_t i, char status, struct buf *err)
{
	if (i >= q->nrcpt || q->fd < 0 ||
	    (status != QF_RCPT_DELIVERED && status != QF_RCPT_BOUNCED && status != QF_RCPT_EXPANDED)) {
		errno = EINVAL;
		set_err(err, "cannot mark recipient in", q->path ? q->path : "(buffer)");
		return -1;
	}
	if (q_pwrite(q->fd, &status, 1, q->rcpts[i].status_offset) != 1) {
		if (errno == 0)
			errno = EIO;
		set_err(err, "cannot mark recipient done in", q->path);
		return -1;
	}
	q->rcpts[i].status = status;
	return 0;
}

int qfile_sync(struct qfile *q, struct buf *err)
{
	if (q->fd < 0) {
		errno = EINVAL;
		set_err(err, "cannot sync", q->path ? q->path : "(buffer)");
		return -1;
	}
	if (q_fsync(q->fd, true) != 0) {
		set_err(err, "cannot sync done marks in", q->path);
		return -1;
	}
	return 0;
}

unsigned long long qfile_content_size(const struct qfile *q)
{
	return q->content_len;
}

off_t qfile_content_offset(const struct qfile *q)
{
	return q->content_off;
}

void qfile_rewind(struct qfile *q)
{
	q->read_pos = 0;
}

ssize_t qfile_read(struct qfile *q, void *data, size_t len)
{
	unsigned long long left = q->content_len - q->read_pos;
	if (len > left)
		len = (size_t)left;
	if (len == 0)
		return 0;
	ssize_t n;
	if (qfile_content_mem(q) != NULL) {
		memcpy(data, qfile_content_mem(q) + q->read_pos, len);
		n = (ssize_t)len;
	} else {
		do
			n = pread(q->fd, data, len, q->content_off + (off_t)q->read_pos);
		while (n < 0 && errno == EINTR);
		if (n < 0)
			return -1;
		if (n == 0) {
			/* Shorter than its length record said at open: it shrank since. */
			errno = EIO;
			return -1;
		}
	}
	q->read_pos += (unsigned long long)n;
	return n;
}

const char *qfile_content_mem(const struct qfile *q)
{
	const char *base = q->whole ? q->whole : q->borrowed ? q->borrowed : q->fd < 0 ? q->mem : NULL;
	return base != NULL ? base + q->content_off : NULL;
}

int qfile_fd(const struct qfile *q)
{
	return q->fd;
}

bool qfile_still_named(int fd, const char *path)
{
	struct stat st, named;

	/* lstat: a symbolic link put in its place names no queue file. */
	return fstat(fd, &st) == 0 && st.st_nlink > 0 && lstat(path, &named) == 0
	       && named.st_ino == st.st_ino && named.st_dev == st.st_dev;
}

bool qfile_still_there(const struct qfile *q)
{
	return q != NULL && q->path != NULL && qfile_still_named(q->fd, q->path);
}

bool qfile_head_id(int fd, char *id, size_t size)
{
	char head[64 + QF_ID_MAX];
	ssize_t n = pread(fd, head, sizeof(head), 0);

	/* "TERNQ v\nT <secs>.<usecs>\nI <id>\n": the I record is the third line. */
	if (n < 8 || memcmp(head, "TERNQ ", 6) != 0)
		return false;
	const char *t = memchr(head, '\n', (size_t)n);
	const char *i = t ? memchr(t + 1, '\n', (size_t)(head + n - t - 1)) : NULL;
	if (i == NULL || head + n - i < 4 || i[1] != 'I' || i[2] != ' ')
		return false;
	const char *end = memchr(i + 3, '\n', (size_t)(head + n - i - 3));
	size_t len = end ? (size_t)(end - (i + 3)) : 0;
	if (len == 0 || len >= size)
		return false;
	memcpy(id, i + 3, len);
	id[len] = '\0';
	return true;
}

bool qfile_spare_spent(int fd, const char *id)
{
	char got[QF_ID_MAX];
	return *id != '\0' && qfile_head_id(fd, got, sizeof(got)) && strcmp(got, id) == 0;
}
