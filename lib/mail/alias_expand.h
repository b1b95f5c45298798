/*
 * alias_expand.h - what one local recipient expands to: aliases,
 * ~/.forward, :include: files, |commands, /files, remote addresses.
 *
 * Mail layer, pure logic: every lookup (alias_maps, .forward files,
 * include files, "is this address local") is a callback, so the rules can
 * be tested without a system and the local delivery agent supplies the
 * privileged parts. Rules (sendmail's and Postfix's, see local(8)):
 *   - an alias of the whole local part (user+ext) wins over one of the
 *     base (user); without an alias, ~/.forward (.forward+ext first, as
 *     the forward callback decides); without either, the mailbox;
 *   - values are lists separated by commas (and white space outside
 *     "|command" items); "..." quotes; \user means the mailbox of user
 *     with no further expansion; :include:/path reads more items;
 *     /path appends to a file (/path/ is a Maildir); |cmd runs a command;
 *   - a name that lists itself (user: user, x; or user's .forward
 *     naming user) means its mailbox, so a self-reference is not a loop;
 *     a name that comes back further down (a: b, b: a) is a forwarding
 *     loop and that branch is an error with status 5.4.6, as is more
 *     than max_depth levels;
 *   - |cmd and /file are allowed only from the sources in
 *     allow_mail_to_commands / allow_mail_to_files;
 *   - owner-NAME, when it exists, receives the errors of NAME's members
 *     (dest.owner); identical destinations are kept once;
 *   - with expand_owner, an owner-NAME whose value is one address gives
 *     that address as dest.owner_sender (expand_owner_alias);
 *   - when user+ext matched only as user (the alias user, or .forward
 *     rather than .forward+ext), the address items of that value, and of
 *     :include: files in it, get +ext (user+ext -> joe+ext), for the
 *     sources in propagate (propagate_unmatched_extensions).
 */
#ifndef TERN_MAIL_ALIAS_EXPAND_H
#define TERN_MAIL_ALIAS_EXPAND_H

#include <stddef.h>

#include "util/buf.h"

/* Sources, as bits for allow_commands / allow_files. */
#define EXPAND_FROM_RECIPIENT	0x00
#define EXPAND_FROM_ALIAS	0x01
#define EXPAND_FROM_FORWARD	0x02
#define EXPAND_FROM_INCLUDE	0x04

enum dest_kind {
	DEST_MAILBOX,		/* target = user name (mbox, home_mailbox, maildir base) */
	DEST_PIPE,		/* target = command (without the '|') */
	DEST_FILE,		/* target = absolute path (ending in '/': Maildir) */
	DEST_REMOTE,		/* target = address to forward to (a new message) */
	DEST_ERROR,		/* target = reason; dsn = status code */
};

struct dest {
	enum dest_kind kind;
	int source;		/* EXPAND_FROM_* of the item that produced it */
	char *target;
	char *via;		/* alias name, .forward user, or include path (privileges) */
	char *owner;		/* owner-NAME local part for errors, or NULL */
	char *owner_sender;	/* with expand_owner: owner-NAME's value, when it is one address */
	char *dsn;		/* DEST_ERROR: "5.4.6", ... */
};

struct dest_list {
	size_t count;
	struct dest *d;
};

struct expand_ops {
	void *ctx;
	/* alias_maps lookup: 1 found (value set), 0 not found, -1 error (defer). */
	int (*alias)(void *ctx, const char *name, struct buf *value);
	/*
	 * The user's .forward text for this extension: 1 found, 0 none, -1
	 * error. *unmatched = 1 when the file found does not depend on the
	 * extension (.forward, not .forward+ext).
	 */
	int (*forward)(void *ctx, const char *user, const char *ext, struct buf *value,
	    int *unmatched);
	/*
	 * An :include: file's text: 1 ok, -1 error (reason in value). user is
	 * the account whose .forward led to the file (it is read with that
	 * user's privileges), NULL when it came from alias_maps.
	 */
	int (*include)(void *ctx, const char *path, const char *user, struct buf *value);
	/* Is addr local? 1 yes (lower-case full local part, base and extension set), 0 remote, -1 bad. */
	int (*local)(void *ctx, const char *addr, struct buf *full, struct buf *base, struct buf *ext);
	int allow_commands;	/* EXPAND_FROM_* bits */
	int allow_files;
	int max_depth;		/* 0 = 20 */
	int expand_owner;	/* expand_owner_alias: fill dest.owner_sender */
	int propagate;		/* propagate_unmatched_extensions: EXPAND_FROM_* bits */
};

void dest_list_init(struct dest_list *l);
void dest_list_free(struct dest_list *l);

/*
 * Expand the local recipient (full local part, its base and extension,
 * lower case) into destinations. Returns 0, or -1 when a lookup failed
 * temporarily (reason in err: the recipient should be deferred).
 */
int alias_expand(const struct expand_ops *ops, const char *full, const char *base,
    const char *ext, struct dest_list *out, struct buf *err);

/* Split an alias value or .forward text into items (quotes removed, "\" kept). */
size_t alias_split(const char *value, char ***items);
void alias_items_free(char **items, size_t n);

#endif
