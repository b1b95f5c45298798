/*
 * test_smtp_reply.c - Check suite for the SMTP client's reply reader
 * (lib/mail/smtp_reply.c): single and multi-line replies, partial input,
 * garbage, and enhanced status codes.
 */
#include "compat.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "mail/smtp_reply.h"

static const struct {
	const char *in;
	int code;
	const char *text;
	const char *rest;	/* what stays in the buffer */
} rows[] = {
	{.in = "220 mx.example ESMTP\r\n", .code = 220, .text = "220 mx.example ESMTP", .rest = ""},
	{.in = "250-mx.example\r\n250-SIZE 1000\r\n250 DSN\r\n", .code = 250,
	 .text = "250-mx.example SIZE 1000 DSN", .rest = ""},
	{.in = "250 ok\n354 go\r\n", .code = 250, .text = "250 ok", .rest = "354 go\r\n"},
	{.in = "354\r\n", .code = 354, .text = "354", .rest = ""},
	{.in = "250-partial\r\n250 mo", .code = 0, .text = "", .rest = "250-partial\r\n250 mo"},
	{.in = "", .code = 0, .text = "", .rest = ""},
	{.in = "550 5.1.1 <x>: no\tsuch\r\n", .code = 550, .text = "550 5.1.1 <x>: no such", .rest = ""},
	{.in = "hello\r\n", .code = -1, .text = "malformed reply"},
	{.in = "650 bad class\r\n", .code = -1, .text = "malformed reply"},
	{.in = "25\r\n", .code = -1, .text = "malformed reply"},
	{.in = "250x\r\n", .code = -1, .text = "malformed reply"},
	{.in = "250-a\r\n251 b\r\n", .code = -1,
	 .text = "malformed reply (the code changes within a multi-line reply)"},
};

START_TEST(test_take)
{
	struct buf in = BUF_INIT, text = BUF_INIT;

	buf_adds(&in, rows[_i].in);
	ck_assert_int_eq(smtp_reply_take(&in, &text), rows[_i].code);
	ck_assert_str_eq(buf_str(&text), rows[_i].text);
	if (rows[_i].rest)
		ck_assert_str_eq(buf_str(&in), rows[_i].rest);
	buf_free(&in);
	buf_free(&text);
}
END_TEST

START_TEST(test_too_long)
{
	struct buf in = BUF_INIT, text = BUF_INIT;

	buf_adds(&in, "250 ");
	for (int i = 0; i < SMTP_REPLY_MAX + 10; i++)
		buf_addc(&in, 'x');
	ck_assert_int_eq(smtp_reply_take(&in, &text), -1);
	ck_assert_str_eq(buf_str(&text), "reply line too long");
	buf_free(&in);
	buf_free(&text);
}
END_TEST

static const struct {
	int code;
	const char *text, *dsn;
} statuses[] = {
	{550, "550 5.1.1 <x>: Recipient address rejected", "5.1.1"},
	{250, "250 2.0.0 Ok: queued as X", "2.0.0"},
	{451, "451 4.3.0 try later", "4.3.0"},
	{550, "550 4.1.1 class disagrees", "5.1.1"},
	{550, "550 no enhanced code", "5.0.0"},
	{421, "421", "4.0.0"},
	{550, "550 5.1 too short", "5.0.0"},
	{550, "550 5.1234.1 too long", "5.0.0"},
	{451, "451 4.4.1.1 four parts", "4.0.0"},
};

START_TEST(test_status)
{
	char dsn[16];

	smtp_reply_status(statuses[_i].code, statuses[_i].text, dsn, sizeof(dsn));
	ck_assert_msg(strcmp(dsn, statuses[_i].dsn) == 0, "%s: got %s", statuses[_i].text, dsn);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("smtp_reply");
	TCase *tc = tcase_create("core");
	tcase_add_loop_test(tc, test_take, 0, (int)(sizeof(rows) / sizeof(rows[0])));
	tcase_add_test(tc, test_too_long);
	tcase_add_loop_test(tc, test_status, 0, (int)(sizeof(statuses) / sizeof(statuses[0])));
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
