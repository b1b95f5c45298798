/*
 * smtp_engine.c - the ESMTP server state machine (see smtp_engine.h).
 *
 * Mail layer. Runs inside smtpd (as mail_owner) and sendmail -bs (as
 * the caller); everything it parses comes from the network. It keeps no
 * buffer while a session is idle, never holds a message in memory (the
 * content is streamed to msg_write as it arrives) and treats only
 * <CR><LF>.<CR><LF> as the end of a message, so that no "SMTP smuggling"
 * variant can end a message early.
 */
#include "compat.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mail/smtp_cmd.h"
#include "mail/smtp_engine.h"
#include "util/base64.h"
#include "util/mem.h"

/* Longest command line we ever look at; cfg->line_limit is clamped to it. */
#define LINE_MAX_HARD	8192

enum state {
	ST_NEW,			/* before smtp_engine_start */
	ST_CMD,			/* reading commands */
	ST_DATA,		/* reading DATA content */
	ST_BDAT,		/* reading a BDAT chunk */
	ST_AUTH,		/* reading a SASL response */
	ST_AUTH_WAIT,		/* waiting for smtp_engine_auth_done */
	ST_POLICY_WAIT,		/* waiting for smtp_engine_policy_done */
	ST_COMMIT,		/* waiting for smtp_engine_commit_done */
	ST_TLS,			/* waiting for smtp_engine_tls_done */
	ST_CLOSED,		/* output what is queued, then close */
};

/* Where the DATA scanner is within a line. */
enum data_state {
	DS_BOL,			/* after CRLF (or at the start): a dot here is special */
	DS_BOL_BARE,		/* after a bare LF (only when bare newlines are allowed) */
	DS_DOT,			/* a dot at the start of a line */
	DS_DOT_CR,		/* "." CR at the start of a line */
	DS_MID,			/* inside a line */
	DS_CR,			/* CR inside a line */
};

struct smtp_engine {
	const struct smtp_engine_cfg *cfg;
	const struct smtp_engine_ops *ops;
	void *ctx;
	enum state state;
	struct smtp_session_info si;
	char *client_name, *client_addr, *helo, *tls_version, *tls_cipher;
	char *sasl_user, *sasl_method;
	bool pipelining_offered;
	bool access_denied;	/* refused at connect: only QUIT is answered (RFC 5321 3.1) */
	bool skip_line;		/* discarding the rest of an over-long line */
	struct buf in;		/* input not processed yet (partial line, or held) */
	struct buf out;		/* replies not sent yet */

	/* The mail transaction. */
	bool in_mail;
	char *sender;
	int ret, body;
	bool smtputf8;
	char *envid;
	struct smtp_rcpt *rcpts;
	size_t nrcpt, rcpt_cap;
	unsigned rcpt_tried;
	unsigned rcpt_overshoot;	/* recipients refused over recipient_limit */
	bool not_an_error;	/* the reply being queued is a 4xx that counts as no error */
	void *msg;
	bool msg_failed, too_big;
	long long msg_size;
	enum data_state ds;
	bool bdat_used, bdat_failed, bdat_last, bdat_cr;
	unsigned long long bdat_left;
	unsigned long long bdat_total;	/* chunk octets received, for the replies */
	char *bdat_error;	/* the reply repeated for the chunks of a failed BDAT transaction */

	void *auth;
	unsigned auth_failures;
	/*
	 * A command that must not have been pipelined (behind AUTH, or any
	 * command from a client not offered PIPELINING), found while its
	 * answer was pending: refused once that answer is out.
	 */
	char pipe_cmd[12];

	/* The command whose policy verdict is pending (ST_POLICY_WAIT). */
	enum { PEND_NONE, PEND_HELO, PEND_MAIL, PEND_RCPT } pend;
	char *pend_old_helo;	/* HELO: the name before, kept aside while the new one is judged */
	bool pend_old_esmtp;
	struct smtp_rcpt pend_rcpt;	/* RCPT: the recipient being judged */

	unsigned errors, junk, messages, rcpt_total, commands;
	unsigned errors_total;	/* for the statistics: errors is reset by a delivery */
	unsigned delay_ms;
	char last_cmd[12];
};

static void engine_log(struct smtp_engine *e, bool warning, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void process_held(struct smtp_engine *e);
static void pending_clear(struct smtp_engine *e);

static void engine_log(struct smtp_engine *e, bool warning, const char *fmt, ...)
{
	struct buf line = BUF_INIT;
	va_list ap;
	if (e->ops->log == NULL)
		return;
	va_start(ap, fmt);
	buf_vprintf(&line, fmt, ap);
	va_end(ap);
	e->ops->log(e->ctx, warning, buf_str(&line));
	buf_free(&line);
}

static void set_str(char **dst, const char *src)
{
	free(*dst);
	*dst = src ? xstrdup(src) : NULL;
}

static void refresh_info(struct smtp_engine *e)
{
	e->si.client_name = e->client_name;
	e->si.client_addr = e->client_addr;
	e->si.helo = e->helo;
	e->si.tls_version = e->tls_version;
	e->si.tls_cipher = e->tls_cipher;
	e->si.sasl_username = e->sasl_user;
	e->si.sasl_method = e->sasl_method;
	e->si.sender = e->in_mail ? e->sender : NULL;
}

/* A printable, bounded copy of client text for log lines. */
static void printable(struct buf *out, const char *s, size_t max)
{
	for (size_t i = 0; s[i] != '\0' && i < max; i++) {
		unsigned char c = (unsigned char)s[i];
		buf_addc(out, (c < 32 || c == 127) ? '?' : (char)c);
	}
}

struct smtp_engine *smtp_engine_new(const struct smtp_engine_cfg *cfg,
		const struct smtp_engine_ops *ops, void *ctx,
		const char *client_name, const char *client_addr)
{
	struct smtp_engine *e = xcalloc(1, sizeof(*e));
	e->cfg = cfg;
	e->ops = ops;
	e->ctx = ctx;
	e->client_name = xstrdup(client_name ? client_name : "unknown");
	e->client_addr = xstrdup(client_addr ? client_addr : "");
	strlcpy(e->last_cmd, "CONNECT", sizeof(e->last_cmd));
	refresh_info(e);
	return e;
}

static void reset_transaction(struct smtp_engine *e)
{
	if (e->msg != NULL && e->ops->msg_abort != NULL)
		e->ops->msg_abort(e->msg);
	e->msg = NULL;
	e->in_mail = false;
	set_str(&e->sender, NULL);
	set_str(&e->envid, NULL);
	for (size_t i = 0; i < e->nrcpt; i++) {
		free(e->rcpts[i].addr);
		free(e->rcpts[i].orcpt);
	}
	free(e->rcpts);
	e->rcpts = NULL;
	e->nrcpt = e->rcpt_cap = 0;
	e->rcpt_tried = 0;
	e->rcpt_overshoot = 0;
	e->msg_failed = e->too_big = false;
	e->msg_size = 0;
	e->bdat_used = e->bdat_failed = e->bdat_last = e->bdat_cr = false;
	e->bdat_left = 0;
	e->bdat_total = 0;
	set_str(&e->bdat_error, NULL);
	e->ret = SMTP_RET_NONE;
	e->body = SMTP_BODY_NONE;
	e->smtputf8 = false;
}

static void auth_reset(struct smtp_engine *e)
{
	if (e->auth != NULL && e->ops->auth_free != NULL)
		e->ops->auth_free(e->auth);
	e->auth = NULL;
}

void smtp_engine_free(struct smtp_engine *e)
{
	if (e == NULL)
		return;
	pending_clear(e);
	reset_transaction(e);
	auth_reset(e);
	free(e->client_name);
	free(e->client_addr);
	free(e->helo);
	free(e->tls_version);
	free(e->tls_cipher);
	free(e->sasl_user);
	free(e->sasl_method);
	buf_free(&e->in);
	buf_free(&e->out);
	free(e);
}

void smtp_engine_set_tls(struct smtp_engine *e, const char *version, const char *cipher)
{
	e->si.tls = true;
	set_str(&e->tls_version, version);
	set_str(&e->tls_cipher, cipher);
	refresh_info(e);
}

/* Forget a pending policy verdict (the session ended, or it was given). */
static void pending_clear(struct smtp_engine *e)
{
	if (e->pend == PEND_HELO) {
		/* e->helo holds the name being judged: put the old one back. */
		free(e->helo);
		e->helo = e->pend_old_helo;
		e->si.esmtp = e->pend_old_esmtp;
		refresh_info(e);
	}
	e->pend_old_helo = NULL;
	free(e->pend_rcpt.addr);
	free(e->pend_rcpt.orcpt);
	e->pend_rcpt = (struct smtp_rcpt){0};
	e->pend = PEND_NONE;
}

static void close_session(struct smtp_engine *e)
{
	pending_clear(e);
	reset_transaction(e);
	auth_reset(e);
	e->state = ST_CLOSED;
	buf_free(&e->in);
}

static void reply_done(struct smtp_engine *e, char c);

/* Queue one reply line (text without CRLF) and count errors. */
static void reply_line(struct smtp_engine *e, const char *text)
{
	buf_adds(&e->out, text);
	buf_add(&e->out, "\r\n", 2);
	if (text[3] != '-')
		reply_done(e, text[0]);
}

/* A whole reply (of class c, '2'...'5') was queued. */
static void reply_done(struct smtp_engine *e, char c)
{
	/*
	 * Postfix's smtpd_soft_error_limit: once a client has made that many
	 * errors (without delivering mail), every reply waits
	 * smtpd_error_sleep_time, not only the error replies.
	 */
	if (e->cfg->soft_error_limit && e->errors >= e->cfg->soft_error_limit)
		e->delay_ms += e->cfg->error_sleep_ms;
	if ((c == '4' || c == '5') && !e->not_an_error) {
		e->errors++;
		e->errors_total++;
	}
}

static void reply(struct smtp_engine *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void reply(struct smtp_engine *e, const char *fmt, ...)
{
	struct buf line = BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	buf_vprintf(&line, fmt, ap);
	va_end(ap);
	reply_line(e, buf_str(&line));
	buf_free(&line);
}

/* A callback's reply, checked: it must start with a 4xx/5xx code. */
static const char *checked_text(const char *t, const char *fallback)
{
	if (t == NULL || strlen(t) < 4 || (t[0] != '4' && t[0] != '5') || !isdigit((unsigned char)t[1])
	    || !isdigit((unsigned char)t[2]) || t[3] != ' ' || strpbrk(t, "\r\n") != NULL)
		t = fallback;
	return t;
}

static const char *checked_reply(struct buf *r, const char *fallback)
{
	return checked_text(buf_str(r), fallback);
}

static void reply_from(struct smtp_engine *e, struct buf *r, const char *fallback)
{
	reply_line(e, checked_reply(r, fallback));
}

/*
 * Postfix's reject line: from=, to= and helo= only when known, so that
 * a CONNECT or HELO rejection does not claim an empty sender.
 */
static void log_reject(struct smtp_engine *e, const char *what, const char *reply_text,
		const char *rcpt)
{
	struct buf line = BUF_INIT;
	buf_printf(&line, "NOQUEUE: reject: %s from %s[%s]: ", what, e->client_name, e->client_addr);
	printable(&line, reply_text, 500);
	buf_adds(&line, ";");
	if (e->sender != NULL) {
		buf_adds(&line, " from=<");
		printable(&line, e->sender, 300);
		buf_adds(&line, ">");
	}
	if (rcpt != NULL) {
		buf_adds(&line, " to=<");
		printable(&line, rcpt, 300);
		buf_adds(&line, ">");
	}
	buf_printf(&line, " proto=%s", e->si.esmtp ? "ESMTP" : "SMTP");
	if (e->helo != NULL) {
		buf_adds(&line, " helo=<");
		printable(&line, e->helo, 100);
		buf_adds(&line, ">");
	}
	engine_log(e, false, "%s", buf_str(&line));
	buf_free(&line);
}

void smtp_engine_start(struct smtp_engine *e)
{
	struct buf r = BUF_INIT;
	if (e->state != ST_NEW)
		return;
	e->state = ST_CMD;
	refresh_info(e);
	if (e->ops->check_connect != NULL) {
		enum smtp_verdict v = e->ops->check_connect(e->ctx, &e->si, &r);
		if (v == SMTP_PENDING) {
			/* Not possible here (see SMTP_PENDING): a temporary failure. */
			v = SMTP_DISCONNECT;
			buf_reset(&r);
			buf_adds(&r, "421 4.3.0 Error: try again later");
		}
		if (v != SMTP_ACCEPT) {
			/*
			 * Refused instead of the greeting. As Postfix (and RFC 5321
			 * section 3.1 for a 554 greeting) the session stays and
			 * answers 503 to all but QUIT; a 421 closes it.
			 */
			reply_from(e, &r, "554 5.7.1 Access denied");
			log_reject(e, "CONNECT", buf_str(&r), NULL);
			buf_free(&r);
			if (v == SMTP_DISCONNECT)
				close_session(e);
			else
				e->access_denied = true;
			process_held(e);
			return;
		}
	}
	buf_free(&r);
	reply(e, "220 %s", e->cfg->banner ? e->cfg->banner : e->cfg->myhostname);
	process_held(e);
}

void smtp_engine_refuse(struct smtp_engine *e, const char *reply_line_text)
{
	e->state = ST_CMD;
	reply_line(e, reply_line_text);
	close_session(e);
}

static const char *protocol(const struct smtp_engine *e)
{
	if (!e->si.esmtp)
		return "SMTP";
	if (e->si.tls && e->sasl_user)
		return "ESMTPSA";
	if (e->si.tls)
		return "ESMTPS";
	if (e->sasl_user)
		return "ESMTPA";
	return "ESMTP";
}

static bool auth_offered(const struct smtp_engine *e)
{
	return e->cfg->auth && (e->si.tls || !e->cfg->tls_auth_only);
}

/* ---- commands ---- */

static void helo_accept(struct smtp_engine *e, const char *arg, bool esmtp);

/* A policy verdict was asked for and is given later (smtp_engine_policy_done). */
static void wait_policy(struct smtp_engine *e, int what)
{
	e->pend = what;
	e->state = ST_POLICY_WAIT;
}

/*
 * The verdict on a HELO name: e->helo is the new name (judged and
 * logged with it), the old one is aside in pend_old_helo.
 */
static void helo_decided(struct smtp_engine *e, enum smtp_verdict v, const char *text)
{
	bool esmtp = e->si.esmtp;
	if (v != SMTP_ACCEPT) {
		reply_line(e, checked_text(text, "554 5.7.1 Access denied"));
		log_reject(e, esmtp ? "EHLO" : "HELO", text ? text : "", NULL);
	}
	char *name = e->helo;
	e->helo = e->pend_old_helo;
	e->si.esmtp = e->pend_old_esmtp;
	e->pend_old_helo = NULL;
	e->pend = PEND_NONE;
	refresh_info(e);
	if (v != SMTP_ACCEPT) {
		/* As in Postfix, a refused HELO changes nothing (not even the transaction). */
		free(name);
		if (v == SMTP_DISCONNECT)
			close_session(e);
		return;
	}
	helo_accept(e, name, esmtp);
	free(name);
}

static void cmd_helo(struct smtp_engine *e, const char *arg, bool esmtp)
{
	if (!smtp_valid_helo(arg)) {
		reply(e, "501 5.5.4 Syntax: %s hostname", esmtp ? "EHLO" : "HELO");
		return;
	}
	if (e->ops->check_helo == NULL) {
		helo_accept(e, arg, esmtp);
		return;
	}
	/* The new name is judged (and logged) while the old one is kept aside. */
	struct buf r = BUF_INIT;
	e->pend = PEND_HELO;
	e->pend_old_helo = e->helo;
	e->pend_old_esmtp = e->si.esmtp;
	e->helo = xstrdup(arg);
	e->si.esmtp = esmtp;
	refresh_info(e);
	enum smtp_verdict v = e->ops->check_helo(e->ctx, &e->si, &r);
	if (v == SMTP_PENDING)
		wait_policy(e, PEND_HELO);
	else
		helo_decided(e, v, buf_str(&r));
	buf_free(&r);
}

static void helo_accept(struct smtp_engine *e, const char *arg, bool esmtp)
{
	reset_transaction(e);
	set_str(&e->helo, arg);
	e->si.esmtp = esmtp;
	refresh_info(e);
	if (!esmtp) {
		reply(e, "250 %s", e->cfg->myhostname);
		e->pipelining_offered = false;
		return;
	}
	const struct smtp_engine_cfg *c = e->cfg;
	reply(e, "250-%s", c->myhostname);
	if (c->pipelining)
		reply(e, "250-PIPELINING");
	if (c->message_size_limit > 0)
		reply(e, "250-SIZE %lld", c->message_size_limit);
	else
		reply(e, "250-SIZE");
	if (c->vrfy_enabled)
		reply(e, "250-VRFY");
	if (c->starttls && !e->si.tls)
		reply(e, "250-STARTTLS");
	if (auth_offered(e) && c->auth_mechanisms && *c->auth_mechanisms) {
		reply(e, "250-AUTH %s", c->auth_mechanisms);
		if (c->broken_sasl_auth_clients)
			reply(e, "250-AUTH=%s", c->auth_mechanisms);
	}
	reply(e, "250-ENHANCEDSTATUSCODES");
	if (c->eightbitmime)
		reply(e, "250-8BITMIME");
	if (c->dsn)
		reply(e, "250-DSN");
	if (c->smtputf8)
		reply(e, "250-SMTPUTF8");
	if (c->chunking)
		reply(e, "250-CHUNKING");
	/* The last line: retag the previous "250-" as "250 ". */
	char *last = e->out.data + e->out.len - 2;
	while (last > e->out.data && last[-1] != '\n')
		last--;
	last[3] = ' ';
	reply_done(e, '2');
	e->pipelining_offered = c->pipelining;
}

static bool has_8bit(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s >= 0x80)
			return true;
	return false;
}

static bool need_helo(struct smtp_engine *e)
{
	if (e->helo == NULL && e->cfg->helo_required) {
		reply(e, "503 5.5.1 Error: send HELO/EHLO first");
		return true;
	}
	return false;
}

/* The verdict on the sender (the transaction is open): answer MAIL. */
static void mail_decided(struct smtp_engine *e, enum smtp_verdict v, const char *text)
{
	struct buf r = BUF_INIT;
	e->pend = PEND_NONE;
	if (v != SMTP_ACCEPT) {
		reply_line(e, checked_text(text, "554 5.7.1 Access denied"));
		log_reject(e, "MAIL", text ? text : "", NULL);
		reset_transaction(e);
		if (v == SMTP_DISCONNECT)
			close_session(e);
	} else if (e->ops->check_rate != NULL && e->ops->check_rate(e->ctx, &e->si, &r) != SMTP_ACCEPT) {
		reply_from(e, &r, "450 4.7.1 Error: too much mail from this client");
		log_reject(e, "MAIL", buf_str(&r), NULL);
		reset_transaction(e);
	} else {
		reply(e, "250 2.1.0 Ok");
	}
	refresh_info(e);
	buf_free(&r);
}

static void cmd_mail(struct smtp_engine *e, const char *arg)
{
	const struct smtp_engine_cfg *c = e->cfg;
	struct smtp_mail_args a;
	struct buf bad = BUF_INIT, r = BUF_INIT;

	if (need_helo(e))
		return;
	if (e->in_mail) {
		reply(e, "503 5.5.1 Error: nested MAIL command");
		return;
	}
	if (c->tls_required && !e->si.tls) {
		reply(e, "530 5.7.0 Must issue a STARTTLS command first");
		return;
	}
	if (c->auth_required && e->sasl_user == NULL) {
		reply(e, "530 5.7.0 Authentication required");
		return;
	}
	smtp_mail_args_init(&a);
	switch (smtp_parse_mail(arg, &a, &bad)) {
	case SMTP_PATH_OK:
		break;
	case SMTP_PATH_SYNTAX:
		reply(e, "501 5.5.4 Syntax: MAIL FROM:<address>");
		goto out;
	case SMTP_PATH_BAD_ADDR:
	case SMTP_PATH_TOO_LONG:
		reply(e, "501 5.1.7 Bad sender address syntax");
		goto out;
	case SMTP_PATH_BAD_PARAM:
		reply(e, "555 5.5.4 Unsupported option: %s", buf_str(&bad));
		goto out;
	}
	if ((a.ret != SMTP_RET_NONE || a.has_envid) && !c->dsn) {
		reply(e, "555 5.5.4 Unsupported option: %s", a.ret != SMTP_RET_NONE ? "RET" : "ENVID");
		goto out;
	}
	if ((a.smtputf8 && !c->smtputf8) || (a.body == SMTP_BODY_8BITMIME && !c->eightbitmime)) {
		reply(e, "555 5.5.4 Unsupported option: %s", a.smtputf8 ? "SMTPUTF8" : "BODY");
		goto out;
	}
	if (has_8bit(buf_str(&a.addr)) && !a.smtputf8) {
		reply(e, "553 5.6.7 Must declare SMTPUTF8 to send UTF8 addresses");
		goto out;
	}
	if (c->message_size_limit > 0 && a.size > c->message_size_limit) {
		reply(e, "552 5.3.4 Message size exceeds fixed limit");
		goto out;
	}
	e->sender = xstrdup(buf_str(&a.addr));
	e->in_mail = true;
	/* Kept now, so that a verdict given later finds them (a refusal resets them). */
	e->ret = a.ret;
	e->body = a.body;
	e->smtputf8 = a.smtputf8;
	if (a.has_envid)
		e->envid = xstrdup(buf_str(&a.envid));
	refresh_info(e);
	enum smtp_verdict v = e->ops->check_mail != NULL
			      ? e->ops->check_mail(e->ctx, &e->si, e->sender, &r) : SMTP_ACCEPT;
	if (v == SMTP_PENDING)
		wait_policy(e, PEND_MAIL);
	else
		mail_decided(e, v, buf_str(&r));
out:
	refresh_info(e);
	smtp_mail_args_free(&a);
	buf_free(&bad);
	buf_free(&r);
}

/* The verdict on the recipient in pend_rcpt: take it or refuse it. */
static void rcpt_decided(struct smtp_engine *e, enum smtp_verdict v, const char *text)
{
	struct smtp_rcpt pr = e->pend_rcpt;
	e->pend_rcpt = (struct smtp_rcpt){0};
	e->pend = PEND_NONE;
	if (v != SMTP_ACCEPT) {
		reply_line(e, checked_text(text, "554 5.7.1 Access denied"));
		log_reject(e, "RCPT", text ? text : "", pr.addr);
		free(pr.addr);
		free(pr.orcpt);
		if (v == SMTP_DISCONNECT)
			close_session(e);
		return;
	}
	if (e->nrcpt == e->rcpt_cap) {
		e->rcpt_cap = e->rcpt_cap ? e->rcpt_cap * 2 : 4;
		e->rcpts = xreallocarray(e->rcpts, e->rcpt_cap, sizeof(*e->rcpts));
	}
	e->rcpts[e->nrcpt++] = pr;
	e->rcpt_total++;
	reply(e, "250 2.1.5 Ok");
}

static void cmd_rcpt(struct smtp_engine *e, const char *arg)
{
	const struct smtp_engine_cfg *c = e->cfg;
	struct smtp_rcpt_args a;
	struct buf bad = BUF_INIT, r = BUF_INIT;

	if (!e->in_mail) {
		reply(e, "503 5.5.1 Error: need MAIL command");
		return;
	}
	if (e->bdat_used) {
		reply(e, "503 5.5.1 Error: BDAT in progress");
		return;
	}
	if (c->recipient_limit && e->nrcpt >= c->recipient_limit) {
		/*
		 * As Postfix: a client that pipelined a long list is not
		 * punished (and disconnected) for the excess, up to
		 * smtpd_recipient_overshoot_limit of them.
		 */
		e->not_an_error = e->rcpt_overshoot++ < c->recipient_overshoot_limit;
		reply(e, "452 4.5.3 Error: too many recipients");
		e->not_an_error = false;
		return;
	}
	e->rcpt_tried++;
	smtp_rcpt_args_init(&a);
	switch (smtp_parse_rcpt(arg, &a, &bad)) {
	case SMTP_PATH_OK:
		break;
	case SMTP_PATH_SYNTAX:
		reply(e, "501 5.5.4 Syntax: RCPT TO:<address>");
		goto out;
	case SMTP_PATH_BAD_ADDR:
	case SMTP_PATH_TOO_LONG:
		reply(e, "501 5.1.3 Bad recipient address syntax");
		goto out;
	case SMTP_PATH_BAD_PARAM:
		reply(e, "555 5.5.4 Unsupported option: %s", buf_str(&bad));
		goto out;
	}
	if ((a.notify || a.orcpt.len) && !c->dsn) {
		reply(e, "555 5.5.4 Unsupported option: %s", a.notify ? "NOTIFY" : "ORCPT");
		goto out;
	}
	if (has_8bit(buf_str(&a.addr)) && !e->smtputf8) {
		reply(e, "553 5.6.7 Must declare SMTPUTF8 to send UTF8 addresses");
		goto out;
	}
	refresh_info(e);
	e->pend_rcpt.addr = xstrdup(buf_str(&a.addr));
	e->pend_rcpt.notify = a.notify;
	e->pend_rcpt.orcpt = a.orcpt.len ? xstrdup(buf_str(&a.orcpt)) : NULL;
	enum smtp_verdict v = e->ops->check_rcpt != NULL
			      ? e->ops->check_rcpt(e->ctx, &e->si, e->pend_rcpt.addr, &r) : SMTP_ACCEPT;
	if (v == SMTP_PENDING)
		wait_policy(e, PEND_RCPT);
	else
		rcpt_decided(e, v, buf_str(&r));
out:
	smtp_rcpt_args_free(&a);
	buf_free(&bad);
	buf_free(&r);
}

/* Open the message (DATA, first BDAT). false: a reply was queued. */
static bool open_message(struct smtp_engine *e)
{
	struct buf r = BUF_INIT;
	struct smtp_envelope env = {
		.sender = e->sender,
		.rcpts = e->rcpts,
		.nrcpt = e->nrcpt,
		.ret = e->ret,
		.envid = e->envid,
		.body = e->body,
		.smtputf8 = e->smtputf8,
		.protocol = protocol(e),
	};
	refresh_info(e);
	e->msg = e->ops->msg_open ? e->ops->msg_open(e->ctx, &e->si, &env, &r) : NULL;
	if (e->msg == NULL) {
		reply_from(e, &r, "451 4.3.0 Error: queue file write error");
		buf_free(&r);
		return false;
	}
	buf_free(&r);
	e->msg_size = 0;
	e->msg_failed = e->too_big = false;
	return true;
}

/*
 * smtpd_data_restrictions (end false) or smtpd_end_of_data_restrictions:
 * the verdict, with the reply in r and the log line written.
 */
static enum smtp_verdict data_verdict(struct smtp_engine *e, bool end, struct buf *r)
{
	if (e->ops->check_data == NULL)
		return SMTP_ACCEPT;
	refresh_info(e);
	enum smtp_verdict v = e->ops->check_data(e->ctx, &e->si, e->nrcpt, end, r);
	if (v == SMTP_PENDING) {
		/* Not possible here (see SMTP_PENDING): a temporary failure. */
		v = SMTP_REJECT;
		buf_reset(r);
		buf_adds(r, "451 4.3.0 Error: try again later");
	}
	if (v != SMTP_ACCEPT)
		log_reject(e, end ? "END-OF-MESSAGE" : "DATA", checked_reply(r, "554 5.7.1 Access denied"), NULL);
	return v;
}

/* Check that a transaction can take content; false: a reply was queued. */
static bool ready_for_content(struct smtp_engine *e)
{
	if (!e->in_mail) {
		reply(e, "503 5.5.1 Error: need MAIL command");
		return false;
	}
	if (e->nrcpt == 0) {
		if (e->rcpt_tried)
			reply(e, "554 5.5.1 Error: no valid recipients");
		else
			reply(e, "503 5.5.1 Error: need RCPT command");
		return false;
	}
	return true;
}

static void cmd_data(struct smtp_engine *e, const char *arg)
{
	if (*arg != '\0') {
		reply(e, "501 5.5.4 Syntax: DATA");
		return;
	}
	if (e->bdat_used) {
		reply(e, "503 5.5.1 Error: BDAT in progress");
		return;
	}
	if (!ready_for_content(e))
		return;
	struct buf r = BUF_INIT;
	enum smtp_verdict v = data_verdict(e, false, &r);
	if (v != SMTP_ACCEPT) {
		reply_from(e, &r, "554 5.7.1 Access denied");
		buf_free(&r);
		if (v == SMTP_DISCONNECT)
			close_session(e);
		return;
	}
	buf_free(&r);
	if (!open_message(e))
		return;
	reply(e, "354 End data with <CR><LF>.<CR><LF>");
	e->state = ST_DATA;
	e->ds = DS_BOL;
}

static void commit_result(struct smtp_engine *e, enum smtp_commit result,
		const char *queue_id, const char *reason);

/* The message ended (final dot, BDAT LAST): commit it or report why not. */
static void end_message(struct smtp_engine *e)
{
	char queue_id[64] = "";
	struct buf reason = BUF_INIT;

	e->state = ST_CMD;
	if (e->too_big) {
		reply(e, "552 5.3.4 Message size exceeds fixed limit");
		engine_log(e, true, "%s[%s]: message size exceeds limit: %lld bytes so far",
				e->client_name, e->client_addr, e->msg_size);
		reset_transaction(e);
		return;
	}
	if (e->msg_failed || e->ops->msg_finish == NULL) {
		reply(e, "451 4.3.0 Error: queue file write error");
		reset_transaction(e);
		return;
	}
	enum smtp_verdict v = data_verdict(e, true, &reason);
	if (v != SMTP_ACCEPT) {
		reply_from(e, &reason, "554 5.7.1 Access denied");
		buf_free(&reason);
		reset_transaction(e);	/* aborts the message */
		if (v == SMTP_DISCONNECT)
			close_session(e);
		return;
	}
	void *msg = e->msg;
	e->msg = NULL;		/* msg_finish owns it now */
	enum smtp_commit res = e->ops->msg_finish(e->ctx, msg, queue_id, sizeof(queue_id), &reason);
	if (res == SMTP_COMMIT_PENDING) {
		e->state = ST_COMMIT;
		buf_free(&reason);
		return;
	}
	commit_result(e, res, queue_id, buf_str(&reason));
	buf_free(&reason);
}

/* Answer the end of a message; the caller goes on with the input. */
static void commit_result(struct smtp_engine *e, enum smtp_commit result,
		const char *queue_id, const char *reason)
{
	struct buf why = BUF_INIT;
	e->state = ST_CMD;
	printable(&why, reason ? reason : "", 200);
	switch (result) {
	case SMTP_COMMIT_OK:
		reply(e, "250 2.0.0 Ok: queued as %s", queue_id ? queue_id : "");
		e->messages++;
		/* As Postfix: the error and junk limits count "without delivering mail". */
		e->errors = 0;
		e->junk = 0;
		break;
	case SMTP_COMMIT_REJECT:
		reply(e, "554 5.7.1 Error: message rejected: %s", why.len ? buf_str(&why) : "rejected");
		break;
	default:
		reply(e, "451 4.3.0 Error: queue file write error");
		engine_log(e, true, "%s[%s]: queue file write error: %s", e->client_name,
				e->client_addr, buf_str(&why));
		break;
	}
	buf_free(&why);
	reset_transaction(e);
}

void smtp_engine_commit_done(struct smtp_engine *e, enum smtp_commit result,
		const char *queue_id, const char *reason)
{
	if (e->state != ST_COMMIT)
		return;
	commit_result(e, result, queue_id, reason);
	process_held(e);
}

static void bdat_chunk_done(struct smtp_engine *e);

static void cmd_bdat(struct smtp_engine *e, const char *arg)
{
	unsigned long long size;
	bool last;

	if (!smtp_parse_bdat(arg, &size, &last)) {
		/* Without a valid size the chunk cannot be skipped: end the session. */
		reply(e, "501 5.5.4 Syntax: BDAT count [LAST]");
		close_session(e);
		return;
	}
	/* The chunk is always read, whatever the answer (RFC 3030 section 3). */
	e->state = ST_BDAT;
	e->bdat_left = size;
	e->bdat_last = last;
	if (e->bdat_failed || e->msg != NULL)
		goto check_empty;
	const char *err = NULL;
	if (!e->cfg->chunking)
		err = "502 5.5.1 Error: command not implemented";
	else if (!e->in_mail)
		err = "503 5.5.1 Error: need MAIL command";
	else if (e->nrcpt == 0)
		err = e->rcpt_tried ? "554 5.5.1 Error: no valid recipients"
				    : "503 5.5.1 Error: need RCPT command";
	struct buf dr = BUF_INIT;
	if (err == NULL && data_verdict(e, false, &dr) != SMTP_ACCEPT)
		err = checked_reply(&dr, "554 5.7.1 Access denied");
	if (err != NULL) {
		e->bdat_failed = true;
		set_str(&e->bdat_error, err);
		buf_free(&dr);
		goto check_empty;
	}
	buf_free(&dr);
	e->bdat_used = true;
	if (!open_message(e)) {
		/* open_message queued a reply already; the chunk must still be skipped. */
		e->bdat_failed = true;
		const char *r = e->out.data + e->out.len - 2;
		const char *start = r;
		while (start > e->out.data && start[-1] != '\n')
			start--;
		e->bdat_error = xstrndup(start, (size_t)(r - start));
		/* That first reply is sent after the chunk instead. */
		buf_truncate(&e->out, (size_t)(start - e->out.data));
		e->errors--;
	}
check_empty:
	/* "BDAT 0 LAST" has no bytes to wait for. */
	if (e->bdat_left == 0)
		bdat_chunk_done(e);
}

/* The chunk has been read: answer it. */
static void bdat_chunk_done(struct smtp_engine *e)
{
	e->state = ST_CMD;
	if (e->bdat_failed) {
		reply_line(e, e->bdat_error ? e->bdat_error : "554 5.5.1 Error: transaction failed");
		/* A failed chunked transaction ends with its LAST chunk, or on RSET. */
		if (e->bdat_last || !e->in_mail) {
			reset_transaction(e);
		}
		return;
	}
	if (e->too_big) {
		reply(e, "552 5.3.4 Message size exceeds fixed limit");
		if (e->msg != NULL && e->ops->msg_abort != NULL)
			e->ops->msg_abort(e->msg);
		e->msg = NULL;
		if (e->bdat_last) {
			reset_transaction(e);
		} else {
			e->bdat_failed = true;
			set_str(&e->bdat_error, "552 5.3.4 Message size exceeds fixed limit");
		}
		return;
	}
	if (!e->bdat_last) {
		reply(e, "250 2.0.0 Ok: %llu bytes", e->bdat_total);
		return;
	}
	if (e->bdat_cr) {
		/* A CR at the very end of the content stays as it is. */
		e->bdat_cr = false;
		if (!e->msg_failed && e->ops->msg_write(e->msg, "\r", 1) < 0)
			e->msg_failed = true;
	}
	end_message(e);
}

static void cmd_vrfy(struct smtp_engine *e, const char *arg)
{
	struct buf addr = BUF_INIT, r = BUF_INIT;
	if (!e->cfg->vrfy_enabled) {
		reply(e, "502 5.5.1 VRFY command is disabled");
		return;
	}
	if (*arg == '\0') {
		reply(e, "501 5.5.4 Syntax: VRFY address");
		return;
	}
	size_t n = strlen(arg);
	if (arg[0] == '<' && n >= 2 && arg[n - 1] == '>')
		buf_add(&addr, arg + 1, n - 2);
	else
		buf_adds(&addr, arg);
	if (!smtp_valid_mailbox(buf_str(&addr), true)) {
		reply(e, "501 5.1.3 Bad recipient address syntax");
	} else if (e->ops->vrfy != NULL) {
		refresh_info(e);
		e->ops->vrfy(e->ctx, &e->si, buf_str(&addr), &r);
		const char *t = buf_str(&r);
		if (strlen(t) >= 4 && (t[0] == '2' || t[0] == '4' || t[0] == '5') && t[3] == ' '
		    && strpbrk(t, "\r\n") == NULL) {
			reply_line(e, t);
			if (t[0] != '2')	/* Postfix logs it, and fail2ban filters look for it */
				log_reject(e, "VRFY", t, buf_str(&addr));
		} else
			reply(e, "252 2.0.0 %s", buf_str(&addr));
	} else {
		reply(e, "252 2.0.0 Send mail to find out");
	}
	buf_free(&addr);
	buf_free(&r);
}

static void cmd_starttls(struct smtp_engine *e, const char *arg)
{
	if (!e->cfg->starttls) {
		reply(e, "502 5.5.1 Error: command not implemented");
		return;
	}
	if (e->si.tls) {
		reply(e, "554 5.5.1 Error: TLS already active");
		return;
	}
	if (*arg != '\0') {
		reply(e, "501 5.5.4 Syntax: STARTTLS");
		return;
	}
	reply(e, "220 2.0.0 Ready to start TLS");
	reset_transaction(e);
	e->state = ST_TLS;
}

void smtp_engine_tls_done(struct smtp_engine *e, bool ok, const char *version, const char *cipher)
{
	if (e->state != ST_TLS)
		return;
	if (!ok) {
		close_session(e);
		return;
	}
	/* RFC 3207 section 4.2: forget everything learned before TLS. */
	e->state = ST_CMD;
	set_str(&e->helo, NULL);
	e->si.esmtp = false;
	set_str(&e->sasl_user, NULL);
	set_str(&e->sasl_method, NULL);
	e->pipelining_offered = false;
	smtp_engine_set_tls(e, version, cipher);
	buf_free(&e->in);
}

static void auth_result(struct smtp_engine *e, enum smtp_auth_status st, struct buf *challenge)
{
	struct buf enc = BUF_INIT;
	switch (st) {
	case SMTP_AUTH_CONTINUE:
		base64_encode(challenge->data, challenge->len, &enc);
		reply(e, "334 %s", buf_str(&enc));
		e->state = ST_AUTH;
		buf_free(&enc);
		return;
	case SMTP_AUTH_DONE: {
		const char *user = e->ops->auth_username ? e->ops->auth_username(e->auth) : NULL;
		set_str(&e->sasl_user, user ? user : "");
		reply(e, "235 2.7.0 Authentication successful");
		refresh_info(e);
		if (e->ops->auth_outcome != NULL)
			e->delay_ms += e->ops->auth_outcome(e->ctx, &e->si, true);
		break;
	}
	case SMTP_AUTH_FAIL: {
		struct buf why = BUF_INIT;
		printable(&why, buf_str(challenge), 200);
		reply(e, "535 5.7.8 Error: authentication failed");
		engine_log(e, true, "%s[%s]: SASL %s authentication failed: %s", e->client_name,
				e->client_addr, e->sasl_method ? e->sasl_method : "",
				why.len ? buf_str(&why) : "authentication failure");
		buf_free(&why);
		set_str(&e->sasl_method, NULL);
		/* Each failure makes the next answer slower (guessing gets expensive). */
		e->auth_failures++;
		refresh_info(e);
		if (e->ops->auth_outcome != NULL)
			e->delay_ms += e->ops->auth_outcome(e->ctx, &e->si, false);
		else
			e->delay_ms += e->cfg->auth_fail_delay_ms
				       * (e->auth_failures < 10 ? e->auth_failures : 10);
		break;
	}
	case SMTP_AUTH_PENDING:
		/* The backend answers later: smtp_engine_auth_done(). */
		e->state = ST_AUTH_WAIT;
		return;
	case SMTP_AUTH_TEMPFAIL:
		reply(e, "454 4.7.0 Temporary authentication failure");
		set_str(&e->sasl_method, NULL);
		break;
	}
	e->state = ST_CMD;
	auth_reset(e);
	refresh_info(e);
}

static void sync_error(struct smtp_engine *e, const char *cmd_name);

/* Postfix's smtpd_hard_error_limit: after the reply that reached it, close. */
static void hard_error_check(struct smtp_engine *e)
{
	if (e->state != ST_CLOSED && e->cfg->hard_error_limit
	    && e->errors >= e->cfg->hard_error_limit) {
		reply(e, "421 4.7.0 %s Error: too many errors", e->cfg->myhostname);
		engine_log(e, false, "too many errors after %s from %s[%s]", e->last_cmd,
				e->client_name, e->client_addr);
		close_session(e);
	}
}

/*
 * The answer of a command that waited (AUTH step, policy verdict) has
 * gone out: check the error limit, refuse a command that was pipelined
 * behind it where that is not allowed, else go on with the input held
 * meanwhile.
 */
static void resume_after_wait(struct smtp_engine *e)
{
	hard_error_check(e);
	if (e->state == ST_CLOSED)
		return;
	if (e->pipe_cmd[0] != '\0') {
		sync_error(e, e->pipe_cmd);
		e->pipe_cmd[0] = '\0';
		return;
	}
	process_held(e);
}

void smtp_engine_auth_done(struct smtp_engine *e, enum smtp_auth_status st,
		const char *data, size_t len)
{
	if (e->state != ST_AUTH_WAIT)
		return;
	struct buf challenge = BUF_INIT;
	buf_add(&challenge, data ? data : "", data ? len : 0);
	e->state = ST_CMD;
	/* A backend that says "later" twice is broken: do not wait forever. */
	auth_result(e, st == SMTP_AUTH_PENDING ? SMTP_AUTH_TEMPFAIL : st, &challenge);
	buf_free(&challenge);
	resume_after_wait(e);
}

void smtp_engine_policy_done(struct smtp_engine *e, enum smtp_verdict v, const char *text)
{
	if (e->state != ST_POLICY_WAIT)
		return;
	e->state = ST_CMD;
	if (v == SMTP_PENDING) {
		/* A driver that says "later" twice is broken: do not wait forever. */
		v = SMTP_REJECT;
		text = "451 4.3.0 Error: try again later";
	}
	switch (e->pend) {
	case PEND_HELO:
		helo_decided(e, v, text);
		break;
	case PEND_MAIL:
		mail_decided(e, v, text);
		break;
	case PEND_RCPT:
		rcpt_decided(e, v, text);
		break;
	case PEND_NONE:
		break;
	}
	resume_after_wait(e);
}

static void cmd_auth(struct smtp_engine *e, const char *arg)
{
	char mech[32];
	struct buf data = BUF_INIT, challenge = BUF_INIT;

	if (!auth_offered(e) || e->ops->auth_new == NULL) {
		reply(e, "503 5.5.1 Error: authentication not enabled");
		return;
	}
	if (e->helo == NULL) {
		reply(e, "503 5.5.1 Error: send HELO/EHLO first");
		return;
	}
	if (e->sasl_user != NULL) {
		reply(e, "503 5.5.1 Error: already authenticated");
		return;
	}
	if (e->in_mail) {
		reply(e, "503 5.5.1 Error: MAIL transaction in progress");
		return;
	}
	size_t n = strcspn(arg, " ");
	if (n == 0 || n >= sizeof(mech)) {
		reply(e, "501 5.5.4 Syntax: AUTH mechanism");
		return;
	}
	memcpy(mech, arg, n);
	mech[n] = '\0';
	for (char *p = mech; *p; p++)
		*p = (char)toupper((unsigned char)*p);
	const char *initial = arg + n;
	while (*initial == ' ')
		initial++;
	refresh_info(e);
	e->auth = e->ops->auth_new(e->ctx, mech, &e->si);
	if (e->auth == NULL) {
		reply(e, "504 5.5.4 Unsupported authentication mechanism");
		return;
	}
	set_str(&e->sasl_method, mech);
	const char *dp = NULL;
	if (*initial != '\0') {
		if (strcmp(initial, "=") != 0
		    && !base64_decode(initial, strlen(initial), &data)) {
			reply(e, "501 5.5.2 Cannot decode response");
			auth_reset(e);
			set_str(&e->sasl_method, NULL);
			goto out;
		}
		dp = data.data ? data.data : "";
	}
	auth_result(e, e->ops->auth_step(e->auth, dp, data.len, &challenge), &challenge);
out:
	buf_free(&data);
	buf_free(&challenge);
}

static void auth_response(struct smtp_engine *e, const char *line)
{
	struct buf data = BUF_INIT, challenge = BUF_INIT;
	if (strcmp(line, "*") == 0) {
		reply(e, "501 5.7.0 Authentication aborted");
		e->state = ST_CMD;
		auth_reset(e);
		set_str(&e->sasl_method, NULL);
		return;
	}
	if (!base64_decode(line, strlen(line), &data)) {
		reply(e, "501 5.5.2 Cannot decode response");
		e->state = ST_CMD;
		auth_reset(e);
		set_str(&e->sasl_method, NULL);
		buf_free(&data);
		return;
	}
	auth_result(e, e->ops->auth_step(e->auth, data.data ? data.data : "", data.len, &challenge),
			&challenge);
	buf_free(&data);
	buf_free(&challenge);
}

/* Commands after which a client must wait for the reply (RFC 2920 3.1). */
static bool ends_group(enum smtp_verb v)
{
	switch (v) {
	case SMTP_VERB_HELO:
	case SMTP_VERB_EHLO:
	case SMTP_VERB_DATA:
	case SMTP_VERB_VRFY:
	case SMTP_VERB_EXPN:
	case SMTP_VERB_NOOP:
	case SMTP_VERB_AUTH:
	case SMTP_VERB_STARTTLS:
		return true;
	default:
		return false;
	}
}

static void dispatch(struct smtp_engine *e, const struct smtp_cmd *cmd)
{
	bool junk = false;	/* NOOP, RSET, VRFY, HELP, EXPN, ETRN */
	e->commands++;
	strlcpy(e->last_cmd, cmd->verb == SMTP_VERB_UNKNOWN ? "UNKNOWN" : cmd->name, sizeof(e->last_cmd));
	if (e->access_denied && cmd->verb != SMTP_VERB_QUIT) {
		reply(e, "503 5.7.0 Error: access denied for %s[%s]", e->client_name, e->client_addr);
		goto limits;
	}
	switch (cmd->verb) {
	case SMTP_VERB_HELO:
		cmd_helo(e, cmd->arg, false);
		break;
	case SMTP_VERB_EHLO:
		cmd_helo(e, cmd->arg, true);
		break;
	case SMTP_VERB_MAIL:
		cmd_mail(e, cmd->arg);
		break;
	case SMTP_VERB_RCPT:
		cmd_rcpt(e, cmd->arg);
		break;
	case SMTP_VERB_DATA:
		cmd_data(e, cmd->arg);
		break;
	case SMTP_VERB_BDAT:
		cmd_bdat(e, cmd->arg);
		break;
	case SMTP_VERB_RSET:
		if (*cmd->arg != '\0') {
			reply(e, "501 5.5.4 Syntax: RSET");
			break;
		}
		reset_transaction(e);
		junk = true;
		reply(e, "250 2.0.0 Ok");
		break;
	case SMTP_VERB_NOOP:
		junk = true;
		reply(e, "250 2.0.0 Ok");
		break;
	case SMTP_VERB_QUIT:
		reply(e, "221 2.0.0 Bye");
		close_session(e);
		break;
	case SMTP_VERB_VRFY:
		junk = true;
		cmd_vrfy(e, cmd->arg);
		break;
	case SMTP_VERB_HELP:
		junk = true;
		reply(e, "214 2.0.0 Commands: HELO EHLO MAIL RCPT DATA%s RSET NOOP QUIT%s HELP%s%s",
				e->cfg->chunking ? " BDAT" : "", e->cfg->vrfy_enabled ? " VRFY" : "",
				e->cfg->starttls ? " STARTTLS" : "", auth_offered(e) ? " AUTH" : "");
		break;
	case SMTP_VERB_STARTTLS:
		cmd_starttls(e, cmd->arg);
		break;
	case SMTP_VERB_AUTH:
		cmd_auth(e, cmd->arg);
		break;
	case SMTP_VERB_EXPN:
	case SMTP_VERB_ETRN:
		junk = true;
		reply(e, "502 5.5.1 Error: command not implemented");
		break;
	case SMTP_VERB_HTTP:
		reply(e, "521 5.5.1 Error: this is an SMTP server, not a web server");
		engine_log(e, true, "non-SMTP command from %s[%s]: %s", e->client_name,
				e->client_addr, cmd->name);
		close_session(e);
		break;
	case SMTP_VERB_UNKNOWN:
		reply(e, "502 5.5.2 Error: command not recognized");
		break;
	}
limits:
	/*
	 * Postfix's smtpd_junk_command_limit: beyond it, each junk command
	 * counts as an error (until mail is delivered).
	 */
	if (junk && e->cfg->junk_command_limit && e->junk++ >= e->cfg->junk_command_limit)
		e->errors++;
	/* A command answered later is checked after its answer (smtp_engine_policy_done). */
	if (e->state != ST_POLICY_WAIT)
		hard_error_check(e);
}

static void bare_newline(struct smtp_engine *e, const char *what)
{
	reply(e, "521 5.5.2 %s Error: bare <%s> received", e->cfg->myhostname, what);
	engine_log(e, true, "disconnect: bare <%s> received from %s[%s] after %s", what,
			e->client_name, e->client_addr, e->last_cmd);
	close_session(e);
}

/* One complete command line (or SASL response) of n bytes incl. the LF. */
static void handle_line(struct smtp_engine *e, const char *p, size_t n, bool more)
{
	char line[LINE_MAX_HARD + 1];
	size_t len = n - 1;	/* without the LF */
	unsigned limit = e->cfg->line_limit;
	if (limit < 512)
		limit = 512;
	if (limit > LINE_MAX_HARD)
		limit = LINE_MAX_HARD;

	if (len == 0 || p[len - 1] != '\r') {
		if (e->cfg->forbid_bare_newline && !e->cfg->lf_line_ends) {
			bare_newline(e, "LF");
			return;
		}
	} else {
		len--;
	}
	if (n > limit) {
		reply(e, "500 5.5.2 Error: line too long");
		return;
	}
	if (memchr(p, '\r', len) != NULL && e->cfg->forbid_bare_newline) {
		bare_newline(e, "CR");
		return;
	}
	memcpy(line, p, len);
	line[len] = '\0';
	if (strlen(line) != len) {
		reply(e, "500 5.5.2 Error: NUL character in command");
		return;
	}
	/* Trailing white space is noise some clients add. */
	while (len > 0 && (line[len - 1] == ' ' || line[len - 1] == '\t'))
		line[--len] = '\0';

	if (e->state == ST_AUTH) {
		auth_response(e, line);
		return;
	}
	if (len == 0) {
		reply(e, "500 5.5.2 Error: bad syntax");
		return;
	}
	struct smtp_cmd cmd;
	smtp_cmd_parse(line, &cmd);
	dispatch(e, &cmd);
	if (!more || e->state == ST_CLOSED || e->state == ST_BDAT || !e->cfg->forbid_unauth_pipelining)
		return;
	if (e->state == ST_TLS)
		return;		/* the caller discards the rest */
	if (!e->pipelining_offered || ends_group(cmd.verb)) {
		const char *name = cmd.verb == SMTP_VERB_UNKNOWN ? "UNKNOWN" : cmd.name;
		if (e->state == ST_AUTH_WAIT || e->state == ST_POLICY_WAIT)
			strlcpy(e->pipe_cmd, name, sizeof(e->pipe_cmd));
		else
			sync_error(e, name);
	}
}

static void sync_error(struct smtp_engine *e, const char *cmd_name)
{
	reply(e, "554 5.5.0 Error: SMTP protocol synchronization");
	engine_log(e, false, "improper command pipelining after %s from %s[%s]", cmd_name,
			e->client_name, e->client_addr);
	close_session(e);
}

/* Message content after DATA; returns the bytes consumed. */
static size_t data_input(struct smtp_engine *e, const char *p, size_t len)
{
	char stage[8192];
	size_t sn = 0, i;
	const bool lf_ends = e->cfg->lf_line_ends;
	const bool forbid = e->cfg->forbid_bare_newline && !lf_ends;
	/* Where a bare LF leads: a real line start only in sendmail -bs. */
	const enum data_state after_lf = lf_ends ? DS_BOL : DS_BOL_BARE;
	const long long limit = e->cfg->message_size_limit;

#define FLUSH() do { \
	if (sn > 0 && !e->too_big && !e->msg_failed) { \
		e->msg_size += (long long)sn; \
		if (limit > 0 && e->msg_size > limit) \
			e->too_big = true; \
		else if (e->ops->msg_write(e->msg, stage, sn) < 0) \
			e->msg_failed = true; \
	} \
	sn = 0; \
} while (0)
#define EMIT(c) do { if (sn == sizeof(stage)) FLUSH(); stage[sn++] = (char)(c); } while (0)

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];
		switch (e->ds) {
		case DS_MID: {
			size_t j = i;
			while (j < len && p[j] != '\r' && p[j] != '\n')
				j++;
			while (i < j) {
				size_t room = sizeof(stage) - sn;
				size_t take = j - i < room ? j - i : room;
				memcpy(stage + sn, p + i, take);
				sn += take;
				i += take;
				if (sn == sizeof(stage))
					FLUSH();
			}
			if (i == len)
				goto out;
			c = (unsigned char)p[i];
			if (c == '\r') {
				e->ds = DS_CR;
			} else {
				if (forbid)
					goto bare_lf;
				EMIT('\n');
				e->ds = after_lf;
			}
			break;
		}
		case DS_CR:
			if (c == '\n') {
				EMIT('\n');
				e->ds = DS_BOL;
			} else {
				if (forbid)
					goto bare_cr;
				EMIT('\r');
				e->ds = DS_MID;
				i--;	/* look at c again inside the line */
			}
			break;
		case DS_BOL:
			if (c == '.') {
				e->ds = DS_DOT;
				break;
			}
			/* FALLTHROUGH */
		case DS_BOL_BARE:
			/* After a bare LF a dot is plain text: "\n.\r\n" ends nothing. */
			if (c == '\r') {
				e->ds = DS_CR;
			} else if (c == '\n') {
				if (forbid)
					goto bare_lf;
				EMIT('\n');
				e->ds = after_lf;
			} else {
				EMIT(c);
				e->ds = DS_MID;
			}
			break;
		case DS_DOT:
			if (c == '\r') {
				e->ds = DS_DOT_CR;
			} else if (c == '\n' && lf_ends) {
				FLUSH();
				end_message(e);
				return i + 1;
			} else if (c == '\n') {
				if (forbid)
					goto bare_lf;
				EMIT('\n');
				e->ds = DS_BOL_BARE;
			} else {
				EMIT(c);	/* the leading dot is removed (RFC 5321 4.5.2) */
				e->ds = DS_MID;
			}
			break;
		case DS_DOT_CR:
			if (c == '\n') {
				FLUSH();
				end_message(e);
				return i + 1;
			}
			if (forbid)
				goto bare_cr;
			EMIT('\r');
			e->ds = DS_MID;
			i--;
			break;
		}
	}
out:
	FLUSH();
	return len;
bare_lf:
	bare_newline(e, "LF");
	return len;
bare_cr:
	bare_newline(e, "CR");
	return len;
#undef EMIT
#undef FLUSH
}

/* BDAT chunk bytes: CRLF becomes LF, nothing else changes. */
static size_t bdat_input(struct smtp_engine *e, const char *p, size_t len)
{
	char stage[8192];
	size_t sn = 0;
	size_t n = len < e->bdat_left ? len : (size_t)e->bdat_left;
	const long long limit = e->cfg->message_size_limit;
	bool writing = !e->bdat_failed && e->msg != NULL;

	for (size_t i = 0; i < n && writing; i++) {
		char c = p[i];
		if (e->bdat_cr) {
			e->bdat_cr = false;
			if (c != '\n')
				stage[sn++] = '\r';
		}
		if (c == '\r')
			e->bdat_cr = true;
		else
			stage[sn++] = c;
		if (sn >= sizeof(stage) - 1 || i + 1 == n) {
			if (sn > 0 && !e->too_big && !e->msg_failed) {
				e->msg_size += (long long)sn;
				if (limit > 0 && e->msg_size > limit)
					e->too_big = true;
				else if (e->ops->msg_write(e->msg, stage, sn) < 0)
					e->msg_failed = true;
			}
			sn = 0;
		}
	}
	e->bdat_left -= n;
	e->bdat_total += n;
	if (e->bdat_left == 0)
		bdat_chunk_done(e);
	return n;
}

/*
 * Process input from p; returns how many bytes were used. Stops early at
 * an incomplete line (the caller keeps it) and when the engine waits.
 */
static size_t process(struct smtp_engine *e, const char *p, size_t len)
{
	size_t pos = 0;
	unsigned limit = e->cfg->line_limit < 512 ? 512 : e->cfg->line_limit;
	if (limit > LINE_MAX_HARD)
		limit = LINE_MAX_HARD;

	while (pos < len) {
		switch (e->state) {
		case ST_DATA:
			pos += data_input(e, p + pos, len - pos);
			continue;
		case ST_BDAT:
			pos += bdat_input(e, p + pos, len - pos);
			continue;
		case ST_CMD:
		case ST_AUTH:
			break;
		case ST_TLS:
			/* Plaintext pipelined behind STARTTLS is never executed. */
			engine_log(e, true, "%s[%s]: discarding %zu bytes sent before the TLS handshake",
					e->client_name, e->client_addr, len - pos);
			return len;
		default:
			return pos;
		}
		const char *lf = memchr(p + pos, '\n', len - pos);
		if (e->skip_line) {
			if (lf == NULL)
				return len;
			pos = (size_t)(lf - p) + 1;
			e->skip_line = false;
			reply(e, "500 5.5.2 Error: line too long");
			continue;
		}
		if (lf == NULL) {
			if (len - pos >= limit) {
				/* Over the limit without an end: drop it as it comes. */
				e->skip_line = true;
				return len;
			}
			return pos;
		}
		size_t n = (size_t)(lf - (p + pos)) + 1;
		handle_line(e, p + pos, n, pos + n < len);
		pos += n;
	}
	return pos;
}

static void process_held(struct smtp_engine *e)
{
	while (e->in.len > 0 && (e->state == ST_CMD || e->state == ST_AUTH || e->state == ST_DATA
				 || e->state == ST_BDAT || e->state == ST_TLS)) {
		size_t used = process(e, e->in.data, e->in.len);
		if (used == 0)
			break;
		buf_consume(&e->in, used);
	}
	if (e->in.len == 0 || e->state == ST_CLOSED || e->state == ST_TLS)
		buf_free(&e->in);
}

void smtp_engine_input(struct smtp_engine *e, const char *data, size_t len)
{
	switch (e->state) {
	case ST_CLOSED:
		return;
	case ST_NEW:
	case ST_COMMIT:
	case ST_AUTH_WAIT:
	case ST_POLICY_WAIT:
		buf_add(&e->in, data, len);
		return;
	case ST_TLS:
		process(e, data, len);	/* logs and discards */
		return;
	default:
		break;
	}
	if (e->in.len > 0) {
		buf_add(&e->in, data, len);
		process_held(e);
		return;
	}
	size_t used = process(e, data, len);
	if (used < len && e->state != ST_CLOSED && e->state != ST_TLS)
		buf_add(&e->in, data + used, len - used);
}

void smtp_engine_eof(struct smtp_engine *e)
{
	if (e->state != ST_CLOSED && e->state != ST_NEW)
		engine_log(e, false, "lost connection after %s from %s[%s]", e->last_cmd,
				e->client_name, e->client_addr);
	close_session(e);
}

void smtp_engine_timeout(struct smtp_engine *e)
{
	if (e->state == ST_CLOSED)
		return;
	reply(e, "421 4.4.2 %s Error: timeout exceeded", e->cfg->myhostname);
	engine_log(e, false, "timeout after %s from %s[%s]", e->last_cmd, e->client_name,
			e->client_addr);
	close_session(e);
}

const char *smtp_engine_output(struct smtp_engine *e, size_t *len)
{
	*len = e->out.len;
	return e->out.data;
}

void smtp_engine_output_done(struct smtp_engine *e, size_t n)
{
	if (n >= e->out.len)
		buf_free(&e->out);	/* idle sessions keep no buffer */
	else
		buf_consume(&e->out, n);
}

int smtp_engine_flags(const struct smtp_engine *e)
{
	int f = 0;
	if (e->state == ST_CLOSED)
		f |= SMTP_WANT_CLOSE;
	if (e->state == ST_TLS)
		f |= SMTP_WANT_STARTTLS;
	if (e->state == ST_COMMIT)
		f |= SMTP_WAIT_COMMIT;
	if (e->state == ST_AUTH_WAIT)
		f |= SMTP_WAIT_AUTH;
	if (e->state == ST_POLICY_WAIT)
		f |= SMTP_WAIT_POLICY;
	if (e->state == ST_DATA || e->state == ST_BDAT)
		f |= SMTP_IN_DATA;
	if (e->in_mail)
		f |= SMTP_IN_TRANSACTION;
	return f;
}

unsigned smtp_engine_take_delay(struct smtp_engine *e)
{
	unsigned d = e->delay_ms;
	e->delay_ms = 0;
	return d;
}

const struct smtp_session_info *smtp_engine_info(const struct smtp_engine *e)
{
	return &e->si;
}

void smtp_engine_stats(const struct smtp_engine *e, struct smtp_engine_stats *st)
{
	st->messages = e->messages;
	st->rcpts = e->rcpt_total;
	st->errors = e->errors_total;
	st->commands = e->commands;
}
