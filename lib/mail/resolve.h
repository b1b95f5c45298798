/*
 * resolve.h - how Tern would deliver an address.
 *
 * Mail layer. The one resolution code used by cleanup (virtual aliases,
 * qualification), smtpd (is this our domain, does this local user exist),
 * sendmail -bv/-bt, and the queue manager (which transport). No DNS.
 */
#ifndef TERN_MAIL_RESOLVE_H
#define TERN_MAIL_RESOLVE_H

#include <stdbool.h>

#include "util/buf.h"

enum resolve_class {
	RESOLVE_LOCAL,		/* domain in mydestination (or no domain) */
	RESOLVE_VIRTUAL,	/* domain listed in virtual_alias_domains / has virtual aliases */
	RESOLVE_RELAY,		/* anything else: needs relaying */
	RESOLVE_ERROR,		/* malformed */
};

struct resolved {
	enum resolve_class class;
	struct buf address;	/* rewritten address (qualified, lower-cased domain) */
	struct buf localpart;	/* local part, extension removed (for LOCAL) */
	struct buf extension;	/* text after recipient_delimiter, if any */
	struct buf domain;
	struct buf transport;	/* "local", "smtp", "error" */
	struct buf nexthop;	/* relayhost or domain for smtp */
	bool local_user_known;	/* LOCAL: alias, account or local_maildir_base */
};

void resolved_init(struct resolved *r);
void resolved_free(struct resolved *r);
/* Resolve one address using the loaded configuration; 0 ok, -1 malformed. */
int resolve_address(const char *address, struct resolved *r);

#endif
