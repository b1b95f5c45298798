/*
 * smtpc_body.h - a queued message's content turned into the bytes that
 * go on the SMTP wire (RFC 5321 section 4.5.2, RFC 6152, RFC 2045).
 *
 * Mail layer, pure transformation, no I/O and no privileges: the smtp
 * delivery program feeds it what qfile_read() gives (headers and body
 * with LF line ends, as cleanup wrote them) in chunks of any size, and
 * sends what it appends. Memory is bounded whatever the message size;
 * every state survives a chunk edge, so feeding one byte at a time gives
 * the same bytes as one feed.
 *
 * What reaches the wire:
 *   - every line ends in CRLF. A LF, a CR, or a CR LF in the content is
 *     one line end, so a bare CR becomes CRLF: no bare CR or LF is ever
 *     sent, and what a sender meant as a line break stays one.
 *   - NUL bytes are removed (RFC 5322 forbids them in a message; no
 *     server is given one to interpret).
 *   - with line_limit > 0 (smtp_line_length_limit), no line has more
 *     than line_limit characters before its CRLF (a dot added for
 *     transparency is not counted, as RFC 5321 4.5.3.1.6 says): a header
 *     line is folded at the last white space that fits, or, if it has
 *     none, broken with CRLF SPACE; a body line is broken with CRLF
 *     SPACE too (Postfix's way: a MIME decoder ignores the space at
 *     worst).
 *   - with SMTPC_BODY_DOTS (DATA), a line that starts with "." gets one
 *     more; without it (BDAT) nothing is stuffed.
 *   - with SMTPC_BODY_TO_QP (the server lacks 8BITMIME; the caller does
 *     not set it when disable_mime_output_conversion = yes), the MIME
 *     structure is followed (multipart with boundary, message/rfc822,
 *     the parts of a multipart/digest, SMTPC_BODY_NEST_MAX deep): each
 *     leaf part whose Content-Transfer-Encoding is 8bit, 7bit or absent
 *     gets "Content-Transfer-Encoding: quoted-printable" (the old header
 *     is removed; a message without MIME-Version also gets
 *     "MIME-Version: 1.0") and its body encoded as quoted-printable, lines
 *     of at most 76 characters (or line_limit, if lower). A 7bit or undeclared part is converted
 *     too, since it cannot be known before its end whether it holds 8-bit
 *     bytes; for 7-bit text the encoding is lossless. A multipart or
 *     message/rfc822 entity declared 8bit is relabelled 7bit. base64,
 *     quoted-printable, binary and unknown encodings are sent as they are
 *     (binary cannot be carried without BINARYMIME; it is not converted).
 *     8-bit bytes in headers stay (that needs SMTPUTF8, the caller's
 *     business). Malformed MIME (a multipart without boundary, a header
 *     too long to parse) is sent as it is, never refused. An entity's
 *     Content-Transfer-Encoding header, kept or replaced, moves to the
 *     end of its headers (it is known only there whether it changes);
 *     only the first one counts, others are removed.
 */
#ifndef TERN_MAIL_SMTPC_BODY_H
#define TERN_MAIL_SMTPC_BODY_H

#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"

#define SMTPC_BODY_DOTS		0x1	/* dot-stuff lines (DATA); without it, BDAT: no stuffing */
#define SMTPC_BODY_TO_QP	0x2	/* convert 8-bit MIME parts to quoted-printable (server lacks 8BITMIME) */

#define SMTPC_BODY_NEST_MAX	20	/* multipart and message/rfc822 levels followed (mime_nesting_limit) */
#define SMTPC_BODY_BOUNDARY_MAX	200	/* longest boundary recognised (RFC 2046 allows 70) */
#define SMTPC_BODY_HEADER_MAX	32768	/* a longer header is sent but not parsed */

/* One multipart level: the boundary that ends its parts. */
struct smtpc_body_level {
	size_t len;			/* 0: a message/rfc822 level (no boundary) */
	bool digest;			/* multipart/digest: parts are message/rfc822 by default */
	char boundary[SMTPC_BODY_BOUNDARY_MAX];
};

/* The encoder's state; callers only allocate it. */
struct smtpc_body {
	unsigned flags;
	size_t limit;
	/* input: line ends */
	bool cr;			/* the last byte was CR: a LF after it adds nothing */
	bool line_open;			/* characters since the last line end */
	/* structure */
	int state, hstate, bmode;
	bool msg_level;			/* the header section is a message's, not a part's */
	bool saw_mime_version, saw_cte, bad_cte, bad_ct;
	int ctype, cte;
	struct buf hbuf;		/* the header being collected */
	struct buf held_cte;		/* the Content-Transfer-Encoding header, written at the end */
	size_t blen;			/* boundary of the entity whose headers are read */
	char boundary[SMTPC_BODY_BOUNDARY_MAX];
	struct smtpc_body_level level[SMTPC_BODY_NEST_MAX];
	int depth;
	int nmultipart;			/* levels with a boundary */
	char pre[SMTPC_BODY_BOUNDARY_MAX + 8];	/* start of a body line that may be a boundary */
	size_t pre_len;
	int pre_state;
	/* quoted-printable */
	size_t qcol;
	char qpend;			/* white space held until it is known not to end the line */
	/* wire lines */
	size_t col;			/* characters on the output line, stuffed dot not counted */
	bool bol;			/* nothing written on the output line yet */
	bool whdr;			/* the output line is a header line: fold it */
	struct buf fold;		/* a header line held until it ends or must be folded */
	struct buf *out;
};

void smtpc_body_init(struct smtpc_body *b, unsigned flags, size_t line_limit /* 0 = none */);
/* Append the wire bytes for data (any part of the content) to out. */
void smtpc_body_feed(struct smtpc_body *b, const char *data, size_t len, struct buf *out);
/* The final CRLF if the content did not end with one; NOT the "." line. */
void smtpc_body_finish(struct smtpc_body *b, struct buf *out);
void smtpc_body_free(struct smtpc_body *b);

/*
 * Does data have 8-bit bytes? Headers and body alike; a caller that must
 * know before MAIL FROM calls it on each chunk and ORs the answers.
 */
bool smtpc_content_is_8bit(const char *data, size_t len);

#endif
