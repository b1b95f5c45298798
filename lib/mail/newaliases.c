/*
 * newaliases.c - rebuild alias databases from aliases(5) sources (see
 * newaliases.h). Mail layer; runs as its caller, writing only PATH.db
 * and a temporary file beside it for each database it is given.
 */
#include "compat.h"

#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "mail/aliases.h"
#include "mail/newaliases.h"
#include "util/map.h"
#include "util/mem.h"

struct build {
	struct map *map;
	struct buf *diag;
	long naliases, longest, bytes;
	int write_failed;
};

static void on_warn(void *ctx, const char *file, unsigned line, const char *text)
{
	struct build *b = ctx;
	buf_printf(b->diag, "%s:%u: %s\n", file, line, text);
}

static int on_entry(void *ctx, const struct alias_entry *e)
{
	struct build *b = ctx;
	/* A repeated name replaces the earlier value, as in sendmail. */
	if (map_update(b->map, e->name, e->value) < 0) {
		buf_printf(b->diag, "%s\n", map_error(b->map));
		b->write_failed = 1;
		return -1;
	}
	long lhs = (long)strlen(e->name), rhs = (long)strlen(e->value);
	b->naliases++;
	b->bytes += lhs + rhs;
	if (rhs > b->longest)
		b->longest = rhs;
	return 0;
}

int newaliases_build(const char *spec, struct buf *out, struct buf *diag)
{
	char *type, *path;
	int status = EX_OK;
	if (map_spec_parse(spec, &type, &path) < 0 ||
	    (strcmp(type, "hash") != 0 && strcmp(type, "btree") != 0)) {
		buf_printf(diag, "%s: cannot build an alias database of type \"%s\" (use hash or btree)\n",
			   spec, type);
		free(type);
		free(path);
		return EX_CONFIG;
	}
	struct buf err = BUF_INIT;
	char *dbspec = xasprintf("%s:%s", type, path);
	struct build b = {.diag = diag};
	b.map = map_open(dbspec, MAP_WRITE | MAP_CREATE | MAP_TRUNC, &err);
	if (b.map == NULL) {
		buf_printf(diag, "%s\n", buf_str(&err));
		status = EX_CANTCREAT;
		goto out;
	}
	struct aliases_opts o = {.entry = on_entry, .warn = on_warn, .ctx = &b};
	int bad = aliases_read_file(path, &o, &err);
	if (bad < 0) {
		if (!b.write_failed)
			buf_printf(diag, "%s\n", buf_str(&err));
		map_discard(b.map);
		status = b.write_failed ? EX_CANTCREAT : EX_NOINPUT;
		goto out;
	}
	/* The marker sendmail's readers wait for: the rebuild is complete. */
	if (map_update(b.map, "@", "@") < 0) {
		buf_printf(diag, "%s\n", map_error(b.map));
		map_discard(b.map);
		status = EX_CANTCREAT;
		goto out;
	}
	if (map_close(b.map) < 0) {
		buf_printf(diag, "%s: cannot save the alias database\n", dbspec);
		status = EX_CANTCREAT;
		goto out;
	}
	buf_printf(out, "%s: %ld aliases, longest %ld bytes, %ld bytes total\n", path, b.naliases,
		   b.longest, b.bytes);
	if (bad > 0)
		status = EX_DATAERR;
out:
	buf_free(&err);
	free(dbspec);
	free(type);
	free(path);
	return status;
}

/* Which status wins when several databases fail: anything over bad lines. */
static int worse(int a, int b)
{
	if (a == EX_OK)
		return b;
	if (b == EX_OK || a != EX_DATAERR)
		return a;
	return b;
}

int newaliases_rebuild(char *const *specs, struct buf *out, struct buf *diag)
{
	int status = EX_OK;
	for (size_t i = 0; specs[i] != NULL; i++)
		status = worse(status, newaliases_build(specs[i], out, diag));
	return status;
}
