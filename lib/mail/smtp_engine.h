/*
 * smtp_engine.h - the RFC 5321 ESMTP server protocol as a state machine
 * with swappable I/O, shared by smtpd and sendmail -bs.
 *
 * Mail layer. The engine never reads or writes a descriptor: the driver
 * hands it the bytes it received (smtp_engine_input) and sends what the
 * engine queued (smtp_engine_output). It never blocks and never jumps:
 * where the driver must act (start TLS, commit a message or check a
 * password on another thread, close, wait before answering), the engine
 * says so through its flags and waits to be called back. Policy, message storage and SASL
 * are callbacks, so the engine links with nothing but util and
 * smtp_cmd; smtp_queue.c provides the callbacks that feed cleanup.
 *
 * Privileges: those of its driver (mail_owner in smtpd, the caller in
 * sendmail -bs). All input is untrusted.
 *
 * Memory: a session keeps no buffers while idle; input and output
 * buffers are allocated when needed and released when empty, so that
 * thousands of idle sessions cost little.
 */
#ifndef TERN_MAIL_SMTP_ENGINE_H
#define TERN_MAIL_SMTP_ENGINE_H

#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"

struct smtp_engine;

/* Settings shared by all sessions of a listener; read only while used. */
struct smtp_engine_cfg {
	const char *myhostname;
	const char *banner;		/* text after "220 " (smtpd_banner, expanded) */
	bool helo_required;		/* smtpd_helo_required */
	unsigned recipient_limit;	/* smtpd_recipient_limit; 0 = none */
	long long message_size_limit;	/* bytes, 0 = none */
	unsigned line_limit;		/* longest command line incl. CRLF (>= 512) */
	unsigned soft_error_limit;	/* smtpd_soft_error_limit */
	unsigned hard_error_limit;	/* smtpd_hard_error_limit */
	unsigned error_sleep_ms;	/* smtpd_error_sleep_time, after the soft limit */
	unsigned junk_command_limit;	/* smtpd_junk_command_limit (NOOP, VRFY, RSET, HELP) */
	bool forbid_bare_newline;	/* smtpd_forbid_bare_newline */
	bool forbid_unauth_pipelining;	/* smtpd_forbid_unauth_pipelining */
	/*
	 * strict_rfc821_envelopes: MAIL FROM and RCPT TO addresses must be
	 * in <> (no bare address, no phrase or comment around it).
	 */
	bool strict_envelopes;
	/*
	 * sendmail -bs only, never for a network session: a bare LF ends a
	 * line everywhere, also the final "." (as sendmail's -bs accepts
	 * LF-only scripts). Implies that bare LF is not refused.
	 */
	bool lf_line_ends;
	bool vrfy_enabled;		/* ! disable_vrfy_command */
	bool pipelining;		/* offer PIPELINING */
	bool chunking;			/* offer CHUNKING (BDAT) */
	bool dsn;			/* offer DSN */
	bool smtputf8;			/* offer SMTPUTF8 */
	bool eightbitmime;		/* offer 8BITMIME */
	bool starttls;			/* STARTTLS possible (a certificate is loaded) */
	bool tls_required;		/* smtpd_tls_security_level = encrypt */
	bool auth;			/* AUTH possible (smtpd_sasl_auth_enable and a backend) */
	bool auth_required;		/* MAIL needs AUTH first (submission) */
	bool tls_auth_only;		/* smtpd_tls_auth_only */
	bool broken_sasl_auth_clients;	/* also offer "AUTH=PLAIN LOGIN" */
	/*
	 * ! allow_min_user: MAIL FROM and RCPT TO addresses that start with
	 * '-' get 501 (5.1.7 / 5.1.3), as Postfix's smtpd answers them.
	 */
	bool reject_min_user;
	unsigned auth_fail_delay_ms;	/* added wait per failed AUTH, grows with failures (without auth_outcome) */
	const char *auth_mechanisms;	/* e.g. "PLAIN LOGIN" (from the backend) */
	/*
	 * Offered once TLS is on (smtpd_sasl_tls_security_options); NULL:
	 * auth_mechanisms. A mechanism not offered in the session's state is
	 * refused, and an empty list means no AUTH at all.
	 */
	const char *auth_mechanisms_tls;
	/*
	 * smtpd_recipient_overshoot_limit: how many recipients beyond
	 * recipient_limit get 452 without counting as errors (per message).
	 */
	unsigned recipient_overshoot_limit;
};

/* What the engine knows about the session, for callbacks and logs. */
struct smtp_session_info {
	const char *client_name;	/* "localhost" or "unknown" */
	const char *client_addr;	/* "127.0.0.1", "::1"; "" for sendmail -bs */
	const char *helo;		/* NULL before HELO/EHLO */
	bool esmtp;			/* EHLO, not HELO */
	bool tls;			/* TLS active */
	const char *tls_version;	/* "TLSv1.3" or NULL */
	const char *tls_cipher;
	const char *sasl_username;	/* NULL unless authenticated */
	const char *sasl_method;
	const char *sender;		/* current MAIL FROM address, NULL outside a transaction */
	unsigned transaction;		/* MAIL commands taken so far in the session (1 in the first) */
	long long size;			/* SIZE of the current MAIL FROM, 0 if not given */
	/*
	 * The MAIL or RCPT command being judged, as the client wrote it (for
	 * milters): the path with its angle brackets ("<a@b>", brackets added
	 * when the client left them out) and its ESMTP parameters ("SIZE=100",
	 * "BODY=8BITMIME"). Set during check_mail and check_rcpt and while
	 * their verdict is pending; NULL and 0 otherwise.
	 */
	const char *cmd_addr;
	const char *const *cmd_args;
	size_t ncmd_args;
};

struct smtp_rcpt {
	char *addr;
	int notify;			/* DSN_NOTIFY_* bits, 0 = not given */
	char *orcpt;			/* "rfc822;addr" or NULL */
};

/* Everything about the message but its content, for msg_open. */
struct smtp_envelope {
	const char *sender;		/* "" = null sender */
	struct smtp_rcpt *rcpts;
	size_t nrcpt;
	int ret;			/* enum smtp_ret (smtp_cmd.h) */
	const char *envid;		/* decoded, NULL if none */
	int body;			/* enum smtp_body */
	bool smtputf8;
	const char *protocol;		/* "SMTP", "ESMTP", "ESMTPS", "ESMTPA", "ESMTPSA" */
};

/* Results of policy callbacks. */
enum smtp_verdict {
	SMTP_ACCEPT = 0,		/* go on */
	SMTP_REJECT = 1,		/* send the reply line the callback put in reply */
	SMTP_DISCONNECT = 2,		/* send the reply and close (421 ...) */
	/*
	 * check_connect, check_helo, check_mail, check_rcpt, check_data and
	 * check_unknown: the answer comes later (a DNS lookup on a worker
	 * thread, a milter); the engine holds all further input until
	 * smtp_engine_policy_done(). Elsewhere (check_rate, check_auth_rate)
	 * it is taken as a temporary failure.
	 */
	SMTP_PENDING = 3,
};

/* Results of msg_finish. */
/*
 * Results of msg_finish (its reason buffer) and smtp_engine_commit_done
 * (its reason string). A reason that is a whole reply of the right class
 * (5xx for REJECT, 4xx for TEMPFAIL; one line or several, see "Replies"
 * below), e.g. "550 5.7.1 Spam detected" from a milter, is sent as it
 * is; any other reason gets the engine's reply below.
 */
enum smtp_commit {
	/*
	 * Queued: "250 2.0.0 Ok: queued as ID". A NULL or empty queue_id
	 * means the message was accepted and deliberately dropped (a milter's
	 * DISCARD): "250 2.0.0 Ok", without an ID. Postfix still says
	 * "queued as ID" there because its queue file existed; Tern has no
	 * ID to give, and the client must not learn of the discard either.
	 */
	SMTP_COMMIT_OK,
	SMTP_COMMIT_TEMPFAIL,		/* 451 4.3.0 Error: queue file write error */
	SMTP_COMMIT_REJECT,		/* 554 5.7.1 Error: message rejected: reason */
	SMTP_COMMIT_PENDING,		/* will call smtp_engine_commit_done() */
};

/* SASL results (mirror of sasl.h, kept here so the engine does not link it). */
enum smtp_auth_status {
	SMTP_AUTH_DONE,
	SMTP_AUTH_CONTINUE,
	SMTP_AUTH_FAIL,
	SMTP_AUTH_TEMPFAIL,
	SMTP_AUTH_PENDING,	/* auth_step only: smtp_engine_auth_done() follows */
};

/*
 * Callbacks. Any may be NULL: a missing policy callback accepts, a
 * missing message callback makes DATA fail with 451 4.3.0.
 *
 * Replies: wherever the driver supplies a reply (the reply buffers of
 * the check_* callbacks, msg_open and vrfy, smtp_engine_policy_done's
 * reply, msg_finish's and smtp_engine_commit_done's reason), it is one
 * complete reply without the final CRLF: one line ("554 5.7.1 <x>:
 * Relay access denied") or several separated by CRLF ("550-5.7.1 a\r\n
 * 550 5.7.1 b"). Every line must carry the same 3-digit code, "-" after
 * it on all lines but the last, " " on the last, and no other CR or LF;
 * the class must fit (4xx/5xx for a refusal). A reply that does not is
 * replaced by the engine's default reply for that case. The engine adds
 * the final CRLF and counts one error per reply.
 */
struct smtp_engine_ops {
	/*
	 * At the start of the session (smtpd_client_restrictions without
	 * delay, milters' CONNECT). SMTP_REJECT: the reply replaces the
	 * greeting and every command but QUIT gets 503 5.7.0 (as Postfix);
	 * SMTP_DISCONNECT closes after the reply. SMTP_PENDING: nothing is
	 * sent until smtp_engine_policy_done() (ACCEPT: the 220 greeting,
	 * else as above); input that arrives meanwhile is held and treated
	 * after the greeting as input sent before a greeting always is (one
	 * command is answered, more than one is a pipelining error unless
	 * smtpd_forbid_unauth_pipelining is off). check_helo and check_mail
	 * (HELO and sender restrictions without delay) refuse only their
	 * command, or close on SMTP_DISCONNECT.
	 */
	enum smtp_verdict (*check_connect)(void *ctx, const struct smtp_session_info *si, struct buf *reply);
	enum smtp_verdict (*check_helo)(void *ctx, const struct smtp_session_info *si, struct buf *reply);
	enum smtp_verdict (*check_mail)(void *ctx, const struct smtp_session_info *si,
			const char *sender, struct buf *reply);
	enum smtp_verdict (*check_rcpt)(void *ctx, const struct smtp_session_info *si,
			const char *rcpt, struct buf *reply);
	/*
	 * check_connect, check_helo, check_mail, check_rcpt, check_data and
	 * check_unknown may return SMTP_PENDING: the driver then calls
	 * smtp_engine_policy_done() with the verdict (from its own thread),
	 * unless the session ended meanwhile (smtp_engine_eof, _timeout,
	 * _session_limit or _free), in which case it drops the answer. While
	 * a decision is pending, si and its strings (cmd_addr and cmd_args
	 * included) stay valid and unchanged, so the driver may evaluate
	 * again with smtp_engine_info(); the address being judged
	 * (check_mail's sender is si->sender; check_rcpt's rcpt) and
	 * check_unknown's line are the driver's to copy if it needs them.
	 * Input that arrives meanwhile is held and processed in order after
	 * the answer, with the pipelining rules applied as if the answer had
	 * come at once.
	 */
	/* VRFY when enabled: 250/252 or 550 in reply. */
	void (*vrfy)(void *ctx, const struct smtp_session_info *si, const char *addr, struct buf *reply);
	/*
	 * smtpd_data_restrictions (end false: at DATA or the first BDAT) and
	 * smtpd_end_of_data_restrictions (end true: the content is in, not
	 * yet committed); nrcpt accepted recipients.
	 * SMTP_PENDING with end false: DATA's 354 waits for the verdict; at
	 * BDAT the chunk that follows the command is held, then written after
	 * an ACCEPT or skipped after a refusal (answered, as a refused BDAT
	 * is, once the chunk is read). A refused DATA ends the transaction
	 * (txn_end), so the client starts again with MAIL; a refused BDAT
	 * ends it for the driver at once (txn_end), and for the client at
	 * the LAST chunk or RSET as before.
	 * SMTP_PENDING with end true: the message stays open; ACCEPT goes
	 * on to msg_finish, a refusal answers with the reply and aborts it.
	 */
	enum smtp_verdict (*check_data)(void *ctx, const struct smtp_session_info *si, size_t nrcpt,
			bool end, struct buf *reply);
	/*
	 * A command the engine does not know (the line as received, without
	 * CRLF and trailing blanks; valid only during the call), before the
	 * 502 answer, e.g. for milters' UNKNOWN. ACCEPT: "502 5.5.2 Error:
	 * command not recognized"; SMTP_REJECT/SMTP_DISCONNECT: the reply
	 * (a malformed one: the 502); SMTP_PENDING: see below. Not called
	 * in a session refused at connect (503 to everything but QUIT).
	 */
	enum smtp_verdict (*check_unknown)(void *ctx, const struct smtp_session_info *si, const char *line,
			struct buf *reply);
	/*
	 * A transaction whose sender check_mail accepted ended without
	 * reaching msg_finish: RSET, HELO/EHLO, STARTTLS, QUIT, EOF,
	 * timeout, smtp_engine_free, MAIL refused by check_rate, a refused
	 * DATA or first BDAT, a message refused before msg_finish (end of
	 * data restrictions, size, write error). Called exactly once per such
	 * transaction, after msg_abort (e.g. to send milters ABORT). Not
	 * called once msg_finish was called (the commit's result is the end),
	 * nor for a MAIL that check_mail refused or whose verdict was still
	 * pending when the session ended.
	 */
	void (*txn_end)(void *ctx);
	/* Per-transaction limits (message rate, queue space): before 250 to MAIL. */
	enum smtp_verdict (*check_rate)(void *ctx, const struct smtp_session_info *si, struct buf *reply);
	/* AUTH commands per client (smtpd_client_auth_rate_limit): before a mechanism starts. */
	enum smtp_verdict (*check_auth_rate)(void *ctx, const struct smtp_session_info *si, struct buf *reply);

	/* Message storage: open at DATA/first BDAT, write LF-terminated lines. */
	void *(*msg_open)(void *ctx, const struct smtp_session_info *si,
			const struct smtp_envelope *env, struct buf *reply);
	int (*msg_write)(void *msg, const char *data, size_t len);	/* 0 ok, -1 error */
	/*
	 * Make the message durable. May return SMTP_COMMIT_PENDING and call
	 * smtp_engine_commit_done() later (from the driver's thread). The
	 * engine does not use msg afterwards.
	 */
	enum smtp_commit (*msg_finish)(void *ctx, void *msg, char *queue_id, size_t idlen, struct buf *reason);
	void (*msg_abort)(void *msg);

	/*
	 * SASL (sasl.h); auth_new returns NULL for an unsupported mechanism.
	 * auth_step may return SMTP_AUTH_PENDING (the backend answers later,
	 * e.g. from a worker thread): the engine then waits, holding any
	 * input, until the driver calls smtp_engine_auth_done() with the
	 * result. auth_free may be called while a step is pending (the
	 * session ended): the callbacks must then finish the step and free
	 * the context themselves, and never call smtp_engine_auth_done().
	 */
	void *(*auth_new)(void *ctx, const char *mech, const struct smtp_session_info *si);
	enum smtp_auth_status (*auth_step)(void *auth, const char *data, size_t len, struct buf *challenge);
	const char *(*auth_username)(void *auth);
	void (*auth_free)(void *auth);
	/*
	 * An exchange ended with success (true) or failure (false): returns
	 * how many milliseconds to hold the 235/535 reply (the driver keeps
	 * counts across sessions, e.g. per client address). When NULL, each
	 * failure adds cfg->auth_fail_delay_ms times the session's failures
	 * (at most 10) instead.
	 */
	unsigned (*auth_outcome)(void *ctx, const struct smtp_session_info *si, bool success);

	/*
	 * One line per event worth logging, in Postfix's wording so that
	 * fail2ban filters match ("NOQUEUE: reject: RCPT from name[addr]: ...");
	 * warning is true for warnings. May be NULL.
	 */
	void (*log)(void *ctx, bool warning, const char *line);
};

struct smtp_engine *smtp_engine_new(const struct smtp_engine_cfg *cfg,
		const struct smtp_engine_ops *ops, void *ctx,
		const char *client_name, const char *client_addr);
void smtp_engine_free(struct smtp_engine *e);

/* Mark the session as encrypted from the start (implicit TLS, port 465). */
void smtp_engine_set_tls(struct smtp_engine *e, const char *version, const char *cipher);

/* Queue the greeting (or the rejection from check_connect). */
void smtp_engine_start(struct smtp_engine *e);
/* Queue a reply and close instead of greeting ("421 4.7.0 ... too many connections"). */
void smtp_engine_refuse(struct smtp_engine *e, const char *reply_line);

/*
 * Process received bytes. Replies are appended to the output. Input that
 * arrives while the engine waits (commit, TLS) is kept and processed
 * later, except after STARTTLS, where it is discarded.
 */
void smtp_engine_input(struct smtp_engine *e, const char *data, size_t len);
/* The connection ended (EOF or error): abort any transaction. */
void smtp_engine_eof(struct smtp_engine *e);
/* smtpd_timeout expired: queue 421 4.4.2 and close. */
void smtp_engine_timeout(struct smtp_engine *e);
/* The session's total time limit (smtpd_session_time_limit) ran out: queue 421 4.4.2 and close. */
void smtp_engine_session_limit(struct smtp_engine *e);
/*
 * True while a command line (or an AUTH response) has begun but not
 * ended, so that the driver can bound a whole line, not only the pause
 * between two reads.
 */
bool smtp_engine_partial_line(const struct smtp_engine *e);

/* Bytes waiting to be sent, and how many were sent. */
const char *smtp_engine_output(struct smtp_engine *e, size_t *len);
void smtp_engine_output_done(struct smtp_engine *e, size_t n);

/* Driver's view of the state. */
#define SMTP_WANT_CLOSE		0x01	/* send the output, then close */
#define SMTP_WANT_STARTTLS	0x02	/* send the output, then do the TLS handshake */
#define SMTP_WAIT_COMMIT	0x04	/* msg_finish pending: do not expect progress */
#define SMTP_IN_DATA		0x08	/* receiving message content */
#define SMTP_IN_TRANSACTION	0x10	/* between MAIL and the end of the message */
#define SMTP_WAIT_AUTH		0x20	/* auth_step pending: do not expect progress */
#define SMTP_WAIT_POLICY	0x40	/* a policy verdict pending: do not expect progress */
#define SMTP_IN_CONTENT		0x80	/* content began: DATA, or BDAT until the transaction ends */
/* Any answer the driver owes the engine: stop reading until it is given. */
#define SMTP_WAIT_ANY		(SMTP_WAIT_COMMIT | SMTP_WAIT_AUTH | SMTP_WAIT_POLICY)
int smtp_engine_flags(const struct smtp_engine *e);
/* Milliseconds to wait before sending the output (error/auth slow-down); resets it. */
unsigned smtp_engine_take_delay(struct smtp_engine *e);

/* TLS handshake finished (ok) or failed (then the session closes). */
void smtp_engine_tls_done(struct smtp_engine *e, bool ok, const char *version, const char *cipher);
/*
 * A pending auth_step finished: st is SMTP_AUTH_DONE/CONTINUE/FAIL/
 * TEMPFAIL, and data/len what auth_step would have put in its challenge
 * buffer (the decoded challenge, or a reason for the log).
 */
void smtp_engine_auth_done(struct smtp_engine *e, enum smtp_auth_status st,
		const char *data, size_t len);
/*
 * A pending policy check (check_connect, check_helo, check_mail,
 * check_rcpt, check_data or check_unknown returned SMTP_PENDING) was
 * decided: v is SMTP_ACCEPT, SMTP_REJECT or SMTP_DISCONNECT, reply the
 * reply for the last two (one line or several, see "Replies"; NULL or a
 * malformed one: the engine's default for that command). The command is
 * then answered and the input held meanwhile processed, in order.
 * Ignored when nothing is pending (the session ended meanwhile).
 */
void smtp_engine_policy_done(struct smtp_engine *e, enum smtp_verdict v, const char *reply);
/*
 * A pending commit finished: result SMTP_COMMIT_OK (queue_id NULL or "":
 * discarded, see SMTP_COMMIT_OK), TEMPFAIL or REJECT, reason a whole
 * reply of the right class or a text for the engine's reply (see enum
 * smtp_commit).
 */
void smtp_engine_commit_done(struct smtp_engine *e, enum smtp_commit result,
		const char *queue_id, const char *reason);

const struct smtp_session_info *smtp_engine_info(const struct smtp_engine *e);
/* Counters for the session summary log line. */
struct smtp_engine_stats {
	unsigned messages, rcpts, errors, commands;
};
void smtp_engine_stats(const struct smtp_engine *e, struct smtp_engine_stats *st);
/*
 * Postfix's per-command counts of a session for its "disconnect from"
 * line, appended to out: "ehlo=1 mail=1 rcpt=0/1 quit=1 commands=3/4"
 * (NAME=ok, or NAME=ok/total when some were refused; in Postfix's order,
 * commands it does not know counted as unknown=; "commands=0/0" when
 * there were none).
 */
void smtp_engine_command_counts(const struct smtp_engine *e, struct buf *out);

/*
 * sendmail -bs: run a whole session on blocking descriptors in_fd and
 * out_fd (standard input and output) until QUIT or EOF. Returns 0 when
 * the session ended with QUIT, 1 otherwise.
 */
int smtp_engine_run_fd(struct smtp_engine *e, int in_fd, int out_fd, unsigned timeout_sec);
int smtp_engine_run_stdio(struct smtp_engine *e, unsigned timeout_sec);

#endif
