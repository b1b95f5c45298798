/*
 * milter_proto.c - milter packet framing, the encoders of every
 * MTA->filter command and the decoder of every filter->MTA reply.
 *
 * Mail layer, no I/O (see milter_proto.h). Runs with its driver's
 * privileges; the decoder treats every byte from the filter as hostile:
 * it checks each length against what is left before reading, and each
 * string for its terminating NUL, so that no reply can make it read past
 * the packet or allocate more than the packet's size.
 */
#include "compat.h"

#include <stdlib.h>
#include <string.h>

#include "mail/milter_proto.h"
#include "util/mem.h"

static void put32(struct buf *out, uint32_t v)
{
	unsigned char b[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
			      (unsigned char)(v >> 8), (unsigned char)v};
	buf_add(out, b, 4);
}

static uint32_t get32(const char *p)
{
	const unsigned char *u = (const unsigned char *)p;
	return (uint32_t)u[0] << 24 | (uint32_t)u[1] << 16 | (uint32_t)u[2] << 8 | u[3];
}

void milter_pkt_put(struct buf *out, char cmd, const void *data, size_t len)
{
	/* Callers bound len by the negotiated size, far below 4 GiB. */
	put32(out, (uint32_t)len + 1);
	buf_addc(out, cmd);
	if (len)
		buf_add(out, data, len);
}

int milter_pkt_take(const char *in, size_t len, size_t max_data, char *cmd,
		    const char **data, size_t *dlen, size_t *used, const char **err)
{
	if (len < 4)
		return 0;
	uint32_t n = get32(in);
	if (n == 0) {
		*err = "milter packet with length 0";
		return -1;
	}
	if (n - 1 > max_data) {
		*err = "milter packet larger than the negotiated data size";
		return -1;
	}
	if (len - 4 < n)
		return 0;
	*cmd = in[4];
	*data = in + 5;
	*dlen = n - 1;
	*used = 4 + (size_t)n;
	return 1;
}

/*
 * Packets are built in place: the length is patched once the data is
 * known, so that the encoders need no scratch buffer.
 */
static size_t pkt_begin(struct buf *out, char cmd)
{
	size_t at = out->len;
	put32(out, 0);
	buf_addc(out, cmd);
	return at;
}

static void pkt_end(struct buf *out, size_t at)
{
	uint32_t n = (uint32_t)(out->len - at - 4);
	unsigned char *p = (unsigned char *)out->data + at;
	p[0] = (unsigned char)(n >> 24);
	p[1] = (unsigned char)(n >> 16);
	p[2] = (unsigned char)(n >> 8);
	p[3] = (unsigned char)n;
}

static void put_str(struct buf *out, const char *s)
{
	buf_add(out, s ? s : "", strlen(s ? s : "") + 1);
}

void milter_enc_optneg(struct buf *out, uint32_t version, uint32_t actions, uint32_t proto)
{
	size_t at = pkt_begin(out, MILTER_C_OPTNEG);
	put32(out, version);
	put32(out, actions);
	put32(out, proto);
	pkt_end(out, at);
}

void milter_enc_macro(struct buf *out, char stage, const char *const *pairs, size_t n)
{
	size_t at = pkt_begin(out, MILTER_C_MACRO);
	buf_addc(out, stage);
	for (size_t i = 0; i < n; i++) {
		put_str(out, pairs[2 * i]);
		put_str(out, pairs[2 * i + 1]);
	}
	pkt_end(out, at);
}

void milter_enc_connect(struct buf *out, const char *host, char family,
			uint16_t port, const char *addr)
{
	size_t at = pkt_begin(out, MILTER_C_CONNECT);
	put_str(out, host);
	buf_addc(out, family);
	if (family != MILTER_FAM_UNKNOWN) {
		if (family == MILTER_FAM_UNIX)
			port = 0;
		buf_addc(out, (char)(port >> 8));
		buf_addc(out, (char)(port & 0xff));
		put_str(out, addr);
	}
	pkt_end(out, at);
}

static void enc_str(struct buf *out, char cmd, const char *s)
{
	size_t at = pkt_begin(out, cmd);
	put_str(out, s);
	pkt_end(out, at);
}

void milter_enc_helo(struct buf *out, const char *name)
{
	enc_str(out, MILTER_C_HELO, name);
}

static void enc_env(struct buf *out, char cmd, const char *addr, const char *const *args, size_t nargs)
{
	size_t at = pkt_begin(out, cmd);
	put_str(out, addr);
	for (size_t i = 0; i < nargs; i++)
		put_str(out, args[i]);
	pkt_end(out, at);
}

void milter_enc_mail(struct buf *out, const char *addr, const char *const *args, size_t nargs)
{
	enc_env(out, MILTER_C_MAIL, addr, args, nargs);
}

void milter_enc_rcpt(struct buf *out, const char *addr, const char *const *args, size_t nargs)
{
	enc_env(out, MILTER_C_RCPT, addr, args, nargs);
}

void milter_enc_data(struct buf *out)
{
	milter_pkt_put(out, MILTER_C_DATA, NULL, 0);
}

void milter_enc_header(struct buf *out, const char *name, const char *value)
{
	size_t at = pkt_begin(out, MILTER_C_HEADER);
	put_str(out, name);
	put_str(out, value);
	pkt_end(out, at);
}

void milter_enc_eoh(struct buf *out)
{
	milter_pkt_put(out, MILTER_C_EOH, NULL, 0);
}

void milter_enc_body(struct buf *out, const void *data, size_t len)
{
	milter_pkt_put(out, MILTER_C_BODY, data, len);
}

void milter_enc_bodyeob(struct buf *out)
{
	milter_pkt_put(out, MILTER_C_BODYEOB, NULL, 0);
}

void milter_enc_abort(struct buf *out)
{
	milter_pkt_put(out, MILTER_C_ABORT, NULL, 0);
}

void milter_enc_quit(struct buf *out)
{
	milter_pkt_put(out, MILTER_C_QUIT, NULL, 0);
}

void milter_enc_quit_nc(struct buf *out)
{
	milter_pkt_put(out, MILTER_C_QUIT_NC, NULL, 0);
}

void milter_enc_unknown(struct buf *out, const char *line)
{
	enc_str(out, MILTER_C_UNKNOWN, line);
}

/* ---- decoder ---- */

/*
 * Split data into NUL-terminated strings: at least min and at most max
 * of them, the last ending exactly at the end of the data. Returns the
 * count or -1.
 */
static int split_strs(const char *data, size_t len, int min, int max, const char **v)
{
	int n = 0;
	size_t i = 0;
	if (len == 0 || data[len - 1] != '\0')
		return -1;
	while (i < len) {
		if (n == max)
			return -1;
		v[n++] = data + i;
		i += strlen(data + i) + 1;	/* stops at the last byte, a NUL */
	}
	return n < min ? -1 : n;
}

/* A header field name: printable US-ASCII without ':' (RFC 5322 2.2). */
static bool header_name_ok(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s; s++)
		if ((unsigned char)*s <= 32 || (unsigned char)*s >= 127 || *s == ':')
			return false;
	return true;
}

static int digits(const char *p, int max)
{
	int n = 0;
	while (n < max && p[n] >= '0' && p[n] <= '9')
		n++;
	return n;
}

int milter_replycode_check(const char *text, const char **err)
{
	const char *p = text;
	int code = -1;
	for (;;) {
		if (digits(p, 3) != 3 || (p[0] != '4' && p[0] != '5')) {
			*err = "milter reply code is not 4xx or 5xx";
			return -1;
		}
		int c = (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
		if (code >= 0 && c != code) {
			*err = "milter reply code changes within a multi-line reply";
			return -1;
		}
		code = c;
		p += 3;
		char sep = *p;
		if (sep != '-' && sep != ' ' && sep != '\0' && sep != '\r') {
			*err = "milter reply code not followed by a space or '-'";
			return -1;
		}
		if (sep == '-' || sep == ' ') {
			p++;
			/* An enhanced status code, when the text starts with one. */
			int d = digits(p, 2);
			if (d == 1 && p[1] == '.') {
				int d2 = digits(p + 2, 4), d3;
				if (d2 < 1 || d2 > 3 || p[2 + d2] != '.' ||
				    (d3 = digits(p + 3 + d2, 4)) < 1 || d3 > 3 ||
				    (p[3 + d2 + d3] != ' ' && p[3 + d2 + d3] != '\0' &&
				     p[3 + d2 + d3] != '\r')) {
					*err = "malformed enhanced status code in milter reply";
					return -1;
				}
				if (p[0] != text[0]) {
					*err = "enhanced status code class differs from the milter reply code";
					return -1;
				}
			}
		}
		for (; *p && *p != '\r'; p++)
			if (((unsigned char)*p < 32 && *p != '\t') || (unsigned char)*p == 127) {
				*err = "control character in milter reply text";
				return -1;
			}
		if (*p == '\0') {
			if (sep == '-') {
				*err = "milter reply ends with a continuation line";
				return -1;
			}
			return code;
		}
		if (p[1] != '\n' || p[2] == '\0') {
			*err = "malformed line end in milter reply text";
			return -1;
		}
		if (sep != '-') {
			*err = "milter reply continues after its last line";
			return -1;
		}
		p += 2;
	}
}

/* Sendmail reads the reply text as a format: "%%" stands for "%". */
static char *unescape_pct(const char *s)
{
	char *r = xstrdup(s), *w = r;
	for (const char *p = s; *p; p++) {
		*w++ = *p;
		if (p[0] == '%' && p[1] == '%')
			p++;
	}
	*w = '\0';
	return r;
}

/* Move the optional macro lists after the three OPTNEG words into r. */
static int decode_symlists(const char *p, size_t len, struct milter_reply *r, const char **err)
{
	while (len > 0) {
		if (len < 5) {
			*err = "truncated macro list in milter negotiation";
			return -1;
		}
		uint32_t st = get32(p);
		p += 4;
		len -= 4;
		const char *nul = memchr(p, '\0', len);
		if (!nul) {
			*err = "unterminated macro list in milter negotiation";
			return -1;
		}
		if (st >= MILTER_M_COUNT) {
			*err = "unknown macro stage in milter negotiation";
			return -1;
		}
		if (r->symlist[st]) {
			*err = "macro stage listed twice in milter negotiation";
			return -1;
		}
		r->symlist[st] = xstrdup(p);
		len -= (size_t)(nul - p) + 1;
		p = nul + 1;
	}
	return 0;
}

int milter_reply_decode(char cmd, const char *data, size_t len,
			struct milter_reply *r, const char **err)
{
	const char *s[3];
	int n;

	memset(r, 0, sizeof *r);
	r->cmd = cmd;
	r->mod.type = cmd;
	switch (cmd) {
	case MILTER_R_CONTINUE:
	case MILTER_R_ACCEPT:
	case MILTER_R_REJECT:
	case MILTER_R_TEMPFAIL:
	case MILTER_R_DISCARD:
	case MILTER_R_SKIP:
	case MILTER_R_PROGRESS:
	case MILTER_R_SHUTDOWN:
	case MILTER_R_CONN_FAIL:
		if (len != 0) {
			*err = "milter reply carries unexpected data";
			return -1;
		}
		return 0;
	case MILTER_R_OPTNEG:
		if (len < 12) {
			*err = "truncated milter negotiation reply";
			return -1;
		}
		r->version = get32(data);
		r->actions = get32(data + 4);
		r->proto = get32(data + 8);
		return decode_symlists(data + 12, len - 12, r, err);
	case MILTER_R_SETSYMLIST:
		if (len < 4 || split_strs(data + 4, len - 4, 1, 1, s) < 0) {
			*err = "malformed milter macro list";
			return -1;
		}
		r->stage = get32(data);
		if (r->stage >= MILTER_M_COUNT) {
			*err = "unknown macro stage in milter macro list";
			return -1;
		}
		r->text = xstrdup(s[0]);
		return 0;
	case MILTER_R_REPLYCODE: {
		if (split_strs(data, len, 1, 1, s) < 0) {
			*err = "malformed milter reply code";
			return -1;
		}
		int code = milter_replycode_check(s[0], err);
		if (code < 0)
			return -1;
		r->code = code;
		r->text = unescape_pct(s[0]);
		return 0;
	}
	case MILTER_R_QUARANTINE:
		if (split_strs(data, len, 1, 1, s) < 0) {
			*err = "malformed milter quarantine reason";
			return -1;
		}
		r->mod.name = xstrdup(s[0]);
		return 0;
	case MILTER_R_INSHEADER:
	case MILTER_R_CHGHEADER:
		if (len < 4) {
			*err = "truncated milter header change";
			return -1;
		}
		r->mod.index = get32(data);
		data += 4;
		len -= 4;
		/* fall through */
	case MILTER_R_ADDHEADER:
		if (split_strs(data, len, 2, 2, s) < 0) {
			*err = "malformed milter header change";
			return -1;
		}
		if (!header_name_ok(s[0])) {
			*err = "invalid header name in milter header change";
			return -1;
		}
		r->mod.name = xstrdup(s[0]);
		r->mod.value = xstrdup(s[1]);
		return 0;
	case MILTER_R_ADDRCPT:
	case MILTER_R_DELRCPT:
	case MILTER_R_ADDRCPT_PAR:
	case MILTER_R_CHGFROM:
		n = split_strs(data, len, 1,
			       cmd == MILTER_R_ADDRCPT || cmd == MILTER_R_DELRCPT ? 1 : 2, s);
		if (n < 0 || s[0][0] == '\0') {
			*err = "malformed milter envelope change";
			return -1;
		}
		r->mod.name = xstrdup(s[0]);
		if (n == 2)
			r->mod.value = xstrdup(s[1]);
		return 0;
	case MILTER_R_REPLBODY:
		r->mod.body = xmalloc(len ? len : 1);
		if (len)
			memcpy(r->mod.body, data, len);
		r->mod.body_len = len;
		return 0;
	default:
		*err = "unknown milter reply";
		return -1;
	}
}

void milter_mod_free(struct milter_mod *m)
{
	free(m->name);
	free(m->value);
	free(m->body);
	m->name = m->value = m->body = NULL;
}

void milter_reply_free(struct milter_reply *r)
{
	for (int i = 0; i < MILTER_M_COUNT; i++) {
		free(r->symlist[i]);
		r->symlist[i] = NULL;
	}
	free(r->text);
	r->text = NULL;
	milter_mod_free(&r->mod);
}
