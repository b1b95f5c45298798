/*
 * aliases.h - the aliases(5) file: parser and value splitter.
 *
 * Mail layer; no privileges of its own (newaliases reads the file as its
 * caller). Local delivery does not use aliases_split_value(): it splits
 * looked-up values with alias_split() (alias_expand.h), which also reads
 * .forward and :include: files (comments, white space between items,
 * "quoted"@domain kept quoted), a grammar this splitter does not have.
 *
 * Syntax (the union of sendmail's and Postfix's):
 *   name: value, value, ...
 *   - '#' as the first non-blank character makes a comment line;
 *   - a line starting with white space continues the previous entry (its
 *     text is appended as it is, as sendmail does); a backslash at the end
 *     of a line joins the next line directly (sendmail);
 *   - a name may be double-quoted ("a b": x), is folded to lower case, and
 *     must be a local name (no '@');
 *   - values: local names (\name: no further aliasing), user@domain,
 *     :include:/path, |command or "|command with spaces", /file, and
 *     owner-NAME entries are ordinary names that delivery gives a meaning.
 * Malformed lines are reported with file and line and skipped; duplicate
 * names are reported with the line of the first one.
 */
#ifndef TERN_MAIL_ALIASES_H
#define TERN_MAIL_ALIASES_H

#include <stddef.h>

#include "util/buf.h"

struct alias_entry {
	const char *name;	/* folded, quotes removed */
	const char *value;	/* the text after ':' (continuations joined), as stored in the db */
	const char *file;
	unsigned line;		/* where the entry starts */
	unsigned first_line;	/* a duplicate: line of the first entry with this name; else 0 */
};

struct aliases_opts {
	/* Each good entry; return 0 to go on, -1 to stop. */
	int (*entry)(void *ctx, const struct alias_entry *e);
	/* Each problem, one line of text without file and line; NULL = msg_warn(). */
	void (*warn)(void *ctx, const char *file, unsigned line, const char *text);
	void *ctx;
};

/*
 * Parse text[0..len). Returns the number of malformed lines (skipped;
 * duplicates are warned about but not counted), or -1 when the entry
 * callback stopped.
 */
int aliases_parse(const char *text, size_t len, const char *file, const struct aliases_opts *o);
/* Read path and parse it; -1 with a reason in err when it cannot be read. */
int aliases_read_file(const char *path, const struct aliases_opts *o, struct buf *err);

enum alias_kind {
	ALIAS_LOCAL,		/* a local name */
	ALIAS_ADDRESS,		/* user@domain */
	ALIAS_INCLUDE,		/* :include:/path; text is the path */
	ALIAS_PIPE,		/* |command; text is the command without '|' */
	ALIAS_FILE,		/* /path: append to a file */
};

struct alias_item {
	enum alias_kind kind;
	int noalias;		/* \name: deliver to the user, no further aliasing */
	char *text;
};

/*
 * Split a value into its items: commas separate them except inside
 * double quotes; quotes around an item are removed (with backslash
 * escapes inside); "Name <addr>" becomes addr. Returns the count with a
 * malloc'd array in *items (free with aliases_free_items), or -1 with a
 * reason in err (unterminated quote, empty command or :include: path).
 */
int aliases_split_value(const char *value, struct alias_item **items, struct buf *err);
void aliases_free_items(struct alias_item *items, int count);
const char *alias_kind_name(enum alias_kind kind);

#endif
