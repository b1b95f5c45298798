/*
 * smtpc.c - the SMTP client protocol as a state machine (see smtpc.h).
 *
 * Mail layer, no I/O, no configuration, no logging; privileges of the
 * driver (mail_owner in smtp). Everything the server sends is untrusted.
 *
 * Every command sent expects one reply; the expected replies wait in
 * order in a small queue (pend), so that a PIPELINING group (RFC 2920:
 * MAIL, every RCPT and DATA in one write) and a lock-step dialogue run
 * through the same reply handlers. Entries queued in the output are not
 * "sent" until the driver calls smtpc_output_sent(): a byte from the
 * server while no sent command waits for its reply is a protocol error
 * (that is also how text after the 220 to STARTTLS, the CVE-2011-0411
 * injection, is caught).
 */
#include "compat.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mail/smtp_cmd.h"
#include "mail/smtp_reply.h"
#include "mail/smtpc.h"
#include "mail/smtpc_int.h"
#include "util/base64.h"
#include "util/mem.h"

static const char *const stage_names[] = {
	[SMTPC_ST_GREETING] = "initial greeting", [SMTPC_ST_EHLO] = "EHLO", [SMTPC_ST_HELO] = "HELO",
	[SMTPC_ST_STARTTLS] = "STARTTLS", [SMTPC_ST_AUTH] = "AUTH", [SMTPC_ST_MAIL] = "MAIL FROM",
	[SMTPC_ST_RCPT] = "RCPT TO", [SMTPC_ST_DATA] = "DATA", [SMTPC_ST_BODY] = "message body",
	[SMTPC_ST_DOT] = "end of DATA", [SMTPC_ST_BDAT] = "BDAT", [SMTPC_ST_RSET] = "RSET",
	[SMTPC_ST_QUIT] = "QUIT", [SMTPC_ST_IDLE] = "idle",
};

const char *smtpc_stage_command(enum smtpc_stage st)
{
	if ((unsigned)st >= sizeof(stage_names) / sizeof(stage_names[0]))
		return "unknown";
	return stage_names[st];
}

static char *dup_or_null(const char *s)
{
	return s != NULL ? xstrdup(s) : NULL;
}

struct smtpc *smtpc_new(const struct smtpc_conf *c)
{
	struct smtpc *s = xcalloc(1, sizeof(*s));

	s->helo = xstrdup(c->helo_name != NULL ? c->helo_name : "localhost");
	s->user = dup_or_null(c->auth_user);
	s->pass = dup_or_null(c->auth_pass);
	s->mechs = dup_or_null(c->auth_mechs);
	s->require_tls = c->require_tls;
	s->starttls = c->starttls || c->require_tls;
	s->plaintext_ok = c->auth_plaintext_ok;
	/* The greeting is a reply to the connection: "sent" already. */
	s->pend = xcalloc(4, sizeof(*s->pend));
	s->pend_cap = 4;
	s->pend[0].st = SMTPC_ST_GREETING;
	s->count = s->nsent = 1;
	return s;
}

void smtpc_free(struct smtpc *s)
{
	if (s == NULL)
		return;
	if (s->pass != NULL)
		explicit_bzero(s->pass, strlen(s->pass));
	/* The output may hold the password in base64. */
	if (s->out.data != NULL)
		explicit_bzero(s->out.data, s->out.cap);
	free(s->helo);
	free(s->user);
	free(s->pass);
	free(s->mechs);
	buf_free(&s->in);
	buf_free(&s->out);
	buf_free(&s->text);
	buf_free(&s->raw);
	buf_free(&s->fail_text);
	free(s->pend);
	free(s);
}

/* Queue a command line and the reply it expects. */
void smtpc_send(struct smtpc *s, enum smtpc_stage st, size_t idx, const char *fmt, ...)
{
	va_list ap;

	if (s->head + s->count == s->pend_cap) {
		if (s->head > 0) {
			memmove(s->pend, s->pend + s->head, s->count * sizeof(*s->pend));
			s->head = 0;
		} else {
			s->pend = xreallocarray(s->pend, s->pend_cap * 2, sizeof(*s->pend));
			s->pend_cap *= 2;
		}
	}
	s->pend[s->head + s->count].st = st;
	s->pend[s->head + s->count].idx = idx;
	s->count++;
	va_start(ap, fmt);
	buf_vprintf(&s->out, fmt, ap);
	va_end(ap);
	buf_adds(&s->out, "\r\n");
}

void smtpc_fail(struct smtpc *s, int code, enum smtpc_stage st, const char *dsn, const char *text)
{
	s->closed = true;
	s->fail_code = code;
	s->fail_stage = st;
	snprintf(s->fail_dsn, sizeof(s->fail_dsn), "%s", dsn);
	buf_reset(&s->fail_text);
	buf_adds(&s->fail_text, text);
	if (s->txn_active) {
		/* The transaction ends with the session: its accepted
		 * recipients get this (code 0: no reply, defer them). */
		struct smtpc_txn *t = s->txn;
		t->code = code;
		snprintf(t->dsn, sizeof(t->dsn), "%s", dsn);
		buf_reset(&t->reply);
		buf_adds(&t->reply, text);
		t->failed_stage = st;
	}
	s->txn_active = false;
	s->tls_wait = s->body_wait = false;
	s->head = s->count = s->nsent = 0;
	buf_reset(&s->out);
}

/* The session ends on the server's reply now in s->text. */
void smtpc_fail_reply(struct smtpc *s, int code, enum smtpc_stage st)
{
	char dsn[16];

	smtp_reply_status(code, buf_str(&s->text), dsn, sizeof(dsn));
	smtpc_fail(s, code, st, dsn, buf_str(&s->text));
}

void smtpc_set_result(int *code, char *dsn, struct buf *reply, int c, const char *text)
{
	*code = c;
	smtp_reply_status(c, text, dsn, 16);
	buf_reset(reply);
	buf_adds(reply, text);
}

/* After EHLO/HELO (and again after TLS): STARTTLS, AUTH or ready. */
static void after_hello(struct smtpc *s)
{
	bool plain, login;

	if (!s->in_tls && s->starttls && s->caps.starttls) {
		smtpc_send(s, SMTPC_ST_STARTTLS, 0, "STARTTLS");
		return;
	}
	if (!s->in_tls && s->require_tls) {
		smtpc_fail(s, 450, s->caps.esmtp ? SMTPC_ST_EHLO : SMTPC_ST_HELO, "4.7.4",
		     "TLS is required, but was not offered by host");
		return;
	}
	/* A server that does not offer AUTH gets the mail without (as Postfix). */
	if (s->user == NULL || s->authed || !s->caps.auth)
		return;
	plain = s->caps.auth_plain && smtpc_mech_allowed(s->mechs, "PLAIN");
	login = s->caps.auth_login && smtpc_mech_allowed(s->mechs, "LOGIN");
	if (!s->plaintext_ok || (!plain && !login)) {
		/* Never the password in clear, nor the mail unauthenticated. */
		smtpc_fail(s, 450, SMTPC_ST_AUTH, "4.7.0", "SASL authentication failed; server offered no "
		     "compatible authentication mechanisms for this type of connection security");
		return;
	}
	s->auth_step = 0;
	s->auth_login = !plain;
	if (plain) {
		struct buf resp = BUF_INIT, line = BUF_INIT;

		/* RFC 4616: authzid (empty) NUL authcid NUL password. */
		buf_addc(&resp, '\0');
		buf_adds(&resp, s->user);
		buf_addc(&resp, '\0');
		buf_adds(&resp, s->pass != NULL ? s->pass : "");
		buf_adds(&line, "AUTH PLAIN ");
		base64_encode(resp.data, resp.len, &line);
		smtpc_send(s, SMTPC_ST_AUTH, 0, "%s", buf_str(&line));
		explicit_bzero(resp.data, resp.len);
		explicit_bzero(line.data, line.len);
		buf_free(&resp);
		buf_free(&line);
	} else {
		smtpc_send(s, SMTPC_ST_AUTH, 0, "AUTH LOGIN");
	}
}

static void on_auth(struct smtpc *s, int code)
{
	struct buf line = BUF_INIT;
	const char *answer;

	if (code / 100 == 2) {
		s->authed = true;
		return;
	}
	if (code != 334) {
		smtpc_fail_reply(s, code, SMTPC_ST_AUTH);
		return;
	}
	/* LOGIN asks for the user name, then the password; nothing else. */
	if (!s->auth_login || s->auth_step >= 2) {
		buf_adds(&line, "unexpected reply to AUTH: ");
		buf_adds(&line, buf_str(&s->text));
		smtpc_fail(s, 0, SMTPC_ST_AUTH, "4.7.0", buf_str(&line));
		buf_free(&line);
		return;
	}
	answer = s->auth_step++ == 0 ? s->user : (s->pass != NULL ? s->pass : "");
	base64_encode(answer, strlen(answer), &line);
	smtpc_send(s, SMTPC_ST_AUTH, 0, "%s", buf_str(&line));
	explicit_bzero(line.data, line.len);
	buf_free(&line);
}

/* One reply for the head of pend, its text in s->text. */
static void on_reply_stage(struct smtpc *s, int code)
{
	struct pend p = s->pend[s->head];
	bool ok = code / 100 == 2;

	s->head++;
	s->count--;
	s->nsent--;
	if (s->count == 0)
		s->head = 0;
	switch (p.st) {
	case SMTPC_ST_GREETING:
		if (!ok) {
			smtpc_fail_reply(s, code, p.st);
			return;
		}
		smtpc_send(s, SMTPC_ST_EHLO, 0, "EHLO %s", s->helo);
		return;
	case SMTPC_ST_EHLO:
		if (ok) {
			smtpc_ehlo_parse(s->raw.data, s->raw.len, &s->caps);
			after_hello(s);
		} else if (code == 421) {
			smtpc_fail_reply(s, code, p.st);
		} else {
			/* No ESMTP: HELO, and no extensions. */
			smtpc_send(s, SMTPC_ST_HELO, 0, "HELO %s", s->helo);
		}
		return;
	case SMTPC_ST_HELO:
		if (!ok) {
			smtpc_fail_reply(s, code, p.st);
			return;
		}
		memset(&s->caps, 0, sizeof(s->caps));
		after_hello(s);
		return;
	case SMTPC_ST_STARTTLS:
		if (ok) {
			s->tls_wait = true;
		} else if (s->require_tls) {
			struct buf t = BUF_INIT;
			buf_printf(&t, "TLS is required, but host refused to start TLS: %s", buf_str(&s->text));
			smtpc_fail(s, 450, p.st, "4.7.5", buf_str(&t));
			buf_free(&t);
		} else {
			s->starttls = false;	/* go on in clear */
			after_hello(s);
		}
		return;
	case SMTPC_ST_AUTH:
		on_auth(s, code);
		return;
	case SMTPC_ST_RSET:
		if (!ok) {
			smtpc_fail_reply(s, code, p.st);
			return;
		}
		s->need_rset = false;
		if (s->txn_active && !s->mail_sent)
			smtpc_send_next(s);
		return;
	case SMTPC_ST_QUIT:
		smtpc_fail_reply(s, code, p.st);
		return;
	default:
		if (s->txn_active)
			smtpc_txn_reply(s, code, &p);
		return;
	}
}

static void on_reply(struct smtpc *s, int code)
{
	enum smtpc_stage st = s->pend[s->head].st;

	/*
	 * 3xx only where more input is asked for; 2xx to DATA would leave
	 * the content unsent while the server thinks it had the message.
	 */
	if ((code / 100 == 3 && !(st == SMTPC_ST_DATA && code == 354) && !(st == SMTPC_ST_AUTH && code == 334))
	    || (st == SMTPC_ST_DATA && code / 100 == 2)) {
		struct buf t = BUF_INIT;
		buf_printf(&t, "protocol error: unexpected reply to %s: %s", smtpc_stage_command(st), buf_str(&s->text));
		smtpc_fail(s, 0, st, "4.5.0", buf_str(&t));
		buf_free(&t);
		return;
	}
	on_reply_stage(s, code);
	/* 421: the server closes the session, whatever the command was. */
	if (code == 421 && !s->closed)
		smtpc_fail_reply(s, code, st);
}

/*
 * Bytes in s->in while no command waits for a reply: a 421 is the server
 * closing the session unasked (RFC 5321 3.8: an idle timeout, a
 * shutdown), and ends it with the server's own words; true also while
 * what has come may still become one. Anything else is a protocol error.
 */
static bool unasked_421(struct smtpc *s)
{
	size_t n = s->in.len < 3 ? s->in.len : 3;
	int code;

	if (s->tls_wait || memcmp(s->in.data, "421", n) != 0)
		return false;
	if (s->in.len < 4)
		return true;
	code = smtp_reply_take(&s->in, &s->text);
	if (code == 421) {
		smtpc_fail_reply(s, code, smtpc_stage(s));
		return true;
	}
	return code == 0 && s->in.len <= SMTPC_INPUT_MAX;
}

void smtpc_input(struct smtpc *s, const char *data, size_t len)
{
	if (s->closed || len == 0)
		return;
	if (s->tls_wait) {
		smtpc_fail(s, 0, SMTPC_ST_STARTTLS, "4.7.0",
		     "protocol error: the server sent data after its reply to STARTTLS");
		return;
	}
	buf_add(&s->in, data, len);
	if (s->nsent == 0) {
		if (!unasked_421(s))
			smtpc_fail(s, 0, smtpc_stage(s), "4.5.0", "protocol error: the server sent data before a command");
		return;
	}
	while (!s->closed && s->nsent > 0) {
		enum smtpc_stage st = s->pend[s->head].st;
		size_t before = s->in.len;
		int code;

		/* EHLO's keywords are one per line: keep the raw reply. */
		if (st == SMTPC_ST_EHLO) {
			buf_reset(&s->raw);
			buf_add(&s->raw, s->in.data, s->in.len);
		}
		code = smtp_reply_take(&s->in, &s->text);
		if (code == 0)
			break;
		if (code < 0) {
			struct buf t = BUF_INIT;
			buf_printf(&t, "protocol error: %s", buf_str(&s->text));
			smtpc_fail(s, 0, st, "4.5.0", buf_str(&t));
			buf_free(&t);
			return;
		}
		if (st == SMTPC_ST_EHLO)
			buf_truncate(&s->raw, before - s->in.len);
		on_reply(s, code);
	}
	if (s->closed)
		return;
	if (s->in.len > 0 && s->nsent == 0) {
		if (unasked_421(s))
			return;
		if (s->tls_wait)
			smtpc_fail(s, 0, SMTPC_ST_STARTTLS, "4.7.0",
			     "protocol error: the server sent data after its reply to STARTTLS");
		else
			smtpc_fail(s, 0, smtpc_stage(s), "4.5.0", "protocol error: the server sent data before a command");
	} else if (s->in.len > SMTPC_INPUT_MAX) {
		smtpc_fail(s, 0, smtpc_stage(s), "4.5.0", "protocol error: reply too long");
	}
}

void smtpc_eof(struct smtpc *s)
{
	if (s->closed)
		return;
	if (s->count > 0 && s->pend[s->head].st == SMTPC_ST_QUIT)
		smtpc_fail(s, 0, SMTPC_ST_QUIT, "2.0.0", "connection closed after QUIT");
	else
		smtpc_fail(s, 0, smtpc_stage(s), "4.4.2", "lost connection");
}

enum smtpc_next smtpc_next(struct smtpc *s)
{
	if (s->closed)
		return SMTPC_CLOSED;
	if (s->out.len > 0)
		return SMTPC_WRITE;
	if (s->tls_wait)
		return SMTPC_TLS;
	if (s->body_wait)
		return SMTPC_BODY;
	if (s->count > 0)
		return SMTPC_READ;
	return SMTPC_READY;
}

const struct smtpc_caps *smtpc_caps(const struct smtpc *s)
{
	return &s->caps;
}

enum smtpc_stage smtpc_stage(const struct smtpc *s)
{
	if (s->closed)
		return s->fail_stage;
	if (s->count > 0)
		return s->pend[s->head].st;
	if (s->tls_wait)
		return SMTPC_ST_STARTTLS;
	if (s->body_wait)
		return SMTPC_ST_BODY;
	return SMTPC_ST_IDLE;
}

struct buf *smtpc_output(struct smtpc *s)
{
	return &s->out;
}

void smtpc_output_sent(struct smtpc *s)
{
	/* AUTH lines carry the password: not left in freed memory. */
	if (s->out.data != NULL)
		explicit_bzero(s->out.data, s->out.len);
	buf_reset(&s->out);
	s->nsent = s->count;
}

void smtpc_tls_done(struct smtpc *s, bool ok)
{
	if (s->closed || !s->tls_wait)
		return;
	s->tls_wait = false;
	if (!ok) {
		smtpc_fail(s, 0, SMTPC_ST_STARTTLS, "4.7.5", "TLS handshake failed");
		return;
	}
	/* RFC 3207 section 4.2: forget what was learnt in clear. */
	s->in_tls = true;
	memset(&s->caps, 0, sizeof(s->caps));
	smtpc_send(s, SMTPC_ST_EHLO, 0, "EHLO %s", s->helo);
}

bool smtpc_in_tls(const struct smtpc *s)
{
	return s->in_tls;
}

void smtpc_set_auth_plaintext_ok(struct smtpc *s, bool ok)
{
	s->plaintext_ok = ok;
}

bool smtpc_authenticated(const struct smtpc *s)
{
	return s->authed;
}

int smtpc_failure(const struct smtpc *s, enum smtpc_stage *stage, const char **text)
{
	if (stage != NULL)
		*stage = s->fail_stage;
	if (text != NULL)
		*text = buf_str(&s->fail_text);
	return s->fail_code;
}

const char *smtpc_failure_dsn(const struct smtpc *s)
{
	return s->fail_dsn;
}
