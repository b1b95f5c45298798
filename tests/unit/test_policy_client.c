/*
 * test_policy_client.c - Check suite for check_policy_service: the
 * attribute encoding and answer parsing of lib/mail/policy_client.c,
 * its targets, round trips against a policy server of the test's own
 * (a thread on a unix socket in a temp directory), and how
 * lib/mail/smtp_policy.c turns the answers into verdicts.
 */
#include "compat.h"

#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "mail/config.h"
#include "mail/policy_client.h"
#include "mail/smtp_policy.h"

START_TEST(test_encoding)
{
	struct buf b = BUF_INIT;
	policy_request_add(&b, "request", "smtpd_access_policy");
	policy_request_add(&b, "sender", NULL);
	policy_request_add(&b, "helo_name", "evil\nrecipient=x@y\r");
	ck_assert_str_eq(buf_str(&b), "request=smtpd_access_policy\nsender=\nhelo_name=evil recipient=x@y \n");
	buf_free(&b);
}
END_TEST

static const struct reply_row {
	const char *in;
	int rc;
	const char *action;
} reply_rows[] = {
	{"action=DUNNO\n\n", 1, "DUNNO"},
	{"action=DEFER_IF_PERMIT 4.2.0 Greylisted, see x\r\n\r\n", 1, "DEFER_IF_PERMIT 4.2.0 Greylisted, see x"},
	{"foo=bar\naction=PREPEND Received-SPF: None (mailfrom) a=b\nbaz=1\n\n", 1,
		"PREPEND Received-SPF: None (mailfrom) a=b"},
	{"action=OK\n", 0, NULL},
	{"action=OK", 0, NULL},
	{"", 0, NULL},
	{"no equals sign\n\n", -1, NULL},
	{"=x\n\n", -1, NULL},
	{"other=1\n\n", 1, ""},
	{"ACTION=reject\n\nleftover", 1, "reject"},
};

START_TEST(test_reply)
{
	const struct reply_row *r = &reply_rows[_i];
	struct buf a = BUF_INIT;
	int rc = policy_reply_parse(r->in, strlen(r->in), &a);
	ck_assert_msg(rc == r->rc, "[%s]: rc %d want %d", r->in, rc, r->rc);
	if (r->action != NULL)
		ck_assert_str_eq(buf_str(&a), r->action);
	buf_free(&a);
}
END_TEST

static const struct target_row {
	const char *arg;
	bool ok;
	const char *endpoint;
	unsigned timeout;
	const char *def;
} target_rows[] = {
	{"inet:127.0.0.1:10023", true, "inet:127.0.0.1:10023", 100, "451 4.3.5 Server configuration problem"},
	{"inet:[::1]:10023", true, "inet:[::1]:10023", 100, NULL},
	{"unix:private/policy", true, "unix:/q/private/policy", 100, NULL},
	{"unix:/run/spf.sock", true, "unix:/run/spf.sock", 100, NULL},
	{"{ inet:127.0.0.1:9, timeout=10s, default_action=DUNNO }", true, "inet:127.0.0.1:9", 10, "DUNNO"},
	{"{inet:127.0.0.1:9,max_idle=5,try_limit=1,policy_context=x}", true, "inet:127.0.0.1:9", 100, NULL},
	{"inet:127.0.0.1", false, NULL, 0, NULL},
	/* 2^32 + 10000: wraps to 10000 in an int conversion. */
	{"inet:127.0.0.1:4294977296", false, NULL, 0, NULL},
	{"inet:127.0.0.1:0", false, NULL, 0, NULL},
	{"inet:127.0.0.1:99999", false, NULL, 0, NULL},
	{"127.0.0.1:10023", false, NULL, 0, NULL},
	{"hash:/etc/x", false, NULL, 0, NULL},
	{"unix:", false, NULL, 0, NULL},
	{"{ inet:127.0.0.1:9, colour=blue }", false, NULL, 0, NULL},
	{"{ inet:127.0.0.1:9, timeout=soon }", false, NULL, 0, NULL},
	{"{ inet:127.0.0.1:9", false, NULL, 0, NULL},
	{"{ }", false, NULL, 0, NULL},
};

START_TEST(test_target)
{
	const struct target_row *r = &target_rows[_i];
	struct policy_target t = {.timeout_s = 100, .try_limit = 2};
	strlcpy(t.default_action, "451 4.3.5 Server configuration problem", sizeof(t.default_action));
	struct buf err = BUF_INIT;
	int rc = policy_target_parse(r->arg, "/q", &t, &err);
	ck_assert_msg((rc == 0) == r->ok, "%s: rc %d (%s)", r->arg, rc, buf_str(&err));
	if (r->ok) {
		ck_assert_str_eq(t.endpoint, r->endpoint);
		ck_assert_uint_eq(t.timeout_s, r->timeout);
		if (r->def != NULL)
			ck_assert_str_eq(t.default_action, r->def);
	} else {
		ck_assert_msg(err.len > 0, "%s: no error text", r->arg);
	}
	buf_free(&err);
}
END_TEST

/* ---- a policy server of our own ---- */

static char dir[] = "/tmp/tern-test-polclient.XXXXXX";
static char sock_path[200];
static int listen_fd = -1;
static pthread_t server;
static pthread_mutex_t seen_lock = PTHREAD_MUTEX_INITIALIZER;
static struct buf last_request;
static unsigned accepts, requests;

/* The answer depends on the recipient's local part, so each row picks its own. */
static const char *answer_for(const char *req)
{
	const char *r = strstr(req, "\nrecipient=");
	r = r ? r + 11 : "";
	static const struct {
		const char *prefix, *action;
	} answers[] = {
		{"dip", "DEFER_IF_PERMIT 4.2.0 Greylisted, see http://postgrey.example/"},
		{"prepend", "PREPEND X-Greylist: delayed 1 seconds"},
		{"reject", "REJECT 5.7.9 go away"},
		{"spf", "550 5.7.23 Message rejected due to: SPF fail - not authorized"},
		{"defer", "DEFER"},
		{"ok", "OK"},
		{"dir", "DEFER_IF_REJECT 4.7.0 maybe later"},
		{"junk", "FROBNICATE now"},
		{"noaction", NULL},
	};
	for (size_t i = 0; i < sizeof(answers) / sizeof(answers[0]); i++)
		if (strncmp(r, answers[i].prefix, strlen(answers[i].prefix)) == 0)
			return answers[i].action;
	return "DUNNO";
}

static void *serve(void *arg)
{
	(void)arg;
	for (;;) {
		int fd = accept(listen_fd, NULL, NULL);
		if (fd < 0)
			return NULL;
		pthread_mutex_lock(&seen_lock);
		accepts++;
		pthread_mutex_unlock(&seen_lock);
		struct buf in = BUF_INIT;
		char chunk[4096];
		ssize_t n;
		while ((n = read(fd, chunk, sizeof(chunk))) > 0) {
			buf_add(&in, chunk, (size_t)n);
			const char *end;
			while ((end = strstr(buf_str(&in), "\n\n")) != NULL) {
				size_t len = (size_t)(end - in.data) + 2;
				pthread_mutex_lock(&seen_lock);
				buf_reset(&last_request);
				buf_add(&last_request, in.data, len);
				requests++;
				pthread_mutex_unlock(&seen_lock);
				const char *a = answer_for(buf_str(&last_request));
				char out[512];
				int ol = a ? snprintf(out, sizeof(out), "action=%s\nextra=1\n\n", a)
					   : snprintf(out, sizeof(out), "extra=1\n\n");
				ssize_t w = write(fd, out, (size_t)ol);
				(void)w;
				buf_consume(&in, len);
			}
		}
		buf_free(&in);
		close(fd);
	}
}

static void server_setup(void)
{
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(sock_path, sizeof(sock_path), "%s/policy", dir);
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	strlcpy(sun.sun_path, sock_path, sizeof(sun.sun_path));
	listen_fd = socket(AF_UNIX, SOCK_STREAM, 0);
	ck_assert_int_ge(listen_fd, 0);
	ck_assert_int_eq(bind(listen_fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	ck_assert_int_eq(listen(listen_fd, 16), 0);
	accepts = requests = 0;
	ck_assert_int_eq(pthread_create(&server, NULL, serve, NULL), 0);
}

static void server_teardown(void)
{
	policy_client_flush();
	shutdown(listen_fd, SHUT_RDWR);
	close(listen_fd);
	pthread_join(server, NULL);
	unlink(sock_path);
	rmdir(dir);
	strlcpy(dir, "/tmp/tern-test-polclient.XXXXXX", sizeof(dir));
	buf_free(&last_request);
}

START_TEST(test_round_trips)
{
	struct policy_target t = {.timeout_s = 5, .max_idle_s = 300, .max_ttl_s = 1000, .try_limit = 2};
	strlcpy(t.endpoint, "unix:", sizeof(t.endpoint));
	strlcat(t.endpoint, sock_path, sizeof(t.endpoint));
	struct buf action = BUF_INIT, err = BUF_INIT;
	ck_assert_int_eq(policy_query(&t, "request=smtpd_access_policy\nrecipient=ok@x\n\n", &action, &err), 0);
	ck_assert_str_eq(buf_str(&action), "OK");
	ck_assert_int_eq(policy_query(&t, "request=smtpd_access_policy\nrecipient=dip@x\n\n", &action, &err), 0);
	ck_assert_str_eq(buf_str(&action), "DEFER_IF_PERMIT 4.2.0 Greylisted, see http://postgrey.example/");
	/* Both over one connection. */
	ck_assert_uint_eq(accepts, 1);
	ck_assert_uint_eq(requests, 2);
	/* request_limit 1: a new connection for each request. */
	t.request_limit = 1;
	policy_client_flush();
	ck_assert_int_eq(policy_query(&t, "recipient=a\n\n", &action, &err), 0);
	ck_assert_int_eq(policy_query(&t, "recipient=b\n\n", &action, &err), 0);
	ck_assert_uint_eq(accepts, 3);
	/* Nobody listening: an error, never an action. */
	struct policy_target dead = t;
	snprintf(dead.endpoint, sizeof(dead.endpoint), "unix:%s/nobody", dir);
	dead.retry_delay_s = 0;
	buf_reset(&action);
	ck_assert_int_eq(policy_query(&dead, "recipient=a\n\n", &action, &err), -1);
	ck_assert_msg(strstr(buf_str(&err), "nobody") != NULL, "%s", buf_str(&err));
	buf_free(&action);
	buf_free(&err);
}
END_TEST

/* ---- check_policy_service in the restrictions ---- */

static void load(const char *extra)
{
	struct buf text = BUF_INIT, err = BUF_INIT;
	buf_printf(&text,
		   "myhostname = mx.test.example\n"
		   "mydestination = localhost, $myhostname\n"
		   "mynetworks = 127.0.0.0/8\n"
		   "local_maildir_base =\n"
		   "alias_maps =\n"
		   "smtpd_reject_unlisted_recipient = no\n"
		   "smtpd_relay_restrictions =\n"
		   "smtpd_policy_service_retry_delay = 0\n"
		   "%s", extra);
	int rc = config_load_buffer("main.cf", text.data, text.len, &err);
	ck_assert_msg(rc == 0, "main.cf: %s", buf_str(&err));
	buf_free(&text);
	buf_free(&err);
}

static const struct verdict_row {
	const char *name;
	const char *rcpt;
	const char *after;	/* restrictions after the policy service */
	bool down;		/* the server's socket does not exist */
	enum smtp_verdict want;
	const char *reply;	/* exact reply (or the PREPEND lines on acceptance) */
} verdict_rows[] = {
	{"dunno then relay check", "other@remote.example", ", reject_unauth_destination", false, SMTP_REJECT,
		"554 5.7.1 <other@remote.example>: Relay access denied"},
	{"dunno, local", "someone@localhost", "", false, SMTP_ACCEPT, ""},
	{"ok ends the list", "ok@remote.example", ", reject", false, SMTP_ACCEPT, ""},
	{"greylisted", "dip@localhost", "", false, SMTP_REJECT,
		"450 4.2.0 <dip@localhost>: Recipient address rejected: Greylisted, see http://postgrey.example/"},
	{"defer_if_permit loses to a later reject", "dip@localhost", ", reject", false, SMTP_REJECT,
		"554 5.7.1 <dip@localhost>: Recipient address rejected: Access denied"},
	{"defer_if_reject turns a reject into a deferral", "dir@localhost", ", reject", false, SMTP_REJECT,
		"450 4.7.0 <dir@localhost>: Recipient address rejected: maybe later"},
	{"defer_if_reject alone", "dir@localhost", "", false, SMTP_ACCEPT, ""},
	{"prepend", "prepend@localhost", "", false, SMTP_ACCEPT, "X-Greylist: delayed 1 seconds\n"},
	{"reject with a code", "reject@localhost", "", false, SMTP_REJECT,
		"554 5.7.9 <reject@localhost>: Recipient address rejected: go away"},
	{"spf fail", "spf@localhost", "", false, SMTP_REJECT,
		"550 5.7.23 <spf@localhost>: Recipient address rejected: Message rejected due to: SPF fail - not authorized"},
	{"defer", "defer@localhost", "", false, SMTP_REJECT,
		"450 4.7.1 <defer@localhost>: Recipient address rejected: Access denied"},
	{"unknown action", "junk@localhost", "", false, SMTP_REJECT, "451 4.3.5 Server configuration error"},
	{"no action: default action", "noaction@localhost", "", false, SMTP_REJECT,
		"451 4.3.5 <noaction@localhost>: Recipient address rejected: Server configuration problem"},
	{"server down: default action", "ok@localhost", "", true, SMTP_REJECT,
		"451 4.3.5 <ok@localhost>: Recipient address rejected: Server configuration problem"},
};

static void run_verdict(const struct verdict_row *r, bool async)
{
	struct buf conf = BUF_INIT, err = BUF_INIT, reply = BUF_INIT;
	buf_printf(&conf, "smtpd_recipient_restrictions = check_policy_service unix:%s%s%s\n",
			r->down ? dir : sock_path, r->down ? "/nobody" : "", r->after);
	load(buf_str(&conf));
	struct smtp_policy *p = smtp_policy_new(&err);
	ck_assert_msg(p != NULL, "%s: %s", r->name, buf_str(&err));
	struct smtp_session_info si = {
		.client_name = "unknown", .client_addr = "192.0.2.1", .helo = "client.example",
		.esmtp = true, .sender = "sender@example.org", .transaction = 1,
	};
	enum smtp_verdict v;
	if (async) {
		/* As smtpd: SMTP_PENDING, the round trip, then the same evaluation again. */
		struct smtp_policy_dns d;
		smtp_policy_dns_init(&d);
		v = smtp_policy_rcpt_dns(p, &si, r->rcpt, &d, &reply);
		ck_assert_msg(v == SMTP_PENDING && d.request != NULL, "%s: not pending (%d)", r->name, v);
		smtp_policy_dns_lookup(&d);
		ck_assert_ptr_null(d.request);
		buf_reset(&reply);
		v = smtp_policy_rcpt_dns(p, &si, r->rcpt, &d, &reply);
		smtp_policy_dns_release(&d);
	} else {
		v = smtp_policy_rcpt(p, &si, r->rcpt, &reply);
	}
	ck_assert_msg(v == r->want, "%s: verdict %d want %d (%s)", r->name, v, r->want, buf_str(&reply));
	ck_assert_msg(strcmp(buf_str(&reply), r->reply) == 0, "%s: reply [%s] want [%s]", r->name,
			buf_str(&reply), r->reply);
	smtp_policy_free(p);
	buf_free(&conf);
	buf_free(&err);
	buf_free(&reply);
}

START_TEST(test_verdicts)
{
	run_verdict(&verdict_rows[_i], false);
}
END_TEST

START_TEST(test_verdicts_async)
{
	run_verdict(&verdict_rows[_i], true);
}
END_TEST

/* What the server is told: Postfix's attributes. */
START_TEST(test_attributes)
{
	struct buf conf = BUF_INIT, err = BUF_INIT, reply = BUF_INIT;
	buf_printf(&conf, "smtpd_recipient_restrictions = check_policy_service "
			"{ unix:%s, policy_context=ctx1 }\n", sock_path);
	load(buf_str(&conf));
	struct smtp_policy *p = smtp_policy_new(&err);
	ck_assert_msg(p != NULL, "%s", buf_str(&err));
	struct smtp_session_info si = {
		.client_name = "unknown", .client_addr = "192.0.2.1", .helo = "client.example",
		.esmtp = true, .sender = "sender@example.org", .sasl_username = "alice",
		.sasl_method = "PLAIN", .transaction = 3, .size = 1234,
	};
	smtp_policy_rcpt(p, &si, "ok@localhost", &reply);
	const char *want[] = {
		"request=smtpd_access_policy\n", "protocol_state=RCPT\n", "protocol_name=ESMTP\n",
		"helo_name=client.example\n", "queue_id=\n", "sender=sender@example.org\n",
		"recipient=ok@localhost\n", "recipient_count=0\n", "client_address=192.0.2.1\n",
		"client_name=unknown\n", "reverse_client_name=unknown\n", "instance=",
		"sasl_method=PLAIN\n", "sasl_username=alice\n", "sasl_sender=\n", "size=1234\n",
		"ccert_subject=\n", "encryption_protocol=\n", "encryption_keysize=0\n", "etrn_domain=\n",
		"policy_context=ctx1\n",
	};
	pthread_mutex_lock(&seen_lock);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		ck_assert_msg(strstr(buf_str(&last_request), want[i]) != NULL, "request lacks %s:\n%s", want[i],
				buf_str(&last_request));
	ck_assert_msg(strncmp(buf_str(&last_request), "request=", 8) == 0, "%s", buf_str(&last_request));
	ck_assert_msg(strstr(buf_str(&last_request), "\n\n") == buf_str(&last_request) + last_request.len - 2,
			"one empty line, at the end");
	pthread_mutex_unlock(&seen_lock);
	smtp_policy_free(p);
	buf_free(&conf);
	buf_free(&err);
	buf_free(&reply);
}
END_TEST

/*
 * smtpd_delay_reject: with yes a policy server in the sender
 * restrictions is asked at RCPT (protocol_state=RCPT); with no at MAIL
 * FROM (protocol_state=MAIL), and not again at RCPT.
 */
START_TEST(test_delay_reject)
{
	for (int delay = 0; delay < 2; delay++) {
		struct buf conf = BUF_INIT, err = BUF_INIT, reply = BUF_INIT;
		buf_printf(&conf, "smtpd_delay_reject = %s\nsmtpd_sender_restrictions = check_policy_service unix:%s\n",
				delay ? "yes" : "no", sock_path);
		load(buf_str(&conf));
		struct smtp_policy *p = smtp_policy_new(&err);
		ck_assert_msg(p != NULL, "%s", buf_str(&err));
		struct smtp_session_info si = {
			.client_name = "unknown", .client_addr = "192.0.2.1", .helo = "client.example",
			.esmtp = true, .sender = "sender@example.org", .transaction = 1,
		};
		unsigned before = requests;
		struct smtp_policy_dns d;
		smtp_policy_dns_init(&d);
		enum smtp_verdict v = smtp_policy_mail_dns(p, &si, &d, &reply);
		ck_assert_int_eq(v, delay ? SMTP_ACCEPT : SMTP_PENDING);
		if (!delay) {
			smtp_policy_dns_lookup(&d);
			ck_assert_int_eq(smtp_policy_mail_dns(p, &si, &d, &reply), SMTP_ACCEPT);
			pthread_mutex_lock(&seen_lock);
			ck_assert_msg(strstr(buf_str(&last_request), "protocol_state=MAIL\n") != NULL, "%s",
					buf_str(&last_request));
			pthread_mutex_unlock(&seen_lock);
		}
		smtp_policy_dns_command(&d);
		v = smtp_policy_rcpt_dns(p, &si, "someone@localhost", &d, &reply);
		if (delay) {
			ck_assert_int_eq(v, SMTP_PENDING);
			smtp_policy_dns_lookup(&d);
			v = smtp_policy_rcpt_dns(p, &si, "someone@localhost", &d, &reply);
			pthread_mutex_lock(&seen_lock);
			ck_assert_msg(strstr(buf_str(&last_request), "protocol_state=RCPT\n") != NULL, "%s",
					buf_str(&last_request));
			pthread_mutex_unlock(&seen_lock);
		}
		ck_assert_int_eq(v, SMTP_ACCEPT);
		ck_assert_uint_eq(requests - before, 1);
		smtp_policy_dns_release(&d);
		smtp_policy_free(p);
		buf_free(&conf);
		buf_free(&err);
		buf_free(&reply);
	}
}
END_TEST

/* Mistakes in a list name main.cf and the line. */
START_TEST(test_config_errors)
{
	static const struct {
		const char *conf, *want;
	} rows[] = {
		{"smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destinaton\n",
			"/main.cf:9: smtpd_recipient_restrictions: unknown restriction \"reject_unauth_destinaton\""},
		{"smtpd_sender_restrictions = check_sender_access hashh:/etc/x\n",
			"/main.cf:9: smtpd_sender_restrictions: check_sender_access \"hashh:/etc/x\": unknown table type"},
		{"smtpd_recipient_restrictions = check_policy_service 127.0.0.1:10023\n",
			"/main.cf:9: smtpd_recipient_restrictions: check_policy_service \"127.0.0.1:10023\": expected"},
		{"smtpd_recipient_restrictions = check_policy_service\n",
			"/main.cf:9: smtpd_recipient_restrictions: check_policy_service needs a policy server"},
		{"smtpd_recipient_restrictions = check_client_access, permit\n",
			"/main.cf:9: smtpd_recipient_restrictions: check_client_access needs a type:table"},
		{"smtpd_data_restrictions = check_policy_service inet:127.0.0.1:9\n",
			"/main.cf:9: smtpd_data_restrictions: check_policy_service is not supported here"},
		{"smtpd_delay_reject = no\nsmtpd_client_restrictions = check_policy_service inet:127.0.0.1:9\n",
			"/main.cf:10: smtpd_client_restrictions: check_policy_service is not supported here with"},
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct buf err = BUF_INIT;
		load(rows[i].conf);
		ck_assert_ptr_null(smtp_policy_new(&err));
		/* config_file() is the directory's main.cf, whatever load() called it. */
		ck_assert_msg(strstr(buf_str(&err), rows[i].want) != NULL && strstr(buf_str(&err), "/main.cf:") != NULL,
				"got [%s] want [%s...]", buf_str(&err), rows[i].want);
		buf_free(&err);
	}
	struct buf err = BUF_INIT;
	ck_assert_int_eq(smtp_policy_list_check("smtpd_recipient_restrictions",
			"permit_mynetworks, check_policy_service { inet:127.0.0.1:9, timeout=5s }, "
			"check_recipient_access inline:{ a=OK }, reject_unauth_destination", &err), 0);
	ck_assert_int_eq(smtp_policy_list_check("smtpd_recipient_restrictions", "permit_al", &err), -1);
	ck_assert_str_eq(buf_str(&err), "smtpd_recipient_restrictions: unknown restriction \"permit_al\"");
	buf_free(&err);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("policy_client");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 60);
#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))
	tcase_add_test(tc, test_encoding);
	tcase_add_loop_test(tc, test_reply, 0, N(reply_rows));
	tcase_add_loop_test(tc, test_target, 0, N(target_rows));
	suite_add_tcase(s, tc);
	TCase *srv = tcase_create("server");
	tcase_set_timeout(srv, 60);
	tcase_add_checked_fixture(srv, server_setup, server_teardown);
	tcase_add_test(srv, test_round_trips);
	tcase_add_loop_test(srv, test_verdicts, 0, N(verdict_rows));
	tcase_add_loop_test(srv, test_verdicts_async, 0, N(verdict_rows));
	tcase_add_test(srv, test_attributes);
	tcase_add_test(srv, test_config_errors);
	tcase_add_test(srv, test_delay_reject);
	suite_add_tcase(s, srv);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
