/*
 * config_expand.c - $name expansion in main.cf values, as Postfix does it.
 *
 * Mail layer; no privileges of its own. main.cf may be hostile (an
 * instance's owner writes it, a setgid helper reads it), so expansion
 * is bounded in every direction: nesting depth, total work and output
 * size; a parameter that refers to itself is an error, never a crash.
 *
 * Forms, with Postfix's semantics (checked against postconf -x):
 *   $$                 a literal $
 *   $name              value of name, itself expanded ([A-Za-z0-9_]+)
 *   ${name}, $(name)   the same; white space around name is allowed
 *   ${name?text}       text (expanded) when name's value is non-empty
 *   ${name:text}       text when name is undefined or empty
 *   ${name?{t1}:{t2}}  t1 when non-empty, else t2 (":t2" may be unbraced)
 *   ${name:{text}}     braced form of ${name:text}
 * The ?/: test looks at the value as written (x = $empty counts as
 * non-empty), as Postfix does. An undefined name expands to nothing.
 * Postfix's relational forms (${{a} == {b} ? ...}) are not supported.
 */
#include "compat.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mail/config_expand.h"
#include "util/mem.h"

#define EXPAND_MAX_NAMES 100		/* Postfix's "unreasonable nesting" */
#define EXPAND_MAX_DEPTH 300		/* names plus nested {} texts */
#define EXPAND_MAX_OUT (16u << 20)	/* bytes of result */
#define EXPAND_MAX_WORK (64u << 20)	/* bytes scanned, all levels */
#define EXPAND_CALL_COST 64		/* work charged per nested expansion */
#define EXPAND_NAME_MAX 255

struct xp {
	expand_lookup_fn lookup;
	void *ctx;
	struct buf *out;
	struct buf *err;
	unsigned depth;
	size_t work;
	unsigned nnames;
	char names[EXPAND_MAX_NAMES][EXPAND_NAME_MAX + 1];
};

static bool is_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_';
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

/* Quote at most 60 bytes of the offending text, printable only. */
static void add_quoted(struct buf *b, const char *s, size_t len)
{
	buf_addc(b, '"');
	for (size_t i = 0; i < len && i < 60; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f)
			buf_printf(b, "\\x%02x", c);
		else
			buf_addc(b, (char)c);
	}
	if (len > 60)
		buf_adds(b, "...");
	buf_addc(b, '"');
}

static int fail(struct xp *x, const char *what, const char *s, size_t len)
{
	if (x->err != NULL && x->err->len == 0) {
		buf_adds(x->err, what);
		if (s != NULL) {
			buf_adds(x->err, ": ");
			add_quoted(x->err, s, len);
		}
	}
	return -1;
}

static int expand_text(struct xp *x, const char *s, size_t len);

/* Expand the value of one name (loop check, lookup, recursion). */
static int expand_name(struct xp *x, const char *name, size_t len)
{
	char nm[EXPAND_NAME_MAX + 1];
	const char *value;
	bool literal = false;

	if (len > EXPAND_NAME_MAX)
		return fail(x, "parameter name too long", name, len);
	memcpy(nm, name, len);
	nm[len] = '\0';
	for (unsigned i = 0; i < x->nnames; i++) {
		if (strcmp(x->names[i], nm) == 0) {
			if (x->err != NULL && x->err->len == 0) {
				buf_printf(x->err, "parameter %s refers to itself: ", nm);
				for (unsigned k = i; k < x->nnames; k++)
					buf_printf(x->err, "$%s -> ", x->names[k]);
				buf_printf(x->err, "$%s", nm);
			}
			return -1;
		}
	}
	if (x->nnames >= EXPAND_MAX_NAMES)
		return fail(x, "unreasonable macro call nesting", nm, len);
	if (x->lookup(x->ctx, nm, &value, &literal) <= 0 || value == NULL)
		return 0;
	if (literal) {
		buf_adds(x->out, value);
		return 0;
	}
	strlcpy(x->names[x->nnames++], nm, sizeof(x->names[0]));
	int rc = expand_text(x, value, strlen(value));
	x->nnames--;
	return rc;
}

/* Is name's value (as written) defined and non-empty? */
static int name_nonempty(struct xp *x, const char *name, size_t len, bool *nonempty)
{
	char nm[EXPAND_NAME_MAX + 1];
	const char *value = NULL;
	bool literal = false;

	if (len > EXPAND_NAME_MAX)
		return fail(x, "parameter name too long", name, len);
	memcpy(nm, name, len);
	nm[len] = '\0';
	*nonempty = len > 0 && x->lookup(x->ctx, nm, &value, &literal) > 0 &&
		    value != NULL && *value != '\0';
	return 0;
}

/* Index just after the } that closes the { at s[from], or 0 if none. */
static size_t match_brace(const char *s, size_t len, size_t from)
{
	int level = 0;
	for (size_t i = from; i < len; i++) {
		if (s[i] == '{')
			level++;
		else if (s[i] == '}' && --level == 0)
			return i + 1;
	}
	return 0;
}

static size_t skip_space(const char *s, size_t len, size_t i)
{
	while (i < len && is_space(s[i]))
		i++;
	return i;
}

/* The text of a {...} group without the braces and surrounding space. */
static void brace_body(const char *s, size_t open, size_t after, const char **b, size_t *blen)
{
	size_t i = open + 1, e = after - 1;
	while (i < e && is_space(s[i]))
		i++;
	while (e > i && is_space(s[e - 1]))
		e--;
	*b = s + i;
	*blen = e - i;
}

/*
 * The inside of ${...} or $(...): name, or name?text, name:text and
 * their braced forms. whole/wlen is the complete reference for messages.
 */
static int expand_ref(struct xp *x, const char *in, size_t len, const char *whole, size_t wlen)
{
	size_t k = skip_space(in, len, 0), n0 = k;
	while (k < len && is_name_char(in[k]))
		k++;
	size_t nlen = k - n0;
	k = skip_space(in, len, k);
	if (k == len) {
		if (nlen == 0)
			return fail(x, "empty macro name", whole, wlen);
		return expand_name(x, in + n0, nlen);
	}
	char op = in[k];
	if (op != '?' && op != ':') {
		if (nlen == 0 && op == '{')
			return fail(x, "relational expressions are not supported", whole, wlen);
		return fail(x, "parameter name syntax error at", in + k, len - k);
	}
	bool nonempty = false;
	if (name_nonempty(x, in + n0, nlen, &nonempty) < 0)
		return -1;
	bool first = op == '?' ? nonempty : !nonempty;
	size_t r = skip_space(in, len, k + 1);
	const char *t1 = in + r, *t2 = NULL;
	size_t t1len = len - r, t2len = 0;

	if (r < len && in[r] == '{') {
		size_t e = match_brace(in, len, r);
		if (e == 0)
			return fail(x, "truncated macro reference", whole, wlen);
		brace_body(in, r, e, &t1, &t1len);
		r = skip_space(in, len, e);
		if (r < len) {
			if (op == ':')
				return fail(x, "unexpected input at", in + r, len - r);
			if (in[r] != ':')
				return fail(x, "\":\" expected at", in + r, len - r);
			r = skip_space(in, len, r + 1);
			if (r < len && in[r] == '{') {
				e = match_brace(in, len, r);
				if (e == 0)
					return fail(x, "truncated macro reference", whole, wlen);
				brace_body(in, r, e, &t2, &t2len);
				if (skip_space(in, len, e) < len)
					return fail(x, "unexpected input at", in + e, len - e);
			} else {
				t2 = in + r;
				t2len = len - r;
			}
		}
	}
	if (first)
		return expand_text(x, t1, t1len);
	return t2 != NULL ? expand_text(x, t2, t2len) : 0;
}

static int expand_text(struct xp *x, const char *s, size_t len)
{
	int rc = 0;

	if (++x->depth > EXPAND_MAX_DEPTH) {
		rc = fail(x, "unreasonable nesting in", s, len);
		goto out;
	}
	x->work += len + EXPAND_CALL_COST;
	if (x->work > EXPAND_MAX_WORK) {
		rc = fail(x, "expansion is too complex (too many references)", NULL, 0);
		goto out;
	}
	size_t i = 0;
	while (i < len) {
		const char *d = memchr(s + i, '$', len - i);
		if (d == NULL) {
			buf_add(x->out, s + i, len - i);
			break;
		}
		buf_add(x->out, s + i, (size_t)(d - (s + i)));
		i = (size_t)(d - s);
		if (i + 1 < len && s[i + 1] == '$') {
			buf_addc(x->out, '$');
			i += 2;
		} else if (i + 1 < len && (s[i + 1] == '{' || s[i + 1] == '(')) {
			char open = s[i + 1], close = open == '{' ? '}' : ')';
			size_t j = i + 2;
			int level = 1;
			for (; j < len; j++) {
				if (s[j] == open)
					level++;
				else if (s[j] == close && --level == 0)
					break;
			}
			if (j >= len) {
				rc = fail(x, "truncated macro reference", s + i, len - i);
				goto out;
			}
			rc = expand_ref(x, s + i + 2, j - i - 2, s + i, j + 1 - i);
			if (rc < 0)
				goto out;
			i = j + 1;
		} else {
			size_t j = i + 1;
			while (j < len && is_name_char(s[j]))
				j++;
			if (j == i + 1) {
				rc = fail(x, "empty macro name", s, len);
				goto out;
			}
			rc = expand_name(x, s + i + 1, j - i - 1);
			if (rc < 0)
				goto out;
			i = j;
		}
		if (x->out->len > EXPAND_MAX_OUT) {
			rc = fail(x, "expansion is too long", NULL, 0);
			goto out;
		}
	}
	if (x->out->len > EXPAND_MAX_OUT)
		rc = fail(x, "expansion is too long", NULL, 0);
out:
	x->depth--;
	return rc;
}

int expand_macros(const char *self, const char *text, expand_lookup_fn lookup, void *ctx,
		  struct buf *out, struct buf *err)
{
	/* 100 names of 256 bytes: too much for the stack of a deep caller. */
	struct xp *x = xmalloc(sizeof(*x));

	x->lookup = lookup;
	x->ctx = ctx;
	x->out = out;
	x->err = err;
	x->depth = 0;
	x->work = 0;
	x->nnames = 0;
	/* The parameter being expanded is the first link of any loop. */
	if (self != NULL && strlen(self) <= EXPAND_NAME_MAX)
		strlcpy(x->names[x->nnames++], self, sizeof(x->names[0]));
	int rc = expand_text(x, text, strlen(text));
	free(x);
	return rc;
}
