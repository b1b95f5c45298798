/*
 * base64.h - RFC 4648 base64 (standard alphabet, with padding).
 *
 * Generic utility layer, pure functions, no privileges. Used for SMTP
 * AUTH exchanges (RFC 4954).
 */
#ifndef TERN_UTIL_BASE64_H
#define TERN_UTIL_BASE64_H

#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"

/* Append the encoding of data to out. */
void base64_encode(const void *data, size_t len, struct buf *out);
/*
 * Append the decoding of text to out. Strict: only the standard
 * alphabet, length a multiple of 4, padding only at the end. false on
 * malformed input (out may hold a partial result).
 */
bool base64_decode(const char *text, size_t len, struct buf *out);

#endif
