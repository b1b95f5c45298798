/*
 * map_db.c - the hash: and btree: map types on Berkeley DB 5.3; the file
 * is NAME.db.
 *
 * Generic utility layer; runs with the privileges of the calling program
 * (newaliases and ternmap as the administrator, readers as whoever looks
 * things up).
 *
 * Key and value forms: sendmail's aliases and Postfix's postmap store
 * keys and values with a trailing NUL; sendmail's makemap (without -N)
 * stores them without. Reads try with-NUL, then without; writes add the
 * NUL unless MAP_NO_NUL. A value's trailing NUL is never handed out.
 *
 * An atomic rebuild (MAP_TRUNC) writes NAME.db.tmp.PID.N (O_EXCL through
 * DB_EXCL) and map_close() does DB->sync, fsync, rename, fsync(dir), so
 * a reader sees the old table or the new one, never half of one.
 *
 * libdb is loaded (dlopen) when the first table is opened, not linked:
 * sendmail runs once per message and mostly opens no table, and loading
 * libdb's 1.8 MB at every start cost it 16 page faults and about half a
 * millisecond. Only db_create() and db_strerror() are looked up; the
 * rest is reached through the DB handle's methods.
 */
#include "compat.h"

#include <db.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/map_impl.h"
#include "util/mem.h"

struct dbmap {
	DB *db;
	DBC *cursor;		/* open while iterating */
	char *path;		/* NAME.db */
	char *tmp;		/* atomic rebuild: the temporary file, else NULL */
	int lockfd;		/* in-place update: flock()ed descriptor, else -1 */
	struct map_stamp stamp;	/* NAME.db when opened */
};

/* Berkeley DB would print its own messages on stderr; we report through map_error(). */
static void quiet(const DB_ENV *env, const char *prefix, const char *msg)
{
	(void)env;
	(void)prefix;
	(void)msg;
}

static int (*libdb_create)(DB **, DB_ENV *, u_int32_t);
static char *(*libdb_strerror)(int);
static char libdb_error[256];
static pthread_once_t libdb_once = PTHREAD_ONCE_INIT;

static void libdb_load(void)
{
	char name[32];
	snprintf(name, sizeof(name), "libdb-%d.%d.so", DB_VERSION_MAJOR, DB_VERSION_MINOR);
	void *lib = dlopen(name, RTLD_NOW | RTLD_LOCAL);
	if (lib == NULL) {
		snprintf(libdb_error, sizeof(libdb_error), "%s", dlerror());
		return;
	}
	libdb_strerror = (char *(*)(int))dlsym(lib, "db_strerror");
	libdb_create = (int (*)(DB **, DB_ENV *, u_int32_t))dlsym(lib, "db_create");
	if (libdb_create == NULL || libdb_strerror == NULL)
		snprintf(libdb_error, sizeof(libdb_error), "%s: no db_create or db_strerror", name);
}

static const char *db_reason(int ret)
{
	if (ret > 0)
		return strerror(ret);
	return libdb_strerror != NULL ? libdb_strerror(ret) : "Berkeley DB error";
}

static int db_make(struct map *m, DB **dbp)
{
	pthread_once(&libdb_once, libdb_load);
	if (libdb_create == NULL || libdb_strerror == NULL) {
		map_set_error(m, "cannot load Berkeley DB: %s", libdb_error);
		return -1;
	}
	int ret = libdb_create(dbp, NULL, 0);
	if (ret != 0) {
		map_set_error(m, "db_create: %s", db_reason(ret));
		return -1;
	}
	(*dbp)->set_errcall(*dbp, quiet);
	/* Berkeley DB's default 256 KB cache makes building big tables crawl. */
	if (m->flags & MAP_WRITE)
		(*dbp)->set_cachesize(*dbp, 0, 16 * 1024 * 1024, 1);
	return 0;
}

static int open_rebuild(struct map *m, struct dbmap *d, DBTYPE type)
{
	static unsigned counter;
	for (int tries = 0; tries < 100; tries++) {
		free(d->tmp);
		d->tmp = xasprintf("%s.tmp.%ld.%u", d->path, (long)getpid(), counter++);
		if (db_make(m, &d->db) < 0)
			return -1;
		int ret = d->db->open(d->db, NULL, d->tmp, NULL, type, DB_CREATE | DB_EXCL, 0600);
		if (ret == 0)
			return 0;
		d->db->close(d->db, 0);
		d->db = NULL;
		if (ret != EEXIST) {
			map_set_error(m, "create %s: %s", d->tmp, db_reason(ret));
			free(d->tmp);
			d->tmp = NULL;
			return -1;
		}
	}
	map_set_error(m, "create %s: too many stale temporary files", d->path);
	free(d->tmp);
	d->tmp = NULL;
	return -1;
}

/* DB->verify on PATH: 0 when it is sound; -1 with the reason set. A
 * missing file is left to DB->open to report. */
static int db_verify_file(struct map *m, const char *path)
{
	DB *v;

	if (access(path, F_OK) < 0)
		return 0;
	if (db_make(m, &v) < 0)
		return -1;
	/* verify consumes the handle whatever it returns */
	int ret = v->verify(v, path, NULL, NULL, DB_NOORDERCHK);
	if (ret != 0) {
		map_set_error(m, "read %s: the table is damaged (%s)", path, db_reason(ret));
		return -1;
	}
	return 0;
}

static int db_open_common(struct map *m, const char *name, DBTYPE type)
{
	struct dbmap *d = xcalloc(1, sizeof(*d));
	d->lockfd = -1;
	d->path = xasprintf("%s.db", name);
	m->priv = d;
	int f = m->flags;
	if ((f & MAP_WRITE) && (f & MAP_CREATE) && (f & MAP_TRUNC)) {
		if (open_rebuild(m, d, type) == 0)
			return 0;
		goto fail;
	}
	/*
	 * A damaged file can crash Berkeley DB inside a plain get (a bit flip
	 * in a page header sends it past the page), or make a walk over the
	 * pages loop and even grow the file, read-only handle or not. Map
	 * files are input Tern does not trust, so a reader has Berkeley DB
	 * verify the whole file before its first use: one read of the file
	 * per open, and processes keep their maps open.
	 */
	if (!(f & MAP_WRITE) && db_verify_file(m, d->path) < 0)
		goto fail;
	if (db_make(m, &d->db) < 0)
		goto fail;
	u_int32_t dbflags = (f & MAP_WRITE) ? ((f & MAP_CREATE) ? DB_CREATE : 0) : DB_RDONLY;
	int ret = d->db->open(d->db, NULL, d->path, NULL, type, dbflags, 0644);
	if (ret != 0) {
		if (ret == EINVAL || ret == DB_OLD_VERSION)
			map_set_error(m, "open %s: not a Berkeley DB %s file (%s)", d->path,
				      type == DB_HASH ? "hash" : "btree", db_reason(ret));
		else
			map_set_error(m, "open %s: %s", d->path, db_reason(ret));
		d->db->close(d->db, 0);
		d->db = NULL;
		goto fail;
	}
	map_stamp_take(&d->stamp, d->path);
	if (f & MAP_WRITE) {
		/* Writers in place take the file's lock, as postmap -i and makemap -o do. */
		d->lockfd = open(d->path, O_RDONLY | O_CLOEXEC);
		if (d->lockfd < 0 || flock(d->lockfd, LOCK_EX) < 0) {
			map_set_error(m, "lock %s: %s", d->path, strerror(errno));
			goto fail;
		}
	}
	return 0;
fail:
	if (d->db)
		d->db->close(d->db, 0);
	if (d->lockfd >= 0)
		close(d->lockfd);
	free(d->path);
	free(d->tmp);
	free(d);
	m->priv = NULL;
	return -1;
}

static int hash_open(struct map *m, const char *name)
{
	return db_open_common(m, name, DB_HASH);
}

static int btree_open(struct map *m, const char *name)
{
	return db_open_common(m, name, DB_BTREE);
}

static void set_value(struct buf *out, const DBT *v)
{
	size_t n = v->size;
	if (n > 0 && ((const char *)v->data)[n - 1] == '\0')
		n--;
	buf_reset(out);
	buf_add(out, v->data, n);
}

static int db_lookup(struct map *m, const char *key, struct buf *value)
{
	struct dbmap *d = m->priv;
	size_t klen = strlen(key);
	/* With the NUL first (sendmail aliases, postmap), then without (makemap). */
	for (int withnul = 1; withnul >= 0; withnul--) {
		DBT k, v;
		memset(&k, 0, sizeof(k));
		memset(&v, 0, sizeof(v));
		k.data = (void *)key;
		k.size = (u_int32_t)(klen + (size_t)withnul);
		int ret = d->db->get(d->db, NULL, &k, &v, 0);
		if (ret == 0) {
			set_value(value, &v);
			return 1;
		}
		if (ret != DB_NOTFOUND && ret != DB_KEYEMPTY) {
			map_set_error(m, "read %s: %s", d->path, db_reason(ret));
			return -1;
		}
	}
	return 0;
}

static int db_update(struct map *m, const char *key, const char *value)
{
	struct dbmap *d = m->priv;
	int nul = (m->flags & MAP_NO_NUL) ? 0 : 1;
	DBT k, v;
	memset(&k, 0, sizeof(k));
	memset(&v, 0, sizeof(v));
	k.data = (void *)key;
	k.size = (u_int32_t)(strlen(key) + (size_t)nul);
	v.data = (void *)value;
	v.size = (u_int32_t)(strlen(value) + (size_t)nul);
	int ret;
	if (d->tmp == NULL) {
		/* An old entry in the other form would shadow or duplicate this one. */
		DBT other = k;
		other.size = (u_int32_t)(strlen(key) + (size_t)!nul);
		ret = d->db->del(d->db, NULL, &other, 0);
		if (ret != 0 && ret != DB_NOTFOUND && ret != DB_KEYEMPTY) {
			map_set_error(m, "write %s: %s", d->path, db_reason(ret));
			return -1;
		}
	}
	ret = d->db->put(d->db, NULL, &k, &v, 0);
	if (ret != 0) {
		map_set_error(m, "write %s: %s", d->tmp ? d->tmp : d->path, db_reason(ret));
		return -1;
	}
	return 1;
}

static int db_remove(struct map *m, const char *key)
{
	struct dbmap *d = m->priv;
	int found = 0;
	for (int withnul = 1; withnul >= 0; withnul--) {
		DBT k;
		memset(&k, 0, sizeof(k));
		k.data = (void *)key;
		k.size = (u_int32_t)(strlen(key) + (size_t)withnul);
		int ret = d->db->del(d->db, NULL, &k, 0);
		if (ret == 0)
			found = 1;
		else if (ret != DB_NOTFOUND && ret != DB_KEYEMPTY) {
			map_set_error(m, "delete in %s: %s", d->path, db_reason(ret));
			return -1;
		}
	}
	return found;
}

static int db_iterate(struct map *m, int first, struct buf *key, struct buf *value)
{
	struct dbmap *d = m->priv;
	if (first && d->cursor) {
		d->cursor->close(d->cursor);
		d->cursor = NULL;
	}
	if (d->cursor == NULL) {
		if (!first)
			return 0;
		int ret = d->db->cursor(d->db, NULL, &d->cursor, 0);
		if (ret != 0) {
			d->cursor = NULL;
			map_set_error(m, "read %s: %s", d->path, db_reason(ret));
			return -1;
		}
	}
	DBT k, v;
	memset(&k, 0, sizeof(k));
	memset(&v, 0, sizeof(v));
	int ret = d->cursor->get(d->cursor, &k, &v, first ? DB_FIRST : DB_NEXT);
	if (ret == DB_NOTFOUND) {
		d->cursor->close(d->cursor);
		d->cursor = NULL;
		return 0;
	}
	if (ret != 0) {
		map_set_error(m, "read %s: %s", d->path, db_reason(ret));
		return -1;
	}
	set_value(key, &k);
	set_value(value, &v);
	return 1;
}

static int db_changed(struct map *m)
{
	struct dbmap *d = m->priv;
	/* A rebuild in progress, or our own in-place writes, are not news. */
	if (d->tmp || (m->flags & MAP_WRITE))
		return 0;
	return map_stamp_changed(&d->stamp, d->path);
}

/* fsync the directory holding path, so that a rename in it is durable. */
static int sync_dir(const char *path)
{
	char *copy = xstrdup(path);
	int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(copy);
	if (fd < 0)
		return -1;
	int r = fsync(fd);
	close(fd);
	return r;
}

/* Sync the temporary file and rename it over NAME.db. */
static int commit_rebuild(struct map *m, struct dbmap *d)
{
	int fd = -1, ret;
	const char *what = "sync";
	if ((ret = d->db->sync(d->db, 0)) != 0 || (ret = d->db->fd(d->db, &fd)) != 0)
		goto db_fail;
	what = "fsync";
	if (fsync(fd) < 0)
		goto sys_fail;
	/* A replaced table keeps its mode and owner; a new one gets 0644 less umask. */
	struct stat st;
	what = "chmod";
	if (stat(d->path, &st) == 0) {
		if (fchmod(fd, st.st_mode & 07777) < 0)
			goto sys_fail;
		if (geteuid() == 0 && fchown(fd, st.st_uid, st.st_gid) < 0) {
			what = "chown";
			goto sys_fail;
		}
	} else {
		mode_t mask = umask(022);
		umask(mask);
		if (fchmod(fd, 0644 & ~mask) < 0)
			goto sys_fail;
	}
	ret = d->db->close(d->db, 0);
	d->db = NULL;
	if (ret != 0) {
		what = "close";
		goto db_fail;
	}
	what = "rename";
	if (rename(d->tmp, d->path) < 0)
		goto sys_fail;
	what = "fsync directory of";
	if (sync_dir(d->path) < 0)
		goto sys_fail;
	return 0;
sys_fail:
	map_set_error(m, "%s %s: %s", what, d->tmp, strerror(errno));
	return -1;
db_fail:
	map_set_error(m, "%s %s: %s", what, d->tmp, db_reason(ret));
	return -1;
}

static int db_close(struct map *m, int discard)
{
	struct dbmap *d = m->priv;
	int r = 0;
	if (d->cursor)
		d->cursor->close(d->cursor);
	if (d->tmp) {
		if (!discard && commit_rebuild(m, d) < 0)
			r = -1;
		if (d->db)
			d->db->close(d->db, 0);
		if (discard || r < 0)
			unlink(d->tmp);
	} else if (d->db) {
		int ret = 0, fd = -1;
		/* In-place updates are made durable before the lock goes. */
		if ((m->flags & MAP_WRITE) && !discard &&
		    ((ret = d->db->sync(d->db, 0)) != 0 || (ret = d->db->fd(d->db, &fd)) != 0 ||
		     (fsync(fd) < 0 && (ret = errno) != 0))) {
			map_set_error(m, "sync %s: %s", d->path, db_reason(ret));
			r = -1;
		}
		if ((ret = d->db->close(d->db, 0)) != 0 && !discard && r == 0) {
			map_set_error(m, "close %s: %s", d->path, db_reason(ret));
			r = -1;
		}
	}
	if (d->lockfd >= 0)
		close(d->lockfd);
	free(d->path);
	free(d->tmp);
	free(d);
	return r;
}

const struct map_ops map_hash_ops = {
	.type = "hash",
	.writable = 1,
	.open = hash_open,
	.lookup = db_lookup,
	.update = db_update,
	.remove = db_remove,
	.iterate = db_iterate,
	.changed = db_changed,
	.close = db_close,
};

const struct map_ops map_btree_ops = {
	.type = "btree",
	.writable = 1,
	.open = btree_open,
	.lookup = db_lookup,
	.update = db_update,
	.remove = db_remove,
	.iterate = db_iterate,
	.changed = db_changed,
	.close = db_close,
};
