/*
 * test_smtpc_body.c - Check suite for the content-to-wire encoder of the
 * SMTP client (lib/mail/smtpc_body.c): line ends, NUL, dot-stuffing,
 * long header and body lines, 8bit to quoted-printable through MIME
 * structure, and the same bytes whatever the chunks the content comes in.
 */
#include "compat.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "mail/smtpc_body.h"

#define S(x) x, sizeof(x) - 1
#define D SMTPC_BODY_DOTS
#define Q SMTPC_BODY_TO_QP

static const struct row {
	const char *name;
	unsigned flags;
	size_t limit;
	const char *in;
	size_t in_len;
	const char *want;
	size_t want_len;
} rows[] = {
	{"lf to crlf", D, 998, S("Subject: a\n\nhello\nworld\n"), S("Subject: a\r\n\r\nhello\r\nworld\r\n")},
	{"no final line end", D, 998, S("a: b\n\nx"), S("a: b\r\n\r\nx\r\n")},
	{"crlf kept", D, 998, S("a: b\r\n\r\nx\r\n"), S("a: b\r\n\r\nx\r\n")},
	{"empty", D, 998, S(""), S("")},
	{"dots", D, 998, S("a: b\n\n.\n..x\n.y\nz.\n"), S("a: b\r\n\r\n..\r\n...x\r\n..y\r\nz.\r\n")},
	{"no dots for bdat", 0, 998, S("a: b\n\n.\n..x\n"), S("a: b\r\n\r\n.\r\n..x\r\n")},
	{"bare cr is a line end", D, 998, S("a: b\n\nx\ry\r\nz\r"), S("a: b\r\n\r\nx\r\ny\r\nz\r\n")},
	{"smuggling", D, 998, S("a: b\n\nx\r.\rMAIL FROM:<x@example.org>\r\n"),
	 S("a: b\r\n\r\nx\r\n..\r\nMAIL FROM:<x@example.org>\r\n")},
	{"smuggling lf", D, 998, S("a: b\n\nx\n.\nQUIT\n"), S("a: b\r\n\r\nx\r\n..\r\nQUIT\r\n")},
	{"nul dropped", D, 998, S("a: b\0c\n\nx\0y\n\0"), S("a: bc\r\n\r\nxy\r\n")},
	{"nul between cr and lf", D, 998, S("a: b\n\nx\r\0\ny\n"), S("a: b\r\n\r\nx\r\ny\r\n")},
	{"continuation", D, 998, S("Subject: a\n\tb\n c\n\nx\n"), S("Subject: a\r\n\tb\r\n c\r\n\r\nx\r\n")},
	{"no headers", D, 998, S("hello world\n.\n"), S("hello world\r\n..\r\n")},
	{"body line broken", D, 10, S("a: b\n\n0123456789abcdefghij.klm\n"),
	 S("a: b\r\n\r\n0123456789\r\n abcdefghi\r\n j.klm\r\n")},
	{"line at the limit", D, 10, S("a: b\n\n0123456789\n"), S("a: b\r\n\r\n0123456789\r\n")},
	{"header folded at space", D, 20, S("Subject: aaa bbb ccc ddd eee\n\nx\n"),
	 S("Subject: aaa bbb\r\n ccc ddd eee\r\n\r\nx\r\n")},
	{"header broken without space", D, 10, S("X-Long: abcdefghijklmnop\n\n"),
	 S("X-Long:\r\n abcdefghi\r\n jklmnop\r\n\r\n")},
	{"no limit", D, 0, S("X-Long: abcdefghijklmnop\n\n0123456789abc\n"),
	 S("X-Long: abcdefghijklmnop\r\n\r\n0123456789abc\r\n")},
	{"qp simple", D | Q, 998, S("Subject: s\n\ncaf\xc3\xa9 = x \n.\n"),
	 S("Subject: s\r\nMIME-Version: 1.0\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
	   "caf=C3=A9 =3D x=20\r\n..\r\n")},
	{"qp replaces 8bit", D | Q, 998,
	 S("MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n"
	   "Subject: s\n\n\xe9t\xe9\n"),
	 S("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nSubject: s\r\n"
	   "Content-Transfer-Encoding: quoted-printable\r\n\r\n=E9t=E9\r\n")},
	{"qp trailing tab at end", D | Q, 998, S("MIME-Version: 1.0\n\nx \t"),
	 S("MIME-Version: 1.0\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nx =09\r\n")},
	{"qp soft breaks", D | Q, 998,
	 S("MIME-Version: 1.0\n\n"
	   "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n"),
	 S("MIME-Version: 1.0\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
	   "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa=\r\n"
	   "aaaaaaaaaaaaaaaaaaaaaaaaa\r\n")},
	{"qp within a small limit", D | Q, 50,
	 S("MIME-Version: 1.0\n\n\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\n"),
	 S("MIME-Version: 1.0\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
	   "=E9=E9=E9=E9=E9=E9=E9=E9=E9=E9=E9=E9=E9=E9=E9=E9=\r\n=E9=E9=E9=E9\r\n")},
	{"8-bit header stays", D | Q, 998, S("Subject: \xe9\n\nx\n"),
	 S("Subject: \xe9\r\nMIME-Version: 1.0\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nx\r\n")},
	{"without TO_QP 8bit stays", D, 998, S("Content-Transfer-Encoding: 8bit\n\n\xe9\n"),
	 S("Content-Transfer-Encoding: 8bit\r\n\r\n\xe9\r\n")},
	{"binary left", D | Q, 998, S("Content-Transfer-Encoding: binary\n\n\xe9\n"),
	 S("Content-Transfer-Encoding: binary\r\n\r\n\xe9\r\n")},
	{"multipart", D | Q, 998,
	 S("MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"XX\"\nContent-Transfer-Encoding: 8bit\n\n"
	   "preamble\n--XX\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\nh\xe9\n"
	   "--XX  \nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\nAAEC\n"
	   "--XX--\nepilogue\n"),
	 S("MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"XX\"\r\n"
	   "Content-Transfer-Encoding: 7bit\r\n\r\n"
	   "preamble\r\n--XX\r\nContent-Type: text/plain; charset=utf-8\r\n"
	   "Content-Transfer-Encoding: quoted-printable\r\n\r\nh=E9\r\n"
	   "--XX  \r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\nAAEC\r\n"
	   "--XX--\r\nepilogue\r\n")},
	{"nested message", D | Q, 998,
	 S("Content-Type: multipart/mixed; boundary=b1\n\n--b1\nContent-Type: message/rfc822\n"
	   "Content-Transfer-Encoding: 8bit\n\nSubject: inner\n"
	   "Content-Type: multipart/alternative; boundary=\"b2\"\n\n--b2\nContent-Type: text/plain\n\n\xfc\n"
	   "--b2--\n--b1\nContent-Type: message/rfc822\n\nSubject: in2\n\n\xe4\n--b1--\n"),
	 S("Content-Type: multipart/mixed; boundary=b1\r\n\r\n--b1\r\nContent-Type: message/rfc822\r\n"
	   "Content-Transfer-Encoding: 7bit\r\n\r\nSubject: inner\r\n"
	   "Content-Type: multipart/alternative; boundary=\"b2\"\r\n\r\n--b2\r\nContent-Type: text/plain\r\n"
	   "Content-Transfer-Encoding: quoted-printable\r\n\r\n=FC\r\n"
	   "--b2--\r\n--b1\r\nContent-Type: message/rfc822\r\n\r\nSubject: in2\r\nMIME-Version: 1.0\r\n"
	   "Content-Transfer-Encoding: quoted-printable\r\n\r\n=E4\r\n--b1--\r\n")},
	{"outer boundary ends inner parts", D | Q, 998,
	 S("Content-Type: multipart/mixed; boundary=o\n\n--o\nContent-Type: multipart/mixed; boundary=i\n\n"
	   "--i\n\n\xe9\n--o\n\n\xe8\n--o--\n"),
	 S("Content-Type: multipart/mixed; boundary=o\r\n\r\n--o\r\nContent-Type: multipart/mixed; boundary=i\r\n"
	   "\r\n--i\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n=E9\r\n--o\r\n"
	   "Content-Transfer-Encoding: quoted-printable\r\n\r\n=E8\r\n--o--\r\n")},
	{"message at the top, space before colons", D | Q, 998,
	 S("Subject : x\nContent-Type : message/rfc822\nContent-Transfer-Encoding: 8bit\n\nSubject: in\n\nh\xe9llo\n"),
	 S("Subject : x\r\nContent-Type : message/rfc822\r\nContent-Transfer-Encoding: 7bit\r\n\r\n"
	   "Subject: in\r\nMIME-Version: 1.0\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nh=E9llo\r\n")},
	{"quoted boundary with escape", D | Q, 998,
	 S("Content-Type: multipart/mixed; boundary=\"a\\\"b\"\n\n--a\"b\nContent-Type: text/plain\n\n\xe9 \n--a\"b--\n"),
	 S("Content-Type: multipart/mixed; boundary=\"a\\\"b\"\r\n\r\n--a\"b\r\nContent-Type: text/plain\r\n"
	   "Content-Transfer-Encoding: quoted-printable\r\n\r\n=E9=20\r\n--a\"b--\r\n")},
	{"digest parts are messages", D | Q, 998,
	 S("Content-Type: multipart/digest; boundary=d\n\n--d\n\nSubject: m1\n\n\xe9\n--d--\n"),
	 S("Content-Type: multipart/digest; boundary=d\r\n\r\n--d\r\n\r\nSubject: m1\r\nMIME-Version: 1.0\r\n"
	   "Content-Transfer-Encoding: quoted-printable\r\n\r\n=E9\r\n--d--\r\n")},
	{"multipart without boundary", D | Q, 998, S("Content-Type: multipart/mixed\n\n\xe9\n"),
	 S("Content-Type: multipart/mixed\r\n\r\n\xe9\r\n")},
	{"comments and case", D | Q, 998,
	 S("content-type: (c) Multipart/Mixed (x) ;\n BOUNDARY = \"a b\"\n\n--a b\n\n\xe9\n--a b--\n"),
	 S("content-type: (c) Multipart/Mixed (x) ;\r\n BOUNDARY = \"a b\"\r\n\r\n--a b\r\n"
	   "Content-Transfer-Encoding: quoted-printable\r\n\r\n=E9\r\n--a b--\r\n")},
	{"headers only", D | Q, 998, S("Subject: x\nContent-Transfer-Encoding: 8bit"),
	 S("Subject: x\r\nContent-Transfer-Encoding: 8bit\r\n")},
	{"not a header ends headers", D | Q, 998, S("Subject: x\nnot a header\n\xe9\n"),
	 S("Subject: x\r\nMIME-Version: 1.0\r\nContent-Transfer-Encoding: quoted-printable\r\n"
	   "not a header\r\n=E9\r\n")},
};

#define NROWS ((int)(sizeof(rows) / sizeof(rows[0])))

/* Feed in chunks of step bytes (0: all at once). */
static void run(const struct row *r, size_t step, struct buf *out)
{
	struct smtpc_body b;

	smtpc_body_init(&b, r->flags, r->limit);
	if (step == 0)
		step = r->in_len ? r->in_len : 1;
	for (size_t i = 0; i < r->in_len; i += step) {
		size_t n = r->in_len - i < step ? r->in_len - i : step;
		smtpc_body_feed(&b, r->in + i, n, out);
	}
	smtpc_body_finish(&b, out);
	smtpc_body_free(&b);
}

static void check_bytes(const char *name, size_t step, const struct buf *got, const char *want,
    size_t want_len)
{
	ck_assert_msg(got->len == want_len && (want_len == 0 || memcmp(got->data, want, want_len) == 0),
	    "%s (chunks of %zu): got [%.*s]", name, step, (int)got->len, got->data ? got->data : "");
}

START_TEST(test_rows)
{
	struct buf out = BUF_INIT;

	run(&rows[_i], 0, &out);
	check_bytes(rows[_i].name, 0, &out, rows[_i].want, rows[_i].want_len);
	buf_free(&out);
}
END_TEST

/* Every state survives a chunk edge: any chunking gives the same bytes. */
START_TEST(test_chunks)
{
	for (size_t step = 1; step <= 7; step++) {
		struct buf out = BUF_INIT;
		run(&rows[_i], step, &out);
		check_bytes(rows[_i].name, step, &out, rows[_i].want, rows[_i].want_len);
		buf_free(&out);
	}
}
END_TEST

/* A "." split from its line start across two feeds is still stuffed. */
START_TEST(test_dot_at_edge)
{
	struct smtpc_body b;
	struct buf out = BUF_INIT;

	smtpc_body_init(&b, SMTPC_BODY_DOTS, 998);
	smtpc_body_feed(&b, S("a: b\n\nline\n"), &out);
	smtpc_body_feed(&b, S(".\n.x"), &out);
	smtpc_body_feed(&b, S("\r"), &out);
	smtpc_body_feed(&b, S("\n."), &out);
	smtpc_body_finish(&b, &out);
	smtpc_body_free(&b);
	ck_assert_str_eq(buf_str(&out), "a: b\r\n\r\nline\r\n..\r\n..x\r\n..\r\n");
	buf_free(&out);
}
END_TEST

static void repeat(struct buf *b, const char *s, size_t times)
{
	for (size_t i = 0; i < times; i++)
		buf_adds(b, s);
}

/* 2000-character lines at smtp_line_length_limit's default. */
START_TEST(test_long_lines)
{
	struct buf in = BUF_INIT, want = BUF_INIT, out = BUF_INIT;
	struct smtpc_body b;

	/* Header with spaces: folded before the last word that fits. */
	buf_adds(&in, "Subject:");
	repeat(&in, " abcdefghi", 200);
	/* Header without spaces: folded after the name, then broken. */
	buf_adds(&in, "\nX-H: ");
	repeat(&in, "y", 2000);
	buf_adds(&in, "\n\n");
	repeat(&in, "z", 2000);
	buf_adds(&in, "\n");

	buf_adds(&want, "Subject:");
	repeat(&want, " abcdefghi", 98);
	buf_adds(&want, "\r\n");
	repeat(&want, " abcdefghi", 99);	/* 990 */
	buf_adds(&want, "\r\n");
	repeat(&want, " abcdefghi", 3);
	buf_adds(&want, "\r\nX-H:\r\n ");
	repeat(&want, "y", 997);
	buf_adds(&want, "\r\n ");
	repeat(&want, "y", 997);
	buf_adds(&want, "\r\n ");
	repeat(&want, "y", 6);
	buf_adds(&want, "\r\n\r\n");
	repeat(&want, "z", 998);	/* body lines: CRLF SPACE, as Postfix */
	buf_adds(&want, "\r\n ");
	repeat(&want, "z", 997);
	buf_adds(&want, "\r\n ");
	repeat(&want, "z", 5);
	buf_adds(&want, "\r\n");

	for (size_t step = 0; step <= 3; step++) {
		buf_reset(&out);
		smtpc_body_init(&b, SMTPC_BODY_DOTS, 998);
		if (step == 0) {
			smtpc_body_feed(&b, in.data, in.len, &out);
		} else {
			for (size_t i = 0; i < in.len; i += step)
				smtpc_body_feed(&b, in.data + i, in.len - i < step ? in.len - i : step, &out);
		}
		smtpc_body_finish(&b, &out);
		smtpc_body_free(&b);
		check_bytes("long lines", step, &out, want.data, want.len);
	}
	buf_free(&in);
	buf_free(&want);
	buf_free(&out);
}
END_TEST

/* A header too long to parse is sent, streamed, and the part left as it is. */
START_TEST(test_huge_header)
{
	struct buf in = BUF_INIT, want = BUF_INIT, out = BUF_INIT;
	struct smtpc_body b;

	buf_adds(&in, "Content-Transfer-Encoding: 8bit;");
	repeat(&in, " x", SMTPC_BODY_HEADER_MAX);
	buf_adds(&in, "\n\n\xe9\n");
	buf_add(&want, in.data, in.len - 4);
	buf_adds(&want, "\r\n\r\n\xe9\r\n");
	smtpc_body_init(&b, SMTPC_BODY_DOTS | SMTPC_BODY_TO_QP, 0);
	smtpc_body_feed(&b, in.data, in.len, &out);
	smtpc_body_finish(&b, &out);
	smtpc_body_free(&b);
	check_bytes("huge header", 0, &out, want.data, want.len);
	buf_free(&in);
	buf_free(&want);
	buf_free(&out);
}
END_TEST

/* Nesting deeper than SMTPC_BODY_NEST_MAX: sent as it is, no crash. */
START_TEST(test_deep_nesting)
{
	struct buf in = BUF_INIT, out = BUF_INIT;
	struct smtpc_body b;

	for (int i = 0; i < 3 * SMTPC_BODY_NEST_MAX; i++)
		buf_printf(&in, "Content-Type: multipart/mixed; boundary=b%d\n\n--b%d\n", i, i);
	buf_adds(&in, "\n\xe9\n");
	smtpc_body_init(&b, SMTPC_BODY_DOTS | SMTPC_BODY_TO_QP, 998);
	smtpc_body_feed(&b, in.data, in.len, &out);
	smtpc_body_finish(&b, &out);
	smtpc_body_free(&b);
	ck_assert_ptr_nonnull(strstr(buf_str(&out), "\r\n\xe9\r\n"));
	buf_free(&in);
	buf_free(&out);
}
END_TEST

START_TEST(test_is_8bit)
{
	ck_assert(!smtpc_content_is_8bit(S("Subject: x\n\nhello\n")));
	ck_assert(smtpc_content_is_8bit(S("Subject: \xe9\n\n")));
	ck_assert(smtpc_content_is_8bit(S("a: b\n\n\x80")));
	ck_assert(!smtpc_content_is_8bit(S("")));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("smtpc_body");
	TCase *tc = tcase_create("core");
	tcase_add_loop_test(tc, test_rows, 0, NROWS);
	tcase_add_loop_test(tc, test_chunks, 0, NROWS);
	tcase_add_test(tc, test_dot_at_edge);
	tcase_add_test(tc, test_long_lines);
	tcase_add_test(tc, test_huge_header);
	tcase_add_test(tc, test_deep_nesting);
	tcase_add_test(tc, test_is_8bit);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
