/*
 * compat.h - portability replacements chosen by configure.
 * Included first by every source file of Tern (after config.h).
 */
#ifndef TERN_COMPAT_H
#define TERN_COMPAT_H

#include "config.h"
#include <stddef.h>

#ifndef HAVE_STRLCPY
size_t strlcpy(char *dst, const char *src, size_t size);
#endif
#ifndef HAVE_STRLCAT
size_t strlcat(char *dst, const char *src, size_t size);
#endif

#endif
