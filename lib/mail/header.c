/*
 * header.c - header blocks: parse with folding, find, add, remove (see
 * header.h).
 *
 * Mail layer; pure functions, no privileges. The input is untrusted
 * message text; everything is bounded by the data given.
 */
#include "compat.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mail/header.h"
#include "util/buf.h"
#include "util/mem.h"

#define NAME_MAX_LEN	998

void headers_init(struct headers *hs)
{
	hs->v = NULL;
	hs->n = hs->cap = 0;
}

void headers_free(struct headers *hs)
{
	for (size_t i = 0; i < hs->n; i++) {
		free(hs->v[i].name);
		free(hs->v[i].raw);
	}
	free(hs->v);
	headers_init(hs);
}

enum header_line header_line_kind(const char *line, size_t len, size_t *namelen)
{
	size_t i = 0;
	while (i < len && i <= NAME_MAX_LEN) {
		unsigned char c = (unsigned char)line[i];
		if (c == ':' || c == ' ' || c == '\t')
			break;
		if (c < 33 || c > 126)
			return HEADER_LINE_OTHER;
		i++;
	}
	if (i > NAME_MAX_LEN)
		return HEADER_LINE_OTHER;
	if (i == len)
		return HEADER_LINE_UNKNOWN;
	if (i == 0)
		return HEADER_LINE_OTHER;
	size_t n = i;
	while (i < len && i <= NAME_MAX_LEN && (line[i] == ' ' || line[i] == '\t'))
		i++;
	if (i > NAME_MAX_LEN)
		return HEADER_LINE_OTHER;	/* bounded, so that a part of a line can tell */
	if (i == len)
		return HEADER_LINE_UNKNOWN;
	if (line[i] != ':')
		return HEADER_LINE_OTHER;
	if (namelen)
		*namelen = n;
	return HEADER_LINE_FIELD;
}

bool header_line_is_field(const char *line, size_t len, size_t *namelen)
{
	return header_line_kind(line, len, namelen) == HEADER_LINE_FIELD;
}

static void push(struct headers *hs, size_t at, char *name, char *raw, size_t value_off)
{
	hs->v = xgrow(hs->v, &hs->cap, hs->n, sizeof(*hs->v));
	memmove(&hs->v[at + 1], &hs->v[at], (hs->n - at) * sizeof(*hs->v));
	hs->v[at].name = name;
	hs->v[at].raw = raw;
	hs->v[at].value_off = value_off;
	hs->n++;
}

size_t headers_parse(const char *data, size_t len, struct headers *hs, enum header_end *how)
{
	size_t pos = 0;
	long cur = -1;		/* field being continued */
	struct buf raw = BUF_INIT;
	size_t namelen = 0, value_off = 0;
	char *name = NULL;

	*how = HEADER_END_EOF;
	while (pos < len) {
		const char *line = data + pos;
		const char *nl = memchr(line, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - line) + 1 : len - pos;
		size_t content = nl ? n - 1 : n;
		if (content > 0 && line[content - 1] == '\r')
			content--;
		if (content == 0) {	/* empty line */
			pos += n;
			*how = HEADER_END_BLANK;
			break;
		}
		if ((line[0] == ' ' || line[0] == '\t') && cur >= 0) {
			buf_add(&raw, line, n);
			pos += n;
			continue;
		}
		if (!header_line_is_field(line, content, &namelen)) {
			*how = HEADER_END_BODY;
			break;
		}
		if (cur >= 0)
			push(hs, hs->n, name, buf_steal(&raw), value_off);
		name = xstrndup(line, namelen);
		value_off = (size_t)((const char *)memchr(line, ':', content) - line) + 1;
		buf_reset(&raw);
		buf_add(&raw, line, n);
		cur = 1;
		pos += n;
	}
	if (cur >= 0) {
		/* A last field without LF (data ended) gets one. */
		if (raw.len == 0 || raw.data[raw.len - 1] != '\n')
			buf_addc(&raw, '\n');
		push(hs, hs->n, name, buf_steal(&raw), value_off);
	}
	buf_free(&raw);
	return pos;
}

long headers_find(const struct headers *hs, const char *name, size_t from)
{
	for (size_t i = from; i < hs->n; i++)
		if (strcasecmp(hs->v[i].name, name) == 0)
			return (long)i;
	return -1;
}

void headers_remove(struct headers *hs, size_t i)
{
	if (i >= hs->n)
		return;
	free(hs->v[i].name);
	free(hs->v[i].raw);
	memmove(&hs->v[i], &hs->v[i + 1], (hs->n - i - 1) * sizeof(*hs->v));
	hs->n--;
}

size_t headers_remove_all(struct headers *hs, const char *name)
{
	size_t removed = 0;
	long i;
	while ((i = headers_find(hs, name, 0)) >= 0) {
		headers_remove(hs, (size_t)i);
		removed++;
	}
	return removed;
}

static char *make_raw(const char *name, const char *value, size_t *value_off)
{
	struct buf b = BUF_INIT;
	buf_printf(&b, "%s:", name);
	*value_off = b.len;
	if (*value != '\0' && *value != ' ' && *value != '\t')
		buf_addc(&b, ' ');
	buf_adds(&b, value);
	if (b.data[b.len - 1] != '\n')
		buf_addc(&b, '\n');
	return buf_steal(&b);
}

void headers_insert(struct headers *hs, size_t i, const char *name, const char *value)
{
	size_t off;
	char *raw = make_raw(name, value, &off);
	push(hs, i > hs->n ? hs->n : i, xstrdup(name), raw, off);
}

void headers_append(struct headers *hs, const char *name, const char *value)
{
	headers_insert(hs, hs->n, name, value);
}

void headers_set_value(struct headers *hs, size_t i, const char *value)
{
	if (i >= hs->n)
		return;
	size_t off;
	char *raw = make_raw(hs->v[i].name, value, &off);
	free(hs->v[i].raw);
	hs->v[i].raw = raw;
	hs->v[i].value_off = off;
}

void header_value(const struct header *h, struct buf *out)
{
	buf_reset(out);
	const char *p = h->raw + h->value_off;
	while (*p == ' ' || *p == '\t')
		p++;
	for (; *p; p++)
		if (*p != '\n' && *p != '\r')
			buf_addc(out, *p);
	/* Trailing white space is not part of the value. */
	while (out->len > 0 && (out->data[out->len - 1] == ' ' || out->data[out->len - 1] == '\t'))
		buf_truncate(out, out->len - 1);
}

void headers_write(const struct headers *hs, struct buf *out)
{
	for (size_t i = 0; i < hs->n; i++)
		buf_adds(out, hs->v[i].raw);
}

void header_fold(const char *name, const char *value, size_t width, struct buf *out)
{
	size_t col = strlen(name) + 1;
	buf_printf(out, "%s:", name);
	const char *p = value;
	while (*p) {
		while (*p == ' ')
			p++;
		if (!*p)
			break;
		const char *end = p;
		while (*end && *end != ' ')
			end++;
		size_t w = (size_t)(end - p);
		if (col + 1 + w > width && col > strlen(name) + 1) {
			buf_adds(out, "\n\t");
			col = 8;
		} else {
			buf_addc(out, ' ');
			col++;
		}
		buf_add(out, p, w);
		col += w;
		p = end;
	}
	buf_addc(out, '\n');
}
