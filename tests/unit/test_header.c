/*
 * test_header.c - Check suite for header blocks (lib/mail/header.c):
 * folding, how a block ends, malformed lines, find/remove/insert.
 */
#include "compat.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "mail/header.h"
#include "util/buf.h"

static const struct parse_case {
	const char *name;
	const char *in;
	size_t nfields;
	const char *names;	/* field names joined with '|' */
	enum header_end how;
	const char *rest;	/* what follows the block */
	const char *value0;	/* unfolded value of field 0, if checked */
} parse_cases[] = {
	{.name = "simple", .in = "From: a@b\nTo: c@d\n\nbody\n", .nfields = 2, .names = "From|To",
	 .how = HEADER_END_BLANK, .rest = "body\n", .value0 = "a@b"},
	{.name = "folded", .in = "Subject: one\n two\n\tthree\nX: y\n\nb", .nfields = 2, .names = "Subject|X",
	 .how = HEADER_END_BLANK, .rest = "b", .value0 = "one two\tthree"},
	{.name = "crlf", .in = "A: 1\r\nB: 2\r\n\r\nbody", .nfields = 2, .names = "A|B",
	 .how = HEADER_END_BLANK, .rest = "body", .value0 = "1"},
	{.name = "no body", .in = "A: 1\nB: 2\n", .nfields = 2, .names = "A|B", .how = HEADER_END_EOF, .rest = ""},
	{.name = "no final LF", .in = "A: 1", .nfields = 1, .names = "A", .how = HEADER_END_EOF, .rest = "", .value0 = "1"},
	{.name = "empty", .in = "", .nfields = 0, .names = "", .how = HEADER_END_EOF, .rest = ""},
	{.name = "only blank", .in = "\nbody\n", .nfields = 0, .names = "", .how = HEADER_END_BLANK, .rest = "body\n"},
	{.name = "non-header line", .in = "A: 1\nthis is body\nB: 2\n", .nfields = 1, .names = "A",
	 .how = HEADER_END_BODY, .rest = "this is body\nB: 2\n"},
	{.name = "from line", .in = "From a@b Mon Jan 1\nA: 1\n", .nfields = 0, .names = "",
	 .how = HEADER_END_BODY, .rest = "From a@b Mon Jan 1\nA: 1\n"},
	{.name = "leading continuation", .in = " x: 1\n", .nfields = 0, .names = "", .how = HEADER_END_BODY,
	 .rest = " x: 1\n"},
	{.name = "space before colon", .in = "Subject : hi\n\n", .nfields = 1, .names = "Subject",
	 .how = HEADER_END_BLANK, .rest = "", .value0 = "hi"},
	{.name = "empty value", .in = "X-Empty:\n\n", .nfields = 1, .names = "X-Empty", .how = HEADER_END_BLANK,
	 .rest = "", .value0 = ""},
	{.name = "no colon", .in = "NoColonHere\n\n", .nfields = 0, .names = "", .how = HEADER_END_BODY,
	 .rest = "NoColonHere\n\n"},
	{.name = "colon first", .in = ": x\n", .nfields = 0, .names = "", .how = HEADER_END_BODY, .rest = ": x\n"},
	{.name = "control in name", .in = "A\001B: x\n", .nfields = 0, .names = "", .how = HEADER_END_BODY,
	 .rest = "A\001B: x\n"},
	{.name = "8bit in name", .in = "N\xe4me: x\n", .nfields = 0, .names = "", .how = HEADER_END_BODY,
	 .rest = "N\xe4me: x\n"},
	{.name = "nul in value", .in = "A: x\n", .nfields = 1, .names = "A", .how = HEADER_END_EOF, .rest = ""},
	{.name = "whitespace-only line ends fold", .in = "A: 1\n \nB: 2\n\n", .nfields = 2, .names = "A|B",
	 .how = HEADER_END_BLANK, .rest = "", .value0 = "1"},
};

START_TEST(test_parse)
{
	const struct parse_case *c = &parse_cases[_i];
	struct headers hs;
	enum header_end how;
	headers_init(&hs);
	size_t used = headers_parse(c->in, strlen(c->in), &hs, &how);
	ck_assert_msg(hs.n == c->nfields, "%s: %zu fields", c->name, hs.n);
	struct buf names = BUF_INIT;
	for (size_t i = 0; i < hs.n; i++) {
		if (i)
			buf_addc(&names, '|');
		buf_adds(&names, hs.v[i].name);
	}
	ck_assert_msg(strcmp(buf_str(&names), c->names) == 0, "%s: names %s", c->name, buf_str(&names));
	ck_assert_msg(how == c->how, "%s: how %d", c->name, how);
	ck_assert_msg(strcmp(c->in + used, c->rest) == 0, "%s: rest '%s'", c->name, c->in + used);
	if (c->value0) {
		struct buf v = BUF_INIT;
		header_value(&hs.v[0], &v);
		ck_assert_msg(strcmp(buf_str(&v), c->value0) == 0, "%s: value '%s'", c->name, buf_str(&v));
		buf_free(&v);
	}
	/* Writing the block back gives the bytes that were parsed (minus the blank line). */
	struct buf out = BUF_INIT;
	headers_write(&hs, &out);
	if (how == HEADER_END_BODY) {
		ck_assert_uint_eq(out.len, used);
		ck_assert_int_eq(memcmp(buf_str(&out), c->in, used), 0);
	}
	buf_free(&out);
	buf_free(&names);
	headers_free(&hs);
}
END_TEST

START_TEST(test_edit)
{
	const char *in = "Received: x\nBcc: secret@x\nTo: a@b\nbcc: two@x\nSubject: s\n\n";
	struct headers hs;
	enum header_end how;
	headers_init(&hs);
	headers_parse(in, strlen(in), &hs, &how);
	ck_assert_int_eq(headers_find(&hs, "BCC", 0), 1);
	ck_assert_int_eq(headers_find(&hs, "bcc", 2), 3);
	ck_assert_int_eq(headers_find(&hs, "Date", 0), -1);
	ck_assert_uint_eq(headers_remove_all(&hs, "Bcc"), 2);
	headers_append(&hs, "Date", "Mon, 1 Jan 2024 00:00:00 +0000");
	headers_insert(&hs, 0, "Received", "from local\n\tby host");
	headers_set_value(&hs, (size_t)headers_find(&hs, "Subject", 0), "new");
	struct buf out = BUF_INIT;
	headers_write(&hs, &out);
	ck_assert_str_eq(buf_str(&out), "Received: from local\n\tby host\nReceived: x\nTo: a@b\nSubject: new\n"
					"Date: Mon, 1 Jan 2024 00:00:00 +0000\n");
	headers_remove(&hs, 99);	/* out of range: nothing */
	ck_assert_uint_eq(hs.n, 5);
	buf_free(&out);
	headers_free(&hs);
}
END_TEST

START_TEST(test_fold)
{
	struct buf out = BUF_INIT;
	header_fold("To", "aaaaaaaaaa@example.org, bbbbbbbbbb@example.org, cccccccccc@example.org", 40, &out);
	ck_assert_str_eq(buf_str(&out), "To: aaaaaaaaaa@example.org,\n\tbbbbbbbbbb@example.org,\n\tcccccccccc@example.org\n");
	buf_reset(&out);
	header_fold("X", "short", 78, &out);
	ck_assert_str_eq(buf_str(&out), "X: short\n");
	buf_free(&out);
}
END_TEST

START_TEST(test_long_name)
{
	char line[1200];
	memset(line, 'a', 1100);
	memcpy(line + 1100, ": v\n", 5);
	ck_assert(!header_line_is_field(line, strlen(line), NULL));
	size_t n;
	ck_assert(header_line_is_field("Ab-C: x", 7, &n));
	ck_assert_uint_eq(n, 4);
}
END_TEST

START_TEST(test_line_kind)
{
	/* Part of a line: a field, not one whatever follows, or not known yet. */
	static const struct {
		const char *line;
		enum header_line kind;
		size_t namelen;
	} cases[] = {
		{"", HEADER_LINE_UNKNOWN, 0},
		{"X-Name", HEADER_LINE_UNKNOWN, 0},
		{"X-Name  \t", HEADER_LINE_UNKNOWN, 0},
		{"X-Name:", HEADER_LINE_FIELD, 6},
		{"X-Name \t: v", HEADER_LINE_FIELD, 6},
		{"X-Name x", HEADER_LINE_OTHER, 0},
		{" folded", HEADER_LINE_OTHER, 0},
		{":no name", HEADER_LINE_OTHER, 0},
		{"caf\xc3\xa9:", HEADER_LINE_OTHER, 0},
		{"From joe", HEADER_LINE_OTHER, 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = 0;
		ck_assert_int_eq(header_line_kind(cases[i].line, strlen(cases[i].line), &n), cases[i].kind);
		ck_assert_uint_eq(n, cases[i].namelen);
	}
	char line[1200];
	memset(line, 'a', 999);	/* a name longer than any can be */
	ck_assert_int_eq(header_line_kind(line, 999, NULL), HEADER_LINE_OTHER);
	ck_assert_int_eq(header_line_kind(line, 998, NULL), HEADER_LINE_UNKNOWN);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("header");
	TCase *tc = tcase_create("core");
	tcase_add_loop_test(tc, test_parse, 0, sizeof(parse_cases) / sizeof(parse_cases[0]));
	tcase_add_test(tc, test_edit);
	tcase_add_test(tc, test_fold);
	tcase_add_test(tc, test_long_name);
	tcase_add_test(tc, test_line_kind);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
