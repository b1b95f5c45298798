/*
 * map_inline.c - the inline: map type, Postfix's syntax:
 *   inline:{ key=value, key2=value2, { key3 = value with spaces } }
 * Items are separated by commas and/or white space; an item in its own
 * braces may have spaces around '=' and inside the value.
 *
 * Generic utility layer; no files, no privileges. Read-only. Malformed
 * specs (no braces, an item without '=', an empty key, a missing '}', a
 * repeated key, no items) fail map_open() with one line.
 */
#include "compat.h"

#include <stdlib.h>
#include <string.h>

#include "util/map_impl.h"
#include "util/mem.h"
#include "util/strtab.h"

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

/* Trim [*s, *e) of white space. */
static void trim(const char **s, const char **e)
{
	while (*s < *e && is_space(**s))
		(*s)++;
	while (*e > *s && is_space((*e)[-1]))
		(*e)--;
}

/* One item "key=value" in [s, e); 0 ok, -1 with the map's error set. */
static int add_item(struct map *m, struct strtab *t, const char *s, const char *e)
{
	const char *eq = memchr(s, '=', (size_t)(e - s));
	if (eq == NULL) {
		map_set_error(m, "missing '=' in \"%.*s\"", (int)(e - s), s);
		return -1;
	}
	const char *ks = s, *ke = eq, *vs = eq + 1, *ve = e;
	trim(&ks, &ke);
	trim(&vs, &ve);
	if (ks == ke) {
		map_set_error(m, "empty key in \"%.*s\"", (int)(e - s), s);
		return -1;
	}
	char *key = xstrndup(ks, (size_t)(ke - ks));
	char *value = xstrndup(vs, (size_t)(ve - vs));
	if (!(m->flags & MAP_NOFOLD))
		map_fold(key);
	int added;
	strtab_put(t, key, value, 0, 0, &added);
	if (!added)
		map_set_error(m, "duplicate key \"%s\"", key);
	free(key);
	free(value);
	return added ? 0 : -1;
}

static int parse(struct map *m, const char *name, struct strtab *t)
{
	const char *s = name, *e = name + strlen(name);
	trim(&s, &e);
	if (e - s < 2 || *s != '{' || e[-1] != '}') {
		map_set_error(m, "expected inline:{ key=value, ... }");
		return -1;
	}
	s++;
	e--;
	while (s < e) {
		while (s < e && (is_space(*s) || *s == ','))
			s++;
		if (s == e)
			break;
		if (*s == '{') {
			/* A braced item runs to its matching '}'. */
			const char *p = s + 1;
			int depth = 1;
			for (; p < e && depth > 0; p++) {
				if (*p == '{')
					depth++;
				else if (*p == '}')
					depth--;
			}
			if (depth > 0) {
				map_set_error(m, "missing '}' after \"%.*s\"", (int)(e - s), s);
				return -1;
			}
			if (add_item(m, t, s + 1, p - 1) < 0)
				return -1;
			s = p;
		} else {
			const char *p = s;
			while (p < e && !is_space(*p) && *p != ',') {
				if (*p == '{' || *p == '}') {
					map_set_error(m, "unexpected '%c' in \"%.*s\"", *p, (int)(e - s), s);
					return -1;
				}
				p++;
			}
			if (add_item(m, t, s, p) < 0)
				return -1;
			s = p;
		}
	}
	if (t->count == 0) {
		map_set_error(m, "empty table");
		return -1;
	}
	return 0;
}

static int inline_open(struct map *m, const char *name)
{
	struct memmap *mm = xcalloc(1, sizeof(*mm));
	strtab_init(&mm->tab);
	if (parse(m, name, &mm->tab) < 0) {
		strtab_free(&mm->tab);
		free(mm);
		return -1;
	}
	m->priv = mm;
	return 0;
}

const struct map_ops map_inline_ops = {
	.type = "inline",
	.open = inline_open,
	.lookup = map_mem_lookup,
	.iterate = map_mem_iterate,
	.close = map_mem_close,
};
