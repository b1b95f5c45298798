/*
 * addr.h - RFC 5322 / RFC 5321 address parsing.
 *
 * Mail layer; pure functions, no privileges, no configuration. Parses
 * the address lists of To:, Cc:, Bcc:, From:, Reply-To: ... (display
 * names, comments, angle addresses, quoted local parts, domain literals,
 * groups, obsolete source routes) and the single addresses of the
 * envelope (sendmail's -f and arguments, SMTP MAIL FROM/RCPT TO).
 *
 * A mailbox comes out in one canonical form: the local part as written
 * (a quoted local part keeps its quotes, comments and folding removed),
 * then "@domain" when there was a domain. Addresses without a domain are
 * returned as they are; cleanup qualifies them with myorigin.
 */
#ifndef TERN_MAIL_ADDR_H
#define TERN_MAIL_ADDR_H

#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"

#define ADDR_MAX	998	/* longest address Tern handles (RFC 5322 line limit) */

struct addr {
	char *mailbox;		/* canonical local[@domain] */
	char *display;		/* display name, unquoted; "" when none */
	char *group;		/* group name when inside a group; "" else */
	bool has_domain;
	/* Where the addr-spec lies in the parsed text: [spec_start, spec_end). */
	size_t spec_start, spec_end;
};

struct addr_list {
	struct addr *v;
	size_t n;
	size_t cap;		/* room in v (xgrow) */
	size_t bad;		/* elements that did not parse (skipped) */
	struct buf error;	/* reason for the first bad element */
};

void addr_list_init(struct addr_list *l);
void addr_list_free(struct addr_list *l);

/*
 * Parse an address list (a header value, unfolded or not, or a sendmail
 * argument). Mailboxes are appended to l; elements that do not parse are
 * skipped and counted in l->bad. Returns 0 when everything parsed, -1
 * when at least one element was bad.
 */
int addr_parse_list(const char *text, size_t len, struct addr_list *l);

/*
 * One envelope address: "<>", "<a@b>", "a@b", "user", "Name <a@b>", a
 * source route "<@x,@y:a@b>" (dropped). On success out holds the
 * canonical mailbox ("" for <>), return 0. -1 with a reason in err for
 * anything else: several addresses, control characters, unbalanced
 * quotes/brackets, empty local part, bad domain, too long.
 */
int addr_parse_envelope(const char *text, struct buf *out, struct buf *err);

/* True when a canonical mailbox is acceptable in the envelope. */
bool addr_envelope_valid(const char *mailbox);

/*
 * Split a canonical mailbox at its last '@' outside quotes. local and
 * domain may be NULL. Returns true when there is a domain.
 */
bool addr_split(const char *mailbox, struct buf *local, struct buf *domain);

/*
 * Postfix's rewriting of an address in the "local" context (what it
 * does to envelope addresses and to the headers of locally submitted
 * mail). Only when the mailbox has no '@' outside quotes: site!user
 * becomes user@site (swap_bangpath; the first '!'), else user%domain
 * becomes user@domain (percent_hack; the last '%'), else "@origin" is
 * appended (origin non-NULL and non-empty). Then, when mydomain is
 * non-NULL and non-empty, a domain without a '.' (and not a [literal])
 * gets ".mydomain" (append_dot_mydomain). '!' and '%' inside quotes
 * count for nothing. The empty address stays empty.
 */
struct addr_rewrite {
	bool swap_bangpath;
	bool percent_hack;
	const char *origin;	/* append_at_myorigin: myorigin, else NULL */
	const char *mydomain;	/* append_dot_mydomain: mydomain, else NULL */
};
void addr_rewrite_local(const char *mailbox, const struct addr_rewrite *rw, struct buf *out);

/* Quote a local part when it is not a dot-atom (RFC 5321 Quoted-string). */
void addr_quote_local(const char *local, struct buf *out);

#endif
