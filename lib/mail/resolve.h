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
#include <stddef.h>

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
	struct buf transport;	/* "local", "smtp", "relay", "error", "retry", "discard", or
				   another name from transport_maps (qmgr defers it) */
	struct buf nexthop;	/* smtp/relay: "domain", "[host]:port", "host:port";
				   local: the domain; error/retry/discard: "[D.D.D ]text" or "" */
	bool local_user_known;	/* LOCAL: alias, account or local_maildir_base */
	bool local_bad_name;	/* LOCAL: no alias, and no mailbox can have that name */
};

void resolved_init(struct resolved *r);
void resolved_free(struct resolved *r);
/*
 * Resolve one address using the loaded configuration; 0 ok, -1
 * malformed. r->address is the address after rewriting (see
 * resolve_conf): the one to deliver to. On -1, r->transport is "error"
 * and r->nexthop is "", or, for an address that is well formed but
 * cannot be routed, "D.D.D text" saying why (resolve_error_text reads
 * it): a domain that is not ASCII (SMTPUTF8) is taken when it is one of
 * ours (mydestination, virtual_alias_domains, compared byte for byte after
 * ASCII lower-casing) or when its mail goes to an ASCII next hop (relayhost,
 * transport_maps); never as a next hop of smtp or relay, which would look
 * it up in DNS as written: Tern has no IDNA to find its A-label.
 */
int resolve_address(const char *address, struct resolved *r);

/*
 * The same resolution with the settings given explicitly (resolve.c fills
 * this from main.cf; tests fill it by hand). Lists are NULL-terminated.
 * user_known(full, base, ctx) says whether a local user exists (alias of
 * the whole local part or of its base, account of the base); full and
 * base are lower case. NULL means every local user is known.
 */
struct resolve_conf {
	char **mydestination;		/* already $name-expanded */
	char **virtual_alias_domains;
	const char *myorigin;		/* qualifies an address without a domain */
	const char *recipient_delimiter;	/* set of delimiter characters, "" = none */
	const char *relayhost;		/* "" = deliver to the domain itself */
	const char *local_maildir_base;	/* set: every local user is known */
	int (*user_known)(const char *full, const char *base, void *ctx);
	void *ctx;
	/*
	 * Postfix's "local" rewriting (addr.h addr_rewrite_local), applied
	 * first, and again to the local part left when a local domain is
	 * stripped: site!user@here and user%domain@here resolve as
	 * user@site and user@domain, whose class then decides (relay for a
	 * remote domain). Zero: off.
	 */
	bool swap_bangpath;
	bool percent_hack;
	const char *append_dot_mydomain;	/* mydomain, or NULL */
	bool reject_min_user;	/* !allow_min_user: a result starting with '-' is malformed */
	/*
	 * Routing (resolve_route.c), as Postfix's trivial-rewrite does it.
	 * The class's default: local for mydestination; for a remote domain
	 * relay_transport if relay_domain() says it is in relay_domains,
	 * else default_transport (each "transport" or "transport:nexthop";
	 * NULL: "relay" and "smtp"), its next hop the value's, else
	 * relayhost, else the domain. Then transport_lookup (NULL: no
	 * transport_maps) is asked for the address (lower case), the address
	 * without its extension, the domain, and each parent as ".parent";
	 * the first value found, "transport:nexthop", wins: an empty transport
	 * keeps the default one, an empty next hop is the default's (relayhost)
	 * for smtp/relay to a remote domain, else the domain. A lookup that
	 * fails (-1) gives transport retry ("4.3.0 ... lookup failure"). Both
	 * callbacks return 1, 0, or -1 and get ctx.
	 */
	const char *default_transport;
	const char *relay_transport;
	int (*relay_domain)(const char *domain, void *ctx);
	int (*transport_lookup)(const char *key, struct buf *value, void *ctx);
};
int resolve_address_with(const char *address, const struct resolve_conf *conf,
    struct resolved *r);

/*
 * Split a local part at the first recipient_delimiter character:
 * "user+tag" gives "user" and "tag". As in Postfix, with '-' as the
 * delimiter "owner-x" and "x-request" are not split. Returns 1 when an
 * extension was found, 0 otherwise (base = the whole local part).
 */
int resolve_split_extension(const char *localpart, const char *delims,
    struct buf *base, struct buf *extension);
/* Is domain (lower case) listed in items (case-insensitive, trailing dot ignored)? */
int resolve_domain_listed(const char *domain, char **items);
/*
 * Can name (a local part's base, after alias expansion) be the name of a
 * mailbox under local_maildir_base: not empty, no leading '.', no '/'?
 * The one test for both local delivery (which bounces what fails it) and
 * the resolver (so that smtpd refuses it at RCPT instead of accepting
 * mail that can only bounce to a sender that may be forged).
 */
bool resolve_mailbox_name_ok(const char *name);
/*
 * Has the text after address's last '@' a byte that is not ASCII? A cheap
 * test, so that callers which refuse unroutable domains early (smtpd at
 * RCPT, sendmail) resolve only such addresses.
 */
bool resolve_domain_not_ascii(const char *address);
/*
 * Whether address is read but cannot be routed (today: a domain that is
 * not ASCII, not ours, and not sent to an ASCII next hop): true with the
 * status code in dsn and the reason in text, for smtpd to refuse it at
 * RCPT and sendmail on its command line. Only an address whose domain
 * has 8-bit bytes is resolved, so other mail pays nothing.
 */
bool resolve_unroutable(const char *address, char *dsn, size_t dsnsize, struct buf *text);
/* Split "transport:nexthop" at its first colon (either may be empty), blanks trimmed. */
void resolve_parse_route(const char *value, struct buf *transport, struct buf *nexthop);
/* error, retry and discard: their "next hop" is a text, not a destination. */
bool resolve_text_transport(const char *transport);
/*
 * The status code and text of an error:, retry: or discard: next hop
 * ("5.7.1 no mail here", "no mail here", ""): the code's class is cls
 * ('5' error, '4' retry, '2' discard) whatever the text says; without a
 * code, cls.0.0; without a text, a default one.
 */
void resolve_error_text(const char *nexthop, char cls, char *dsn, size_t dsnsize, struct buf *text);
/* Fill r->transport and r->nexthop (see resolve_conf); resolve_address_with calls it. */
void resolve_route(const struct resolve_conf *conf, struct resolved *r);

/* resolve.c's user_known: alias_maps (full, then base), then getpwnam(base). */
int resolve_local_user_known(const char *full, const char *base, void *ctx);

#endif
