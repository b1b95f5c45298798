/*
 * map.h - the one lookup-table API of Tern.
 *
 * Generic utility layer. A map is opened by "type:name", as in Postfix:
 *   hash:/etc/aliases      Berkeley DB hash, file /etc/aliases.db
 *   btree:/etc/tern/x      Berkeley DB btree, file /etc/tern/x.db
 *   texthash:/etc/tern/x   the text source file read directly
 *   inline:{ k1=v1, { k2 = v with spaces } }
 *   static:value           every key finds value
 * A name without "type:" means hash:.
 *
 * Berkeley DB keys and values: Tern writes them NUL-terminated (as
 * sendmail's aliases and Postfix's postmap do) and reads both forms, so
 * maps made by postmap, makemap and newaliases all work.
 *
 * Lookups fold the key to lower case unless the map was opened with
 * MAP_NOFOLD. Functions return 1 found/done, 0 not found/end, -1 error
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
/* Flush and close; returns -1 when pending writes could not be saved. */
int map_close(struct map *map);
const char *map_error(const struct map *map);
const char *map_type(const struct map *map);
const char *map_name(const struct map *map);

/* An ordered list of maps (a parameter like alias_maps): first match wins. */
struct maplist;
struct maplist *maplist_open(const char *specs, int flags, struct buf *err);
int maplist_lookup(struct maplist *list, const char *key, struct buf *value);
void maplist_close(struct maplist *list);

#endif
