/*
 * hash64.h - a fast 64-bit checksum of a byte stream, fed in pieces.
 *
 * Generic utility layer, no privileges. Meant to tell a file written
 * whole from one that a system crash left with some of its blocks from
 * before (the queue file's end record, lib/mail/qfile.h): it catches
 * accidents, it is no defence against anyone who may write the data.
 * Four independent lanes of multiply-rotate rounds over 32-byte stripes
 * (the construction of xxHash64), so that a modern CPU runs them side by
 * side: several bytes a cycle, a tenth of the cost of the page-cache copy
 * that wrote the bytes. Words are read little-endian whatever the host,
 * so a file checks the same on every machine. The value depends on the
 * bytes only, not on how they were split into pieces.
 */
#ifndef TERN_UTIL_HASH64_H
#define TERN_UTIL_HASH64_H

#include <stddef.h>
#include <stdint.h>

struct hash64 {
	uint64_t lane[4];
	uint64_t total;		/* bytes fed so far */
	unsigned char stripe[32];	/* a stripe not yet complete */
	size_t have;		/* bytes in stripe */
};

void hash64_init(struct hash64 *h);
void hash64_add(struct hash64 *h, const void *data, size_t len);
/* The value of everything fed so far (h may be fed on afterwards). */
uint64_t hash64_value(const struct hash64 *h);
/* One call for a buffer. */
uint64_t hash64(const void *data, size_t len);

#endif
