/*
 * utf8.h - strict UTF-8 validation (RFC 3629).
 *
 * Generic utility layer, pure functions, no privileges. Used where
 * untrusted text must be well-formed UTF-8, such as SMTPUTF8 addresses
 * (RFC 6531, whose syntax takes UTF-8 from RFC 3629 via RFC 6532).
 */
#ifndef TERN_UTIL_UTF8_H
#define TERN_UTIL_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Is s[0..len) well-formed UTF-8: no overlong forms, no UTF-16
 * surrogates (U+D800..U+DFFF), nothing above U+10FFFF, no stray
 * continuation bytes, no truncated sequence, no 0xC0, 0xC1, 0xF5..0xFF?
 */
bool utf8_valid(const char *s, size_t len);

/* Does the string s hold a byte outside ASCII (an address that needs SMTPUTF8)? */
bool utf8_non_ascii(const char *s);

#endif
