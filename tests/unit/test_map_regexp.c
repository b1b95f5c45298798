/*
 * test_map_regexp.c - Check suite for the regexp: map type
 * (lib/util/map_regexp.c) and the pcre: refusal: every syntax element of
 * the table format, substitutions, the errors found at open with their
 * line numbers, and the inline form regexp:{ { rule }, ... }. Runs unprivileged in a temporary directory.
 */
#include "compat.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/map.h"
#include "util/mem.h"

static char tmpdir[] = "/tmp/tern-test-regexp.XXXXXX";

static void setup(void)
{
	strlcpy(tmpdir, "/tmp/tern-test-regexp.XXXXXX", sizeof(tmpdir));
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void teardown(void)
{
	char *cmd = xasprintf("rm -rf '%s'", tmpdir);
	ck_assert_int_eq(system(cmd), 0);
	free(cmd);
}

/* Write text as the table file; returns "regexp:PATH" (caller frees). */
static char *table(const char *text, size_t len)
{
	char *p = xasprintf("%s/table", tmpdir);
	FILE *f = fopen(p, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fwrite(text, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
	char *spec = xasprintf("regexp:%s", p);
	free(p);
	return spec;
}

static const struct lookup {
	const char *what;
	const char *text;
	const char *key;
	const char *want;	/* NULL: not found */
} lookups[] = {
	{"plain match", "/^X-Spam-Flag: YES/ HOLD spam\n", "X-Spam-Flag: YES", "HOLD spam"},
	{"no match", "/^X-Spam-Flag: YES/ HOLD spam\n", "X-Spam-Flag: NO", NULL},
	{"case-insensitive by default", "/^x-spam-flag: yes/ HOLD\n", "X-SPAM-FLAG: YES", "HOLD"},
	{"i flag makes it case-sensitive", "/^x-spam-flag/i HOLD\n", "X-Spam-Flag: YES", NULL},
	{"i flag, same case", "/^X-Spam/i HOLD\n", "X-Spam-Flag: YES", "HOLD"},
	{"ii toggles back", "/^x-spam/ii HOLD\n", "X-Spam-Flag: YES", "HOLD"},
	{"key not folded by the map layer", "/^Ab$/i upper\n/^ab$/i lower\n", "Ab", "upper"},
	{"first match wins", "/a/ first\n/a/ second\n", "xa", "first"},
	{"extended syntax by default", "/^(ab)+$/ ere\n", "abab", "ere"},
	{"x flag: basic syntax, + is literal", "/^a+$/x bre\n", "a+", "bre"},
	{"x flag: basic syntax, no repetition", "/^a+$/x bre\n", "aa", NULL},
	{"without m, $ only at the end", "/^yes$/ hit\n", "no\nyes\nno", NULL},
	{"m flag: ^ and $ at line breaks", "/^yes$/m hit\n", "no\nyes\nno", "hit"},
	{"folded header, . crosses the line break", "/^Subject: a.*b$/ hit\n", "Subject: a\n\tb", "hit"},
	{"negation", "!/^[0-9]/ no digit\n", "abc", "no digit"},
	{"negation, pattern matches", "!/^[0-9]/ no digit\n", "1bc", NULL},
	{"negation with flags", "!/^abc/i case\n", "ABC", "case"},
	{"$1 and $2", "/^(.*)-outgoing@(.*)$/ 550 Use $1@$2 instead\n", "list-outgoing@example.com",
	 "550 Use list@example.com instead"},
	{"${n} and $(n)", "/^(a)(b)/ x${1}y$(2)z\n", "ab", "xaybz"},
	{"$$ is a dollar", "/^(a)/ cost $$5 for $1\n", "a", "cost $5 for a"},
	{"group 10 and more", "/^(a)(b)(c)(d)(e)(f)(g)(h)(i)(j)/ $10-${10}-$1\n", "abcdefghij", "j-j-a"},
	{"group that did not take part is empty", "/^(a)|(b)$/ [$1][$2]\n", "b", "[][b]"},
	{"delimiter |", "|^a/b$| slash inside\n", "a/b", "slash inside"},
	{"delimiter ~ (Postfix's body example)", "~^[[:alnum:]+/]{4,}$~ OK\n", "ab+/", "OK"},
	{"escaped delimiter", "/^a\\/b$/ escaped\n", "a/b", "escaped"},
	{"a line starting with # is a comment, # cannot delimit", "#^a$# hash\n", "a", NULL},
	{"pattern with spaces", "/^Subject: make money fast/ REJECT\n", "Subject: make money fast", "REJECT"},
	{"comments and blank lines", "# comment\n\n   \n  # indented comment\n/a/ yes\n", "a", "yes"},
	{"continuation line", "/a/ REJECT first\n  second\n", "a", "REJECT first  second"},
	{"comment inside a continued entry", "/a/ one\n# note\n two\n", "a", "one two"},
	{"trailing white space dropped", "/a/ yes  \t\n", "a", "yes"},
	{"CRLF file", "/a/ yes\r\n/b/ no\r\n", "b", "no"},
	{"no final newline", "/a/ yes", "a", "yes"},
	{"if: inside taken", "if /^From:/\n/example/ from-example\nendif\n/example/ other\n",
	 "From: a@example.com", "from-example"},
	{"if: inside skipped", "if /^From:/\n/example/ from-example\nendif\n/example/ other\n",
	 "To: a@example.com", "other"},
	{"if !", "if !/^Received:/\n/x/ not-received\nendif\n", "Subject: x", "not-received"},
	{"if !, skipped", "if !/^Received:/\n/x/ not-received\nendif\n", "Received: x", NULL},
	{"nested if, both", "if /a/\nif /b/\n/c/ abc\nendif\n/c/ ac\nendif\n", "abc", "abc"},
	{"nested if, outer only", "if /a/\nif /b/\n/c/ abc\nendif\n/c/ ac\nendif\n", "ac", "ac"},
	{"nested if, outer fails", "if /a/\nif /b/\n/c/ abc\nendif\n/c/ ac\nendif\n/c/ c\n", "bc", "c"},
	{"IF and ENDIF in capitals", "IF /a/\n/b/ ab\nENDIF\n", "ab", "ab"},
	{"empty if", "if /a/\nendif\n/a/ after\n", "a", "after"},
	{"empty table", "", "a", NULL},
};

START_TEST(test_lookup)
{
	const struct lookup *t = &lookups[_i];
	char *spec = table(t->text, strlen(t->text));
	struct buf err = BUF_INIT, value = BUF_INIT;
	struct map *m = map_open(spec, MAP_RDONLY, &err);
	ck_assert_msg(m != NULL, "%s: open: %s", t->what, buf_str(&err));
	int r = map_lookup(m, t->key, &value);
	if (t->want == NULL) {
		ck_assert_msg(r == 0, "%s: found \"%s\"", t->what, buf_str(&value));
	} else {
		ck_assert_msg(r == 1, "%s: not found (%d)", t->what, r);
		ck_assert_msg(strcmp(buf_str(&value), t->want) == 0, "%s: got \"%s\", want \"%s\"",
			      t->what, buf_str(&value), t->want);
	}
	map_close(m);
	buf_free(&err);
	buf_free(&value);
	free(spec);
}
END_TEST

static const struct bad {
	const char *text;
	const char *want;	/* in the error, after "regexp:PATH: " */
} bads[] = {
	{"/a(/ x\n", "line 1: bad pattern \"a(\""},
	{"# c\n\n/a/ x\n/b[/ y\n", "line 4: bad pattern \"b[\""},
	{"/a/ x\n/abc x\n", "line 2: pattern has no closing '/'"},
	{"/a/q x\n", "line 1: unknown flag 'q'"},
	{"/a/\n", "line 1: missing result"},
	{"/a/   \n", "line 1: missing result"},
	{"abc x\n", "line 1: expected a pattern"},
	{"\\a\\ x\n", "line 1: expected a pattern"},
	{"!\n", "line 1: expected a pattern"},
	{"/(a)/ $2\n", "line 1: $2 in the result, but the pattern has 1 group"},
	{"/a/ ${1}\n", "line 1: $1 in the result, but the pattern has 0 groups"},
	{"!/(a)/ $1\n", "line 1: $1 in the result of a negated pattern"},
	{"/(a)/ cost $5x\n", "line 1: $5 in the result, but"},
	{"/(a)/ $\n", "line 1: bad \"$\" in result"},
	{"/(a)/ $x\n", "line 1: bad \"$\" in result"},
	{"/(a)/ ${1\n", "line 1: bad \"$\" in result"},
	{"/(a)/ $0\n", "line 1: $0 in result: groups are numbered from 1"},
	{"/(a)/ $100\n", "line 1: $100 in result: groups are numbered from 1 to 99"},
	{"endif\n", "line 1: endif without if"},
	{"if /a/\n/b/ c\nendif\nendif\n", "line 4: endif without if"},
	{"/x/ y\nif /a/\n/b/ c\n", "line 2: if without endif"},
	{"if /a/\nif /b/\nendif\n", "line 1: if without endif"},
	{"if /a/ x\n/b/ c\nendif\n", "line 1: text after the if pattern"},
	{"if /a/\nendif x\n", "line 2: text after endif"},
	{"if\nendif\n", "line 1: expected a pattern"},
	{"  /a/ x\n", "line 1: continuation line"},
	{"/a/ x\n/b/ \\\n  $9\n", "line 2: $9 in the result"},
};

START_TEST(test_bad_table)
{
	const struct bad *t = &bads[_i];
	char *spec = table(t->text, strlen(t->text));
	struct buf err = BUF_INIT;
	struct map *m = map_open(spec, MAP_RDONLY, &err);
	ck_assert_msg(m == NULL, "\"%s\" opened", t->text);
	/* "regexp:PATH: line N: reason", on one line. */
	char *want = xasprintf("%s: %s", spec, t->want);
	ck_assert_msg(strncmp(buf_str(&err), want, strlen(want)) == 0, "\"%s\": error \"%s\", want \"%s...\"",
		      t->text, buf_str(&err), want);
	ck_assert_ptr_null(strchr(buf_str(&err), '\n'));
	free(want);
	buf_free(&err);
	free(spec);
}
END_TEST

START_TEST(test_nul_byte)
{
	char *spec = table("/a/ x\n/b/ y\0z\n", 14);
	struct buf err = BUF_INIT;
	ck_assert_ptr_null(map_open(spec, MAP_RDONLY, &err));
	ck_assert_ptr_nonnull(strstr(buf_str(&err), "line 2: NUL byte"));
	buf_free(&err);
	free(spec);
}
END_TEST

START_TEST(test_missing_file_pcre_readonly)
{
	struct buf err = BUF_INIT;
	char *spec = xasprintf("regexp:%s/none", tmpdir);
	ck_assert_ptr_null(map_open(spec, MAP_RDONLY, &err));
	ck_assert_ptr_nonnull(strstr(buf_str(&err), "No such file or directory"));
	free(spec);

	spec = xasprintf("pcre:%s/none", tmpdir);
	ck_assert_ptr_null(map_open(spec, MAP_RDONLY, &err));
	ck_assert_ptr_nonnull(strstr(buf_str(&err), "not supported by Tern; use regexp:"));
	free(spec);
	/* pcre: is a known type (a clear error, not "unsupported map type"). */
	char *type, *name;
	ck_assert_int_eq(map_spec_parse("pcre:/x", &type, &name), 0);
	free(type);
	free(name);

	spec = table("/a/ b\n", 6);
	ck_assert_ptr_null(map_open(spec, MAP_WRITE, &err));
	ck_assert_ptr_nonnull(strstr(buf_str(&err), "read-only"));
	free(spec);
	buf_free(&err);
}
END_TEST

START_TEST(test_iterate_changed_list)
{
	char *spec = table("/^a/ b\n", 7);
	struct buf err = BUF_INIT, k = BUF_INIT, v = BUF_INIT;
	struct map *m = map_open(spec, MAP_RDONLY, &err);
	ck_assert_ptr_nonnull(m);
	ck_assert_int_eq(map_iterate(m, 1, &k, &v), -1);
	ck_assert_ptr_nonnull(strstr(map_error(m), "no keys to list"));
	ck_assert_int_eq(map_changed(m), 0);
	/* A rewritten table is noticed, so long-running readers reopen it. */
	char *p = xasprintf("%s/table", tmpdir);
	FILE *f = fopen(p, "w");
	ck_assert_ptr_nonnull(f);
	fputs("/^a/ changed\n/^c/ d\n", f);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_eq(map_changed(m), 1);
	map_close(m);

	/* In a list after another map: the first that matches wins. */
	char *list = xasprintf("inline:{ x=inline }, %s", spec);
	struct maplist *l = maplist_open(list, 0, &err);
	ck_assert_msg(l != NULL, "%s", buf_str(&err));
	ck_assert_int_eq(maplist_lookup(l, "x", &v), 1);
	ck_assert_str_eq(buf_str(&v), "inline");
	ck_assert_int_eq(maplist_lookup(l, "ccc", &v), 1);
	ck_assert_str_eq(buf_str(&v), "d");
	ck_assert_int_eq(maplist_lookup(l, "zzz", &v), 0);
	maplist_close(l);
	free(list);
	free(p);
	free(spec);
	buf_free(&err);
	buf_free(&k);
	buf_free(&v);
}
END_TEST

static const struct inl {
	const char *spec;
	const char *key;
	const char *want;	/* the value, or NULL: not found */
	const char *err;	/* the open error, or NULL */
} inlines[] = {
	{"regexp:{ { /^X-Spam-Flag: YES/ HOLD spam }, {/^(a){2}$/ two $1} }", "x-spam-flag: yes", "HOLD spam", NULL},
	{"regexp:{ { /^X-Spam-Flag: YES/ HOLD spam }, {/^(a){2}$/ two $1} }", "aa", "two a", NULL},
	{"regexp:{ { /^X-Spam-Flag: YES/ HOLD spam }, {/^(a){2}$/ two $1} }", "a", NULL, NULL},
	{"regexp:{{if /a/},{/b/ ab},{endif}}", "ab", "ab", NULL},
	{"regexp:{ {/a/ x} {/b/ y} }  ", "b", "y", NULL},
	{"regexp:{ {/a/ x}, {if /b/} }", NULL, NULL, "regexp:{ {/a/ x}, {if /b/} }: rule 2: if without endif"},
	{"regexp:{ {/a/ x}, {/b(/ y} }", NULL, NULL, "rule 2: bad pattern \"b(\""},
	{"regexp:{ /a/ x }", NULL, NULL, "rule 1 does not start with '{'"},
	{"regexp:{ {/a/ x}", NULL, NULL, "rule 1 has no closing '}'"},
	{"regexp:{ {/a/ x} ", NULL, NULL, "rule 1 has no closing '}'"},
	{"regexp:{ {/a/ x} } x", NULL, NULL, "missing '}' at the end"},
	{"regexp:{}", NULL, NULL, "no rules"},
	{"regexp:{ , }", NULL, NULL, "no rules"},
};

START_TEST(test_inline)
{
	const struct inl *t = &inlines[_i];
	struct buf err = BUF_INIT, value = BUF_INIT;
	struct map *m = map_open(t->spec, MAP_RDONLY, &err);
	if (t->err != NULL) {
		ck_assert_msg(m == NULL, "%s opened", t->spec);
		ck_assert_msg(strstr(buf_str(&err), t->err) != NULL, "%s: error \"%s\" lacks \"%s\"",
			      t->spec, buf_str(&err), t->err);
	} else {
		ck_assert_msg(m != NULL, "%s: %s", t->spec, buf_str(&err));
		int r = map_lookup(m, t->key, &value);
		ck_assert_int_eq(r, t->want != NULL);
		if (t->want)
			ck_assert_str_eq(buf_str(&value), t->want);
		/* No file behind it: never "changed". */
		ck_assert_int_eq(map_changed(m), 0);
		map_close(m);
	}
	buf_free(&err);
	buf_free(&value);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("map_regexp");
	TCase *tc = tcase_create("regexp");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_lookup, 0, sizeof(lookups) / sizeof(lookups[0]));
	tcase_add_loop_test(tc, test_bad_table, 0, sizeof(bads) / sizeof(bads[0]));
	tcase_add_test(tc, test_nul_byte);
	tcase_add_test(tc, test_missing_file_pcre_readonly);
	tcase_add_test(tc, test_iterate_changed_list);
	tcase_add_loop_test(tc, test_inline, 0, sizeof(inlines) / sizeof(inlines[0]));
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
