/*
 * mem.h - allocation that cannot return NULL.
 *
 * Generic utility layer: no mail knowledge. Every allocation in Tern goes
 * through these; on exhaustion they log and exit with EX_TEMPFAIL (75), so
 * a caller never has to handle NULL and a submitter sees "try again later".
 */
#ifndef TERN_UTIL_MEM_H
#define TERN_UTIL_MEM_H

#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *ptr, size_t size);
/* Overflow-checked count * size reallocation. */
void *xreallocarray(void *ptr, size_t count, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t len);
/* printf into a fresh string. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
