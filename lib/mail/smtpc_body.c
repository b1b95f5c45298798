/*
 * smtpc_body.c - a queued message's content as SMTP wire bytes (see
 * smtpc_body.h for what is sent). Mail layer, pure transformation of
 * content that came from anyone, no I/O and no privileges.
 *
 * Four stages, each a small state machine fed one character or one line
 * end at a time, so that no state depends on where a chunk ends:
 *   input   - NUL dropped, CR, LF and CR LF made one line end;
 *   headers - logical headers collected (bounded) so that MIME headers
 *             can be read and Content-Transfer-Encoding replaced, and a
 *             header is known to be one (a long one is folded, not cut);
 *   body    - boundary lines recognised, parts sent as they are or
 *             through the quoted-printable encoder;
 *   wire    - CRLF, dot-stuffing, and lines kept within the limit.
 */
#include "compat.h"

#include <string.h>

#include "mail/smtpc_body.h"
#include "mail/smtpc_body_impl.h"

enum { ST_HDR, ST_BODY };
/* Where a header section is: at a line start, in a name, after it, ... */
enum { H_START, H_NAME, H_NAMEWS, H_VALUE, H_PENDING, H_OVER, H_OVER_LS };
enum { B_PASS, B_QP };
/* A body line: at its start, held because it may be a boundary, or sent. */
enum { P_LS, P_BUF, P_STREAM };
/* What an entity's body is, decided at the end of its headers. */
enum { K_PASS, K_MULTIPART, K_MESSAGE, K_QP };

static void line_char(struct smtpc_body *b, char c);
static void line_end(struct smtpc_body *b);

static bool wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* --- wire: CRLF, dots, line length -------------------------------------- */

static void w_raw(struct smtpc_body *b, char c)
{
	if (b->bol) {
		if (c == '.' && (b->flags & SMTPC_BODY_DOTS))
			buf_addc(b->out, '.');
		b->bol = false;
	}
	buf_addc(b->out, c);
	b->col++;
}

static void w_crlf(struct smtpc_body *b)
{
	buf_add(b->out, "\r\n", 2);
	b->col = 0;
	b->bol = true;
}

/*
 * A header line reached the limit: fold it before the last white space
 * that follows a non-blank (the continuation starts with that white
 * space); with none, break it and start the continuation with a space so
 * that it stays part of the header (no space when the limit is 1: the
 * line could never progress).
 */
static void w_fold(struct smtpc_body *b)
{
	const char *d = b->fold.data;
	size_t p;

	for (p = b->fold.len - 1; p > 0; p--)
		if (wsp(d[p]) && !wsp(d[p - 1]))
			break;
	if (p == 0)
		p = b->fold.len;
	for (size_t i = 0; i < p; i++)
		w_raw(b, d[i]);
	w_crlf(b);
	buf_consume(&b->fold, p);
	if (b->fold.len == 0 && b->limit > 1)
		buf_addc(&b->fold, ' ');
}

static void w_char(struct smtpc_body *b, char c)
{
	if (b->limit == 0) {
		w_raw(b, c);
	} else if (!b->whdr) {
		/* Postfix's way: CRLF SPACE, which a MIME decoder ignores at worst. */
		if (b->col >= b->limit) {
			w_crlf(b);
			if (b->limit > 1)
				w_raw(b, ' ');
		}
		w_raw(b, c);
	} else {
		if (b->fold.len >= b->limit)
			w_fold(b);
		buf_addc(&b->fold, c);
	}
}

static void w_eol(struct smtpc_body *b)
{
	for (size_t i = 0; i < b->fold.len; i++)
		w_raw(b, b->fold.data[i]);
	buf_reset(&b->fold);
	w_crlf(b);
	b->whdr = false;
}

/* A header as collected: physical lines separated by LF, no final LF. */
static void emit_header(struct smtpc_body *b, const char *h, size_t len)
{
	b->whdr = true;
	for (size_t i = 0; i < len; i++) {
		if (h[i] == '\n') {
			w_eol(b);
			b->whdr = true;
		} else {
			w_char(b, h[i]);
		}
	}
	w_eol(b);
}

/* --- quoted-printable (RFC 2045 section 6.7) ----------------------------- */

static void qp_tok(struct smtpc_body *b, const char *t, size_t n)
{
	/*
	 * Soft line break: 75 characters and "=" make the 76 allowed, or
	 * fewer under a line limit below 76, so that the wire stage never
	 * has to break an encoded line itself (it still would, at 3 or less).
	 */
	size_t width = b->limit > 0 && b->limit < 76 ? b->limit : 76;

	if (b->qcol > 0 && b->qcol + n > width - 1) {
		w_char(b, '=');
		w_eol(b);
		b->qcol = 0;
	}
	for (size_t i = 0; i < n; i++)
		w_char(b, t[i]);
	b->qcol += n;
}

static void qp_hex(struct smtpc_body *b, unsigned char c)
{
	static const char hex[] = "0123456789ABCDEF";
	char t[3] = {'=', hex[c >> 4], hex[c & 15]};

	qp_tok(b, t, 3);
}

static void qp_char(struct smtpc_body *b, char c)
{
	unsigned char u = (unsigned char)c;

	if (b->qpend) {
		char w = b->qpend;
		b->qpend = 0;
		qp_tok(b, &w, 1);
	}
	if (wsp(c))
		b->qpend = c;		/* encoded only if it ends the line */
	else if (u < 33 || u > 126 || c == '=')
		qp_hex(b, u);
	else
		qp_tok(b, &c, 1);
}

static void qp_eol(struct smtpc_body *b)
{
	if (b->qpend) {
		qp_hex(b, (unsigned char)b->qpend);
		b->qpend = 0;
	}
	w_eol(b);
	b->qcol = 0;
}

/* --- body: parts and boundaries ------------------------------------------ */

static void content_char(struct smtpc_body *b, char c)
{
	if (b->bmode == B_QP)
		qp_char(b, c);
	else
		w_char(b, c);
}

static void content_eol(struct smtpc_body *b)
{
	if (b->bmode == B_QP)
		qp_eol(b);
	else
		w_eol(b);
}

static void flush_pre(struct smtpc_body *b)
{
	size_t n = b->pre_len;

	b->pre_len = 0;
	b->pre_state = P_STREAM;
	for (size_t i = 0; i < n; i++)
		content_char(b, b->pre[i]);
}

static void count_multipart(struct smtpc_body *b)
{
	b->nmultipart = 0;
	for (int i = 0; i < b->depth; i++)
		if (b->level[i].len > 0)
			b->nmultipart++;
}

static void reset_entity(struct smtpc_body *b, bool msg_level)
{
	b->state = ST_HDR;
	b->hstate = H_START;
	b->msg_level = msg_level;
	b->saw_mime_version = b->saw_cte = b->bad_cte = b->bad_ct = false;
	b->ctype = CT_NONE;
	b->cte = CTE_NONE;
	b->blen = 0;
	buf_reset(&b->hbuf);
	buf_reset(&b->held_cte);
}

/* The innermost level whose boundary the held line is, or -1. */
static int match_boundary(struct smtpc_body *b, bool *closing)
{
	size_t n = b->pre_len;

	while (n > 2 && wsp(b->pre[n - 1]))
		n--;		/* transport padding after a boundary */
	for (int i = b->depth - 1; i >= 0; i--) {
		const struct smtpc_body_level *l = &b->level[i];
		if (l->len == 0 || n < l->len + 2 || memcmp(b->pre + 2, l->boundary, l->len) != 0)
			continue;
		if (n == l->len + 2) {
			*closing = false;
			return i;
		}
		if (n == l->len + 4 && b->pre[l->len + 2] == '-' && b->pre[l->len + 3] == '-') {
			*closing = true;
			return i;
		}
	}
	return -1;
}

static void boundary_line(struct smtpc_body *b, int lv, bool closing)
{
	for (size_t i = 0; i < b->pre_len; i++)
		w_char(b, b->pre[i]);
	w_eol(b);
	b->pre_len = 0;
	b->pre_state = P_LS;
	/* A boundary ends every part nested inside its multipart too. */
	b->depth = closing ? lv : lv + 1;
	count_multipart(b);
	if (closing) {
		b->state = ST_BODY;	/* the epilogue: sent as it is */
		b->bmode = B_PASS;
	} else {
		reset_entity(b, false);
	}
}

static void body_char(struct smtpc_body *b, char c)
{
	if (b->pre_state == P_LS) {
		if (c == '-' && b->nmultipart > 0) {
			b->pre[0] = c;
			b->pre_len = 1;
			b->pre_state = P_BUF;
			return;
		}
		b->pre_state = P_STREAM;
	} else if (b->pre_state == P_BUF) {
		if (b->pre_len < sizeof(b->pre) && (b->pre_len >= 2 || c == '-')) {
			b->pre[b->pre_len++] = c;
			return;
		}
		flush_pre(b);
	}
	content_char(b, c);
}

static void body_eol(struct smtpc_body *b)
{
	if (b->pre_state == P_BUF) {
		bool closing;
		int lv = match_boundary(b, &closing);
		if (lv >= 0) {
			boundary_line(b, lv, closing);
			return;
		}
		flush_pre(b);
	}
	content_eol(b);
	b->pre_state = P_LS;
}

/* --- headers ------------------------------------------------------------- */

static void header_done(struct smtpc_body *b)
{
	const char *h = b->hbuf.data, *colon = memchr(h, ':', b->hbuf.len);
	size_t nl = (size_t)(colon - h), vl = b->hbuf.len - nl - 1;

	b->hstate = H_START;
	if (b->flags & SMTPC_BODY_TO_QP) {
		while (nl > 0 && wsp(h[nl - 1]))
			nl--;
		if (smtpc_mime_is(h, nl, "content-transfer-encoding")) {
			/* Held for the end of the headers; a second one is dropped. */
			if (!b->saw_cte) {
				b->saw_cte = true;
				b->cte = smtpc_mime_cte(colon + 1, vl);
				buf_add(&b->held_cte, h, b->hbuf.len);
			}
			buf_reset(&b->hbuf);
			return;
		}
		if (smtpc_mime_is(h, nl, "content-type") && b->ctype == CT_NONE && !b->bad_ct)
			b->ctype = smtpc_mime_ctype(colon + 1, vl, b->boundary, &b->blen);
		else if (smtpc_mime_is(h, nl, "mime-version"))
			b->saw_mime_version = true;
	}
	emit_header(b, h, b->hbuf.len);
	buf_reset(&b->hbuf);
}

/* A header too long to collect: sent now and streamed, not parsed. */
static void header_overflow(struct smtpc_body *b)
{
	const char *h = b->hbuf.data, *colon = memchr(h, ':', b->hbuf.len);
	size_t nl = (size_t)(colon - h);

	while (nl > 0 && wsp(h[nl - 1]))
		nl--;
	if (smtpc_mime_is(h, nl, "content-type"))
		b->bad_ct = true;
	else if (smtpc_mime_is(h, nl, "content-transfer-encoding"))
		b->bad_cte = true;
	b->whdr = true;
	for (size_t i = 0; i < b->hbuf.len; i++) {
		if (h[i] == '\n') {
			w_eol(b);
			b->whdr = true;
		} else {
			w_char(b, h[i]);
		}
	}
	buf_reset(&b->hbuf);
	b->hstate = H_OVER;
}

static int decide(struct smtpc_body *b)
{
	bool nest_ok = b->depth < SMTPC_BODY_NEST_MAX;
	bool plain = b->cte == CTE_NONE || b->cte == CTE_7BIT || b->cte == CTE_8BIT;

	if (b->bad_ct || b->bad_cte)
		return K_PASS;
	/* RFC 2046 5.1.5: a part of a digest without Content-Type is a message. */
	if (b->ctype == CT_NONE && !b->msg_level && b->depth > 0 && b->level[b->depth - 1].digest)
		b->ctype = CT_MESSAGE;
	if (b->ctype == CT_MULTIPART || b->ctype == CT_DIGEST)
		return b->blen > 0 && nest_ok && (plain || b->cte == CTE_BINARY) ? K_MULTIPART : K_PASS;
	if (b->ctype == CT_MESSAGE)
		return nest_ok && plain ? K_MESSAGE : K_PASS;
	if (b->ctype == CT_MSG_OTHER)
		return K_PASS;		/* message/partial and the like must stay 7bit as they are */
	return plain ? K_QP : K_PASS;
}

/* The headers of an entity ended (blank: with an empty line). */
static void header_section_end(struct smtpc_body *b, bool blank)
{
	int kind = K_PASS;

	if (b->flags & SMTPC_BODY_TO_QP) {
		kind = decide(b);
		if (kind == K_QP) {
			static const char cte[] = "Content-Transfer-Encoding: quoted-printable";
			static const char mv[] = "MIME-Version: 1.0";
			if (b->msg_level && !b->saw_mime_version)
				emit_header(b, mv, sizeof(mv) - 1);
			emit_header(b, cte, sizeof(cte) - 1);
		} else if (kind != K_PASS && b->cte == CTE_8BIT) {
			static const char cte[] = "Content-Transfer-Encoding: 7bit";
			emit_header(b, cte, sizeof(cte) - 1);
		} else if (b->held_cte.len > 0) {
			emit_header(b, b->held_cte.data, b->held_cte.len);
		}
		buf_reset(&b->held_cte);
	}
	if (blank)
		w_eol(b);
	b->pre_state = P_LS;
	b->bmode = kind == K_QP ? B_QP : B_PASS;
	b->qcol = 0;
	b->qpend = 0;
	if (kind == K_MULTIPART) {
		b->level[b->depth].len = b->blen;
		b->level[b->depth].digest = b->ctype == CT_DIGEST;
		memcpy(b->level[b->depth].boundary, b->boundary, b->blen);
		b->depth++;
		count_multipart(b);
	} else if (kind == K_MESSAGE) {
		b->level[b->depth].len = 0;
		b->level[b->depth++].digest = false;
		reset_entity(b, true);
		return;
	}
	b->state = ST_BODY;
}

/*
 * The line being read is not a header (c: its next character, or -1 at
 * its end): the header section ended before it, and it is read again as
 * the first line of what follows.
 */
static void not_header(struct smtpc_body *b, int c)
{
	struct buf line = b->hbuf;

	buf_init(&b->hbuf);
	header_section_end(b, false);
	for (size_t i = 0; i < line.len; i++)
		line_char(b, line.data[i]);
	buf_free(&line);
	if (c >= 0)
		line_char(b, (char)c);
	else
		line_end(b);
}

static bool name_char(char c)
{
	return c > 32 && c < 127 && c != ':';
}

static void hdr_char(struct smtpc_body *b, char c)
{
	if (b->hstate == H_OVER_LS) {
		if (wsp(c)) {
			b->hstate = H_OVER;
			b->whdr = true;
		} else {
			b->hstate = H_START;
		}
	} else if (b->hstate == H_PENDING) {
		if (wsp(c)) {
			buf_addc(&b->hbuf, '\n');	/* a continuation line */
			b->hstate = H_VALUE;
		} else {
			header_done(b);
		}
	}
	switch (b->hstate) {
	case H_START:
		if (!name_char(c)) {
			not_header(b, (unsigned char)c);
			return;
		}
		b->hstate = H_NAME;
		break;
	case H_NAME:
	case H_NAMEWS:
		if (c == ':') {
			b->hstate = H_VALUE;
			break;
		}
		if (wsp(c) || (b->hstate == H_NAME && name_char(c))) {
			if (wsp(c))
				b->hstate = H_NAMEWS;
			if (b->hbuf.len < SMTPC_BODY_HEADER_MAX)
				break;
		}
		not_header(b, (unsigned char)c);
		return;
	case H_VALUE:
		if (b->hbuf.len >= SMTPC_BODY_HEADER_MAX) {
			header_overflow(b);
			w_char(b, c);
			return;
		}
		break;
	case H_OVER:
		w_char(b, c);
		return;
	}
	buf_addc(&b->hbuf, c);
}

static void hdr_eol(struct smtpc_body *b)
{
	switch (b->hstate) {
	case H_PENDING:
		header_done(b);
		/* FALLTHROUGH */
	case H_START:
	case H_OVER_LS:
		header_section_end(b, true);
		return;
	case H_NAME:
	case H_NAMEWS:
		not_header(b, -1);
		return;
	case H_VALUE:
		b->hstate = H_PENDING;	/* complete unless the next line continues it */
		return;
	case H_OVER:
		w_eol(b);
		b->hstate = H_OVER_LS;
		return;
	}
}

/* --- input ----------------------------------------------------------------- */

static void line_char(struct smtpc_body *b, char c)
{
	b->line_open = true;
	if (b->state == ST_HDR)
		hdr_char(b, c);
	else
		body_char(b, c);
}

static void line_end(struct smtpc_body *b)
{
	b->line_open = false;
	if (b->state == ST_HDR)
		hdr_eol(b);
	else
		body_eol(b);
}

void smtpc_body_init(struct smtpc_body *b, unsigned flags, size_t line_limit)
{
	memset(b, 0, sizeof(*b));
	b->flags = flags;
	b->limit = line_limit;
	b->bol = true;
	buf_init(&b->hbuf);
	buf_init(&b->held_cte);
	buf_init(&b->fold);
	reset_entity(b, true);
}

void smtpc_body_feed(struct smtpc_body *b, const char *data, size_t len, struct buf *out)
{
	b->out = out;
	for (size_t i = 0; i < len; i++) {
		char c = data[i];
		if (c == '\0')
			continue;
		if (c == '\r') {
			line_end(b);
			b->cr = true;
		} else if (c == '\n') {
			if (!b->cr)
				line_end(b);
			b->cr = false;
		} else {
			b->cr = false;
			line_char(b, c);
		}
	}
	b->out = NULL;
}

void smtpc_body_finish(struct smtpc_body *b, struct buf *out)
{
	b->out = out;
	if (b->line_open)
		line_end(b);
	if (b->state == ST_HDR) {
		/* The content ended in a header section: no body to convert. */
		if (b->hstate == H_PENDING)
			header_done(b);
		if (b->held_cte.len > 0)
			emit_header(b, b->held_cte.data, b->held_cte.len);
		buf_reset(&b->held_cte);
	}
	b->out = NULL;
}

void smtpc_body_free(struct smtpc_body *b)
{
	buf_free(&b->hbuf);
	buf_free(&b->held_cte);
	buf_free(&b->fold);
}

bool smtpc_content_is_8bit(const char *data, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)data[i] & 0x80)
			return true;
	return false;
}
