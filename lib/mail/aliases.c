/*
 * aliases.c - the aliases(5) parser and value splitter (see aliases.h).
 * Mail layer; reads only the file its caller names, with the caller's
 * privileges.
 */
#include "compat.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "mail/aliases.h"
#include "util/log.h"
#include "util/map.h"
#include "util/mem.h"
#include "util/strtab.h"

struct parser {
	const struct aliases_opts *o;
	const char *file;
	struct strtab seen;
	int errors;
};

static void report(struct parser *p, unsigned line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void report(struct parser *p, unsigned line, const char *fmt, ...)
{
	struct buf b = BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	if (p->o->warn)
		p->o->warn(p->o->ctx, p->file, line, buf_str(&b));
	else
		msg_warn("%s:%u: %s", p->file, line, buf_str(&b));
	buf_free(&b);
}

static int blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

/* Show at most 40 characters of a bad line, as sendmail does. */
#define SHOW(s) (int)(strlen(s) > 40 ? 40 : strlen(s)), (s)

/* One logical entry "name: value". Returns the entry callback's status. */
static int entry(struct parser *p, char *s, unsigned line)
{
	size_t n = strlen(s);
	while (n > 0 && blank(s[n - 1]))
		n--;
	s[n] = '\0';
	struct buf name = BUF_INIT;
	char *q = s;
	int status = 0;
	if (*q == '"') {
		/* A quoted name: backslash escapes, ends at the closing quote. */
		for (q++; *q && *q != '"'; q++) {
			if (*q == '\\' && q[1])
				q++;
			buf_addc(&name, *q);
		}
		if (*q != '"') {
			report(p, line, "%.*s... unterminated quoted alias name", SHOW(s));
			goto bad;
		}
		q++;
		while (blank(*q))
			q++;
		if (*q != ':') {
			report(p, line, "%.*s... missing colon", SHOW(s));
			goto bad;
		}
	} else {
		char *colon = strchr(q, ':');
		if (colon == NULL) {
			report(p, line, "%.*s... missing colon", SHOW(s));
			goto bad;
		}
		char *e = colon;
		while (e > q && blank(e[-1]))
			e--;
		buf_add(&name, q, (size_t)(e - q));
		for (char *c = q; c < e; c++) {
			if (blank(*c) || *c == '"' || *c == ',' || *c == '<' || *c == '>') {
				report(p, line, "%.*s... illegal alias name", SHOW(s));
				goto bad;
			}
		}
		q = colon;
	}
	q++;			/* past ':' */
	if (name.len == 0) {
		report(p, line, "%.*s... empty alias name", SHOW(s));
		goto bad;
	}
	if (name.data[0] == '|' || name.data[0] == '/' || name.data[0] == '\\') {
		report(p, line, "%.*s... illegal alias name", SHOW(s));
		goto bad;
	}
	if (memchr(name.data, '@', name.len) != NULL) {
		report(p, line, "%s... cannot alias non-local names", buf_str(&name));
		goto bad;
	}
	while (*q && (blank(*q) || *q == '\n'))
		q++;
	if (*q == '\0') {
		report(p, line, "%s... missing value for alias", buf_str(&name));
		goto bad;
	}
	map_fold(name.data);
	struct alias_entry e = {.name = name.data, .value = q, .file = p->file, .line = line};
	int added;
	struct strtab_entry *t = strtab_put(&p->seen, name.data, "", line, 0, &added);
	if (!added) {
		e.first_line = t->aux;
		report(p, line, "duplicate alias name %s (first at line %u)", name.data, t->aux);
	}
	if (p->o->entry)
		status = p->o->entry(p->o->ctx, &e);
	buf_free(&name);
	return status;
bad:
	p->errors++;
	buf_free(&name);
	return 0;
}

int aliases_parse(const char *text, size_t len, const char *file, const struct aliases_opts *o)
{
	struct parser p = {.o = o, .file = file ? file : "-"};
	strtab_init(&p.seen);
	struct buf cur = BUF_INIT;
	unsigned lineno = 0, cur_line = 0;
	int have = 0, status = 0;
	size_t pos = 0;
	while (pos < len && status == 0) {
		/* A physical line, with backslash-newline joining the next one. */
		struct buf line = BUF_INIT;
		unsigned start = lineno + 1;
		for (;;) {
			const char *nl = memchr(text + pos, '\n', len - pos);
			size_t end = nl ? (size_t)(nl - text) : len;
			lineno++;
			buf_add(&line, text + pos, end - pos);
			pos = nl ? end + 1 : len;
			if (nl && line.len > 0 && line.data[line.len - 1] == '\\' && pos < len) {
				buf_truncate(&line, line.len - 1);
				continue;
			}
			break;
		}
		const char *l = buf_str(&line);
		if (memchr(line.data ? line.data : "", '\0', line.len) != NULL) {
			report(&p, start, "NUL byte in line, line ignored");
			p.errors++;
			buf_free(&line);
			continue;
		}
		size_t i = 0;
		while (i < line.len && blank(l[i]))
			i++;
		if (i == line.len || l[i] == '#') {
			buf_free(&line);
			continue;	/* blank or comment, also inside a continued entry */
		}
		if (i > 0) {
			if (have)
				buf_adds(&cur, l);
			else {
				report(&p, start, "non-continuation line starts with space");
				p.errors++;
			}
			buf_free(&line);
			continue;
		}
		if (have) {
			if (entry(&p, cur.data, cur_line) < 0)
				status = -1;
			buf_reset(&cur);
		}
		buf_adds(&cur, l);
		cur_line = start;
		have = 1;
		buf_free(&line);
	}
	if (have && status == 0 && entry(&p, cur.data, cur_line) < 0)
		status = -1;
	buf_free(&cur);
	strtab_free(&p.seen);
	return status < 0 ? -1 : p.errors;
}

int aliases_read_file(const char *path, const struct aliases_opts *o, struct buf *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		buf_reset(err);
		buf_printf(err, "open %s: %s", path, strerror(errno));
		return -1;
	}
	struct buf text = BUF_INIT;
	if (buf_read_fd(&text, fd, 0) < 0) {
		buf_reset(err);
		buf_printf(err, "read %s: %s", path, strerror(errno));
		buf_free(&text);
		close(fd);
		return -1;
	}
	close(fd);
	int r = aliases_parse(buf_str(&text), text.len, path, o);
	buf_free(&text);
	if (r < 0) {
		buf_reset(err);
		buf_printf(err, "%s: reading stopped", path);
	}
	return r;
}

const char *alias_kind_name(enum alias_kind kind)
{
	switch (kind) {
	case ALIAS_LOCAL: return "local";
	case ALIAS_ADDRESS: return "address";
	case ALIAS_INCLUDE: return "include";
	case ALIAS_PIPE: return "pipe";
	case ALIAS_FILE: return "file";
	}
	return "?";
}

/* Classify one unquoted, trimmed item and append it. */
static int add_item(struct alias_item **items, int *n, const char *s, size_t len, struct buf *err)
{
	struct alias_item it = {.kind = ALIAS_LOCAL};
	if (len > 0 && s[0] == '|') {
		it.kind = ALIAS_PIPE;
		s++;
		len--;
		while (len > 0 && blank(*s)) {
			s++;
			len--;
		}
		if (len == 0) {
			buf_printf(err, "empty command after '|'");
			return -1;
		}
	} else if (len > 0 && s[0] == '/') {
		it.kind = ALIAS_FILE;
	} else if (len >= 9 && strncasecmp(s, ":include:", 9) == 0) {
		it.kind = ALIAS_INCLUDE;
		s += 9;
		len -= 9;
		while (len > 0 && blank(*s)) {
			s++;
			len--;
		}
		if (len == 0) {
			buf_printf(err, "empty path after :include:");
			return -1;
		}
	} else {
		if (len > 0 && s[0] == '\\') {
			it.noalias = 1;
			s++;
			len--;
		}
		if (len == 0) {
			buf_printf(err, "empty address");
			return -1;
		}
		if (memchr(s, '@', len) != NULL)
			it.kind = ALIAS_ADDRESS;
	}
	it.text = xstrndup(s, len);
	*items = xreallocarray(*items, (size_t)*n + 1, sizeof(**items));
	(*items)[(*n)++] = it;
	return 0;
}

int aliases_split_value(const char *value, struct alias_item **items_out, struct buf *err)
{
	struct alias_item *items = NULL;
	int n = 0;
	const char *p = value;
	struct buf item = BUF_INIT;
	buf_reset(err);
	while (*p) {
		/* Collect one item up to a comma outside quotes and <...>. */
		buf_reset(&item);
		int quoted = 0, angle = 0;
		const char *lt = NULL, *gt = NULL;
		while (*p && (blank(*p) || *p == '\n'))
			p++;
		const char *start = p;
		for (; *p; p++) {
			if (quoted) {
				if (*p == '\\' && p[1]) {
					p++;
					buf_addc(&item, *p);
					continue;
				}
				if (*p == '"') {
					quoted = 0;
					continue;
				}
				buf_addc(&item, *p);
				continue;
			}
			if (*p == '"') {
				quoted = 1;
				continue;
			}
			if (*p == '<' && !angle) {
				angle = 1;
				lt = p;
			} else if (*p == '>' && angle) {
				angle = 0;
				gt = p;
			} else if (*p == ',' && !angle) {
				break;
			}
			buf_addc(&item, *p);
		}
		if (quoted) {
			buf_printf(err, "unterminated quoted string in \"%s\"", start);
			goto fail;
		}
		if (angle) {
			buf_printf(err, "missing '>' in \"%s\"", start);
			goto fail;
		}
		if (*p == ',')
			p++;
		const char *s = buf_str(&item);
		size_t len = item.len;
		if (lt && gt && gt > lt) {
			/* "Name <addr>": the address is what is inside the brackets. */
			s = lt + 1;
			len = (size_t)(gt - lt - 1);
		}
		while (len > 0 && (blank(*s) || *s == '\n')) {
			s++;
			len--;
		}
		while (len > 0 && (blank(s[len - 1]) || s[len - 1] == '\n'))
			len--;
		if (len == 0)
			continue;	/* empty items (a, , b) are skipped, as sendmail does */
		if (add_item(&items, &n, s, len, err) < 0)
			goto fail;
	}
	buf_free(&item);
	*items_out = items;
	return n;
fail:
	buf_free(&item);
	aliases_free_items(items, n);
	*items_out = NULL;
	return -1;
}

void aliases_free_items(struct alias_item *items, int count)
{
	for (int i = 0; i < count; i++)
		free(items[i].text);
	free(items);
}
