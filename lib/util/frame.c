/*
 * frame.c - typed, length-checked messages (see frame.h).
 * Generic utility layer, no privileges.
 */
#include "compat.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "util/frame.h"

static void put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

static uint32_t get32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

void frame_begin(struct buf *b)
{
	buf_reset(b);
	buf_add(b, "\0\0\0\0", 4);
}

void frame_add_str(struct buf *b, const char *s)
{
	size_t n = strlen(s);
	unsigned char hdr[5];

	hdr[0] = 's';
	put32(hdr + 1, (uint32_t)n);
	buf_add(b, hdr, sizeof(hdr));
	buf_add(b, s, n);
}

void frame_add_int(struct buf *b, long long v)
{
	unsigned char f[9];
	uint64_t u = (uint64_t)v;

	f[0] = 'i';
	for (int i = 0; i < 8; i++)
		f[1 + i] = (unsigned char)(u >> (56 - 8 * i));
	buf_add(b, f, sizeof(f));
}

void frame_finish(struct buf *b)
{
	put32((unsigned char *)b->data, (uint32_t)(b->len - 4));
}

void frame_reader_init(struct frame_reader *r, const void *payload, size_t len)
{
	r->p = payload;
	r->left = len;
	r->error = 0;
}

int frame_get_str(struct frame_reader *r, struct buf *out)
{
	uint32_t n;

	buf_reset(out);
	if (r->error || r->left < 5 || r->p[0] != 's')
		goto bad;
	n = get32(r->p + 1);
	if (n > r->left - 5 || memchr(r->p + 5, '\0', n) != NULL)
		goto bad;
	buf_add(out, r->p + 5, n);
	r->p += 5 + n;
	r->left -= 5 + n;
	return 0;
bad:
	r->error = 1;
	return -1;
}

int frame_get_int(struct frame_reader *r, long long *v)
{
	uint64_t u = 0;

	if (r->error || r->left < 9 || r->p[0] != 'i') {
		r->error = 1;
		return -1;
	}
	for (int i = 0; i < 8; i++)
		u = u << 8 | r->p[1 + i];
	*v = (long long)u;
	r->p += 9;
	r->left -= 9;
	return 0;
}

int frame_end(struct frame_reader *r)
{
	return r->error || r->left != 0 ? -1 : 0;
}

int frame_write(int fd, const struct buf *frame)
{
	size_t done = 0;

	while (done < frame->len) {
		ssize_t n = write(fd, frame->data + done, frame->len - done);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		done += (size_t)n;
	}
	return 0;
}

/* Read exactly len bytes; 1 ok, 0 EOF before the first byte, -1 error. */
static int read_full(int fd, void *data, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = read(fd, (char *)data + done, len - done);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0) {
			if (done == 0)
				return 0;
			errno = EPROTO;
			return -1;
		}
		done += (size_t)n;
	}
	return 1;
}

int frame_read(int fd, struct buf *out)
{
	unsigned char hdr[4];
	uint32_t n;
	int ret;

	buf_reset(out);
	if ((ret = read_full(fd, hdr, 4)) <= 0)
		return ret;
	n = get32(hdr);
	if (n > FRAME_MAX) {
		errno = EMSGSIZE;
		return -1;
	}
	buf_reserve(out, n);
	if (n > 0 && read_full(fd, out->data, n) != 1) {
		if (errno == 0)
			errno = EPROTO;
		return -1;
	}
	out->len = n;
	out->data[n] = '\0';
	return 1;
}

void frame_in_init(struct frame_in *in, int fd)
{
	in->fd = fd;
	buf_init(&in->data);
	in->off = 0;
}

void frame_in_free(struct frame_in *in)
{
	buf_free(&in->data);
	in->off = 0;
}

int frame_read_in(struct frame_in *in, struct buf *out)
{
	buf_reset(out);
	for (;;) {
		size_t have = in->data.len - in->off, want = 4;

		if (have >= 4) {
			const unsigned char *p = (const unsigned char *)in->data.data + in->off;
			uint32_t n = get32(p);
			if (n > FRAME_MAX) {
				errno = EMSGSIZE;
				return -1;
			}
			if (have - 4 >= n) {
				buf_reserve(out, n);
				memcpy(out->data, p + 4, n);
				out->len = n;
				out->data[n] = '\0';
				in->off += 4 + (size_t)n;
				return 1;
			}
			want = 4 + (size_t)n;
		}
		/* Not all there: keep the unread part at the start, read more behind it. */
		if (in->off > 0 && have > 0) {
			memmove(in->data.data, in->data.data + in->off, have);
		}
		in->data.len = have;
		in->off = 0;
		size_t room = want - have < 16384 ? 16384 : want - have;
		buf_reserve(&in->data, room);
		ssize_t r = read(in->fd, in->data.data + have, room);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0) {
			if (have == 0)
				return 0;
			errno = EPROTO;
			return -1;
		}
		in->data.len = have + (size_t)r;
		in->data.data[in->data.len] = '\0';
	}
}
