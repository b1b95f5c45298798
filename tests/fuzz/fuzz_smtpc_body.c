/*
 * fuzz_smtpc_body.c - libFuzzer target for the SMTP client's content
 * encoder (lib/mail/smtpc_body.c), which turns message content from
 * anyone into wire bytes. The first byte picks the flags and the line
 * limit, the second the chunk size; the rest is the content. The output
 * must hold no NUL, no bare CR or LF, end with CRLF, keep every line
 * within the limit (a dot added for transparency not counted), with
 * SMTPC_BODY_DOTS never start a line with a single "."; and feeding the
 * content in chunks must give the same bytes as one feed.
 */
#include "compat.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mail/smtpc_body.h"

static void encode(unsigned flags, size_t limit, const char *p, size_t n, size_t step, struct buf *out)
{
	struct smtpc_body b;

	smtpc_body_init(&b, flags, limit);
	for (size_t i = 0; i < n; i += step)
		smtpc_body_feed(&b, p + i, n - i < step ? n - i : step, out);
	smtpc_body_finish(&b, out);
	smtpc_body_free(&b);
}

static void check(const struct buf *o, unsigned flags, size_t limit)
{
	size_t start = 0;

	if (o->len > 0 && (o->len < 2 || memcmp(o->data + o->len - 2, "\r\n", 2) != 0))
		abort();
	for (size_t i = 0; i < o->len; i++) {
		char c = o->data[i];
		if (c == '\0')
			abort();
		if (c == '\r' && (i + 1 >= o->len || o->data[i + 1] != '\n'))
			abort();
		if (c != '\n')
			continue;
		if (i == 0 || o->data[i - 1] != '\r')
			abort();
		const char *line = o->data + start;
		size_t len = i - 1 - start;
		if ((flags & SMTPC_BODY_DOTS) && len > 0 && line[0] == '.') {
			if (len < 2 || line[1] != '.')
				abort();
			len--;		/* the transparency dot */
		}
		if (limit > 0 && len > limit)
			abort();
		start = i + 1;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t limits[] = {0, 1, 2, 3, 10, 76, 100, 998};
	struct buf whole = BUF_INIT, chunked = BUF_INIT;

	if (size < 2)
		return 0;
	unsigned flags = data[0] & 3;
	size_t limit = limits[(data[0] >> 2) & 7];
	size_t step = data[1] ? data[1] : 1;
	const char *p = (const char *)data + 2;
	size_t n = size - 2;

	encode(flags, limit, p, n, n ? n : 1, &whole);
	check(&whole, flags, limit);
	encode(flags, limit, p, n, step % 13 + 1, &chunked);
	if (whole.len != chunked.len || memcmp(whole.data, chunked.data, whole.len) != 0)
		abort();
	if (!(flags & SMTPC_BODY_TO_QP) && limit == 0) {
		/* Without conversion or limit, only line ends, NUL and dots change. */
		size_t in_text = 0, out_text = 0;
		for (size_t i = 0; i < n; i++)
			in_text += p[i] != '\0' && p[i] != '\r' && p[i] != '\n';
		for (size_t i = 0; i < whole.len; i++)
			out_text += whole.data[i] != '\r' && whole.data[i] != '\n';
		if (out_text < in_text)
			abort();
	}
	buf_free(&whole);
	buf_free(&chunked);
	return 0;
}
