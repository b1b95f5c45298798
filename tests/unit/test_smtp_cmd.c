/*
 * test_smtp_cmd.c - Check suite for the SMTP command parser
 * (lib/mail/smtp_cmd.c) and base64 (lib/util/base64.c): table rows of
 * input and expected result.
 */
#include "compat.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "mail/cleanup.h"
#include "mail/smtp_cmd.h"
#include "util/base64.h"

static const struct verb_row {
	const char *line;
	enum smtp_verb verb;
	const char *arg;
} verb_rows[] = {
	{.line = "EHLO x.test", .verb = SMTP_VERB_EHLO, .arg = "x.test"},
	{.line = "ehlo   x", .verb = SMTP_VERB_EHLO, .arg = "x"},
	{.line = "MAIL FROM:<a@b>", .verb = SMTP_VERB_MAIL, .arg = "FROM:<a@b>"},
	{.line = "QUIT", .verb = SMTP_VERB_QUIT, .arg = ""},
	{.line = "StartTLS", .verb = SMTP_VERB_STARTTLS, .arg = ""},
	{.line = "MAILX", .verb = SMTP_VERB_UNKNOWN},
	{.line = "MAIL:x", .verb = SMTP_VERB_UNKNOWN},
	{.line = "GET / HTTP/1.1", .verb = SMTP_VERB_HTTP, .arg = "/ HTTP/1.1"},
	{.line = "", .verb = SMTP_VERB_UNKNOWN, .arg = ""},
	{.line = "AVERYLONGVERBINDEEDXXXXXXXXXX", .verb = SMTP_VERB_UNKNOWN, .arg = ""},
	{.line = "BDAT 10 LAST", .verb = SMTP_VERB_BDAT, .arg = "10 LAST"},
};

START_TEST(test_verbs)
{
	const struct verb_row *r = &verb_rows[_i];
	struct smtp_cmd cmd;
	smtp_cmd_parse(r->line, &cmd);
	ck_assert_msg(cmd.verb == r->verb, "%s: verb %d", r->line, cmd.verb);
	if (r->arg != NULL)
		ck_assert_str_eq(cmd.arg, r->arg);
}
END_TEST

static const struct mail_row {
	const char *arg;
	enum smtp_path_err err;
	const char *addr;
	long long size;
	int body, ret;
	bool utf8;
	const char *envid;
} mail_rows[] = {
	{.arg = "FROM:<a@b.test>", .addr = "a@b.test", .size = -1},
	{.arg = "from:<>", .addr = "", .size = -1},
	{.arg = "FROM: <a@b.test>", .addr = "a@b.test", .size = -1},
	{.arg = "FROM:a@b.test", .addr = "a@b.test", .size = -1},
	{.arg = "FROM:<@r1.test,@r2.test:a@b.test>", .addr = "a@b.test", .size = -1},
	{.arg = "FROM:<\"x y\"@b.test>", .addr = "\"x y\"@b.test", .size = -1},
	{.arg = "FROM:<\"x>y\"@b.test>", .addr = "\"x>y\"@b.test", .size = -1},
	{.arg = "FROM:<a@[192.0.2.1]>", .addr = "a@[192.0.2.1]", .size = -1},
	{.arg = "FROM:<a@[IPv6:::1]>", .addr = "a@[IPv6:::1]", .size = -1},
	{.arg = "FROM:<a@b.test> SIZE=100 BODY=8BITMIME SMTPUTF8 RET=FULL ENVID=x+2By",
	 .addr = "a@b.test", .size = 100, .body = SMTP_BODY_8BITMIME, .ret = SMTP_RET_FULL,
	 .utf8 = true, .envid = "x+y"},
	{.arg = "FROM:<a@b.test> body=7bit ret=hdrs", .addr = "a@b.test", .size = -1,
	 .body = SMTP_BODY_7BIT, .ret = SMTP_RET_HDRS},
	{.arg = "FROM:<a@b.test> AUTH=<>", .addr = "a@b.test", .size = -1},
	{.arg = "TO:<a@b.test>", .err = SMTP_PATH_SYNTAX},
	{.arg = "FROM:", .err = SMTP_PATH_SYNTAX},
	{.arg = "FROM:<a@b.test", .err = SMTP_PATH_BAD_ADDR},
	{.arg = "FROM:<a@b.test>x", .err = SMTP_PATH_BAD_ADDR},
	{.arg = "FROM:<a@@b.test>", .err = SMTP_PATH_BAD_ADDR},
	{.arg = "FROM:<a@x@b.test>", .err = SMTP_PATH_BAD_ADDR},
	{.arg = "FROM:<a..b@b.test>", .err = SMTP_PATH_BAD_ADDR},
	{.arg = "FROM:<.a@b.test>", .err = SMTP_PATH_BAD_ADDR},
	{.arg = "FROM:<a@b..test>", .err = SMTP_PATH_BAD_ADDR},
	{.arg = "FROM:<a@.b.test>", .err = SMTP_PATH_BAD_ADDR},
	{.arg = "FROM:<a@b.test.>", .err = SMTP_PATH_BAD_ADDR},
	{.arg = "FROM:<a@-b.test>", .err = SMTP_PATH_BAD_ADDR},
	{.arg = "FROM:<a@b-.test>", .err = SMTP_PATH_BAD_ADDR},
	{.arg = "FROM:<a>", .err = SMTP_PATH_BAD_ADDR},
	{.arg = "FROM:<a@>", .err = SMTP_PATH_BAD_ADDR},
	{.arg = "FROM:<@b.test>", .err = SMTP_PATH_BAD_ADDR},
	{.arg = "FROM:<@r1.test:>", .err = SMTP_PATH_BAD_ADDR},
	{.arg = "FROM:<@r1..test:a@b.test>", .err = SMTP_PATH_BAD_ADDR},
	{.arg = "FROM:<a@[300.1.1.1]>", .err = SMTP_PATH_BAD_ADDR},
	{.arg = "FROM:<a@[1.2.3]>", .err = SMTP_PATH_BAD_ADDR},
	{.arg = "FROM:<\"unterminated@b.test>", .err = SMTP_PATH_BAD_ADDR},
	{.arg = "FROM:<a\x01@b.test>", .err = SMTP_PATH_BAD_ADDR},
	{.arg = "FROM:<a@b.test> SIZE=abc", .err = SMTP_PATH_BAD_PARAM},
	{.arg = "FROM:<a@b.test> SIZE=1 SIZE=2", .err = SMTP_PATH_BAD_PARAM},
	{.arg = "FROM:<a@b.test> SIZE", .err = SMTP_PATH_BAD_PARAM},
	{.arg = "FROM:<a@b.test> BODY=BINARYMIME", .err = SMTP_PATH_BAD_PARAM},
	{.arg = "FROM:<a@b.test> SMTPUTF8=yes", .err = SMTP_PATH_BAD_PARAM},
	{.arg = "FROM:<a@b.test> RET=ALL", .err = SMTP_PATH_BAD_PARAM},
	{.arg = "FROM:<a@b.test> ENVID=a+zz", .err = SMTP_PATH_BAD_PARAM},
	{.arg = "FROM:<a@b.test> ENVID=a+4", .err = SMTP_PATH_BAD_PARAM},
	{.arg = "FROM:<a@b.test> ENVID=a+20b", .addr = "a@b.test", .size = -1, .envid = "a b"},
	{.arg = "FROM:<a@b.test> ENVID=a+0Ab", .err = SMTP_PATH_BAD_PARAM},
	{.arg = "FROM:<a@b.test> ENVID=a+00b", .err = SMTP_PATH_BAD_PARAM},
	{.arg = "FROM:<a@b.test> ENVID=a+7Fb", .err = SMTP_PATH_BAD_PARAM},
	{.arg = "FROM:<a@b.test> XYZZY", .err = SMTP_PATH_BAD_PARAM},
};

START_TEST(test_mail)
{
	const struct mail_row *r = &mail_rows[_i];
	struct smtp_mail_args a;
	struct buf bad = BUF_INIT;
	smtp_mail_args_init(&a);
	enum smtp_path_err err = smtp_parse_mail(r->arg, &a, &bad);
	ck_assert_msg(err == r->err, "%s: err %d want %d", r->arg, err, r->err);
	if (err == SMTP_PATH_OK) {
		ck_assert_str_eq(buf_str(&a.addr), r->addr);
		ck_assert_int_eq(a.size, r->size);
		ck_assert_int_eq(a.body, r->body);
		ck_assert_int_eq(a.ret, r->ret);
		ck_assert_int_eq(a.smtputf8, r->utf8);
		ck_assert_str_eq(buf_str(&a.envid), r->envid ? r->envid : "");
	}
	smtp_mail_args_free(&a);
	buf_free(&bad);
}
END_TEST

/* 1010 octets of local part: over any path limit. */
#define L10	"uuuuuuuuuu"
#define L100	L10 L10 L10 L10 L10 L10 L10 L10 L10 L10
#define LONG_LOCAL	L100 L100 L100 L100 L100 L100 L100 L100 L100 L100 L10

static const struct rcpt_row {
	const char *arg;
	enum smtp_path_err err;
	const char *addr;
	int notify;
	const char *orcpt;
} rcpt_rows[] = {
	{.arg = "TO:<u@mx.test>", .addr = "u@mx.test"},
	{.arg = "TO:<Postmaster>", .addr = "Postmaster"},
	{.arg = "TO:<user%other.test@mx.test>", .addr = "user%other.test@mx.test"},
	{.arg = "TO:<other.test!user@mx.test>", .addr = "other.test!user@mx.test"},
	{.arg = "TO:<\"user@other.test\"@mx.test>", .addr = "\"user@other.test\"@mx.test"},
	{.arg = "TO:<@a.test:u@mx.test>", .addr = "u@mx.test"},
	{.arg = "TO:<u@mx.test> NOTIFY=SUCCESS,DELAY", .addr = "u@mx.test",
	 .notify = DSN_NOTIFY_SUCCESS | DSN_NOTIFY_DELAY},
	{.arg = "TO:<u@mx.test> NOTIFY=never", .addr = "u@mx.test", .notify = DSN_NOTIFY_NEVER},
	{.arg = "TO:<u@mx.test> ORCPT=RFC822;u+40x.test", .addr = "u@mx.test", .orcpt = "rfc822;u@x.test"},
	{.arg = "TO:<>", .err = SMTP_PATH_BAD_ADDR},
	{.arg = "TO:<u@other.test@mx.test>", .err = SMTP_PATH_BAD_ADDR},
	{.arg = "TO:<u@mx.test> NOTIFY=NEVER,DELAY", .err = SMTP_PATH_BAD_PARAM},
	{.arg = "TO:<u@mx.test> NOTIFY=SUCCESS,", .err = SMTP_PATH_BAD_PARAM},
	{.arg = "TO:<u@mx.test> NOTIFY=", .err = SMTP_PATH_BAD_PARAM},
	{.arg = "TO:<u@mx.test> ORCPT=u@x", .err = SMTP_PATH_BAD_PARAM},
	{.arg = "TO:<u@mx.test> ORCPT=rfc822;", .err = SMTP_PATH_BAD_PARAM},
	{.arg = "TO:<u@mx.test> ORCPT=rfc822;a+0Ab", .err = SMTP_PATH_BAD_PARAM},
	{.arg = "TO:<u@mx.test> ORCPT=rfc822;a+7Fb", .err = SMTP_PATH_BAD_PARAM},
	{.arg = "TO:<u@mx.test> ORCPT=rfc822;a+00b", .err = SMTP_PATH_BAD_PARAM},
	{.arg = "TO:<u@mx.test> SIZE=1", .err = SMTP_PATH_BAD_PARAM},
	{.arg = "FROM:<u@mx.test>", .err = SMTP_PATH_SYNTAX},
	/* Malformed addresses: 501 5.1.3 from the engine, never a crash. */
	{.arg = "TO:<u@>", .err = SMTP_PATH_BAD_ADDR},
	{.arg = "TO:<@mx.test>", .err = SMTP_PATH_BAD_ADDR},
	{.arg = "TO:<u@mx..test>", .err = SMTP_PATH_BAD_ADDR},
	{.arg = "TO:<u@.mx.test>", .err = SMTP_PATH_BAD_ADDR},
	{.arg = "TO:<u@mx.test.>", .err = SMTP_PATH_BAD_ADDR},
	{.arg = "TO:<u@-mx.test>", .err = SMTP_PATH_BAD_ADDR},
	{.arg = "TO:<u@mx_x.test>", .addr = "u@mx_x.test"},	/* underscores occur in real names */
	{.arg = "TO:<u..v@mx.test>", .err = SMTP_PATH_BAD_ADDR},
	{.arg = "TO:<.u@mx.test>", .err = SMTP_PATH_BAD_ADDR},
	{.arg = "TO:<u.@mx.test>", .err = SMTP_PATH_BAD_ADDR},
	{.arg = "TO:<u v@mx.test>", .err = SMTP_PATH_BAD_ADDR},
	{.arg = "TO:<u(c)@mx.test>", .err = SMTP_PATH_BAD_ADDR},
	{.arg = "TO:<u\\@x.test@mx.test>", .err = SMTP_PATH_BAD_ADDR},
	{.arg = "TO:<\"u@mx.test>", .err = SMTP_PATH_BAD_ADDR},
	{.arg = "TO:<u\001@mx.test>", .err = SMTP_PATH_BAD_ADDR},
	{.arg = "TO:<u@[1.2.3]>", .err = SMTP_PATH_BAD_ADDR},
	{.arg = "TO:<u@[256.1.1.1]>", .err = SMTP_PATH_BAD_ADDR},
	{.arg = "TO:<u@[IPv6:::1>", .err = SMTP_PATH_BAD_ADDR},
	{.arg = "TO:<u@[IPv6:1::2::3]>", .err = SMTP_PATH_BAD_ADDR},
	{.arg = "TO:<u@mx.test:25>", .err = SMTP_PATH_BAD_ADDR},
	{.arg = "TO:<@a.test,u@mx.test>", .err = SMTP_PATH_BAD_ADDR},
	{.arg = "TO:<@:u@mx.test>", .err = SMTP_PATH_BAD_ADDR},
	{.arg = "TO:<@a.test:>", .err = SMTP_PATH_BAD_ADDR},
	{.arg = "TO:<u@mx.test", .err = SMTP_PATH_BAD_ADDR},
	{.arg = "TO:<<u@mx.test>>", .err = SMTP_PATH_BAD_ADDR},
	{.arg = "TO:<u@mx.test%x>", .err = SMTP_PATH_BAD_ADDR},
	{.arg = "TO:<u@mx.test>x", .err = SMTP_PATH_BAD_ADDR},
	{.arg = "TO:<u@[IPv6:::1]>", .addr = "u@[IPv6:::1]"},
	{.arg = "TO:<\"u v\"@mx.test>", .addr = "\"u v\"@mx.test"},
	{.arg = "TO:<u@xn--bcher-kva.test>", .addr = "u@xn--bcher-kva.test"},
	{.arg = "TO:<" LONG_LOCAL "@mx.test>", .err = SMTP_PATH_TOO_LONG},
};

START_TEST(test_rcpt)
{
	const struct rcpt_row *r = &rcpt_rows[_i];
	struct smtp_rcpt_args a;
	smtp_rcpt_args_init(&a);
	enum smtp_path_err err = smtp_parse_rcpt(r->arg, &a, NULL);
	ck_assert_msg(err == r->err, "%s: err %d want %d", r->arg, err, r->err);
	if (err == SMTP_PATH_OK) {
		ck_assert_str_eq(buf_str(&a.addr), r->addr);
		ck_assert_int_eq(a.notify, r->notify);
		ck_assert_str_eq(buf_str(&a.orcpt), r->orcpt ? r->orcpt : "");
	}
	smtp_rcpt_args_free(&a);
}
END_TEST

static const struct bdat_row {
	const char *arg;
	bool ok;
	unsigned long long size;
	bool last;
} bdat_rows[] = {
	{.arg = "100", .ok = true, .size = 100},
	{.arg = "0 LAST", .ok = true, .size = 0, .last = true},
	{.arg = "7 last", .ok = true, .size = 7, .last = true},
	{.arg = "", .ok = false},
	{.arg = "-1", .ok = false},
	{.arg = "10 LASTX", .ok = false},
	{.arg = "10 LAST x", .ok = false},
	{.arg = "99999999999999999999999", .ok = false},
};

START_TEST(test_bdat)
{
	const struct bdat_row *r = &bdat_rows[_i];
	unsigned long long size = 0;
	bool last = false;
	ck_assert_int_eq(smtp_parse_bdat(r->arg, &size, &last), r->ok);
	if (r->ok) {
		ck_assert_uint_eq(size, r->size);
		ck_assert_int_eq(last, r->last);
	}
}
END_TEST

static const struct b64_row {
	const char *text;
	bool ok;
	const char *plain;
	size_t plain_len;
} b64_rows[] = {
	{.text = "", .ok = true, .plain = "", .plain_len = 0},
	{.text = "Zg==", .ok = true, .plain = "f", .plain_len = 1},
	{.text = "Zm8=", .ok = true, .plain = "fo", .plain_len = 2},
	{.text = "Zm9v", .ok = true, .plain = "foo", .plain_len = 3},
	{.text = "AHVzZXIAcGFzcw==", .ok = true, .plain = "\0user\0pass", .plain_len = 10},
	{.text = "Zm9", .ok = false},
	{.text = "Zm=v", .ok = false},
	{.text = "Z===", .ok = false},
	{.text = "Zm9v!!!!", .ok = false},
	{.text = "Zg==Zg==", .ok = false},
};

START_TEST(test_base64)
{
	const struct b64_row *r = &b64_rows[_i];
	struct buf out = BUF_INIT, enc = BUF_INIT;
	ck_assert_int_eq(base64_decode(r->text, strlen(r->text), &out), r->ok);
	if (r->ok) {
		ck_assert_uint_eq(out.len, r->plain_len);
		ck_assert(memcmp(out.data ? out.data : "", r->plain, r->plain_len) == 0);
		base64_encode(r->plain, r->plain_len, &enc);
		ck_assert_str_eq(buf_str(&enc), r->text);
	}
	buf_free(&out);
	buf_free(&enc);
}
END_TEST

START_TEST(test_xtext)
{
	struct buf out = BUF_INIT;
	smtp_xtext_encode("a+b=c d", 7, &out);
	ck_assert_str_eq(buf_str(&out), "a+2Bb+3Dc+20d");
	struct buf dec = BUF_INIT;
	ck_assert(smtp_xtext_decode(out.data, out.len, &dec));
	ck_assert_str_eq(buf_str(&dec), "a+b=c d");
	ck_assert(!smtp_xtext_decode("a=b", 3, &dec));
	ck_assert(!smtp_xtext_decode("a+", 2, &dec));
	buf_free(&out);
	buf_free(&dec);
}
END_TEST

START_TEST(test_helo)
{
	ck_assert(smtp_valid_helo("mx.example.test"));
	ck_assert(smtp_valid_helo("[192.0.2.1]"));
	ck_assert(!smtp_valid_helo(""));
	ck_assert(!smtp_valid_helo("a b"));
	ck_assert(!smtp_valid_helo("a\x01"));
}
END_TEST

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

int main(void)
{
	Suite *s = suite_create("smtp_cmd");
	TCase *tc = tcase_create("parsers");
	tcase_add_loop_test(tc, test_verbs, 0, N(verb_rows));
	tcase_add_loop_test(tc, test_mail, 0, N(mail_rows));
	tcase_add_loop_test(tc, test_rcpt, 0, N(rcpt_rows));
	tcase_add_loop_test(tc, test_bdat, 0, N(bdat_rows));
	tcase_add_loop_test(tc, test_base64, 0, N(b64_rows));
	tcase_add_test(tc, test_xtext);
	tcase_add_test(tc, test_helo);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
