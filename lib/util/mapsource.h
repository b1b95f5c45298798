/*
 * mapsource.h - reader for lookup-table source files ("key value" lines),
 * shared by ternmap, makemap and the texthash: map type.
 *
 * Generic utility layer; no privileges of its own (the caller opens the
 * file). The format is postmap(1)'s:
 *   - a line "key value": the key ends at the first white space (or at
 *     the delimiter character, when one is set, as makemap -t does); the
 *     value is the rest after that separator, trailing white space removed,
 *     and may contain spaces;
 *   - empty lines and lines whose first non-blank character is '#' are
 *     skipped;
 *   - a line that starts with white space continues the previous line;
 *   - keys are folded to lower case unless MAPSRC_NOFOLD;
 *   - a key ending in ':' is kept as it is, with postmap's warning that
 *     the file looks like an aliases(5) file (not in makemap's mode).
 * A duplicate key is warned about with file and line; the entry callback
 * still sees it (first_line set) and decides: postmap keeps the first,
 * makemap -r the last. Malformed lines are warnings, never crashes.
 */
#ifndef TERN_UTIL_MAPSOURCE_H
#define TERN_UTIL_MAPSOURCE_H

#include <stddef.h>

#include "util/buf.h"

#define MAPSRC_NOFOLD		0x01	/* keep the case of keys (-f) */
#define MAPSRC_EMPTY_VALUE	0x02	/* a key without a value is an entry with "" (makemap) */
#define MAPSRC_NO_DUP_CHECK	0x04	/* do not track keys (saves memory) */
#define MAPSRC_QUIET_DUPS	0x08	/* track duplicates but let the caller report them */
#define MAPSRC_NO_CONTINUATION	0x10	/* a line starting with white space is an error (makemap) */
#define MAPSRC_KEEP_TRAILING	0x20	/* keep trailing white space in values (makemap) */

struct mapsrc_entry {
	const char *key;
	const char *value;
	const char *file;
	unsigned line;		/* where the entry starts */
	unsigned first_line;	/* a duplicate: where the key was first seen; else 0 */
};

struct mapsrc_opts {
	int flags;
	char delim;		/* key/value separator; '\0' = white space */
	char comment;		/* comment character; '\0' = '#' */
	/* Called for each entry; return 0 to go on, -1 to stop (mapsrc_parse returns -1). */
	int (*entry)(void *ctx, const struct mapsrc_entry *e);
	/* Called once per warning; NULL = msg_warn("file:line: text"). */
	void (*warn)(void *ctx, const char *file, unsigned line, const char *text);
	void *ctx;
};

/*
 * Parse text[0..len) (NUL bytes allowed: such a line is a warning).
 * file names the source in warnings. Returns the number of warnings
 * (>= 0), or -1 when the entry callback stopped.
 */
int mapsrc_parse(const char *text, size_t len, const char *file, const struct mapsrc_opts *o);
/* Read all of fd, then parse. -1 with a reason in err on a read error. */
int mapsrc_read_fd(int fd, const char *file, const struct mapsrc_opts *o, struct buf *err);
/* Open path, read, parse. -1 with a reason in err when it cannot be read. */
int mapsrc_read_file(const char *path, const struct mapsrc_opts *o, struct buf *err);

#endif
