/*
 * smtpc_txn.c - mail transactions of the SMTP client engine (smtpc.h):
 * MAIL with its ESMTP parameters, RCPT, DATA or BDAT, their replies,
 * RSET and QUIT.
 *
 * Mail layer, no I/O, no privileges. The addresses come from the queue
 * file; the parameters the server did not announce are never sent
 * (RFC 1869: a server may refuse unknown ones), and nothing with a
 * control character goes on the wire, so that no queue content can add
 * a command of its own.
 */
#include "compat.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "mail/smtp_cmd.h"
#include "mail/smtp_reply.h"
#include "mail/smtpc.h"
#include "mail/smtpc_int.h"

static void txn_finish(struct smtpc *s)
{
	s->txn_active = false;
}

/* The transaction's reply for itself and, with all, every recipient. */
static void txn_result(struct smtpc_txn *t, int code, const char *text, bool all)
{
	smtpc_set_result(&t->code, t->dsn, &t->reply, code, text);
	for (size_t i = 0; all && i < t->n; i++)
		smtpc_set_result(&t->rcpt[i].code, t->rcpt[i].dsn, &t->rcpt[i].reply, code, text);
}

static void send_mail_cmd(struct smtpc *s)
{
	const struct smtpc_txn *t = s->txn;
	struct buf line = BUF_INIT;

	buf_printf(&line, "MAIL FROM:<%s>", t->sender != NULL ? t->sender : "");
	if (s->caps.size_ext)
		buf_printf(&line, " SIZE=%llu", t->size);
	if (t->body_8bit && s->caps.eightbitmime)
		buf_adds(&line, " BODY=8BITMIME");
	if (t->smtputf8)
		buf_adds(&line, " SMTPUTF8");
	if (s->caps.dsn && t->ret != NULL && (strcasecmp(t->ret, "FULL") == 0 || strcasecmp(t->ret, "HDRS") == 0))
		buf_printf(&line, " RET=%s", t->ret);
	if (s->caps.dsn && t->envid != NULL && t->envid[0] != '\0') {
		buf_adds(&line, " ENVID=");
		smtp_xtext_encode(t->envid, strlen(t->envid), &line);
	}
	smtpc_send(s, SMTPC_ST_MAIL, 0, "%s", buf_str(&line));
	s->mail_sent = true;
	buf_free(&line);
}

static void send_rcpt_cmd(struct smtpc *s, size_t i)
{
	const struct smtpc_rcpt *r = &s->txn->rcpt[i];
	struct buf line = BUF_INIT;

	buf_printf(&line, "RCPT TO:<%s>", r->address);
	if (s->caps.dsn && r->notify != NULL && r->notify[0] != '\0')
		buf_printf(&line, " NOTIFY=%s", r->notify);
	if (s->caps.dsn && r->orcpt != NULL && r->orcpt[0] != '\0') {
		const char *semi = strchr(r->orcpt, ';');
		const char *addr = semi != NULL ? semi + 1 : r->orcpt;

		buf_adds(&line, " ORCPT=");
		if (semi != NULL)
			buf_add(&line, r->orcpt, (size_t)(semi - r->orcpt));
		else
			buf_adds(&line, "rfc822");
		buf_addc(&line, ';');
		smtp_xtext_encode(addr, strlen(addr), &line);
	}
	smtpc_send(s, SMTPC_ST_RCPT, i, "%s", buf_str(&line));
	buf_free(&line);
}

void smtpc_send_next(struct smtpc *s)
{
	if (!s->mail_sent)
		send_mail_cmd(s);
	else if (s->next_rcpt < s->txn->n)
		send_rcpt_cmd(s, s->next_rcpt++);
}

/* The RCPT replies are in: body, or the end when no one was accepted. */
static void after_rcpts(struct smtpc *s)
{
	if (!s->mail_ok) {
		txn_finish(s);
	} else if (s->txn->accepted == 0) {
		s->txn->failed_stage = SMTPC_ST_RCPT;
		txn_finish(s);
	} else if (s->caps.chunking) {
		s->body_wait = true;
	} else {
		smtpc_send(s, SMTPC_ST_DATA, 0, "DATA");
	}
}

void smtpc_txn_reply(struct smtpc *s, int code, const struct pend *p)
{
	struct smtpc_txn *t = s->txn;
	const char *text = buf_str(&s->text);
	bool ok = code / 100 == 2;

	switch (p->st) {
	case SMTPC_ST_MAIL:
		if (ok) {
			s->mail_ok = true;
			if (!s->caps.pipelining)
				smtpc_send_next(s);	/* the first RCPT */
		} else {
			txn_result(t, code, text, true);
			t->failed_stage = SMTPC_ST_MAIL;
			if (!s->caps.pipelining)
				txn_finish(s);
		}
		return;
	case SMTPC_ST_RCPT:
		if (s->mail_ok) {
			struct smtpc_rcpt *r = &t->rcpt[p->idx];
			smtpc_set_result(&r->code, r->dsn, &r->reply, code, text);
			if (ok)
				t->accepted++;
		}
		if (!s->caps.pipelining && p->idx + 1 < t->n)
			smtpc_send_next(s);
		else if (!s->caps.pipelining || (s->caps.chunking && p->idx + 1 == t->n))
			after_rcpts(s);
		return;
	case SMTPC_ST_DATA:
		if (code == 354 && s->mail_ok && t->accepted > 0) {
			s->body_wait = true;
			return;
		}
		if (code == 354) {
			/* DATA went in the pipeline and no one was accepted, yet
			 * the server waits for content: an empty message, which
			 * it must refuse for want of recipients. */
			smtpc_send(s, SMTPC_ST_DOT, 1, ".");
			return;
		}
		if (s->mail_ok && t->accepted > 0) {
			txn_result(t, code, text, false);
			t->failed_stage = SMTPC_ST_DATA;
		} else if (s->mail_ok) {
			t->failed_stage = SMTPC_ST_RCPT;
		}
		txn_finish(s);
		return;
	case SMTPC_ST_DOT:
	case SMTPC_ST_BDAT:
		if (p->st == SMTPC_ST_DOT && p->idx == 1) {
			if (s->mail_ok)
				t->failed_stage = SMTPC_ST_RCPT;
			txn_finish(s);
			return;
		}
		if (ok && p->st == SMTPC_ST_BDAT && p->idx == 0) {
			s->body_wait = true;	/* the next chunk */
			return;
		}
		txn_result(t, code, text, false);
		t->failed_stage = ok ? SMTPC_ST_IDLE : p->st;
		if (ok)
			s->need_rset = false;	/* the transaction is closed */
		txn_finish(s);
		return;
	default:
		return;
	}
}

static bool ready(const struct smtpc *s)
{
	return !s->closed && s->count == 0 && s->out.len == 0 && !s->tls_wait && !s->body_wait
	    && !s->txn_active;
}

static bool has_ctl(const char *p)
{
	for (; p != NULL && *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return true;
	return false;
}

/* NOTIFY's value: words and commas only, so that it adds no parameter. */
static bool bad_notify(const char *p)
{
	return p != NULL && p[strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz,")] != '\0';
}

int smtpc_begin(struct smtpc *s, struct smtpc_txn *t)
{
	bool bad_rcpt = false;

	t->code = 0;
	t->dsn[0] = '\0';
	buf_reset(&t->reply);
	t->failed_stage = SMTPC_ST_IDLE;
	t->accepted = 0;
	for (size_t i = 0; i < t->n; i++) {
		t->rcpt[i].code = 0;
		t->rcpt[i].dsn[0] = '\0';
		buf_reset(&t->rcpt[i].reply);
		if (t->rcpt[i].address == NULL || has_ctl(t->rcpt[i].address) || has_ctl(t->rcpt[i].orcpt)
		    || bad_notify(t->rcpt[i].notify))
			bad_rcpt = true;
	}
	if (!ready(s) || t->n == 0) {
		t->failed_stage = SMTPC_ST_MAIL;
		buf_adds(&t->reply, t->n == 0 ? "no recipients" : "the session is not ready for a transaction");
		return -1;
	}
	if (has_ctl(t->sender) || has_ctl(t->envid)) {
		txn_result(t, 501, "501 5.1.7 bad sender address syntax", true);
	} else if (bad_rcpt) {
		txn_result(t, 501, "501 5.1.3 bad recipient address syntax", true);
	} else if (s->caps.size != 0 && t->size > s->caps.size) {
		txn_result(t, 552, "552 5.3.4 message size exceeds fixed limit of server", true);
	} else if (t->smtputf8 && !s->caps.smtputf8) {
		txn_result(t, 555, "555 5.6.7 SMTPUTF8 is required, but was not offered by host", true);
	} else {
		s->txn = t;
		s->txn_active = true;
		s->mail_sent = s->mail_ok = false;
		s->next_rcpt = 0;
		/* After this, the server holds a transaction until its final 250. */
		if (s->need_rset)
			smtpc_send(s, SMTPC_ST_RSET, 0, "RSET");
		s->need_rset = true;
		if (s->count > 0 && !s->caps.pipelining)
			return 0;	/* MAIL after RSET's reply */
		if (!s->caps.pipelining) {
			send_mail_cmd(s);
			return 0;
		}
		/* RFC 2920: the whole envelope in one write. */
		send_mail_cmd(s);
		for (size_t i = 0; i < t->n; i++)
			send_rcpt_cmd(s, i);
		s->next_rcpt = t->n;
		if (!s->caps.chunking)
			smtpc_send(s, SMTPC_ST_DATA, 0, "DATA");
		return 0;
	}
	t->failed_stage = SMTPC_ST_MAIL;
	return -1;
}

void smtpc_body_done(struct smtpc *s)
{
	if (s->closed || !s->body_wait || s->caps.chunking)
		return;
	s->body_wait = false;
	smtpc_send(s, SMTPC_ST_DOT, 0, ".");
}

void smtpc_bdat(struct smtpc *s, size_t len, bool last)
{
	if (s->closed || !s->body_wait || !s->caps.chunking)
		return;
	s->body_wait = false;
	smtpc_send(s, SMTPC_ST_BDAT, last ? 1 : 0, "BDAT %zu%s", len, last ? " LAST" : "");
}

bool smtpc_chunking(const struct smtpc *s)
{
	return s->caps.chunking;
}

bool smtpc_txn_done(const struct smtpc *s)
{
	return !s->txn_active;
}

void smtpc_reset(struct smtpc *s)
{
	if (!ready(s))
		return;
	smtpc_send(s, SMTPC_ST_RSET, 0, "RSET");
}

void smtpc_quit(struct smtpc *s)
{
	if (s->closed)
		return;
	if (!ready(s)) {
		smtpc_fail(s, 0, smtpc_stage(s), "4.4.2", "session abandoned by the client");
		return;
	}
	smtpc_send(s, SMTPC_ST_QUIT, 0, "QUIT");
}
