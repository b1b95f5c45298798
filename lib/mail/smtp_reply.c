/*
 * smtp_reply.c - SMTP replies as a client reads them (see smtp_reply.h).
 * Mail layer, pure parsing of untrusted network input, no privileges.
 */
#include "compat.h"

#include <stdio.h>
#include <string.h>

#include "mail/smtp_reply.h"

static int digits3(const char *p)
{
	return p[0] >= '2' && p[0] <= '5' && p[1] >= '0' && p[1] <= '9' && p[2] >= '0' && p[2] <= '9';
}

int smtp_reply_take(struct buf *in, struct buf *text)
{
	size_t pos = 0;
	int code = 0;

	buf_reset(text);
	if (in->len == 0)
		return 0;
	for (;;) {
		const char *line = in->data + pos;
		const char *nl = pos < in->len ? memchr(line, '\n', in->len - pos) : NULL;
		size_t len;
		int this, last;

		if (nl == NULL) {
			if (in->len - pos > SMTP_REPLY_MAX) {
				buf_reset(text);
				buf_adds(text, "reply line too long");
				return -1;
			}
			buf_reset(text);
			return 0;	/* wait for more */
		}
		len = (size_t)(nl - line);
		if (len > 0 && line[len - 1] == '\r')
			len--;
		if (len > SMTP_REPLY_MAX || len < 3 || !digits3(line) || (len > 3 && line[3] != ' '
		    && line[3] != '-')) {
			buf_reset(text);
			buf_adds(text, "malformed reply");
			return -1;
		}
		this = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
		if (code != 0 && this != code) {
			buf_reset(text);
			buf_adds(text, "malformed reply (the code changes within a multi-line reply)");
			return -1;
		}
		code = this;
		last = len == 3 || line[3] == ' ';
		if (text->len == 0) {
			buf_add(text, line, len);
		} else if (len > 4 && text->len < SMTP_REPLY_MAX) {
			buf_addc(text, ' ');
			buf_add(text, line + 4, len - 4);
		}
		pos = (size_t)(nl - in->data) + 1;
		if (last) {
			buf_consume(in, pos);
			/* One line of printable text: control characters become spaces. */
			for (size_t i = 0; i < text->len; i++)
				if ((unsigned char)text->data[i] < 0x20 || text->data[i] == 0x7f)
					text->data[i] = ' ';
			return code;
		}
	}
}

void smtp_reply_status(int code, const char *text, char *dsn, size_t size)
{
	const char *p = strlen(text) > 4 ? text + 4 : "";
	size_t n = strspn(p, "0123456789.");

	/* x.y.z: class digit, then 1-3 digits, then 1-3 digits. */
	if (n >= 5 && n < size && (p[0] == '2' || p[0] == '4' || p[0] == '5') && p[1] == '.') {
		const char *dot2 = memchr(p + 2, '.', n - 2);
		if (dot2 != NULL && dot2 > p + 2 && dot2 < p + n - 1 && dot2 - (p + 2) <= 3
		    && (size_t)(p + n - dot2 - 1) <= 3 && memchr(dot2 + 1, '.', (size_t)(p + n - dot2 - 1)) == NULL) {
			memcpy(dsn, p, n);
			dsn[n] = '\0';
			dsn[0] = (char)('0' + code / 100);
			return;
		}
	}
	snprintf(dsn, size, "%d.0.0", code / 100);
}
