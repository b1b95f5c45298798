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
/*
 * Room for element n of an array that has room for *cap: when n == *cap
 * the array grows to twice its size (at least 8) and *cap says so. Arrays
 * filled from untrusted input grow with this, never by one element a
 * time: appends stay amortised O(1) whatever realloc does (AddressSanitizer's
 * realloc always copies, which made a million-recipient header quadratic).
 */
void *xgrow(void *ptr, size_t *cap, size_t n, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t len);
/* printf into a fresh string. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
