/*
 * conf_edit.h - in-place edits of main.cf that keep comments and order
 * (ternconf -e, -X, -#; tern init).
 *
 * Mail layer. An edit names one parameter:
 *   CONF_SET      every "name = ..." entry (with its continuation lines)
 *                 becomes one line "name = value"; appended when absent
 *   CONF_REMOVE   every entry of name is deleted
 *   CONF_COMMENT  every line of every entry of name gets a leading '#'
 * Comment lines and blank lines are never touched, also when they sit
 * between an entry and its continuation lines. When several edits name
 * the same parameter, the last one counts.
 */
#ifndef TERN_MAIL_CONF_EDIT_H
#define TERN_MAIL_CONF_EDIT_H

#include <stddef.h>

#include "util/buf.h"

enum conf_edit_op {
	CONF_SET,
	CONF_REMOVE,
	CONF_COMMENT,
};

struct conf_edit {
	enum conf_edit_op op;
	const char *name;
	const char *value;	/* CONF_SET only */
};

/*
 * Split a command-line "name = value" (white space around both trimmed,
 * as postconf -e does). The pieces are fresh strings the caller frees.
 * Returns 0, or -1 with one line in err.
 */
int conf_edit_parse(const char *arg, char **name, char **value, struct buf *err);

/* Apply edits to main.cf text in memory; the result is appended to out. */
void conf_edit_text(const char *text, size_t len, const struct conf_edit *edits, size_t n,
		    struct buf *out);

/*
 * Apply edits to the file at path: the new text goes to a temporary
 * file in the same directory (same mode and, when allowed, owner),
 * which is fsynced and renamed over path; then the directory is
 * fsynced. A missing file is created. Returns 0, or -1 with one line
 * in err (the old file is then untouched).
 */
int conf_edit_file(const char *path, const struct conf_edit *edits, size_t n, struct buf *err);

/*
 * Replace the file at path with text in the same way (temporary file,
 * the old mode and owner, fsync, rename, directory fsync; a new file is
 * 0644). tern setup writes the aliases file and /etc/mailname with it.
 */
int conf_file_replace(const char *path, const char *text, size_t len, struct buf *err);

#endif
