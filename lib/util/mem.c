/*
 * mem.c - allocation that cannot return NULL (see mem.h).
 * Generic utility layer; runs with whatever privileges its program has.
 */
#include "compat.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "util/mem.h"

static void out_of_memory(size_t size)
{
	/* No allocation and no stdio here: we are out of memory. */
	static const char text[] = "fatal: out of memory\n";
	(void)size;
	ssize_t ignored = write(STDERR_FILENO, text, sizeof(text) - 1);
	(void)ignored;
	_exit(EX_TEMPFAIL);
}

void *xmalloc(size_t size)
{
	void *p = malloc(size ? size : 1);
	if (p == NULL)
		out_of_memory(size);
	return p;
}

void *xcalloc(size_t count, size_t size)
{
	void *p = calloc(count ? count : 1, size ? size : 1);
	if (p == NULL)
		out_of_memory(size);
	return p;
}

void *xrealloc(void *ptr, size_t size)
{
	void *p = realloc(ptr, size ? size : 1);
	if (p == NULL)
		out_of_memory(size);
	return p;
}

void *xreallocarray(void *ptr, size_t count, size_t size)
{
	size_t total;
	if (__builtin_mul_overflow(count, size, &total))
		out_of_memory(SIZE_MAX);
	return xrealloc(ptr, total);
}

void *xgrow(void *ptr, size_t *cap, size_t n, size_t size)
{
	if (n < *cap)
		return ptr;
	size_t want = *cap < 4 ? 8 : *cap * 2;
	if (want < n + 1)
		want = n + 1;
	ptr = xreallocarray(ptr, want, size);
	*cap = want;
	return ptr;
}

char *xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *xstrndup(const char *s, size_t len)
{
	char *p = xmalloc(len + 1);
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	va_start(ap, fmt);
	int n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		out_of_memory(0);
	return s;
}
