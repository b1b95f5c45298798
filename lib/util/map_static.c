/*
 * map_static.c - the static: map type: every key finds the same value.
 *   static:value
 *   static:{ value with spaces }
 *
 * Generic utility layer; no files, no privileges. Read-only, and it has
 * no list of keys, so iterating is an error (as in Postfix).
 */
#include "compat.h"

#include <stdlib.h>
#include <string.h>

#include "util/map_impl.h"
#include "util/mem.h"

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

static int static_open(struct map *m, const char *name)
{
	if (*name != '{') {
		if (strchr(name, '}') != NULL) {
			map_set_error(m, "unexpected '}' (use static:{ value })");
			return -1;
		}
		m->priv = xstrdup(name);
		return 0;
	}
	size_t n = strlen(name);
	while (n > 1 && is_space(name[n - 1]))
		n--;
	if (n < 2 || name[n - 1] != '}') {
		map_set_error(m, "missing '}' (use static:{ value })");
		return -1;
	}
	const char *s = name + 1, *e = name + n - 1;
	while (s < e && is_space(*s))
		s++;
	while (e > s && is_space(e[-1]))
		e--;
	m->priv = xstrndup(s, (size_t)(e - s));
	return 0;
}

static int static_lookup(struct map *m, const char *key, struct buf *value)
{
	(void)key;
	buf_adds(value, m->priv);
	return 1;
}

static int static_iterate(struct map *m, int first, struct buf *key, struct buf *value)
{
	(void)first;
	(void)key;
	(void)value;
	map_set_error(m, "static maps have no keys to list");
	return -1;
}

static int static_close(struct map *m, int discard)
{
	(void)discard;
	free(m->priv);
	return 0;
}

const struct map_ops map_static_ops = {
	.type = "static",
	.open = static_open,
	.lookup = static_lookup,
	.iterate = static_iterate,
	.close = static_close,
};
