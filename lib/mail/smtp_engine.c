/*
 * smtp_engine.c - the ESMTP server state machine (see smtp_engine.h):
 * the session, its replies and log lines, and the input (command lines,
 * DATA and BDAT content); the commands are in smtp_engine_cmd.c.
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
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "mail/smtp_cmd.h"
#include "mail/smtp_engine.h"
#include "mail/smtp_engine_int.h"
#include "util/mem.h"

static void pending_clear(struct smtp_engine *e);

void se_engine_log(struct smtp_engine *e, bool warning, const char *fmt, ...)
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

void se_set_str(char **dst, const char *src)
{
	free(*dst);
	*dst = src ? xstrdup(src) : NULL;
}

void se_refresh_info(struct smtp_engine *e)
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
void se_printable(struct buf *out, const char *s, size_t max)
{
	for (size_t i = 0; i < max && s[i] != '\0'; i++) {
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
	e->cmd_open = -1;
	e->client_name = xstrdup(client_name ? client_name : "unknown");
	e->client_addr = xstrdup(client_addr ? client_addr : "");
	strlcpy(e->last_cmd, "CONNECT", sizeof(e->last_cmd));
	se_refresh_info(e);
	return e;
}

/* The driver learns that the transaction it accepted will not reach msg_finish. */
void se_txn_end(struct smtp_engine *e)
{
	if (!e->txn_live)
		return;
	e->txn_live = false;
	if (e->ops->txn_end != NULL)
		e->ops->txn_end(e->ctx);
}

void se_reset_transaction(struct smtp_engine *e)
{
	if (e->msg != NULL && e->ops->msg_abort != NULL)
		e->ops->msg_abort(e->msg);
	e->msg = NULL;
	se_txn_end(e);
	e->in_mail = false;
	se_set_str(&e->sender, NULL);
	se_set_str(&e->envid, NULL);
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
	se_set_str(&e->bdat_error, NULL);
	e->ret = SMTP_RET_NONE;
	e->body = SMTP_BODY_NONE;
	e->smtputf8 = false;
}

void se_auth_reset(struct smtp_engine *e)
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
	se_reset_transaction(e);
	se_auth_reset(e);
	free(e->client_name);
	free(e->client_addr);
	free(e->helo);
	free(e->tls_version);
	free(e->tls_cipher);
	free(e->sasl_user);
	free(e->sasl_method);
	buf_free(&e->in);
	buf_free(&e->out);
	buf_free(&e->cmd_words);
	free(e);
}

void smtp_engine_set_tls(struct smtp_engine *e, const char *version, const char *cipher)
{
	e->si.tls = true;
	se_set_str(&e->tls_version, version);
	se_set_str(&e->tls_cipher, cipher);
	se_refresh_info(e);
}

/* Forget a pending policy verdict (the session ended, or it was given). */
static void pending_clear(struct smtp_engine *e)
{
	if (e->pend == PEND_HELO) {
		/* e->helo holds the name being judged: put the old one back. */
		free(e->helo);
		e->helo = e->pend_old_helo;
		e->si.esmtp = e->pend_old_esmtp;
		se_refresh_info(e);
	}
	e->pend_old_helo = NULL;
	se_cmd_words_clear(e);
	free(e->pend_rcpt.addr);
	free(e->pend_rcpt.orcpt);
	e->pend_rcpt = (struct smtp_rcpt){0};
	e->pend = PEND_NONE;
}

void se_close_session(struct smtp_engine *e)
{
	pending_clear(e);
	se_reset_transaction(e);
	se_auth_reset(e);
	e->state = ST_CLOSED;
	buf_free(&e->in);
}

void se_reply_done(struct smtp_engine *e, char c);

/*
 * Queue one reply line, or a whole multi-line reply (lines separated by
 * CRLF), text without the final CRLF; count errors once the reply is
 * complete (its last line has no "-" after the code).
 */
void se_reply_line(struct smtp_engine *e, const char *text)
{
	const char *last = text, *eol;
	buf_adds(&e->out, text);
	buf_add(&e->out, "\r\n", 2);
	while ((eol = strstr(last, "\r\n")) != NULL)
		last = eol + 2;
	if (strlen(last) < 4 || last[3] != '-')
		se_reply_done(e, text[0]);
}

/* A whole se_reply (of class c, '2'...'5') was queued. */
void se_reply_done(struct smtp_engine *e, char c)
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
	/* The answer of the open command; AUTH's 334 challenges are steps, not answers. */
	if (e->cmd_open >= 0 && !(c == '3' && e->cmd_open == SMTP_VERB_AUTH)) {
		if (c == '2' || c == '3')
			e->cmd_ok[e->cmd_open]++;
		e->cmd_open = -1;
	}
}

void se_reply(struct smtp_engine *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void se_reply(struct smtp_engine *e, const char *fmt, ...)
{
	struct buf line = BUF_INIT;
	va_list ap;
	/*
	 * Most replies are constant ("250 2.1.0 Ok") or text and one %s at
	 * the end ("250 2.0.0 Ok: queued as %s"): those without vsnprintf,
	 * which cost about a thousand instructions a reply.
	 */
	const char *pct = strchr(fmt, '%');
	if (pct == NULL) {
		se_reply_line(e, fmt);
		return;
	}
	va_start(ap, fmt);
	if (strcmp(pct, "%s") == 0) {
		const char *arg = va_arg(ap, const char *);
		buf_add(&line, fmt, (size_t)(pct - fmt));
		buf_adds(&line, arg != NULL ? arg : "(null)");
	} else {
		buf_vprintf(&line, fmt, ap);
	}
	va_end(ap);
	se_reply_line(e, buf_str(&line));
	buf_free(&line);
}

/*
 * Is t a whole reply of one of the classes ("45": 4xx or 5xx)? One line
 * "NNN text", or several separated by CRLF, each with the same code,
 * "-" after it on all but the last; no other CR or LF.
 */
bool se_reply_valid(const char *t, const char *classes)
{
	if (t == NULL || t[0] == '\0' || strchr(classes, t[0]) == NULL)
		return false;
	for (const char *p = t;;) {
		const char *eol = strstr(p, "\r\n");
		size_t n = eol != NULL ? (size_t)(eol - p) : strlen(p);
		if (n < 4 || !isdigit((unsigned char)p[1]) || !isdigit((unsigned char)p[2])
		    || memcmp(p, t, 3) != 0 || p[3] != (eol != NULL ? '-' : ' '))
			return false;
		for (size_t i = 0; i < n; i++)
			if (p[i] == '\r' || p[i] == '\n')
				return false;
		if (eol == NULL)
			return true;
		p = eol + 2;
	}
}

/* A callback's refusal, checked: a whole 4xx/5xx reply, else the fallback. */
const char *se_checked_text(const char *t, const char *fallback)
{
	return se_reply_valid(t, "45") ? t : fallback;
}

const char *se_checked_reply(struct buf *r, const char *fallback)
{
	return se_checked_text(buf_str(r), fallback);
}

void se_reply_from(struct smtp_engine *e, struct buf *r, const char *fallback)
{
	se_reply_line(e, se_checked_reply(r, fallback));
}

/*
 * Postfix's reject line: from=, to= and helo= only when known, so that
 * a CONNECT or HELO rejection does not claim an empty sender.
 */
void se_log_reject(struct smtp_engine *e, const char *what, const char *reply_text,
		const char *rcpt)
{
	struct buf line = BUF_INIT;
	buf_printf(&line, "NOQUEUE: reject: %s from %s[%s]: ", what, e->client_name, e->client_addr);
	se_printable(&line, reply_text, 500);
	buf_adds(&line, ";");
	if (e->sender != NULL) {
		buf_adds(&line, " from=<");
		se_printable(&line, e->sender, 300);
		buf_adds(&line, ">");
	}
	if (rcpt != NULL) {
		buf_adds(&line, " to=<");
		se_printable(&line, rcpt, 300);
		buf_adds(&line, ">");
	}
	buf_printf(&line, " proto=%s", e->si.esmtp ? "ESMTP" : "SMTP");
	if (e->helo != NULL) {
		buf_adds(&line, " helo=<");
		se_printable(&line, e->helo, 100);
		buf_adds(&line, ">");
	}
	se_engine_log(e, false, "%s", buf_str(&line));
	buf_free(&line);
}

/* The verdict on the connection: greet, or refuse instead of the greeting. */
void se_connect_decided(struct smtp_engine *e, enum smtp_verdict v, const char *text)
{
	e->pend = PEND_NONE;
	if (v == SMTP_ACCEPT) {
		se_reply(e, "220 %s", e->cfg->banner ? e->cfg->banner : e->cfg->myhostname);
		return;
	}
	/*
	 * Refused instead of the greeting. As Postfix (and RFC 5321 section
	 * 3.1 for a 554 greeting) the session stays and answers 503 to all
	 * but QUIT; a 421 closes it.
	 */
	se_reply_line(e, se_checked_text(text, "554 5.7.1 Access denied"));
	se_log_reject(e, "CONNECT", text ? text : "", NULL);
	if (v == SMTP_DISCONNECT)
		se_close_session(e);
	else
		e->access_denied = true;
}

void smtp_engine_start(struct smtp_engine *e)
{
	struct buf r = BUF_INIT;
	if (e->state != ST_NEW)
		return;
	e->state = ST_CMD;
	se_refresh_info(e);
	enum smtp_verdict v = e->ops->check_connect != NULL
			      ? e->ops->check_connect(e->ctx, &e->si, &r) : SMTP_ACCEPT;
	if (v == SMTP_PENDING) {
		/* Input that arrives meanwhile waits behind the greeting. */
		e->pend = PEND_CONNECT;
		e->state = ST_POLICY_WAIT;
		buf_free(&r);
		return;
	}
	se_connect_decided(e, v, buf_str(&r));
	buf_free(&r);
	se_process_held(e);
}

void smtp_engine_refuse(struct smtp_engine *e, const char *reply_line_text)
{
	e->state = ST_CMD;
	se_reply_line(e, reply_line_text);
	se_close_session(e);
}

const char *se_protocol(const struct smtp_engine *e)
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

const char *se_auth_mechanisms(const struct smtp_engine *e)
{
	const char *m = e->si.tls && e->cfg->auth_mechanisms_tls ? e->cfg->auth_mechanisms_tls
		: e->cfg->auth_mechanisms;
	return m ? m : "";
}

bool se_auth_offered(const struct smtp_engine *e)
{
	return e->cfg->auth && (e->si.tls || !e->cfg->tls_auth_only) && *se_auth_mechanisms(e) != '\0';
}

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

static void dispatch(struct smtp_engine *e, const struct smtp_cmd *cmd, const char *line)
{
	bool junk = false;	/* NOOP, RSET, VRFY, HELP, EXPN, ETRN */
	e->commands++;
	e->cmd_total[cmd->verb]++;
	e->cmd_open = (int)cmd->verb;
	strlcpy(e->last_cmd, cmd->verb == SMTP_VERB_UNKNOWN ? "UNKNOWN" : cmd->name, sizeof(e->last_cmd));
	if (e->access_denied && cmd->verb != SMTP_VERB_QUIT) {
		se_reply(e, "503 5.7.0 Error: access denied for %s[%s]", e->client_name, e->client_addr);
		goto limits;
	}
	switch (cmd->verb) {
	case SMTP_VERB_HELO:
		se_cmd_helo(e, cmd->arg, false);
		break;
	case SMTP_VERB_EHLO:
		se_cmd_helo(e, cmd->arg, true);
		break;
	case SMTP_VERB_MAIL:
		se_cmd_mail(e, cmd->arg);
		break;
	case SMTP_VERB_RCPT:
		se_cmd_rcpt(e, cmd->arg);
		break;
	case SMTP_VERB_DATA:
		se_cmd_data(e, cmd->arg);
		break;
	case SMTP_VERB_BDAT:
		se_cmd_bdat(e, cmd->arg);
		break;
	case SMTP_VERB_RSET:
		if (*cmd->arg != '\0') {
			se_reply(e, "501 5.5.4 Syntax: RSET");
			break;
		}
		se_reset_transaction(e);
		junk = true;
		se_reply(e, "250 2.0.0 Ok");
		break;
	case SMTP_VERB_NOOP:
		junk = true;
		se_reply(e, "250 2.0.0 Ok");
		break;
	case SMTP_VERB_QUIT:
		se_reply(e, "221 2.0.0 Bye");
		se_close_session(e);
		break;
	case SMTP_VERB_VRFY:
		junk = true;
		se_cmd_vrfy(e, cmd->arg);
		break;
	case SMTP_VERB_HELP:
		junk = true;
		se_reply(e, "214 2.0.0 Commands: HELO EHLO MAIL RCPT DATA%s RSET NOOP QUIT%s HELP%s%s",
				e->cfg->chunking ? " BDAT" : "", e->cfg->vrfy_enabled ? " VRFY" : "",
				e->cfg->starttls ? " STARTTLS" : "", se_auth_offered(e) ? " AUTH" : "");
		break;
	case SMTP_VERB_STARTTLS:
		se_cmd_starttls(e, cmd->arg);
		break;
	case SMTP_VERB_AUTH:
		se_cmd_auth(e, cmd->arg);
		break;
	case SMTP_VERB_EXPN:
	case SMTP_VERB_ETRN:
		junk = true;
		se_reply(e, "502 5.5.1 Error: command not implemented");
		break;
	case SMTP_VERB_HTTP:
		se_reply(e, "521 5.5.1 Error: this is an SMTP server, not a web server");
		se_engine_log(e, true, "non-SMTP command from %s[%s]: %s", e->client_name,
				e->client_addr, cmd->name);
		se_close_session(e);
		break;
	case SMTP_VERB_UNKNOWN:
		se_cmd_unknown(e, line);
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
		se_hard_error_check(e);
}

void se_bare_newline(struct smtp_engine *e, const char *what)
{
	se_reply(e, "521 5.5.2 %s Error: bare <%s> received", e->cfg->myhostname, what);
	se_engine_log(e, true, "disconnect: bare <%s> received from %s[%s] after %s", what,
			e->client_name, e->client_addr, e->last_cmd);
	se_close_session(e);
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
			se_bare_newline(e, "LF");
			return;
		}
	} else {
		len--;
	}
	if (n > limit) {
		se_reply(e, "500 5.5.2 Error: line too long");
		return;
	}
	if (memchr(p, '\r', len) != NULL && e->cfg->forbid_bare_newline) {
		se_bare_newline(e, "CR");
		return;
	}
	memcpy(line, p, len);
	line[len] = '\0';
	if (strlen(line) != len) {
		se_reply(e, "500 5.5.2 Error: NUL character in command");
		return;
	}
	/* Trailing white space is noise some clients add. */
	while (len > 0 && (line[len - 1] == ' ' || line[len - 1] == '\t'))
		line[--len] = '\0';

	if (e->state == ST_AUTH) {
		se_auth_response(e, line);
		return;
	}
	if (len == 0) {
		se_reply(e, "500 5.5.2 Error: bad syntax");
		return;
	}
	struct smtp_cmd cmd;
	smtp_cmd_parse(line, &cmd);
	dispatch(e, &cmd, line);
	/* A BDAT chunk follows its command (also one whose verdict is pending). */
	bool chunk = e->state == ST_BDAT || (e->state == ST_POLICY_WAIT && e->pend == PEND_BDAT && e->bdat_left > 0);
	if (!more || e->state == ST_CLOSED || chunk || !e->cfg->forbid_unauth_pipelining)
		return;
	if (e->state == ST_TLS)
		return;		/* the caller discards the rest */
	if (!e->pipelining_offered || ends_group(cmd.verb)) {
		const char *name = cmd.verb == SMTP_VERB_UNKNOWN ? "UNKNOWN" : cmd.name;
		if (e->state == ST_AUTH_WAIT || e->state == ST_POLICY_WAIT)
			strlcpy(e->pipe_cmd, name, sizeof(e->pipe_cmd));
		else
			se_sync_error(e, name);
	}
}

void se_sync_error(struct smtp_engine *e, const char *cmd_name)
{
	se_reply(e, "554 5.5.0 Error: SMTP protocol synchronization");
	se_engine_log(e, false, "improper command pipelining after %s from %s[%s]", cmd_name,
			e->client_name, e->client_addr);
	se_close_session(e);
}

/*
 * How many bytes of p[0, n) come before its first CR or LF (n if none).
 * 32 bytes at a time with SSE2 (every x86-64 has it), the rest byte by
 * byte: one pass over a line of DATA, where a memchr for its CR and
 * another for a bare LF before it were two passes and two calls a line
 * (a 100 KiB message has some 1,300 lines).
 */
size_t se_line_text(const char *p, size_t n)
{
#ifdef __SSE2__
	size_t i = 0;
	const __m128i cr = _mm_set1_epi8('\r'), lf = _mm_set1_epi8('\n');

	for (; i + 32 <= n; i += 32) {
		__m128i a = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
		__m128i b = _mm_loadu_si128((const __m128i *)(const void *)(p + i + 16));
		__m128i ma = _mm_or_si128(_mm_cmpeq_epi8(a, cr), _mm_cmpeq_epi8(a, lf));
		__m128i mb = _mm_or_si128(_mm_cmpeq_epi8(b, cr), _mm_cmpeq_epi8(b, lf));
		unsigned bits = (unsigned)_mm_movemask_epi8(ma) | (unsigned)_mm_movemask_epi8(mb) << 16;
		if (bits != 0)
			return i + (size_t)__builtin_ctz(bits);
	}
	while (i < n && p[i] != '\r' && p[i] != '\n')
		i++;
	return i;
#else
	/* Elsewhere the C library's vectorised memchr, twice. */
	const char *cr = memchr(p, '\r', n);
	size_t j = cr != NULL ? (size_t)(cr - p) : n;
	const char *lf = memchr(p, '\n', j);
	return lf != NULL ? (size_t)(lf - p) : j;
#endif
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
			/* The rest of the line in one scan, not byte by byte. */
			size_t j = i + se_line_text(p + i, len - i);
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
				/*
				 * The usual line end, CRLF, followed by a line that
				 * does not start with a dot: taken here in one step
				 * instead of byte by byte through DS_CR and DS_BOL
				 * (three turns of the loop a line); DS_BOL treats
				 * any byte but a dot as DS_MID does (a CR or LF
				 * there too). A dot at the next line's start, or a
				 * line end split between reads, go the long way.
				 */
				if (i + 2 < len && p[i + 1] == '\n' && p[i + 2] != '.') {
					EMIT('\n');
					i++;	/* the loop's i++ steps onto the next line */
					break;
				}
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
				se_end_message(e);
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
				se_end_message(e);
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
	se_bare_newline(e, "LF");
	return len;
bare_cr:
	se_bare_newline(e, "CR");
	return len;
#undef EMIT
#undef FLUSH
}

/*
 * BDAT chunk bytes: CRLF becomes LF. Bare CR and bare LF get what DATA
 * gives them (refused with smtpd_forbid_bare_newline, else kept), so a
 * chunk cannot carry what DATA would refuse. A CR ending one chunk and
 * the LF starting the next make one CRLF: the pending CR is e->bdat_cr.
 * Chunks that are being discarded are checked too: the test is on the
 * client's byte stream, not on what is kept of it.
 */
static size_t bdat_input(struct smtp_engine *e, const char *p, size_t len)
{
	char stage[8192];
	size_t sn = 0;
	size_t n = len < e->bdat_left ? len : (size_t)e->bdat_left;
	const long long limit = e->cfg->message_size_limit;
	const bool forbid = e->cfg->forbid_bare_newline && !e->cfg->lf_line_ends;
	bool writing = !e->bdat_failed && e->msg != NULL;

	for (size_t i = 0; i < n; i++) {
		char c = p[i];
		if (e->bdat_cr) {
			e->bdat_cr = false;
			if (c != '\n') {
				if (forbid) {
					se_bare_newline(e, "CR");
					return len;
				}
				stage[sn++] = '\r';
			}
		} else if (c == '\n' && forbid) {
			se_bare_newline(e, "LF");
			return len;
		}
		if (c == '\r')
			e->bdat_cr = true;
		else
			stage[sn++] = c;
		if (sn >= sizeof(stage) - 1 || i + 1 == n) {
			if (writing && sn > 0 && !e->too_big && !e->msg_failed) {
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
		se_bdat_chunk_done(e);
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
			se_engine_log(e, true, "%s[%s]: discarding %zu bytes sent before the TLS handshake",
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
			se_reply(e, "500 5.5.2 Error: line too long");
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

void se_process_held(struct smtp_engine *e)
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
		se_process_held(e);
		return;
	}
	size_t used = process(e, data, len);
	if (used < len && e->state != ST_CLOSED && e->state != ST_TLS)
		buf_add(&e->in, data + used, len - used);
}

void smtp_engine_eof(struct smtp_engine *e)
{
	if (e->state != ST_CLOSED && e->state != ST_NEW)
		se_engine_log(e, false, "lost connection after %s from %s[%s]", e->last_cmd,
				e->client_name, e->client_addr);
	se_close_session(e);
}

/*
 * A time limit ran out: 421, then close. In message content the log line
 * says how much arrived, as Postfix's "timeout after DATA (N bytes)",
 * so that a trickling client shows in the log for what it is.
 */
static void time_out(struct smtp_engine *e, const char *reply, const char *what)
{
	if (e->state == ST_CLOSED)
		return;
	char bytes[40] = "";
	if (e->state == ST_DATA || e->state == ST_BDAT || (e->in_mail && e->bdat_used))
		snprintf(bytes, sizeof(bytes), " (%llu bytes)", e->bdat_used ? e->bdat_total
			 : (unsigned long long)e->msg_size);
	se_reply(e, "421 4.4.2 %s Error: %s", e->cfg->myhostname, reply);
	se_engine_log(e, false, "%s after %s%s from %s[%s]", what, e->last_cmd, bytes, e->client_name,
			e->client_addr);
	se_close_session(e);
}

void smtp_engine_timeout(struct smtp_engine *e)
{
	time_out(e, "timeout exceeded", "timeout");
}

void smtp_engine_session_limit(struct smtp_engine *e)
{
	time_out(e, "session time limit exceeded", "session time limit exceeded");
}

bool smtp_engine_partial_line(const struct smtp_engine *e)
{
	return (e->state == ST_CMD || e->state == ST_AUTH) && (e->in.len > 0 || e->skip_line);
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
	if (e->state == ST_DATA || e->state == ST_BDAT || (e->in_mail && e->bdat_used))
		f |= SMTP_IN_CONTENT;
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

/*
 * One "name=ok" or "name=ok/total" of the disconnect line, appended
 * without printf (the line is written for every session; six formatted
 * pieces cost more than the rest of its making).
 */
static void add_count(struct buf *out, const char *sep, const char *name, unsigned ok,
		      unsigned total, bool show_total)
{
	buf_adds(out, sep);
	buf_adds(out, name);
	buf_addc(out, '=');
	buf_add_dec(out, ok, 0);
	if (show_total) {
		buf_addc(out, '/');
		buf_add_dec(out, total, 0);
	}
}

void smtp_engine_command_counts(const struct smtp_engine *e, struct buf *out)
{
	/* Postfix's command table order; what it does not know is "unknown". */
	static const struct {
		enum smtp_verb verb;
		const char *name;
	} order[] = {
		{SMTP_VERB_HELO, "helo"}, {SMTP_VERB_EHLO, "ehlo"}, {SMTP_VERB_STARTTLS, "starttls"},
		{SMTP_VERB_AUTH, "auth"}, {SMTP_VERB_MAIL, "mail"}, {SMTP_VERB_RCPT, "rcpt"},
		{SMTP_VERB_DATA, "data"}, {SMTP_VERB_BDAT, "bdat"}, {SMTP_VERB_RSET, "rset"},
		{SMTP_VERB_NOOP, "noop"}, {SMTP_VERB_VRFY, "vrfy"}, {SMTP_VERB_ETRN, "etrn"},
		{SMTP_VERB_QUIT, "quit"},
	};
	unsigned ok = 0, total = 0, unk_ok = 0, unk_total = 0;
	const char *sep = "";
	for (size_t i = 0; i <= SMTP_VERB_HTTP; i++) {
		ok += e->cmd_ok[i];
		total += e->cmd_total[i];
	}
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		unsigned o = e->cmd_ok[order[i].verb], t = e->cmd_total[order[i].verb];
		unk_ok += o;
		unk_total += t;
		if (t == 0)
			continue;
		add_count(out, sep, order[i].name, o, t, o != t);
		sep = " ";
	}
	unk_ok = ok - unk_ok;
	unk_total = total - unk_total;
	if (unk_total > 0) {
		add_count(out, sep, "unknown", unk_ok, unk_total, unk_ok != unk_total);
		sep = " ";
	}
	add_count(out, sep, "commands", ok, total, ok != total || total == 0);	/* Postfix: "commands=0/0" */
}
