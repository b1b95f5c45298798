/*
 * mapsource.c - reader for "key value" table source files (see mapsource.h).
 * Generic utility layer; reads only what its caller opened or named.
 */
#include "compat.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#include "util/log.h"
#include "util/map.h"
#include "util/mapsource.h"
#include "util/mem.h"
#include "util/strtab.h"

struct reader {
	const struct mapsrc_opts *o;
	const char *file;
	struct strtab seen;
	int warnings;
};

static void warn(struct reader *r, unsigned line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void warn(struct reader *r, unsigned line, const char *fmt, ...)
{
	struct buf b = BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	if (r->o->warn)
		r->o->warn(r->o->ctx, r->file, line, buf_str(&b));
	else
		msg_warn("%s:%u: %s", r->file, line, buf_str(&b));
	buf_free(&b);
	r->warnings++;
}

static int is_sep(const struct reader *r, char c)
{
	if (r->o->delim)
		return c == r->o->delim;
	return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

static int is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

/* One logical line (continuations joined): split, fold, hand out. */
static int logical_line(struct reader *r, struct buf *line, unsigned lineno)
{
	char *s = line->data;
	size_t n = line->len;
	while (n > 0 && s[n - 1] == '\r')
		n--;
	while (n > 0 && is_blank(s[n - 1]) && !(r->o->flags & MAPSRC_KEEP_TRAILING))
		n--;
	s[n] = '\0';
	if (memchr(s, '\0', n) != NULL) {
		warn(r, lineno, "NUL byte in line, line ignored");
		return 0;
	}
	char *p = s;
	while (*p && !is_sep(r, *p))
		p++;
	char *key_end = p;
	while (*p && is_sep(r, *p))
		p++;
	*key_end = '\0';
	if (*s == '\0') {
		warn(r, lineno, "expected format: key whitespace value, line ignored");
		return 0;
	}
	if (*p == '\0' && !(r->o->flags & MAPSRC_EMPTY_VALUE)) {
		warn(r, lineno, "expected format: key whitespace value, key \"%s\" ignored", s);
		return 0;
	}
	/* postmap's hint: "name: value" lines belong in an aliases file. */
	if (!r->o->delim && !(r->o->flags & MAPSRC_NO_CONTINUATION) && key_end - s > 1 &&
	    key_end[-1] == ':')
		warn(r, lineno, "record is in \"key: value\" format; is this an alias file?");
	if (!(r->o->flags & MAPSRC_NOFOLD))
		map_fold(s);
	struct mapsrc_entry e = {.key = s, .value = p, .file = r->file, .line = lineno};
	if (!(r->o->flags & MAPSRC_NO_DUP_CHECK)) {
		int added;
		struct strtab_entry *t = strtab_put(&r->seen, s, "", lineno, 0, &added);
		if (!added) {
			e.first_line = t->aux;
			if (!(r->o->flags & MAPSRC_QUIET_DUPS))
				warn(r, lineno, "duplicate key \"%s\" (first at line %u)", s, t->aux);
		}
	}
	return r->o->entry ? r->o->entry(r->o->ctx, &e) : 0;
}

int mapsrc_parse(const char *text, size_t len, const char *file, const struct mapsrc_opts *o)
{
	struct reader r = {.o = o, .file = file ? file : "-"};
	strtab_init(&r.seen);
	struct buf cur = BUF_INIT;	/* the logical line being collected */
	unsigned cur_line = 0, lineno = 0;
	int have = 0, status = 0;
	size_t pos = 0;
	while (pos < len && status == 0) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - text) : len;
		const char *l = text + pos;
		size_t llen = end - pos;
		pos = nl ? end + 1 : len;
		lineno++;
		/* Blank lines and comments are skipped, also inside a continued entry. */
		size_t i = 0;
		while (i < llen && (is_blank(l[i])))
			i++;
		if (i == llen || l[i] == (o->comment ? o->comment : '#'))
			continue;
		if (i > 0 && (o->flags & MAPSRC_NO_CONTINUATION)) {
			warn(&r, lineno, "syntax error (leading space)");
			continue;
		}
		if (i > 0 && have) {
			buf_add(&cur, l, llen);
			continue;
		}
		if (have && logical_line(&r, &cur, cur_line) < 0)
			status = -1;
		buf_reset(&cur);
		if (i > 0)
			warn(&r, lineno, "continuation line without a preceding entry, joined anyway");
		buf_add(&cur, l + i, llen - i);
		cur_line = lineno;
		have = 1;
	}
	if (have && status == 0 && logical_line(&r, &cur, cur_line) < 0)
		status = -1;
	buf_free(&cur);
	strtab_free(&r.seen);
	return status < 0 ? -1 : r.warnings;
}

int mapsrc_read_fd(int fd, const char *file, const struct mapsrc_opts *o, struct buf *err)
{
	struct buf text = BUF_INIT;
	if (buf_read_fd(&text, fd, 0) < 0) {
		buf_reset(err);
		buf_printf(err, "read %s: %s", file, strerror(errno));
		buf_free(&text);
		return -1;
	}
	int r = mapsrc_parse(buf_str(&text), text.len, file, o);
	buf_free(&text);
	if (r < 0 && err->len == 0) {
		/* The entry callback stopped and left no reason of its own. */
		buf_printf(err, "%s: reading stopped", file);
	}
	return r;
}

int mapsrc_read_file(const char *path, const struct mapsrc_opts *o, struct buf *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		buf_reset(err);
		buf_printf(err, "open %s: %s", path, strerror(errno));
		return -1;
	}
	int r = mapsrc_read_fd(fd, path, o, err);
	close(fd);
	return r;
}
