/*
 * smtp_sts.c - the MTA-STS parsers (RFC 8461): the _mta-sts TXT record,
 * the policy file, and matching MX host names against a policy's mx
 * patterns.
 *
 * Part of smtp(8), which runs as mail_owner. Everything here is pure:
 * no I/O and no configuration, since the input comes from DNS and from
 * an HTTPS server we do not trust (tests/fuzz/fuzz_sts_policy.c). The
 * fetching and the cache are in smtp_sts_cache.c.
 */
#include "compat.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "smtp_sts.h"
#include "util/mem.h"

static bool is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

static bool is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/*
 * sts-text-record = sts-version 1*(sts-field-delim sts-field) [sts-field-delim]
 * sts-field-delim = *WSP ";" *WSP; the version must come first, an id is
 * required, and extension fields (name=value) are ignored. A record that
 * breaks the grammar anywhere is refused whole, as the RFC says.
 */
int sts_parse_txt(const char *txt, char *id, size_t idsize)
{
	const char *s = txt;
	bool have_id = false;

	if (txt == NULL || strncmp(s, "v=STSv1", 7) != 0)
		return -1;
	s += 7;
	for (;;) {
		const char *name, *value;
		size_t nlen, vlen;

		while (is_wsp(*s))
			s++;
		if (*s == '\0')
			break;
		if (*s != ';')
			return -1;
		s++;
		while (is_wsp(*s))
			s++;
		if (*s == '\0')
			break;	/* a trailing delimiter */
		name = s;
		while (is_alnum(*s) || *s == '_' || *s == '-' || *s == '.')
			s++;
		nlen = (size_t)(s - name);
		if (nlen == 0 || nlen > 32 || *s != '=' || !is_alnum(name[0]))
			return -1;
		value = ++s;
		/* sts-ext-value = 1*(%x21-3A / %x3C / %x3E-7E): no ';', '=', space */
		while (*s >= 0x21 && *s <= 0x7e && *s != ';' && *s != '=')
			s++;
		vlen = (size_t)(s - value);
		if (vlen == 0)
			return -1;
		if (nlen == 2 && memcmp(name, "id", 2) == 0) {
			/* sts-id-value = 1*32(ALPHA / DIGIT) */
			if (have_id || vlen > STS_ID_MAX || vlen >= idsize)
				return -1;
			for (size_t i = 0; i < vlen; i++)
				if (!is_alnum(value[i]))
					return -1;
			memcpy(id, value, vlen);
			id[vlen] = '\0';
			have_id = true;
		} else if (nlen == 1 && name[0] == 'v') {
			return -1;	/* the version twice */
		}
	}
	return have_id ? 0 : -1;
}

void sts_policy_free(struct sts_policy *p)
{
	for (size_t i = 0; i < p->nmx; i++)
		free(p->mx[i]);
	free(p->mx);
	p->mx = NULL;
	p->nmx = 0;
	p->mode = STS_NONE;
}

/*
 * An mx pattern: an optional "*." then labels of letters, digits and
 * hyphens (RFC 8461 3.2: sts-policy-mx-value). Stored lower case,
 * without a trailing dot.
 */
static bool mx_pattern_ok(const char *v, size_t len)
{
	size_t label = 0;

	if (len >= 2 && v[0] == '*' && v[1] == '.') {
		v += 2;
		len -= 2;
	}
	if (len > 0 && v[len - 1] == '.')
		len--;
	if (len == 0 || len > 253)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (v[i] == '.') {
			if (label == 0 || v[i - 1] == '-')
				return false;
			label = 0;
		} else if (is_alnum(v[i]) || (v[i] == '-' && label > 0)) {
			if (++label > 63)
				return false;
		} else {
			return false;
		}
	}
	return label > 0 && v[len - 1] != '-';
}

static void add_mx(struct sts_policy *p, const char *v, size_t len)
{
	char *mx;

	if (len > 0 && v[len - 1] == '.')
		len--;
	mx = xstrndup(v, len);
	for (char *c = mx; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	p->mx = xreallocarray(p->mx, p->nmx + 1, sizeof(*p->mx));
	p->mx[p->nmx++] = mx;
}

static bool key_is(const char *key, size_t klen, const char *want)
{
	return klen == strlen(want) && memcmp(key, want, klen) == 0;
}

/*
 * The policy: "key: value" lines ended by LF or CRLF (a last line may
 * lack its end). Keys are case-sensitive as in the RFC's ABNF; values
 * lose leading and trailing white space. The first version, mode and
 * max_age count; mx lines add up.
 */
int sts_parse_policy(const char *text, size_t len, struct sts_policy *p, struct buf *why)
{
	const char *s = text, *end = text + len;
	bool have_version = false, have_mode = false, have_age = false;
	unsigned lineno = 0;

	p->mode = STS_NONE;
	p->mx = NULL;
	p->nmx = 0;
	p->max_age = 0;
	if (len > STS_POLICY_MAX) {
		buf_printf(why, "policy longer than %d bytes", STS_POLICY_MAX);
		return -1;
	}
	while (s < end) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		const char *le = nl != NULL ? nl : end;
		const char *key = s, *colon, *v, *ve;
		size_t klen;

		lineno++;
		s = nl != NULL ? nl + 1 : end;
		if (le > key && le[-1] == '\r')
			le--;
		if (le == key)
			continue;	/* an empty line, as some servers send at the end */
		colon = memchr(key, ':', (size_t)(le - key));
		if (colon == NULL) {
			buf_printf(why, "line %u of the policy is not \"key: value\"", lineno);
			goto bad;
		}
		klen = (size_t)(colon - key);
		for (v = colon + 1; v < le && is_wsp(*v); v++)
			;
		for (ve = le; ve > v && is_wsp(ve[-1]); ve--)
			;
		for (const char *c = v; c < ve; c++)
			if ((unsigned char)*c < 0x20 || *c == 0x7f) {
				buf_printf(why, "line %u of the policy has a control character", lineno);
				goto bad;
			}
		if (key_is(key, klen, "version")) {
			if (have_version)
				continue;
			if ((size_t)(ve - v) != 5 || memcmp(v, "STSv1", 5) != 0) {
				buf_printf(why, "policy version is \"%.*s\", not STSv1",
				    (int)((ve - v) > 40 ? 40 : (ve - v)), v);
				goto bad;
			}
			have_version = true;
		} else if (key_is(key, klen, "mode")) {
			if (have_mode)
				continue;
			if (key_is(v, (size_t)(ve - v), "enforce"))
				p->mode = STS_ENFORCE;
			else if (key_is(v, (size_t)(ve - v), "testing"))
				p->mode = STS_TESTING;
			else if (key_is(v, (size_t)(ve - v), "none"))
				p->mode = STS_NONE;
			else {
				buf_printf(why, "policy mode is \"%.*s\", not enforce, testing or none",
				    (int)((ve - v) > 40 ? 40 : (ve - v)), v);
				goto bad;
			}
			have_mode = true;
		} else if (key_is(key, klen, "max_age")) {
			long age = 0;

			if (have_age)
				continue;
			/* 1*10DIGIT; larger than a year is cut to a year */
			if (ve == v || ve - v > 10) {
				buf_printf(why, "policy max_age is not 1 to 10 digits");
				goto bad;
			}
			for (const char *c = v; c < ve; c++) {
				if (*c < '0' || *c > '9') {
					buf_printf(why, "policy max_age is not a number");
					goto bad;
				}
				if (age < STS_MAX_AGE_CAP)
					age = age * 10 + (*c - '0');
			}
			p->max_age = age > STS_MAX_AGE_CAP ? STS_MAX_AGE_CAP : age;
			have_age = true;
		} else if (key_is(key, klen, "mx")) {
			if (!mx_pattern_ok(v, (size_t)(ve - v))) {
				buf_printf(why, "policy mx \"%.*s\" is not a host name or *.domain",
				    (int)((ve - v) > 80 ? 80 : (ve - v)), v);
				goto bad;
			}
			add_mx(p, v, (size_t)(ve - v));
		}
		/* other keys: extensions, ignored (RFC 8461 3.2) */
	}
	if (!have_version) {
		buf_adds(why, "policy has no \"version: STSv1\"");
		goto bad;
	}
	if (!have_mode) {
		buf_adds(why, "policy has no mode");
		goto bad;
	}
	if (!have_age) {
		buf_adds(why, "policy has no max_age");
		goto bad;
	}
	if (p->nmx == 0 && p->mode != STS_NONE) {
		buf_adds(why, "policy names no mx");
		goto bad;
	}
	return 0;
bad:
	sts_policy_free(p);
	p->max_age = 0;
	return -1;
}

/*
 * RFC 8461 4.1: a pattern matches the host name exactly, or "*.d"
 * matches "x.d" where x is a single label ("*.example.com" matches
 * "mx1.example.com", not "example.com" nor "a.b.example.com").
 */
bool sts_mx_matches(const struct sts_policy *p, const char *mx_host)
{
	size_t hlen;

	if (p == NULL || mx_host == NULL)
		return false;
	hlen = strlen(mx_host);
	if (hlen > 0 && mx_host[hlen - 1] == '.')
		hlen--;
	if (hlen == 0)
		return false;
	for (size_t i = 0; i < p->nmx; i++) {
		const char *pat = p->mx[i];
		size_t plen = strlen(pat);

		if (plen > 2 && pat[0] == '*' && pat[1] == '.') {
			const char *dot = memchr(mx_host, '.', hlen);
			size_t rest;

			/* the first label must be non-empty; what follows it must be the domain */
			if (dot == NULL || dot == mx_host)
				continue;
			rest = hlen - (size_t)(dot + 1 - mx_host);
			if (rest == plen - 2 && strncasecmp(dot + 1, pat + 2, rest) == 0)
				return true;
		} else if (plen == hlen && strncasecmp(mx_host, pat, hlen) == 0) {
			return true;
		}
	}
	return false;
}
