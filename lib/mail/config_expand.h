/*
 * config_expand.h - the $name expander behind config_expand() and
 * config_expand_vars() (see config_expand.c for the forms).
 *
 * Mail layer, internal to the configuration code; programs use
 * config.h. lookup returns 1 and sets *value (and *literal when the
 * value must be inserted as is) for a defined name, else 0.
 */
#ifndef TERN_MAIL_CONFIG_EXPAND_H
#define TERN_MAIL_CONFIG_EXPAND_H

#include <stdbool.h>

#include "util/buf.h"

typedef int (*expand_lookup_fn)(void *ctx, const char *name, const char **value, bool *literal);

/* Append the expansion of text to out: 0, or -1 with one line in err.
 * self: the name whose value text is (for loop detection), or NULL. */
int expand_macros(const char *self, const char *text, expand_lookup_fn lookup, void *ctx,
		  struct buf *out, struct buf *err);

#endif
