/*
 * config_impl.h - what config.c and config_parse.c share: one setting
 * of main.cf, the parser, and the helpers of its one-line messages.
 *
 * Mail layer, internal to the configuration code; programs use config.h.
 */
#ifndef TERN_MAIL_CONFIG_IMPL_H
#define TERN_MAIL_CONFIG_IMPL_H

#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"

#define CONFIG_NAME_MAX 255	/* longest parameter name */
#define CONFIG_MAX_WARNINGS 20	/* per load, then a summary */

struct setting {
	char *name;
	char *value;		/* as written */
	unsigned line;		/* first line in main.cf; 0 = cfg_set() */
	unsigned order;		/* position in the file, for "last wins" */
	bool used;		/* referenced by an expansion */
};

/*
 * Parse main.cf text into settings sorted by name, keeping the last of
 * duplicates (*set is a fresh array the caller frees, also on error).
 * label names the file in messages; *warnings counts the warnings
 * logged. Returns 0, or -1 with one line in err.
 */
int config_parse(const char *label, const char *data, size_t len, struct setting **set,
		 size_t *nset, unsigned *warnings, struct buf *err);

/* [A-Za-z0-9_]{1,255} */
bool config_valid_name(const char *s, size_t len);

/* "FILE, line N: " (or "FILE: " for line 0). */
void config_where(struct buf *err, const char *label, unsigned line);

/* A value quoted for a one-line message: at most 200 bytes, escaped. */
void config_add_value(struct buf *b, const char *v);

/* Log "FILE, line N: " + fmt(arg) as a warning, up to CONFIG_MAX_WARNINGS. */
void config_warn_line(unsigned *warnings, const char *label, unsigned line, const char *fmt,
		      const char *arg);

#endif
