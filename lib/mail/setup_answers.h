/*
 * setup_answers.h - the install questions of `tern setup` (the ones a
 * Debian Postfix install asks through debconf): their names, checks,
 * defaults, and what each answer writes into main.cf and the aliases file.
 *
 * Mail layer, pure functions on strings (no files, no privileges): the
 * tool (tools/tern_setup.c) reads the files, asks, and writes the results.
 *
 * The question names are also the names of tern setup's flags (--NAME)
 * and of its preseed file (NAME = value); they are an interface that
 * package scripts use, so they do not change:
 *   type, mailname, root, destinations, networks, mailbox-limit,
 *   delimiter, protocols, relayhost
 */
#ifndef TERN_MAIL_SETUP_ANSWERS_H
#define TERN_MAIL_SETUP_ANSWERS_H

#include <stdbool.h>
#include <stddef.h>

#include "mail/conf_edit.h"
#include "util/buf.h"

/* Postfix's "General mail configuration type". */
enum setup_type {
	SETUP_NONE,		/* No configuration: touch nothing */
	SETUP_INTERNET,		/* Internet Site */
	SETUP_SMARTHOST,	/* Internet with smarthost */
	SETUP_SATELLITE,	/* Satellite system */
	SETUP_LOCAL,		/* Local only */
};

/* What local only sets default_transport and relay_transport to. */
#define SETUP_LOCAL_TRANSPORT "error:mail for other hosts is not sent from this local-only host"

enum setup_q {
	SQ_TYPE,
	SQ_MAILNAME,
	SQ_ROOT,
	SQ_DESTINATIONS,
	SQ_NETWORKS,
	SQ_MAILBOX_LIMIT,
	SQ_DELIMITER,
	SQ_PROTOCOLS,
	SQ_RELAYHOST,
	SQ_COUNT,
};

/* One answer per question; NULL = not given (yet). Strings are owned. */
struct setup_answers {
	char *v[SQ_COUNT];
};

/* "type", "mailname", ... "mailbox-limit" ... (flag and preseed name). */
const char *setup_q_name(enum setup_q q);
/* The question as asked ("System mail name"). */
const char *setup_q_prompt(enum setup_q q);
/*
 * A flag or preseed name -> question (also accepts '_' for '-', and
 * Debian's debconf names mailbox_limit, recipient_delim, root_address,
 * main_mailer_type); -1 when unknown.
 */
int setup_q_find(const char *name);
/* Is the question asked for this type? (relayhost: smarthost and satellite only.) */
bool setup_q_applies(enum setup_q q, enum setup_type type);

/* Debian's choice text ("Internet Site", "Satellite system", ...). */
const char *setup_type_label(enum setup_type t);
/*
 * Debian's choice texts (any case), the short words none, internet,
 * smarthost, satellite, local, and the menu numbers 1-5 (Debian's order,
 * which is enum setup_type's: 1 = No configuration ... 5 = Local only).
 */
bool setup_type_parse(const char *text, enum setup_type *out);

/*
 * Check one answer (already trimmed). true when it may be written; else
 * false with one line (no newline) in why. The empty answer is allowed
 * where it means "none" (root, destinations, networks, delimiter,
 * relayhost).
 */
bool setup_check(enum setup_q q, const char *value, struct buf *why);

/* Each check on its own (the unit test calls them). */
bool setup_check_domain(const char *s);		/* RFC 1035 name, 253 bytes at most */
bool setup_check_networks(const char *s, struct buf *why);	/* cidr_parse on each item */
bool setup_check_relayhost(const char *s, struct buf *why);	/* host [host] [host]:port host:port */
bool setup_check_size(const char *s, struct buf *why);	/* decimal bytes, within the parameter's bounds */
bool setup_check_delimiter(const char *s, struct buf *why);

/* Postfix's defaults for the questions that do not depend on the host. */
#define SETUP_DEFAULT_NETWORKS "127.0.0.0/8 [::ffff:127.0.0.0]/104 [::1]/128"
#define SETUP_DEFAULT_MAILBOX_LIMIT "0"
#define SETUP_DEFAULT_DELIMITER "+"

/*
 * Debian's default list of destinations for a type: for Internet Site
 * "$myhostname, MAILNAME, FQDN, localhost.DOMAIN, localhost" (FQDN left
 * out when it is the mail name); for the others the mail name is left
 * out unless the host name is not within it. Appended to out.
 */
void setup_default_destinations(enum setup_type t, const char *mailname, const char *fqdn,
				const char *domain, struct buf *out);

/* What main.cf sets now (NULL when it does not set it). */
struct setup_current {
	const char *default_transport;
	const char *relay_transport;
	const char *inet_interfaces;
};

/*
 * The main.cf edits the answers make (answers complete and checked).
 * myorigin is the mail name itself (Tern does not read a file named in
 * it). Satellite and local only set inet_interfaces = loopback-only; the
 * other types set it to all only when it is loopback-only now (an
 * instance's 127.0.0.1 stays). Local only sets default_transport and
 * relay_transport to SETUP_LOCAL_TRANSPORT; the other types remove them
 * only when they are local only's (or Debian's "error"). Returns how many
 * edits were stored in edits (room for SETUP_MAX_EDITS); the strings they
 * point to belong to a, cur and static storage.
 */
#define SETUP_MAX_EDITS 12
size_t setup_edits(const struct setup_answers *a, enum setup_type t, const struct setup_current *cur,
		   struct conf_edit *edits);

/*
 * The type that main.cf's values describe (for the default on a re-run):
 * local only when default_transport is local only's, satellite when
 * inet_interfaces is loopback-only and relayhost set, smarthost when
 * relayhost is set, else Internet Site. Arguments may be NULL (unset).
 */
enum setup_type setup_type_from_conf(const char *default_transport, const char *inet_interfaces,
				     const char *relayhost);

/*
 * aliases(5) text: the value of the root: entry (continuation lines
 * joined with one space) appended to out; false when there is none.
 */
bool setup_aliases_root_get(const char *text, size_t len, struct buf *out);
/*
 * aliases(5) text with its root: entry (and its continuation lines)
 * replaced by "root: VALUE", or that line appended when there is none;
 * every other line, comment and the order stay. Appended to out.
 */
void setup_aliases_root_set(const char *text, size_t len, const char *value, struct buf *out);

void setup_answers_free(struct setup_answers *a);

#endif
