/*
 * header.h - message header blocks (RFC 5322 section 2.2): parsing with
 * folding, finding, adding and removing header fields.
 *
 * Mail layer; pure functions, no privileges. Input lines end in LF (the
 * callers convert CRLF); a CR before the LF is tolerated and kept.
 */
#ifndef TERN_MAIL_HEADER_H
#define TERN_MAIL_HEADER_H

#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"

struct header {
	char *name;		/* field name as written (no trailing space) */
	char *raw;		/* whole field, folded lines and final LF included */
	size_t value_off;	/* offset in raw just after the ':' */
};

struct headers {
	struct header *v;
	size_t n;
	size_t cap;		/* room in v (xgrow) */
};

/* How a header block ended (headers_parse). */
enum header_end {
	HEADER_END_BLANK,	/* an empty line: the body follows it */
	HEADER_END_BODY,	/* a line that is not a header field: body starts there */
	HEADER_END_EOF,		/* the data ended (a message of headers only) */
};

void headers_init(struct headers *hs);
void headers_free(struct headers *hs);

/*
 * Parse the header block at the start of data[0..len). Returns the number
 * of bytes that belong to it (including the empty line for
 * HEADER_END_BLANK); *how says how it ended. Never fails: a line that is
 * not a field ends the block, as Postfix and sendmail do. A field name is
 * 1-998 printable characters other than ':' (white space before the
 * colon is tolerated, obsolete syntax, within the same 998 bytes).
 */
size_t headers_parse(const char *data, size_t len, struct headers *hs, enum header_end *how);

/* True when line[0..len) starts a header field ("Name:"); *namelen set. */
bool header_line_is_field(const char *line, size_t len, size_t *namelen);

/*
 * The same question for the first len bytes of a line that may not have
 * come whole: a field (*namelen set), not one whatever follows, or not
 * known until more of it comes.
 */
enum header_line { HEADER_LINE_FIELD, HEADER_LINE_OTHER, HEADER_LINE_UNKNOWN };
enum header_line header_line_kind(const char *line, size_t len, size_t *namelen);

/* Index of the first field named name (case-insensitive) at or after from; -1 if none. */
long headers_find(const struct headers *hs, const char *name, size_t from);
/* Remove field i; later fields move up. */
void headers_remove(struct headers *hs, size_t i);
/* Remove every field named name; returns how many. */
size_t headers_remove_all(struct headers *hs, const char *name);
/* Append "Name: value\n" (value may already be folded with "\n\t"). */
void headers_append(struct headers *hs, const char *name, const char *value);
/* Insert "Name: value\n" before field i (i == n appends). */
void headers_insert(struct headers *hs, size_t i, const char *name, const char *value);
/* Replace field i's value, keeping its name. */
void headers_set_value(struct headers *hs, size_t i, const char *value);

/* The value of field h, unfolded (line ends removed), leading white space trimmed. */
void header_value(const struct header *h, struct buf *out);
/* Serialize all fields in order. */
void headers_write(const struct headers *hs, struct buf *out);

/* Fold a "Name: value" line at white space so lines stay under width. */
void header_fold(const char *name, const char *value, size_t width, struct buf *out);

#endif
