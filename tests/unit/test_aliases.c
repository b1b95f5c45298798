/*
 * test_aliases.c - Check suite for the aliases(5) parser, the value
 * splitter (lib/mail/aliases.c) and the database builder behind
 * newaliases (lib/mail/newaliases.c), checked against a database and a
 * summary line made by sendmail's own newaliases (tests/fixtures/maps).
 * Runs as any user, in a temporary directory.
 */
#include "compat.h"

#include <check.h>
#include <db.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "mail/aliases.h"
#include "mail/newaliases.h"
#include "util/buf.h"
#include "util/map.h"
#include "util/mem.h"

#define FIXTURES TERN_BUILD_DIR "/tests/fixtures/maps"

struct result {
	struct buf entries;	/* "name=value@line;" (+ "dup<first>") */
	struct buf warnings;	/* "line:text|" */
};

static int on_entry(void *ctx, const struct alias_entry *e)
{
	struct result *r = ctx;
	buf_printf(&r->entries, "%s=%s@%u", e->name, e->value, e->line);
	if (e->first_line)
		buf_printf(&r->entries, "dup%u", e->first_line);
	buf_addc(&r->entries, ';');
	return 0;
}

static void on_warn(void *ctx, const char *file, unsigned line, const char *text)
{
	struct result *r = ctx;
	ck_assert_str_eq(file, "aliases");
	buf_printf(&r->warnings, "%u:%s|", line, text);
}

static const struct parse_row {
	const char *name, *text;
	size_t len;
	const char *want, *want_warn;
	int want_ret;
} parse_rows[] = {
	{.name = "simple", .text = "root: admin\n", .want = "root=admin@1;"},
	{.name = "several values", .text = "list: a, b@example.com, c\n", .want = "list=a, b@example.com, c@1;"},
	{.name = "fold name", .text = "PostMaster: Root\n", .want = "postmaster=Root@1;"},
	{.name = "no space after colon", .text = "a:b\n", .want = "a=b@1;"},
	{.name = "space before colon", .text = "a  :  b  \n", .want = "a=b@1;"},
	{.name = "continuation", .text = "list: a,\n  b,\n\tc\nnext: x\n", .want = "list=a,  b,\tc@1;next=x@4;"},
	{.name = "backslash newline", .text = "bs: one, \\\ntwo\nx: y\n", .want = "bs=one, two@1;x=y@3;"},
	{.name = "backslash then continuation", .text = "a: b\\\nc,\n  d\n", .want = "a=bc,  d@1;"},
	{.name = "comments and blank lines", .text = "# c\n\n  # indented comment\na: b\n   \n#x: y\n",
	 .want = "a=b@4;"},
	{.name = "comment inside continuation", .text = "a: b,\n# note\n  c\n", .want = "a=b,  c@1;"},
	{.name = "quoted name", .text = "\"Some Name\": x\n", .want = "some name=x@1;"},
	{.name = "quoted name with colon", .text = "\"a:b\" : x\n", .want = "a:b=x@1;"},
	{.name = "quoted name escape", .text = "\"a\\\"b\": x\n", .want = "a\"b=x@1;"},
	{.name = "include", .text = "staff: :include:/etc/tern/staff\n", .want = "staff=:include:/etc/tern/staff@1;"},
	{.name = "pipe", .text = "prog: |/usr/bin/prog\n", .want = "prog=|/usr/bin/prog@1;"},
	{.name = "quoted pipe", .text = "prog: \"|/usr/bin/prog -a b\"\n", .want = "prog=\"|/usr/bin/prog -a b\"@1;"},
	{.name = "file", .text = "log: /var/log/mail.archive\n", .want = "log=/var/log/mail.archive@1;"},
	{.name = "owner alias", .text = "list: a, b\nowner-list: root\n", .want = "list=a, b@1;owner-list=root@2;"},
	{.name = "crlf", .text = "a: b\r\nc: d\r\n", .want = "a=b@1;c=d@2;"},
	{.name = "no final newline", .text = "a: b", .want = "a=b@1;"},
	{.name = "duplicate", .text = "Dup: first\ndup: second\n", .want = "dup=first@1;dup=second@2dup1;",
	 .want_warn = "2:duplicate alias name dup (first at line 1)|"},
	{.name = "missing colon", .text = "no colon here\nok: x\n", .want = "ok=x@2;",
	 .want_warn = "1:no colon here... missing colon|", .want_ret = 1},
	{.name = "missing value", .text = "empty:\nempty2:   \nok: x\n", .want = "ok=x@3;",
	 .want_warn = "1:empty... missing value for alias|2:empty2... missing value for alias|", .want_ret = 2},
	{.name = "empty name", .text = ": x\n", .want = "", .want_warn = "1:: x... empty alias name|", .want_ret = 1},
	{.name = "non-local name", .text = "user@example.com: x\n", .want = "",
	 .want_warn = "1:user@example.com... cannot alias non-local names|", .want_ret = 1},
	{.name = "space in name", .text = "a b: x\n", .want = "", .want_warn = "1:a b: x... illegal alias name|",
	 .want_ret = 1},
	{.name = "pipe as name", .text = "\"|x\": y\n", .want = "", .want_warn = "1:\"|x\": y... illegal alias name|",
	 .want_ret = 1},
	{.name = "unterminated quoted name", .text = "\"abc: x\n", .want = "",
	 .want_warn = "1:\"abc: x... unterminated quoted alias name|", .want_ret = 1},
	{.name = "quoted name without colon", .text = "\"abc\" x\n", .want = "",
	 .want_warn = "1:\"abc\" x... missing colon|", .want_ret = 1},
	{.name = "leading continuation", .text = "  x: y\na: b\n", .want = "a=b@2;",
	 .want_warn = "1:non-continuation line starts with space|", .want_ret = 1},
	{.name = "long bad line is cut", .text = "0123456789012345678901234567890123456789tail\n", .want = "",
	 .want_warn = "1:0123456789012345678901234567890123456789... missing colon|", .want_ret = 1},
	{.name = "nul byte", .text = "a: b\nc: \0d\ne: f\n", .len = 15, .want = "a=b@1;e=f@3;",
	 .want_warn = "2:NUL byte in line, line ignored|", .want_ret = 1},
	{.name = "empty", .text = "", .want = ""},
	{.name = "backslash at end of file", .text = "a: b\\", .want = "a=b\\@1;"},
};

START_TEST(test_parse)
{
	const struct parse_row *t = &parse_rows[_i];
	struct result r = {BUF_INIT, BUF_INIT};
	struct aliases_opts o = {.entry = on_entry, .warn = on_warn, .ctx = &r};
	int ret = aliases_parse(t->text, t->len ? t->len : strlen(t->text), "aliases", &o);
	ck_assert_msg(strcmp(buf_str(&r.entries), t->want) == 0, "%s: entries \"%s\", want \"%s\"", t->name,
		      buf_str(&r.entries), t->want);
	const char *ww = t->want_warn ? t->want_warn : "";
	ck_assert_msg(strcmp(buf_str(&r.warnings), ww) == 0, "%s: warnings \"%s\", want \"%s\"", t->name,
		      buf_str(&r.warnings), ww);
	ck_assert_msg(ret == t->want_ret, "%s: returned %d, want %d", t->name, ret, t->want_ret);
	buf_free(&r.entries);
	buf_free(&r.warnings);
}
END_TEST

static const struct split_row {
	const char *value;
	int want_n;
	const char *want;	/* "kind:text;" ("!" before text when noalias) */
	const char *want_err;
} split_rows[] = {
	{.value = "root", .want_n = 1, .want = "local:root;"},
	{.value = "a, b ,c", .want_n = 3, .want = "local:a;local:b;local:c;"},
	{.value = "user@example.com", .want_n = 1, .want = "address:user@example.com;"},
	{.value = ":include:/etc/tern/staff", .want_n = 1, .want = "include:/etc/tern/staff;"},
	{.value = ":INCLUDE: /etc/x", .want_n = 1, .want = "include:/etc/x;"},
	{.value = "|/usr/bin/prog", .want_n = 1, .want = "pipe:/usr/bin/prog;"},
	{.value = "\"|/usr/bin/prog -a, b\"", .want_n = 1, .want = "pipe:/usr/bin/prog -a, b;"},
	{.value = "| /bin/cat", .want_n = 1, .want = "pipe:/bin/cat;"},
	{.value = "/var/log/x", .want_n = 1, .want = "file:/var/log/x;"},
	{.value = "\"/path with space\"", .want_n = 1, .want = "file:/path with space;"},
	{.value = "\\root, other", .want_n = 2, .want = "local:!root;local:other;"},
	{.value = "Some Person <person@example.com>", .want_n = 1, .want = "address:person@example.com;"},
	{.value = "a,, ,b,", .want_n = 2, .want = "local:a;local:b;"},
	{.value = "a,  b,\tc", .want_n = 3, .want = "local:a;local:b;local:c;"},
	{.value = "owner-list", .want_n = 1, .want = "local:owner-list;"},
	{.value = "\"quoted \\\" escape\"", .want_n = 1, .want = "local:quoted \" escape;"},
	{.value = "", .want_n = 0, .want = ""},
	{.value = "\"unterminated", .want_n = -1, .want_err = "unterminated quoted string"},
	{.value = "a, <b@c", .want_n = -1, .want_err = "missing '>'"},
	{.value = "|", .want_n = -1, .want_err = "empty command"},
	{.value = "\"| \"", .want_n = -1, .want_err = "empty command"},
	{.value = ":include:", .want_n = -1, .want_err = "empty path"},
	{.value = "\\", .want_n = -1, .want_err = "empty address"},
};

START_TEST(test_split)
{
	const struct split_row *t = &split_rows[_i];
	struct alias_item *items;
	struct buf err = BUF_INIT, got = BUF_INIT;
	int n = aliases_split_value(t->value, &items, &err);
	ck_assert_msg(n == t->want_n, "\"%s\": %d items, want %d (%s)", t->value, n, t->want_n, buf_str(&err));
	if (n >= 0) {
		for (int i = 0; i < n; i++)
			buf_printf(&got, "%s:%s%s;", alias_kind_name(items[i].kind), items[i].noalias ? "!" : "",
				   items[i].text);
		ck_assert_str_eq(buf_str(&got), t->want);
		aliases_free_items(items, n);
	} else {
		ck_assert_ptr_null(items);
		ck_assert_msg(strstr(buf_str(&err), t->want_err) != NULL, "\"%s\": error \"%s\"", t->value,
			      buf_str(&err));
	}
	buf_free(&err);
	buf_free(&got);
}
END_TEST

static char tmpdir[64];

static void setup(void)
{
	strlcpy(tmpdir, "/tmp/tern-test-aliases.XXXXXX", sizeof(tmpdir));
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void teardown(void)
{
	char *cmd = xasprintf("rm -rf '%s'", tmpdir);
	ck_assert_int_eq(system(cmd), 0);
	free(cmd);
}

static void copy_file(const char *from, const char *to)
{
	char *cmd = xasprintf("cp '%s' '%s'", from, to);
	ck_assert_int_eq(system(cmd), 0);
	free(cmd);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every raw key/value pair of a Berkeley DB hash file, sorted, as text. */
static void raw_dump(const char *file, struct buf *out)
{
	DB *db;
	DBC *cur;
	ck_assert_int_eq(db_create(&db, NULL, 0), 0);
	ck_assert_int_eq(db->open(db, NULL, file, NULL, DB_HASH, DB_RDONLY, 0), 0);
	ck_assert_int_eq(db->cursor(db, NULL, &cur, 0), 0);
	DBT k, v;
	memset(&k, 0, sizeof(k));
	memset(&v, 0, sizeof(v));
	char *lines[256] = { NULL };
	int n = 0;
	while (cur->get(cur, &k, &v, DB_NEXT) == 0 && n < 256) {
		struct buf l = BUF_INIT;
		for (u_int32_t i = 0; i < k.size; i++)
			buf_printf(&l, ((char *)k.data)[i] ? "%c" : "\\0", ((char *)k.data)[i]);
		buf_adds(&l, " -> ");
		for (u_int32_t i = 0; i < v.size; i++)
			buf_printf(&l, ((char *)v.data)[i] ? "%c" : "\\0", ((char *)v.data)[i]);
		lines[n++] = buf_steal(&l);
	}
	cur->close(cur);
	db->close(db, 0);
	qsort(lines, (size_t)n, sizeof(lines[0]), cmp_str);
	buf_reset(out);
	for (int i = 0; i < n; i++) {
		buf_printf(out, "%s\n", lines[i]);
		free(lines[i]);
	}
}

START_TEST(test_newaliases_matches_sendmail)
{
	/* Same source as the fixture that sendmail's newaliases built. */
	char *src = xasprintf("%s/aliases", tmpdir);
	copy_file(FIXTURES "/aliases.src", src);
	char *spec = xasprintf("hash:%s", src);
	struct buf out = BUF_INIT, diag = BUF_INIT;
	ck_assert_int_eq(newaliases_build(spec, &out, &diag), EX_OK);

	/* The summary line: sendmail's, with our path in front. */
	FILE *f = fopen(FIXTURES "/sendmail-aliases.out", "r");
	ck_assert_ptr_nonnull(f);
	char line[256], summary[256] = "";
	while (fgets(line, sizeof(line), f))
		if (strstr(line, " aliases, longest "))
			strlcpy(summary, line, sizeof(summary));
	fclose(f);
	ck_assert_str_ne(summary, "");
	ck_assert_int_eq(strncmp(summary, "aliases: ", 9), 0);
	char *want = xasprintf("%s%s", src, summary + strlen("aliases"));
	ck_assert_str_eq(buf_str(&out), want);
	/* The duplicate is reported with file and line. */
	ck_assert_ptr_nonnull(strstr(buf_str(&diag), "/aliases:13: duplicate alias name dup (first at line 12)"));

	/* Byte for byte the same entries as sendmail's aliases.db (NULs and "@"). */
	char *ours = xasprintf("%s.db", src);
	struct buf a = BUF_INIT, b = BUF_INIT;
	raw_dump(ours, &a);
	raw_dump(FIXTURES "/sendmail-aliases.db", &b);
	ck_assert_str_eq(buf_str(&a), buf_str(&b));
	ck_assert_ptr_nonnull(strstr(buf_str(&a), "@\\0 -> @\\0\n"));
	ck_assert_ptr_nonnull(strstr(buf_str(&a), "dup\\0 -> second\\0\n"));

	/* And the map API reads it. */
	struct buf err = BUF_INIT, v = BUF_INIT;
	struct map *m = map_open(spec, 0, &err);
	ck_assert_ptr_nonnull(m);
	ck_assert_int_eq(map_lookup(m, "POSTMASTER", &v), 1);
	ck_assert_str_eq(buf_str(&v), "root");
	ck_assert_int_eq(map_close(m), 0);
	buf_free(&a);
	buf_free(&b);
	buf_free(&err);
	buf_free(&v);
	buf_free(&out);
	buf_free(&diag);
	free(want);
	free(ours);
	free(src);
	free(spec);
}
END_TEST

static void write_file(const char *p, const char *text)
{
	FILE *f = fopen(p, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
}

START_TEST(test_newaliases_statuses)
{
	char *a = xasprintf("%s/a", tmpdir), *b = xasprintf("%s/b", tmpdir);
	write_file(a, "x: y\n");
	write_file(b, "bad line\nok: fine\n");
	struct buf out = BUF_INIT, diag = BUF_INIT;
	/* Bad lines: the good ones are still stored, status 65. */
	char *specs[] = {xasprintf("hash:%s", a), xasprintf("btree:%s", b), NULL};
	ck_assert_int_eq(newaliases_rebuild(specs, &out, &diag), EX_DATAERR);
	char *want = xasprintf("%s: 1 aliases, longest 1 bytes, 2 bytes total\n"
			       "%s: 1 aliases, longest 4 bytes, 6 bytes total\n", a, b);
	ck_assert_str_eq(buf_str(&out), want);
	ck_assert_ptr_nonnull(strstr(buf_str(&diag), "/b:1: bad line... missing colon"));
	struct buf err = BUF_INIT, v = BUF_INIT;
	struct map *m = map_open(specs[1], 0, &err);
	ck_assert_ptr_nonnull(m);
	ck_assert_int_eq(map_lookup(m, "ok", &v), 1);
	ck_assert_int_eq(map_lookup(m, "@", &v), 1);
	ck_assert_str_eq(buf_str(&v), "@");
	map_close(m);

	/* A missing source: 66, and no database is made. */
	char *missing = xasprintf("hash:%s/none", tmpdir);
	buf_reset(&diag);
	ck_assert_int_eq(newaliases_build(missing, &out, &diag), EX_NOINPUT);
	ck_assert_ptr_nonnull(strstr(buf_str(&diag), "No such file or directory"));
	char *dbfile = xasprintf("%s/none.db", tmpdir);
	ck_assert_int_ne(access(dbfile, F_OK), 0);
	/* A type that cannot be built: 78. */
	ck_assert_int_eq(newaliases_build("inline:{a=b}", &out, &diag), EX_CONFIG);
	/* An unwritable place: 73. */
	ck_assert_int_eq(newaliases_build("hash:/nonexistent-dir/aliases", &out, &diag), EX_CANTCREAT);

	free(specs[0]);
	free(specs[1]);
	free(missing);
	free(dbfile);
	free(want);
	free(a);
	free(b);
	buf_free(&out);
	buf_free(&diag);
	buf_free(&err);
	buf_free(&v);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("aliases");
	TCase *tc = tcase_create("parse");
	tcase_add_loop_test(tc, test_parse, 0, sizeof(parse_rows) / sizeof(parse_rows[0]));
	tcase_add_loop_test(tc, test_split, 0, sizeof(split_rows) / sizeof(split_rows[0]));
	suite_add_tcase(s, tc);
	tc = tcase_create("newaliases");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_newaliases_matches_sendmail);
	tcase_add_test(tc, test_newaliases_statuses);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
