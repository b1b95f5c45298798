/*
 * smtp_cmd.h - parsing of SMTP command lines (RFC 5321, 1869, 1870,
 * 3030, 3461, 6152, 6531): the verb, MAIL/RCPT paths and their ESMTP
 * parameters.
 *
 * Mail layer, pure functions on untrusted input: no I/O, no allocation
 * beyond the struct buf outputs, no privileges. Used by the SMTP engine
 * (smtpd and sendmail -bs) and fuzzed by tests/fuzz/fuzz_smtp_cmd.c.
 */
#ifndef TERN_MAIL_SMTP_CMD_H
#define TERN_MAIL_SMTP_CMD_H

#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"

enum smtp_verb {
	SMTP_VERB_UNKNOWN,
	SMTP_VERB_HELO,
	SMTP_VERB_EHLO,
	SMTP_VERB_MAIL,
	SMTP_VERB_RCPT,
	SMTP_VERB_DATA,
	SMTP_VERB_BDAT,
	SMTP_VERB_RSET,
	SMTP_VERB_NOOP,
	SMTP_VERB_QUIT,
	SMTP_VERB_VRFY,
	SMTP_VERB_EXPN,
	SMTP_VERB_HELP,
	SMTP_VERB_STARTTLS,
	SMTP_VERB_AUTH,
	SMTP_VERB_ETRN,
	/* Not SMTP at all: a web browser or proxy talking to port 25. */
	SMTP_VERB_HTTP,
};

struct smtp_cmd {
	enum smtp_verb verb;
	const char *name;	/* upper-case verb as parsed ("" if none) */
	const char *arg;	/* text after the verb and one or more spaces; "" if none */
};

/*
 * Split a command line (without its CRLF, NUL-terminated, no NUL
 * inside) into verb and argument. Verbs are case-insensitive. Trailing
 * white space is ignored. Never fails: unknown verbs give
 * SMTP_VERB_UNKNOWN. cmd->arg points into line.
 */
void smtp_cmd_parse(const char *line, struct smtp_cmd *cmd);

/* Errors from the path parsers, chosen so the engine can reply exactly. */
enum smtp_path_err {
	SMTP_PATH_OK = 0,
	SMTP_PATH_SYNTAX,	/* no "FROM:"/"TO:", junk: 501 5.5.4 */
	SMTP_PATH_BAD_ADDR,	/* address syntax: 501 5.1.7 (sender) / 5.1.3 (recipient) */
	SMTP_PATH_BAD_PARAM,	/* unknown or malformed ESMTP parameter: 555 5.5.4 */
	SMTP_PATH_TOO_LONG,	/* path over 256 octets or local part over 64: 501 5.5.4 */
};

/* DSN RET (RFC 3461) */
enum smtp_ret { SMTP_RET_NONE, SMTP_RET_FULL, SMTP_RET_HDRS };
/* BODY (RFC 6152) */
enum smtp_body { SMTP_BODY_NONE, SMTP_BODY_7BIT, SMTP_BODY_8BITMIME };

struct smtp_mail_args {
	struct buf addr;	/* "" for the null sender <> */
	long long size;		/* SIZE=, -1 if not given */
	enum smtp_body body;
	enum smtp_ret ret;
	bool smtputf8;
	struct buf envid;	/* ENVID=, decoded xtext; "" if not given */
	bool has_envid;
};

struct smtp_rcpt_args {
	struct buf addr;
	int notify;		/* DSN_NOTIFY_* bits from cleanup.h; 0 = not given */
	struct buf orcpt;	/* "rfc822;addr" with the address decoded; "" if not given */
};

void smtp_mail_args_init(struct smtp_mail_args *a);
void smtp_mail_args_free(struct smtp_mail_args *a);
void smtp_rcpt_args_init(struct smtp_rcpt_args *a);
void smtp_rcpt_args_free(struct smtp_rcpt_args *a);

/*
 * Parse the argument of MAIL ("FROM:<path> params") or RCPT
 * ("TO:<path> params"). A source route (@a,@b:user@dom) is accepted and
 * dropped as RFC 5321 section 3.3 asks. Angle brackets may be missing
 * (as many clients send), spaces after the colon are tolerated. On error
 * bad (may be NULL) gets the offending parameter name for the reply.
 */
enum smtp_path_err smtp_parse_mail(const char *arg, struct smtp_mail_args *out, struct buf *bad);
enum smtp_path_err smtp_parse_rcpt(const char *arg, struct smtp_rcpt_args *out, struct buf *bad);

/*
 * strict_rfc821_envelopes: does the path after keyword ("FROM:", "TO:")
 * start with "<" (spaces after the colon allowed, as Postfix allows them)?
 * The parsers above check the rest (what follows ">" must be parameters).
 */
bool smtp_path_bracketed(const char *arg, const char *keyword);

/*
 * For milters, which get MAIL and RCPT as the client wrote them: the
 * path after keyword with its angle brackets (added when the client
 * left them out, source route kept) into path, and each parameter
 * ("SIZE=100") as a NUL-terminated word into params. Both are empty
 * when the argument does not parse.
 */
void smtp_path_raw(const char *arg, const char *keyword, struct buf *path, struct buf *params);

/*
 * Check that text is a valid mailbox: local-part (dot-string or quoted
 * string) "@" domain (labels or an address literal), or a bare local part
 * when allow_no_domain. Used for VRFY and by the path parser.
 */
bool smtp_valid_mailbox(const char *addr, bool allow_no_domain);

/* Check a HELO/EHLO argument: a domain, or an address literal; no controls. */
bool smtp_valid_helo(const char *arg);

/* Decode RFC 3461 xtext into out; false when malformed. */
bool smtp_xtext_decode(const char *in, size_t len, struct buf *out);
/* Encode out of bytes into xtext (for logs and queue records). */
void smtp_xtext_encode(const char *in, size_t len, struct buf *out);

/* Parse "BDAT size [LAST]"; false on syntax errors. */
bool smtp_parse_bdat(const char *arg, unsigned long long *size, bool *last);

#endif
