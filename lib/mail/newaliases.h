/*
 * newaliases.h - rebuild the alias databases from their aliases(5)
 * sources, as sendmail's newaliases (and sendmail -bi) does.
 *
 * Mail layer; runs with the privileges of its caller (an administrator:
 * it writes the databases next to their sources).
 *
 * Each database "type:/path" (hash or btree; no type = hash) is rebuilt
 * from /path into /path.db atomically (temporary file, fsync, rename),
 * with keys (folded) and values stored NUL-terminated and the "@" -> "@"
 * marker (also with NULs) that sendmail's readers wait for, which is
 * what sendmail's own newaliases writes for an AliasFile without a class.
 * A repeated name keeps its last value (sendmail's rule), with a warning.
 * For each, one summary line as sendmail prints it:
 *   /etc/aliases: N aliases, longest N bytes, N bytes total
 * where N aliases counts every entry stored (repeats too), "longest" is
 * the longest value and "total" is the sum of name and value lengths.
 */
#ifndef TERN_MAIL_NEWALIASES_H
#define TERN_MAIL_NEWALIASES_H

#include "util/buf.h"

/*
 * Rebuild one database. The summary line (with '\n') is appended to out,
 * problems as "file:line: text\n" lines to diag. Returns a sysexits
 * status: 0; 65 when malformed lines were skipped (the database is still
 * built from the good ones); 66 the source cannot be read; 73 the
 * database cannot be written; 78 a map type that cannot be built.
 */
int newaliases_build(const char *spec, struct buf *out, struct buf *diag);
/* Every database in the NULL-terminated list; the worst status. */
int newaliases_rebuild(char *const *specs, struct buf *out, struct buf *diag);
/*
 * sendmail -bi and newaliases: rebuild every map in the alias_database
 * parameter of the loaded configuration (config_load() first), summary
 * lines on standard output, problems logged as warnings.
 */
int newaliases_run(void);

#endif
