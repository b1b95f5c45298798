/*
 * smtpc_ehlo.c - what an SMTP server announces in its EHLO reply, for
 * the client engine (smtpc.h), and the smtp_sasl_mechanism_filter test.
 *
 * Mail layer, pure parsing of untrusted network input, no I/O, no
 * privileges. Keywords are case-insensitive (RFC 5321 section 2.4);
 * unknown ones are ignored. A malformed SIZE argument counts as no
 * limit: the server still gets SIZE= and may refuse the message itself.
 */
#include "compat.h"

#include <string.h>
#include <strings.h>

#include "mail/smtpc.h"

static bool is_sp(char c)
{
	return c == ' ' || c == '\t';
}

/* Does the word [w, w+len) equal kw, ignoring case? */
static bool word_is(const char *w, size_t len, const char *kw)
{
	return strlen(kw) == len && strncasecmp(w, kw, len) == 0;
}

static unsigned long long parse_size(const char *p, const char *end)
{
	unsigned long long v = 0;

	while (p < end && is_sp(*p))
		p++;
	if (p == end || *p < '0' || *p > '9')
		return 0;
	for (; p < end && *p >= '0' && *p <= '9'; p++) {
		if (v > (~0ULL - 9) / 10)
			return 0;	/* absurd: as no limit */
		v = v * 10 + (unsigned)(*p - '0');
	}
	return v;
}

/* The mechanisms after AUTH (or AUTH=). */
static void parse_auth(const char *p, const char *end, struct smtpc_caps *caps)
{
	caps->auth = true;
	while (p < end) {
		const char *w;

		while (p < end && is_sp(*p))
			p++;
		w = p;
		while (p < end && !is_sp(*p))
			p++;
		if (word_is(w, (size_t)(p - w), "PLAIN"))
			caps->auth_plain = true;
		else if (word_is(w, (size_t)(p - w), "LOGIN"))
			caps->auth_login = true;
	}
}

static void parse_line(const char *p, const char *end, struct smtpc_caps *caps)
{
	const char *kw = p;
	size_t len;

	while (p < end && !is_sp(*p) && *p != '=')
		p++;
	len = (size_t)(p - kw);
	if (word_is(kw, len, "AUTH")) {
		parse_auth(p < end ? p + 1 : p, end, caps);
		return;
	}
	if (p < end && *p == '=')
		return;		/* only AUTH has the old "=" form */
	if (word_is(kw, len, "PIPELINING"))
		caps->pipelining = true;
	else if (word_is(kw, len, "STARTTLS"))
		caps->starttls = true;
	else if (word_is(kw, len, "8BITMIME"))
		caps->eightbitmime = true;
	else if (word_is(kw, len, "SMTPUTF8"))
		caps->smtputf8 = true;
	else if (word_is(kw, len, "DSN"))
		caps->dsn = true;
	else if (word_is(kw, len, "CHUNKING"))
		caps->chunking = true;
	else if (word_is(kw, len, "SIZE")) {
		caps->size_ext = true;
		caps->size = parse_size(p, end);
	}
}

void smtpc_ehlo_parse(const char *reply, size_t len, struct smtpc_caps *caps)
{
	const char *p = reply, *end = reply + len;
	bool first = true;

	memset(caps, 0, sizeof(*caps));
	caps->esmtp = true;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *eol = nl != NULL ? nl : end;
		const char *le = eol;

		if (le > p && le[-1] == '\r')
			le--;
		/* The first line greets; the others are "ddd-KEYWORD ..." */
		if (!first && le - p > 4)
			parse_line(p + 4, le, caps);
		first = false;
		p = nl != NULL ? nl + 1 : end;
	}
}

bool smtpc_mech_allowed(const char *filter, const char *mech)
{
	const char *p = filter;

	if (filter == NULL || filter[strspn(filter, " \t,")] == '\0')
		return true;
	while (*p != '\0') {
		size_t n;

		p += strspn(p, " \t,");
		n = strcspn(p, " \t,");
		if (n > 0 && word_is(p, n, mech))
			return true;
		p += n;
	}
	return false;
}
