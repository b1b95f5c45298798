/*
 * test_map.c - Check suite for the map API (lib/util/map.c and its
 * backends map_db.c, map_texthash.c, map_inline.c, map_static.c).
 * Runs unprivileged in a temporary directory.
 */
#include "compat.h"

#include <check.h>
#include <db.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/map.h"
#include "util/mem.h"

static char tmpdir[] = "/tmp/tern-test-map.XXXXXX";

static void setup(void)
{
	strlcpy(tmpdir, "/tmp/tern-test-map.XXXXXX", sizeof(tmpdir));
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void teardown(void)
{
	char *cmd = xasprintf("rm -rf '%s'", tmpdir);
	ck_assert_int_eq(system(cmd), 0);
	free(cmd);
}

static char *path(const char *name)
{
	return xasprintf("%s/%s", tmpdir, name);
}

static void write_file(const char *p, const char *text)
{
	FILE *f = fopen(p, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
}

/* Raw Berkeley DB get, to see the stored form. Returns the value size or -1. */
static int raw_get(const char *file, DBTYPE type, const void *key, size_t klen, struct buf *out)
{
	DB *db;
	ck_assert_int_eq(db_create(&db, NULL, 0), 0);
	ck_assert_int_eq(db->open(db, NULL, file, NULL, type, DB_RDONLY, 0), 0);
	DBT k = {.data = (void *)key, .size = (u_int32_t)klen}, v;
	memset(&v, 0, sizeof(v));
	int r = db->get(db, NULL, &k, &v, 0);
	int size = -1;
	if (r == 0) {
		size = (int)v.size;
		buf_reset(out);
		buf_add(out, v.data, v.size);
	}
	db->close(db, 0);
	return size;
}

static const struct kv {
	const char *key, *value;
} entries[] = {
	{"root", "admin@example.com"},
	{"postmaster", "root"},
	{"list", "a, b, \"|/usr/bin/prog arg\""},
	{"mixedcase", "Value Keeps Case"},
	{"@", "@"},
};
#define NENTRIES (sizeof(entries) / sizeof(entries[0]))

static void build(const char *spec, int extra)
{
	struct buf err = BUF_INIT;
	struct map *m = map_open(spec, MAP_WRITE | MAP_CREATE | MAP_TRUNC | extra, &err);
	ck_assert_msg(m != NULL, "%s", buf_str(&err));
	for (size_t i = 0; i < NENTRIES; i++)
		ck_assert_int_eq(map_update(m, entries[i].key, entries[i].value), 1);
	ck_assert_int_eq(map_close(m), 0);
	buf_free(&err);
}

static const char *const db_types[] = {"hash", "btree"};

START_TEST(test_db_build_lookup_iterate)
{
	char *base = path("t");
	char *spec = xasprintf("%s:%s", db_types[_i], base);
	char *dbfile = xasprintf("%s.db", base);
	build(spec, 0);
	struct stat st;
	ck_assert_int_eq(stat(dbfile, &st), 0);

	struct buf err = BUF_INIT, v = BUF_INIT, k = BUF_INIT;
	struct map *m = map_open(spec, MAP_RDONLY, &err);
	ck_assert_msg(m != NULL, "%s", buf_str(&err));
	ck_assert_str_eq(map_type(m), db_types[_i]);
	ck_assert_str_eq(map_name(m), base);
	for (size_t i = 0; i < NENTRIES; i++) {
		ck_assert_int_eq(map_lookup(m, entries[i].key, &v), 1);
		ck_assert_str_eq(buf_str(&v), entries[i].value);
	}
	/* Lookups fold the key. */
	ck_assert_int_eq(map_lookup(m, "PostMaster", &v), 1);
	ck_assert_str_eq(buf_str(&v), "root");
	ck_assert_int_eq(map_lookup(m, "nobody", &v), 0);
	/* A read-only map refuses writes with a reason. */
	ck_assert_int_eq(map_update(m, "x", "y"), -1);
	ck_assert_ptr_nonnull(strstr(map_error(m), "read-only"));
	/* Iteration sees every entry once, without the trailing NUL. */
	size_t seen = 0;
	for (int r = map_iterate(m, 1, &k, &v); r == 1; r = map_iterate(m, 0, &k, &v)) {
		int found = 0;
		for (size_t i = 0; i < NENTRIES; i++)
			if (strcmp(entries[i].key, buf_str(&k)) == 0) {
				ck_assert_str_eq(entries[i].value, buf_str(&v));
				ck_assert_uint_eq(k.len, strlen(entries[i].key));
				found = 1;
			}
		ck_assert_msg(found, "unexpected key %s", buf_str(&k));
		seen++;
	}
	ck_assert_uint_eq(seen, NENTRIES);
	ck_assert_int_eq(map_close(m), 0);

	/* Stored with the NUL, as sendmail's aliases and postmap store them. */
	DBTYPE type = _i == 0 ? DB_HASH : DB_BTREE;
	ck_assert_int_eq(raw_get(dbfile, type, "root", 5, &v), (int)strlen("admin@example.com") + 1);
	ck_assert_int_eq(raw_get(dbfile, type, "root", 4, &v), -1);
	ck_assert_int_eq(raw_get(dbfile, type, "@", 2, &v), 2);
	ck_assert_int_eq(memcmp(v.data, "@", 2), 0);
	buf_free(&err);
	buf_free(&v);
	buf_free(&k);
	free(base);
	free(spec);
	free(dbfile);
}
END_TEST

START_TEST(test_db_no_nul_form)
{
	char *base = path("nonul");
	char *spec = xasprintf("%s:%s", db_types[_i], base);
	char *dbfile = xasprintf("%s.db", base);
	build(spec, MAP_NO_NUL);
	struct buf err = BUF_INIT, v = BUF_INIT;
	DBTYPE type = _i == 0 ? DB_HASH : DB_BTREE;
	/* Stored without the NUL (makemap's default form) ... */
	ck_assert_int_eq(raw_get(dbfile, type, "root", 4, &v), (int)strlen("admin@example.com"));
	ck_assert_int_eq(raw_get(dbfile, type, "root", 5, &v), -1);
	/* ... and still found by a reader that tries both. */
	struct map *m = map_open(spec, 0, &err);
	ck_assert_ptr_nonnull(m);
	ck_assert_int_eq(map_lookup(m, "ROOT", &v), 1);
	ck_assert_str_eq(buf_str(&v), "admin@example.com");
	ck_assert_int_eq(map_close(m), 0);
	buf_free(&err);
	buf_free(&v);
	free(base);
	free(spec);
	free(dbfile);
}
END_TEST

START_TEST(test_db_update_delete_in_place)
{
	char *base = path("upd");
	char *spec = xasprintf("%s:%s", db_types[_i], base);
	build(spec, 0);
	struct buf err = BUF_INIT, v = BUF_INIT;
	struct map *m = map_open(spec, MAP_WRITE, &err);
	ck_assert_msg(m != NULL, "%s", buf_str(&err));
	ck_assert_int_eq(map_update(m, "NewKey", "new value"), 1);
	ck_assert_int_eq(map_update(m, "root", "changed"), 1);
	ck_assert_int_eq(map_delete(m, "POSTMASTER"), 1);
	ck_assert_int_eq(map_delete(m, "postmaster"), 0);
	ck_assert_int_eq(map_close(m), 0);

	m = map_open(spec, 0, &err);
	ck_assert_ptr_nonnull(m);
	ck_assert_int_eq(map_lookup(m, "newkey", &v), 1);
	ck_assert_str_eq(buf_str(&v), "new value");
	ck_assert_int_eq(map_lookup(m, "root", &v), 1);
	ck_assert_str_eq(buf_str(&v), "changed");
	ck_assert_int_eq(map_lookup(m, "postmaster", &v), 0);
	ck_assert_int_eq(map_close(m), 0);

	/* MAP_NOFOLD keeps the case of keys on write and lookup. */
	m = map_open(spec, MAP_WRITE | MAP_NOFOLD, &err);
	ck_assert_ptr_nonnull(m);
	ck_assert_int_eq(map_update(m, "CaseKey", "1"), 1);
	ck_assert_int_eq(map_lookup(m, "casekey", &v), 0);
	ck_assert_int_eq(map_lookup(m, "CaseKey", &v), 1);
	ck_assert_int_eq(map_close(m), 0);
	m = map_open(spec, 0, &err);
	ck_assert_int_eq(map_lookup(m, "CaseKey", &v), 0);	/* folded lookup misses it */
	ck_assert_int_eq(map_close(m), 0);
	buf_free(&err);
	buf_free(&v);
	free(base);
	free(spec);
}
END_TEST

START_TEST(test_db_update_replaces_other_form)
{
	/* A key stored without NUL, then updated by a NUL writer: one entry remains. */
	char *base = path("forms");
	char *spec = xasprintf("%s:%s", db_types[_i], base);
	build(spec, MAP_NO_NUL);
	struct buf err = BUF_INIT, k = BUF_INIT, v = BUF_INIT;
	struct map *m = map_open(spec, MAP_WRITE, &err);
	ck_assert_int_eq(map_update(m, "root", "new"), 1);
	size_t n = 0, roots = 0;
	for (int r = map_iterate(m, 1, &k, &v); r == 1; r = map_iterate(m, 0, &k, &v)) {
		n++;
		if (strcmp(buf_str(&k), "root") == 0) {
			roots++;
			ck_assert_str_eq(buf_str(&v), "new");
		}
	}
	ck_assert_uint_eq(n, NENTRIES);
	ck_assert_uint_eq(roots, 1);
	ck_assert_int_eq(map_close(m), 0);
	buf_free(&err);
	buf_free(&k);
	buf_free(&v);
	free(base);
	free(spec);
}
END_TEST

START_TEST(test_db_discard_keeps_old)
{
	char *base = path("keep");
	char *spec = xasprintf("%s:%s", db_types[_i], base);
	build(spec, 0);
	struct buf err = BUF_INIT, v = BUF_INIT;
	struct map *m = map_open(spec, MAP_WRITE | MAP_CREATE | MAP_TRUNC, &err);
	ck_assert_ptr_nonnull(m);
	ck_assert_int_eq(map_update(m, "only", "this"), 1);
	/* Until the rebuild is closed, readers see the old table. */
	struct map *r = map_open(spec, 0, &err);
	ck_assert_int_eq(map_lookup(r, "root", &v), 1);
	ck_assert_int_eq(map_close(r), 0);
	map_discard(m);
	r = map_open(spec, 0, &err);
	ck_assert_int_eq(map_lookup(r, "root", &v), 1);
	ck_assert_int_eq(map_lookup(r, "only", &v), 0);
	ck_assert_int_eq(map_close(r), 0);
	/* No temporary file is left behind. */
	char *cmd = xasprintf("ls '%s' | grep -c tmp", tmpdir);
	FILE *p = popen(cmd, "r");
	char line[32] = "";
	ck_assert_ptr_nonnull(fgets(line, sizeof(line), p));
	pclose(p);
	ck_assert_str_eq(line, "0\n");
	free(cmd);
	buf_free(&err);
	buf_free(&v);
	free(base);
	free(spec);
}
END_TEST

START_TEST(test_db_rebuild_keeps_mode)
{
	char *base = path("mode");
	char *spec = xasprintf("%s:%s", db_types[_i], base);
	char *dbfile = xasprintf("%s.db", base);
	build(spec, 0);
	ck_assert_int_eq(chmod(dbfile, 0640), 0);
	build(spec, 0);
	struct stat st;
	ck_assert_int_eq(stat(dbfile, &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, 0640);
	free(base);
	free(spec);
	free(dbfile);
}
END_TEST

static const struct open_fail {
	const char *spec;	/* %s = the temporary directory */
	const char *file;	/* created first with this content, or NULL */
	int flags;
	const char *want;	/* substring of the error */
} open_fails[] = {
	{.spec = "hash:%s/missing", .want = "No such file or directory"},
	{.spec = "btree:%s/missing", .want = "No such file or directory"},
	{.spec = "%s/missing", .want = "hash:"},
	{.spec = "hash:%s/garbage", .file = "garbage.db", .want = "garbage.db"},
	{.spec = "btree:%s/garbage", .file = "garbage.db", .want = "garbage.db"},
	{.spec = "hash:%s/nodir/x", .flags = MAP_WRITE | MAP_CREATE | MAP_TRUNC, .want = "nodir"},
	{.spec = "texthash:%s/missing", .want = "No such file or directory"},
	{.spec = "texthash:%s/t", .file = "t", .flags = MAP_WRITE, .want = "read-only"},
	{.spec = "inline:{a=b}", .flags = MAP_WRITE, .want = "read-only"},
	{.spec = "bogus:%s/x", .want = "unsupported map type \"bogus\""},
	{.spec = "hash:", .want = "empty map name"},
};

START_TEST(test_open_failures)
{
	const struct open_fail *t = &open_fails[_i];
	if (t->file) {
		char *p = path(t->file);
		write_file(p, "this is not a Berkeley DB file at all, just some text\n");
		free(p);
	}
	char *spec = xasprintf(t->spec, tmpdir);
	struct buf err = BUF_INIT;
	struct map *m = map_open(spec, t->flags, &err);
	ck_assert_msg(m == NULL, "%s opened", spec);
	ck_assert_msg(strstr(buf_str(&err), t->want) != NULL, "%s: error \"%s\" lacks \"%s\"",
		      spec, buf_str(&err), t->want);
	ck_assert_ptr_null(strchr(buf_str(&err), '\n'));
	buf_free(&err);
	free(spec);
}
END_TEST

START_TEST(test_texthash)
{
	char *src = path("aliases");
	write_file(src, "# comment\n"
		   "Root   admin@example.com\n"
		   "list a,\n"
		   "  b, c\n"
		   "\n"
		   "   # indented comment inside\n"
		   "dup first\n"
		   "dup second\n"
		   "novalue\n"
		   "Case\tKeep Case  \n");
	char *spec = xasprintf("texthash:%s", src);
	struct buf err = BUF_INIT, k = BUF_INIT, v = BUF_INIT;
	struct map *m = map_open(spec, 0, &err);
	ck_assert_msg(m != NULL, "%s", buf_str(&err));
	ck_assert_int_eq(map_lookup(m, "ROOT", &v), 1);
	ck_assert_str_eq(buf_str(&v), "admin@example.com");
	ck_assert_int_eq(map_lookup(m, "list", &v), 1);
	ck_assert_str_eq(buf_str(&v), "a,  b, c");
	ck_assert_int_eq(map_lookup(m, "dup", &v), 1);
	ck_assert_str_eq(buf_str(&v), "first");
	ck_assert_int_eq(map_lookup(m, "novalue", &v), 0);
	ck_assert_int_eq(map_lookup(m, "case", &v), 1);
	ck_assert_str_eq(buf_str(&v), "Keep Case");
	ck_assert_int_eq(map_update(m, "a", "b"), -1);
	const char *want_keys[] = {"root", "list", "dup", "case"};
	size_t n = 0;
	for (int r = map_iterate(m, 1, &k, &v); r == 1; r = map_iterate(m, 0, &k, &v)) {
		ck_assert_uint_lt(n, 4);
		ck_assert_str_eq(buf_str(&k), want_keys[n]);
		n++;
	}
	ck_assert_uint_eq(n, 4);
	ck_assert_int_eq(map_close(m), 0);
	/* MAP_NOFOLD keeps keys as written. */
	m = map_open(spec, MAP_NOFOLD, &err);
	ck_assert_int_eq(map_lookup(m, "root", &v), 0);
	ck_assert_int_eq(map_lookup(m, "Root", &v), 1);
	ck_assert_int_eq(map_close(m), 0);
	buf_free(&err);
	buf_free(&k);
	buf_free(&v);
	free(src);
	free(spec);
}
END_TEST

static const struct lookup_case {
	const char *spec;
	int flags;
	const char *key;
	int want;
	const char *value;
} lookups[] = {
	{.spec = "inline:{ a=1, b=2 }", .key = "a", .want = 1, .value = "1"},
	{.spec = "inline:{ a=1, b=2 }", .key = "B", .want = 1, .value = "2"},
	{.spec = "inline:{ a=1, b=2 }", .key = "c", .want = 0},
	{.spec = "inline:{a=1,b=2}", .key = "b", .want = 1, .value = "2"},
	{.spec = "inline:{ { key = value with spaces }, x=y }", .key = "key", .want = 1,
	 .value = "value with spaces"},
	{.spec = "inline:{ { key = value with spaces }, x=y }", .key = "x", .want = 1, .value = "y"},
	{.spec = "inline:{ Upper=V }", .key = "upper", .want = 1, .value = "V"},
	{.spec = "inline:{ Upper=V }", .flags = MAP_NOFOLD, .key = "upper", .want = 0},
	{.spec = "inline:{ Upper=V }", .flags = MAP_NOFOLD, .key = "Upper", .want = 1, .value = "V"},
	{.spec = "inline:{ empty= }", .key = "empty", .want = 1, .value = ""},
	{.spec = "inline:{ a=b=c }", .key = "a", .want = 1, .value = "b=c"},
	{.spec = "static:OK", .key = "anything", .want = 1, .value = "OK"},
	{.spec = "static:{ value with spaces }", .key = "x", .want = 1, .value = "value with spaces"},
	{.spec = "static:", .key = "x", .want = 1, .value = ""},
	{.spec = "static:{}", .key = "x", .want = 1, .value = ""},
};

START_TEST(test_lookup_table)
{
	const struct lookup_case *t = &lookups[_i];
	struct buf err = BUF_INIT, v = BUF_INIT;
	struct map *m = map_open(t->spec, t->flags, &err);
	ck_assert_msg(m != NULL, "%s: %s", t->spec, buf_str(&err));
	ck_assert_int_eq(map_lookup(m, t->key, &v), t->want);
	if (t->want == 1)
		ck_assert_str_eq(buf_str(&v), t->value);
	ck_assert_int_eq(map_close(m), 0);
	buf_free(&err);
	buf_free(&v);
}
END_TEST

static const struct malformed {
	const char *spec;
	const char *want;
} malformed[] = {
	{"inline:a=b", "expected inline:{"},
	{"inline:{a=b", "expected inline:{"},
	{"inline:{ noequals }", "missing '='"},
	{"inline:{ =value }", "empty key"},
	{"inline:{ { a = b }", "missing '}'"},
	{"inline:{ { a b } }", "missing '='"},
	{"inline:{ a=1, a=2 }", "duplicate key \"a\""},
	{"inline:{ A=1, a=2 }", "duplicate key \"a\""},
	{"inline:{ }", "empty table"},
	{"inline:{ , , }", "empty table"},
	{"inline:{ a={b }", "unexpected '{'"},
	{"inline:", "empty map name"},
	{"static:{ unterminated", "missing '}'"},
	{"static:value}", "unexpected '}'"},
};

START_TEST(test_malformed_specs)
{
	struct buf err = BUF_INIT;
	struct map *m = map_open(malformed[_i].spec, 0, &err);
	ck_assert_msg(m == NULL, "%s opened", malformed[_i].spec);
	ck_assert_msg(strstr(buf_str(&err), malformed[_i].want) != NULL, "%s: \"%s\"",
		      malformed[_i].spec, buf_str(&err));
	buf_free(&err);
}
END_TEST

START_TEST(test_inline_iterate_static_iterate)
{
	struct buf err = BUF_INIT, k = BUF_INIT, v = BUF_INIT;
	struct map *m = map_open("inline:{ b=2, a=1, { c = 3 3 } }", 0, &err);
	ck_assert_ptr_nonnull(m);
	struct buf all = BUF_INIT;
	for (int r = map_iterate(m, 1, &k, &v); r == 1; r = map_iterate(m, 0, &k, &v))
		buf_printf(&all, "%s=%s;", buf_str(&k), buf_str(&v));
	ck_assert_str_eq(buf_str(&all), "b=2;a=1;c=3 3;");
	/* Restarting gives the first entry again. */
	ck_assert_int_eq(map_iterate(m, 1, &k, &v), 1);
	ck_assert_str_eq(buf_str(&k), "b");
	ck_assert_int_eq(map_close(m), 0);
	m = map_open("static:x", 0, &err);
	ck_assert_int_eq(map_iterate(m, 1, &k, &v), -1);
	ck_assert_ptr_nonnull(strstr(map_error(m), "static:x:"));
	ck_assert_int_eq(map_close(m), 0);
	buf_free(&all);
	buf_free(&err);
	buf_free(&k);
	buf_free(&v);
}
END_TEST

START_TEST(test_maplist)
{
	char *base = path("list");
	char *spec = xasprintf("hash:%s", base);
	build(spec, 0);
	char *specs = xasprintf("inline:{ root=override, { x = y z } }, %s static:{ catch all }", spec);
	struct buf err = BUF_INIT, v = BUF_INIT;
	struct maplist *l = maplist_open(specs, 0, &err);
	ck_assert_msg(l != NULL, "%s", buf_str(&err));
	ck_assert_int_eq(maplist_lookup(l, "root", &v), 1);
	ck_assert_str_eq(buf_str(&v), "override");
	ck_assert_int_eq(maplist_lookup(l, "Postmaster", &v), 1);
	ck_assert_str_eq(buf_str(&v), "root");
	ck_assert_int_eq(maplist_lookup(l, "x", &v), 1);
	ck_assert_str_eq(buf_str(&v), "y z");
	ck_assert_int_eq(maplist_lookup(l, "nobody", &v), 1);
	ck_assert_str_eq(buf_str(&v), "catch all");
	maplist_close(l);

	/* One bad map fails the whole list, naming it. */
	l = maplist_open("inline:{a=b}, hash:/nonexistent/tern", 0, &err);
	ck_assert_ptr_null(l);
	ck_assert_ptr_nonnull(strstr(buf_str(&err), "/nonexistent/tern.db"));
	l = maplist_open("inline:{a=b", 0, &err);
	ck_assert_ptr_null(l);
	ck_assert_ptr_nonnull(strstr(buf_str(&err), "missing '}'"));
	/* An empty list finds nothing. */
	l = maplist_open(" , ", 0, &err);
	ck_assert_ptr_nonnull(l);
	ck_assert_int_eq(maplist_lookup(l, "a", &v), 0);
	maplist_close(l);
	buf_free(&err);
	buf_free(&v);
	free(base);
	free(spec);
	free(specs);
}
END_TEST

START_TEST(test_split_list)
{
	char **items;
	struct buf err = BUF_INIT;
	int n = map_split_list(" hash:/a,btree:/b  inline:{ a=1, { b = 2 } },static:{ x y }", &items, &err);
	ck_assert_int_eq(n, 4);
	ck_assert_str_eq(items[0], "hash:/a");
	ck_assert_str_eq(items[1], "btree:/b");
	ck_assert_str_eq(items[2], "inline:{ a=1, { b = 2 } }");
	ck_assert_str_eq(items[3], "static:{ x y }");
	ck_assert_ptr_null(items[4]);
	for (int i = 0; i < n; i++)
		free(items[i]);
	free(items);
	buf_free(&err);
}
END_TEST

START_TEST(test_changed)
{
	char *base = path("chg");
	char *spec = xasprintf("hash:%s", base);
	build(spec, 0);
	char *src = path("chg.txt");
	write_file(src, "a 1\n");
	char *tspec = xasprintf("texthash:%s", src);
	struct buf err = BUF_INIT, v = BUF_INIT;
	struct map *m = map_open(spec, 0, &err);
	struct map *t = map_open(tspec, 0, &err);
	char *lspec = xasprintf("inline:{x=y} %s", spec);
	struct maplist *l = maplist_open(lspec, 0, &err);
	ck_assert_ptr_nonnull(m);
	ck_assert_ptr_nonnull(t);
	ck_assert_ptr_nonnull(l);
	ck_assert_int_eq(map_changed(m), 0);
	ck_assert_int_eq(map_changed(t), 0);
	ck_assert_int_eq(maplist_changed(l), 0);
	/* A rebuild renames a new file over the table: readers are told. */
	build(spec, 0);
	ck_assert_int_eq(map_changed(m), 1);
	ck_assert_int_eq(maplist_changed(l), 1);
	/* A rewritten source (another size) for texthash:. */
	write_file(src, "a 1\nb 2\n");
	ck_assert_int_eq(map_changed(t), 1);
	map_close(m);
	map_close(t);
	maplist_close(l);
	/* inline: and static: never change. */
	m = map_open("static:x", 0, &err);
	ck_assert_int_eq(map_changed(m), 0);
	map_close(m);
	buf_free(&err);
	buf_free(&v);
	free(base);
	free(spec);
	free(src);
	free(tspec);
	free(lspec);
}
END_TEST

START_TEST(test_damaged_table)
{
	/* A hash table whose meta page claims 8454145 buckets. */
	char *base = path("damaged");
	char *spec = xasprintf("hash:%s", base);
	char *dbfile = xasprintf("%s.db", base);
	char *cmd = xasprintf("cp '%s/tests/fixtures/maps/postmap-hash.db' '%s'", TERN_BUILD_DIR, dbfile);
	ck_assert_int_eq(system(cmd), 0);
	int fd = open(dbfile, O_WRONLY);
	ck_assert_int_ge(fd, 0);
	uint32_t max_bucket = 8454145;
	ck_assert_int_eq(pwrite(fd, &max_bucket, sizeof(max_bucket), 72), 4);
	close(fd);
	struct stat before, after;
	ck_assert_int_eq(stat(dbfile, &before), 0);
	struct buf err = BUF_INIT, k = BUF_INIT, v = BUF_INIT;
	/* Opening it for reading fails with a reason (it is verified before
	 * its first use) instead of looping in a listing, and never writes. */
	struct map *m = map_open(spec, 0, &err);
	ck_assert_ptr_null(m);
	ck_assert_ptr_nonnull(strstr(buf_str(&err), "damaged"));
	ck_assert_int_eq(stat(dbfile, &after), 0);
	ck_assert_int_eq(before.st_size, after.st_size);
	buf_free(&err);
	buf_free(&k);
	buf_free(&v);
	free(cmd);
	free(base);
	free(spec);
	free(dbfile);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("map");
	TCase *tc = tcase_create("db");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_db_build_lookup_iterate, 0, 2);
	tcase_add_loop_test(tc, test_db_no_nul_form, 0, 2);
	tcase_add_loop_test(tc, test_db_update_delete_in_place, 0, 2);
	tcase_add_loop_test(tc, test_db_update_replaces_other_form, 0, 2);
	tcase_add_loop_test(tc, test_db_discard_keeps_old, 0, 2);
	tcase_add_loop_test(tc, test_db_rebuild_keeps_mode, 0, 2);
	tcase_add_loop_test(tc, test_open_failures, 0, sizeof(open_fails) / sizeof(open_fails[0]));
	suite_add_tcase(s, tc);
	tc = tcase_create("memory");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_texthash);
	tcase_add_loop_test(tc, test_lookup_table, 0, sizeof(lookups) / sizeof(lookups[0]));
	tcase_add_loop_test(tc, test_malformed_specs, 0, sizeof(malformed) / sizeof(malformed[0]));
	tcase_add_test(tc, test_inline_iterate_static_iterate);
	tcase_add_test(tc, test_maplist);
	tcase_add_test(tc, test_split_list);
	tcase_add_test(tc, test_changed);
	tcase_add_test(tc, test_damaged_table);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
