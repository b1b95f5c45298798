/*
 * smtp_cmd.c - parsing of SMTP command lines: verbs, MAIL/RCPT paths,
 * ESMTP parameters, xtext, BDAT arguments (see smtp_cmd.h).
 *
 * Mail layer. Pure functions over untrusted network input; they run
 * inside smtpd as mail_owner and inside sendmail -bs as the caller.
 * Every loop is bounded by the NUL-terminated input; nothing is written
 * outside the struct buf outputs.
 */
#include "compat.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mail/cleanup.h"
#include "mail/smtp_cmd.h"

/* Longest address we take, in octets (RFC 5321 allows 256 for a path;
 * VERP and SRS addresses make longer ones common enough). */
#define SMTP_ADDR_MAX	1000

static const struct {
	const char *name;
	enum smtp_verb verb;
} verbs[] = {
	{"HELO", SMTP_VERB_HELO}, {"EHLO", SMTP_VERB_EHLO},
	{"MAIL", SMTP_VERB_MAIL}, {"RCPT", SMTP_VERB_RCPT},
	{"DATA", SMTP_VERB_DATA}, {"BDAT", SMTP_VERB_BDAT},
	{"RSET", SMTP_VERB_RSET}, {"NOOP", SMTP_VERB_NOOP},
	{"QUIT", SMTP_VERB_QUIT}, {"VRFY", SMTP_VERB_VRFY},
	{"EXPN", SMTP_VERB_EXPN}, {"HELP", SMTP_VERB_HELP},
	{"STARTTLS", SMTP_VERB_STARTTLS}, {"AUTH", SMTP_VERB_AUTH},
	{"ETRN", SMTP_VERB_ETRN},
	/* Web clients and proxies pointed at port 25. */
	{"GET", SMTP_VERB_HTTP}, {"POST", SMTP_VERB_HTTP},
	{"CONNECT", SMTP_VERB_HTTP}, {"HEAD", SMTP_VERB_HTTP},
	{"PUT", SMTP_VERB_HTTP},
};

void smtp_cmd_parse(const char *line, struct smtp_cmd *cmd)
{
	static __thread char name[12];
	size_t n = 0;
	const char *p = line;

	while (isalpha((unsigned char)*p)) {
		if (n < sizeof(name) - 1)
			name[n++] = (char)toupper((unsigned char)*p);
		p++;
	}
	name[n] = '\0';
	cmd->name = name;
	cmd->verb = SMTP_VERB_UNKNOWN;
	/* A verb is followed by a space or the end of the line. */
	if (*p != '\0' && *p != ' ' && *p != '\t') {
		cmd->arg = p + strlen(p);	/* "" at the end of line */
		return;
	}
	if (p - line < (ptrdiff_t)sizeof(name))
		for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
			if (strcmp(verbs[i].name, name) == 0) {
				cmd->verb = verbs[i].verb;
				break;
			}
	while (*p == ' ' || *p == '\t')
		p++;
	cmd->arg = p;
}

/* RFC 5322 atext, plus octets >= 0x80 for SMTPUTF8 (RFC 6531). */
static bool is_atext(unsigned char c)
{
	if (c >= 0x80 || isalnum(c))
		return true;
	return c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

static bool valid_dot_string(const char *s, size_t len)
{
	if (len == 0 || s[0] == '.' || s[len - 1] == '.')
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '.') {
			if (s[i + 1] == '.')
				return false;
		} else if (!is_atext((unsigned char)s[i])) {
			return false;
		}
	}
	return true;
}

static bool valid_quoted_string(const char *s, size_t len)
{
	if (len < 2 || s[0] != '"' || s[len - 1] != '"')
		return false;
	for (size_t i = 1; i < len - 1; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '\\') {
			if (i + 1 >= len - 1)
				return false;
			c = (unsigned char)s[++i];
			if (c < 32 || c == 127)
				return false;
		} else if (c == '"' || (c < 32 && c != '\t') || c == 127) {
			return false;
		}
	}
	return true;
}

static bool valid_address_literal(const char *s, size_t len)
{
	char tmp[64];
	unsigned char addr[16];

	if (len < 3 || s[0] != '[' || s[len - 1] != ']' || len - 2 >= sizeof(tmp))
		return false;
	memcpy(tmp, s + 1, len - 2);
	tmp[len - 2] = '\0';
	if (strncasecmp(tmp, "IPv6:", 5) == 0)
		return inet_pton(AF_INET6, tmp + 5, addr) == 1;
	return inet_pton(AF_INET, tmp, addr) == 1;
}

static bool valid_domain(const char *s, size_t len)
{
	if (len == 0 || len > 255)
		return false;
	if (s[0] == '[')
		return valid_address_literal(s, len);
	size_t label = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '.') {
			/* Empty labels, a leading or a trailing dot: no. */
			if (label == 0 || s[i - 1] == '-' || i + 1 == len)
				return false;
			label = 0;
		} else if (isalnum(c) || c >= 0x80 || c == '_' || (c == '-' && label > 0)) {
			if (++label > 63)
				return false;
		} else {
			return false;
		}
	}
	return s[len - 1] != '-';
}

/* Index of the '@' that separates local part and domain, or -1. */
static long domain_at(const char *s, size_t len)
{
	bool quoted = false;
	long at = -1;
	for (size_t i = 0; i < len; i++) {
		if (quoted && s[i] == '\\' && i + 1 < len) {
			i++;
			continue;
		}
		if (s[i] == '"')
			quoted = !quoted;
		else if (!quoted && s[i] == '@')
			at = (long)i;
	}
	return at;
}

static bool valid_mailbox_n(const char *s, size_t len, bool allow_no_domain)
{
	if (len == 0 || len > SMTP_ADDR_MAX)
		return false;
	long at = domain_at(s, len);
	size_t local_len = at < 0 ? len : (size_t)at;
	if (at < 0 && !allow_no_domain)
		return false;
	if (!(s[0] == '"' ? valid_quoted_string(s, local_len) : valid_dot_string(s, local_len)))
		return false;
	if (at < 0)
		return true;
	return valid_domain(s + at + 1, len - (size_t)at - 1);
}

bool smtp_valid_mailbox(const char *addr, bool allow_no_domain)
{
	return valid_mailbox_n(addr, strlen(addr), allow_no_domain);
}

bool smtp_valid_helo(const char *arg)
{
	if (*arg == '\0' || strlen(arg) > 255)
		return false;
	for (const unsigned char *p = (const unsigned char *)arg; *p; p++)
		if (*p <= 32 || *p == 127)
			return false;
	return true;
}

bool smtp_xtext_decode(const char *in, size_t len, struct buf *out)
{
	buf_reset(out);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];
		if (c == '+') {
			if (i + 2 >= len)
				return false;
			char hex[3] = {in[i + 1], in[i + 2], '\0'};
			if (!isxdigit((unsigned char)hex[0]) || !isxdigit((unsigned char)hex[1]))
				return false;
			buf_addc(out, (char)strtoul(hex, NULL, 16));
			i += 2;
		} else if (c < 33 || c > 126 || c == '=') {
			return false;
		} else {
			buf_addc(out, (char)c);
		}
	}
	return true;
}

void smtp_xtext_encode(const char *in, size_t len, struct buf *out)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];
		if (c < 33 || c > 126 || c == '+' || c == '=')
			buf_printf(out, "+%02X", c);
		else
			buf_addc(out, (char)c);
	}
}

/*
 * Find the path after "FROM:"/"TO:" and return the address inside it
 * (source route dropped) and where the parameters start.
 */
static enum smtp_path_err split_path(const char *arg, const char *keyword,
		const char **addr, size_t *addr_len, const char **params)
{
	size_t kw = strlen(keyword);
	if (strncasecmp(arg, keyword, kw) != 0)
		return SMTP_PATH_SYNTAX;
	const char *p = arg + kw;
	while (*p == ' ')
		p++;
	const char *start, *end;
	if (*p == '<') {
		start = ++p;
		bool quoted = false;
		for (; *p != '\0'; p++) {
			if (quoted && *p == '\\' && p[1] != '\0') {
				p++;
				continue;
			}
			if (*p == '"')
				quoted = !quoted;
			else if (!quoted && *p == '>')
				break;
		}
		if (*p != '>')
			return SMTP_PATH_BAD_ADDR;
		end = p++;
		if (*p != '\0' && *p != ' ')
			return SMTP_PATH_BAD_ADDR;
	} else {
		/* No angle brackets: the address runs to the first space. */
		start = p;
		while (*p != '\0' && *p != ' ')
			p++;
		end = p;
		if (start == end)
			return SMTP_PATH_SYNTAX;
	}
	/* A source route "@a,@b:" (RFC 5321 4.1.2) is accepted and ignored. */
	if (start < end && *start == '@') {
		const char *colon = memchr(start, ':', (size_t)(end - start));
		if (colon == NULL)
			return SMTP_PATH_BAD_ADDR;
		const char *hop = start;
		while (hop < colon) {
			if (*hop != '@')
				return SMTP_PATH_BAD_ADDR;
			const char *hop_end = memchr(hop, ',', (size_t)(colon - hop));
			if (hop_end == NULL)
				hop_end = colon;
			if (!valid_domain(hop + 1, (size_t)(hop_end - hop - 1)))
				return SMTP_PATH_BAD_ADDR;
			hop = hop_end + (hop_end < colon);
		}
		start = colon + 1;
		if (start == end)
			return SMTP_PATH_BAD_ADDR;
	}
	if ((size_t)(end - start) > SMTP_ADDR_MAX)
		return SMTP_PATH_TOO_LONG;
	*addr = start;
	*addr_len = (size_t)(end - start);
	while (*p == ' ')
		p++;
	*params = p;
	return SMTP_PATH_OK;
}

bool smtp_path_bracketed(const char *arg, const char *keyword)
{
	size_t kw = strlen(keyword);
	if (strncasecmp(arg, keyword, kw) != 0)
		return true;	/* not a path at all: the parser's 501 5.5.4 says so */
	const char *p = arg + kw;
	while (*p == ' ')
		p++;
	return *p == '<';
}

void smtp_path_raw(const char *arg, const char *keyword, struct buf *path, struct buf *params)
{
	const char *addr, *rest;
	size_t alen;
	buf_reset(path);
	buf_reset(params);
	if (split_path(arg, keyword, &addr, &alen, &rest) != SMTP_PATH_OK)
		return;
	const char *p = arg + strlen(keyword);
	while (*p == ' ')
		p++;
	const char *end = rest;
	while (end > p && end[-1] == ' ')
		end--;
	if (*p != '<')
		buf_addc(path, '<');
	buf_add(path, p, (size_t)(end - p));
	if (*p != '<')
		buf_addc(path, '>');
	/* One NUL-terminated word per parameter, as the client wrote it. */
	while (*rest != '\0') {
		size_t n = strcspn(rest, " ");
		buf_add(params, rest, n);
		buf_addc(params, '\0');
		rest += n;
		while (*rest == ' ')
			rest++;
	}
}

/* The next "KEY[=VALUE]" parameter; false at the end. */
static bool next_param(const char **pp, char *key, size_t keysize, const char **val, size_t *vlen)
{
	const char *p = *pp;
	while (*p == ' ')
		p++;
	if (*p == '\0')
		return false;
	size_t n = 0;
	const char *k = p;
	while (*p != '\0' && *p != ' ' && *p != '=')
		p++;
	n = (size_t)(p - k);
	if (n >= keysize)
		n = keysize - 1;
	for (size_t i = 0; i < n; i++)
		key[i] = (char)toupper((unsigned char)k[i]);
	key[n] = '\0';
	if ((size_t)(p - k) >= keysize)
		key[0] = '\0';		/* too long: never matches a known keyword */
	if (*p == '=') {
		*val = ++p;
		while (*p != '\0' && *p != ' ')
			p++;
		*vlen = (size_t)(p - *val);
	} else {
		*val = NULL;
		*vlen = 0;
	}
	*pp = p;
	return true;
}

static bool value_is(const char *val, size_t len, const char *word)
{
	return val != NULL && strlen(word) == len && strncasecmp(val, word, len) == 0;
}

void smtp_mail_args_init(struct smtp_mail_args *a)
{
	buf_init(&a->addr);
	buf_init(&a->envid);
	a->size = -1;
	a->body = SMTP_BODY_NONE;
	a->ret = SMTP_RET_NONE;
	a->smtputf8 = false;
	a->has_envid = false;
}

void smtp_mail_args_free(struct smtp_mail_args *a)
{
	buf_free(&a->addr);
	buf_free(&a->envid);
}

void smtp_rcpt_args_init(struct smtp_rcpt_args *a)
{
	buf_init(&a->addr);
	buf_init(&a->orcpt);
	a->notify = 0;
}

void smtp_rcpt_args_free(struct smtp_rcpt_args *a)
{
	buf_free(&a->addr);
	buf_free(&a->orcpt);
}

/*
 * A decoded ENVID or ORCPT goes into the queue file and into the
 * notices' header fields: no control characters (a NUL or a line end
 * would cut or split them). Refused here, at MAIL or RCPT, not later.
 */
static bool printable(const struct buf *b)
{
	for (size_t i = 0; i < b->len; i++) {
		unsigned char c = (unsigned char)b->data[i];
		if (c < 32 || c == 127)
			return false;
	}
	return true;
}

static enum smtp_path_err bad_param(struct buf *bad, const char *key)
{
	if (bad != NULL) {
		buf_reset(bad);
		buf_adds(bad, *key ? key : "(invalid)");
	}
	return SMTP_PATH_BAD_PARAM;
}

enum smtp_path_err smtp_parse_mail(const char *arg, struct smtp_mail_args *out, struct buf *bad)
{
	const char *addr, *params, *val;
	size_t alen, vlen;
	char key[16];

	smtp_mail_args_free(out);
	smtp_mail_args_init(out);
	enum smtp_path_err err = split_path(arg, "FROM:", &addr, &alen, &params);
	if (err != SMTP_PATH_OK)
		return err;
	if (alen > 0 && !valid_mailbox_n(addr, alen, false))
		return SMTP_PATH_BAD_ADDR;
	buf_add(&out->addr, addr, alen);
	while (next_param(&params, key, sizeof(key), &val, &vlen)) {
		if (strcmp(key, "SIZE") == 0) {
			if (out->size >= 0 || val == NULL || vlen == 0 || vlen > 18)
				return bad_param(bad, key);
			long long size = 0;
			for (size_t i = 0; i < vlen; i++) {
				if (!isdigit((unsigned char)val[i]))
					return bad_param(bad, key);
				size = size * 10 + (val[i] - '0');
			}
			out->size = size;
		} else if (strcmp(key, "BODY") == 0) {
			if (out->body != SMTP_BODY_NONE)
				return bad_param(bad, key);
			if (value_is(val, vlen, "7BIT"))
				out->body = SMTP_BODY_7BIT;
			else if (value_is(val, vlen, "8BITMIME"))
				out->body = SMTP_BODY_8BITMIME;
			else
				return bad_param(bad, key);
		} else if (strcmp(key, "SMTPUTF8") == 0) {
			if (out->smtputf8 || val != NULL)
				return bad_param(bad, key);
			out->smtputf8 = true;
		} else if (strcmp(key, "RET") == 0) {
			if (out->ret != SMTP_RET_NONE)
				return bad_param(bad, key);
			if (value_is(val, vlen, "FULL"))
				out->ret = SMTP_RET_FULL;
			else if (value_is(val, vlen, "HDRS"))
				out->ret = SMTP_RET_HDRS;
			else
				return bad_param(bad, key);
		} else if (strcmp(key, "ENVID") == 0) {
			if (out->has_envid || val == NULL || vlen == 0 || vlen > 100
			    || !smtp_xtext_decode(val, vlen, &out->envid)
			    || !printable(&out->envid))
				return bad_param(bad, key);
			out->has_envid = true;
		} else if (strcmp(key, "AUTH") == 0) {
			/* RFC 4954 section 5: accepted, and ignored unless trusted. */
			struct buf tmp = BUF_INIT;
			bool ok = val != NULL && smtp_xtext_decode(val, vlen, &tmp);
			buf_free(&tmp);
			if (!ok)
				return bad_param(bad, key);
		} else {
			return bad_param(bad, key);
		}
	}
	return SMTP_PATH_OK;
}

static bool parse_notify(const char *val, size_t len, int *notify)
{
	int bits = 0;
	size_t i = 0;
	if (val == NULL || len == 0)
		return false;
	while (i < len) {
		size_t j = i;
		while (j < len && val[j] != ',')
			j++;
		if (value_is(val + i, j - i, "NEVER"))
			bits |= DSN_NOTIFY_NEVER;
		else if (value_is(val + i, j - i, "SUCCESS"))
			bits |= DSN_NOTIFY_SUCCESS;
		else if (value_is(val + i, j - i, "FAILURE"))
			bits |= DSN_NOTIFY_FAILURE;
		else if (value_is(val + i, j - i, "DELAY"))
			bits |= DSN_NOTIFY_DELAY;
		else
			return false;
		i = j + 1;
		if (j + 1 == len && val[j] == ',')
			return false;	/* trailing comma */
	}
	/* NEVER excludes the others (RFC 3461 4.1). */
	if ((bits & DSN_NOTIFY_NEVER) && bits != DSN_NOTIFY_NEVER)
		return false;
	*notify = bits;
	return true;
}

enum smtp_path_err smtp_parse_rcpt(const char *arg, struct smtp_rcpt_args *out, struct buf *bad)
{
	const char *addr, *params, *val;
	size_t alen, vlen;
	char key[16];

	smtp_rcpt_args_free(out);
	smtp_rcpt_args_init(out);
	enum smtp_path_err err = split_path(arg, "TO:", &addr, &alen, &params);
	if (err != SMTP_PATH_OK)
		return err;
	/* RCPT TO:<postmaster> without a domain must work (RFC 5321 4.5.1). */
	if (alen == 0 || !valid_mailbox_n(addr, alen, true))
		return SMTP_PATH_BAD_ADDR;
	buf_add(&out->addr, addr, alen);
	bool have_orcpt = false;
	while (next_param(&params, key, sizeof(key), &val, &vlen)) {
		if (strcmp(key, "NOTIFY") == 0) {
			if (out->notify != 0 || !parse_notify(val, vlen, &out->notify))
				return bad_param(bad, key);
		} else if (strcmp(key, "ORCPT") == 0) {
			const char *semi = val ? memchr(val, ';', vlen) : NULL;
			if (have_orcpt || semi == NULL || semi == val || vlen > 500)
				return bad_param(bad, key);
			struct buf dec = BUF_INIT;
			size_t tlen = (size_t)(semi - val);
			bool ok = smtp_xtext_decode(semi + 1, vlen - tlen - 1, &dec) && dec.len > 0
			    && printable(&dec);
			if (ok) {
				for (size_t i = 0; i < tlen; i++)
					buf_addc(&out->orcpt, (char)tolower((unsigned char)val[i]));
				buf_addc(&out->orcpt, ';');
				buf_add(&out->orcpt, dec.data, dec.len);
			}
			buf_free(&dec);
			if (!ok)
				return bad_param(bad, key);
			have_orcpt = true;
		} else {
			return bad_param(bad, key);
		}
	}
	return SMTP_PATH_OK;
}

bool smtp_parse_bdat(const char *arg, unsigned long long *size, bool *last)
{
	const char *p = arg;
	unsigned long long n = 0;
	if (!isdigit((unsigned char)*p))
		return false;
	for (; isdigit((unsigned char)*p); p++) {
		if (n > 100000000000000ULL)
			return false;
		n = n * 10 + (unsigned)(*p - '0');
	}
	*last = false;
	while (*p == ' ')
		p++;
	if (strncasecmp(p, "LAST", 4) == 0 && (p[4] == '\0' || p[4] == ' ')) {
		*last = true;
		p += 4;
		while (*p == ' ')
			p++;
	}
	if (*p != '\0')
		return false;
	*size = n;
	return true;
}
