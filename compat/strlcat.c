/*
 * strlcat.c - bounded append for C libraries without one (glibc < 2.38).
 * Returns the length the result would have had, so callers can detect
 * truncation.
 */
#include "compat.h"

#include <string.h>

size_t strlcat(char *dst, const char *src, size_t size)
{
	size_t dlen = strnlen(dst, size);
	if (dlen == size)
		return size + strlen(src);
	return dlen + strlcpy(dst + dlen, src, size - dlen);
}
