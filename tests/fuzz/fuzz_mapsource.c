/*
 * fuzz_mapsource.c - libFuzzer target for the map source reader
 * (lib/util/mapsource.c) and the map specs parsed from text: inline:{...},
 * static:{...} and map lists (lib/util/map.c, map_inline.c, map_static.c).
 * The first byte picks the reader's options; the rest is the input.
 * Runs as any user; opens no files.
 */
#include "compat.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/map.h"
#include "util/mapsource.h"
#include "util/mem.h"

static int on_entry(void *ctx, const struct mapsrc_entry *e)
{
	size_t *n = ctx;
	/* Keys are never empty and folded unless asked not to be. */
	if (e->key[0] == '\0' || e->line == 0 || e->first_line >= e->line)
		abort();
	(*n)++;
	return 0;
}

static void on_warn(void *ctx, const char *file, unsigned line, const char *text)
{
	(void)ctx;
	(void)file;
	(void)line;
	(void)text;
}

/* Open a spec made from the input; a success must answer lookups. */
static void try_spec(const char *prefix, const char *text)
{
	struct buf err = BUF_INIT, v = BUF_INIT, k = BUF_INIT;
	char *spec = xasprintf("%s%s", prefix, text);
	struct map *m = map_open(spec, 0, &err);
	if (m) {
		map_lookup(m, "a", &v);
		for (int r = map_iterate(m, 1, &k, &v); r == 1; r = map_iterate(m, 0, &k, &v))
			if (map_lookup(m, buf_str(&k), &v) != 1 && strlen(buf_str(&k)) == k.len)
				abort();	/* every listed key is found */
		map_close(m);
	} else if (err.len == 0 || strchr(buf_str(&err), '\n')) {
		abort();		/* a failure has a one-line reason */
	}
	free(spec);
	buf_free(&err);
	buf_free(&v);
	buf_free(&k);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	uint8_t sel = data[0];
	const char *text = (const char *)data + 1;
	size_t len = size - 1;
	size_t n = 0;
	struct mapsrc_opts o = {
		.flags = sel & 0x3f,
		.delim = (sel & 0x40) ? ':' : '\0',
		.comment = (sel & 0x80) ? ';' : '\0',
		.entry = on_entry,
		.warn = on_warn,
		.ctx = &n,
	};
	if (mapsrc_parse(text, len, "fuzz", &o) < 0)
		abort();	/* the callback never stops, so neither may the parser */

	/* The same bytes as a map spec, when they form a C string. */
	char *s = xstrndup(text, len);
	if (strlen(s) == len) {
		try_spec("inline:", s);
		try_spec("static:", s);
		char **items;
		struct buf err = BUF_INIT;
		int count = map_split_list(s, &items, &err);
		for (int i = 0; i < count; i++)
			free(items[i]);
		if (count >= 0)
			free(items);
		buf_free(&err);
	}
	free(s);
	return 0;
}
