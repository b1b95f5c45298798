/*
 * map_regexp.c - the regexp: map type: a file of POSIX extended regular
 * expressions tried in order, in the format of Postfix's regexp_table(5):
 *
 *   /pattern/flags result      the first pattern that matches the key wins
 *   !/pattern/flags result     ... or that does not match it
 *   if /pattern/flags          the rules up to the matching endif are tried
 *   if !/pattern/flags         only when the key matches (does not match)
 *   endif                      if ... endif nest
 *
 * The delimiter may be any character that is not a letter, digit, white
 * space or backslash ("/" by convention); inside the pattern a backslash
 * escapes the delimiter (and goes to regcomp with it). Flags toggle:
 * i case-insensitive (on by default), x extended syntax (on by default),
 * m multi-line (REG_NEWLINE, off by default). In the result, $1..$N,
 * ${N} and $(N) are the text the Nth parenthesised group matched (empty
 * when the group did not take part), and $$ is one "$". Blank lines and
 * lines whose first non-blank character is '#' are skipped; a line that
 * starts with white space continues the previous one. Postfix's inline
 * form, regexp:{ { rule }, { rule } }, holds the rules in the name.
 *
 * Everything is checked when the map is opened: a bad pattern, an unknown
 * flag, a missing result, $N beyond the pattern's groups or in the result
 * of a negated rule (which has no groups to give), an endif without if or
 * an if without endif is an error naming the file and line, and the map
 * is not opened. (Postfix logs most of these and skips the rule; Tern
 * refuses the table, so a typo cannot silently let mail through.)
 *
 * Keys are matched exactly as given: the map layer does not fold them
 * (map_ops.pattern); the i flag decides about case. Callers that try
 * partial keys on exact tables (parent domains in access maps) try only
 * the whole key on a regexp: table, as Postfix does (map_is_pattern()).
 *
 * The pcre: type is recognised only to say that it is not supported and
 * that regexp: is the way (Tern does not link libpcre2).
 *
 * Generic utility layer; reads the file with the caller's privileges.
 * Read-only, no keys to list.
 */
#include "compat.h"

#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "util/map_impl.h"
#include "util/mem.h"

/* Groups a result may name: $1..$99 (regexec fills this many slots). */
#define RX_MAX_GROUP	99

enum rx_kind { RX_MATCH, RX_IF, RX_ENDIF };

struct rx_rule {
	enum rx_kind kind;
	int negate;
	regex_t re;		/* RX_MATCH and RX_IF */
	char *result;		/* RX_MATCH: the text with $N still in it */
	size_t skip_to;		/* RX_IF: the index of its endif */
	size_t groups;		/* highest $N the result uses (regexec slots needed) */
};

struct rxmap {
	struct rx_rule *rules;
	size_t n;
	char *path;		/* NULL for regexp:{ ... } */
	const char *unit;	/* what errors count: "line" in a file, "rule" inline */
	struct map_stamp stamp;
};

static int is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

static int is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/*
 * Walk the $ references of a result: "$N", "${N}" and "$(N)" name group
 * N, "$$" is a literal "$". At open (out NULL) it checks the syntax and
 * records the highest N in *max_group; at lookup it appends the expanded
 * text to out (match and key give the groups). Returns 0, or -1 with a
 * reason in why (a "$" that is none of these, or N out of 1..99).
 */
static int rx_expand(const char *s, const regmatch_t *match, size_t nmatch, const char *key,
		     struct buf *out, size_t *max_group, struct buf *why)
{
	while (*s) {
		const char *dollar = strchr(s, '$');
		if (dollar == NULL) {
			if (out)
				buf_adds(out, s);
			break;
		}
		if (out)
			buf_add(out, s, (size_t)(dollar - s));
		const char *p = dollar + 1;
		if (*p == '$') {
			if (out)
				buf_addc(out, '$');
			s = p + 1;
			continue;
		}
		char close = 0;
		if (*p == '{')
			close = '}';
		else if (*p == '(')
			close = ')';
		if (close)
			p++;
		size_t n = 0;
		const char *digits = p;
		while (*p >= '0' && *p <= '9' && n <= RX_MAX_GROUP)
			n = n * 10 + (size_t)(*p++ - '0');
		if (p == digits || (close && *p != close)) {
			if (why)
				buf_printf(why, "bad \"$\" in result \"%s\" (use $1..$9, ${N} or $(N), "
					   "and $$ for a \"$\")", dollar);
			return -1;
		}
		if (n == 0 || n > RX_MAX_GROUP) {
			if (why)
				buf_printf(why, "$%.*s in result: groups are numbered from 1 to %d",
					   (int)(p - digits), digits, RX_MAX_GROUP);
			return -1;
		}
		if (close)
			p++;
		if (max_group && n > *max_group)
			*max_group = n;
		if (out && n < nmatch && match[n].rm_so >= 0)
			buf_add(out, key + match[n].rm_so, (size_t)(match[n].rm_eo - match[n].rm_so));
		s = p;
	}
	return 0;
}

/*
 * Parse "[!]<d>pattern<d>flags" at *pp and compile it into rule. *pp
 * moves past the flags. Returns 0, or -1 with a reason in why.
 */
static int rx_pattern(const char **pp, struct rx_rule *rule, struct buf *why)
{
	const char *p = *pp;
	if (*p == '!') {
		rule->negate = 1;
		p++;
	}
	char d = *p;
	if (d == '\0' || is_blank(d) || is_alnum(d) || d == '\\') {
		buf_printf(why, "expected a pattern such as /regexp/ (the delimiter may be any "
			   "character but a letter, digit, space or backslash)");
		return -1;
	}
	const char *start = ++p;
	while (*p && *p != d) {
		if (*p == '\\' && p[1] != '\0')
			p++;
		p++;
	}
	if (*p != d) {
		buf_printf(why, "pattern has no closing '%c'", d);
		return -1;
	}
	char *pat = xstrndup(start, (size_t)(p - start));
	int cflags = REG_EXTENDED | REG_ICASE;
	for (p++; *p && !is_blank(*p); p++) {
		switch (*p) {
		case 'i': cflags ^= REG_ICASE; break;
		case 'x': cflags ^= REG_EXTENDED; break;
		case 'm': cflags ^= REG_NEWLINE; break;
		default:
			buf_printf(why, "unknown flag '%c' after the pattern (i, m and x are known)", *p);
			free(pat);
			return -1;
		}
	}
	int rc = regcomp(&rule->re, pat, cflags);
	if (rc != 0) {
		char msg[256];
		regerror(rc, &rule->re, msg, sizeof(msg));
		buf_printf(why, "bad pattern \"%s\": %s", pat, msg);
		free(pat);
		return -1;
	}
	free(pat);
	*pp = p;
	return 0;
}

static void rx_free(struct rxmap *rx)
{
	for (size_t i = 0; i < rx->n; i++) {
		if (rx->rules[i].kind != RX_ENDIF)
			regfree(&rx->rules[i].re);
		free(rx->rules[i].result);
	}
	free(rx->rules);
	free(rx->path);
	free(rx);
}

/* "word" at s, followed by white space or the end: "if", "endif". */
static const char *rx_word(const char *s, const char *word)
{
	size_t n = strlen(word);
	if (strncasecmp(s, word, n) != 0 || (s[n] != '\0' && !is_blank(s[n])))
		return NULL;
	s += n;
	while (is_blank(*s))
		s++;
	return s;
}

/* One logical line (continuations joined) into rx. -1 with a reason in why. */
static int rx_line(struct rxmap *rx, char *line, size_t *stack, size_t *depth, struct buf *why)
{
	size_t n = strlen(line);
	while (n > 0 && is_blank(line[n - 1]))
		line[--n] = '\0';
	struct rx_rule rule;
	memset(&rule, 0, sizeof(rule));
	const char *p;
	if ((p = rx_word(line, "endif")) != NULL) {
		if (*p != '\0') {
			buf_printf(why, "text after endif: \"%s\"", p);
			return -1;
		}
		if (*depth == 0) {
			buf_adds(why, "endif without if");
			return -1;
		}
		rule.kind = RX_ENDIF;
		rx->rules[stack[--*depth]].skip_to = rx->n;
	} else if ((p = rx_word(line, "if")) != NULL) {
		rule.kind = RX_IF;
		if (rx_pattern(&p, &rule, why) < 0)
			return -1;
		while (is_blank(*p))
			p++;
		if (*p != '\0') {
			buf_printf(why, "text after the if pattern: \"%s\"", p);
			regfree(&rule.re);
			return -1;
		}
		stack[(*depth)++] = rx->n;
	} else {
		rule.kind = RX_MATCH;
		p = line;
		if (rx_pattern(&p, &rule, why) < 0)
			return -1;
		while (is_blank(*p))
			p++;
		if (*p == '\0') {
			buf_adds(why, "missing result after the pattern");
			regfree(&rule.re);
			return -1;
		}
		if (rx_expand(p, NULL, 0, NULL, NULL, &rule.groups, why) < 0) {
			regfree(&rule.re);
			return -1;
		}
		if (rule.groups > 0 && rule.negate) {
			buf_printf(why, "$%zu in the result of a negated pattern (it has no match to take "
				   "text from)", rule.groups);
			regfree(&rule.re);
			return -1;
		}
		if (rule.groups > rule.re.re_nsub) {
			buf_printf(why, "$%zu in the result, but the pattern has %zu group%s", rule.groups,
				   rule.re.re_nsub, rule.re.re_nsub == 1 ? "" : "s");
			regfree(&rule.re);
			return -1;
		}
		rule.result = xstrdup(p);
	}
	rx->rules[rx->n++] = rule;
	return 0;
}

/*
 * Split text into logical lines and compile them. Every physical line
 * can add at most one rule, so the arrays are sized by the line count.
 */
static int rx_parse(struct map *m, struct rxmap *rx, const struct buf *text)
{
	const char *s = buf_str(text);
	size_t lines = 1;
	for (size_t i = 0; i < text->len; i++)
		if (s[i] == '\n')
			lines++;
	rx->rules = xcalloc(lines, sizeof(*rx->rules));
	size_t *stack = xcalloc(lines, sizeof(*stack)), depth = 0;
	unsigned *if_line = xcalloc(lines, sizeof(*if_line));
	struct buf cur = BUF_INIT, why = BUF_INIT;
	unsigned lineno = 0, cur_line = 0;
	int have = 0, rc = 0;
	size_t pos = 0;
	while (rc == 0) {
		int at_end = pos >= text->len;
		const char *l = NULL, *nl;
		size_t llen = 0;
		if (!at_end) {
			l = s + pos;
			nl = memchr(l, '\n', text->len - pos);
			llen = nl ? (size_t)(nl - l) : text->len - pos;
			pos += llen + 1;
			lineno++;
			if (memchr(l, '\0', llen) != NULL) {
				map_set_error(m, "%s %u: NUL byte", rx->unit, lineno);
				rc = -1;
				break;
			}
			size_t i = 0;
			while (i < llen && is_blank(l[i]))
				i++;
			if (i == llen || l[i] == '#')
				continue;
			if (i > 0) {
				if (!have) {
					map_set_error(m, "%s %u: continuation line (it starts with white "
						      "space) without a line to continue", rx->unit, lineno);
					rc = -1;
					break;
				}
				buf_add(&cur, l, llen);
				continue;
			}
		}
		if (have) {
			size_t before = depth;
			if (rx_line(rx, cur.data, stack, &depth, &why) < 0) {
				map_set_error(m, "%s %u: %s", rx->unit, cur_line, buf_str(&why));
				rc = -1;
				break;
			}
			if (depth > before)
				if_line[depth - 1] = cur_line;
		}
		if (at_end)
			break;
		buf_reset(&cur);
		buf_add(&cur, l, llen);
		cur_line = lineno;
		have = 1;
	}
	if (rc == 0 && depth > 0) {
		map_set_error(m, "%s %u: if without endif", rx->unit, if_line[depth - 1]);
		rc = -1;
	}
	buf_free(&cur);
	buf_free(&why);
	free(stack);
	free(if_line);
	return rc;
}

/*
 * regexp:{ { rule }, { rule } ... }, Postfix's inline form: each rule
 * becomes one line of the text (white space after '{' and before '}'
 * dropped). Braces inside a rule must balance, as in /a{2}/.
 */
static int rx_inline(struct map *m, const char *name, struct buf *text)
{
	static const char use[] = "(use regexp:{ { rule }, { rule } })";
	size_t n = strlen(name);
	while (n > 1 && is_blank(name[n - 1]))
		n--;
	if (n < 2 || name[n - 1] != '}') {
		map_set_error(m, "missing '}' at the end %s", use);
		return -1;
	}
	const char *p = name + 1, *end = name + n - 1;
	unsigned count = 0;
	for (;;) {
		while (p < end && (is_blank(*p) || *p == '\n' || *p == ','))
			p++;
		if (p == end)
			break;
		if (*p != '{') {
			map_set_error(m, "rule %u does not start with '{' %s", count + 1, use);
			return -1;
		}
		const char *s = p + 1;
		int depth = 0;
		for (; p < end; p++) {
			if (*p == '{')
				depth++;
			else if (*p == '}' && --depth == 0)
				break;
		}
		if (p == end) {
			map_set_error(m, "rule %u has no closing '}' %s", count + 1, use);
			return -1;
		}
		const char *e = p++;
		while (s < e && (is_blank(*s) || *s == '\n'))
			s++;
		while (e > s && (is_blank(e[-1]) || e[-1] == '\n'))
			e--;
		if (memchr(s, '\n', (size_t)(e - s)) != NULL) {
			map_set_error(m, "rule %u spans lines", count + 1);
			return -1;
		}
		buf_add(text, s, (size_t)(e - s));
		buf_addc(text, '\n');
		count++;
	}
	if (count == 0) {
		map_set_error(m, "no rules %s", use);
		return -1;
	}
	return 0;
}

static int regexp_open(struct map *m, const char *name)
{
	struct rxmap *rx = xcalloc(1, sizeof(*rx));
	if (*name == '{') {
		struct buf text = BUF_INIT;
		rx->unit = "rule";
		int r = rx_inline(m, name, &text) < 0 ? -1 : rx_parse(m, rx, &text);
		buf_free(&text);
		if (r < 0) {
			rx_free(rx);
			return -1;
		}
		m->priv = rx;
		return 0;
	}
	rx->unit = "line";
	rx->path = xstrdup(name);
	int fd = open(name, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		map_set_error(m, "open %s: %s", name, strerror(errno));
		rx_free(rx);
		return -1;
	}
	struct buf text = BUF_INIT;
	int r = buf_read_fd(&text, fd, 0);
	int saved = errno;
	close(fd);
	if (r < 0) {
		map_set_error(m, "read %s: %s", name, strerror(saved));
		buf_free(&text);
		rx_free(rx);
		return -1;
	}
	if (rx_parse(m, rx, &text) < 0) {
		buf_free(&text);
		rx_free(rx);
		return -1;
	}
	buf_free(&text);
	/* Taken after reading: a change during the read shows up as a change. */
	map_stamp_take(&rx->stamp, name);
	m->priv = rx;
	return 0;
}

static int rx_matches(const struct rx_rule *r, const char *key, regmatch_t *match, size_t nmatch)
{
	int hit = regexec(&r->re, key, nmatch, nmatch ? match : NULL, 0) == 0;
	return r->negate ? !hit : hit;
}

static int regexp_lookup(struct map *m, const char *key, struct buf *value)
{
	struct rxmap *rx = m->priv;
	regmatch_t match[RX_MAX_GROUP + 1];
	for (size_t i = 0; i < rx->n; i++) {
		const struct rx_rule *r = &rx->rules[i];
		switch (r->kind) {
		case RX_ENDIF:
			break;
		case RX_IF:
			if (!rx_matches(r, key, match, 0))
				i = r->skip_to;	/* the loop steps past the endif */
			break;
		case RX_MATCH:
			if (rx_matches(r, key, match, r->negate ? 0 : r->groups + 1)) {
				/* Checked at open: cannot fail here. */
				(void)rx_expand(r->result, match, r->groups + 1, key, value, NULL, NULL);
				return 1;
			}
			break;
		}
	}
	return 0;
}

static int regexp_iterate(struct map *m, int first, struct buf *key, struct buf *value)
{
	(void)first;
	(void)key;
	(void)value;
	map_set_error(m, "regexp maps have no keys to list");
	return -1;
}

static int regexp_changed(struct map *m)
{
	struct rxmap *rx = m->priv;
	return rx->path != NULL && map_stamp_changed(&rx->stamp, rx->path);
}

static int regexp_close(struct map *m, int discard)
{
	(void)discard;
	rx_free(m->priv);
	return 0;
}

const struct map_ops map_regexp_ops = {
	.type = "regexp",
	.pattern = 1,
	.open = regexp_open,
	.lookup = regexp_lookup,
	.iterate = regexp_iterate,
	.changed = regexp_changed,
	.close = regexp_close,
};

/* pcre: is known only to point at regexp: (no libpcre2 in Tern). */
static int pcre_open(struct map *m, const char *name)
{
	(void)name;
	map_set_error(m, "pcre: tables are not supported by Tern; use regexp: (POSIX extended "
		      "regular expressions, the same file format without the PCRE-only syntax)");
	return -1;
}

const struct map_ops map_pcre_ops = {
	.type = "pcre",
	.open = pcre_open,
};
