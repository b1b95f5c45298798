/*
 * droprec.c - sendmail -> terndrop record stream (see droprec.h).
 *
 * Mail layer. droprec_parse and droprec_accept run in terndrop (setgid
 * terndrop) on bytes from an untrusted caller: every length is checked
 * before use, nothing is trusted to be NUL-terminated, and anything out
 * of order ends the stream.
 */
#include "compat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mail/addr.h"
#include "mail/droprec.h"
#include "mail/qfile.h"
#include "util/buf.h"
#include "util/mem.h"

enum { PH_VERSION, PH_SENDER, PH_ATTR, PH_RCPT, PH_CONTENT, PH_DONE };

void droprec_put(struct buf *out, char type, const void *data, size_t len)
{
	buf_printf(out, "%c%zu:", type, len);
	buf_add(out, data, len);
	buf_addc(out, '\n');
}

long droprec_parse(const char *data, size_t len, char *type, const char **rec, size_t *reclen)
{
	size_t i = 1, n = 0;
	if (len < 1)
		return 0;
	if (strchr("QVSARMCE", data[0]) == NULL || data[0] == '\0')
		return -1;
	for (; i < len && data[i] >= '0' && data[i] <= '9'; i++) {
		if (i > 7 || (i == 2 && data[1] == '0'))
			return -1;
		n = n * 10 + (size_t)(data[i] - '0');
	}
	if (i == len)
		return i > 8 ? -1 : 0;
	if (i == 1 || data[i] != ':' || n > DROPREC_MAX_DATA)
		return -1;
	size_t need = i + 1 + n + 1;
	if (len < need)
		return 0;
	if (data[need - 1] != '\n')
		return -1;
	*type = data[0];
	*rec = data + i + 1;
	*reclen = n;
	return (long)need;
}

static const char *const allowed_attrs[] = {
	"full_name",	/* -F */
	"extract",	/* -t: yes */
	"dsn_ret",	/* -R FULL|HDRS */
	"dsn_envid",	/* -V */
	"dsn_notify",	/* -N with -t: NOTIFY for recipients from the headers (hex digit) */
	"body_type",	/* -B 7BIT|8BITMIME */
	"smtputf8",	/* -U, -O SMTPUTF8=yes */
	"protocol",	/* -p, or SMTP/ESMTP from -bs */
	"helo_name",	/* -bs */
	NULL,
};

bool droprec_attr_allowed(const char *name)
{
	for (const char *const *p = allowed_attrs; *p; p++)
		if (strcmp(*p, name) == 0)
			return true;
	return false;
}

void droprec_init(struct droprec_state *st, unsigned long long limit)
{
	memset(st, 0, sizeof(*st));
	st->limit = limit;
}

void droprec_free(struct droprec_state *st)
{
	for (size_t i = 0; i < st->nattr; i++) {
		free(st->attr_names[i]);
		free(st->attr_values[i]);
	}
	free(st->attr_names);
	free(st->attr_values);
	for (size_t i = 0; i < st->nrcpt; i++) {
		free(st->rcpts[i].address);
		free(st->rcpts[i].orcpt);
	}
	free(st->rcpts);
	buf_free(&st->sender);
	buf_free(&st->error);
}

bool droprec_sender_valid(const char *sender)
{
	return *sender == '\0' || addr_envelope_valid(sender);
}

bool droprec_rcpt_valid(const char *rcpt)
{
	return *rcpt != '\0' && addr_envelope_valid(rcpt);
}

static int bad(struct droprec_state *st, const char *why, char type)
{
	buf_reset(&st->error);
	buf_printf(&st->error, "%s (record type '%c')", why, type);
	st->phase = PH_DONE;
	return DROPREC_BAD;
}

/* A field from the stream as a C string, or NULL when it holds a NUL or a control character. */
static char *field(const char *rec, size_t len)
{
	if (memchr(rec, '\0', len) != NULL)
		return NULL;
	char *s = xstrndup(rec, len);
	if (!qfile_field_valid(s)) {
		free(s);
		return NULL;
	}
	return s;
}

static int hexdigit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int droprec_accept(struct droprec_state *st, char type, const char *rec, size_t reclen)
{
	switch (type) {
	case 'V':
		if (st->phase != PH_VERSION)
			return bad(st, "version out of order", type);
		if (reclen != 1 || rec[0] != '1')
			return bad(st, "unsupported version", type);
		st->phase = PH_SENDER;
		return DROPREC_OK;
	case 'S': {
		if (st->phase != PH_SENDER)
			return bad(st, "sender out of order", type);
		char *s = field(rec, reclen);
		if (s == NULL || !droprec_sender_valid(s)) {
			free(s);
			return bad(st, "malformed sender", type);
		}
		buf_adds(&st->sender, s);
		free(s);
		st->sender_given = true;
		st->phase = PH_ATTR;
		return DROPREC_OK;
	}
	case 'A': {
		if (st->phase != PH_SENDER && st->phase != PH_ATTR)
			return bad(st, "attribute out of order", type);
		char *s = field(rec, reclen);
		char *eq = s ? strchr(s, '=') : NULL;
		if (eq == NULL) {
			free(s);
			return bad(st, "malformed attribute", type);
		}
		*eq = '\0';
		if (!droprec_attr_allowed(s)) {
			free(s);
			return bad(st, "attribute not allowed", type);
		}
		for (size_t i = 0; i < st->nattr; i++)
			if (strcmp(st->attr_names[i], s) == 0) {
				free(s);
				return bad(st, "attribute repeated", type);
			}
		st->attr_names = xreallocarray(st->attr_names, st->nattr + 1, sizeof(char *));
		st->attr_values = xreallocarray(st->attr_values, st->nattr + 1, sizeof(char *));
		st->attr_names[st->nattr] = xstrdup(s);
		st->attr_values[st->nattr] = xstrdup(eq + 1);
		st->nattr++;
		free(s);
		st->phase = PH_ATTR;
		return DROPREC_OK;
	}
	case 'R': {
		if (st->phase != PH_SENDER && st->phase != PH_ATTR && st->phase != PH_RCPT)
			return bad(st, "recipient out of order", type);
		if (st->nrcpt >= DROPREC_MAX_RCPTS)
			return bad(st, "too many recipients", type);
		/* "<hex>\t<orcpt>\t<address>": tabs are the only control characters allowed. */
		const char *t1 = reclen > 1 ? memchr(rec, '\t', reclen) : NULL;
		const char *t2 = t1 ? memchr(t1 + 1, '\t', reclen - (size_t)(t1 + 1 - rec)) : NULL;
		if (t1 != rec + 1 || t2 == NULL || hexdigit(rec[0]) < 0)
			return bad(st, "malformed recipient", type);
		char *orcpt = field(t1 + 1, (size_t)(t2 - t1 - 1));
		char *addr = field(t2 + 1, reclen - (size_t)(t2 + 1 - rec));
		if (orcpt == NULL || addr == NULL || *addr == '\0') {
			free(orcpt);
			free(addr);
			return bad(st, "malformed recipient", type);
		}
		if (!droprec_rcpt_valid(addr)) {
			/* Named, so that the caller sees which one (field() allowed no control characters). */
			buf_reset(&st->error);
			buf_printf(&st->error, "malformed recipient address: \"%s\"", addr);
			st->phase = PH_DONE;
			free(orcpt);
			free(addr);
			return DROPREC_BAD;
		}
		st->rcpts = xreallocarray(st->rcpts, st->nrcpt + 1, sizeof(*st->rcpts));
		st->rcpts[st->nrcpt].address = addr;
		st->rcpts[st->nrcpt].orcpt = orcpt;
		st->rcpts[st->nrcpt].notify = hexdigit(rec[0]);
		st->nrcpt++;
		st->phase = PH_RCPT;
		return DROPREC_OK;
	}
	case 'M':
		if (st->phase == PH_CONTENT || st->phase == PH_DONE || st->phase == PH_VERSION || reclen != 0)
			return bad(st, "content start out of order", type);
		st->phase = PH_CONTENT;
		return DROPREC_CONTENT;
	case 'C':
		if (st->phase != PH_CONTENT)
			return bad(st, "content out of order", type);
		st->size += reclen;
		if (st->limit && st->size > st->limit)
			st->too_big = true;
		return DROPREC_DATA;
	case 'E':
		if (st->phase != PH_CONTENT || reclen != 0)
			return bad(st, "end out of order", type);
		st->phase = PH_DONE;
		return DROPREC_END;
	default:
		return bad(st, "unknown record", type);
	}
}
