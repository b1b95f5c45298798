/*
 * utf8.c - strict UTF-8 validation (utf8.h).
 * Generic utility layer; pure function on untrusted input, no privileges.
 */
#include "compat.h"

#include "util/utf8.h"

bool utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + len;

	while (p < end) {
		unsigned c = *p++;
		size_t more;
		/* The bounds of the second byte exclude overlongs, surrogates and > U+10FFFF (RFC 3629 section 4). */
		unsigned lo = 0x80, hi = 0xBF;

		if (c < 0x80)
			continue;
		if (c >= 0xC2 && c <= 0xDF) {
			more = 1;
		} else if (c >= 0xE0 && c <= 0xEF) {
			more = 2;
			if (c == 0xE0)
				lo = 0xA0;
			else if (c == 0xED)
				hi = 0x9F;
		} else if (c >= 0xF0 && c <= 0xF4) {
			more = 3;
			if (c == 0xF0)
				lo = 0x90;
			else if (c == 0xF4)
				hi = 0x8F;
		} else {
			return false;
		}
		if ((size_t)(end - p) < more || *p < lo || *p > hi)
			return false;
		for (p++, more--; more > 0; more--, p++)
			if (*p < 0x80 || *p > 0xBF)
				return false;
	}
	return true;
}

bool utf8_non_ascii(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s >= 0x80)
			return true;
	return false;
}
