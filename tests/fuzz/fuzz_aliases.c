/*
 * fuzz_aliases.c - libFuzzer target for the aliases(5) parser and the
 * value splitter (lib/mail/aliases.c): every entry the parser accepts is
 * split into items, as local delivery will do.
 * Runs as any user; opens no files.
 */
#include "compat.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mail/aliases.h"
#include "util/buf.h"

static int on_entry(void *ctx, const struct alias_entry *e)
{
	(void)ctx;
	/* Names are non-empty, local, and never start a pipe or a path. */
	if (e->name[0] == '\0' || strchr(e->name, '@') || e->name[0] == '|' || e->name[0] == '/')
		abort();
	if (e->value[0] == '\0')
		abort();
	struct alias_item *items;
	struct buf err = BUF_INIT;
	int n = aliases_split_value(e->value, &items, &err);
	if (n < 0 && err.len == 0)
		abort();	/* a failure says why */
	for (int i = 0; i < n; i++)
		if (items[i].text[0] == '\0')
			abort();
	if (n >= 0)
		aliases_free_items(items, n);
	buf_free(&err);
	return 0;
}

static void on_warn(void *ctx, const char *file, unsigned line, const char *text)
{
	(void)ctx;
	(void)file;
	(void)line;
	(void)text;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct aliases_opts o = {.entry = on_entry, .warn = on_warn};
	if (aliases_parse((const char *)data, size, "fuzz", &o) < 0)
		abort();
	/* The raw bytes as one value, when they form a C string. */
	if (memchr(data, '\0', size) == NULL) {
		struct buf v = BUF_INIT;
		buf_add(&v, data, size);
		struct alias_entry e = {.name = "x", .value = buf_str(&v), .file = "fuzz", .line = 1};
		if (v.len > 0)
			on_entry(NULL, &e);
		buf_free(&v);
	}
	return 0;
}
