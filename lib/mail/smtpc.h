/*
 * smtpc.h - the SMTP client protocol (RFC 5321 with EHLO, PIPELINING,
 * STARTTLS, AUTH PLAIN/LOGIN, SIZE, 8BITMIME, SMTPUTF8, DSN, CHUNKING)
 * as a state machine without I/O.
 *
 * Mail layer. The engine never reads or writes a descriptor, never
 * blocks, never looks at a clock, DNS or the configuration, and never
 * logs: the driver (smtp/smtp_deliver.c) asks smtpc_next() what to do,
 * writes smtpc_output(), feeds what the server sent to smtpc_input(),
 * does the TLS handshake and picks the timeout from smtpc_stage(). This
 * is the client side of lib/mail/smtp_engine.h and is tested the same
 * way: tests/unit/test_smtpc.c scripts server replies and checks every
 * byte sent; tests/fuzz/fuzz_smtpc.c feeds arbitrary server bytes.
 *
 * Privileges: those of its driver (mail_owner in smtp). All input is
 * untrusted: a reply that does not parse, an overlong line, or bytes the
 * server sends when no reply is expected end the session (SMTPC_CLOSED,
 * code 0).
 */
#ifndef TERN_MAIL_SMTPC_H
#define TERN_MAIL_SMTPC_H

#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"

struct smtpc;

/* What the server announced in its EHLO reply (all false after HELO). */
struct smtpc_caps {
	bool esmtp, pipelining, starttls, eightbitmime, smtputf8, dsn, chunking, auth_plain, auth_login;
	unsigned long long size;	/* 0: no SIZE limit announced */
	bool size_ext;			/* SIZE announced (with or without a limit): send SIZE= */
	bool auth;			/* AUTH announced, with any mechanism */
};

struct smtpc_conf {
	const char *helo_name;
	bool starttls;		/* send STARTTLS when the server offers it */
	bool require_tls;	/* fail the session (SMTPC_CLOSED, 4.7.4) when not offered */
	const char *auth_user, *auth_pass;	/* NULL: no AUTH */
	bool auth_plaintext_ok;	/* PLAIN/LOGIN allowed on this session now (caller re-sets after TLS) */
	const char *auth_mechs;	/* smtp_sasl_mechanism_filter words, NULL/"" = PLAIN and LOGIN */
};

enum smtpc_stage {
	SMTPC_ST_GREETING, SMTPC_ST_EHLO, SMTPC_ST_HELO, SMTPC_ST_STARTTLS, SMTPC_ST_AUTH,
	SMTPC_ST_MAIL, SMTPC_ST_RCPT, SMTPC_ST_DATA, SMTPC_ST_BODY, SMTPC_ST_DOT, SMTPC_ST_BDAT,
	SMTPC_ST_RSET, SMTPC_ST_QUIT, SMTPC_ST_IDLE
};

/*
 * For "(in reply to RCPT TO command)": "initial greeting", "EHLO",
 * "HELO", "STARTTLS", "AUTH", "MAIL FROM", "RCPT TO", "DATA", "message
 * body", "end of DATA", "BDAT", "RSET", "QUIT", "idle".
 */
const char *smtpc_stage_command(enum smtpc_stage st);

enum smtpc_next {
	SMTPC_WRITE,	/* bytes in smtpc_output(s): write them all, then smtpc_output_sent(s) */
	SMTPC_READ,	/* give the server's bytes with smtpc_input(s, data, len) */
	SMTPC_TLS,	/* the server said 220 to STARTTLS: do the handshake, then smtpc_tls_done(s, ok) (EHLO again) */
	/*
	 * DATA got 354: write the content (already dot-stuffed by the
	 * caller), then smtpc_body_done(s) which queues ".\r\n". With
	 * CHUNKING (smtpc_chunking(s)): call smtpc_bdat(s, len, last) before
	 * each chunk's bytes (it queues "BDAT len [LAST]\r\n" in the output;
	 * the caller writes the output then the chunk, then calls
	 * smtpc_output_sent(s) and reads the BDAT reply).
	 */
	SMTPC_BODY,
	SMTPC_READY,	/* between transactions (after EHLO/AUTH, or after a transaction): caps known; smtpc_begin() or smtpc_quit() */
	SMTPC_CLOSED,	/* session over: after QUIT's reply, or a failure: smtpc_failure(s) gives code (0 for a protocol error/lost connection), stage and text */
};

/*
 * The struct buf members are the caller's (zeroed or BUF_INIT; the
 * caller frees them); the engine resets and fills them.
 */
struct smtpc_rcpt {
	const char *address;
	const char *notify;	/* "SUCCESS,FAILURE" or NULL */
	const char *orcpt;	/* "rfc822;a@b" or NULL */
	/* results: code 0 = no reply (connection lost first) */
	int code;
	char dsn[16];
	struct buf reply;
};

struct smtpc_txn {
	const char *sender;	/* "" for the null sender */
	unsigned long long size;
	bool body_8bit;
	bool smtputf8;
	const char *ret;	/* FULL/HDRS/NULL */
	const char *envid;	/* raw, xtext-encoded here; NULL for none */
	struct smtpc_rcpt *rcpt;
	size_t n;
	/*
	 * Results. code/dsn/reply: what decided the transaction for every
	 * accepted recipient: MAIL refused (also copied to every recipient),
	 * DATA or BDAT refused, the end-of-data reply (also when it is 250),
	 * or, when the session ended first (CLOSED), the session's failure
	 * (code 0 for a lost connection or protocol error, 421, ...: defer
	 * them). failed_stage: the stage that failed (SMTPC_ST_MAIL,
	 * SMTPC_ST_RCPT with code 0 when no recipient was accepted,
	 * SMTPC_ST_DATA, SMTPC_ST_DOT, SMTPC_ST_BDAT, or where the session
	 * ended), SMTPC_ST_IDLE only when the message was accepted.
	 * A recipient with code 0 got no reply: defer it.
	 */
	int code;
	char dsn[16];
	struct buf reply;
	enum smtpc_stage failed_stage;
	size_t accepted;	/* recipients that got 2xx */
};

/* conf's strings are copied; the password is wiped on smtpc_free. */
struct smtpc *smtpc_new(const struct smtpc_conf *c);
void smtpc_free(struct smtpc *s);
enum smtpc_next smtpc_next(struct smtpc *s);
const struct smtpc_caps *smtpc_caps(const struct smtpc *s);
/* What it waits for: the caller picks the timeout. */
enum smtpc_stage smtpc_stage(const struct smtpc *s);
struct buf *smtpc_output(struct smtpc *s);
void smtpc_output_sent(struct smtpc *s);
void smtpc_input(struct smtpc *s, const char *data, size_t len);
/* The server closed the connection (or the caller lost it): CLOSED, stage kept. */
void smtpc_eof(struct smtpc *s);
/* ok false: CLOSED at SMTPC_ST_STARTTLS, code 0 (the caller may retry in clear). */
void smtpc_tls_done(struct smtpc *s, bool ok);
bool smtpc_in_tls(const struct smtpc *s);
/* Decides AUTH when the EHLO reply comes: after TLS, call it with smtpc_tls_done. */
void smtpc_set_auth_plaintext_ok(struct smtpc *s, bool ok);
/* AUTH succeeded on this session. */
bool smtpc_authenticated(const struct smtpc *s);

/*
 * Start a transaction (only in READY). Returns 0, or -1 when it cannot
 * be sent to this server at all, with txn->code/dsn/reply set for every
 * recipient: SIZE over the server's limit (552 5.3.4 "message size
 * exceeds fixed limit of server"), SMTPUTF8 needed and not offered (555
 * 5.6.7 "SMTPUTF8 is required, but was not offered by host"), an
 * address or parameter with a control character (501 5.1.7/5.1.3), no
 * recipients, or not in READY (code 0). Builds MAIL with SIZE=,
 * BODY=8BITMIME (only if offered), SMTPUTF8, RET=/ENVID= (only with
 * DSN); RCPT with NOTIFY=/ORCPT= (only with DSN). When an earlier
 * transaction left the server's state open (anything but a final 250),
 * RSET goes first. txn must stay valid until smtpc_txn_done().
 */
int smtpc_begin(struct smtpc *s, struct smtpc_txn *txn);
void smtpc_body_done(struct smtpc *s);
void smtpc_bdat(struct smtpc *s, size_t len, bool last);
/* The body goes with BDAT (CHUNKING offered) rather than DATA. */
bool smtpc_chunking(const struct smtpc *s);
/* The transaction's results are final (back in READY or CLOSED). */
bool smtpc_txn_done(const struct smtpc *s);
/* RSET before reusing a session for another transaction (READY only; a refusal closes). */
void smtpc_reset(struct smtpc *s);
/*
 * In READY: send QUIT, CLOSED after its reply (or EOF) with stage
 * SMTPC_ST_QUIT. Anywhere else (e.g. the content could not be read in
 * the middle of DATA): CLOSED at once without a byte, so that no
 * truncated message is ever ended with "."; the caller drops the
 * connection.
 */
void smtpc_quit(struct smtpc *s);
/*
 * Why the session is CLOSED: returns the code, with the stage and the
 * text when those are not NULL. The code is the server's when it ended
 * the session (a refused greeting, HELO, AUTH or RSET, any 421; the text
 * is then its reply "ddd text"); 0 for a lost connection, a protocol
 * error (malformed or unexpected reply, data after STARTTLS's 220) or a
 * failed TLS handshake; 450 for what Tern refuses itself (TLS required
 * and not offered or refused, no AUTH mechanism usable on this
 * connection), with a text that does not start with a code. After QUIT:
 * stage SMTPC_ST_QUIT, the code of its reply (0 when the server just
 * closed). smtpc_failure_dsn gives the enhanced status: the reply's,
 * "4.4.2" lost connection, "4.5.0" protocol error, "4.7.4" TLS not
 * offered, "4.7.5" TLS refused or failed, "4.7.0" AUTH.
 */
int smtpc_failure(const struct smtpc *s, enum smtpc_stage *stage, const char **text);
const char *smtpc_failure_dsn(const struct smtpc *s);

/*
 * EHLO reply parsing (smtpc_ehlo.c): reply is the raw multi-line reply
 * (lines "250-KEYWORD params" ending in CRLF or LF, first line the
 * greeting); keywords are case-insensitive. Fills caps from scratch.
 */
void smtpc_ehlo_parse(const char *reply, size_t len, struct smtpc_caps *caps);
/* Is mechanism (PLAIN, LOGIN) allowed by a smtp_sasl_mechanism_filter list? */
bool smtpc_mech_allowed(const char *filter, const char *mech);

#endif
