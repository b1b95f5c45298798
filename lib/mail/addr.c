/*
 * addr.c - RFC 5322 / RFC 5321 address parsing (see addr.h).
 *
 * Mail layer; pure functions, no privileges. The input is untrusted (it
 * comes from message headers and the command line): every path is
 * bounded, nothing recurses on input except comment nesting, which is
 * counted rather than recursed.
 *
 * Structure: a tokenizer (atoms, quoted strings, domain literals,
 * specials; comments and white space skipped but remembered as "space
 * before") and a parser over the tokens of one list.
 */
#include "compat.h"

#include <stdlib.h>
#include <string.h>

#include "mail/addr.h"
#include "util/buf.h"
#include "util/mem.h"

enum tok_type { T_ATOM, T_QSTRING, T_DLIT, T_SPECIAL, T_END, T_BAD };

struct tok {
	enum tok_type type;
	char ch;		/* T_SPECIAL: the character */
	size_t start, end;	/* raw text span */
	bool space_before;	/* white space or a comment precedes it */
};

struct lexer {
	const char *s;
	size_t len, pos;
	const char *error;
};

static bool is_special(unsigned char c)
{
	return strchr("()<>[]:;@\\,.\"", c) != NULL && c != '\0';
}

static bool is_wsp(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* atext plus 8-bit bytes (RFC 6532) */
static bool is_atext(unsigned char c)
{
	if (c >= 0x80)
		return true;
	if (c <= ' ' || c == 0x7f)
		return false;
	return !is_special(c);
}

/* Skip white space and comments; false on an unterminated comment or a control char. */
static bool skip_cfws(struct lexer *lx, bool *skipped)
{
	while (lx->pos < lx->len) {
		unsigned char c = (unsigned char)lx->s[lx->pos];
		if (is_wsp(c)) {
			lx->pos++;
			*skipped = true;
		} else if (c == '(') {
			int depth = 0;
			*skipped = true;
			do {
				c = (unsigned char)lx->s[lx->pos];
				if (c == '\\') {
					lx->pos++;
					if (lx->pos >= lx->len)
						break;
				} else if (c == '(') {
					depth++;
				} else if (c == ')') {
					depth--;
				} else if (c == '\0') {
					lx->error = "NUL in comment";
					return false;
				}
				lx->pos++;
			} while (depth > 0 && lx->pos < lx->len);
			if (depth != 0) {
				lx->error = "unterminated comment";
				return false;
			}
		} else {
			break;
		}
	}
	return true;
}

static struct tok next_tok(struct lexer *lx)
{
	struct tok t = {.type = T_END};
	if (!skip_cfws(lx, &t.space_before)) {
		t.type = T_BAD;
		return t;
	}
	t.start = lx->pos;
	if (lx->pos >= lx->len) {
		t.end = lx->pos;
		return t;
	}
	unsigned char c = (unsigned char)lx->s[lx->pos];
	if (c == '"' || c == '[') {
		char close = c == '"' ? '"' : ']';
		lx->pos++;
		while (lx->pos < lx->len && lx->s[lx->pos] != close) {
			unsigned char d = (unsigned char)lx->s[lx->pos];
			if (d == '\\') {
				/*
				 * A quoted pair escapes a visible character, a space or
				 * a tab (RFC 5322), never a NUL or a control character,
				 * and not CR/LF either: the folding is removed later,
				 * and a backslash, LF, '"' would become an escaped quote.
				 */
				unsigned char e = lx->pos + 1 < lx->len ? (unsigned char)lx->s[lx->pos + 1] : 0;
				if (e < ' ' && e != '\t')
					break;
				lx->pos++;
			} else if (d == '\0' || (d < ' ' && !is_wsp(d)) || (close == ']' && (d == '[')))
				break;
			/* CR/LF (folding) inside is obsolete but allowed; removed later. */
			lx->pos++;
		}
		if (lx->pos >= lx->len || lx->s[lx->pos] != close) {
			t.type = T_BAD;
			lx->error = c == '"' ? "unterminated quoted string" : "unterminated domain literal";
			return t;
		}
		lx->pos++;
		t.type = c == '"' ? T_QSTRING : T_DLIT;
		t.end = lx->pos;
		return t;
	}
	if (is_atext(c)) {
		while (lx->pos < lx->len && is_atext((unsigned char)lx->s[lx->pos]))
			lx->pos++;
		t.type = T_ATOM;
		t.end = lx->pos;
		return t;
	}
	if (c == ')' ) {
		t.type = T_BAD;
		lx->error = "unbalanced ')'";
		return t;
	}
	if (is_special(c)) {
		t.type = T_SPECIAL;
		t.ch = (char)c;
		lx->pos++;
		t.end = lx->pos;
		if (c == '\\' || c == ']') {
			t.type = T_BAD;
			lx->error = c == '\\' ? "stray backslash" : "unbalanced ']'";
		}
		return t;
	}
	t.type = T_BAD;
	lx->error = "control character";
	return t;
}

/* Token array for one whole list, so the parser can look ahead. */
struct toks {
	struct tok *v;
	size_t n, i;
	const char *s;
};

static bool tokenize(const char *s, size_t len, struct toks *ts, const char **error)
{
	struct lexer lx = {.s = s, .len = len};
	size_t cap = 0;
	ts->v = NULL;
	ts->n = ts->i = 0;
	ts->s = s;
	for (;;) {
		struct tok t = next_tok(&lx);
		if (ts->n == cap) {
			cap = cap ? cap * 2 : 16;
			ts->v = xreallocarray(ts->v, cap, sizeof(*ts->v));
		}
		ts->v[ts->n++] = t;
		if (t.type == T_BAD) {
			/* Keep the bad token (its element fails) and end the list after it. */
			*error = lx.error;
			if (ts->n == cap)
				ts->v = xreallocarray(ts->v, ++cap, sizeof(*ts->v));
			ts->v[ts->n++] = (struct tok){.type = T_END, .start = t.end, .end = t.end};
			return false;
		}
		if (t.type == T_END)
			return true;
	}
}

static const struct tok *peek(struct toks *ts)
{
	return &ts->v[ts->i];
}

static bool is_sp(const struct tok *t, char c)
{
	return t->type == T_SPECIAL && t->ch == c;
}

static bool is_word(const struct tok *t)
{
	return t->type == T_ATOM || t->type == T_QSTRING;
}

/* Append a token's text, with folding (CR/LF) removed. */
static void add_raw(struct buf *b, const struct toks *ts, const struct tok *t)
{
	for (size_t k = t->start; k < t->end; k++)
		if (ts->s[k] != '\r' && ts->s[k] != '\n')
			buf_addc(b, ts->s[k]);
}

/* Display-name text: quoted strings unquoted, words joined by one space. */
static void add_phrase_word(struct buf *b, const struct toks *ts, const struct tok *t)
{
	if (b->len > 0 && t->space_before)
		buf_addc(b, ' ');
	if (t->type != T_QSTRING) {
		add_raw(b, ts, t);
		return;
	}
	for (size_t k = t->start + 1; k + 1 < t->end; k++) {
		char c = ts->s[k];
		if (c == '\\' && k + 2 < t->end)
			c = ts->s[++k];
		if (c != '\r' && c != '\n')
			buf_addc(b, c);
	}
}

/*
 * addr-spec: local-part ["@" domain]. local-part = word *("." word);
 * domain = atom *("." atom) / domain-literal. Fills a.
 */
static bool parse_spec(struct toks *ts, struct addr *a, struct buf *mb, const char **why)
{
	const struct tok *t = peek(ts);
	if (!is_word(t)) {
		*why = is_sp(t, '@') ? "empty local part" : "expected an address";
		return false;
	}
	a->spec_start = t->start;
	for (;;) {
		t = peek(ts);
		if (!is_word(t)) {
			*why = "bad local part";
			return false;
		}
		add_raw(mb, ts, t);
		a->spec_end = t->end;
		ts->i++;
		if (!is_sp(peek(ts), '.'))
			break;
		buf_addc(mb, '.');
		ts->i++;
	}
	if (is_word(peek(ts))) {
		*why = "unquoted white space in local part";
		return false;
	}
	if (!is_sp(peek(ts), '@'))
		return true;
	ts->i++;
	buf_addc(mb, '@');
	a->has_domain = true;
	t = peek(ts);
	if (t->type == T_DLIT) {
		add_raw(mb, ts, t);
		a->spec_end = t->end;
		ts->i++;
		return true;
	}
	for (;;) {
		t = peek(ts);
		if (t->type != T_ATOM) {
			*why = "bad or empty domain";
			return false;
		}
		add_raw(mb, ts, t);
		a->spec_end = t->end;
		ts->i++;
		if (!is_sp(peek(ts), '.'))
			break;
		buf_addc(mb, '.');
		ts->i++;
	}
	if (is_word(peek(ts)) || peek(ts)->type == T_DLIT) {
		*why = "white space in domain";
		return false;
	}
	return true;
}

/* Obsolete source route "@a,@b:" before the addr-spec inside <>: skipped. */
static bool skip_route(struct toks *ts, const char **why)
{
	if (!is_sp(peek(ts), '@'))
		return true;
	for (;;) {
		if (!is_sp(peek(ts), '@')) {
			*why = "bad source route";
			return false;
		}
		ts->i++;
		if (peek(ts)->type != T_ATOM && peek(ts)->type != T_DLIT) {
			*why = "bad source route";
			return false;
		}
		while (peek(ts)->type == T_ATOM || peek(ts)->type == T_DLIT || is_sp(peek(ts), '.'))
			ts->i++;
		while (is_sp(peek(ts), ','))
			ts->i++;
		if (is_sp(peek(ts), ':')) {
			ts->i++;
			return true;
		}
	}
}

/*
 * One mailbox: [phrase] "<" [route] addr-spec ">" / addr-spec.
 * Returns false with why on a malformed element.
 */
static bool parse_mailbox(struct toks *ts, struct addr *a, const char **why)
{
	struct buf mb = BUF_INIT, disp = BUF_INIT;
	size_t save = ts->i;
	bool ok = false;

	/* Look ahead: a phrase followed by '<' is a name-addr. */
	while (is_word(peek(ts)) || is_sp(peek(ts), '.'))
		add_phrase_word(&disp, ts, &ts->v[ts->i++]);
	if (is_sp(peek(ts), '<')) {
		ts->i++;
		if (is_sp(peek(ts), '>')) {
			*why = "empty angle address";
			goto out;
		}
		if (!skip_route(ts, why) || !parse_spec(ts, a, &mb, why))
			goto out;
		if (!is_sp(peek(ts), '>')) {
			*why = "missing '>'";
			goto out;
		}
		ts->i++;
	} else {
		ts->i = save;
		buf_reset(&disp);
		if (!parse_spec(ts, a, &mb, why))
			goto out;
	}
	if (mb.len > ADDR_MAX) {
		*why = "address too long";
		goto out;
	}
	a->mailbox = buf_steal(&mb);
	a->display = disp.data ? buf_steal(&disp) : xstrdup("");
	ok = true;
out:
	buf_free(&mb);
	buf_free(&disp);
	return ok;
}

void addr_list_init(struct addr_list *l)
{
	l->v = NULL;
	l->n = l->cap = l->bad = 0;
	buf_init(&l->error);
}

void addr_list_free(struct addr_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].mailbox);
		free(l->v[i].display);
		free(l->v[i].group);
	}
	free(l->v);
	buf_free(&l->error);
	addr_list_init(l);
}

static void list_bad(struct addr_list *l, const char *why)
{
	if (l->bad++ == 0)
		buf_adds(&l->error, why);
}

/* Skip to the end of the current element (',' at this level, or ';' in a group). */
static void skip_element(struct toks *ts, bool in_group)
{
	while (peek(ts)->type != T_END && !is_sp(peek(ts), ',') && !(in_group && is_sp(peek(ts), ';')))
		ts->i++;
}

int addr_parse_list(const char *text, size_t len, struct addr_list *l)
{
	struct toks ts;
	const char *lex_error = NULL;
	bool lexed = tokenize(text, len, &ts, &lex_error);
	char *group = NULL;

	while (peek(&ts)->type != T_END) {
		const char *why = NULL;
		if (is_sp(peek(&ts), ',')) {	/* empty element (obsolete syntax) */
			ts.i++;
			continue;
		}
		if (group != NULL && is_sp(peek(&ts), ';')) {
			ts.i++;
			free(group);
			group = NULL;
			continue;
		}
		/* A group starts with "phrase :" */
		size_t save = ts.i;
		struct buf gname = BUF_INIT;
		while (is_word(peek(&ts)) || is_sp(peek(&ts), '.'))
			add_phrase_word(&gname, &ts, &ts.v[ts.i++]);
		if (is_sp(peek(&ts), ':') && group == NULL && ts.i > save) {
			ts.i++;
			group = gname.data ? buf_steal(&gname) : xstrdup("");
			buf_free(&gname);
			continue;
		}
		buf_free(&gname);
		ts.i = save;

		struct addr a = {0};
		if (parse_mailbox(&ts, &a, &why) &&
		    (peek(&ts)->type == T_END || is_sp(peek(&ts), ',') ||
		     (group != NULL && is_sp(peek(&ts), ';')))) {
			a.group = xstrdup(group ? group : "");
			l->v = xgrow(l->v, &l->cap, l->n, sizeof(*l->v));
			l->v[l->n++] = a;
		} else {
			free(a.mailbox);
			free(a.display);
			if (peek(&ts)->type == T_BAD && lex_error != NULL)
				why = lex_error;
			list_bad(l, why ? why : "junk after address");
			skip_element(&ts, group != NULL);
		}
	}
	if (group != NULL) {
		list_bad(l, "group without ';'");
		free(group);
	}
	if (!lexed && l->bad == 0)
		list_bad(l, lex_error ? lex_error : "malformed");
	free(ts.v);
	return l->bad ? -1 : 0;
}

static bool domain_valid(const char *d)
{
	if (*d == '[') {
		size_t n = strlen(d);
		return n >= 3 && d[n - 1] == ']';
	}
	if (*d == '\0' || *d == '.' || strlen(d) > 253)
		return false;
	size_t label = 0;
	for (const char *p = d; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (c == '.') {
			if (label == 0 || p[-1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!(c >= 0x80 || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return false;
		if (label == 0 && c == '-')
			return false;
		if (++label > 63)
			return false;
	}
	return label > 0 && d[strlen(d) - 1] != '-';
}

bool addr_split(const char *mailbox, struct buf *local, struct buf *domain)
{
	const char *at = NULL;
	bool quoted = false;
	for (const char *p = mailbox; *p; p++) {
		if (*p == '\\' && quoted && p[1]) {
			p++;
			continue;
		}
		if (*p == '"')
			quoted = !quoted;
		else if (*p == '@' && !quoted)
			at = p;
	}
	if (local) {
		buf_reset(local);
		buf_add(local, mailbox, at ? (size_t)(at - mailbox) : strlen(mailbox));
	}
	if (domain) {
		buf_reset(domain);
		if (at)
			buf_adds(domain, at + 1);
	}
	return at != NULL;
}

/* First ('!') or last ('%') unquoted c in s, or NULL. */
static const char *find_unquoted(const char *s, char c, bool last)
{
	const char *found = NULL;
	bool quoted = false;

	for (const char *p = s; *p; p++) {
		if (*p == '\\' && quoted && p[1]) {
			p++;
			continue;
		}
		if (*p == '"')
			quoted = !quoted;
		else if (*p == c && !quoted) {
			found = p;
			if (!last)
				break;
		}
	}
	return found;
}

void addr_rewrite_local(const char *mailbox, const struct addr_rewrite *rw, struct buf *out)
{
	struct buf domain = BUF_INIT;
	const char *bang, *pct;

	buf_reset(out);
	if (*mailbox == '\0')
		return;
	if (addr_split(mailbox, NULL, NULL)) {
		buf_adds(out, mailbox);
	} else if (rw->swap_bangpath && (bang = find_unquoted(mailbox, '!', false)) != NULL
	    && bang != mailbox && bang[1] != '\0') {
		/* site!user -> user@site; a!b!user -> b!user@a, as Postfix does. */
		buf_printf(out, "%s@%.*s", bang + 1, (int)(bang - mailbox), mailbox);
	} else if (rw->percent_hack && (pct = find_unquoted(mailbox, '%', true)) != NULL
	    && pct != mailbox && pct[1] != '\0') {
		buf_printf(out, "%.*s@%s", (int)(pct - mailbox), mailbox, pct + 1);
	} else {
		buf_adds(out, mailbox);
		if (rw->origin != NULL && *rw->origin != '\0')
			buf_printf(out, "@%s", rw->origin);
	}
	if (rw->mydomain != NULL && *rw->mydomain != '\0' && addr_split(buf_str(out), NULL, &domain)
	    && domain.len > 0 && domain.data[0] != '[' && strchr(buf_str(&domain), '.') == NULL)
		buf_printf(out, ".%s", rw->mydomain);
	buf_free(&domain);
}

bool addr_envelope_valid(const char *mailbox)
{
	if (*mailbox == '\0')
		return true;	/* <> */
	if (strlen(mailbox) > ADDR_MAX)
		return false;
	for (const unsigned char *p = (const unsigned char *)mailbox; *p; p++)
		if (*p < ' ' || *p == 0x7f)
			return false;
	struct addr_list l;
	addr_list_init(&l);
	bool ok = addr_parse_list(mailbox, strlen(mailbox), &l) == 0 && l.n == 1 &&
		  strcmp(l.v[0].mailbox, mailbox) == 0 && l.v[0].display[0] == '\0' &&
		  l.v[0].group[0] == '\0';
	if (ok && l.v[0].has_domain) {
		struct buf dom = BUF_INIT;
		addr_split(mailbox, NULL, &dom);
		ok = domain_valid(buf_str(&dom));
		buf_free(&dom);
	}
	addr_list_free(&l);
	return ok;
}

int addr_parse_envelope(const char *text, struct buf *out, struct buf *err)
{
	buf_reset(out);
	/* Trim white space; "<>" and "" are the null address. */
	while (*text == ' ' || *text == '\t')
		text++;
	size_t len = strlen(text);
	while (len > 0 && (text[len - 1] == ' ' || text[len - 1] == '\t'))
		len--;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)text[i] < ' ' || text[i] == 0x7f) {
			buf_reset(err);
			buf_adds(err, "control character in address");
			return -1;
		}
	if (len == 0 || (len == 2 && memcmp(text, "<>", 2) == 0))
		return 0;
	struct addr_list l;
	addr_list_init(&l);
	int rc = -1;
	buf_reset(err);
	if (addr_parse_list(text, len, &l) != 0)
		buf_printf(err, "malformed address: %s", buf_str(&l.error));
	else if (l.n != 1 || l.v[0].group[0] != '\0')
		buf_adds(err, l.n == 0 ? "no address" : "more than one address");
	else if (!addr_envelope_valid(l.v[0].mailbox))
		buf_adds(err, "malformed domain");
	else {
		buf_adds(out, l.v[0].mailbox);
		rc = 0;
	}
	addr_list_free(&l);
	return rc;
}

void addr_quote_local(const char *local, struct buf *out)
{
	bool plain = *local != '\0' && *local != '.' && local[strlen(local) - 1] != '.';
	for (const char *p = local; *p && plain; p++)
		if (!(is_atext((unsigned char)*p) || (*p == '.' && p[1] != '.')))
			plain = false;
	if (plain) {
		buf_adds(out, local);
		return;
	}
	buf_addc(out, '"');
	for (const char *p = local; *p; p++) {
		if (*p == '"' || *p == '\\')
			buf_addc(out, '\\');
		buf_addc(out, *p);
	}
	buf_addc(out, '"');
}
