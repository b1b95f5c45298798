/*
 * migrate.h - translate a sendmail host's /etc/mail into Tern's main.cf
 * settings and maps (tern migrate-sendmail).
 *
 * Mail layer; runs with the privileges of its caller (the administrator).
 * Reads only files; nothing here touches a running configuration (the
 * tool installs the result). Every input is untrusted text: a line that
 * cannot be translated is recorded with file:line and why, never fatal.
 *
 * The line parsers (migrate_parse.c) are pure: one line in, one
 * translation (or a reason) out. migrate_run.c reads a directory with
 * them and collects the settings, the maps and the report.
 */
#ifndef TERN_MAIL_MIGRATE_H
#define TERN_MAIL_MIGRATE_H

#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"

/* ---- line parsers (migrate_parse.c) ---- */

/* Which Tern access map a sendmail access entry goes to. */
enum mig_access_map {
	MIG_ACC_CLIENT,		/* check_client_access in smtpd_client_restrictions */
	MIG_ACC_SENDER,		/* check_sender_access in smtpd_sender_restrictions */
	MIG_ACC_RECIPIENT,	/* check_recipient_access after reject_unauth_destination */
	MIG_ACC_RELAY_CLIENT,	/* Connect: RELAY: check_client_access before it */
	MIG_ACC_RELAY_RCPT,	/* To: RELAY: check_recipient_access before it */
	MIG_ACC_COUNT,
};

/* Up to three translations of one access line (a bare key applies to Connect, From and To). */
struct mig_access {
	size_t n;
	struct {
		enum mig_access_map map;
		char *key;
		char *value;
	} e[3];
};

/*
 * One access(5) entry (key and value as split by the map source reader).
 * 1 translated into out (fresh strings: mig_access_free), 0 not (why set).
 */
int mig_access_entry(const char *key, const char *value, struct mig_access *out, struct buf *why);
void mig_access_free(struct mig_access *a);

/*
 * sendmail's access value -> Postfix's access action: OK, RELAY (given
 * back as OK: the caller chose a relay map), REJECT, ERROR:"5xx text",
 * ERROR:D.S.N:5xx text, ERROR:5xx text, SKIP (DUNNO). DISCARD,
 * QUARANTINE and the rest: 0 with why.
 */
int mig_access_value(const char *value, struct buf *out, struct buf *why);

/*
 * One virtusertable entry: key user@domain or @domain; value an address,
 * a local user, or error:... (then *is_error and out is the access action
 * for check_recipient_access). %1/%2 and user+* cannot be expressed: 0 with why.
 */
int mig_virtuser_entry(const char *key, const char *value, struct buf *out_key,
		       struct buf *out_value, bool *is_error, struct buf *why);

/*
 * One mailertable entry -> transport(5): esmtp/smtp/relay:[host] ->
 * smtp:[host], local:[user] -> local, error:... -> error:text; key "."
 * -> "*". 0 with why for the mailers Tern has none of (uucp, procmail...).
 */
int mig_mailertable_entry(const char *key, const char *value, struct buf *out_key,
			  struct buf *out_value, struct buf *why);

/*
 * A sendmail.mc line: one m4 call NAME(`a', `b') (dnl and comments
 * stripped). Returns 1 with name and args (fresh strings:
 * mig_mc_call_free), 0 for a blank/comment line, -1 when the line is not
 * a call Tern reads (why set).
 */
#define MIG_MC_MAXARGS 4
struct mig_mc_call {
	char *name;
	size_t argc;
	char *argv[MIG_MC_MAXARGS];
};
int mig_mc_line(const char *line, struct mig_mc_call *out, struct buf *why);
/* 1 when the statement (lines joined so far) has its parentheses and quotes closed. */
int mig_mc_complete(const char *stmt);
void mig_mc_call_free(struct mig_mc_call *c);

/*
 * A sendmail.cf line that defines a macro ("DSvalue", "D{name}value"),
 * adds to a class ("Cwa b", "C{w}a b") or sets an option ("O Name=value").
 * kind 'D', 'C' or 'O' with name and value (fresh strings); 0 for any
 * other line.
 */
int mig_cf_line(const char *line, char *kind, char **name, char **value);

/*
 * DAEMON_OPTIONS / DaemonPortOptions "Port=smtp, Addr=127.0.0.1, Name=MTA"
 * -> port (service name or number; "smtp" when absent), addr ("" = all)
 * and name. 0 with why when a field is not understood.
 */
struct mig_daemon {
	char *name, *port, *addr, *family, *modifiers;
};
int mig_daemon_options(const char *text, struct mig_daemon *out, struct buf *why);
void mig_daemon_free(struct mig_daemon *d);

/* ---- the whole directory (migrate_run.c) ---- */

/* A main.cf setting; the maps are written under their own names in the output directory. */
struct mig_setting {
	char *name, *value;
};

struct mig_result {
	struct mig_setting *set;	/* in the order they were decided */
	size_t nset;
	struct buf master_cf;		/* master.cf lines for DAEMON_OPTIONS ("" = keep the default) */
	struct buf report;		/* untranslated lines: "  file:line: text\n      why\n" */
	size_t untranslated;		/* how many lines could not be translated */
	struct buf notes;		/* what was translated with a difference, one "  ..." line each */
	/*
	 * The aliases file when the source's is a link to a file elsewhere
	 * (Debian's /etc/mail/aliases -> /etc/aliases): used where it is, not
	 * copied; --apply rebuilds its database. NULL otherwise.
	 */
	char *aliases_in_place;
	/* map files to write: name (relative) and its text */
	struct { char *name; struct buf text; } *maps;
	size_t nmaps;
};

/*
 * Read from (a sendmail /etc/mail) and decide everything. to is the
 * directory the result will live in (map names in settings point there).
 * Returns 0, or -1 with err when from cannot be read at all.
 */
int mig_run(const char *from, const char *to, struct mig_result *r, struct buf *err);
void mig_result_free(struct mig_result *r);
/* Append a setting (replacing an earlier one of the same name). */
void mig_set(struct mig_result *r, const char *name, const char *value);
const char *mig_get(const struct mig_result *r, const char *name);

#endif
