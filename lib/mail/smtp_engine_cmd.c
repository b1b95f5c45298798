/*
 * smtp_engine_cmd.c - the commands of the ESMTP server state machine:
 * HELO/EHLO, MAIL, RCPT, DATA, BDAT, VRFY, STARTTLS and AUTH, and the
 * answers that come later (policy verdicts, AUTH steps, commits, TLS).
 * The session, its replies and the input are in smtp_engine.c.
 *
 * Mail layer. Runs inside smtpd (as mail_owner) and sendmail -bs (as
 * the caller); everything it parses comes from the network.
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
#include "mail/smtp_engine_int.h"
#include "util/base64.h"
#include "util/mem.h"
#include "util/utf8.h"


static void helo_accept(struct smtp_engine *e, const char *arg, bool esmtp);

/* MAIL/RCPT as the client wrote them, for the callbacks (si.cmd_addr, si.cmd_args). */
static void cmd_words_set(struct smtp_engine *e, const char *arg, const char *keyword)
{
	struct buf path = BUF_INIT;
	se_cmd_words_clear(e);
	smtp_path_raw(arg, keyword, &path, &e->cmd_words);
	e->cmd_addr = buf_steal(&path);
	for (size_t i = 0; i < e->cmd_words.len; i += strlen(e->cmd_words.data + i) + 1)
		e->ncmd_args++;
	e->cmd_args = xreallocarray(NULL, e->ncmd_args + 1, sizeof(*e->cmd_args));
	size_t n = 0;
	for (size_t i = 0; i < e->cmd_words.len; i += strlen(e->cmd_words.data + i) + 1)
		e->cmd_args[n++] = e->cmd_words.data + i;
	e->cmd_args[n] = NULL;
	e->si.cmd_addr = e->cmd_addr;
	e->si.cmd_args = e->cmd_args;
	e->si.ncmd_args = e->ncmd_args;
}

void se_cmd_words_clear(struct smtp_engine *e)
{
	free(e->cmd_addr);
	e->cmd_addr = NULL;
	free(e->cmd_args);
	e->cmd_args = NULL;
	e->ncmd_args = 0;
	buf_free(&e->cmd_words);
	e->si.cmd_addr = NULL;
	e->si.cmd_args = NULL;
	e->si.ncmd_args = 0;
}

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
		se_reply_line(e, se_checked_text(text, "554 5.7.1 Access denied"));
		se_log_reject(e, esmtp ? "EHLO" : "HELO", text ? text : "", NULL);
	}
	char *name = e->helo;
	e->helo = e->pend_old_helo;
	e->si.esmtp = e->pend_old_esmtp;
	e->pend_old_helo = NULL;
	e->pend = PEND_NONE;
	se_refresh_info(e);
	if (v != SMTP_ACCEPT) {
		/* As in Postfix, a refused HELO changes nothing (not even the transaction). */
		free(name);
		if (v == SMTP_DISCONNECT)
			se_close_session(e);
		return;
	}
	helo_accept(e, name, esmtp);
	free(name);
}

void se_cmd_helo(struct smtp_engine *e, const char *arg, bool esmtp)
{
	if (!smtp_valid_helo(arg)) {
		se_reply(e, "501 5.5.4 Syntax: %s hostname", esmtp ? "EHLO" : "HELO");
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
	se_refresh_info(e);
	enum smtp_verdict v = e->ops->check_helo(e->ctx, &e->si, &r);
	if (v == SMTP_PENDING)
		wait_policy(e, PEND_HELO);
	else
		helo_decided(e, v, buf_str(&r));
	buf_free(&r);
}

static void helo_accept(struct smtp_engine *e, const char *arg, bool esmtp)
{
	se_reset_transaction(e);
	se_set_str(&e->helo, arg);
	e->si.esmtp = esmtp;
	se_refresh_info(e);
	if (!esmtp) {
		se_reply(e, "250 %s", e->cfg->myhostname);
		e->pipelining_offered = false;
		return;
	}
	const struct smtp_engine_cfg *c = e->cfg;
	se_reply(e, "250-%s", c->myhostname);
	if (c->pipelining)
		se_reply(e, "250-PIPELINING");
	if (c->message_size_limit > 0)
		se_reply(e, "250-SIZE %lld", c->message_size_limit);
	else
		se_reply(e, "250-SIZE");
	if (c->vrfy_enabled)
		se_reply(e, "250-VRFY");
	if (c->starttls && !e->si.tls)
		se_reply(e, "250-STARTTLS");
	if (se_auth_offered(e)) {
		se_reply(e, "250-AUTH %s", se_auth_mechanisms(e));
		if (c->broken_sasl_auth_clients)
			se_reply(e, "250-AUTH=%s", se_auth_mechanisms(e));
	}
	se_reply(e, "250-ENHANCEDSTATUSCODES");
	if (c->eightbitmime)
		se_reply(e, "250-8BITMIME");
	if (c->dsn)
		se_reply(e, "250-DSN");
	if (c->smtputf8)
		se_reply(e, "250-SMTPUTF8");
	if (c->chunking)
		se_reply(e, "250-CHUNKING");
	/* The last line: retag the previous "250-" as "250 ". */
	char *last = e->out.data + e->out.len - 2;
	while (last > e->out.data && last[-1] != '\n')
		last--;
	last[3] = ' ';
	se_reply_done(e, '2');
	e->pipelining_offered = c->pipelining;
}

static bool need_helo(struct smtp_engine *e)
{
	if (e->helo == NULL && e->cfg->helo_required) {
		se_reply(e, "503 5.5.1 Error: send HELO/EHLO first");
		return true;
	}
	return false;
}

/* The verdict on the sender (the transaction is open): answer MAIL. */
static void mail_decided(struct smtp_engine *e, enum smtp_verdict v, const char *text)
{
	struct buf r = BUF_INIT;
	e->pend = PEND_NONE;
	se_cmd_words_clear(e);
	if (v == SMTP_ACCEPT)
		e->txn_live = true;	/* the driver took the sender: its end is owed */
	if (v != SMTP_ACCEPT) {
		se_reply_line(e, se_checked_text(text, "554 5.7.1 Access denied"));
		se_log_reject(e, "MAIL", text ? text : "", NULL);
		se_reset_transaction(e);
		if (v == SMTP_DISCONNECT)
			se_close_session(e);
	} else if (e->ops->check_rate != NULL && e->ops->check_rate(e->ctx, &e->si, &r) != SMTP_ACCEPT) {
		se_reply_from(e, &r, "450 4.7.1 Error: too much mail from this client");
		se_log_reject(e, "MAIL", buf_str(&r), NULL);
		se_reset_transaction(e);
	} else {
		se_reply(e, "250 2.1.0 Ok");
	}
	se_refresh_info(e);
	buf_free(&r);
}

void se_cmd_mail(struct smtp_engine *e, const char *arg)
{
	const struct smtp_engine_cfg *c = e->cfg;
	struct smtp_mail_args a;
	struct buf bad = BUF_INIT, r = BUF_INIT;

	if (need_helo(e))
		return;
	if (e->in_mail) {
		se_reply(e, "503 5.5.1 Error: nested MAIL command");
		return;
	}
	if (c->tls_required && !e->si.tls) {
		se_reply(e, "530 5.7.0 Must issue a STARTTLS command first");
		return;
	}
	if (c->auth_required && e->sasl_user == NULL) {
		se_reply(e, "530 5.7.0 Authentication required");
		return;
	}
	smtp_mail_args_init(&a);
	if (c->strict_envelopes && !smtp_path_bracketed(arg, "FROM:")) {
		se_reply(e, "501 5.1.7 Bad sender address syntax");
		goto out;
	}
	switch (smtp_parse_mail(arg, &a, &bad)) {
	case SMTP_PATH_OK:
		break;
	case SMTP_PATH_SYNTAX:
		se_reply(e, "501 5.5.4 Syntax: MAIL FROM:<address>");
		goto out;
	case SMTP_PATH_BAD_ADDR:
	case SMTP_PATH_TOO_LONG:
		se_reply(e, "501 5.1.7 Bad sender address syntax");
		goto out;
	case SMTP_PATH_BAD_PARAM:
		se_reply(e, "555 5.5.4 Unsupported option: %s", buf_str(&bad));
		goto out;
	}
	if ((a.ret != SMTP_RET_NONE || a.has_envid) && !c->dsn) {
		se_reply(e, "555 5.5.4 Unsupported option: %s", a.ret != SMTP_RET_NONE ? "RET" : "ENVID");
		goto out;
	}
	if ((a.smtputf8 && !c->smtputf8) || (a.body == SMTP_BODY_8BITMIME && !c->eightbitmime)) {
		se_reply(e, "555 5.5.4 Unsupported option: %s", a.smtputf8 ? "SMTPUTF8" : "BODY");
		goto out;
	}
	if (c->reject_min_user && a.addr.len > 0 && a.addr.data[0] == '-') {
		se_reply(e, "501 5.1.7 Bad sender address syntax");
		goto out;
	}
	if (utf8_non_ascii(buf_str(&a.addr)) && !a.smtputf8) {
		se_reply(e, "553 5.6.7 Must declare SMTPUTF8 to send UTF8 addresses");
		goto out;
	}
	if (!utf8_valid(a.addr.data, a.addr.len)) {
		se_reply(e, "501 5.1.7 Bad sender address syntax: malformed UTF-8");
		goto out;
	}
	if (c->message_size_limit > 0 && a.size > c->message_size_limit) {
		se_reply(e, "552 5.3.4 Message size exceeds fixed limit");
		goto out;
	}
	e->sender = xstrdup(buf_str(&a.addr));
	e->in_mail = true;
	e->si.transaction++;
	e->si.size = a.size > 0 ? a.size : 0;
	/* Kept now, so that a verdict given later finds them (a refusal resets them). */
	e->ret = a.ret;
	e->body = a.body;
	e->smtputf8 = a.smtputf8;
	if (a.has_envid)
		e->envid = xstrdup(buf_str(&a.envid));
	cmd_words_set(e, arg, "FROM:");
	se_refresh_info(e);
	enum smtp_verdict v = e->ops->check_mail != NULL
			      ? e->ops->check_mail(e->ctx, &e->si, e->sender, &r) : SMTP_ACCEPT;
	if (v == SMTP_PENDING)
		wait_policy(e, PEND_MAIL);
	else
		mail_decided(e, v, buf_str(&r));
out:
	se_refresh_info(e);
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
	se_cmd_words_clear(e);
	if (v != SMTP_ACCEPT) {
		se_reply_line(e, se_checked_text(text, "554 5.7.1 Access denied"));
		se_log_reject(e, "RCPT", text ? text : "", pr.addr);
		free(pr.addr);
		free(pr.orcpt);
		if (v == SMTP_DISCONNECT)
			se_close_session(e);
		return;
	}
	if (e->nrcpt == e->rcpt_cap) {
		e->rcpt_cap = e->rcpt_cap ? e->rcpt_cap * 2 : 4;
		e->rcpts = xreallocarray(e->rcpts, e->rcpt_cap, sizeof(*e->rcpts));
	}
	e->rcpts[e->nrcpt++] = pr;
	e->rcpt_total++;
	se_reply(e, "250 2.1.5 Ok");
}

void se_cmd_rcpt(struct smtp_engine *e, const char *arg)
{
	const struct smtp_engine_cfg *c = e->cfg;
	struct smtp_rcpt_args a;
	struct buf bad = BUF_INIT, r = BUF_INIT;

	if (!e->in_mail) {
		se_reply(e, "503 5.5.1 Error: need MAIL command");
		return;
	}
	if (e->bdat_used) {
		se_reply(e, "503 5.5.1 Error: BDAT in progress");
		return;
	}
	if (c->recipient_limit && e->nrcpt >= c->recipient_limit) {
		/*
		 * As Postfix: a client that pipelined a long list is not
		 * punished (and disconnected) for the excess, up to
		 * smtpd_recipient_overshoot_limit of them.
		 */
		e->not_an_error = e->rcpt_overshoot++ < c->recipient_overshoot_limit;
		se_reply(e, "452 4.5.3 Error: too many recipients");
		e->not_an_error = false;
		return;
	}
	e->rcpt_tried++;
	smtp_rcpt_args_init(&a);
	if (c->strict_envelopes && !smtp_path_bracketed(arg, "TO:")) {
		se_reply(e, "501 5.1.3 Bad recipient address syntax");
		goto out;
	}
	switch (smtp_parse_rcpt(arg, &a, &bad)) {
	case SMTP_PATH_OK:
		break;
	case SMTP_PATH_SYNTAX:
		se_reply(e, "501 5.5.4 Syntax: RCPT TO:<address>");
		goto out;
	case SMTP_PATH_BAD_ADDR:
	case SMTP_PATH_TOO_LONG:
		se_reply(e, "501 5.1.3 Bad recipient address syntax");
		goto out;
	case SMTP_PATH_BAD_PARAM:
		se_reply(e, "555 5.5.4 Unsupported option: %s", buf_str(&bad));
		goto out;
	}
	if (c->reject_min_user && a.addr.len > 0 && a.addr.data[0] == '-') {
		se_reply(e, "501 5.1.3 Bad recipient address syntax");
		goto out;
	}
	if ((a.notify || a.orcpt.len) && !c->dsn) {
		se_reply(e, "555 5.5.4 Unsupported option: %s", a.notify ? "NOTIFY" : "ORCPT");
		goto out;
	}
	if (utf8_non_ascii(buf_str(&a.addr)) && !e->smtputf8) {
		se_reply(e, "553 5.6.7 Must declare SMTPUTF8 to send UTF8 addresses");
		goto out;
	}
	if (!utf8_valid(a.addr.data, a.addr.len)) {
		se_reply(e, "501 5.1.3 Bad recipient address syntax: malformed UTF-8");
		goto out;
	}
	se_refresh_info(e);
	e->pend_rcpt.addr = xstrdup(buf_str(&a.addr));
	e->pend_rcpt.notify = a.notify;
	e->pend_rcpt.orcpt = a.orcpt.len ? xstrdup(buf_str(&a.orcpt)) : NULL;
	cmd_words_set(e, arg, "TO:");
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

/*
 * Open the message (DATA, first BDAT). false: the reply was queued, or
 * with err set, put there instead (BDAT answers after the chunk).
 */
static bool open_message(struct smtp_engine *e, char **err)
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
		.protocol = se_protocol(e),
	};
	se_refresh_info(e);
	e->msg = e->ops->msg_open ? e->ops->msg_open(e->ctx, &e->si, &env, &r) : NULL;
	if (e->msg == NULL) {
		const char *t = se_checked_reply(&r, "451 4.3.0 Error: queue file write error");
		if (err != NULL)
			*err = xstrdup(t);
		else
			se_reply_line(e, t);
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
	se_refresh_info(e);
	enum smtp_verdict v = e->ops->check_data(e->ctx, &e->si, e->nrcpt, end, r);
	if (v != SMTP_ACCEPT && v != SMTP_PENDING)
		se_log_reject(e, end ? "END-OF-MESSAGE" : "DATA", se_checked_reply(r, "554 5.7.1 Access denied"), NULL);
	return v;
}

/* Check that a transaction can take content; false: a reply was queued. */
static bool ready_for_content(struct smtp_engine *e)
{
	if (!e->in_mail) {
		se_reply(e, "503 5.5.1 Error: need MAIL command");
		return false;
	}
	if (e->nrcpt == 0) {
		if (e->rcpt_tried)
			se_reply(e, "554 5.5.1 Error: no valid recipients");
		else
			se_reply(e, "503 5.5.1 Error: need RCPT command");
		return false;
	}
	return true;
}

/*
 * The verdict on DATA (late: log the refusal here). A refused DATA ends
 * the transaction: the driver (milters) gave it up, so a second DATA
 * would be judged on an envelope it no longer has.
 */
static void data_decided(struct smtp_engine *e, enum smtp_verdict v, const char *text, bool late)
{
	e->pend = PEND_NONE;
	if (v != SMTP_ACCEPT) {
		const char *t = se_checked_text(text, "554 5.7.1 Access denied");
		if (late)
			se_log_reject(e, "DATA", t, NULL);
		se_reply_line(e, t);
		se_reset_transaction(e);
		if (v == SMTP_DISCONNECT)
			se_close_session(e);
		return;
	}
	if (!open_message(e, NULL))
		return;
	se_reply(e, "354 End data with <CR><LF>.<CR><LF>");
	e->state = ST_DATA;
	e->ds = DS_BOL;
}

void se_cmd_data(struct smtp_engine *e, const char *arg)
{
	if (*arg != '\0') {
		se_reply(e, "501 5.5.4 Syntax: DATA");
		return;
	}
	if (e->bdat_used) {
		se_reply(e, "503 5.5.1 Error: BDAT in progress");
		return;
	}
	if (!ready_for_content(e))
		return;
	struct buf r = BUF_INIT;
	enum smtp_verdict v = data_verdict(e, false, &r);
	if (v == SMTP_PENDING)
		wait_policy(e, PEND_DATA);
	else
		data_decided(e, v, buf_str(&r), false);
	buf_free(&r);
}

static void commit_result(struct smtp_engine *e, enum smtp_commit result,
		const char *queue_id, const char *reason);

/* Hand the message to msg_finish (the driver's from now on) and answer. */
static void finish_message(struct smtp_engine *e)
{
	char queue_id[64] = "";
	struct buf reason = BUF_INIT;
	void *msg = e->msg;
	e->msg = NULL;		/* msg_finish owns it now */
	e->txn_live = false;	/* and its result ends the transaction for the driver */
	enum smtp_commit res = e->ops->msg_finish(e->ctx, msg, queue_id, sizeof(queue_id), &reason);
	if (res == SMTP_COMMIT_PENDING) {
		e->state = ST_COMMIT;
		buf_free(&reason);
		return;
	}
	commit_result(e, res, queue_id, buf_str(&reason));
	buf_free(&reason);
}

/* The verdict of the end-of-data check (late: log the refusal here). */
static void eod_decided(struct smtp_engine *e, enum smtp_verdict v, const char *text, bool late)
{
	e->pend = PEND_NONE;
	if (v != SMTP_ACCEPT) {
		const char *t = se_checked_text(text, "554 5.7.1 Access denied");
		if (late)
			se_log_reject(e, "END-OF-MESSAGE", t, NULL);
		se_reply_line(e, t);
		se_reset_transaction(e);	/* aborts the message */
		if (v == SMTP_DISCONNECT)
			se_close_session(e);
		return;
	}
	finish_message(e);
}

/* The message ended (final dot, BDAT LAST): commit it or report why not. */
void se_end_message(struct smtp_engine *e)
{
	struct buf reason = BUF_INIT;

	e->state = ST_CMD;
	if (e->too_big) {
		se_reply(e, "552 5.3.4 Message size exceeds fixed limit");
		se_engine_log(e, true, "%s[%s]: message size exceeds limit: %lld bytes so far",
				e->client_name, e->client_addr, e->msg_size);
		se_reset_transaction(e);
		return;
	}
	if (e->msg_failed || e->ops->msg_finish == NULL) {
		se_reply(e, "451 4.3.0 Error: queue file write error");
		se_reset_transaction(e);
		return;
	}
	enum smtp_verdict v = data_verdict(e, true, &reason);
	if (v == SMTP_PENDING)
		wait_policy(e, PEND_EOD);	/* the message stays open meanwhile */
	else
		eod_decided(e, v, buf_str(&reason), false);
	buf_free(&reason);
}

/* Answer the end of a message; the caller goes on with the input. */
static void commit_result(struct smtp_engine *e, enum smtp_commit result,
		const char *queue_id, const char *reason)
{
	struct buf why = BUF_INIT;
	e->state = ST_CMD;
	se_printable(&why, reason ? reason : "", 200);
	switch (result) {
	case SMTP_COMMIT_OK:
		if (queue_id != NULL && *queue_id != '\0')
			se_reply(e, "250 2.0.0 Ok: queued as %s", queue_id);
		else
			se_reply(e, "250 2.0.0 Ok");	/* discarded: see SMTP_COMMIT_OK */
		e->messages++;
		/* As Postfix: the error and junk limits count "without delivering mail". */
		e->errors = 0;
		e->junk = 0;
		break;
	case SMTP_COMMIT_REJECT:
		if (se_reply_valid(reason, "5")) {
			se_reply_line(e, reason);
			se_log_reject(e, "END-OF-MESSAGE", reason, NULL);
			break;
		}
		se_reply(e, "554 5.7.1 Error: message rejected: %s", why.len ? buf_str(&why) : "rejected");
		break;
	default:
		if (se_reply_valid(reason, "4")) {
			se_reply_line(e, reason);
			se_log_reject(e, "END-OF-MESSAGE", reason, NULL);
			break;
		}
		se_reply(e, "451 4.3.0 Error: queue file write error");
		se_engine_log(e, true, "%s[%s]: queue file write error: %s", e->client_name,
				e->client_addr, buf_str(&why));
		break;
	}
	buf_free(&why);
	se_reset_transaction(e);
}

void smtp_engine_commit_done(struct smtp_engine *e, enum smtp_commit result,
		const char *queue_id, const char *reason)
{
	if (e->state != ST_COMMIT)
		return;
	commit_result(e, result, queue_id, reason);
	se_process_held(e);
}

void se_bdat_chunk_done(struct smtp_engine *e);

/*
 * The verdict on the first BDAT of a transaction (late: log the refusal
 * here); its chunk is read next in any case but a disconnect. A refused
 * chunk is answered after it is read, and so is every chunk up to LAST
 * (RFC 3030); the driver learns at once that the transaction is over.
 */
static void bdat_decided(struct smtp_engine *e, enum smtp_verdict v, const char *text, bool late)
{
	char *err = NULL;
	e->pend = PEND_NONE;
	e->state = ST_BDAT;
	if (v != SMTP_ACCEPT) {
		const char *t = se_checked_text(text, "554 5.7.1 Access denied");
		if (late)
			se_log_reject(e, "DATA", t, NULL);
		if (v == SMTP_DISCONNECT) {
			se_reply_line(e, t);
			se_close_session(e);
			return;
		}
		err = xstrdup(t);
	} else {
		e->bdat_used = true;
		open_message(e, &err);	/* a failure is answered after the chunk too */
	}
	if (err != NULL) {
		e->bdat_failed = true;
		free(e->bdat_error);
		e->bdat_error = err;
		se_txn_end(e);
	}
	/* "BDAT 0 LAST" has no bytes to wait for. */
	if (e->bdat_left == 0)
		se_bdat_chunk_done(e);
}

void se_cmd_bdat(struct smtp_engine *e, const char *arg)
{
	unsigned long long size;
	bool last;

	if (!smtp_parse_bdat(arg, &size, &last)) {
		/* Without a valid size the chunk cannot be skipped: end the session. */
		se_reply(e, "501 5.5.4 Syntax: BDAT count [LAST]");
		se_close_session(e);
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
	if (err != NULL) {
		e->bdat_failed = true;
		se_set_str(&e->bdat_error, err);
		goto check_empty;
	}
	struct buf dr = BUF_INIT;
	enum smtp_verdict v = data_verdict(e, false, &dr);
	if (v == SMTP_PENDING)
		wait_policy(e, PEND_BDAT);	/* the chunk waits in the input */
	else
		bdat_decided(e, v, buf_str(&dr), false);
	buf_free(&dr);
	return;
check_empty:
	/* "BDAT 0 LAST" has no bytes to wait for. */
	if (e->bdat_left == 0)
		se_bdat_chunk_done(e);
}

/* The chunk has been read: answer it. */
void se_bdat_chunk_done(struct smtp_engine *e)
{
	e->state = ST_CMD;
	/* A CR ending the last chunk has no LF to come: a bare CR, as in DATA. */
	if (e->bdat_last && e->bdat_cr && e->cfg->forbid_bare_newline && !e->cfg->lf_line_ends) {
		se_bare_newline(e, "CR");
		return;
	}
	if (e->bdat_failed) {
		se_reply_line(e, e->bdat_error ? e->bdat_error : "554 5.5.1 Error: transaction failed");
		/* A failed chunked transaction ends with its LAST chunk, or on RSET. */
		if (e->bdat_last || !e->in_mail) {
			se_reset_transaction(e);
		}
		return;
	}
	if (e->too_big) {
		se_reply(e, "552 5.3.4 Message size exceeds fixed limit");
		if (e->msg != NULL && e->ops->msg_abort != NULL)
			e->ops->msg_abort(e->msg);
		e->msg = NULL;
		if (e->bdat_last) {
			se_reset_transaction(e);
		} else {
			e->bdat_failed = true;
			se_set_str(&e->bdat_error, "552 5.3.4 Message size exceeds fixed limit");
			se_txn_end(e);
		}
		return;
	}
	if (!e->bdat_last) {
		se_reply(e, "250 2.0.0 Ok: %llu bytes", e->bdat_total);
		return;
	}
	if (e->bdat_cr) {
		/* A CR at the very end of the content stays as it is (bare CRs allowed). */
		e->bdat_cr = false;
		if (!e->msg_failed && e->ops->msg_write(e->msg, "\r", 1) < 0)
			e->msg_failed = true;
	}
	se_end_message(e);
}

/* The verdict on an unknown command (milters' UNKNOWN): 502, or the driver's reply. */
static void unknown_decided(struct smtp_engine *e, enum smtp_verdict v, const char *text)
{
	static const char def[] = "502 5.5.2 Error: command not recognized";
	e->pend = PEND_NONE;
	if (v == SMTP_ACCEPT) {
		se_reply_line(e, def);
		return;
	}
	const char *t = se_checked_text(text, def);
	se_reply_line(e, t);
	se_log_reject(e, "UNKNOWN", t, NULL);
	if (v == SMTP_DISCONNECT)
		se_close_session(e);
}

void se_cmd_unknown(struct smtp_engine *e, const char *line)
{
	struct buf r = BUF_INIT;
	se_refresh_info(e);
	enum smtp_verdict v = e->ops->check_unknown != NULL
			      ? e->ops->check_unknown(e->ctx, &e->si, line, &r) : SMTP_ACCEPT;
	if (v == SMTP_PENDING)
		wait_policy(e, PEND_UNKNOWN);
	else
		unknown_decided(e, v, buf_str(&r));
	buf_free(&r);
}

void se_cmd_vrfy(struct smtp_engine *e, const char *arg)
{
	struct buf addr = BUF_INIT, r = BUF_INIT;
	if (!e->cfg->vrfy_enabled) {
		se_reply(e, "502 5.5.1 VRFY command is disabled");
		return;
	}
	if (*arg == '\0') {
		se_reply(e, "501 5.5.4 Syntax: VRFY address");
		return;
	}
	size_t n = strlen(arg);
	if (arg[0] == '<' && n >= 2 && arg[n - 1] == '>')
		buf_add(&addr, arg + 1, n - 2);
	else
		buf_adds(&addr, arg);
	if (!smtp_valid_mailbox(buf_str(&addr), true)) {
		se_reply(e, "501 5.1.3 Bad recipient address syntax");
	} else if (e->ops->vrfy != NULL) {
		se_refresh_info(e);
		e->ops->vrfy(e->ctx, &e->si, buf_str(&addr), &r);
		const char *t = buf_str(&r);
		if (se_reply_valid(t, "245")) {
			se_reply_line(e, t);
			if (t[0] != '2')	/* Postfix logs it, and fail2ban filters look for it */
				se_log_reject(e, "VRFY", t, buf_str(&addr));
		} else
			se_reply(e, "252 2.0.0 %s", buf_str(&addr));
	} else {
		se_reply(e, "252 2.0.0 Send mail to find out");
	}
	buf_free(&addr);
	buf_free(&r);
}

void se_cmd_starttls(struct smtp_engine *e, const char *arg)
{
	if (!e->cfg->starttls) {
		se_reply(e, "502 5.5.1 Error: command not implemented");
		return;
	}
	if (e->si.tls) {
		se_reply(e, "554 5.5.1 Error: TLS already active");
		return;
	}
	if (*arg != '\0') {
		se_reply(e, "501 5.5.4 Syntax: STARTTLS");
		return;
	}
	se_reply(e, "220 2.0.0 Ready to start TLS");
	se_reset_transaction(e);
	e->state = ST_TLS;
}

void smtp_engine_tls_done(struct smtp_engine *e, bool ok, const char *version, const char *cipher)
{
	if (e->state != ST_TLS)
		return;
	if (!ok) {
		se_close_session(e);
		return;
	}
	/* RFC 3207 section 4.2: forget everything learned before TLS. */
	e->state = ST_CMD;
	se_set_str(&e->helo, NULL);
	e->si.esmtp = false;
	se_set_str(&e->sasl_user, NULL);
	se_set_str(&e->sasl_method, NULL);
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
		se_reply(e, "334 %s", buf_str(&enc));
		e->state = ST_AUTH;
		buf_free(&enc);
		return;
	case SMTP_AUTH_DONE: {
		const char *user = e->ops->auth_username ? e->ops->auth_username(e->auth) : NULL;
		se_set_str(&e->sasl_user, user ? user : "");
		se_reply(e, "235 2.7.0 Authentication successful");
		se_refresh_info(e);
		if (e->ops->auth_outcome != NULL)
			e->delay_ms += e->ops->auth_outcome(e->ctx, &e->si, true);
		break;
	}
	case SMTP_AUTH_FAIL: {
		struct buf why = BUF_INIT;
		se_printable(&why, buf_str(challenge), 200);
		se_reply(e, "535 5.7.8 Error: authentication failed");
		se_engine_log(e, true, "%s[%s]: SASL %s authentication failed: %s", e->client_name,
				e->client_addr, e->sasl_method ? e->sasl_method : "",
				why.len ? buf_str(&why) : "authentication failure");
		buf_free(&why);
		se_set_str(&e->sasl_method, NULL);
		/* Each failure makes the next answer slower (guessing gets expensive). */
		e->auth_failures++;
		se_refresh_info(e);
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
		se_reply(e, "454 4.7.0 Temporary authentication failure");
		se_set_str(&e->sasl_method, NULL);
		break;
	}
	e->state = ST_CMD;
	se_auth_reset(e);
	se_refresh_info(e);
}

void se_sync_error(struct smtp_engine *e, const char *cmd_name);

/* Postfix's smtpd_hard_error_limit: after the reply that reached it, close. */
void se_hard_error_check(struct smtp_engine *e)
{
	if (e->state != ST_CLOSED && e->cfg->hard_error_limit
	    && e->errors >= e->cfg->hard_error_limit) {
		se_reply(e, "421 4.7.0 %s Error: too many errors", e->cfg->myhostname);
		se_engine_log(e, false, "too many errors after %s from %s[%s]", e->last_cmd,
				e->client_name, e->client_addr);
		se_close_session(e);
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
	se_hard_error_check(e);
	if (e->state == ST_CLOSED)
		return;
	if (e->pipe_cmd[0] != '\0') {
		se_sync_error(e, e->pipe_cmd);
		e->pipe_cmd[0] = '\0';
		return;
	}
	se_process_held(e);
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
	case PEND_CONNECT:
		/* As an immediate verdict: no error limit at the greeting. */
		se_connect_decided(e, v, text);
		se_process_held(e);
		return;
	case PEND_HELO:
		helo_decided(e, v, text);
		break;
	case PEND_MAIL:
		mail_decided(e, v, text);
		break;
	case PEND_RCPT:
		rcpt_decided(e, v, text);
		break;
	case PEND_DATA:
		data_decided(e, v, text, true);
		break;
	case PEND_BDAT:
		bdat_decided(e, v, text, true);
		break;
	case PEND_EOD:
		eod_decided(e, v, text, true);
		break;
	case PEND_UNKNOWN:
		unknown_decided(e, v, text);
		break;
	case PEND_NONE:
		break;
	}
	resume_after_wait(e);
}

/* Is mech (upper case) one of the space-separated names in list? */
static bool mech_listed(const char *list, const char *mech)
{
	size_t len = strlen(mech);
	for (const char *p = list; *p;) {
		p += strspn(p, " ");
		size_t n = strcspn(p, " ");
		if (n == len && strncasecmp(p, mech, len) == 0)
			return true;
		p += n;
	}
	return false;
}

void se_cmd_auth(struct smtp_engine *e, const char *arg)
{
	char mech[32];
	struct buf data = BUF_INIT, challenge = BUF_INIT;

	if (!se_auth_offered(e) || e->ops->auth_new == NULL) {
		se_reply(e, "503 5.5.1 Error: authentication not enabled");
		return;
	}
	if (e->helo == NULL) {
		se_reply(e, "503 5.5.1 Error: send HELO/EHLO first");
		return;
	}
	if (e->sasl_user != NULL) {
		se_reply(e, "503 5.5.1 Error: already authenticated");
		return;
	}
	if (e->in_mail) {
		se_reply(e, "503 5.5.1 Error: MAIL transaction in progress");
		return;
	}
	size_t n = strcspn(arg, " ");
	if (n == 0 || n >= sizeof(mech)) {
		se_reply(e, "501 5.5.4 Syntax: AUTH mechanism");
		return;
	}
	memcpy(mech, arg, n);
	mech[n] = '\0';
	for (char *p = mech; *p; p++)
		*p = (char)toupper((unsigned char)*p);
	const char *initial = arg + n;
	while (*initial == ' ')
		initial++;
	se_refresh_info(e);
	if (e->ops->check_auth_rate != NULL
	    && e->ops->check_auth_rate(e->ctx, &e->si, &challenge) != SMTP_ACCEPT) {
		se_reply_from(e, &challenge, "450 4.7.1 Error: too many AUTH commands from this client");
		se_log_reject(e, "AUTH", buf_str(&challenge), NULL);
		goto out;
	}
	/* Only what EHLO offered now: the security options may forbid PLAIN before TLS. */
	e->auth = mech_listed(se_auth_mechanisms(e), mech) ? e->ops->auth_new(e->ctx, mech, &e->si) : NULL;
	if (e->auth == NULL) {
		se_reply(e, "504 5.5.4 Unsupported authentication mechanism");
		return;
	}
	se_set_str(&e->sasl_method, mech);
	const char *dp = NULL;
	if (*initial != '\0') {
		if (strcmp(initial, "=") != 0
		    && !base64_decode(initial, strlen(initial), &data)) {
			se_reply(e, "501 5.5.2 Cannot decode response");
			se_auth_reset(e);
			se_set_str(&e->sasl_method, NULL);
			goto out;
		}
		dp = data.data ? data.data : "";
	}
	auth_result(e, e->ops->auth_step(e->auth, dp, data.len, &challenge), &challenge);
out:
	buf_free(&data);
	buf_free(&challenge);
}

void se_auth_response(struct smtp_engine *e, const char *line)
{
	struct buf data = BUF_INIT, challenge = BUF_INIT;
	if (strcmp(line, "*") == 0) {
		se_reply(e, "501 5.7.0 Authentication aborted");
		e->state = ST_CMD;
		se_auth_reset(e);
		se_set_str(&e->sasl_method, NULL);
		return;
	}
	if (!base64_decode(line, strlen(line), &data)) {
		se_reply(e, "501 5.5.2 Cannot decode response");
		e->state = ST_CMD;
		se_auth_reset(e);
		se_set_str(&e->sasl_method, NULL);
		buf_free(&data);
		return;
	}
	auth_result(e, e->ops->auth_step(e->auth, data.data ? data.data : "", data.len, &challenge),
			&challenge);
	buf_free(&data);
	buf_free(&challenge);
}

/* Commands after which a client must wait for the se_reply (RFC 2920 3.1). */
