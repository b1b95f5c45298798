/*
 * test_bounce.c - Check suite for the DSN text (lib/mail/bounce_text.c):
 * one golden notice compared byte for byte, then table rows for the
 * variants (kind, RET, size limit, ORCPT, 8-bit, header injection).
 */
#include "compat.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mail/bounce.h"

static const char original[] =
    "From: Alice <alice@example.com>\n"
    "To: bob@example.net\n"
    "Subject: hello\n"
    "\n"
    "body line 1\n"
    "body line 2\n";

static const struct bounce_rcpt one_rcpt[] = {
	{.address = "nosuch@example.net", .orcpt = "rfc822;NoSuch@example.net",
	 .status = "5.1.1", .diag = "unknown user: \"nosuch\""},
};

static struct bounce_msg base(void)
{
	struct bounce_msg m = {
		.kind = BOUNCE_FAILED,
		.reporting_mta = "mx.example.net",
		.queue_id = "4F3A21C0",
		.sender = "alice@example.com",
		.to = "alice@example.com",
		.from = "MAILER-DAEMON@mx.example.net",
		.boundary = "4F3A21C0.1764082190/mx.example.net",
		.arrival = 1764082190,	/* Tue, 25 Nov 2025 14:49:50 +0000 */
		.now = 1764082250,
		.message = original,
		.message_len = sizeof(original) - 1,
		.rcpts = one_rcpt,
		.nrcpt = 1,
	};
	return m;
}

static const char golden[] =
    "From: MAILER-DAEMON@mx.example.net (Mail Delivery System)\n"
    "To: alice@example.com\n"
    "Subject: Undelivered Mail Returned to Sender\n"
    "Date: Tue, 25 Nov 2025 14:50:50 +0000\n"
    "Auto-Submitted: auto-replied\n"
    "MIME-Version: 1.0\n"
    "Content-Type: multipart/report; report-type=delivery-status;\n"
    "\tboundary=\"4F3A21C0.1764082190/mx.example.net\"\n"
    "\n"
    "This is a MIME-encapsulated message.\n"
    "\n"
    "--4F3A21C0.1764082190/mx.example.net\n"
    "Content-Description: Notification\n"
    "Content-Type: text/plain; charset=us-ascii\n"
    "\n"
    "This is the mail system at host mx.example.net.\n"
    "\n"
    "I'm sorry to have to inform you that your message could not\n"
    "be delivered to one or more recipients. It's attached below.\n"
    "\n"
    "For further assistance, please send mail to postmaster.\n"
    "\n"
    "If you do so, please include this problem report. You can\n"
    "delete your own text from the attached returned message.\n"
    "\n"
    "                   The mail system\n"
    "\n"
    "<nosuch@example.net>: unknown user: \"nosuch\"\n"
    "\n"
    "--4F3A21C0.1764082190/mx.example.net\n"
    "Content-Description: Delivery report\n"
    "Content-Type: message/delivery-status\n"
    "\n"
    "Reporting-MTA: dns; mx.example.net\n"
    "X-Tern-Queue-ID: 4F3A21C0\n"
    "X-Tern-Sender: rfc822; alice@example.com\n"
    "Arrival-Date: Tue, 25 Nov 2025 14:49:50 +0000\n"
    "\n"
    "Final-Recipient: rfc822; nosuch@example.net\n"
    "Original-Recipient: rfc822;NoSuch@example.net\n"
    "Action: failed\n"
    "Status: 5.1.1\n"
    "Diagnostic-Code: X-Tern; unknown user: \"nosuch\"\n"
    "\n"
    "--4F3A21C0.1764082190/mx.example.net\n"
    "Content-Description: Undelivered Message Headers\n"
    "Content-Type: text/rfc822-headers\n"
    "\n"
    "From: Alice <alice@example.com>\n"
    "To: bob@example.net\n"
    "Subject: hello\n"
    "\n"
    "--4F3A21C0.1764082190/mx.example.net--\n";

START_TEST(test_golden_failure)
{
	struct bounce_msg m = base();
	struct buf out = BUF_INIT;

	bounce_compose(&m, &out);
	ck_assert_str_eq(buf_str(&out), golden);
	buf_free(&out);
}
END_TEST

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;
	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

enum variant { V_PLAIN, V_FULL, V_FULL_TOO_BIG, V_8BIT, V_INJECT, V_NO_ORCPT, V_ENVID, V_RELAYED, V_REMOTE, V_REMOTE_INJECT };

static const struct {
	enum bounce_kind kind;
	enum variant variant;
	const char *want[6];	/* substrings that must be present */
	const char *reject[4];	/* substrings that must be absent */
} rows[] = {
	{.kind = BOUNCE_FAILED, .variant = V_PLAIN,
	 .want = {"Action: failed\n", "text/rfc822-headers", "Subject: hello\n\n--"},
	 .reject = {"body line 1", "Will-Retry-Until"}},
	{.kind = BOUNCE_FAILED, .variant = V_FULL,
	 .want = {"Content-Type: message/rfc822\n", "body line 2\n\n--4F3A21C0"},
	 .reject = {"text/rfc822-headers"}},
	{.kind = BOUNCE_FAILED, .variant = V_FULL_TOO_BIG,
	 .want = {"text/rfc822-headers"}, .reject = {"body line 1", "message/rfc822"}},
	{.kind = BOUNCE_DELAYED, .variant = V_PLAIN,
	 .want = {"Subject: Delayed Mail (still being retried)\n", "Action: delayed\n",
		  "Will-Retry-Until: Sun, 30 Nov 2025 14:49:50 +0000\n", "THIS IS A WARNING ONLY",
		  "It will be retried until it is 5 day(s) old."},
	 .reject = {"Action: failed"}},
	{.kind = BOUNCE_DELIVERED, .variant = V_PLAIN,
	 .want = {"Subject: Successful Mail Delivery Report\n", "Action: delivered\n",
		  "Content-Description: Message Headers\n"},
	 .reject = {"Action: failed", "Undelivered"}},
	{.kind = BOUNCE_FAILED, .variant = V_8BIT,
	 .want = {"Content-Transfer-Encoding: 8bit\n\nThis is a MIME", "Subject: h\xc3\xa9llo"}},
	{.kind = BOUNCE_FAILED, .variant = V_INJECT,
	 .want = {"Diagnostic-Code: X-Tern; bad  Injected: yes\n", "Final-Recipient: rfc822; x  Bcc: y\n"},
	 .reject = {"\nInjected: yes", "\nBcc: y"}},
	{.kind = BOUNCE_FAILED, .variant = V_NO_ORCPT, .reject = {"Original-Recipient"}},
	{.kind = BOUNCE_FAILED, .variant = V_ENVID,
	 .want = {"Original-Envelope-Id: env-42\n", "Original-Recipient: rfc822; plain@example.net\n"}},
	{.kind = BOUNCE_DELIVERED, .variant = V_RELAYED,
	 .want = {"Subject: Successful Mail Delivery Report\n", "Action: relayed\n"},
	 .reject = {"Action: delivered", "Action: failed"}},
	{.kind = BOUNCE_FAILED, .variant = V_REMOTE,
	 .want = {"Status: 5.1.1\nRemote-MTA: dns; mx.example.org\n"
		  "Diagnostic-Code: smtp; 550 5.1.1 <nosuch@example.org>: unknown\n"},
	 .reject = {"X-Tern; "}},
	{.kind = BOUNCE_FAILED, .variant = V_REMOTE_INJECT,
	 .want = {"Remote-MTA: dns; mx  X: y\n", "Diagnostic-Code: smtp; 550 no  X: z\n"},
	 .reject = {"\nX: y", "\nX: z"}},
};

START_TEST(test_rows)
{
	struct bounce_msg m = base();
	struct bounce_rcpt r = one_rcpt[0];
	struct buf out = BUF_INIT;
	static const char eight[] = "Subject: h\xc3\xa9llo\n\nbody\n";

	m.kind = rows[_i].kind;
	m.rcpts = &r;
	if (m.kind == BOUNCE_DELAYED) {
		r.status = "4.4.1";
		m.now = m.arrival + 4 * 3600;
		m.retry_until = m.arrival + 5 * 86400;
	}
	switch (rows[_i].variant) {
	case V_FULL:
		m.ret_full = 1;
		break;
	case V_FULL_TOO_BIG:
		m.ret_full = 1;
		m.size_limit = 10;
		break;
	case V_8BIT:
		m.message = eight;
		m.message_len = sizeof(eight) - 1;
		break;
	case V_INJECT:
		r.diag = "bad\r\nInjected: yes";
		r.address = "x\r\nBcc: y";
		break;
	case V_NO_ORCPT:
		r.orcpt = NULL;
		break;
	case V_ENVID:
		m.envid = "env-42";
		r.orcpt = "plain@example.net";
		break;
	case V_RELAYED:
		r.action = "relayed";
		break;
	case V_REMOTE:
		r.remote_mta = "mx.example.org";
		r.smtp_diag = "550 5.1.1 <nosuch@example.org>: unknown";
		break;
	case V_REMOTE_INJECT:
		r.remote_mta = "mx\r\nX: y";
		r.smtp_diag = "550 no\r\nX: z";
		break;
	default:
		break;
	}
	bounce_compose(&m, &out);
	for (int k = 0; k < 6 && rows[_i].want[k]; k++)
		ck_assert_msg(strstr(buf_str(&out), rows[_i].want[k]) != NULL,
		    "row %d: missing \"%s\" in:\n%s", _i, rows[_i].want[k], buf_str(&out));
	for (int k = 0; k < 4 && rows[_i].reject[k]; k++)
		ck_assert_msg(strstr(buf_str(&out), rows[_i].reject[k]) == NULL,
		    "row %d: unexpected \"%s\"", _i, rows[_i].reject[k]);
	/* Three parts and a closing delimiter, every time. */
	ck_assert_uint_eq(count(buf_str(&out), "\n--4F3A21C0.1764082190/mx.example.net\n"), 3);
	ck_assert_uint_eq(count(buf_str(&out), "\n--4F3A21C0.1764082190/mx.example.net--\n"), 1);
	buf_free(&out);
}
END_TEST

START_TEST(test_many_recipients)
{
	struct bounce_msg m = base();
	struct bounce_rcpt rc[3] = {
		{.address = "a@x", .status = "5.1.1", .diag = "unknown user: \"a\""},
		{.address = "b@x", .status = "5.2.2", .diag = "mailbox full"},
		{.address = "c@x", .status = "5.4.7", .diag = "message expired"},
	};
	struct buf out = BUF_INIT;

	m.rcpts = rc;
	m.nrcpt = 3;
	bounce_compose(&m, &out);
	ck_assert_uint_eq(count(buf_str(&out), "Final-Recipient: rfc822; "), 3);
	ck_assert_uint_eq(count(buf_str(&out), "Action: failed\n"), 3);
	ck_assert_ptr_nonnull(strstr(buf_str(&out), "<b@x>: mailbox full\n"));
	ck_assert_ptr_nonnull(strstr(buf_str(&out), "Status: 5.4.7\nDiagnostic-Code: X-Tern; message expired\n"));
	buf_free(&out);
}
END_TEST

/* notify_classes copies: their own subjects, the rest as the sender's notice. */
START_TEST(test_postmaster_copy)
{
	struct bounce_msg m = base();
	struct buf out = BUF_INIT;

	m.postmaster_copy = 1;
	bounce_compose(&m, &out);
	ck_assert_ptr_nonnull(strstr(buf_str(&out), "\nSubject: Postmaster Copy: Undelivered Mail\n"));
	buf_reset(&out);
	m.kind = BOUNCE_DELAYED;
	bounce_compose(&m, &out);
	ck_assert_ptr_nonnull(strstr(buf_str(&out), "\nSubject: Postmaster Warning: Delayed Mail\n"));
	ck_assert_ptr_nonnull(strstr(buf_str(&out), "Action: delayed\n"));
	buf_free(&out);
}
END_TEST

int main(void)
{
	setenv("TZ", "UTC", 1);
	tzset();
	Suite *s = suite_create("bounce");
	TCase *tc = tcase_create("text");
	tcase_add_test(tc, test_golden_failure);
	tcase_add_loop_test(tc, test_rows, 0, (int)(sizeof(rows) / sizeof(rows[0])));
	tcase_add_test(tc, test_many_recipients);
	tcase_add_test(tc, test_postmaster_copy);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
