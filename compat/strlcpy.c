/*
 * strlcpy.c - bounded copy for C libraries without one (glibc < 2.38).
 * Copies at most size-1 bytes, always terminates when size > 0, and
 * returns strlen(src) so callers can detect truncation.
 */
#include "compat.h"

#include <string.h>

size_t strlcpy(char *dst, const char *src, size_t size)
{
	size_t len = strlen(src);
	if (size > 0) {
		size_t n = len < size - 1 ? len : size - 1;
		memcpy(dst, src, n);
		dst[n] = '\0';
	}
	return len;
}
