/*
 * qrecycle.c - the pool of spent queue files (see qrecycle.h).
 *
 * Mail layer; runs as mail_owner, in processes that may have threads
 * (smtpd's commit threads), hence the lock around the list of names.
 */
#include "compat.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "mail/config.h"
#include "mail/qfile.h"
#include "mail/qrecycle.h"
#include "mail/qspace.h"
#include "util/mem.h"

/* Names read from the pool at a time, and how long an empty pool is believed. */
#define NAMES	64
#define EMPTY_RETRY_MS	1000

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static char *pool_dir;
static char *trim_dir;			/* the pool's directory, on or off: trimmed all the same */
static DIR *pool_list;			/* read on from where the last take stopped */
static char names[NAMES][NAME_MAX + 1];
static int nnames;
static long long empty_until;		/* CLOCK_MONOTONIC ms */

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void qrecycle_enable(const char *dir, bool on)
{
	pthread_mutex_lock(&pool_lock);
	free(pool_dir);
	free(trim_dir);
	pool_dir = on && dir != NULL ? xstrdup(dir) : NULL;
	trim_dir = dir != NULL ? xstrdup(dir) : NULL;
	if (pool_list != NULL)
		closedir(pool_list);
	pool_list = NULL;
	nnames = 0;
	empty_until = 0;
	pthread_mutex_unlock(&pool_lock);
}

void qrecycle_configure(void)
{
	char dir[PATH_MAX];

	snprintf(dir, sizeof(dir), "%s/recycle", cfg_str(P_queue_directory));
	qrecycle_enable(dir, cfg_int(P_queue_recycle_limit) > 0);
}

/* Read the next names of spare files (from the start again at the end). */
static void refill(void)
{
	struct dirent *e;
	bool rewound = false;

	if (pool_list == NULL && (pool_list = opendir(pool_dir)) == NULL)
		return;
	while (nnames < NAMES) {
		if ((e = readdir(pool_list)) == NULL) {
			if (rewound || nnames > 0)
				break;
			rewinddir(pool_list);
			rewound = true;
			continue;
		}
		if (e->d_name[0] != '.')
			strlcpy(names[nnames++], e->d_name, sizeof(names[0]));
	}
}

int qrecycle_take(const char *path, char *name, size_t size)
{
	char from[PATH_MAX];
	int rc = -1;

	pthread_mutex_lock(&pool_lock);
	if (pool_dir == NULL || now_ms() < empty_until)
		goto out;
	for (int refills = 0; rc < 0 && refills < 2;) {
		if (nnames == 0) {
			refill();
			refills++;
			if (nnames == 0)
				break;
		}
		snprintf(from, sizeof(from), "%s/%s", pool_dir, names[--nnames]);
		if (renameat2(AT_FDCWD, from, AT_FDCWD, path, RENAME_NOREPLACE) == 0) {
			strlcpy(name, names[nnames], size);
			rc = 0;
		} else if (errno != ENOENT) {
			break;	/* taken by another process: ENOENT, try the next */
		}
	}
	if (rc < 0 && nnames == 0)
		empty_until = now_ms() + EMPTY_RETRY_MS;
out:
	pthread_mutex_unlock(&pool_lock);
	return rc;
}

/* spare = path's name in the pool; false when the pool is off (or path's name is a dot name). */
static bool pool_name(const char *path, char *spare, size_t size)
{
	const char *base = strrchr(path, '/');
	bool on;

	base = base ? base + 1 : path;
	pthread_mutex_lock(&pool_lock);
	on = pool_dir != NULL && *base != '.';
	if (on)
		snprintf(spare, size, "%s/%s", pool_dir, base);
	pthread_mutex_unlock(&pool_lock);
	return on;
}

/* The pool's directory, on or off, into dir (size bytes): false when none is set. */
static bool pool_dir_of(char *dir, size_t size)
{
	pthread_mutex_lock(&pool_lock);
	snprintf(dir, size, "%s", trim_dir ? trim_dir : "");
	pthread_mutex_unlock(&pool_lock);
	return dir[0] != '\0';
}

bool qrecycle_pooled(const char *id, const struct stat *st)
{
	char dir[PATH_MAX];

	/* Whether the pool is on or off: spares of an earlier setting stay until the next trim. */
	if (!pool_dir_of(dir, sizeof(dir)) || *id == '.' || strchr(id, '/') != NULL)
		return false;
	/* In the pool, or its pool name parked by a park that could not move the other (qrecycle_park). */
	char *where[2] = {xasprintf("%s/%s", dir, id), xasprintf("%s/../corrupt/links/%s.recycle", dir, id)};
	bool found = false;
	for (int i = 0; i < 2; i++) {
		struct stat pst;
		found = found || (lstat(where[i], &pst) == 0 && pst.st_ino == st->st_ino && pst.st_dev == st->st_dev);
		free(where[i]);
	}
	return found;
}

/* A file went into the pool: look at it again at the next take. */
static void pool_grew(void)
{
	pthread_mutex_lock(&pool_lock);
	empty_until = 0;	/* this process knows better now */
	pthread_mutex_unlock(&pool_lock);
}

int qrecycle_give(const char *path, int fd)
{
	char spare[PATH_MAX];

	/*
	 * The caller's descriptor may be of a file that left path while the
	 * caller was not holding its lock (a delivery process of an earlier
	 * qmgr gave it, and a writer took it for a new message): that file
	 * is not the caller's to give, nor path's file to remove.
	 */
	if (fd >= 0 && !qfile_still_named(fd, path))
		return 1;
	if (!pool_name(path, spare, sizeof(spare)))
		return unlink(path);
	/*
	 * Too large to keep: unlinked, but only while it holds the message
	 * its name names. Else a crash left this name (a short link count)
	 * and a writer took the inode from the pool for a new message since:
	 * unlinking would free that one; renamed into the pool as any other,
	 * where reuse_spare (qfile.c) sets it aside.
	 */
	const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	struct stat st;
	if (fd >= 0 && fstat(fd, &st) == 0 && st.st_size > QRECYCLE_SPARE_MAX && qfile_spare_spent(fd, base))
		return unlink(path);
	/*
	 * As it is, blocks and all, with one rename: the writer that takes it
	 * writes the next message over the old one (qfile.c, reuse_spare).
	 */
	if (rename(path, spare) < 0)
		return unlink(path);
	pool_grew();
	return 0;
}

int qrecycle_adopt_empty(const char *path)
{
	const char *base = strrchr(path, '/');
	char spare[PATH_MAX];
	unsigned long long ino;
	struct stat st;
	int fd, rc;

	base = base ? base + 1 : path;
	/* Read-only, and never truncated: see qrecycle.h (O_NONBLOCK: a FIFO would block). */
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return errno == ENOENT ? QR_GONE : QR_NOT_SPENT;
	/*
	 * The lock a delivery process holds while it works on a file
	 * (qmgr_deliver.c). Without locks (ENOLCK, EOPNOTSUPP) it cannot be
	 * told whether one is at work on it: not taken for spent, but set
	 * aside in corrupt/ by the caller, as before empty files were
	 * recycled. QR_FAILED would leave it in active/, and the caller would
	 * move it between deferred/ and active/ for ever.
	 */
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		rc = errno == EWOULDBLOCK ? QR_HELD : QR_NOT_SPENT;
		goto out;
	}
	if (fstat(fd, &st) != 0) {
		rc = QR_FAILED;
		goto out;
	}
	/* Unlinked (its give, with the pool off), or renamed away by its give. */
	if (!qfile_still_named(fd, path)) {
		rc = QR_GONE;
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_size != 0 || st.st_nlink != 1
	    || !qfile_id_inode(base, &ino) || ino != (unsigned long long)st.st_ino) {
		rc = QR_NOT_SPENT;
		goto out;
	}
	if (!pool_name(path, spare, sizeof(spare)) || rename(path, spare) != 0) {
		rc = unlink(path) == 0 ? QR_ADOPTED : QR_FAILED;
		goto out;
	}
	pool_grew();
	rc = QR_ADOPTED;
out:
	{
		int saved = errno;
		close(fd);	/* the lock goes with it, after the rename */
		errno = saved;
	}
	return rc;
}

/* Rename from to LINKS/ID.TAG (or .TAG.N when taken), never over a file. */
static int park_one(const char *from, const char *links, const char *id, const char *tag)
{
	for (int n = 0; n < 100; n++) {
		char to[PATH_MAX];
		struct stat st;
		if (n == 0)
			snprintf(to, sizeof(to), "%s/%s.%s", links, id, tag);
		else
			snprintf(to, sizeof(to), "%s/%s.%s.%d", links, id, tag, n);
		int r = renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE);
		if (r < 0 && (errno == EINVAL || errno == ENOSYS)) {
			/* No RENAME_NOREPLACE here; only qmgr parks, one file at a time. */
			if (lstat(to, &st) == 0)
				errno = EEXIST;
			else
				r = rename(from, to);
		}
		if (r == 0 || errno != EEXIST)
			return r;
	}
	errno = EEXIST;
	return -1;
}

int qrecycle_park(const char *path, const char *id)
{
	const char *slash = strrchr(path, '/');
	const char *base = slash ? slash + 1 : path;
	char *dir = slash ? xstrndup(path, (size_t)(slash - path)) : xstrdup(".");
	const char *tag = strrchr(dir, '/') ? strrchr(dir, '/') + 1 : dir;
	char *links = xasprintf("%s/../corrupt/links", dir);
	char *spare = NULL;
	struct stat st, pst;
	int rc = -1;

	if (strchr(id, '/') != NULL || *id == '.') {
		errno = EINVAL;
		goto out;
	}
	if ((mkdir(links, 0700) < 0 && errno != EEXIST) || lstat(path, &st) < 0)
		goto out;
	/*
	 * The pool's name first, when it is one of this inode: from then on
	 * no writer takes the inode for a new message. A writer that took it
	 * already renamed it away (its new message lives on under its own
	 * name; this one is parked all the same).
	 */
	bool pooled = false;
	char pool[PATH_MAX];
	if (*base != '.' && pool_dir_of(pool, sizeof(pool)))
		spare = xasprintf("%s/%s", pool, base);
	if (spare != NULL && lstat(spare, &pst) == 0 && pst.st_ino == st.st_ino && pst.st_dev == st.st_dev) {
		if (park_one(spare, links, id, "recycle") == 0)
			pooled = true;
		else if (errno != ENOENT)
			goto out;
	}
	if (park_one(path, links, id, strcmp(tag, ".") == 0 ? "queue" : tag) == 0)
		rc = pooled;
out:
	free(spare);
	free(links);
	free(dir);
	return rc;
}

/*
 * Whether the queue (pool directory dir's parent) holds a file under the
 * spare's name (its queue id) that is this same inode: a name a crash
 * left when the file was given. With one link counted for both (a crash
 * and no fsck on a file system without a journal), unlinking the pool's
 * name would free the inode under the other; the delivery process that
 * meets that name parks both (qrecycle_park).
 */
static bool named_in_queue(const char *dir, const char *name, const struct stat *st)
{
	static const char *const dirs[] = {"active", "incoming", "deferred", "hold"};
	bool found = false;
	if (*name == '.' || strchr(name, '/') != NULL)
		return false;
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]) && !found; i++) {
		char *path = xasprintf("%s/../%s/%s", dir, dirs[i], name);
		struct stat ost;
		found = lstat(path, &ost) == 0 && ost.st_ino == st->st_ino && ost.st_dev == st->st_dev;
		free(path);
	}
	return found;
}

bool qrecycle_named_in_queue(const char *id, const struct stat *st)
{
	char dir[PATH_MAX];
	return pool_dir_of(dir, sizeof(dir)) && named_in_queue(dir, id, st);
}

bool qrecycle_room_short(unsigned long long avail, unsigned long long minfree,
			 unsigned long long size_limit)
{
	return !qspace_enough(avail / 2, minfree, size_limit);
}

long qrecycle_trim(unsigned long keep, time_t half_given_age, unsigned long long minfree,
		   unsigned long long size_limit)
{
	DIR *d;
	struct dirent *e;
	struct statvfs vfs;
	unsigned long seen = 0;
	long removed = 0;
	char dir[PATH_MAX];

	pthread_mutex_lock(&pool_lock);
	snprintf(dir, sizeof(dir), "%s", trim_dir ? trim_dir : "");
	if (pool_dir == NULL)
		keep = 0;	/* off: what an earlier run pooled goes */
	pthread_mutex_unlock(&pool_lock);
	if (dir[0] == '\0')
		return 0;
	/* Spares give way to mail (qrecycle.h). */
	if (keep > 0 && statvfs(dir, &vfs) == 0 &&
	    qrecycle_room_short((unsigned long long)vfs.f_bavail * vfs.f_frsize, minfree, size_limit))
		keep = 0;
	if ((d = opendir(dir)) == NULL)
		return 0;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (e->d_name[0] == '.') {
			/*
			 * Left by a crash, unless a give is under way. An age of
			 * 0 takes every one without asking the clock: a file's
			 * time is fine-grained and may be up to a tick ahead of
			 * time(2)'s coarse one, into the next second.
			 */
			struct stat st;
			if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			    (half_given_age <= 0 || time(NULL) - st.st_ctime >= half_given_age))
				removed += unlinkat(dirfd(d), e->d_name, 0) == 0;
		} else {
			/* Beyond keep, or larger than a spare may be (given by an earlier version). */
			struct stat st;
			if (++seen <= keep && (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
					       st.st_size <= QRECYCLE_SPARE_MAX))
				continue;
			/* Never one that holds another message: see reuse_spare() in qfile.c. */
			int fd = openat(dirfd(d), e->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
			if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
			    (st.st_size == 0 || qfile_spare_spent(fd, e->d_name)) &&
			    (st.st_nlink > 1 || !named_in_queue(dir, e->d_name, &st)))
				removed += unlinkat(dirfd(d), e->d_name, 0) == 0;
			if (fd >= 0)
				close(fd);
		}
	}
	closedir(d);
	return removed;
}
