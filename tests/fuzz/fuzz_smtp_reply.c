/*
 * fuzz_smtp_reply.c - libFuzzer target for what an SMTP server sends the
 * client (lib/mail/smtp_reply.c): the input, split at its first byte's
 * value into two reads, must give replies with valid codes and one-line
 * texts, or be refused, without a crash or an out-of-bounds read.
 */
#include "compat.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mail/smtp_reply.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf in = BUF_INIT, text = BUF_INIT;
	size_t cut = size ? data[0] % (size + 1) : 0;
	char dsn[16];
	int code;

	buf_add(&in, data, cut);
	for (int round = 0; round < 2; round++) {
		while ((code = smtp_reply_take(&in, &text)) > 0) {
			if (code < 200 || code > 599 || memchr(text.data, '\n', text.len) != NULL)
				abort();
			smtp_reply_status(code, buf_str(&text), dsn, sizeof(dsn));
			if (dsn[0] != '0' + code / 100 || strlen(dsn) < 5)
				abort();
		}
		if (code < 0)
			break;
		buf_add(&in, data + cut, size - cut);
	}
	buf_free(&in);
	buf_free(&text);
	return 0;
}
