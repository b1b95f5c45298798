/*
 * smtp_engine_int.h - what the two files of the ESMTP engine share:
 * the session structure and the helpers each calls in the other.
 * smtp_engine.c has the session's life, replies and the input (command
 * lines, DATA and BDAT content); smtp_engine_cmd.c has the commands.
 * Private to them: every other caller uses smtp_engine.h.
 *
 * Mail layer; runs in smtpd (mail_owner) and sendmail -bs (the caller).
 */
#ifndef TERN_MAIL_SMTP_ENGINE_INT_H
#define TERN_MAIL_SMTP_ENGINE_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "mail/smtp_engine.h"
#include "util/buf.h"

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

	/*
	 * The transaction's sender was accepted by check_mail and msg_finish
	 * was not called yet: its end owes the driver a txn_end.
	 */
	bool txn_live;

	/* The command whose policy verdict is pending (ST_POLICY_WAIT). */
	enum { PEND_NONE, PEND_CONNECT, PEND_HELO, PEND_MAIL, PEND_RCPT, PEND_DATA, PEND_BDAT, PEND_EOD,
	       PEND_UNKNOWN } pend;
	/* MAIL/RCPT being judged as the client wrote them (si.cmd_addr, si.cmd_args). */
	char *cmd_addr;
	struct buf cmd_words;	/* the parameters, NUL-terminated one after the other */
	const char **cmd_args;
	size_t ncmd_args;
	char *pend_old_helo;	/* HELO: the name before, kept aside while the new one is judged */
	bool pend_old_esmtp;
	struct smtp_rcpt pend_rcpt;	/* RCPT: the recipient being judged */

	unsigned errors, junk, messages, rcpt_total, commands;
	unsigned errors_total;	/* for the statistics: errors is reset by a delivery */
	/*
	 * Per command (enum smtp_verb): how many came and how many got a
	 * 2xx/3xx answer, for Postfix's disconnect line; cmd_open is the
	 * command whose answer is still to come (-1: none).
	 */
	unsigned cmd_total[SMTP_VERB_HTTP + 1], cmd_ok[SMTP_VERB_HTTP + 1];
	int cmd_open;
	unsigned delay_ms;
	char last_cmd[12];
};

/* smtp_engine.c: the session, its replies and its log lines. */
bool se_auth_offered(const struct smtp_engine *e);
/* The mechanisms this session may use now (with or without TLS); never NULL. */
const char *se_auth_mechanisms(const struct smtp_engine *e);
void se_auth_reset(struct smtp_engine *e);
const char *se_checked_reply(struct buf *r, const char *fallback);
const char *se_checked_text(const char *t, const char *fallback);
bool se_reply_valid(const char *t, const char *classes);
void se_cmd_words_clear(struct smtp_engine *e);
void se_txn_end(struct smtp_engine *e);
void se_bare_newline(struct smtp_engine *e, const char *what);
/* The length of p[0, n) before its first CR or LF (n if none); exposed for its unit test. */
size_t se_line_text(const char *p, size_t n);
void se_close_session(struct smtp_engine *e);
void se_connect_decided(struct smtp_engine *e, enum smtp_verdict v, const char *text);
void se_engine_log(struct smtp_engine *e, bool warning, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void se_log_reject(struct smtp_engine *e, const char *what, const char *reply_text,
		  const char *rcpt);
void se_printable(struct buf *out, const char *s, size_t max);
void se_process_held(struct smtp_engine *e);
const char *se_protocol(const struct smtp_engine *e);
void se_refresh_info(struct smtp_engine *e);
void se_reply(struct smtp_engine *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void se_reply_done(struct smtp_engine *e, char c);
void se_reply_from(struct smtp_engine *e, struct buf *r, const char *fallback);
void se_reply_line(struct smtp_engine *e, const char *text);
void se_reset_transaction(struct smtp_engine *e);
void se_set_str(char **dst, const char *src);
void se_sync_error(struct smtp_engine *e, const char *cmd_name);

/* smtp_engine_cmd.c: the commands. */
void se_auth_response(struct smtp_engine *e, const char *line);
void se_bdat_chunk_done(struct smtp_engine *e);
void se_cmd_auth(struct smtp_engine *e, const char *arg);
void se_cmd_bdat(struct smtp_engine *e, const char *arg);
void se_cmd_data(struct smtp_engine *e, const char *arg);
void se_cmd_helo(struct smtp_engine *e, const char *arg, bool esmtp);
void se_cmd_mail(struct smtp_engine *e, const char *arg);
void se_cmd_rcpt(struct smtp_engine *e, const char *arg);
void se_cmd_starttls(struct smtp_engine *e, const char *arg);
void se_cmd_unknown(struct smtp_engine *e, const char *line);
void se_cmd_vrfy(struct smtp_engine *e, const char *arg);
void se_end_message(struct smtp_engine *e);
void se_hard_error_check(struct smtp_engine *e);

#endif
