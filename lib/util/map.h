/*
 * map.h - the one lookup-table API of Tern.
 *
 * Generic utility layer. A map is opened by "type:name", as in Postfix:
 *   hash:/etc/aliases      Berkeley DB hash, file /etc/aliases.db
 *   btree:/etc/tern/x      Berkeley DB btree, file /etc/tern/x.db
 *   texthash:/etc/tern/x   the text source file read directly
 *   inline:{ k1=v1, { k2 = v with spaces } }
 *   static:value           every key finds value
 *   regexp:/etc/tern/x     POSIX regular expressions tried in order
 *                          (Postfix's regexp_table(5); see map_regexp.c)
 *   regexp:{ {rule}, {rule} }  the same rules written in place
 *   pcre:...               refused, with a pointer to regexp:
 * A name without "type:" means hash:.
 *
 * Berkeley DB keys and values: Tern writes them NUL-terminated (as
 * sendmail's aliases and Postfix's postmap do) and reads both forms, so
 * maps made by postmap, makemap and newaliases all work.
 *
 * Lookups, updates and deletes fold the key to lower case (ASCII) unless
 * the map was opened with MAP_NOFOLD; regexp: keys are never folded (its
 * patterns are case-insensitive unless their i flag says otherwise).
 *
 * hash: and btree: opened with MAP_WRITE|MAP_CREATE|MAP_TRUNC rebuild the
 * whole table atomically: the writes go to a temporary file in the same
 * directory, which map_close() syncs and renames over NAME.db (and
 * map_discard() removes). Without MAP_TRUNC, updates happen in place
 * under an exclusive lock. texthash:, inline:, static: and regexp: are read-only.
 * Functions return 1 found/done, 0 not found/end, -1 error
 * with a one-line reason in map_error().
 */
#ifndef TERN_UTIL_MAP_H
#define TERN_UTIL_MAP_H

#include "util/buf.h"

#define MAP_RDONLY	0x00	/* default: read only */
#define MAP_WRITE	0x01	/* open for update/delete */
#define MAP_CREATE	0x02	/* create (with MAP_WRITE) */
#define MAP_TRUNC	0x04	/* start empty (with MAP_WRITE|MAP_CREATE) */
#define MAP_NOFOLD	0x08	/* keys are case-sensitive */
#define MAP_NO_NUL	0x10	/* write keys/values without trailing NUL (makemap default) */

struct map;

/* Open "type:name". On failure returns NULL and puts one line in err. */
struct map *map_open(const char *spec, int flags, struct buf *err);
int map_lookup(struct map *map, const char *key, struct buf *value);
int map_update(struct map *map, const char *key, const char *value);
int map_delete(struct map *map, const char *key);
/* Iterate: first = 1 restarts. Returns 1 with key/value, 0 at the end. */
int map_iterate(struct map *map, int first, struct buf *key, struct buf *value);
/* Flush and close; returns -1 (and logs why) when pending writes could not be saved. */
int map_close(struct map *map);
/* Close without saving: an atomic rebuild leaves the old NAME.db as it was. */
void map_discard(struct map *map);
const char *map_error(const struct map *map);
/*
 * 1 when the file behind the map (NAME.db, or the texthash: source) was
 * rebuilt or modified since the map was opened: a long-running reader
 * should close and reopen it (Berkeley DB handles do not see a table
 * renamed over theirs). Always 0 for inline: and static:.
 */
int map_changed(struct map *map);
const char *map_type(const struct map *map);
/*
 * 1 for a table of patterns matched against the whole key (regexp:):
 * callers look up only whole keys there (no parent domains, network
 * prefixes or "user@"), as Postfix does with its pattern tables.
 */
int map_is_pattern(const struct map *map);
const char *map_name(const struct map *map);

/* An ordered list of maps (a parameter like alias_maps): first match wins. */
struct maplist;
struct maplist *maplist_open(const char *specs, int flags, struct buf *err);
int maplist_lookup(struct maplist *list, const char *key, struct buf *value);
void maplist_close(struct maplist *list);
/* 1 when any map of the list changed (see map_changed()). */
int maplist_changed(struct maplist *list);
/* After maplist_lookup() returned -1: the failing map's one-line reason. */
const char *maplist_error(const struct maplist *list);

/*
 * Split a list of map specs on commas and white space, keeping { } groups
 * together. *items gets a NULL-terminated array of malloc'd strings (free
 * each and the array). Returns the count, or -1 with a reason in err.
 */
int map_split_list(const char *specs, char ***items, struct buf *err);
/*
 * Split a spec into malloc'd type and name (no "type:" prefix = hash).
 * Returns -1 (both still set, to be freed) when the type is unknown.
 */
int map_spec_parse(const char *spec, char **type, char **name);
/* 1 when spec starts with "word:" (a type, known or not), 0 for a bare name. */
int map_spec_has_type(const char *spec);
/* Fold a key to lower case in place (ASCII only, as Postfix and sendmail do). */
void map_fold(char *s);

#endif
