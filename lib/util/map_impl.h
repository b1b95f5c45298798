/*
 * map_impl.h - what a map backend provides to map.c (private to the
 * map implementation; callers use map.h).
 *
 * Generic utility layer; no privileges of its own. Each backend is one
 * small file exporting one struct map_ops. map.c folds keys (unless
 * MAP_NOFOLD or a pattern backend), checks the open mode, and dispatches.
 */
#ifndef TERN_UTIL_MAP_IMPL_H
#define TERN_UTIL_MAP_IMPL_H

#include "util/buf.h"
#include "util/map.h"

struct map_ops {
	const char *type;
	int writable;		/* supports MAP_WRITE */
	/*
	 * Matches patterns against the whole key (regexp:): keys go to the
	 * backend as given, never folded, and callers skip the partial keys
	 * (parent domains, ...) they try on exact tables (map_is_pattern()).
	 */
	int pattern;
	/* Set up m->priv from name; on failure put a reason in m->error, return -1. */
	int (*open)(struct map *m, const char *name);
	int (*lookup)(struct map *m, const char *key, struct buf *value);
	int (*update)(struct map *m, const char *key, const char *value);
	int (*remove)(struct map *m, const char *key);
	int (*iterate)(struct map *m, int first, struct buf *key, struct buf *value);
	/* 1 when the file behind the map was replaced or modified since open (optional). */
	int (*changed)(struct map *m);
	/* Release everything; commit pending writes unless discard. */
	int (*close)(struct map *m, int discard);
};

struct map {
	const struct map_ops *ops;
	char *type;
	char *name;
	int flags;
	int failed;		/* a write failed: close must not commit */
	struct buf error;
	void *priv;
};

/* File identity, to notice a table rebuilt (renamed over) or changed since open. */
#include <sys/stat.h>
struct map_stamp {
	dev_t dev;
	ino_t ino;
	struct timespec mtime;
	off_t size;
	int valid;
};
void map_stamp_take(struct map_stamp *st, const char *path);
int map_stamp_changed(const struct map_stamp *st, const char *path);

/* Replace the map's error line with "type:name: " + the text. */
void map_set_error(struct map *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The in-memory table behind texthash: and inline: (in map_texthash.c). */
#include "util/strtab.h"
struct memmap {
	struct strtab tab;
	size_t pos;		/* iteration */
	char *path;		/* texthash: the source file, for map_changed() */
	struct map_stamp stamp;
};
int map_mem_lookup(struct map *m, const char *key, struct buf *value);
int map_mem_iterate(struct map *m, int first, struct buf *key, struct buf *value);
int map_mem_close(struct map *m, int discard);

extern const struct map_ops map_hash_ops;
extern const struct map_ops map_btree_ops;
extern const struct map_ops map_texthash_ops;
extern const struct map_ops map_inline_ops;
extern const struct map_ops map_static_ops;
extern const struct map_ops map_regexp_ops;
extern const struct map_ops map_pcre_ops;	/* only says: use regexp: */

#endif
