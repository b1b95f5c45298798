/*
 * test_smtp_engine.c - Check suite for the SMTP server state machine
 * (lib/mail/smtp_engine.c) driven through stub I/O: each row gives the
 * input, split into the packets a client would send, and the exact reply
 * bytes and message content expected. Every row whose result does not
 * depend on packet boundaries is also fed one byte at a time.
 */
#include "compat.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mail/cleanup.h"
#include "mail/smtp_cmd.h"
#include "mail/smtp_engine.h"
#include "mail/smtp_engine_int.h"
#include "util/mem.h"

/* ---- stub callbacks ---- */

static struct buf content;	/* content of the last message written */
static struct buf envlog;	/* what msg_open saw */
static int queued, aborted, opened;
static bool commit_pending;

struct stub_msg {
	int dummy;
};

static void *stub_open(void *ctx, const struct smtp_session_info *si,
		const struct smtp_envelope *env, struct buf *reply)
{
	(void)ctx;
	(void)reply;
	buf_reset(&content);
	buf_reset(&envlog);
	buf_printf(&envlog, "from=<%s> ret=%d envid=%s body=%d utf8=%d proto=%s tls=%d user=%s",
			env->sender, env->ret, env->envid ? env->envid : "-", env->body,
			env->smtputf8, env->protocol, si->tls, si->sasl_username ? si->sasl_username : "-");
	for (size_t i = 0; i < env->nrcpt; i++)
		buf_printf(&envlog, " to=<%s>/%d/%s", env->rcpts[i].addr, env->rcpts[i].notify,
				env->rcpts[i].orcpt ? env->rcpts[i].orcpt : "-");
	opened++;
	return xcalloc(1, sizeof(struct stub_msg));
}

static int stub_write(void *msg, const char *data, size_t len)
{
	(void)msg;
	buf_add(&content, data, len);
	return 0;
}

static enum smtp_commit stub_finish(void *ctx, void *msg, char *qid, size_t idlen, struct buf *reason)
{
	(void)ctx;
	(void)reason;
	free(msg);
	if (commit_pending)
		return SMTP_COMMIT_PENDING;
	queued++;
	snprintf(qid, idlen, "QID%d", queued);
	return SMTP_COMMIT_OK;
}

static void stub_abort(void *msg)
{
	free(msg);
	aborted++;
}

static enum smtp_verdict stub_rcpt(void *ctx, const struct smtp_session_info *si,
		const char *rcpt, struct buf *reply)
{
	(void)ctx;
	(void)si;
	if (strncmp(rcpt, "reject", 6) == 0) {
		buf_printf(reply, "554 5.7.1 <%s>: Relay access denied", rcpt);
		return SMTP_REJECT;
	}
	buf_printf(reply, "seen %s", rcpt);	/* ignored on accept */
	return SMTP_ACCEPT;
}

/* Connect, HELO and MAIL policy (smtpd_delay_reject = no) keyed on magic names. */
static enum smtp_verdict stub_connect(void *ctx, const struct smtp_session_info *si, struct buf *reply)
{
	(void)ctx;
	if (strcmp(si->client_addr, "192.0.2.66") == 0) {
		buf_printf(reply, "554 5.7.1 <%s[%s]>: Client host rejected: Access denied", si->client_name,
				si->client_addr);
		return SMTP_REJECT;
	}
	if (strcmp(si->client_addr, "192.0.2.67") == 0) {
		buf_adds(reply, "421 4.7.0 go away");
		return SMTP_DISCONNECT;
	}
	return SMTP_ACCEPT;
}

static enum smtp_verdict stub_helo(void *ctx, const struct smtp_session_info *si, struct buf *reply)
{
	(void)ctx;
	if (strcmp(si->helo, "bad.test") == 0) {
		buf_printf(reply, "554 5.7.1 <%s>: Helo command rejected: go away", si->helo);
		return SMTP_REJECT;
	}
	if (strcmp(si->helo, "close.test") == 0) {
		buf_adds(reply, "421 4.7.0 closing");
		return SMTP_DISCONNECT;
	}
	return SMTP_ACCEPT;
}

static enum smtp_verdict stub_mail(void *ctx, const struct smtp_session_info *si, const char *sender,
		struct buf *reply)
{
	(void)ctx;
	ck_assert_str_eq(si->sender, sender);
	if (strncmp(sender, "reject", 6) == 0) {
		buf_printf(reply, "554 5.7.1 <%s>: Sender address rejected: Access denied", sender);
		return SMTP_REJECT;
	}
	if (strncmp(sender, "bogus", 5) == 0) {
		buf_adds(reply, "no code at all");	/* a broken callback: the engine's fallback answers */
		return SMTP_REJECT;
	}
	return SMTP_ACCEPT;
}

/* smtpd_data_restrictions / smtpd_end_of_data_restrictions keyed on the sender. */
static enum smtp_verdict stub_data(void *ctx, const struct smtp_session_info *si, size_t nrcpt, bool end,
		struct buf *reply)
{
	(void)ctx;
	ck_assert_uint_gt(nrcpt, 0);
	if (!end && strncmp(si->sender, "nodata", 6) == 0) {
		buf_adds(reply, "554 5.7.1 <DATA>: Data command rejected: Access denied");
		return SMTP_REJECT;
	}
	if (end && strncmp(si->sender, "noeod", 5) == 0) {
		buf_printf(reply, "550 5.7.1 <END-OF-MESSAGE>: End-of-data rejected: %zu recipients", nrcpt);
		return SMTP_REJECT;
	}
	return SMTP_ACCEPT;
}

static void stub_vrfy(void *ctx, const struct smtp_session_info *si, const char *addr, struct buf *reply)
{
	(void)ctx;
	(void)si;
	if (strcmp(addr, "nobody") == 0)
		buf_printf(reply, "550 5.1.1 <%s>: Recipient address rejected", addr);
	else
		buf_printf(reply, "252 2.0.0 %s", addr);
}

/* SASL stub: PLAIN and LOGIN for user "user" with password "pass". */
struct stub_auth {
	int login_step;
	bool plain;
	char user[32];
};

static void *stub_auth_new(void *ctx, const char *mech, const struct smtp_session_info *si)
{
	(void)ctx;
	(void)si;
	if (strcmp(mech, "PLAIN") != 0 && strcmp(mech, "LOGIN") != 0)
		return NULL;
	struct stub_auth *a = xcalloc(1, sizeof(*a));
	a->plain = strcmp(mech, "PLAIN") == 0;
	return a;
}

static enum smtp_auth_status stub_auth_step(void *auth, const char *data, size_t len, struct buf *ch)
{
	struct stub_auth *a = auth;
	buf_reset(ch);
	if (a->plain) {
		if (data == NULL)
			return SMTP_AUTH_CONTINUE;	/* empty challenge */
		if (len == 10 && memcmp(data, "\0user\0pass", 10) == 0) {
			strlcpy(a->user, "user", sizeof(a->user));
			return SMTP_AUTH_DONE;
		}
		buf_adds(ch, "bad password");
		return SMTP_AUTH_FAIL;
	}
	switch (a->login_step++) {
	case 0:
		buf_adds(ch, "Username:");
		return SMTP_AUTH_CONTINUE;
	case 1:
		if (len != 4 || memcmp(data, "user", 4) != 0)
			return SMTP_AUTH_FAIL;
		buf_adds(ch, "Password:");
		return SMTP_AUTH_CONTINUE;
	default:
		if (len != 4 || memcmp(data, "pass", 4) != 0)
			return SMTP_AUTH_FAIL;
		strlcpy(a->user, "user", sizeof(a->user));
		return SMTP_AUTH_DONE;
	}
}

static const char *stub_auth_user(void *auth)
{
	return ((struct stub_auth *)auth)->user;
}

static void stub_auth_free(void *auth)
{
	free(auth);
}

static const struct smtp_engine_ops stub_ops = {
	.check_connect = stub_connect,
	.check_helo = stub_helo,
	.check_mail = stub_mail,
	.check_data = stub_data,
	.check_rcpt = stub_rcpt,
	.vrfy = stub_vrfy,
	.msg_open = stub_open,
	.msg_write = stub_write,
	.msg_finish = stub_finish,
	.msg_abort = stub_abort,
	.auth_new = stub_auth_new,
	.auth_step = stub_auth_step,
	.auth_username = stub_auth_user,
	.auth_free = stub_auth_free,
};

/* ---- the table ---- */

#define O_HELO_REQUIRED	0x001
#define O_VRFY		0x002
#define O_STARTTLS	0x004
#define O_AUTH		0x008
#define O_ALLOW_BARE	0x010	/* smtpd_forbid_bare_newline = no */
#define O_ALLOW_PIPE	0x020	/* smtpd_forbid_unauth_pipelining = no */
#define O_TLS_REQUIRED	0x040
#define O_HARD3		0x080	/* smtpd_hard_error_limit = 3 */
#define O_NO_SPLIT	0x100	/* result depends on packet boundaries */
#define O_TLS_AUTH_ONLY	0x200
#define O_NO_DSN	0x400
#define O_LF_ENDS	0x800	/* sendmail -bs: LF ends lines, also the final dot */
#define O_STRICT	0x1000	/* strict_rfc821_envelopes = yes */
#define O_MIN_USER	0x2000	/* allow_min_user = yes */

/* A packet consisting of just this marker makes the test finish a TLS handshake. */
#define TLS_DONE	"\001TLS"
/* ... or this one, a timeout. */
#define TIMEOUT		"\001TIMEOUT"

#define G	"220 mx.test ESMTP Tern\r\n"
#define E	"250-mx.test\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250-ENHANCEDSTATUSCODES\r\n" \
		"250-8BITMIME\r\n250-DSN\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n"
#define MAILOK	"250 2.1.0 Ok\r\n"
#define RCPTOK	"250 2.1.5 Ok\r\n"
#define GO	"354 End data with <CR><LF>.<CR><LF>\r\n"
#define BYE	"221 2.0.0 Bye\r\n"
#define SYNC	"554 5.5.0 Error: SMTP protocol synchronization\r\n"
#define BARELF	"521 5.5.2 mx.test Error: bare <LF> received\r\n"
#define BARECR	"521 5.5.2 mx.test Error: bare <CR> received\r\n"
#define TRANS	"MAIL FROM:<a@b.test>\r\nRCPT TO:<u@mx.test>\r\nDATA\r\n"
#define TRANSOK	MAILOK RCPTOK GO
/* What a smuggler appends after a fake end of data. */
#define X100	"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
#define EVIL	"MAIL FROM:<evil@x.test>\r\nRCPT TO:<v@mx.test>\r\nDATA\r\nevil\r\n.\r\n"

struct row {
	const char *name;
	unsigned opts;
	const char *in[8];		/* packets */
	size_t inlen[8];		/* for packets holding NUL (0 = strlen) */
	const char *want;		/* exact reply bytes */
	const char *want_content;	/* content of the last message, NULL = no message */
	int want_queued;
	bool want_closed;
	const char *want_env;		/* substring of the envelope log */
	const char *client;		/* client address; default 192.0.2.1 */
};

static const struct row rows[] = {
	{.name = "quit", .in = {"QUIT\r\n"}, .want = G BYE, .want_closed = true},
	{.name = "ehlo", .in = {"EHLO client.test\r\n"}, .want = G E},
	{.name = "helo", .in = {"HELO client.test\r\n"}, .want = G "250 mx.test\r\n"},
	{.name = "ehlo without name", .in = {"EHLO\r\n"}, .want = G "501 5.5.4 Syntax: EHLO hostname\r\n"},
	{.name = "lower case verbs", .in = {"ehlo c\r\n", "mail from:<a@b.test>\r\n", "quit\r\n"},
	 .want = G E MAILOK BYE, .want_closed = true},
	{.name = "pipelined transaction",
	 .in = {"EHLO c\r\n", TRANS, "Subject: x\r\n\r\nbody\r\n..dot\r\n.\r\nQUIT\r\n"},
	 .want = G E TRANSOK "250 2.0.0 Ok: queued as QID1\r\n" BYE,
	 .want_content = "Subject: x\n\nbody\n.dot\n", .want_queued = 1, .want_closed = true,
	 .want_env = "from=<a@b.test> ret=0 envid=- body=0 utf8=0 proto=ESMTP tls=0 user=- to=<u@mx.test>/0/-"},
	{.name = "empty message", .in = {"EHLO c\r\n", TRANS, ".\r\n"},
	 .want = G E TRANSOK "250 2.0.0 Ok: queued as QID1\r\n", .want_content = "", .want_queued = 1},
	{.name = "two messages", .in = {"EHLO c\r\n", TRANS, "a\r\n.\r\n", TRANS, "b\r\n.\r\n"},
	 .want = G E TRANSOK "250 2.0.0 Ok: queued as QID1\r\n" TRANSOK "250 2.0.0 Ok: queued as QID2\r\n",
	 .want_content = "b\n", .want_queued = 2},
	{.name = "helo required", .opts = O_HELO_REQUIRED, .in = {"MAIL FROM:<a@b.test>\r\n"},
	 .want = G "503 5.5.1 Error: send HELO/EHLO first\r\n"},
	{.name = "helo not required", .in = {"MAIL FROM:<a@b.test>\r\n"}, .want = G MAILOK},
	{.name = "nested mail", .in = {"EHLO c\r\n", "MAIL FROM:<a@b.test>\r\nMAIL FROM:<a@b.test>\r\n"},
	 .want = G E MAILOK "503 5.5.1 Error: nested MAIL command\r\n"},
	{.name = "rcpt without mail", .in = {"RCPT TO:<u@mx.test>\r\n"},
	 .want = G "503 5.5.1 Error: need MAIL command\r\n"},
	{.name = "data without mail", .in = {"DATA\r\n"}, .want = G "503 5.5.1 Error: need MAIL command\r\n"},
	{.name = "data without rcpt", .in = {"MAIL FROM:<a@b.test>\r\n", "DATA\r\n"},
	 .want = G MAILOK "503 5.5.1 Error: need RCPT command\r\n"},
	{.name = "no valid recipients",
	 .in = {"EHLO c\r\n", "MAIL FROM:<a@b.test>\r\nRCPT TO:<reject@x.test>\r\n", "DATA\r\n"},
	 .want = G E MAILOK "554 5.7.1 <reject@x.test>: Relay access denied\r\n"
		 "554 5.5.1 Error: no valid recipients\r\n"},
	{.name = "data with argument", .in = {"MAIL FROM:<a@b.test>\r\n", "RCPT TO:<u@x.test>\r\n", "DATA x\r\n"},
	 .want = G MAILOK RCPTOK "501 5.5.4 Syntax: DATA\r\n"},
	{.name = "null sender", .in = {"MAIL FROM:<>\r\n"}, .want = G MAILOK},
	{.name = "sender without brackets", .in = {"MAIL FROM:a@b.test\r\n"}, .want = G MAILOK},
	{.name = "space after colon", .in = {"MAIL FROM: <a@b.test>\r\n"}, .want = G MAILOK},
	{.name = "recipient without brackets", .in = {"MAIL FROM:<a@b.test>\r\n", "RCPT TO: u@mx.test\r\n"},
	 .want = G MAILOK RCPTOK},
	/* strict_rfc821_envelopes = yes: <> required, as Postfix requires them. */
	{.name = "strict: sender without brackets", .opts = O_STRICT, .in = {"MAIL FROM:a@b.test\r\n"},
	 .want = G "501 5.1.7 Bad sender address syntax\r\n"},
	{.name = "strict: sender with a phrase", .opts = O_STRICT,
	 .in = {"MAIL FROM: Alice <a@b.test>\r\n"}, .want = G "501 5.1.7 Bad sender address syntax\r\n"},
	{.name = "strict: sender with a comment", .opts = O_STRICT,
	 .in = {"MAIL FROM:<a@b.test> (Alice)\r\n"}, .want = G "555 5.5.4 Unsupported option: (ALICE)\r\n"},
	{.name = "strict: space after colon, brackets", .opts = O_STRICT,
	 .in = {"MAIL FROM: <a@b.test>\r\n", "RCPT TO: <u@mx.test>\r\n", "RCPT TO:<>\r\n"},
	 .want = G MAILOK RCPTOK "501 5.1.3 Bad recipient address syntax\r\n"},
	{.name = "strict: null sender", .opts = O_STRICT, .in = {"MAIL FROM:<>\r\n"}, .want = G MAILOK},
	{.name = "strict: recipient without brackets", .opts = O_STRICT,
	 .in = {"MAIL FROM:<a@b.test>\r\n", "RCPT TO:u@mx.test\r\n"},
	 .want = G MAILOK "501 5.1.3 Bad recipient address syntax\r\n"},
	{.name = "bad sender: double at", .in = {"MAIL FROM:<a@@b.test>\r\n"},
	 .want = G "501 5.1.7 Bad sender address syntax\r\n"},
	{.name = "bad sender: unquoted at", .in = {"MAIL FROM:<a@x@b.test>\r\n"},
	 .want = G "501 5.1.7 Bad sender address syntax\r\n"},
	{.name = "bad sender: no closing bracket", .in = {"MAIL FROM:<a@b.test\r\n"},
	 .want = G "501 5.1.7 Bad sender address syntax\r\n"},
	{.name = "bad sender: trailing dot", .in = {"MAIL FROM:<a@b.test.>\r\n"},
	 .want = G "501 5.1.7 Bad sender address syntax\r\n"},
	{.name = "bad sender: space", .in = {"MAIL FROM:<a b@b.test>\r\n"},
	 .want = G "501 5.1.7 Bad sender address syntax\r\n"},
	{.name = "mail syntax", .in = {"MAIL TO:<a@b.test>\r\n"},
	 .want = G "501 5.5.4 Syntax: MAIL FROM:<address>\r\n"},
	{.name = "bad recipient: double at", .in = {"MAIL FROM:<>\r\n", "RCPT TO:<u@x@mx.test>\r\n"},
	 .want = G MAILOK "501 5.1.3 Bad recipient address syntax\r\n"},
	{.name = "bad recipient: empty", .in = {"MAIL FROM:<>\r\n", "RCPT TO:<>\r\n"},
	 .want = G MAILOK "501 5.1.3 Bad recipient address syntax\r\n"},
	{.name = "bad recipient: bad literal", .in = {"MAIL FROM:<>\r\n", "RCPT TO:<u@[1.2.3.999]>\r\n"},
	 .want = G MAILOK "501 5.1.3 Bad recipient address syntax\r\n"},
	{.name = "rcpt syntax", .in = {"MAIL FROM:<>\r\n", "RCPT <u@mx.test>\r\n"},
	 .want = G MAILOK "501 5.5.4 Syntax: RCPT TO:<address>\r\n"},
	{.name = "source route dropped", .in = {"EHLO c\r\n", "MAIL FROM:<>\r\nRCPT TO:<@a.test,@b.test:u@mx.test>\r\nDATA\r\n", ".\r\n"},
	 .want = G E MAILOK RCPTOK GO "250 2.0.0 Ok: queued as QID1\r\n", .want_content = "", .want_queued = 1,
	 .want_env = "to=<u@mx.test>/0/-"},
	{.name = "quoted local part and literal", .in = {"EHLO c\r\n", "MAIL FROM:<\"a b\"@[127.0.0.1]>\r\nRCPT TO:<postmaster>\r\n"},
	 .want = G E MAILOK RCPTOK},
	{.name = "size too big", .in = {"MAIL FROM:<a@b.test> SIZE=2000\r\n"},
	 .want = G "552 5.3.4 Message size exceeds fixed limit\r\n"},
	{.name = "size fits", .in = {"MAIL FROM:<a@b.test> SIZE=999 BODY=8BITMIME\r\n"}, .want = G MAILOK},
	{.name = "unknown parameter", .in = {"MAIL FROM:<a@b.test> FOO=1\r\n"},
	 .want = G "555 5.5.4 Unsupported option: FOO\r\n"},
	{.name = "bad body", .in = {"MAIL FROM:<a@b.test> BODY=BINARYMIME\r\n"},
	 .want = G "555 5.5.4 Unsupported option: BODY\r\n"},
	{.name = "dsn parameters",
	 .in = {"EHLO c\r\n", "MAIL FROM:<a@b.test> RET=HDRS ENVID=id+2Bx\r\nRCPT TO:<u@mx.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;u+40mx.test\r\nDATA\r\n", ".\r\n"},
	 .want = G E MAILOK RCPTOK GO "250 2.0.0 Ok: queued as QID1\r\n", .want_content = "", .want_queued = 1,
	 .want_env = "ret=2 envid=id+x body=0 utf8=0 proto=ESMTP tls=0 user=- to=<u@mx.test>/6/rfc822;u@mx.test"},
	{.name = "dsn off", .opts = O_NO_DSN, .in = {"MAIL FROM:<a@b.test> RET=FULL\r\n"},
	 .want = G "555 5.5.4 Unsupported option: RET\r\n"},
	{.name = "bad notify", .in = {"MAIL FROM:<>\r\n", "RCPT TO:<u@mx.test> NOTIFY=NEVER,SUCCESS\r\n"},
	 .want = G MAILOK "555 5.5.4 Unsupported option: NOTIFY\r\n"},
	{.name = "utf8 address without SMTPUTF8", .in = {"MAIL FROM:<j\xc3\xbcrg@b.test>\r\n"},
	 .want = G "553 5.6.7 Must declare SMTPUTF8 to send UTF8 addresses\r\n"},
	{.name = "utf8 address with SMTPUTF8", .in = {"MAIL FROM:<j\xc3\xbcrg@b.test> SMTPUTF8\r\n"}, .want = G MAILOK},
	/* Malformed UTF-8 (RFC 3629) is an address syntax error, with SMTPUTF8 or not. */
	{.name = "utf8: \\xff in MAIL", .in = {"MAIL FROM:<j\xff" "rg@b.test> SMTPUTF8\r\n"},
	 .want = G "501 5.1.7 Bad sender address syntax: malformed UTF-8\r\n"},
	{.name = "utf8: overlong in MAIL", .in = {"MAIL FROM:<a\xc0\xaf" "b@b.test> SMTPUTF8\r\n"},
	 .want = G "501 5.1.7 Bad sender address syntax: malformed UTF-8\r\n"},
	{.name = "utf8: surrogate in MAIL domain", .in = {"MAIL FROM:<a@b\xed\xa0\x80" ".test> SMTPUTF8\r\n"},
	 .want = G "501 5.1.7 Bad sender address syntax: malformed UTF-8\r\n"},
	{.name = "utf8: truncated in RCPT", .in = {"MAIL FROM:<a@b.test> SMTPUTF8\r\n", "RCPT TO:<u\xc3@mx.test>\r\n"},
	 .want = G MAILOK "501 5.1.3 Bad recipient address syntax: malformed UTF-8\r\n"},
	{.name = "utf8: overlong in RCPT", .in = {"MAIL FROM:<a@b.test> SMTPUTF8\r\n",
		"RCPT TO:<\xe0\x80\xae\xe0\x80\xae@mx.test>\r\n"},
	 .want = G MAILOK "501 5.1.3 Bad recipient address syntax: malformed UTF-8\r\n"},
	{.name = "utf8: surrogate in RCPT", .in = {"MAIL FROM:<a@b.test> SMTPUTF8\r\n", "RCPT TO:<\xed\xbf\xbf@mx.test>\r\n"},
	 .want = G MAILOK "501 5.1.3 Bad recipient address syntax: malformed UTF-8\r\n"},
	{.name = "utf8: valid in RCPT", .in = {"MAIL FROM:<a@b.test> SMTPUTF8\r\n", "RCPT TO:<j\xc3\xbcrg@mx.test>\r\n"},
	 .want = G MAILOK RCPTOK},
	{.name = "too many recipients",
	 .in = {"EHLO c\r\n", "MAIL FROM:<>\r\nRCPT TO:<a@x.test>\r\nRCPT TO:<b@x.test>\r\nRCPT TO:<c@x.test>\r\nRCPT TO:<d@x.test>\r\n"},
	 .want = G E MAILOK RCPTOK RCPTOK RCPTOK "452 4.5.3 Error: too many recipients\r\n"},
	{.name = "message too big",
	 .in = {"EHLO c\r\n", TRANS,
		"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n"
		"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n"
		"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n"
		"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n"
		".\r\n", "NOOP\r\n"},
	 .want = G E TRANSOK "552 5.3.4 Message size exceeds fixed limit\r\n250 2.0.0 Ok\r\n"},
	{.name = "line too long",
	 .in = {"NOOP xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n", "NOOP\r\n"},
	 .want = G "500 5.5.2 Error: line too long\r\n250 2.0.0 Ok\r\n"},
	{.name = "NUL in command", .in = {"NOOP a\0b\r\n", "NOOP\r\n"}, .inlen = {10},
	 .want = G "500 5.5.2 Error: NUL character in command\r\n250 2.0.0 Ok\r\n"},
	{.name = "bare LF in command", .in = {"NOOP\n"}, .want = G BARELF, .want_closed = true},
	{.name = "bare CR in command", .in = {"NO\rOP\r\n"}, .want = G BARECR, .want_closed = true},
	{.name = "bare LF allowed", .opts = O_ALLOW_BARE, .in = {"NOOP\n"}, .want = G "250 2.0.0 Ok\r\n"},
	/* SMTP smuggling: none of these ends the message; with the default the session ends. */
	{.name = "smuggle LF.LF", .in = {"EHLO c\r\n", TRANS, "x\r\n\n.\n" EVIL},
	 .want = G E TRANSOK BARELF, .want_closed = true},
	{.name = "smuggle LF.CRLF", .in = {"EHLO c\r\n", TRANS, "x\n.\r\n" EVIL},
	 .want = G E TRANSOK BARELF, .want_closed = true},
	{.name = "smuggle CRLF.LF", .in = {"EHLO c\r\n", TRANS, "x\r\n.\n" EVIL},
	 .want = G E TRANSOK BARELF, .want_closed = true},
	{.name = "smuggle CR.CR", .in = {"EHLO c\r\n", TRANS, "x\r.\r" EVIL},
	 .want = G E TRANSOK BARECR, .want_closed = true},
	{.name = "smuggle CRLF.CR", .in = {"EHLO c\r\n", TRANS, "x\r\n.\r" EVIL},
	 .want = G E TRANSOK BARECR, .want_closed = true},
	{.name = "smuggle CR.CRLF", .in = {"EHLO c\r\n", TRANS, "x\r.\r\n" EVIL},
	 .want = G E TRANSOK BARECR, .want_closed = true},
	/* With bare newlines tolerated, a smuggled "end" is plain content: one message. */
	{.name = "smuggle LF.LF tolerated", .opts = O_ALLOW_BARE | O_ALLOW_PIPE,
	 .in = {"EHLO c\r\n", TRANS, "x\r\n\n.\n" EVIL},
	 .want = G E TRANSOK "250 2.0.0 Ok: queued as QID1\r\n", .want_queued = 1,
	 .want_content = "x\n\n.\nMAIL FROM:<evil@x.test>\nRCPT TO:<v@mx.test>\nDATA\nevil\n"},
	{.name = "smuggle LF.CRLF tolerated", .opts = O_ALLOW_BARE | O_ALLOW_PIPE,
	 .in = {"EHLO c\r\n", TRANS, "x\n.\r\n" EVIL},
	 .want = G E TRANSOK "250 2.0.0 Ok: queued as QID1\r\n", .want_queued = 1,
	 .want_content = "x\n.\nMAIL FROM:<evil@x.test>\nRCPT TO:<v@mx.test>\nDATA\nevil\n"},
	{.name = "smuggle CRLF.CR tolerated", .opts = O_ALLOW_BARE | O_ALLOW_PIPE,
	 .in = {"EHLO c\r\n", TRANS, "x\r\n.\r" EVIL},
	 .want = G E TRANSOK "250 2.0.0 Ok: queued as QID1\r\n", .want_queued = 1,
	 .want_content = "x\n\rMAIL FROM:<evil@x.test>\nRCPT TO:<v@mx.test>\nDATA\nevil\n"},
	/* sendmail -bs: LF-only scripts work, the final dot included. */
	{.name = "lf line ends", .opts = O_LF_ENDS | O_ALLOW_PIPE,
	 .in = {"HELO local\nMAIL FROM:<a@b.test>\nRCPT TO:<u@mx.test>\nDATA\nx\n..y\n\n.\nQUIT\n"},
	 .want = G "250 mx.test\r\n" TRANSOK "250 2.0.0 Ok: queued as QID1\r\n" BYE, .want_queued = 1,
	 .want_content = "x\n.y\n\n", .want_closed = true},
	{.name = "lf line ends, CRLF too", .opts = O_LF_ENDS,
	 .in = {"HELO local\r\n", "MAIL FROM:<a@b.test>\n", "RCPT TO:<u@mx.test>\r\n", "DATA\n", "x\r\ny\n.\r\n"},
	 .want = G "250 mx.test\r\n" TRANSOK "250 2.0.0 Ok: queued as QID1\r\n", .want_queued = 1,
	 .want_content = "x\ny\n"},
	/* Pipelining by clients that were not offered it. */
	{.name = "pipelining after HELO", .opts = O_NO_SPLIT, .in = {"HELO c\r\nMAIL FROM:<a@b.test>\r\n"},
	 .want = G "250 mx.test\r\n" SYNC, .want_closed = true},
	{.name = "pipelining behind EHLO", .opts = O_NO_SPLIT, .in = {"EHLO c\r\nMAIL FROM:<a@b.test>\r\n"},
	 .want = G E SYNC, .want_closed = true},
	{.name = "HELO client pipelining", .opts = O_NO_SPLIT,
	 .in = {"HELO c\r\n", "MAIL FROM:<a@b.test>\r\nRCPT TO:<u@mx.test>\r\n"},
	 .want = G "250 mx.test\r\n" MAILOK SYNC, .want_closed = true},
	{.name = "data pipelined behind DATA", .opts = O_NO_SPLIT,
	 .in = {"EHLO c\r\n", TRANS "x\r\n.\r\n"}, .want = G E TRANSOK SYNC, .want_closed = true},
	{.name = "pipelining allowed", .opts = O_NO_SPLIT | O_ALLOW_PIPE,
	 .in = {"HELO c\r\nMAIL FROM:<a@b.test>\r\n"}, .want = G "250 mx.test\r\n" MAILOK},
	/* Plaintext pipelined behind STARTTLS is discarded. */
	{.name = "starttls injection", .opts = O_STARTTLS | O_NO_SPLIT,
	 .in = {"EHLO c\r\n", "STARTTLS\r\nMAIL FROM:<evil@x.test>\r\n", TLS_DONE, "RCPT TO:<u@mx.test>\r\n"},
	 .want = G "250-mx.test\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250-STARTTLS\r\n250-ENHANCEDSTATUSCODES\r\n"
		 "250-8BITMIME\r\n250-DSN\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n"
		 "220 2.0.0 Ready to start TLS\r\n503 5.5.1 Error: need MAIL command\r\n"},
	{.name = "starttls then ehlo", .opts = O_STARTTLS,
	 .in = {"EHLO c\r\n", "STARTTLS\r\n", TLS_DONE, "EHLO c\r\n", "STARTTLS\r\n", TRANS, ".\r\n"},
	 .want = G "250-mx.test\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250-STARTTLS\r\n250-ENHANCEDSTATUSCODES\r\n"
		 "250-8BITMIME\r\n250-DSN\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n"
		 "220 2.0.0 Ready to start TLS\r\n" E "554 5.5.1 Error: TLS already active\r\n"
		 TRANSOK "250 2.0.0 Ok: queued as QID1\r\n", .want_queued = 1, .want_content = "",
	 .want_env = "proto=ESMTPS tls=1"},
	{.name = "starttls not offered", .in = {"STARTTLS\r\n"}, .want = G "502 5.5.1 Error: command not implemented\r\n"},
	{.name = "tls required", .opts = O_STARTTLS | O_TLS_REQUIRED, .in = {"HELO c\r\n", "MAIL FROM:<>\r\n"},
	 .want = G "250 mx.test\r\n530 5.7.0 Must issue a STARTTLS command first\r\n"},
	/* BDAT (RFC 3030). */
	{.name = "bdat", .in = {"EHLO c\r\n", "MAIL FROM:<a@b.test>\r\nRCPT TO:<u@mx.test>\r\nBDAT 5\r\nab\r\ncBDAT 3 LAST\r\nd\r\n"},
	 .want = G E MAILOK RCPTOK "250 2.0.0 Ok: 5 bytes\r\n250 2.0.0 Ok: queued as QID1\r\n",
	 .want_content = "ab\ncd\n", .want_queued = 1},
	{.name = "bdat keeps dots and bare LF", .opts = O_ALLOW_BARE,
	 .in = {"EHLO c\r\n", "MAIL FROM:<>\r\nRCPT TO:<u@mx.test>\r\nBDAT 7 LAST\r\n.\r\n\n.\r\n"},
	 .want = G E MAILOK RCPTOK "250 2.0.0 Ok: queued as QID1\r\n", .want_content = ".\n\n.\n", .want_queued = 1},
	/* BDAT content: bare CR and LF as in DATA, a CRLF may straddle two chunks. */
	{.name = "bdat keeps dots", .in = {"EHLO c\r\n", "MAIL FROM:<>\r\nRCPT TO:<u@mx.test>\r\nBDAT 6 LAST\r\n.\r\n.\r\n"},
	 .want = G E MAILOK RCPTOK "250 2.0.0 Ok: queued as QID1\r\n", .want_content = ".\n.\n", .want_queued = 1},
	{.name = "bdat CRLF across chunks", .in = {"EHLO c\r\n", "MAIL FROM:<>\r\nRCPT TO:<u@mx.test>\r\nBDAT 2\r\na\r",
		"BDAT 2 LAST\r\n\nb"},
	 .want = G E MAILOK RCPTOK "250 2.0.0 Ok: 2 bytes\r\n250 2.0.0 Ok: queued as QID1\r\n", .want_content = "a\nb",
	 .want_queued = 1},
	{.name = "bdat bare LF", .in = {"EHLO c\r\n", "MAIL FROM:<>\r\nRCPT TO:<u@mx.test>\r\nBDAT 7 LAST\r\n.\r\n\n.\r\n"},
	 .want = G E MAILOK RCPTOK BARELF, .want_closed = true},
	{.name = "bdat smuggle CR.CR", .in = {"EHLO c\r\n", "MAIL FROM:<a@b.test>\r\nRCPT TO:<u@mx.test>\r\nBDAT 56 LAST\r\n"
		"x\r.\r" "MAIL FROM:<evil@x.test>\r\nRCPT TO:<v@mx.test>\r\nDATA\r\n"},
	 .want = G E MAILOK RCPTOK BARECR, .want_closed = true},
	{.name = "bdat smuggle CR.CR tolerated", .opts = O_ALLOW_BARE,
	 .in = {"EHLO c\r\n", "MAIL FROM:<a@b.test>\r\nRCPT TO:<u@mx.test>\r\nBDAT 56 LAST\r\n"
		"x\r.\r" "MAIL FROM:<evil@x.test>\r\nRCPT TO:<v@mx.test>\r\nDATA\r\n"},
	 .want = G E MAILOK RCPTOK "250 2.0.0 Ok: queued as QID1\r\n", .want_queued = 1,
	 .want_content = "x\r.\rMAIL FROM:<evil@x.test>\nRCPT TO:<v@mx.test>\nDATA\n"},
	{.name = "bdat bare CR at the end", .in = {"EHLO c\r\n", "MAIL FROM:<>\r\nRCPT TO:<u@mx.test>\r\nBDAT 2\r\nab",
		"BDAT 1 LAST\r\n\r", "NOOP\r\n"},
	 .want = G E MAILOK RCPTOK "250 2.0.0 Ok: 2 bytes\r\n" BARECR, .want_closed = true},
	{.name = "bdat bare CR in a discarded chunk", .in = {"EHLO c\r\n", "BDAT 3\r\na\rb", "NOOP\r\n"},
	 .want = G E BARECR, .want_closed = true},
	{.name = "bdat NUL is content, as in DATA", .in = {"EHLO c\r\n", "MAIL FROM:<>\r\nRCPT TO:<u@mx.test>\r\nBDAT 5 LAST\r\n.\0\r\nx"},
	 .inlen = {0, 53},
	 .want = G E MAILOK RCPTOK "250 2.0.0 Ok: queued as QID1\r\n", .want_queued = 1},
	{.name = "bdat 0 last", .in = {"EHLO c\r\n", "MAIL FROM:<>\r\nRCPT TO:<u@mx.test>\r\nBDAT 0 LAST\r\n"},
	 .want = G E MAILOK RCPTOK "250 2.0.0 Ok: queued as QID1\r\n", .want_content = "", .want_queued = 1},
	{.name = "bdat without mail", .in = {"EHLO c\r\n", "BDAT 6\r\nQUIT\r\n", "NOOP\r\n"},
	 .want = G E "503 5.5.1 Error: need MAIL command\r\n250 2.0.0 Ok\r\n"},
	{.name = "bdat without rcpt", .in = {"EHLO c\r\n", "MAIL FROM:<>\r\nRCPT TO:<reject@x.test>\r\nBDAT 3\r\nabcBDAT 1 LAST\r\nx", "NOOP\r\n"},
	 .want = G E MAILOK "554 5.7.1 <reject@x.test>: Relay access denied\r\n554 5.5.1 Error: no valid recipients\r\n"
		 "554 5.5.1 Error: no valid recipients\r\n250 2.0.0 Ok\r\n"},
	{.name = "bdat syntax", .in = {"EHLO c\r\n", "BDAT x\r\n"},
	 .want = G E "501 5.5.4 Syntax: BDAT count [LAST]\r\n", .want_closed = true},
	{.name = "bdat too big", .in = {"EHLO c\r\n", "MAIL FROM:<>\r\nRCPT TO:<u@mx.test>\r\nBDAT 1200 LAST\r\n",
		X100 X100 X100 X100 X100 X100 X100 X100 X100 X100 X100 X100,
		"NOOP\r\n"},
	 .want = G E MAILOK RCPTOK "552 5.3.4 Message size exceeds fixed limit\r\n250 2.0.0 Ok\r\n"},
	{.name = "data after bdat", .in = {"EHLO c\r\n", "MAIL FROM:<>\r\nRCPT TO:<u@mx.test>\r\nBDAT 1\r\nx", "DATA\r\n"},
	 .want = G E MAILOK RCPTOK "250 2.0.0 Ok: 1 bytes\r\n503 5.5.1 Error: BDAT in progress\r\n"},
	/* The other commands. */
	{.name = "rset", .in = {"MAIL FROM:<>\r\n", "RSET\r\n", "RCPT TO:<u@mx.test>\r\n", "RSET x\r\n"},
	 .want = G MAILOK "250 2.0.0 Ok\r\n503 5.5.1 Error: need MAIL command\r\n501 5.5.4 Syntax: RSET\r\n"},
	{.name = "noop", .in = {"NOOP\r\n", "NOOP anything\r\n"}, .want = G "250 2.0.0 Ok\r\n250 2.0.0 Ok\r\n"},
	{.name = "help", .in = {"HELP\r\n"},
	 .want = G "214 2.0.0 Commands: HELO EHLO MAIL RCPT DATA BDAT RSET NOOP QUIT HELP\r\n"},
	{.name = "vrfy disabled", .in = {"VRFY u\r\n"}, .want = G "502 5.5.1 VRFY command is disabled\r\n"},
	{.name = "vrfy", .opts = O_VRFY, .in = {"VRFY <u@mx.test>\r\n", "VRFY nobody\r\n", "VRFY\r\n", "VRFY a@@b\r\n"},
	 .want = G "252 2.0.0 u@mx.test\r\n550 5.1.1 <nobody>: Recipient address rejected\r\n"
		 "501 5.5.4 Syntax: VRFY address\r\n501 5.1.3 Bad recipient address syntax\r\n"},
	{.name = "expn", .in = {"EXPN list\r\n"}, .want = G "502 5.5.1 Error: command not implemented\r\n"},
	{.name = "unknown command", .in = {"FOO\r\n", "MAILX\r\n"},
	 .want = G "502 5.5.2 Error: command not recognized\r\n502 5.5.2 Error: command not recognized\r\n"},
	{.name = "empty line", .in = {"\r\n"}, .want = G "500 5.5.2 Error: bad syntax\r\n"},
	{.name = "http", .in = {"GET / HTTP/1.0\r\n"},
	 .want = G "521 5.5.1 Error: this is an SMTP server, not a web server\r\n", .want_closed = true},
	{.name = "hard error limit", .opts = O_HARD3, .in = {"FOO\r\n", "FOO\r\n", "FOO\r\n", "NOOP\r\n"},
	 .want = G "502 5.5.2 Error: command not recognized\r\n502 5.5.2 Error: command not recognized\r\n"
		 "502 5.5.2 Error: command not recognized\r\n421 4.7.0 mx.test Error: too many errors\r\n",
	 .want_closed = true},
	{.name = "timeout", .in = {"EHLO c\r\n", TIMEOUT, "NOOP\r\n"},
	 .want = G E "421 4.4.2 mx.test Error: timeout exceeded\r\n", .want_closed = true},
	/* AUTH (RFC 4954). */
	{.name = "auth plain", .opts = O_AUTH,
	 .in = {"EHLO c\r\n", "AUTH PLAIN AHVzZXIAcGFzcw==\r\n", "AUTH PLAIN AHVzZXIAcGFzcw==\r\n", TRANS, ".\r\n"},
	 .want = G "250-mx.test\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250-AUTH PLAIN LOGIN\r\n250-ENHANCEDSTATUSCODES\r\n"
		 "250-8BITMIME\r\n250-DSN\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n"
		 "235 2.7.0 Authentication successful\r\n503 5.5.1 Error: already authenticated\r\n"
		 TRANSOK "250 2.0.0 Ok: queued as QID1\r\n", .want_queued = 1, .want_content = "",
	 .want_env = "proto=ESMTPA tls=0 user=user"},
	{.name = "auth plain empty initial", .opts = O_AUTH,
	 .in = {"EHLO c\r\n", "AUTH PLAIN\r\n", "AHVzZXIAcGFzcw==\r\n"},
	 .want = G "250-mx.test\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250-AUTH PLAIN LOGIN\r\n250-ENHANCEDSTATUSCODES\r\n"
		 "250-8BITMIME\r\n250-DSN\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n"
		 "334 \r\n235 2.7.0 Authentication successful\r\n"},
	{.name = "auth login", .opts = O_AUTH,
	 .in = {"HELO c\r\n", "AUTH LOGIN\r\n", "dXNlcg==\r\n", "cGFzcw==\r\n"},
	 .want = G "250 mx.test\r\n334 VXNlcm5hbWU6\r\n334 UGFzc3dvcmQ6\r\n235 2.7.0 Authentication successful\r\n"},
	{.name = "auth failures", .opts = O_AUTH,
	 .in = {"HELO c\r\n", "AUTH PLAIN AHVzZXIAd3Jvbmc=\r\n", "AUTH LOGIN\r\n", "*\r\n", "AUTH PLAIN !!!!\r\n",
		"AUTH CRAM-MD5\r\n", "AUTH\r\n"},
	 .want = G "250 mx.test\r\n535 5.7.8 Error: authentication failed\r\n334 VXNlcm5hbWU6\r\n"
		 "501 5.7.0 Authentication aborted\r\n501 5.5.2 Cannot decode response\r\n"
		 "504 5.5.4 Unsupported authentication mechanism\r\n501 5.5.4 Syntax: AUTH mechanism\r\n"},
	{.name = "auth not enabled", .in = {"HELO c\r\n", "AUTH PLAIN AHVzZXIAcGFzcw==\r\n"},
	 .want = G "250 mx.test\r\n503 5.5.1 Error: authentication not enabled\r\n"},
	{.name = "auth only over tls", .opts = O_AUTH | O_TLS_AUTH_ONLY | O_STARTTLS,
	 .in = {"HELO c\r\n", "AUTH PLAIN AHVzZXIAcGFzcw==\r\n"},
	 .want = G "250 mx.test\r\n503 5.5.1 Error: authentication not enabled\r\n"},
	/* Restrictions that answer before RCPT (smtpd_delay_reject = no). */
	{.name = "client refused at connect", .client = "192.0.2.66",
	 .in = {"EHLO c\r\n", "MAIL FROM:<a@b.test>\r\n", "NOOP\r\n", "QUIT\r\n"},
	 .want = "554 5.7.1 <client.test[192.0.2.66]>: Client host rejected: Access denied\r\n"
		 "503 5.7.0 Error: access denied for client.test[192.0.2.66]\r\n"
		 "503 5.7.0 Error: access denied for client.test[192.0.2.66]\r\n"
		 "503 5.7.0 Error: access denied for client.test[192.0.2.66]\r\n" BYE, .want_closed = true},
	{.name = "client refused at connect, error limit", .client = "192.0.2.66", .opts = O_HARD3,
	 .in = {"EHLO c\r\n", "EHLO c\r\n", "EHLO c\r\n"},
	 .want = "554 5.7.1 <client.test[192.0.2.66]>: Client host rejected: Access denied\r\n"
		 "503 5.7.0 Error: access denied for client.test[192.0.2.66]\r\n"
		 "503 5.7.0 Error: access denied for client.test[192.0.2.66]\r\n"
		 "421 4.7.0 mx.test Error: too many errors\r\n", .want_closed = true},
	{.name = "client 421 at connect", .client = "192.0.2.67", .in = {"EHLO c\r\n"},
	 .want = "421 4.7.0 go away\r\n", .want_closed = true},
	{.name = "helo refused", .in = {"EHLO bad.test\r\n", "HELO bad.test\r\n", "EHLO c\r\n"},
	 .want = G "554 5.7.1 <bad.test>: Helo command rejected: go away\r\n"
		 "554 5.7.1 <bad.test>: Helo command rejected: go away\r\n" E},
	{.name = "helo refused keeps the transaction", .opts = O_HELO_REQUIRED,
	 .in = {"EHLO c\r\n", "MAIL FROM:<a@b.test>\r\n", "EHLO bad.test\r\n", "RCPT TO:<u@mx.test>\r\n",
		"DATA\r\n", ".\r\n"},
	 .want = G E MAILOK "554 5.7.1 <bad.test>: Helo command rejected: go away\r\n" RCPTOK GO
		 "250 2.0.0 Ok: queued as QID1\r\n", .want_queued = 1, .want_content = "",
	 .want_env = "proto=ESMTP"},
	{.name = "refused helo is no helo", .opts = O_HELO_REQUIRED, .in = {"HELO bad.test\r\n", "MAIL FROM:<>\r\n"},
	 .want = G "554 5.7.1 <bad.test>: Helo command rejected: go away\r\n"
		 "503 5.5.1 Error: send HELO/EHLO first\r\n"},
	{.name = "helo 421", .in = {"HELO close.test\r\n", "NOOP\r\n"},
	 .want = G "421 4.7.0 closing\r\n", .want_closed = true},
	{.name = "sender refused", .in = {"EHLO c\r\n", "MAIL FROM:<reject@b.test>\r\n", "RCPT TO:<u@mx.test>\r\n",
		"MAIL FROM:<a@b.test>\r\n"},
	 .want = G E "554 5.7.1 <reject@b.test>: Sender address rejected: Access denied\r\n"
		 "503 5.5.1 Error: need MAIL command\r\n" MAILOK},
	{.name = "data restrictions", .in = {"EHLO c\r\n", "MAIL FROM:<nodata@b.test>\r\n", "RCPT TO:<u@mx.test>\r\n",
		"DATA\r\n", "RSET\r\n"},
	 .want = G E MAILOK RCPTOK "554 5.7.1 <DATA>: Data command rejected: Access denied\r\n250 2.0.0 Ok\r\n"},
	{.name = "data restrictions, BDAT", .in = {"EHLO c\r\n", "MAIL FROM:<nodata@b.test>\r\n", "RCPT TO:<u@mx.test>\r\n",
		"BDAT 2\r\nab", "BDAT 1 LAST\r\nc", "NOOP\r\n"},
	 .want = G E MAILOK RCPTOK "554 5.7.1 <DATA>: Data command rejected: Access denied\r\n"
		 "554 5.7.1 <DATA>: Data command rejected: Access denied\r\n250 2.0.0 Ok\r\n"},
	{.name = "end-of-data restrictions", .in = {"EHLO c\r\n", "MAIL FROM:<noeod@b.test>\r\n", "RCPT TO:<u@mx.test>\r\n",
		"RCPT TO:<v@mx.test>\r\n", "DATA\r\n", "x\r\n.\r\n", "MAIL FROM:<a@b.test>\r\n"},
	 .want = G E MAILOK RCPTOK RCPTOK GO "550 5.7.1 <END-OF-MESSAGE>: End-of-data rejected: 2 recipients\r\n" MAILOK},
	{.name = "end-of-data restrictions, BDAT", .in = {"EHLO c\r\n", "MAIL FROM:<noeod@b.test>\r\n",
		"RCPT TO:<u@mx.test>\r\n", "BDAT 1 LAST\r\nx"},
	 .want = G E MAILOK RCPTOK "550 5.7.1 <END-OF-MESSAGE>: End-of-data rejected: 1 recipients\r\n"},
	{.name = "callback reply without a code", .in = {"MAIL FROM:<bogus@b.test>\r\n"},
	 .want = G "554 5.7.1 Access denied\r\n"},
	{.name = "allow_min_user = no", .in = {"MAIL FROM:<-oQ/tmp/x@b.test>\r\n", "MAIL FROM:<a@b.test>\r\n",
		"RCPT TO:<-u@mx.test>\r\n", "RCPT TO:<u-@mx.test>\r\n"},
	 .want = G "501 5.1.7 Bad sender address syntax\r\n" MAILOK "501 5.1.3 Bad recipient address syntax\r\n"
		 RCPTOK},
	{.name = "allow_min_user = yes", .opts = O_MIN_USER, .in = {"MAIL FROM:<-a@b.test>\r\n",
		"RCPT TO:<-u@mx.test>\r\n"},
	 .want = G MAILOK RCPTOK},
	{.name = "auth in transaction", .opts = O_AUTH, .in = {"HELO c\r\n", "MAIL FROM:<>\r\n", "AUTH PLAIN =\r\n"},
	 .want = G "250 mx.test\r\n" MAILOK "503 5.5.1 Error: MAIL transaction in progress\r\n"},
};

static void setup_cfg(struct smtp_engine_cfg *c, unsigned opts)
{
	*c = (struct smtp_engine_cfg){
		.myhostname = "mx.test",
		.banner = "mx.test ESMTP Tern",
		.helo_required = opts & O_HELO_REQUIRED,
		.recipient_limit = 3,
		.message_size_limit = 1000,
		.line_limit = 512,
		.soft_error_limit = 10,
		.hard_error_limit = (opts & O_HARD3) ? 3 : 20,
		.error_sleep_ms = 1000,
		.junk_command_limit = 100,
		.forbid_bare_newline = !(opts & O_ALLOW_BARE),
		.forbid_unauth_pipelining = !(opts & O_ALLOW_PIPE),
		.vrfy_enabled = opts & O_VRFY,
		.pipelining = true,
		.chunking = true,
		.dsn = !(opts & O_NO_DSN),
		.smtputf8 = true,
		.eightbitmime = true,
		.starttls = opts & O_STARTTLS,
		.tls_required = opts & O_TLS_REQUIRED,
		.auth = opts & O_AUTH,
		.tls_auth_only = opts & O_TLS_AUTH_ONLY,
		.auth_fail_delay_ms = 100,
		.auth_mechanisms = "PLAIN LOGIN",
		.lf_line_ends = opts & O_LF_ENDS,
		.reject_min_user = !(opts & O_MIN_USER),
		.strict_envelopes = opts & O_STRICT,
	};
}

static void drain(struct smtp_engine *e, struct buf *out)
{
	size_t len;
	const char *p = smtp_engine_output(e, &len);
	if (len > 0) {
		buf_add(out, p, len);
		smtp_engine_output_done(e, len);
	}
}

/*
 * RFC 2034: every 2xx, 4xx and 5xx line but the greeting and the answer
 * to HELO/EHLO starts with an enhanced status code of the same class.
 */
static void check_status_codes(const char *name, const char *out)
{
	bool first = true, in_ehlo = false;
	while (*out != '\0') {
		const char *end = strstr(out, "\r\n");
		ck_assert_msg(end != NULL, "%s: reply without CRLF: [%s]", name, out);
		char line[600];
		size_t n = (size_t)(end - out) < sizeof(line) - 1 ? (size_t)(end - out) : sizeof(line) - 1;
		memcpy(line, out, n);
		line[n] = '\0';
		out = end + 2;
		bool greeting = first && strncmp(line, "220 ", 4) == 0;
		first = false;
		/* HELO's answer and every line of EHLO's ("250-name", ..., "250 LAST"). */
		bool ehlo = in_ehlo || line[3] == '-' || strcmp(line, "250 mx.test") == 0;
		in_ehlo = line[3] == '-';
		if (greeting || ehlo || line[0] == '3')
			continue;
		unsigned a, b;
		char cls;
		int used = 0;
		ck_assert_msg(strlen(line) > 4 && sscanf(line + 4, "%c.%3u.%3u%n", &cls, &a, &b, &used) == 3
			      && cls == line[0] && (line[4 + used] == ' ' || line[4 + used] == '\0'),
				"%s: no enhanced status code of class %c: [%s]", name, line[0], line);
	}
}

/* Run one row; split = feed every byte separately. */
static void run_row(const struct row *r, bool split)
{
	struct smtp_engine_cfg cfg;
	struct buf out = BUF_INIT;

	setup_cfg(&cfg, r->opts);
	buf_reset(&content);
	queued = aborted = opened = 0;
	commit_pending = false;
	struct smtp_engine *e = smtp_engine_new(&cfg, &stub_ops, NULL, "client.test",
			r->client ? r->client : "192.0.2.1");
	smtp_engine_start(e);
	drain(e, &out);
	for (int i = 0; i < 8 && r->in[i] != NULL; i++) {
		if (strcmp(r->in[i], TLS_DONE) == 0) {
			ck_assert_msg(smtp_engine_flags(e) & SMTP_WANT_STARTTLS, "%s: no STARTTLS wanted", r->name);
			smtp_engine_tls_done(e, true, "TLSv1.3", "TLS_AES_256_GCM_SHA384");
			continue;
		}
		if (strcmp(r->in[i], TIMEOUT) == 0) {
			smtp_engine_timeout(e);
			continue;
		}
		size_t len = r->inlen[i] ? r->inlen[i] : strlen(r->in[i]);
		if (split) {
			for (size_t j = 0; j < len; j++) {
				smtp_engine_input(e, r->in[i] + j, 1);
				drain(e, &out);
			}
		} else {
			smtp_engine_input(e, r->in[i], len);
			drain(e, &out);
		}
	}
	ck_assert_msg(strcmp(buf_str(&out), r->want) == 0, "%s%s:\n got: [%s]\nwant: [%s]", r->name,
			split ? " (byte by byte)" : "", buf_str(&out), r->want);
	check_status_codes(r->name, buf_str(&out));
	ck_assert_msg(queued == r->want_queued, "%s: queued %d, want %d", r->name, queued, r->want_queued);
	if (r->want_content != NULL)
		ck_assert_msg(strcmp(buf_str(&content), r->want_content) == 0, "%s: content [%s] want [%s]",
				r->name, buf_str(&content), r->want_content);
	if (r->want_env != NULL)
		ck_assert_msg(strstr(buf_str(&envlog), r->want_env) != NULL, "%s: envelope [%s] lacks [%s]",
				r->name, buf_str(&envlog), r->want_env);
	ck_assert_msg(!!(smtp_engine_flags(e) & SMTP_WANT_CLOSE) == r->want_closed, "%s: closed %d", r->name,
			!!(smtp_engine_flags(e) & SMTP_WANT_CLOSE));
	/* Every opened message was either committed or aborted. */
	smtp_engine_free(e);
	ck_assert_msg(opened == queued + aborted, "%s: opened %d queued %d aborted %d", r->name,
			opened, queued, aborted);
	buf_free(&out);
}

START_TEST(test_rows)
{
	run_row(&rows[_i], false);
}
END_TEST

START_TEST(test_rows_split)
{
	if (!(rows[_i].opts & O_NO_SPLIT))
		run_row(&rows[_i], true);
}
END_TEST

/* A commit that finishes later: input waits, replies stay in order. */
/*
 * A body of about 600 KiB, much larger than smtpd's reads and the
 * engine's 8 KiB stage: lines of every length up to 3,000 bytes, dot-
 * stuffed ones, 8-bit bytes, trailing blanks. Fed at once and in uneven
 * pieces; what is written must be the lines with LF ends and the stuffing
 * removed. With lf_line_ends (sendmail -bs) most lines end in a bare LF
 * and CRs are far apart: the line scan must find each LF, not run to the
 * next CR.
 */
static void big_body(bool lf_ends, struct buf *wire, struct buf *want)
{
	unsigned x = 15;
	for (int i = 0; wire->len < 600 * 1024; i++) {
		size_t n = (x = x * 1103515245u + 12345u) >> 16 & 0x7ff;
		if (i % 13 == 0)
			n += 1000;
		if (i % 7 == 0)
			buf_add(wire, ".", 1);	/* stuffed: "..", or ". " alone */
		size_t start = wire->len;
		for (size_t k = 0; k < n; k++) {
			unsigned v = (x = x * 1103515245u + 12345u) >> 16;
			char c = (char)(v % 5 == 0 ? 0x80 + v % 128 : ' ' + v % 95);
			if (k == 0 && c == '.' && i % 7 != 0)
				c = '-';	/* an unstuffed line never starts with a dot */
			buf_add(wire, &c, 1);
		}
		if (i % 7 == 0 && n == 0)
			buf_add(wire, " ", 1);	/* not the end: ". " is text */
		/* What arrives: the line without its stuffing dot, with an LF. */
		buf_add(want, wire->data + start, wire->len - start);
		buf_add(want, "\n", 1);
		if (lf_ends && i % 500 != 0)
			buf_add(wire, "\n", 1);
		else
			buf_add(wire, "\r\n", 2);
	}
	buf_add(wire, lf_ends ? ".\n" : ".\r\n", lf_ends ? 2 : 3);
}

/*
 * One transaction whose DATA content is wire (up to its final dot), fed
 * whole (sizes NULL) or in reads of sizes[k % nsizes] bytes: the message
 * must be queued with exactly want as its content.
 */
static void deliver_wire(const struct smtp_engine_cfg *cfg, const struct buf *wire, const struct buf *want,
			 const size_t *sizes, size_t nsizes, int mode)
{
	struct buf out = BUF_INIT;

	buf_reset(&content);
	queued = aborted = opened = 0;
	struct smtp_engine *e = smtp_engine_new(cfg, &stub_ops, NULL, "client.test", "192.0.2.1");
	smtp_engine_start(e);
	smtp_engine_input(e, "EHLO c\r\n", 8);
	drain(e, &out);
	smtp_engine_input(e, TRANS, strlen(TRANS));
	drain(e, &out);
	for (size_t pos = 0, k = 0; pos < wire->len; k++) {
		size_t n = sizes != NULL ? sizes[k % nsizes] : wire->len;
		if (n > wire->len - pos)
			n = wire->len - pos;
		smtp_engine_input(e, wire->data + pos, n);
		drain(e, &out);
		pos += n;
	}
	ck_assert_msg(strstr(buf_str(&out), "250 2.0.0 Ok: queued as QID1") != NULL, "mode %d: %s", mode,
		      buf_str(&out));
	ck_assert_int_eq(queued, 1);
	ck_assert_uint_eq(content.len, want->len);
	ck_assert_mem_eq(content.data, want->data, want->len);
	smtp_engine_free(e);
	buf_free(&out);
}

START_TEST(test_big_body)
{
	static const size_t big_sizes[] = {1, 65536, 4099};

	for (int mode = 0; mode < 4; mode++) {
		bool lf_ends = mode & 1, pieces = mode & 2;
		struct smtp_engine_cfg cfg;
		struct buf wire = BUF_INIT, want = BUF_INIT;

		setup_cfg(&cfg, lf_ends ? O_LF_ENDS : 0);
		cfg.message_size_limit = 0;
		queued = aborted = opened = 0;
		big_body(lf_ends, &wire, &want);
		deliver_wire(&cfg, &wire, &want, pieces ? big_sizes : NULL, 3, mode);
		buf_free(&wire);
		buf_free(&want);
	}
}
END_TEST

START_TEST(test_pending_commit)
{
	struct smtp_engine_cfg cfg;
	struct buf out = BUF_INIT;
	setup_cfg(&cfg, 0);
	queued = aborted = opened = 0;
	commit_pending = true;
	struct smtp_engine *e = smtp_engine_new(&cfg, &stub_ops, NULL, "client.test", "192.0.2.1");
	smtp_engine_start(e);
	smtp_engine_input(e, "EHLO c\r\n", 8);
	smtp_engine_input(e, TRANS, strlen(TRANS));
	drain(e, &out);
	smtp_engine_input(e, "x\r\n.\r\nQUIT\r\n", 12);
	ck_assert(smtp_engine_flags(e) & SMTP_WAIT_COMMIT);
	smtp_engine_input(e, "NOOP\r\n", 6);	/* arrives while waiting */
	drain(e, &out);
	ck_assert_str_eq(buf_str(&out), G E TRANSOK);
	smtp_engine_commit_done(e, SMTP_COMMIT_OK, "ABC123", NULL);
	drain(e, &out);
	ck_assert_str_eq(buf_str(&out), G E TRANSOK "250 2.0.0 Ok: queued as ABC123\r\n" BYE);
	ck_assert(smtp_engine_flags(e) & SMTP_WANT_CLOSE);
	smtp_engine_free(e);
	buf_free(&out);
}
END_TEST

START_TEST(test_commit_tempfail)
{
	struct smtp_engine_cfg cfg;
	struct buf out = BUF_INIT;
	setup_cfg(&cfg, 0);
	commit_pending = true;
	struct smtp_engine *e = smtp_engine_new(&cfg, &stub_ops, NULL, "client.test", "192.0.2.1");
	smtp_engine_start(e);
	smtp_engine_input(e, "EHLO c\r\n", 8);
	smtp_engine_input(e, TRANS, strlen(TRANS));
	smtp_engine_input(e, ".\r\n", 3);
	smtp_engine_commit_done(e, SMTP_COMMIT_TEMPFAIL, NULL, "disk full");
	drain(e, &out);
	ck_assert_str_eq(buf_str(&out), G E TRANSOK "451 4.3.0 Error: queue file write error\r\n");
	smtp_engine_free(e);
	buf_free(&out);
}
END_TEST

/* Postfix's per-command counts for the disconnect line: refused ones as ok/total. */
START_TEST(test_command_counts)
{
	struct smtp_engine_cfg cfg;
	setup_cfg(&cfg, O_AUTH);
	cfg.soft_error_limit = 0;
	commit_pending = false;
	struct smtp_engine *e = smtp_engine_new(&cfg, &stub_ops, NULL, "client.test", "192.0.2.1");
	struct buf counts = BUF_INIT;
	smtp_engine_start(e);
	smtp_engine_command_counts(e, &counts);
	ck_assert_str_eq(buf_str(&counts), "commands=0/0");
	const char *in[] = {"EHLO c\r\n", "AUTH LOGIN\r\n", "dXNlcg==\r\n", "d3Jvbmc=\r\n",
			    "MAIL FROM:<a@b.test>\r\n", "RCPT TO:<u@mx.test>\r\n", "RCPT TO:<bad\r\n",
			    "DATA\r\n", "x\r\n.\r\n", "FOO\r\n", "QUIT\r\n"};
	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++)
		smtp_engine_input(e, in[i], strlen(in[i]));
	buf_reset(&counts);
	smtp_engine_command_counts(e, &counts);
	ck_assert_str_eq(buf_str(&counts),
			 "ehlo=1 auth=0/1 mail=1 rcpt=1/2 data=1 quit=1 unknown=0/1 commands=5/8");
	smtp_engine_free(e);
	/* Numbers of more than one digit, each digit where it belongs. */
	e = smtp_engine_new(&cfg, &stub_ops, NULL, "client.test", "192.0.2.1");
	smtp_engine_start(e);
	smtp_engine_input(e, "EHLO c\r\n", 8);
	for (int i = 0; i < 109; i++)
		smtp_engine_input(e, "NOOP\r\n", 6);
	buf_reset(&counts);
	smtp_engine_command_counts(e, &counts);
	ck_assert_str_eq(buf_str(&counts), "ehlo=1 noop=109 commands=110");
	smtp_engine_free(e);
	buf_free(&counts);
}
END_TEST

/* Errors beyond smtpd_soft_error_limit ask the driver to wait; AUTH failures too. */
START_TEST(test_delays)
{
	struct smtp_engine_cfg cfg;
	setup_cfg(&cfg, O_AUTH);
	cfg.soft_error_limit = 2;
	commit_pending = false;
	struct smtp_engine *e = smtp_engine_new(&cfg, &stub_ops, NULL, "client.test", "192.0.2.1");
	smtp_engine_start(e);
	/* Two errors reach the limit; from then on every reply waits, a 250 too. */
	smtp_engine_input(e, "FOO\r\n", 5);
	ck_assert_uint_eq(smtp_engine_take_delay(e), 0);
	smtp_engine_input(e, "FOO\r\n", 5);
	ck_assert_uint_eq(smtp_engine_take_delay(e), 0);
	smtp_engine_input(e, "NOOP\r\n", 6);
	ck_assert_uint_eq(smtp_engine_take_delay(e), 1000);
	ck_assert_uint_eq(smtp_engine_take_delay(e), 0);
	/* EHLO's many lines are one reply: one wait. */
	smtp_engine_input(e, "EHLO c\r\n", 8);
	ck_assert_uint_eq(smtp_engine_take_delay(e), 1000);
	/* A delivered message forgives the errors (Postfix: "without delivering mail"). */
	smtp_engine_input(e, "MAIL FROM:<a@b.test>\r\n", 22);
	smtp_engine_input(e, "RCPT TO:<u@mx.test>\r\n", 21);
	smtp_engine_input(e, "DATA\r\n", 6);
	ck_assert_uint_eq(smtp_engine_take_delay(e), 3000);
	smtp_engine_input(e, ".\r\n", 3);
	smtp_engine_take_delay(e);
	smtp_engine_input(e, "NOOP\r\n", 6);
	ck_assert_uint_eq(smtp_engine_take_delay(e), 0);
	struct smtp_engine_stats st;
	smtp_engine_stats(e, &st);
	ck_assert_uint_eq(st.errors, 2);
	ck_assert_uint_eq(st.messages, 1);
	smtp_engine_free(e);

	/* smtpd_recipient_overshoot_limit: the first excess recipients are no errors. */
	setup_cfg(&cfg, O_AUTH);
	cfg.soft_error_limit = 0;
	cfg.hard_error_limit = 2;
	cfg.recipient_overshoot_limit = 2;
	e = smtp_engine_new(&cfg, &stub_ops, NULL, "client.test", "192.0.2.1");
	smtp_engine_start(e);
	smtp_engine_input(e, "MAIL FROM:<a@b.test>\r\n", 22);
	for (int i = 0; i < 3 + 3; i++)	/* 3 taken, 2 excess forgiven, 1 error */
		smtp_engine_input(e, "RCPT TO:<u@mx.test>\r\n", 21);
	ck_assert(!(smtp_engine_flags(e) & SMTP_WANT_CLOSE));
	smtp_engine_input(e, "RCPT TO:<u@mx.test>\r\n", 21);
	ck_assert(smtp_engine_flags(e) & SMTP_WANT_CLOSE);
	smtp_engine_free(e);
	cfg.recipient_overshoot_limit = 0;

	/* smtpd_junk_command_limit: junk beyond the limit counts as errors, until a delivery. */
	cfg.soft_error_limit = 0;
	cfg.junk_command_limit = 2;
	cfg.hard_error_limit = 2;
	e = smtp_engine_new(&cfg, &stub_ops, NULL, "client.test", "192.0.2.1");
	smtp_engine_start(e);
	for (int i = 0; i < 3; i++)	/* the third is one too many: one error */
		smtp_engine_input(e, "NOOP\r\n", 6);
	ck_assert(!(smtp_engine_flags(e) & SMTP_WANT_CLOSE));
	smtp_engine_input(e, "MAIL FROM:<a@b.test>\r\n", 22);
	smtp_engine_input(e, "RCPT TO:<u@mx.test>\r\n", 21);
	smtp_engine_input(e, "DATA\r\n", 6);
	smtp_engine_input(e, ".\r\n", 3);
	for (int i = 0; i < 3; i++)	/* counted from zero again */
		smtp_engine_input(e, "NOOP\r\n", 6);
	ck_assert(!(smtp_engine_flags(e) & SMTP_WANT_CLOSE));
	smtp_engine_input(e, "RSET\r\n", 6);
	ck_assert(smtp_engine_flags(e) & SMTP_WANT_CLOSE);
	smtp_engine_free(e);

	cfg.junk_command_limit = 100;
	cfg.hard_error_limit = 20;
	e = smtp_engine_new(&cfg, &stub_ops, NULL, "client.test", "192.0.2.1");
	smtp_engine_start(e);
	smtp_engine_input(e, "HELO c\r\n", 8);
	smtp_engine_input(e, "AUTH PLAIN AHVzZXIAd3Jvbmc=\r\n", 29);
	ck_assert_uint_eq(smtp_engine_take_delay(e), 100);
	smtp_engine_input(e, "AUTH PLAIN AHVzZXIAd3Jvbmc=\r\n", 29);
	ck_assert_uint_eq(smtp_engine_take_delay(e), 200);
	smtp_engine_free(e);
}
END_TEST

/*
 * AUTH answered later (SMTP_AUTH_PENDING, as smtpd's worker threads do):
 * the stub SASL steps are computed at once but held back until the row
 * says DONE; auth_outcome records S/F and asks for a 700 ms hold on
 * failure.
 */
static struct {
	bool waiting;			/* a step was returned PENDING, not delivered */
	enum smtp_auth_status st;
	struct buf ch;
	int freed_while_waiting;
	struct buf outcomes;		/* "S", "F", ... */
} async;

static enum smtp_auth_status async_step(void *auth, const char *data, size_t len, struct buf *ch)
{
	buf_reset(ch);
	async.st = stub_auth_step(auth, data, len, &async.ch);
	async.waiting = true;
	return SMTP_AUTH_PENDING;
}

static void async_free(void *auth)
{
	if (async.waiting)
		async.freed_while_waiting++;	/* the driver would free it when the worker returns */
	async.waiting = false;
	free(auth);
}

static unsigned async_outcome(void *ctx, const struct smtp_session_info *si, bool success)
{
	(void)ctx;
	ck_assert_str_eq(si->client_addr, "192.0.2.1");
	buf_addc(&async.outcomes, success ? 'S' : 'F');
	return success ? 0 : 700;
}

static const struct smtp_engine_ops async_ops = {
	.msg_open = stub_open,
	.msg_write = stub_write,
	.msg_finish = stub_finish,
	.msg_abort = stub_abort,
	.auth_new = stub_auth_new,
	.auth_step = async_step,
	.auth_username = stub_auth_user,
	.auth_free = async_free,
	.auth_outcome = async_outcome,
};

/* Packets that make the test deliver the pending answer, or end the connection. */
#define DONE	"\001DONE"
#define EOFMARK	"\001EOF"
#define A_OK	"235 2.7.0 Authentication successful\r\n"
#define A_BAD	"535 5.7.8 Error: authentication failed\r\n"

static const struct async_row {
	const char *name;
	int opts;
	const char *in[10];
	const char *want;
	const char *want_outcomes;
	unsigned want_delay;		/* summed over the row */
	bool want_closed;
	int want_freed_waiting;
} async_rows[] = {
	{.name = "plain, a command held while waiting", .opts = O_AUTH,
	 .in = {"HELO c\r\n", "AUTH PLAIN AHVzZXIAcGFzcw==\r\n", "NOOP\r\n", DONE},
	 .want = G "250 mx.test\r\n" A_OK "250 2.0.0 Ok\r\n", .want_outcomes = "S"},
	{.name = "login, three answers later", .opts = O_AUTH,
	 .in = {"HELO c\r\n", "AUTH LOGIN\r\n", DONE, "dXNlcg==\r\n", DONE, "cGFzcw==\r\n", DONE},
	 .want = G "250 mx.test\r\n334 VXNlcm5hbWU6\r\n334 UGFzc3dvcmQ6\r\n" A_OK,
	 .want_outcomes = "S"},
	{.name = "failures ask for the driver's delay", .opts = O_AUTH,
	 .in = {"HELO c\r\n", "AUTH PLAIN AHVzZXIAd3Jvbmc=\r\n", DONE, "AUTH PLAIN AHVzZXIAd3Jvbmc=\r\n", DONE,
		"AUTH PLAIN AHVzZXIAcGFzcw==\r\n", DONE},
	 .want = G "250 mx.test\r\n" A_BAD A_BAD A_OK, .want_outcomes = "FFS", .want_delay = 1400},
	{.name = "temporary failure is not counted", .opts = O_AUTH,
	 .in = {"HELO c\r\n", "AUTH LOGIN\r\n", DONE, "dXNlcg==\r\n", DONE, "cGFzcw==\r\n", "\001TEMPFAIL"},
	 .want = G "250 mx.test\r\n334 VXNlcm5hbWU6\r\n334 UGFzc3dvcmQ6\r\n"
		 "454 4.7.0 Temporary authentication failure\r\n", .want_outcomes = ""},
	{.name = "pipelined behind AUTH: answered, then refused", .opts = O_AUTH,
	 .in = {"HELO c\r\n", "AUTH PLAIN AHVzZXIAcGFzcw==\r\nMAIL FROM:<a@b.test>\r\n", DONE},
	 .want = G "250 mx.test\r\n" A_OK SYNC, .want_outcomes = "S", .want_closed = true},
	{.name = "the 535 that reaches the hard error limit closes", .opts = O_AUTH | O_HARD3,
	 .in = {"HELO c\r\n", "FOO\r\n", "FOO\r\n", "AUTH PLAIN AHVzZXIAd3Jvbmc=\r\n", DONE, "NOOP\r\n"},
	 .want = G "250 mx.test\r\n502 5.5.2 Error: command not recognized\r\n"
		 "502 5.5.2 Error: command not recognized\r\n" A_BAD
		 "421 4.7.0 mx.test Error: too many errors\r\n",
	 .want_outcomes = "F", .want_delay = 700, .want_closed = true},
	{.name = "client gone while waiting", .opts = O_AUTH,
	 .in = {"HELO c\r\n", "AUTH PLAIN AHVzZXIAd3Jvbmc=\r\n", EOFMARK},
	 .want = G "250 mx.test\r\n", .want_outcomes = "", .want_closed = true, .want_freed_waiting = 1},
	{.name = "timeout while waiting", .opts = O_AUTH,
	 .in = {"HELO c\r\n", "AUTH LOGIN\r\n", TIMEOUT},
	 .want = G "250 mx.test\r\n421 4.4.2 mx.test Error: timeout exceeded\r\n", .want_outcomes = "",
	 .want_closed = true, .want_freed_waiting = 1},
};

START_TEST(test_async_auth)
{
	const struct async_row *r = &async_rows[_i];
	struct smtp_engine_cfg cfg;
	struct buf out = BUF_INIT;
	unsigned delay = 0;
	setup_cfg(&cfg, r->opts);
	buf_reset(&async.outcomes);
	async.waiting = false;
	async.freed_while_waiting = 0;
	struct smtp_engine *e = smtp_engine_new(&cfg, &async_ops, NULL, "client.test", "192.0.2.1");
	smtp_engine_start(e);
	drain(e, &out);
	for (int i = 0; i < 10 && r->in[i] != NULL; i++) {
		const char *p = r->in[i];
		if (strcmp(p, DONE) == 0 || strcmp(p, "\001TEMPFAIL") == 0) {
			ck_assert_msg(smtp_engine_flags(e) & SMTP_WAIT_AUTH, "%s: not waiting at %d", r->name, i);
			ck_assert_msg(async.waiting, "%s: no step pending at %d", r->name, i);
			async.waiting = false;
			smtp_engine_auth_done(e, strcmp(p, DONE) == 0 ? async.st : SMTP_AUTH_TEMPFAIL,
					async.ch.data, async.ch.len);
			ck_assert_msg(!(smtp_engine_flags(e) & SMTP_WAIT_AUTH), "%s: still waiting", r->name);
		} else if (strcmp(p, EOFMARK) == 0) {
			smtp_engine_eof(e);
		} else if (strcmp(p, TIMEOUT) == 0) {
			smtp_engine_timeout(e);
		} else {
			smtp_engine_input(e, p, strlen(p));
		}
		delay += smtp_engine_take_delay(e);
		drain(e, &out);
	}
	ck_assert_msg(strcmp(buf_str(&out), r->want) == 0, "%s:\n got: [%s]\nwant: [%s]", r->name,
			buf_str(&out), r->want);
	ck_assert_msg(strcmp(buf_str(&async.outcomes), r->want_outcomes) == 0, "%s: outcomes [%s] want [%s]",
			r->name, buf_str(&async.outcomes), r->want_outcomes);
	ck_assert_msg(delay == r->want_delay, "%s: delay %u want %u", r->name, delay, r->want_delay);
	ck_assert_msg(!!(smtp_engine_flags(e) & SMTP_WANT_CLOSE) == r->want_closed, "%s: closed", r->name);
	ck_assert_msg(async.freed_while_waiting == r->want_freed_waiting, "%s: freed while waiting %d",
			r->name, async.freed_while_waiting);
	smtp_engine_free(e);
	buf_free(&out);
}
END_TEST

/*
 * Policy verdicts answered later (SMTP_PENDING, as smtpd does when a
 * restriction needs DNS): names starting with "slow" are decided only
 * when the row says DONE, by the rest of the name: "slow-ok" accepts,
 * "slow-no" refuses with 450, "slow-bye" closes with 421.
 */
static struct {
	bool waiting;
	enum smtp_verdict v;
	char reply[200];
	int asked;			/* callbacks called */
	char stage[8];			/* HELO, MAIL, RCPT: what is waiting */
} later;

static enum smtp_verdict later_decide(const char *stage, const char *name, struct buf *reply)
{
	later.asked++;
	if (strncmp(name, "slow", 4) != 0)
		return SMTP_ACCEPT;
	later.waiting = true;
	strlcpy(later.stage, stage, sizeof(later.stage));
	if (strncmp(name, "slow-ok", 7) == 0) {
		later.v = SMTP_ACCEPT;
		later.reply[0] = '\0';
	} else if (strncmp(name, "slow-bye", 8) == 0) {
		later.v = SMTP_DISCONNECT;
		strlcpy(later.reply, "421 4.3.0 mx.test bye", sizeof(later.reply));
	} else {
		later.v = SMTP_REJECT;
		snprintf(later.reply, sizeof(later.reply), "450 4.1.2 <%s>: %s rejected: Domain not found",
				name, stage);
	}
	buf_adds(reply, "ignored while pending");
	return SMTP_PENDING;
}

static enum smtp_verdict later_helo(void *ctx, const struct smtp_session_info *si, struct buf *reply)
{
	(void)ctx;
	return later_decide("HELO", si->helo, reply);
}

static enum smtp_verdict later_mail(void *ctx, const struct smtp_session_info *si, const char *sender,
		struct buf *reply)
{
	(void)ctx;
	(void)si;
	return later_decide("MAIL", sender, reply);
}

static enum smtp_verdict later_rcpt(void *ctx, const struct smtp_session_info *si, const char *rcpt,
		struct buf *reply)
{
	(void)ctx;
	(void)si;
	return later_decide("RCPT", rcpt, reply);
}

static const struct smtp_engine_ops later_ops = {
	.check_helo = later_helo,
	.check_mail = later_mail,
	.check_rcpt = later_rcpt,
	.msg_open = stub_open,
	.msg_write = stub_write,
	.msg_finish = stub_finish,
	.msg_abort = stub_abort,
};

#define NOTYET	"\001NOTYET"	/* deliver PENDING again: a broken driver */
#define LATER_NO(n, what) "450 4.1.2 <" n ">: " what " rejected: Domain not found\r\n"

static const struct later_row {
	const char *name;
	int opts;
	const char *in[10];
	const char *want_waiting;	/* output when the first DONE comes */
	const char *want;
	const char *want_env;		/* substring of the envelope log */
	int want_queued;
	bool want_closed;
} later_rows[] = {
	{.name = "rcpt later, pipelined commands held and answered in order",
	 .in = {"EHLO c\r\n", "MAIL FROM:<a@b.test>\r\nRCPT TO:<slow-ok@x.test>\r\nRCPT TO:<u@mx.test>\r\nDATA\r\n",
		DONE, "x\r\n.\r\n"},
	 .want_waiting = G E MAILOK,
	 .want = G E MAILOK RCPTOK RCPTOK GO "250 2.0.0 Ok: queued as QID1\r\n",
	 .want_env = "to=<slow-ok@x.test>/0/- to=<u@mx.test>/0/-", .want_queued = 1},
	{.name = "rcpt later, refused; the next one taken",
	 .in = {"EHLO c\r\n", "MAIL FROM:<a@b.test>\r\nRCPT TO:<slow-no@x.test> NOTIFY=NEVER\r\nRCPT TO:<u@mx.test>\r\nDATA\r\n",
		DONE, "x\r\n.\r\n"},
	 .want_waiting = G E MAILOK,
	 .want = G E MAILOK LATER_NO("slow-no@x.test", "RCPT") RCPTOK GO "250 2.0.0 Ok: queued as QID1\r\n",
	 .want_env = "from=<a@b.test> ret=0 envid=- body=0 utf8=0 proto=ESMTP tls=0 user=- to=<u@mx.test>/0/-",
	 .want_queued = 1},
	{.name = "rcpt later, two in a row",
	 .in = {"EHLO c\r\n", "MAIL FROM:<a@b.test>\r\nRCPT TO:<slow-ok@x.test>\r\nRCPT TO:<slow-no@y.test>\r\nQUIT\r\n",
		DONE, DONE},
	 .want_waiting = G E MAILOK,
	 .want = G E MAILOK RCPTOK LATER_NO("slow-no@y.test", "RCPT") BYE, .want_closed = true},
	{.name = "client gone while waiting: the late verdict is dropped",
	 .in = {"EHLO c\r\n", "MAIL FROM:<a@b.test>\r\nRCPT TO:<slow-ok@x.test>\r\nDATA\r\n", EOFMARK, DONE},
	 .want_waiting = G E MAILOK, .want = G E MAILOK, .want_closed = true},
	{.name = "timeout while waiting",
	 .in = {"EHLO c\r\n", "MAIL FROM:<a@b.test>\r\nRCPT TO:<slow-ok@x.test>\r\n", TIMEOUT, DONE},
	 .want_waiting = G E MAILOK "421 4.4.2 mx.test Error: timeout exceeded\r\n",
	 .want = G E MAILOK "421 4.4.2 mx.test Error: timeout exceeded\r\n", .want_closed = true},
	{.name = "421 later: what was held is never executed",
	 .in = {"EHLO c\r\n", "MAIL FROM:<a@b.test>\r\nRCPT TO:<slow-bye@x.test>\r\nRCPT TO:<u@mx.test>\r\n", DONE},
	 .want_waiting = G E MAILOK, .want = G E MAILOK "421 4.3.0 mx.test bye\r\n", .want_closed = true},
	{.name = "no PIPELINING offered: answered, then refused",
	 .in = {"HELO c\r\n", "MAIL FROM:<a@b.test>\r\n", "RCPT TO:<slow-ok@x.test>\r\nDATA\r\n", DONE},
	 .want_waiting = G "250 mx.test\r\n" MAILOK,
	 .want = G "250 mx.test\r\n" MAILOK RCPTOK SYNC, .want_closed = true},
	{.name = "a driver that says later twice gets a temporary failure",
	 .in = {"EHLO c\r\n", "MAIL FROM:<a@b.test>\r\n", "RCPT TO:<slow-ok@x.test>\r\n", NOTYET, "RCPT TO:<u@mx.test>\r\n"},
	 .want_waiting = G E MAILOK, .want = G E MAILOK "451 4.3.0 Error: try again later\r\n" RCPTOK},
	{.name = "error limit reached meanwhile: the late answer first, then 421", .opts = O_HARD3,
	 .in = {"EHLO c\r\n", "FOO\r\n", "FOO\r\n", "MAIL FROM:<a@b.test>\r\n",
		X100 X100 X100 X100 X100 X100 "\r\nRCPT TO:<slow-ok@x.test>\r\n", DONE},
	 .want_waiting = G E "502 5.5.2 Error: command not recognized\r\n502 5.5.2 Error: command not recognized\r\n"
		 MAILOK "500 5.5.2 Error: line too long\r\n",
	 .want = G E "502 5.5.2 Error: command not recognized\r\n502 5.5.2 Error: command not recognized\r\n"
		 MAILOK "500 5.5.2 Error: line too long\r\n" RCPTOK "421 4.7.0 mx.test Error: too many errors\r\n",
	 .want_closed = true},
	{.name = "mail later, rcpt held behind it",
	 .in = {"EHLO c\r\n", "MAIL FROM:<slow-ok@b.test> RET=HDRS ENVID=e1\r\nRCPT TO:<u@mx.test>\r\nDATA\r\n", DONE,
		"x\r\n.\r\n"},
	 .want_waiting = G E, .want = G E MAILOK RCPTOK GO "250 2.0.0 Ok: queued as QID1\r\n",
	 .want_env = "from=<slow-ok@b.test> ret=2 envid=e1", .want_queued = 1},
	{.name = "mail later, refused: the transaction is gone",
	 .in = {"EHLO c\r\n", "MAIL FROM:<slow-no@b.test>\r\nRCPT TO:<u@mx.test>\r\n", DONE, "MAIL FROM:<a@b.test>\r\n"},
	 .want_waiting = G E,
	 .want = G E LATER_NO("slow-no@b.test", "MAIL") "503 5.5.1 Error: need MAIL command\r\n" MAILOK},
	{.name = "helo later, accepted",
	 .in = {"EHLO slow-ok.test\r\n", "MAIL FROM:<a@b.test>\r\n", DONE},
	 .want_waiting = G, .want = G E MAILOK},
	{.name = "helo later, refused: the old name stays", .opts = O_HELO_REQUIRED,
	 .in = {"HELO c\r\n", "HELO slow-no.test\r\n", DONE, "MAIL FROM:<a@b.test>\r\n"},
	 .want_waiting = G "250 mx.test\r\n",
	 .want = G "250 mx.test\r\n" LATER_NO("slow-no.test", "HELO") MAILOK},
	{.name = "helo later, client gone",
	 .in = {"HELO c\r\n", "EHLO slow-ok.test\r\n", EOFMARK, DONE},
	 .want_waiting = G "250 mx.test\r\n", .want = G "250 mx.test\r\n", .want_closed = true},
};

START_TEST(test_policy_later)
{
	const struct later_row *r = &later_rows[_i];
	struct smtp_engine_cfg cfg;
	struct buf out = BUF_INIT;
	bool first_done = true;
	setup_cfg(&cfg, r->opts);
	memset(&later, 0, sizeof(later));
	buf_reset(&envlog);
	queued = aborted = opened = 0;
	commit_pending = false;
	struct smtp_engine *e = smtp_engine_new(&cfg, &later_ops, NULL, "client.test", "192.0.2.1");
	smtp_engine_start(e);
	drain(e, &out);
	for (int i = 0; i < 10 && r->in[i] != NULL; i++) {
		const char *p = r->in[i];
		if (strcmp(p, DONE) == 0 || strcmp(p, NOTYET) == 0) {
			if (first_done)
				ck_assert_msg(strcmp(buf_str(&out), r->want_waiting) == 0,
						"%s: while waiting\n got: [%s]\nwant: [%s]", r->name, buf_str(&out),
						r->want_waiting);
			first_done = false;
			bool gone = smtp_engine_flags(e) & SMTP_WANT_CLOSE;
			ck_assert_msg(later.waiting, "%s: nothing pending at %d", r->name, i);
			ck_assert_msg(gone || (smtp_engine_flags(e) & SMTP_WAIT_POLICY), "%s: not waiting at %d",
					r->name, i);
			if (!gone && strcmp(later.stage, "RCPT") == 0)
				ck_assert_str_eq(smtp_engine_info(e)->sender, "a@b.test");
			if (!gone && strcmp(later.stage, "HELO") == 0)
				ck_assert_msg(strncmp(smtp_engine_info(e)->helo, "slow", 4) == 0, "%s: helo", r->name);
			later.waiting = false;
			/* Commands held meanwhile were not looked at. */
			int asked = later.asked;
			if (strcmp(p, NOTYET) == 0)
				smtp_engine_policy_done(e, SMTP_PENDING, "ignored");
			else
				smtp_engine_policy_done(e, later.v, later.reply[0] ? later.reply : NULL);
			ck_assert_msg(gone || asked <= later.asked, "%s", r->name);
		} else if (strcmp(p, EOFMARK) == 0) {
			smtp_engine_eof(e);
		} else if (strcmp(p, TIMEOUT) == 0) {
			smtp_engine_timeout(e);
		} else {
			int asked = later.asked;
			bool was_waiting = smtp_engine_flags(e) & SMTP_WAIT_POLICY;
			smtp_engine_input(e, p, strlen(p));
			if (was_waiting)
				ck_assert_msg(later.asked == asked, "%s: asked while waiting", r->name);
		}
		drain(e, &out);
	}
	ck_assert_msg(strcmp(buf_str(&out), r->want) == 0, "%s:\n got: [%s]\nwant: [%s]", r->name,
			buf_str(&out), r->want);
	check_status_codes(r->name, buf_str(&out));
	if (r->want_env != NULL)
		ck_assert_msg(strstr(buf_str(&envlog), r->want_env) != NULL, "%s: envelope [%s] lacks [%s]",
				r->name, buf_str(&envlog), r->want_env);
	ck_assert_msg(queued == r->want_queued, "%s: queued %d, want %d", r->name, queued, r->want_queued);
	ck_assert_msg(!!(smtp_engine_flags(e) & SMTP_WANT_CLOSE) == r->want_closed, "%s: closed", r->name);
	ck_assert_msg(!(smtp_engine_flags(e) & SMTP_WAIT_POLICY), "%s: still waiting", r->name);
	smtp_engine_free(e);
	ck_assert_msg(opened == queued + aborted, "%s: opened %d queued %d aborted %d", r->name,
			opened, queued, aborted);
	buf_free(&out);
}
END_TEST

/* Idle sessions keep no buffers. */
START_TEST(test_idle_buffers)
{
	struct smtp_engine_cfg cfg;
	size_t len;
	setup_cfg(&cfg, 0);
	struct smtp_engine *e = smtp_engine_new(&cfg, &stub_ops, NULL, "client.test", "192.0.2.1");
	smtp_engine_start(e);
	smtp_engine_input(e, "EHLO c\r\n", 8);
	smtp_engine_output(e, &len);
	smtp_engine_output_done(e, len);
	ck_assert_ptr_null(smtp_engine_output(e, &len));
	ck_assert_uint_eq(len, 0);
	smtp_engine_input(e, "NO", 2);	/* a partial line is kept */
	smtp_engine_input(e, "OP\r\n", 4);
	const char *p = smtp_engine_output(e, &len);
	ck_assert_uint_eq(len, 14);
	ck_assert(memcmp(p, "250 2.0.0 Ok\r\n", 14) == 0);
	smtp_engine_free(e);
}
END_TEST

/* What smtpd's deadlines rest on: a line begun, content begun, and the timeout lines. */
static struct buf logged = BUF_INIT;

static void keep_log(void *ctx, bool warning, const char *line)
{
	(void)ctx;
	(void)warning;
	buf_adds(&logged, line);
	buf_addc(&logged, '\n');
}

/*
 * se_line_text, the DATA line scan: the first CR or LF at every offset
 * and every length around its 32-byte steps, among bytes that differ from
 * CR and LF only in their high bit or by one (0x8d, 0x8a, 0x0c, 0x0e),
 * NULs and 0xff, against a byte-by-byte count.
 */
START_TEST(test_line_text)
{
	static const char fill[] = {'a', '\0', (char)0xff, (char)0x8d, (char)0x8a, 0x0c, 0x0e, 0x0b, 0x09};
	char space[100 + 16];

	/* Every start offset in 16 bytes: the loads are unaligned ones. */
	for (size_t off = 0; off < 16; off++) {
		char *buf = space + off;
		for (size_t n = 0; n <= 100; n++)
			for (size_t at = 0; at <= n; at++)
				for (int what = 0; what < 3; what++) {
					for (size_t k = 0; k < n; k++)
						buf[k] = fill[(k * 7 + n) % sizeof(fill)];
					if (at < n)
						buf[at] = what == 0 ? '\r' : '\n';
					if (what == 2 && at + 1 < n)
						buf[at + 1] = '\r';	/* a CR after the LF: the LF is first */
					size_t want = 0;
					while (want < n && buf[want] != '\r' && buf[want] != '\n')
						want++;
					ck_assert_msg(se_line_text(buf, n) == want,
						      "off %zu n %zu at %zu what %d: %zu, want %zu", off, n, at, what,
						      se_line_text(buf, n), want);
				}
	}
}
END_TEST

/*
 * DATA with bare CR and bare LF allowed (smtpd_forbid_bare_newline = no),
 * against a model: the sender's text stuffed (a dot after CRLF doubled),
 * and what must arrive is that text with each CRLF made an LF and nothing
 * else changed: bare CRs and LFs kept, a dot after a bare LF not a line
 * start, "\r\r\n" a CR and a line end. Built from pieces that put CR, LF
 * and dots next to each other and at line starts, long lines among them;
 * fed whole and in pieces of 1 to 65,536 bytes, so every line end and line
 * start also falls across a read.
 */
static void bare_body(struct buf *wire, struct buf *want, bool clean)
{
	static const char *const piece[] = {
		"\r\n", "\r\n", "\r\n", ".", "..", "\r", "\n", "\r\r\n", "\n.", "\n.\r\n", "\r.", ".\r",
		"x", "text of a line", " ", "\t", "\xe9", "\r\n\r\n", "\n\n", "\r\r",
	};
	/* No bare CR or LF: what smtpd_forbid_bare_newline = yes takes. */
	static const char *const clean_piece[] = {
		"\r\n", "\r\n", "\r\n", ".", "..", ".\r\n", "x", "text of a line", " ", "\t", "\xe9",
		"\r\n\r\n", "\r\n.\r\n", "\r\n..",
	};
	const char *const *pieces = clean ? clean_piece : piece;
	const size_t npieces = clean ? sizeof(clean_piece) / sizeof(clean_piece[0])
				     : sizeof(piece) / sizeof(piece[0]);
	struct buf text = BUF_INIT;
	unsigned x = 7;

	while (text.len < 150 * 1024) {
		unsigned v = (x = x * 1103515245u + 12345u) >> 16;
		if (v % 97 == 0) {
			for (int k = 0; k < 3000 + (int)(v % 20000); k++)
				buf_addc(&text, (char)('A' + k % 26));
		} else {
			buf_adds(&text, pieces[v % npieces]);
		}
	}
	buf_adds(&text, "\r\n");
	/* The wire: a dot at the start or after CRLF doubled; then the end. */
	for (size_t k = 0; k < text.len; k++) {
		if (text.data[k] == '.' && (k == 0 || (k >= 2 && text.data[k - 2] == '\r' && text.data[k - 1] == '\n')))
			buf_addc(wire, '.');
		buf_addc(wire, text.data[k]);
	}
	buf_adds(wire, ".\r\n");
	for (size_t k = 0; k < text.len; k++) {
		if (text.data[k] == '\r' && k + 1 < text.len && text.data[k + 1] == '\n')
			continue;	/* the CR of a CRLF */
		buf_addc(want, text.data[k]);
	}
	buf_free(&text);
}

START_TEST(test_bare_body)
{
	static const size_t sizes[] = {1, 2, 3, 31, 32, 33, 5, 4099, 65536};

	/* mode & 1: in pieces; mode & 2: bare newlines refused, a body without them. */
	for (int mode = 0; mode < 4; mode++) {
		struct smtp_engine_cfg cfg;
		struct buf wire = BUF_INIT, want = BUF_INIT;

		setup_cfg(&cfg, mode & 2 ? 0 : O_ALLOW_BARE);
		cfg.message_size_limit = 0;
		bare_body(&wire, &want, mode & 2);
		deliver_wire(&cfg, &wire, &want, mode & 1 ? sizes : NULL, sizeof(sizes) / sizeof(sizes[0]), mode);
		buf_free(&wire);
		buf_free(&want);
	}
}
END_TEST

START_TEST(test_deadline_state)
{
	struct smtp_engine_cfg cfg;
	struct smtp_engine_ops ops = stub_ops;
	struct buf out = BUF_INIT;
	ops.log = keep_log;
	setup_cfg(&cfg, O_ALLOW_PIPE);
	queued = aborted = opened = 0;
	commit_pending = false;
	buf_reset(&logged);
	struct smtp_engine *e = smtp_engine_new(&cfg, &ops, NULL, "client.test", "192.0.2.1");
	smtp_engine_start(e);
	ck_assert(!smtp_engine_partial_line(e));
	smtp_engine_input(e, "EH", 2);
	ck_assert(smtp_engine_partial_line(e));
	{
		const char *t = "LO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<u@mx.test>\r\n";
		smtp_engine_input(e, t, strlen(t));
	}
	ck_assert(!smtp_engine_partial_line(e));
	ck_assert(!(smtp_engine_flags(e) & SMTP_IN_CONTENT));
	/* Between two BDAT chunks the engine reads commands, but content has begun. */
	smtp_engine_input(e, "BDAT 3\r\nabc", 11);
	ck_assert_msg(smtp_engine_flags(e) & SMTP_IN_CONTENT, "flags %x: %s", (unsigned)smtp_engine_flags(e), smtp_engine_output(e, &(size_t){0}));
	ck_assert(!smtp_engine_partial_line(e));
	smtp_engine_timeout(e);
	drain(e, &out);
	ck_assert_msg(strstr(buf_str(&out), "421 4.4.2 mx.test Error: timeout exceeded\r\n") != NULL,
			"%s", buf_str(&out));
	ck_assert_msg(strstr(buf_str(&logged), "timeout after BDAT (3 bytes) from client.test[192.0.2.1]")
			!= NULL, "%s", buf_str(&logged));
	smtp_engine_free(e);

	buf_reset(&out);
	e = smtp_engine_new(&cfg, &ops, NULL, "client.test", "192.0.2.1");
	smtp_engine_start(e);
	smtp_engine_input(e, "EHLO c\r\nNOOP\r\n", 14);
	smtp_engine_session_limit(e);
	drain(e, &out);
	ck_assert(smtp_engine_flags(e) & SMTP_WANT_CLOSE);
	ck_assert_msg(strstr(buf_str(&out), "421 4.4.2 mx.test Error: session time limit exceeded\r\n")
			!= NULL, "%s", buf_str(&out));
	ck_assert_msg(strstr(buf_str(&logged), "session time limit exceeded after NOOP from client.test")
			!= NULL, "%s", buf_str(&logged));
	smtp_engine_free(e);
	buf_free(&out);
	buf_free(&logged);
}
END_TEST

/* The blocking driver of sendmail -bs: a whole session through pipes. */
static int run_fd_session(const char *input, struct buf *out)
{
	struct smtp_engine_cfg cfg;
	int in[2], outp[2];
	setup_cfg(&cfg, O_LF_ENDS | O_ALLOW_PIPE);
	ck_assert_int_eq(pipe(in), 0);
	ck_assert_int_eq(pipe(outp), 0);
	ck_assert_int_eq(write(in[1], input, strlen(input)), (ssize_t)strlen(input));
	close(in[1]);
	queued = aborted = opened = 0;
	commit_pending = false;
	struct smtp_engine *e = smtp_engine_new(&cfg, &stub_ops, NULL, "localhost", "");
	int rc = smtp_engine_run_fd(e, in[0], outp[1], 5);
	smtp_engine_free(e);
	close(in[0]);
	close(outp[1]);
	char tmp[4096];
	ssize_t n;
	while ((n = read(outp[0], tmp, sizeof(tmp))) > 0)
		buf_add(out, tmp, (size_t)n);
	close(outp[0]);
	return rc;
}

START_TEST(test_run_fd)
{
	struct buf out = BUF_INIT;
	/* A script piped in whole, with LF line ends, as a local program may send it. */
	int rc = run_fd_session("HELO local\nMAIL FROM:<a@b.test>\nRCPT TO:<u@mx.test>\nDATA\nhi\n.\nQUIT\n", &out);
	ck_assert_int_eq(rc, 0);
	ck_assert_str_eq(buf_str(&out), G "250 mx.test\r\n" TRANSOK "250 2.0.0 Ok: queued as QID1\r\n" BYE);
	ck_assert_int_eq(queued, 1);
	ck_assert_str_eq(buf_str(&content), "hi\n");
	buf_reset(&out);
	/* End of input without QUIT: the transaction is dropped and the result says so. */
	rc = run_fd_session("HELO local\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<u@mx.test>\r\nDATA\r\npartial\r\n", &out);
	ck_assert_int_eq(rc, 1);
	ck_assert_int_eq(queued, 0);
	ck_assert_int_eq(aborted, 1);
	buf_free(&out);
}
END_TEST

/*
 * Every published SMTP smuggling end-of-data variant (SEC Consult 2023,
 * the smtpsmug and smtp_smuggling_checker tools, Postfix's notes), sent
 * after "x" in a message and followed by a whole second transaction.
 * Whatever the settings and packet boundaries, at most one message is
 * opened, the smuggled envelope never is, and the smuggled text is
 * either refused with the session or kept inside the one message.
 * Each variant runs in DATA and in BDAT: in one chunk, and in chunks of
 * one byte each (so a CR ends one chunk and its LF starts the next), as
 * BDAT content gets the same bare CR/LF policy as DATA.
 */
static const struct smuggle {
	const char *seq;
	size_t len;
	bool bare;		/* holds a bare CR or LF: refused by default */
} smuggles[] = {
	{"\n.\n", 3, true},
	{"\r.\r", 3, true},
	{"\r.\n", 3, true},
	{"\n.\r", 3, true},
	{"\n.\r\n", 4, true},
	{"\r\n.\n", 4, true},
	{"\r.\r\n", 4, true},
	{"\r\n.\r", 4, true},
	{"\n\n.\r\n", 5, true},
	{"\r\n\r.\r\n", 6, true},
	{"\r\n.\r\r\n", 6, true},
	{"\r\n\0.\r\n", 6, false},
	{"\r\n.\0\r\n", 6, false},
	{"\r\n\0.\r", 5, true},
	{"\r\n\0.\n", 5, true},
	{"\r\n \r\n.\r\n", 0, false},	/* a real end: the control case */
};

#define SMUGGLE_MODES	8	/* DATA or BDAT x forbid or tolerate x whole or split */

START_TEST(test_smuggling)
{
	const struct smuggle *sm = &smuggles[_i / SMUGGLE_MODES];
	bool bdat = (_i / 4) % 2, tolerate = (_i / 2) % 2, split = _i % 2;
	size_t len = sm->len ? sm->len : strlen(sm->seq);
	bool real_end = sm->len == 0;
	struct smtp_engine_cfg cfg;
	struct buf in = BUF_INIT, body = BUF_INIT;

	setup_cfg(&cfg, tolerate ? O_ALLOW_BARE | O_ALLOW_PIPE : 0);
	cfg.message_size_limit = 0;
	buf_reset(&content);
	buf_reset(&envlog);
	queued = aborted = opened = 0;
	commit_pending = false;
	struct smtp_engine *e = smtp_engine_new(&cfg, &stub_ops, NULL, "client.test", "192.0.2.1");
	smtp_engine_start(e);
	smtp_engine_input(e, "EHLO c\r\n", 8);
	buf_adds(&body, "Subject: s\r\n\r\nx");
	buf_add(&body, sm->seq, len);
	buf_adds(&body, EVIL);
	if (!bdat) {
		/* A well-behaved client waits after EHLO and DATA; the content comes in one packet. */
		smtp_engine_input(e, TRANS, strlen(TRANS));
		buf_add(&in, body.data, body.len);
	} else {
		static const char env[] = "MAIL FROM:<a@b.test>\r\nRCPT TO:<u@mx.test>\r\n";
		smtp_engine_input(e, env, strlen(env));
		if (!split) {
			buf_printf(&in, "BDAT %zu LAST\r\n", body.len);
			buf_add(&in, body.data, body.len);
		}
		for (size_t j = 0; split && j < body.len; j++) {
			buf_printf(&in, "BDAT 1%s\r\n", j + 1 == body.len ? " LAST" : "");
			buf_add(&in, body.data + j, 1);
		}
	}
	if (split)
		for (size_t j = 0; j < in.len; j++)
			smtp_engine_input(e, in.data + j, 1);
	else
		smtp_engine_input(e, in.data, in.len);
	bool closed = smtp_engine_flags(e) & SMTP_WANT_CLOSE;
	smtp_engine_eof(e);
	smtp_engine_free(e);
	buf_free(&body);

	if (real_end && !bdat) {
		/*
		 * The control: a real end, then a second transaction, taken
		 * unless the content behind its DATA came in the same packet
		 * (smtpd_forbid_unauth_pipelining).
		 */
		ck_assert_int_eq(queued, tolerate || split ? 2 : 1);
		buf_free(&in);
		return;
	}
	ck_assert_msg(opened <= 1 && queued <= 1, "variant %d: opened %d queued %d", _i / SMUGGLE_MODES, opened, queued);
	ck_assert_msg(strstr(buf_str(&envlog), "evil@") == NULL, "smuggled envelope: %s", buf_str(&envlog));
	static const char smuggled[] = "MAIL FROM:<evil@x.test>";
	if (queued == 1)
		ck_assert_msg(memmem(content.data, content.len, smuggled, strlen(smuggled)) != NULL,
				"variant %d: the smuggled text left the message", _i / SMUGGLE_MODES);
	if (sm->bare && !tolerate)
		ck_assert_msg(closed && queued == 0, "variant %d mode %d: bare newline not refused: closed %d queued %d",
				_i / SMUGGLE_MODES, _i % SMUGGLE_MODES, closed, queued);
	else
		ck_assert_msg(queued == 1, "variant %d mode %d: one message expected, queued %d",
				_i / SMUGGLE_MODES, _i % SMUGGLE_MODES, queued);
	buf_free(&in);
}
END_TEST

/*
 * Milters answer later at every stage: check_connect, check_data (DATA,
 * first BDAT, end of data) and check_unknown may return SMTP_PENDING;
 * whole replies (one line or several) from the driver everywhere; the
 * commit's own reply; txn_end; MAIL and RCPT as the client wrote them.
 * Steps starting with \002 are the driver's answers: "\002OK",
 * "\002NO reply", "\002BYE reply" (smtp_engine_policy_done) and
 * "\002QOK id", "\002QREJ reason", "\002QTMP reason" (commit_done).
 */
#define P_CONNECT	0x01
#define P_DATA		0x02	/* check_data, end false */
#define P_EOD		0x04	/* check_data, end true */
#define P_UNKNOWN	0x08
#define P_MAIL		0x10
#define P_COMMIT	0x20	/* msg_finish answers later */

static struct {
	int pend;		/* the row's P_* */
	int txn_ends;
	struct buf log;		/* what the callbacks saw */
} mil;

static void mil_log_cmd(const char *what, const struct smtp_session_info *si)
{
	buf_printf(&mil.log, "%s %s", what, si->cmd_addr ? si->cmd_addr : "(null)");
	for (size_t i = 0; i < si->ncmd_args; i++)
		buf_printf(&mil.log, " %s", si->cmd_args[i]);
	ck_assert_ptr_null(si->cmd_args == NULL ? NULL : si->cmd_args[si->ncmd_args]);
	buf_adds(&mil.log, "|");
}

static enum smtp_verdict mil_connect(void *ctx, const struct smtp_session_info *si, struct buf *reply)
{
	(void)ctx;
	(void)si;
	(void)reply;
	return (mil.pend & P_CONNECT) ? SMTP_PENDING : SMTP_ACCEPT;
}

static enum smtp_verdict mil_mail(void *ctx, const struct smtp_session_info *si, const char *sender,
		struct buf *reply)
{
	(void)ctx;
	mil_log_cmd("MAIL", si);
	if (strncmp(sender, "reject", 6) == 0) {
		buf_adds(reply, "550 5.7.1 sender refused");
		return SMTP_REJECT;
	}
	if (strncmp(sender, "multi", 5) == 0) {
		buf_adds(reply, "550-5.7.1 first line\r\n550-5.7.1 second line\r\n550 5.7.1 last line");
		return SMTP_REJECT;
	}
	if (strncmp(sender, "badmulti", 8) == 0) {	/* codes differ: the engine's own reply */
		buf_adds(reply, "550-5.7.1 first line\r\n551 5.7.1 last line");
		return SMTP_REJECT;
	}
	if (strncmp(sender, "badcont", 7) == 0) {	/* no "-" on the first line */
		buf_adds(reply, "550 5.7.1 first line\r\n550 5.7.1 last line");
		return SMTP_REJECT;
	}
	return (mil.pend & P_MAIL) ? SMTP_PENDING : SMTP_ACCEPT;
}

static enum smtp_verdict mil_rcpt(void *ctx, const struct smtp_session_info *si, const char *rcpt,
		struct buf *reply)
{
	(void)ctx;
	(void)rcpt;
	(void)reply;
	mil_log_cmd("RCPT", si);
	return SMTP_ACCEPT;
}

static enum smtp_verdict mil_data(void *ctx, const struct smtp_session_info *si, size_t nrcpt, bool end,
		struct buf *reply)
{
	(void)ctx;
	(void)nrcpt;
	if (!end && strncmp(si->sender, "nodata", 6) == 0) {
		buf_adds(reply, "554 5.7.1 no data");
		return SMTP_REJECT;
	}
	if (end && strncmp(si->sender, "noeod", 5) == 0) {
		buf_adds(reply, "550-5.7.1 not this\r\n550 5.7.1 message");
		return SMTP_REJECT;
	}
	return (mil.pend & (end ? P_EOD : P_DATA)) ? SMTP_PENDING : SMTP_ACCEPT;
}

static enum smtp_verdict mil_unknown(void *ctx, const struct smtp_session_info *si, const char *line,
		struct buf *reply)
{
	(void)ctx;
	(void)si;
	buf_printf(&mil.log, "UNKNOWN %s|", line);
	if (strncmp(line, "XREJ", 4) == 0) {
		buf_adds(reply, "550-5.7.1 not\r\n550 5.7.1 here");
		return SMTP_REJECT;
	}
	if (strncmp(line, "XBAD", 4) == 0) {
		buf_adds(reply, "250 2.0.0 a refusal must be 4xx or 5xx");
		return SMTP_REJECT;
	}
	if (strncmp(line, "XBYE", 4) == 0) {
		buf_adds(reply, "421 4.7.0 bye");
		return SMTP_DISCONNECT;
	}
	return (mil.pend & P_UNKNOWN) ? SMTP_PENDING : SMTP_ACCEPT;
}

static void mil_txn_end(void *ctx)
{
	(void)ctx;
	mil.txn_ends++;
}

static const struct smtp_engine_ops mil_ops = {
	.check_connect = mil_connect,
	.check_mail = mil_mail,
	.check_rcpt = mil_rcpt,
	.check_data = mil_data,
	.check_unknown = mil_unknown,
	.txn_end = mil_txn_end,
	.msg_open = stub_open,
	.msg_write = stub_write,
	.msg_finish = stub_finish,
	.msg_abort = stub_abort,
};

#define M_QUEUED "250 2.0.0 Ok: queued as QID1\r\n"
#define M_CHUNK	"MAIL FROM:<a@b.test>\r\nRCPT TO:<u@mx.test>\r\n"

static const struct mil_row {
	const char *name;
	int opts, pend;
	const char *in[12];
	const char *want_waiting;	/* output at the first answer (\002 step) */
	const char *want;
	const char *want_content;
	const char *want_log;		/* substring of mil.log */
	int want_queued, want_txn_ends;
	bool want_closed;
} mil_rows[] = {
	/* 1. Connect. */
	{.name = "connect later, accepted", .pend = P_CONNECT, .in = {"\002OK", "EHLO c\r\n"},
	 .want_waiting = "", .want = G E},
	{.name = "connect later: an early talker is answered after the greeting", .pend = P_CONNECT,
	 .in = {"EHLO c\r\n", "\002OK", "QUIT\r\n"}, .want_waiting = "", .want = G E BYE, .want_closed = true},
	{.name = "connect later: early pipelining is refused after the greeting", .pend = P_CONNECT,
	 .in = {"EHLO c\r\nMAIL FROM:<a@b.test>\r\n", "\002OK"}, .want_waiting = "", .want = G E SYNC,
	 .want_closed = true},
	{.name = "connect later, refused: 503 to all but QUIT", .pend = P_CONNECT,
	 .in = {"EHLO c\r\n", "\002NO 554 5.7.1 milter says no", "QUIT\r\n"}, .want_waiting = "",
	 .want = "554 5.7.1 milter says no\r\n503 5.7.0 Error: access denied for client.test[192.0.2.1]\r\n" BYE,
	 .want_closed = true},
	{.name = "connect later, multi-line refusal", .pend = P_CONNECT,
	 .in = {"\002NO 554-5.7.1 one\r\n554 5.7.1 two"}, .want = "554-5.7.1 one\r\n554 5.7.1 two\r\n"},
	{.name = "connect later, malformed refusal: the default", .pend = P_CONNECT,
	 .in = {"\002NO 554-5.7.1 one\r\n554-5.7.1 two"}, .want = "554 5.7.1 Access denied\r\n"},
	{.name = "connect later, 421", .pend = P_CONNECT, .in = {"EHLO c\r\n", "\002BYE 421 4.7.0 later"},
	 .want = "421 4.7.0 later\r\n", .want_closed = true},
	{.name = "connect later, client gone", .pend = P_CONNECT, .in = {EOFMARK, "\002OK"},
	 .want = "", .want_closed = true},
	{.name = "connect later, timeout", .pend = P_CONNECT, .in = {TIMEOUT, "\002OK"},
	 .want = "421 4.4.2 mx.test Error: timeout exceeded\r\n", .want_closed = true},
	/* 2. DATA and the first BDAT. */
	{.name = "DATA later, content pipelined behind it", .opts = O_ALLOW_PIPE, .pend = P_DATA,
	 .in = {"EHLO c\r\n", TRANS "x\r\n.\r\nQUIT\r\n", "\002OK"}, .want_waiting = G E MAILOK RCPTOK,
	 .want = G E TRANSOK M_QUEUED BYE, .want_content = "x\n", .want_queued = 1, .want_closed = true},
	{.name = "DATA later, content arrives while waiting", .pend = P_DATA,
	 .in = {"EHLO c\r\n", TRANS, "x\r\n.\r\n", "\002OK"}, .want_waiting = G E MAILOK RCPTOK,
	 .want = G E TRANSOK M_QUEUED, .want_content = "x\n", .want_queued = 1},
	{.name = "DATA later, pipelining forbidden: 354, then refused", .pend = P_DATA,
	 .in = {"EHLO c\r\n", TRANS "x\r\n.\r\n", "\002OK"}, .want = G E TRANSOK SYNC, .want_closed = true,
	 .want_txn_ends = 1},
	{.name = "DATA later, refused: the transaction ends", .pend = P_DATA,
	 .in = {"EHLO c\r\n", TRANS, "\002NO 550 5.7.1 no data", "RCPT TO:<u@mx.test>\r\n"},
	 .want = G E MAILOK RCPTOK "550 5.7.1 no data\r\n503 5.5.1 Error: need MAIL command\r\n", .want_txn_ends = 1},
	{.name = "DATA later, 421", .pend = P_DATA, .in = {"EHLO c\r\n", TRANS, "\002BYE 421 4.7.0 bye", "NOOP\r\n"},
	 .want = G E MAILOK RCPTOK "421 4.7.0 bye\r\n", .want_closed = true, .want_txn_ends = 1},
	{.name = "DATA later, client gone", .pend = P_DATA, .in = {"EHLO c\r\n", TRANS, EOFMARK, "\002OK"},
	 .want = G E MAILOK RCPTOK, .want_closed = true, .want_txn_ends = 1},
	{.name = "BDAT later, chunks behind it kept", .pend = P_DATA,
	 .in = {"EHLO c\r\n", M_CHUNK "BDAT 5\r\nab\r\ncBDAT 3 LAST\r\nd\r\n", "\002OK"},
	 .want_waiting = G E MAILOK RCPTOK,
	 .want = G E MAILOK RCPTOK "250 2.0.0 Ok: 5 bytes\r\n" M_QUEUED, .want_content = "ab\ncd\n", .want_queued = 1},
	{.name = "BDAT later, chunk arrives in pieces", .pend = P_DATA,
	 .in = {"EHLO c\r\n", M_CHUNK "BDAT 4 LAST\r\nab", "\002OK", "cd"},
	 .want = G E MAILOK RCPTOK M_QUEUED, .want_content = "abcd", .want_queued = 1},
	{.name = "BDAT later, HELO client: the chunk is no pipelining", .pend = P_DATA,
	 .in = {"HELO c\r\n", "MAIL FROM:<a@b.test>\r\n", "RCPT TO:<u@mx.test>\r\n", "BDAT 2 LAST\r\nab", "\002OK"},
	 .want = G "250 mx.test\r\n" MAILOK RCPTOK M_QUEUED, .want_content = "ab", .want_queued = 1},
	{.name = "BDAT later, refused: chunks discarded and answered", .pend = P_DATA,
	 .in = {"EHLO c\r\n", M_CHUNK "BDAT 5\r\nab\r\ncBDAT 3 LAST\r\nd\r\n", "\002NO 554 5.7.1 no chunks",
		"NOOP\r\n"},
	 .want = G E MAILOK RCPTOK "554 5.7.1 no chunks\r\n554 5.7.1 no chunks\r\n250 2.0.0 Ok\r\n",
	 .want_txn_ends = 1},
	{.name = "BDAT later, 421: the chunk is never read", .pend = P_DATA,
	 .in = {"EHLO c\r\n", M_CHUNK "BDAT 5\r\nab\r\nc", "\002BYE 421 4.7.0 bye"},
	 .want = G E MAILOK RCPTOK "421 4.7.0 bye\r\n", .want_closed = true, .want_txn_ends = 1},
	/* 3. End of data. */
	{.name = "end of data later, accepted; QUIT held", .pend = P_EOD,
	 .in = {"EHLO c\r\n", TRANS, "x\r\n.\r\nQUIT\r\n", "\002OK"}, .want_waiting = G E TRANSOK,
	 .want = G E TRANSOK M_QUEUED BYE, .want_content = "x\n", .want_queued = 1, .want_closed = true},
	{.name = "end of data later, refused with two lines", .pend = P_EOD,
	 .in = {"EHLO c\r\n", TRANS, "x\r\n.\r\n", "\002NO 550-5.7.1 spam\r\n550 5.7.1 go away", "MAIL FROM:<a@b.test>\r\n"},
	 .want = G E TRANSOK "550-5.7.1 spam\r\n550 5.7.1 go away\r\n" MAILOK, .want_txn_ends = 1},
	{.name = "end of data later, BDAT LAST refused", .pend = P_EOD,
	 .in = {"EHLO c\r\n", M_CHUNK "BDAT 2 LAST\r\nab", "\002NO 451 4.7.1 later"},
	 .want = G E MAILOK RCPTOK "451 4.7.1 later\r\n", .want_txn_ends = 1},
	{.name = "end of data later, then a commit later", .pend = P_EOD | P_COMMIT,
	 .in = {"EHLO c\r\n", TRANS, "x\r\n.\r\nNOOP\r\n", "\002OK", "\002QOK Q9"},
	 .want = G E TRANSOK "250 2.0.0 Ok: queued as Q9\r\n250 2.0.0 Ok\r\n", .want_content = "x\n"},
	{.name = "end of data later, client gone", .pend = P_EOD,
	 .in = {"EHLO c\r\n", TRANS, "x\r\n.\r\n", EOFMARK, "\002OK"},
	 .want = G E TRANSOK, .want_closed = true, .want_txn_ends = 1},
	{.name = "end of data refused at once, two lines",
	 .in = {"EHLO c\r\n", "MAIL FROM:<noeod@b.test>\r\nRCPT TO:<u@mx.test>\r\nDATA\r\n", ".\r\n"},
	 .want = G E TRANSOK "550-5.7.1 not this\r\n550 5.7.1 message\r\n", .want_txn_ends = 1},
	/* 4. The commit's reply. */
	{.name = "commit refused with the driver's reply", .pend = P_COMMIT,
	 .in = {"EHLO c\r\n", TRANS, ".\r\n", "\002QREJ 550 5.7.1 Spam detected"},
	 .want = G E TRANSOK "550 5.7.1 Spam detected\r\n"},
	{.name = "commit tempfail with a multi-line reply", .pend = P_COMMIT,
	 .in = {"EHLO c\r\n", TRANS, ".\r\n", "\002QTMP 451-4.7.1 first\r\n451 4.7.1 second", "NOOP\r\n"},
	 .want = G E TRANSOK "451-4.7.1 first\r\n451 4.7.1 second\r\n250 2.0.0 Ok\r\n"},
	{.name = "commit refused, malformed reply: the default", .pend = P_COMMIT,
	 .in = {"EHLO c\r\n", TRANS, ".\r\n", "\002QREJ 550-5.7.1 a\r\n550-5.7.1 b"},
	 .want = G E TRANSOK "554 5.7.1 Error: message rejected: 550-5.7.1 a??550-5.7.1 b\r\n"},
	{.name = "commit refused, reply of the wrong class: the default", .pend = P_COMMIT,
	 .in = {"EHLO c\r\n", TRANS, ".\r\n", "\002QREJ 451 4.3.0 x"},
	 .want = G E TRANSOK "554 5.7.1 Error: message rejected: 451 4.3.0 x\r\n"},
	{.name = "commit tempfail, 5xx reason: the default", .pend = P_COMMIT,
	 .in = {"EHLO c\r\n", TRANS, ".\r\n", "\002QTMP 550 5.7.1 x"},
	 .want = G E TRANSOK "451 4.3.0 Error: queue file write error\r\n"},
	{.name = "commit of a discarded message: no queue id", .pend = P_COMMIT,
	 .in = {"EHLO c\r\n", TRANS, ".\r\n", "\002QOK "}, .want = G E TRANSOK "250 2.0.0 Ok\r\n"},
	/* 5. Multi-line replies from the callbacks; one error per reply. */
	{.name = "multi-line refusal of MAIL", .in = {"EHLO c\r\n", "MAIL FROM:<multi@b.test>\r\n"},
	 .want = G E "550-5.7.1 first line\r\n550-5.7.1 second line\r\n550 5.7.1 last line\r\n"},
	{.name = "multi-line refusal with differing codes: the default",
	 .in = {"EHLO c\r\n", "MAIL FROM:<badmulti@b.test>\r\n"}, .want = G E "554 5.7.1 Access denied\r\n"},
	{.name = "multi-line refusal without continuation marks: the default",
	 .in = {"EHLO c\r\n", "MAIL FROM:<badcont@b.test>\r\n"}, .want = G E "554 5.7.1 Access denied\r\n"},
	{.name = "multi-line refusals count one error each", .opts = O_HARD3,
	 .in = {"EHLO c\r\n", "MAIL FROM:<multi@b.test>\r\n", "MAIL FROM:<multi@b.test>\r\n", "MAIL FROM:<multi@b.test>\r\n"},
	 .want = G E "550-5.7.1 first line\r\n550-5.7.1 second line\r\n550 5.7.1 last line\r\n"
		 "550-5.7.1 first line\r\n550-5.7.1 second line\r\n550 5.7.1 last line\r\n"
		 "550-5.7.1 first line\r\n550-5.7.1 second line\r\n550 5.7.1 last line\r\n"
		 "421 4.7.0 mx.test Error: too many errors\r\n", .want_closed = true},
	/* 6. Unknown commands. */
	{.name = "unknown command later, refused; the next command held", .pend = P_UNKNOWN,
	 .in = {"EHLO c\r\n", "FOO bar\r\nNOOP\r\n", "\002NO 550 5.5.1 milter says no"},
	 .want_waiting = G E, .want = G E "550 5.5.1 milter says no\r\n250 2.0.0 Ok\r\n", .want_log = "UNKNOWN FOO bar|"},
	{.name = "unknown command later, accepted: 502", .pend = P_UNKNOWN,
	 .in = {"EHLO c\r\n", "FOO\r\n", "\002OK"}, .want = G E "502 5.5.2 Error: command not recognized\r\n"},
	{.name = "unknown command later, 421", .pend = P_UNKNOWN,
	 .in = {"EHLO c\r\n", "FOO\r\n", "\002BYE 421 4.7.0 bye"}, .want = G E "421 4.7.0 bye\r\n", .want_closed = true},
	{.name = "unknown command refused at once", .in = {"XREJ 1\r\n", "XBAD\r\n", "XOK\r\n"},
	 .want = G "550-5.7.1 not\r\n550 5.7.1 here\r\n502 5.5.2 Error: command not recognized\r\n"
		 "502 5.5.2 Error: command not recognized\r\n", .want_log = "UNKNOWN XREJ 1|UNKNOWN XBAD|UNKNOWN XOK|"},
	{.name = "unknown command, 421 at once", .in = {"XBYE\r\n"}, .want = G "421 4.7.0 bye\r\n", .want_closed = true},
	/* 7. txn_end: once for each transaction that does not reach msg_finish. */
	{.name = "txn_end: RSET", .in = {"EHLO c\r\n", M_CHUNK "RSET\r\n"}, .want = G E MAILOK RCPTOK "250 2.0.0 Ok\r\n",
	 .want_txn_ends = 1},
	{.name = "txn_end: EHLO again", .in = {"EHLO c\r\n", M_CHUNK "EHLO c\r\n"}, .want = G E MAILOK RCPTOK E,
	 .want_txn_ends = 1},
	{.name = "txn_end: QUIT", .in = {"EHLO c\r\n", "MAIL FROM:<a@b.test>\r\nQUIT\r\n"}, .want = G E MAILOK BYE,
	 .want_closed = true, .want_txn_ends = 1},
	{.name = "txn_end: EOF in the content", .in = {"EHLO c\r\n", TRANS, "x\r\n", EOFMARK},
	 .want = G E TRANSOK, .want_closed = true, .want_txn_ends = 1},
	{.name = "txn_end: timeout", .in = {"EHLO c\r\n", M_CHUNK, TIMEOUT},
	 .want = G E MAILOK RCPTOK "421 4.4.2 mx.test Error: timeout exceeded\r\n", .want_closed = true,
	 .want_txn_ends = 1},
	{.name = "txn_end: refused DATA", .in = {"EHLO c\r\n", "MAIL FROM:<nodata@b.test>\r\nRCPT TO:<u@mx.test>\r\n",
		"DATA\r\n", "RSET\r\n"},
	 .want = G E MAILOK RCPTOK "554 5.7.1 no data\r\n250 2.0.0 Ok\r\n", .want_txn_ends = 1},
	{.name = "txn_end: refused BDAT, once up to LAST",
	 .in = {"EHLO c\r\n", "MAIL FROM:<nodata@b.test>\r\nRCPT TO:<u@mx.test>\r\n", "BDAT 1\r\na", "BDAT 1 LAST\r\nb"},
	 .want = G E MAILOK RCPTOK "554 5.7.1 no data\r\n554 5.7.1 no data\r\n", .want_txn_ends = 1},
	{.name = "txn_end: STARTTLS", .opts = O_STARTTLS, .in = {"EHLO c\r\n", "MAIL FROM:<a@b.test>\r\n", "STARTTLS\r\n"},
	 .want = G "250-mx.test\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250-STARTTLS\r\n250-ENHANCEDSTATUSCODES\r\n"
		 "250-8BITMIME\r\n250-DSN\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n" MAILOK "220 2.0.0 Ready to start TLS\r\n",
	 .want_txn_ends = 1},
	{.name = "txn_end: not for a delivered message", .in = {"EHLO c\r\n", TRANS, ".\r\n", "RSET\r\n"},
	 .want = G E TRANSOK M_QUEUED "250 2.0.0 Ok\r\n", .want_queued = 1, .want_content = ""},
	{.name = "txn_end: not for a refused commit", .pend = P_COMMIT,
	 .in = {"EHLO c\r\n", TRANS, ".\r\n", "\002QREJ 550 5.7.1 no", "RSET\r\n"},
	 .want = G E TRANSOK "550 5.7.1 no\r\n250 2.0.0 Ok\r\n"},
	{.name = "txn_end: not for a refused MAIL", .in = {"EHLO c\r\n", "MAIL FROM:<reject@b.test>\r\n", "RSET\r\n"},
	 .want = G E "550 5.7.1 sender refused\r\n250 2.0.0 Ok\r\n"},
	{.name = "txn_end: not while MAIL is pending", .pend = P_MAIL,
	 .in = {"EHLO c\r\n", "MAIL FROM:<a@b.test>\r\n", EOFMARK, "\002OK"}, .want = G E, .want_closed = true},
	{.name = "txn_end: two transactions", .in = {"EHLO c\r\n", "MAIL FROM:<a@b.test>\r\nRSET\r\n",
		"MAIL FROM:<a@b.test>\r\nRSET\r\n"},
	 .want = G E MAILOK "250 2.0.0 Ok\r\n" MAILOK "250 2.0.0 Ok\r\n", .want_txn_ends = 2},
	/* 8. MAIL and RCPT as written. */
	{.name = "cmd_addr and cmd_args",
	 .in = {"EHLO c\r\n", "MAIL FROM:<a@b.test> SIZE=100 BODY=8BITMIME\r\nRCPT TO:u@mx.test NOTIFY=NEVER\r\n"
		"RCPT TO: <@r.test:v@mx.test>\r\n"},
	 .want = G E MAILOK RCPTOK RCPTOK,
	 .want_log = "MAIL <a@b.test> SIZE=100 BODY=8BITMIME|RCPT <u@mx.test> NOTIFY=NEVER|RCPT <@r.test:v@mx.test>|"},
	{.name = "cmd_addr of the null sender", .in = {"MAIL FROM:<>\r\n"}, .want = G MAILOK, .want_log = "MAIL <>|"},
	{.name = "cmd_addr and cmd_args kept while MAIL is pending", .pend = P_MAIL,
	 .in = {"EHLO c\r\n", "MAIL FROM:<a@b.test> SMTPUTF8\r\nRCPT TO:<u@mx.test>\r\n", "\002OK"},
	 .want = G E MAILOK RCPTOK, .want_log = "MAIL <a@b.test> SMTPUTF8|pending <a@b.test> SMTPUTF8|RCPT <u@mx.test>|"},
};

START_TEST(test_milter_stages)
{
	const struct mil_row *r = &mil_rows[_i];
	struct smtp_engine_cfg cfg;
	struct buf out = BUF_INIT;
	bool first = true;
	setup_cfg(&cfg, r->opts);
	mil.pend = r->pend;
	mil.txn_ends = 0;
	buf_reset(&mil.log);
	buf_reset(&content);
	queued = aborted = opened = 0;
	commit_pending = r->pend & P_COMMIT;
	struct smtp_engine *e = smtp_engine_new(&cfg, &mil_ops, NULL, "client.test", "192.0.2.1");
	smtp_engine_start(e);
	drain(e, &out);
	for (int i = 0; i < 12 && r->in[i] != NULL; i++) {
		const char *p = r->in[i];
		if (p[0] == '\002') {
			if (first && r->want_waiting != NULL)
				ck_assert_msg(strcmp(buf_str(&out), r->want_waiting) == 0,
						"%s: while waiting\n got: [%s]\nwant: [%s]", r->name, buf_str(&out),
						r->want_waiting);
			first = false;
			bool gone = smtp_engine_flags(e) & SMTP_WANT_CLOSE;
			const struct smtp_session_info *si = smtp_engine_info(e);
			if (si->cmd_addr != NULL)
				mil_log_cmd("pending", si);
			if (strncmp(p + 1, "OK", 2) == 0 || strncmp(p + 1, "NO", 2) == 0 || strncmp(p + 1, "BYE", 3) == 0) {
				ck_assert_msg(gone || (smtp_engine_flags(e) & SMTP_WAIT_POLICY), "%s: not waiting at %d",
						r->name, i);
				enum smtp_verdict v = p[1] == 'O' ? SMTP_ACCEPT : p[1] == 'N' ? SMTP_REJECT : SMTP_DISCONNECT;
				const char *reply = strchr(p, ' ');
				smtp_engine_policy_done(e, v, reply ? reply + 1 : NULL);
			} else {
				ck_assert_msg(gone || (smtp_engine_flags(e) & SMTP_WAIT_COMMIT), "%s: no commit at %d",
						r->name, i);
				enum smtp_commit c = p[2] == 'O' ? SMTP_COMMIT_OK : p[2] == 'R' ? SMTP_COMMIT_REJECT
						     : SMTP_COMMIT_TEMPFAIL;
				const char *arg = strchr(p, ' ') + 1;
				smtp_engine_commit_done(e, c, c == SMTP_COMMIT_OK ? arg : NULL,
						c == SMTP_COMMIT_OK ? NULL : arg);
			}
		} else if (strcmp(p, EOFMARK) == 0) {
			smtp_engine_eof(e);
		} else if (strcmp(p, TIMEOUT) == 0) {
			smtp_engine_timeout(e);
		} else {
			smtp_engine_input(e, p, strlen(p));
		}
		drain(e, &out);
	}
	ck_assert_msg(strcmp(buf_str(&out), r->want) == 0, "%s:\n got: [%s]\nwant: [%s]", r->name,
			buf_str(&out), r->want);
	check_status_codes(r->name, buf_str(&out));
	ck_assert_msg(queued == r->want_queued, "%s: queued %d, want %d", r->name, queued, r->want_queued);
	if (r->want_content != NULL)
		ck_assert_msg(strcmp(buf_str(&content), r->want_content) == 0, "%s: content [%s] want [%s]",
				r->name, buf_str(&content), r->want_content);
	if (r->want_log != NULL)
		ck_assert_msg(strstr(buf_str(&mil.log), r->want_log) != NULL, "%s: log [%s] lacks [%s]", r->name,
				buf_str(&mil.log), r->want_log);
	ck_assert_msg(mil.txn_ends == r->want_txn_ends, "%s: txn_end called %d times, want %d", r->name,
			mil.txn_ends, r->want_txn_ends);
	ck_assert_msg(!!(smtp_engine_flags(e) & SMTP_WANT_CLOSE) == r->want_closed, "%s: closed", r->name);
	ck_assert_msg(!(smtp_engine_flags(e) & SMTP_WAIT_ANY), "%s: still waiting", r->name);
	ck_assert_msg(smtp_engine_info(e)->cmd_addr == NULL && smtp_engine_info(e)->ncmd_args == 0,
			"%s: cmd_addr left", r->name);
	/* An open transaction ends with the session, once. */
	bool open = smtp_engine_flags(e) & SMTP_IN_TRANSACTION;
	int ends = mil.txn_ends;
	smtp_engine_free(e);
	ck_assert_msg(mil.txn_ends - ends <= (open ? 1 : 0), "%s: txn_end at free", r->name);
	ck_assert_msg(opened == queued + aborted + (r->pend & P_COMMIT ? 1 : 0) || opened == queued + aborted,
			"%s: opened %d queued %d aborted %d", r->name, opened, queued, aborted);
	buf_free(&out);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("smtp_engine");
	TCase *tc = tcase_create("dialogues");
	int n = (int)(sizeof(rows) / sizeof(rows[0]));
	tcase_add_loop_test(tc, test_rows, 0, n);
	tcase_add_loop_test(tc, test_rows_split, 0, n);
	tcase_add_test(tc, test_pending_commit);
	tcase_add_test(tc, test_commit_tempfail);
	tcase_add_test(tc, test_delays);
	tcase_add_test(tc, test_command_counts);
	tcase_add_test(tc, test_idle_buffers);
	tcase_add_test(tc, test_big_body);
	tcase_add_test(tc, test_line_text);
	tcase_add_test(tc, test_bare_body);
	tcase_add_test(tc, test_deadline_state);
	tcase_add_loop_test(tc, test_async_auth, 0, (int)(sizeof(async_rows) / sizeof(async_rows[0])));
	tcase_add_loop_test(tc, test_policy_later, 0, (int)(sizeof(later_rows) / sizeof(later_rows[0])));
	tcase_add_loop_test(tc, test_milter_stages, 0, (int)(sizeof(mil_rows) / sizeof(mil_rows[0])));
	tcase_add_test(tc, test_run_fd);
	tcase_add_loop_test(tc, test_smuggling, 0, (int)(sizeof(smuggles) / sizeof(smuggles[0])) * SMUGGLE_MODES);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_set_fork_status(sr, CK_NOFORK);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	buf_free(&async.ch);
	buf_free(&async.outcomes);
	buf_free(&mil.log);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
