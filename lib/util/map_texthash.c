/*
 * map_texthash.c - the texthash: map type: a "key value" source file read
 * straight into memory when the map is opened, as Postfix's texthash:.
 *
 * Generic utility layer; reads the file with the caller's privileges.
 * Read-only. A duplicate key keeps its first value (with a warning with
 * file and line, as postmap does).
 */
#include "compat.h"

#include <stdlib.h>

#include "util/map_impl.h"
#include "util/mapsource.h"
#include "util/mem.h"
#include "util/strtab.h"

/* The in-memory part is shared with inline: (map_mem_* in map_impl.h). */

static int add_entry(void *ctx, const struct mapsrc_entry *e)
{
	struct strtab *t = ctx;
	if (e->first_line == 0)
		strtab_put(t, e->key, e->value, e->line, 0, NULL);
	return 0;
}

static int texthash_open(struct map *m, const char *name)
{
	struct memmap *mm = xcalloc(1, sizeof(*mm));
	strtab_init(&mm->tab);
	struct mapsrc_opts o = {
		.flags = (m->flags & MAP_NOFOLD) ? MAPSRC_NOFOLD : 0,
		.entry = add_entry,
		.ctx = &mm->tab,
	};
	struct buf err = BUF_INIT;
	if (mapsrc_read_file(name, &o, &err) < 0) {
		map_set_error(m, "%s", buf_str(&err));
		buf_free(&err);
		strtab_free(&mm->tab);
		free(mm);
		return -1;
	}
	buf_free(&err);
	mm->path = xstrdup(name);
	/* Taken after reading: a change during the read shows up as a change. */
	map_stamp_take(&mm->stamp, name);
	m->priv = mm;
	return 0;
}

static int texthash_changed(struct map *m)
{
	struct memmap *mm = m->priv;
	return map_stamp_changed(&mm->stamp, mm->path);
}

int map_mem_lookup(struct map *m, const char *key, struct buf *value)
{
	struct memmap *mm = m->priv;
	struct strtab_entry *e = strtab_find(&mm->tab, key);
	if (e == NULL)
		return 0;
	buf_adds(value, e->value);
	return 1;
}

int map_mem_iterate(struct map *m, int first, struct buf *key, struct buf *value)
{
	struct memmap *mm = m->priv;
	if (first)
		mm->pos = 0;
	struct strtab_entry *e = strtab_next(&mm->tab, &mm->pos);
	if (e == NULL)
		return 0;
	buf_adds(key, e->key);
	buf_adds(value, e->value);
	return 1;
}

int map_mem_close(struct map *m, int discard)
{
	(void)discard;
	struct memmap *mm = m->priv;
	strtab_free(&mm->tab);
	free(mm->path);
	free(mm);
	return 0;
}

const struct map_ops map_texthash_ops = {
	.type = "texthash",
	.open = texthash_open,
	.lookup = map_mem_lookup,
	.iterate = map_mem_iterate,
	.changed = texthash_changed,
	.close = map_mem_close,
};
