/*
 * smtpc_int.h - what the SMTP client engine's files (smtpc.c for the
 * session, smtpc_txn.c for mail transactions) share; not for callers.
 * Mail layer, no I/O, no privileges.
 */
#ifndef TERN_MAIL_SMTPC_INT_H
#define TERN_MAIL_SMTPC_INT_H

#include "mail/smtp_reply.h"
#include "mail/smtpc.h"

/* An incomplete reply longer than this ends the session (a server
 * sending continuation lines for ever). */
#define SMTPC_INPUT_MAX (8 * SMTP_REPLY_MAX)

struct pend {
	enum smtpc_stage st;
	size_t idx;		/* RCPT: the recipient; BDAT: LAST; DOT: 1 when only closing a DATA with no recipients */
};

struct smtpc {
	char *helo, *user, *pass, *mechs;
	bool starttls, require_tls, plaintext_ok;
	struct smtpc_caps caps;
	struct buf in, out, text, raw;
	struct pend *pend;
	size_t pend_cap, head, count, nsent;
	bool closed, tls_wait, body_wait, in_tls, authed;
	bool auth_login;	/* AUTH LOGIN rather than PLAIN */
	int auth_step;		/* 334 replies answered */
	struct smtpc_txn *txn;
	bool txn_active, mail_sent, mail_ok, need_rset;
	size_t next_rcpt;	/* lock-step: the next RCPT to send */
	int fail_code;
	enum smtpc_stage fail_stage;
	struct buf fail_text;
	char fail_dsn[16];
};

/* Queue a command line (without CRLF) and the reply it expects. */
void smtpc_send(struct smtpc *s, enum smtpc_stage st, size_t idx, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* End the session (CLOSED) with this code, stage, enhanced status and text. */
void smtpc_fail(struct smtpc *s, int code, enum smtpc_stage st, const char *dsn, const char *text);
/* End the session on the server's reply now in s->text. */
void smtpc_fail_reply(struct smtpc *s, int code, enum smtpc_stage st);
/* code, enhanced status (dsn has 16 bytes) and text of one reply. */
void smtpc_set_result(int *code, char *dsn, struct buf *reply, int c, const char *text);
/* A reply to MAIL, RCPT, DATA, end of data or BDAT (smtpc_txn.c). */
void smtpc_txn_reply(struct smtpc *s, int code, const struct pend *p);
/* Lock-step: send MAIL, or the next RCPT. */
void smtpc_send_next(struct smtpc *s);

#endif
