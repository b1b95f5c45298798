/*
 * base64.c - RFC 4648 base64 encoding and strict decoding (base64.h).
 * Generic utility layer; pure functions on untrusted input, no privileges.
 */
#include "compat.h"

#include "util/base64.h"

static const char alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void base64_encode(const void *data, size_t len, struct buf *out)
{
	const unsigned char *p = data;
	for (size_t i = 0; i < len; i += 3) {
		unsigned v = (unsigned)p[i] << 16;
		if (i + 1 < len)
			v |= (unsigned)p[i + 1] << 8;
		if (i + 2 < len)
			v |= p[i + 2];
		buf_addc(out, alphabet[(v >> 18) & 63]);
		buf_addc(out, alphabet[(v >> 12) & 63]);
		buf_addc(out, i + 1 < len ? alphabet[(v >> 6) & 63] : '=');
		buf_addc(out, i + 2 < len ? alphabet[v & 63] : '=');
	}
}

static int value_of(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

bool base64_decode(const char *text, size_t len, struct buf *out)
{
	if (len % 4 != 0)
		return false;
	for (size_t i = 0; i < len; i += 4) {
		int v[4];
		int pad = 0;
		for (int j = 0; j < 4; j++) {
			unsigned char c = (unsigned char)text[i + j];
			if (c == '=' && i + 4 == len && j >= 2) {
				v[j] = 0;
				pad++;
				continue;
			}
			if (pad > 0)
				return false;	/* data after padding */
			v[j] = value_of(c);
			if (v[j] < 0)
				return false;
		}
		unsigned bits = (unsigned)v[0] << 18 | (unsigned)v[1] << 12 | (unsigned)v[2] << 6 | (unsigned)v[3];
		buf_addc(out, (char)(bits >> 16));
		if (pad < 2)
			buf_addc(out, (char)(bits >> 8 & 0xff));
		if (pad < 1)
			buf_addc(out, (char)(bits & 0xff));
	}
	return true;
}
