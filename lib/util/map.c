/*
 * map.c - the lookup-table API: open "type:name", dispatch to a backend,
 * fold keys, and ordered lists of maps (see map.h).
 *
 * Generic utility layer; runs with the privileges of the calling program
 * (it opens the files it is told to, nothing else).
 */
#include "compat.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "util/map.h"
#include "util/log.h"
#include "util/map_impl.h"
#include "util/mem.h"

static const struct map_ops *const backends[] = {
	&map_hash_ops, &map_btree_ops, &map_texthash_ops, &map_inline_ops, &map_static_ops,
	&map_regexp_ops, &map_pcre_ops,
};

void map_set_error(struct map *m, const char *fmt, ...)
{
	va_list ap;
	buf_reset(&m->error);
	buf_printf(&m->error, "%s:%s: ", m->type, m->name);
	va_start(ap, fmt);
	buf_vprintf(&m->error, fmt, ap);
	va_end(ap);
	/* One line: a reason never carries a newline into a log. */
	for (size_t i = 0; i < m->error.len; i++)
		if (m->error.data[i] == '\n' || m->error.data[i] == '\r')
			m->error.data[i] = ' ';
}

void map_fold(char *s)
{
	for (; *s; s++)
		*s = (char)tolower((unsigned char)*s);
}

/*
 * Split "type:name". A spec without a "type:" prefix (no ':' or something
 * other than a word before it, e.g. "/etc/aliases") means hash:.
 */
int map_spec_has_type(const char *spec)
{
	const char *colon = strchr(spec, ':');
	int word = colon != NULL && colon > spec;
	for (const char *p = spec; word && p < colon; p++)
		if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-')
			word = 0;
	return word;
}

int map_spec_parse(const char *spec, char **type, char **name)
{
	const char *colon = strchr(spec, ':');
	if (!map_spec_has_type(spec)) {
		*type = xstrdup("hash");
		*name = xstrdup(spec);
		return 0;
	}
	*type = xstrndup(spec, (size_t)(colon - spec));
	*name = xstrdup(colon + 1);
	for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++)
		if (strcmp(backends[i]->type, *type) == 0)
			return 0;
	return -1;
}

static const struct map_ops *find_ops(const char *type)
{
	for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++)
		if (strcmp(backends[i]->type, type) == 0)
			return backends[i];
	return NULL;
}

struct map *map_open(const char *spec, int flags, struct buf *err)
{
	char *name, *type;
	if (map_spec_parse(spec, &type, &name) < 0) {
		buf_reset(err);
		buf_printf(err, "%s: unsupported map type \"%s\" (hash, btree, texthash, inline, static, regexp)",
			   spec, type);
		free(type);
		free(name);
		return NULL;
	}
	const struct map_ops *ops = find_ops(type);
	struct map *m = xcalloc(1, sizeof(*m));
	m->ops = ops;
	m->type = type;
	m->name = name;
	m->flags = flags;
	buf_init(&m->error);
	int ok;
	if ((flags & MAP_WRITE) && !ops->writable) {
		map_set_error(m, "%s maps are read-only", type);
		ok = -1;
	} else if (*name == '\0' && ops != &map_static_ops) {
		map_set_error(m, "empty map name");
		ok = -1;
	} else {
		ok = ops->open(m, name);
	}
	if (ok < 0) {
		buf_reset(err);
		buf_add(err, m->error.data, m->error.len);
		buf_free(&m->error);
		free(m->type);
		free(m->name);
		free(m);
		return NULL;
	}
	return m;
}

/*
 * The key as the backend sees it: folded unless MAP_NOFOLD, or unless the
 * backend matches case itself (regexp:, whose i flag decides).
 */
static const char *map_key(const struct map *m, const char *key, struct buf *tmp)
{
	if ((m->flags & MAP_NOFOLD) || m->ops->pattern)
		return key;
	buf_reset(tmp);
	buf_adds(tmp, key);
	if (tmp->data)
		map_fold(tmp->data);
	return buf_str(tmp);
}

int map_lookup(struct map *m, const char *key, struct buf *value)
{
	struct buf k = BUF_INIT;
	buf_reset(value);
	int r = m->ops->lookup(m, map_key(m, key, &k), value);
	buf_free(&k);
	return r;
}

static int writable(struct map *m)
{
	if (!(m->flags & MAP_WRITE)) {
		map_set_error(m, "map was opened read-only");
		return 0;
	}
	return 1;
}

int map_update(struct map *m, const char *key, const char *value)
{
	if (!writable(m))
		return -1;
	struct buf k = BUF_INIT;
	int r = m->ops->update(m, map_key(m, key, &k), value);
	buf_free(&k);
	if (r < 0)
		m->failed = 1;
	return r;
}

int map_delete(struct map *m, const char *key)
{
	if (!writable(m))
		return -1;
	struct buf k = BUF_INIT;
	int r = m->ops->remove(m, map_key(m, key, &k));
	buf_free(&k);
	if (r < 0)
		m->failed = 1;
	return r;
}

int map_iterate(struct map *m, int first, struct buf *key, struct buf *value)
{
	buf_reset(key);
	buf_reset(value);
	return m->ops->iterate(m, first, key, value);
}

static int map_finish(struct map *m, int discard)
{
	if (m == NULL)
		return 0;
	int r = m->ops->close(m, discard || m->failed);
	/* The map and its error go away here: say why saving failed. */
	if (r < 0 && !discard)
		msg_error("%s", buf_str(&m->error));
	if (m->failed)
		r = -1;
	buf_free(&m->error);
	free(m->type);
	free(m->name);
	free(m);
	return r;
}

int map_close(struct map *m)
{
	return map_finish(m, 0);
}

void map_discard(struct map *m)
{
	(void)map_finish(m, 1);
}

void map_stamp_take(struct map_stamp *st, const char *path)
{
	struct stat sb;
	memset(st, 0, sizeof(*st));
	if (stat(path, &sb) == 0) {
		st->dev = sb.st_dev;
		st->ino = sb.st_ino;
		st->mtime = sb.st_mtim;
		st->size = sb.st_size;
		st->valid = 1;
	}
}

int map_stamp_changed(const struct map_stamp *st, const char *path)
{
	struct map_stamp now;
	map_stamp_take(&now, path);
	if (!st->valid || !now.valid)
		return st->valid != now.valid;
	return now.dev != st->dev || now.ino != st->ino || now.size != st->size ||
	       now.mtime.tv_sec != st->mtime.tv_sec || now.mtime.tv_nsec != st->mtime.tv_nsec;
}

int map_changed(struct map *m)
{
	return m->ops->changed ? m->ops->changed(m) : 0;
}

const char *map_error(const struct map *m)
{
	return buf_str(&m->error);
}

int map_is_pattern(const struct map *m)
{
	return m->ops->pattern;
}

const char *map_type(const struct map *m)
{
	return m->type;
}

const char *map_name(const struct map *m)
{
	return m->name;
}

/*
 * Lists: "hash:/a, inline:{ a=b, c=d } static:x". Items are separated by
 * commas and/or white space, except inside { } (which inline: and
 * static:{...} use).
 */
struct maplist {
	struct map **maps;
	size_t count;
	struct buf error;
};

int map_split_list(const char *specs, char ***items_out, struct buf *err)
{
	char **items = NULL;
	size_t n = 0;
	const char *p = specs;
	for (;;) {
		while (*p == ',' || isspace((unsigned char)*p))
			p++;
		if (*p == '\0')
			break;
		const char *start = p;
		int depth = 0;
		for (; *p; p++) {
			if (*p == '{')
				depth++;
			else if (*p == '}' && depth > 0)
				depth--;
			else if (depth == 0 && (*p == ',' || isspace((unsigned char)*p)))
				break;
		}
		if (depth != 0) {
			buf_reset(err);
			buf_printf(err, "%s: missing '}'", start);
			for (size_t i = 0; i < n; i++)
				free(items[i]);
			free(items);
			return -1;
		}
		items = xreallocarray(items, n + 2, sizeof(*items));
		items[n++] = xstrndup(start, (size_t)(p - start));
		items[n] = NULL;
	}
	if (items == NULL)
		items = xcalloc(1, sizeof(*items));
	*items_out = items;
	return (int)n;
}

struct maplist *maplist_open(const char *specs, int flags, struct buf *err)
{
	char **items;
	int n = map_split_list(specs, &items, err);
	if (n < 0)
		return NULL;
	struct maplist *l = xcalloc(1, sizeof(*l));
	buf_init(&l->error);
	l->maps = xcalloc((size_t)n + 1, sizeof(*l->maps));
	for (int i = 0; i < n; i++) {
		struct map *m = map_open(items[i], flags, err);
		if (m == NULL) {
			for (int j = i; j < n; j++)
				free(items[j]);
			free(items);
			maplist_close(l);
			return NULL;
		}
		l->maps[l->count++] = m;
		free(items[i]);
	}
	free(items);
	return l;
}

int maplist_lookup(struct maplist *l, const char *key, struct buf *value)
{
	for (size_t i = 0; i < l->count; i++) {
		int r = map_lookup(l->maps[i], key, value);
		if (r != 0) {
			if (r < 0) {
				buf_reset(&l->error);
				buf_adds(&l->error, map_error(l->maps[i]));
			}
			return r;
		}
	}
	return 0;
}

const char *maplist_error(const struct maplist *l)
{
	return buf_str(&l->error);
}

void maplist_close(struct maplist *l)
{
	if (l == NULL)
		return;
	for (size_t i = 0; i < l->count; i++)
		map_close(l->maps[i]);
	free(l->maps);
	buf_free(&l->error);
	free(l);
}

int maplist_changed(struct maplist *l)
{
	for (size_t i = 0; i < l->count; i++)
		if (map_changed(l->maps[i]))
			return 1;
	return 0;
}
