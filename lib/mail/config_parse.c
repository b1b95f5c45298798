/*
 * config_parse.c - main.cf syntax: logical lines, continuation lines,
 * comments, "name = value" (see config.c for the rules).
 *
 * Mail layer; no privileges of its own. The text may be hostile: lines
 * of any length, NUL bytes, any bytes at all; every case is a value or
 * a one-line error, never a crash.
 */
#include "compat.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "mail/config_impl.h"
#include "util/log.h"
#include "util/mem.h"

static int setting_cmp(const void *a, const void *b)
{
	const struct setting *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	if (c != 0)
		return c;
	return x->order < y->order ? -1 : x->order > y->order;
}

/* Printable, bounded copy of a value for a one-line message. */
void config_add_value(struct buf *b, const char *v)
{
	buf_addc(b, '"');
	size_t i;
	for (i = 0; i < 200 && v[i] != '\0'; i++) {
		unsigned char c = (unsigned char)v[i];
		if (c < 0x20 || c == 0x7f)
			buf_printf(b, "\\x%02x", c);
		else
			buf_addc(b, (char)c);
	}
	if (v[i] != '\0')
		buf_adds(b, "...");
	buf_addc(b, '"');
}

void config_where(struct buf *err, const char *label, unsigned line)
{
	if (line > 0)
		buf_printf(err, "%s, line %u: ", label, line);
	else
		buf_printf(err, "%s: ", label);
}

void config_warn_line(unsigned *warnings, const char *label, unsigned line, const char *fmt,
		      const char *arg)
{
	if (++*warnings > CONFIG_MAX_WARNINGS)
		return;
	struct buf b = BUF_INIT;
	config_where(&b, label, line);
	buf_printf(&b, fmt, arg);
	msg_warn("%s", buf_str(&b));
	buf_free(&b);
}

bool config_valid_name(const char *s, size_t len)
{
	if (len == 0 || len > CONFIG_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_'))
			return false;
	}
	return true;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

/* One logical line "name = value" into the setting list. */
static int parse_logical(const char *label, unsigned line, struct buf *logical,
			 struct setting **set, size_t *nset, size_t *cap, struct buf *err)
{
	const char *s = buf_str(logical);
	size_t len = logical->len;
	while (len > 0 && is_space(s[len - 1]))
		len--;
	const char *eq = memchr(s, '=', len);
	if (eq == NULL) {
		config_where(err, label, line);
		buf_adds(err, "missing '=' after parameter name: ");
		config_add_value(err, s);
		return -1;
	}
	size_t nlen = (size_t)(eq - s);
	while (nlen > 0 && is_space(s[nlen - 1]))
		nlen--;
	if (nlen == 0) {
		config_where(err, label, line);
		buf_adds(err, "missing parameter name: ");
		config_add_value(err, s);
		return -1;
	}
	if (!config_valid_name(s, nlen)) {
		config_where(err, label, line);
		/* "a b = c" is Postfix's missing '=' case; say what is wrong. */
		buf_adds(err, memchr(s, ' ', nlen) || memchr(s, '\t', nlen)
			 ? "missing '=' after parameter name: "
			 : "bad parameter name (letters, digits and _ only): ");
		config_add_value(err, s);
		return -1;
	}
	const char *v = eq + 1;
	while (v < s + len && is_space(*v))
		v++;
	if (*nset == *cap) {
		*cap = *cap ? *cap * 2 : 32;
		*set = xreallocarray(*set, *cap, sizeof(**set));
	}
	struct setting *st = &(*set)[(*nset)++];
	st->name = xstrndup(s, nlen);
	st->value = xstrndup(v, (size_t)(s + len - v));
	st->line = line;
	st->order = (unsigned)*nset;
	st->used = false;
	return 0;
}

int config_parse(const char *label, const char *data, size_t len, struct setting **setp,
		 size_t *nsetp, unsigned *warnings, struct buf *err)
{
	struct setting *set = NULL;
	size_t nset = 0, cap = 0;
	struct buf logical = BUF_INIT;
	unsigned line = 0, start_line = 0;
	size_t pos = 0;
	int rc = 0;

	while (pos < len && rc == 0) {
		const char *l = data + pos;
		const char *nl = memchr(l, '\n', len - pos);
		size_t llen = nl != NULL ? (size_t)(nl - l) : len - pos;
		pos += llen + (nl != NULL);
		line++;
		if (memchr(l, '\0', llen) != NULL) {
			config_where(err, label, line);
			buf_adds(err, "NUL byte in line");
			rc = -1;
			break;
		}
		size_t i = 0;
		while (i < llen && is_space(l[i]))
			i++;
		if (i == llen || l[i] == '#')
			continue;	/* blank or comment, even inside a continued line */
		if (i > 0) {
			if (logical.len == 0) {
				config_warn_line(warnings, label, line, "%s",
						 "line must not start with white space; ignored");
				continue;
			}
			buf_addc(&logical, ' ');
			buf_add(&logical, l + i, llen - i);
			continue;
		}
		if (logical.len > 0)
			rc = parse_logical(label, start_line, &logical, &set, &nset, &cap, err);
		buf_reset(&logical);
		buf_add(&logical, l, llen);
		start_line = line;
	}
	if (rc == 0 && logical.len > 0)
		rc = parse_logical(label, start_line, &logical, &set, &nset, &cap, err);
	buf_free(&logical);

	/* Sort by name, keep the last of duplicates (as Postfix does). */
	if (nset > 1)
		qsort(set, nset, sizeof(*set), setting_cmp);
	size_t out = 0;
	for (size_t i = 0; i < nset; i++) {
		if (i + 1 < nset && strcmp(set[i].name, set[i + 1].name) == 0) {
			if (rc == 0)
				config_warn_line(warnings, label, set[i + 1].line,
						 "overriding earlier entry: %s", set[i].name);
			free(set[i].name);
			free(set[i].value);
			continue;
		}
		set[out++] = set[i];
	}
	*setp = set;
	*nsetp = out;
	return rc;
}
