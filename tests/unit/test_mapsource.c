/*
 * test_mapsource.c - Check suite for the map source reader
 * (lib/util/mapsource.c): table-driven, each row an input text, the
 * options, the entries it must produce and the warnings it must give.
 * Runs as any user; touches only a temporary file.
 */
#include "compat.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/mapsource.h"

struct result {
	struct buf entries;	/* "key=value@line;" (+ "dup<first>" for duplicates) */
	struct buf warnings;	/* "line:text|" */
	int stop_after;		/* stop after this many entries (0 = never) */
	int count;
};

static int on_entry(void *ctx, const struct mapsrc_entry *e)
{
	struct result *r = ctx;
	buf_printf(&r->entries, "%s=%s@%u", e->key, e->value, e->line);
	if (e->first_line)
		buf_printf(&r->entries, "dup%u", e->first_line);
	buf_addc(&r->entries, ';');
	r->count++;
	return r->stop_after && r->count >= r->stop_after ? -1 : 0;
}

static void on_warn(void *ctx, const char *file, unsigned line, const char *text)
{
	struct result *r = ctx;
	ck_assert_str_eq(file, "src");
	buf_printf(&r->warnings, "%u:%s|", line, text);
}

static const struct row {
	const char *name;
	const char *text;
	size_t len;		/* 0 = strlen(text) */
	int flags;
	char delim, comment;
	int stop_after;
	const char *want;
	const char *want_warn;
	int want_ret;		/* number of warnings, or -1 */
} rows[] = {
	{.name = "simple", .text = "a b\nc d\n", .want = "a=b@1;c=d@2;"},
	{.name = "no final newline", .text = "a b", .want = "a=b@1;"},
	{.name = "tabs and spaces", .text = "a\t \tvalue with  spaces  \t\n", .want = "a=value with  spaces@1;"},
	{.name = "fold", .text = "MiXeD Value\n", .want = "mixed=Value@1;"},
	{.name = "nofold", .text = "MiXeD Value\n", .flags = MAPSRC_NOFOLD, .want = "MiXeD=Value@1;"},
	{.name = "comments and blanks", .text = "# c\n\n   \n  # indented\na b\n#x y\n", .want = "a=b@5;"},
	{.name = "continuation", .text = "a one,\n  two,\n\tthree\nb x\n",
	 .want = "a=one,  two,\tthree@1;b=x@4;"},
	{.name = "comment inside continuation", .text = "a one\n# note\n  two\n", .want = "a=one  two@1;"},
	{.name = "crlf", .text = "a b\r\nc d\r\n", .want = "a=b@1;c=d@2;"},
	{.name = "duplicate", .text = "a 1\nA 2\nb 3\na 4\n", .want = "a=1@1;a=2@2dup1;b=3@3;a=4@4dup1;",
	 .want_warn = "2:duplicate key \"a\" (first at line 1)|4:duplicate key \"a\" (first at line 1)|",
	 .want_ret = 2},
	{.name = "quiet duplicates", .text = "a 1\na 2\n", .flags = MAPSRC_QUIET_DUPS,
	 .want = "a=1@1;a=2@2dup1;"},
	{.name = "no duplicate check", .text = "a 1\na 2\n", .flags = MAPSRC_NO_DUP_CHECK,
	 .want = "a=1@1;a=2@2;"},
	{.name = "key without value", .text = "lonely\nb c\n", .want = "b=c@2;",
	 .want_warn = "1:expected format: key whitespace value, key \"lonely\" ignored|", .want_ret = 1},
	{.name = "key without value allowed", .text = "lonely   \n", .flags = MAPSRC_EMPTY_VALUE,
	 .want = "lonely=@1;"},
	{.name = "leading continuation", .text = "  orphan line\n", .want = "orphan=line@1;",
	 .want_warn = "1:continuation line without a preceding entry, joined anyway|", .want_ret = 1},
	{.name = "makemap leading space", .text = "a x\n  b y\nc z\n", .flags = MAPSRC_NO_CONTINUATION,
	 .want = "a=x@1;c=z@3;", .want_warn = "2:syntax error (leading space)|", .want_ret = 1},
	{.name = "keep trailing", .text = "a x  \n", .flags = MAPSRC_KEEP_TRAILING, .want = "a=x  @1;"},
	{.name = "delimiter", .text = "a:b:c\nd::e\nf g:h\n", .delim = ':',
	 .want = "a=b:c@1;d=e@2;f g=h@3;"},
	{.name = "delimiter empty key", .text = ":x\n", .delim = ':', .want = "",
	 .want_warn = "1:expected format: key whitespace value, line ignored|", .want_ret = 1},
	{.name = "comment char", .text = ";c\na b\n#c d\n", .comment = ';', .want = "a=b@2;#c=d@3;"},
	{.name = "nul byte", .text = "a b\nc \0d\ne f\n", .len = 12, .want = "a=b@1;e=f@3;",
	 .want_warn = "2:NUL byte in line, line ignored|", .want_ret = 1},
	{.name = "empty input", .text = "", .want = ""},
	{.name = "only newlines", .text = "\n\n\n", .want = ""},
	{.name = "callback stops", .text = "a 1\nb 2\nc 3\n", .stop_after = 2, .want = "a=1@1;b=2@2;",
	 .want_ret = -1},
	{.name = "alias format", .text = "postmaster: root\n", .want = "postmaster:=root@1;",
	 .want_warn = "1:record is in \"key: value\" format; is this an alias file?|", .want_ret = 1},
	{.name = "alias format in makemap mode", .text = "a: b\n", .flags = MAPSRC_NO_CONTINUATION,
	 .want = "a:=b@1;"},
	{.name = "lone colon key", .text = ": b\n", .want = ":=b@1;"},
	{.name = "value with hash", .text = "a b # not a comment\n", .want = "a=b # not a comment@1;"},
};

START_TEST(test_rows)
{
	const struct row *t = &rows[_i];
	struct result r = {.entries = BUF_INIT, .warnings = BUF_INIT, .stop_after = t->stop_after};
	struct mapsrc_opts o = {
		.flags = t->flags, .delim = t->delim, .comment = t->comment,
		.entry = on_entry, .warn = on_warn, .ctx = &r,
	};
	size_t len = t->len ? t->len : strlen(t->text);
	int ret = mapsrc_parse(t->text, len, "src", &o);
	ck_assert_msg(strcmp(buf_str(&r.entries), t->want) == 0, "%s: entries \"%s\", want \"%s\"",
		      t->name, buf_str(&r.entries), t->want);
	const char *ww = t->want_warn ? t->want_warn : "";
	ck_assert_msg(strcmp(buf_str(&r.warnings), ww) == 0, "%s: warnings \"%s\", want \"%s\"",
		      t->name, buf_str(&r.warnings), ww);
	ck_assert_int_eq(ret, t->want_ret);
	buf_free(&r.entries);
	buf_free(&r.warnings);
}
END_TEST

START_TEST(test_read_file)
{
	char path[] = "/tmp/tern-test-mapsource.XXXXXX";
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	/* Bigger than one read, to cross buffer boundaries. */
	FILE *f = fdopen(fd, "w");
	for (int i = 0; i < 20000; i++)
		fprintf(f, "key%d value number %d\n", i, i);
	fclose(f);
	struct result r = {.entries = BUF_INIT, .warnings = BUF_INIT};
	struct mapsrc_opts o = {.entry = on_entry, .warn = on_warn, .ctx = &r};
	struct buf err = BUF_INIT;
	ck_assert_int_eq(mapsrc_read_file(path, &o, &err), 0);
	ck_assert_int_eq(r.count, 20000);
	ck_assert_ptr_nonnull(strstr(buf_str(&r.entries), ";key19999=value number 19999@20000;"));
	unlink(path);
	ck_assert_int_eq(mapsrc_read_file(path, &o, &err), -1);
	ck_assert_ptr_nonnull(strstr(buf_str(&err), "No such file or directory"));
	buf_free(&err);
	buf_free(&r.entries);
	buf_free(&r.warnings);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("mapsource");
	TCase *tc = tcase_create("core");
	tcase_add_loop_test(tc, test_rows, 0, sizeof(rows) / sizeof(rows[0]));
	tcase_add_test(tc, test_read_file);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
