/*
 * frame.h - typed, length-checked messages between Tern's processes.
 *
 * Generic utility layer, no privileges. A frame is a 4-byte big-endian
 * payload length followed by the payload: a sequence of fields, each a
 * type byte ('s' string: 4-byte length + bytes; 'i' integer: 8 bytes
 * big-endian two's complement). The writer builds a frame in a buf; the
 * reader takes fields in the order it expects and fails on a wrong type,
 * a short frame, or bytes left over (frame_end), so a confused or hostile
 * peer is detected at once rather than misread.
 */
#ifndef TERN_UTIL_FRAME_H
#define TERN_UTIL_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

#define FRAME_MAX	(1024 * 1024)	/* longest payload accepted */

/* Writing: begin (reserves the length), add fields, finish (fills it in). */
void frame_begin(struct buf *b);
void frame_add_str(struct buf *b, const char *s);
void frame_add_int(struct buf *b, long long v);
void frame_finish(struct buf *b);

/* Reading one payload (without the length prefix). */
struct frame_reader {
	const unsigned char *p;
	size_t left;
	int error;		/* set on the first failure; later gets fail too */
};
void frame_reader_init(struct frame_reader *r, const void *payload, size_t len);
/* Each returns 0, or -1 (and sets r->error) when the next field is not of that type. */
int frame_get_str(struct frame_reader *r, struct buf *out);
int frame_get_int(struct frame_reader *r, long long *v);
/* 0 when every byte was consumed and nothing failed. */
int frame_end(struct frame_reader *r);

/*
 * Blocking I/O on a stream socket or pipe. frame_write: whole frame,
 * retrying on EINTR. frame_read: one payload into out; 1 ok, 0 clean EOF
 * before a frame, -1 error (short read, too long) with errno set.
 */
int frame_write(int fd, const struct buf *frame);
int frame_read(int fd, struct buf *out);

/*
 * Buffered reading, for a descriptor that only this reader reads (a
 * delivery agent's connection): frames that arrive together, or a
 * length and its payload, come out of one read() instead of two per
 * frame. frame_read_in returns as frame_read does; a short frame at the
 * end of the file is an error (EPROTO). A timeout on the descriptor
 * (SO_RCVTIMEO) shows as -1 with EAGAIN, what was read stays buffered.
 * frame_in_free forgets what is buffered (the descriptor is not closed).
 */
struct frame_in {
	int fd;
	struct buf data;
	size_t off;		/* where the unread bytes of data start */
};
void frame_in_init(struct frame_in *in, int fd);
int frame_read_in(struct frame_in *in, struct buf *out);
void frame_in_free(struct frame_in *in);

#endif
