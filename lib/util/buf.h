/*
 * buf.h - the one growable byte string of Tern.
 *
 * Generic utility layer. A buf always keeps a NUL after its data, so
 * buf_str() is a C string when the data holds no NUL. Growth is
 * overflow-checked and cannot fail (see mem.h).
 */
#ifndef TERN_UTIL_BUF_H
#define TERN_UTIL_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
	char *data;
	size_t len;
	size_t cap;
};

#define BUF_INIT {NULL, 0, 0}

void buf_init(struct buf *b);
void buf_free(struct buf *b);
void buf_reset(struct buf *b);          /* len = 0, keeps memory */
void buf_reserve(struct buf *b, size_t extra);
void buf_add(struct buf *b, const void *data, size_t len);
void buf_adds(struct buf *b, const char *s);
void buf_addc(struct buf *b, char c);
/* v in decimal, at least width digits (zero-padded): "%0*llu" without printf, for hot paths. */
void buf_add_dec(struct buf *b, unsigned long long v, int width);
/*
 * Append formatted text. No argument (nor fmt) may point into b itself:
 * growing b may move or overwrite what it points to.
 */
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_vprintf(struct buf *b, const char *fmt, va_list ap);
void buf_truncate(struct buf *b, size_t len);
/*
 * Append everything read from fd up to end of file. Returns 0, or -1
 * with errno set: a read error, or EFBIG when more than max bytes were
 * read (max 0: no limit). What was read stays in b either way.
 */
int buf_read_fd(struct buf *b, int fd, size_t max);
/* Remove the first n bytes. */
void buf_consume(struct buf *b, size_t n);
/* Detach the string: caller frees it; b is empty afterwards. */
char *buf_steal(struct buf *b);
/* The data as a C string ("" when empty). */
const char *buf_str(const struct buf *b);

#endif
