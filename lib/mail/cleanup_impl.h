/*
 * cleanup_impl.h - the settings cleanup works with, separated from the
 * configuration so the core can be tested with tables of its own.
 *
 * Mail layer. cleanup.c fills these from main.cf (cleanup_open); tests
 * and tools call cleanup_open_with() directly.
 */
#ifndef TERN_MAIL_CLEANUP_IMPL_H
#define TERN_MAIL_CLEANUP_IMPL_H

#include <stdbool.h>
#include <time.h>

#include "mail/cleanup.h"
#include "util/buf.h"

enum cleanup_table {
	CLEANUP_TABLE_CANONICAL,		/* canonical_maps */
	CLEANUP_TABLE_SENDER_CANONICAL,		/* sender_canonical_maps */
	CLEANUP_TABLE_RECIPIENT_CANONICAL,	/* recipient_canonical_maps */
	CLEANUP_TABLE_VIRTUAL,			/* virtual_alias_maps */
};

struct cleanup_settings {
	const char *incoming_dir;	/* where queue files are written */
	/*
	 * cleanup_hold's target; NULL = incoming_dir/../hold. Copied by
	 * cleanup_open_with with CLEANUP_FLAG_EDIT, else read at cleanup_hold.
	 */
	const char *hold_dir;
	/*
	 * A queue file writer made beforehand (smtpd makes it at MAIL FROM when
	 * milters run, so that they know the queue id early); cleanup takes it
	 * over. NULL: cleanup makes its own.
	 */
	struct qfile_writer *writer;
	const char *wake_socket;	/* queue manager's socket, NULL = none */
	const char *myhostname;
	const char *myorigin;
	const char *mail_name;		/* "Tern" in Received: */
	char *const *local_domains;	/* mydestination (NULL-terminated), for bare-user lookups */
	bool append_at_myorigin;
	/* Postfix's "local" rewriting context (addr.h addr_rewrite_local). */
	bool swap_bangpath;		/* site!user -> user@site */
	bool percent_hack;		/* user%domain -> user@domain */
	const char *append_dot_mydomain;	/* user@host -> user@host.THIS; NULL = off */
	bool sasl_authenticated_header;	/* Received: names the AUTH user (smtpd_sasl_authenticated_header) */
	unsigned long long message_size_limit;	/* 0 = none */
	unsigned long long header_size_limit;	/* one header; 0 = none */
	unsigned long long header_block_size_limit;	/* all of them; 0 = none */
	int virtual_expansion_limit;	/* addresses one recipient may become */
	int virtual_recursion_limit;	/* depth */
	int hopcount_limit;		/* Received: headers allowed; 0 = no limit */
	/*
	 * recipient_delimiter ("" = none): user+ext@domain is looked up as
	 * user@domain (and user) when the full address is not in a table;
	 * propagate_unmatched_extensions then puts +ext back into what such
	 * a lookup gives, for canonical and/or virtual tables.
	 */
	const char *recipient_delimiter;
	bool propagate_canonical;
	bool propagate_virtual;
	/* Table lookup: 1 found (value set), 0 not found, -1 error (temporary). */
	int (*lookup)(void *ctx, enum cleanup_table table, const char *key, struct buf *value);
	void *lookup_ctx;
	time_t fixed_time;		/* tests: Date:/Received: time; 0 = now */
};

struct cleanup *cleanup_open_with(const struct cleanup_settings *s, enum cleanup_source source,
				  int flags);

/* RFC 5322 date of t in local time, e.g. "Wed, 25 Nov 2026 14:59:00 +0000". */
void cleanup_rfc5322_date(time_t t, struct buf *out);


#endif
