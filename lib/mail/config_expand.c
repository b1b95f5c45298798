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
 * White space around {text} is ignored; text inside braces, and
 * unbraced text after ? or :, is kept exactly.
 * The ?/: test looks at the value as written (x = $empty counts as
 * non-empty), as Postfix does. An undefined name expands to nothing.
 *   ${{t1} == {t2}}    "true" or empty; also !=, <, <=, >=, > (numbers
 *                      compare as numbers) and <level ... (compatibility
 *                      levels); ${{t1} == {t2} ? {a} : {b}} chooses
 */
#include "compat.h"

#include <errno.h>
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

/* The text of a {...} group without the braces, kept as is. */
static void brace_body(const char *s, size_t open, size_t after, const char **b, size_t *blen)
{
	*b = s + open + 1;
	*blen = after - open - 2;
}

/*
 * The part after ? or : (at in[k]): text1 when first, else text2, in
 * the unbraced form (taken as is) or the braced ones.
 */
static int expand_choice(struct xp *x, const char *in, size_t len, size_t k, bool first,
			 const char *whole, size_t wlen)
{
	char op = in[k];
	/* Unbraced text is taken as is, white space included. */
	size_t r = skip_space(in, len, k + 1);
	const char *t1 = in + k + 1, *t2 = NULL;
	size_t t1len = len - k - 1, t2len = 0;

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
			size_t colon = r;
			r = skip_space(in, len, r + 1);
			if (r < len && in[r] == '{') {
				e = match_brace(in, len, r);
				if (e == 0)
					return fail(x, "truncated macro reference", whole, wlen);
				brace_body(in, r, e, &t2, &t2len);
				if (skip_space(in, len, e) < len)
					return fail(x, "unexpected input at", in + e, len - e);
			} else {
				t2 = in + colon + 1;
				t2len = len - colon - 1;
			}
		}
	}
	if (first)
		return expand_text(x, t1, t1len);
	return t2 != NULL ? expand_text(x, t2, t2len) : 0;
}

/* Expand a {...} operand into its own buffer. */
static int expand_operand(struct xp *x, const char *s, size_t len, struct buf *into)
{
	struct buf *saved = x->out;
	x->out = into;
	int rc = expand_text(x, s, len);
	x->out = saved;
	return rc;
}

static bool parse_ll(const char *s, long long *v)
{
	char *end;
	if (*s == '\0')
		return false;
	errno = 0;
	*v = strtoll(s, &end, 10);
	return errno == 0 && *end == '\0';
}

/* Compatibility levels as Postfix writes them: 2, 3.6, 3.10.1. */
static int compare_level(const char *a, const char *b, int *cmp)
{
	for (;;) {
		char *ea, *eb;
		if (!(*a >= '0' && *a <= '9') || !(*b >= '0' && *b <= '9'))
			return -1;
		errno = 0;
		unsigned long long na = strtoull(a, &ea, 10), nb = strtoull(b, &eb, 10);
		if (errno != 0)
			return -1;
		if (na != nb) {
			*cmp = na < nb ? -1 : 1;
			return 0;
		}
		a = ea;
		b = eb;
		if (*a == '\0' && *b == '\0') {
			*cmp = 0;
			return 0;
		}
		/* A missing component counts as 0. */
		if (*a != '.' && *a != '\0')
			return -1;
		if (*b != '.' && *b != '\0')
			return -1;
		a = *a == '.' ? a + 1 : "0";
		b = *b == '.' ? b + 1 : "0";
	}
}

/*
 * Postfix 3's relational form: ${{text1} OP {text2}} gives "true" or
 * nothing; followed by ?text or :text it chooses as ${name?...} does.
 * OP is ==, !=, <, <=, >=, >; the last four compare as integers when
 * both sides are integers, else as strings; with the suffix "level"
 * (<level ...) they compare compatibility levels (3.6 < 3.10).
 */
static int expand_relation(struct xp *x, const char *in, size_t len, size_t k,
			   const char *whole, size_t wlen)
{
	struct buf left = BUF_INIT, right = BUF_INIT;
	const char *b;
	size_t blen;
	int rc = -1, cmp = 0;
	bool truth = false;

	size_t e = match_brace(in, len, k);
	if (e == 0) {
		fail(x, "truncated macro reference", whole, wlen);
		goto out;
	}
	brace_body(in, k, e, &b, &blen);
	if (expand_operand(x, b, blen, &left) < 0)
		goto out;
	size_t o = skip_space(in, len, e), o1 = o;
	while (o1 < len && strchr("=!<>", in[o1]) != NULL)
		o1++;
	bool level = len - o1 >= 5 && memcmp(in + o1, "level", 5) == 0;
	size_t oplen = o1 - o;
	const char *op = in + o;
	static const char *const ops[] = { "==", "!=", "<", "<=", ">=", ">" };
	int which = -1;
	for (int i = 0; i < 6; i++)
		if (strlen(ops[i]) == oplen && memcmp(ops[i], op, oplen) == 0)
			which = i;
	if (which < 0) {
		fail(x, "\"==\" or \"!=\" or \"<\" or \"<=\" or \">=\" or \">\" expected at",
		     in + o, len - o);
		goto out;
	}
	size_t r = skip_space(in, len, o1 + (level ? 5 : 0));
	if (r >= len || in[r] != '{') {
		fail(x, "\"{expression}\" expected at", in + r, len - r);
		goto out;
	}
	e = match_brace(in, len, r);
	if (e == 0) {
		fail(x, "truncated macro reference", whole, wlen);
		goto out;
	}
	brace_body(in, r, e, &b, &blen);
	if (expand_operand(x, b, blen, &right) < 0)
		goto out;

	const char *l = buf_str(&left), *rt = buf_str(&right);
	long long nl, nr;
	if (level) {
		if (compare_level(l, rt, &cmp) < 0) {
			fail(x, "bad compatibility level in", whole, wlen);
			goto out;
		}
	} else if (which >= 2 && parse_ll(l, &nl) && parse_ll(rt, &nr)) {
		cmp = nl < nr ? -1 : nl > nr;
	} else {
		cmp = strcmp(l, rt);
	}
	switch (which) {
	case 0: truth = cmp == 0; break;
	case 1: truth = cmp != 0; break;
	case 2: truth = cmp < 0; break;
	case 3: truth = cmp <= 0; break;
	case 4: truth = cmp >= 0; break;
	case 5: truth = cmp > 0; break;
	}
	r = skip_space(in, len, e);
	if (r == len) {
		buf_adds(x->out, truth ? "true" : "");	/* Postfix: false is empty */
		rc = 0;
	} else if (in[r] == '?' || in[r] == ':') {
		rc = expand_choice(x, in, len, r, in[r] == '?' ? truth : !truth, whole, wlen);
	} else {
		fail(x, "unexpected input at", in + r, len - r);
	}
out:
	buf_free(&left);
	buf_free(&right);
	return rc;
}

/*
 * The inside of ${...} or $(...): name, or name?text, name:text and
 * their braced forms, or a relational expression. whole/wlen is the
 * complete reference for messages.
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
			return expand_relation(x, in, len, k, whole, wlen);
		return fail(x, "parameter name syntax error at", in + k, len - k);
	}
	bool nonempty = false;
	if (name_nonempty(x, in + n0, nlen, &nonempty) < 0)
		return -1;
	return expand_choice(x, in, len, k, op == '?' ? nonempty : !nonempty, whole, wlen);
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
	/*
	 * No '$', nothing to expand: most values (nearly every default) are
	 * copied as they are, without the 25 KiB state below (its malloc and
	 * free were most of a configuration load's instructions). Within the
	 * work and output limits this is exactly what expand_text does with it.
	 */
	size_t len = strlen(text);
	if (memchr(text, '$', len) == NULL && len + EXPAND_CALL_COST <= EXPAND_MAX_WORK &&
	    out->len + len <= EXPAND_MAX_OUT) {
		buf_add(out, text, len);
		return 0;
	}
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
	int rc = expand_text(x, text, len);
	free(x);
	return rc;
}
