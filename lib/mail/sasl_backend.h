/*
 * sasl_backend.h - the SASL backends behind sasl.h, and the pieces they
 * share: explicit setup (for tests and for sasl_server_init), the PLAIN
 * and LOGIN message parsers, crypt(3) verification, and the Dovecot
 * authentication client.
 *
 * Mail layer. Runs inside smtpd as mail_owner (never root), and in test
 * programs. Nothing here knows about SMTP framing or base64 on the SMTP
 * side: sasl.h's callers pass decoded bytes.
 */
#ifndef TERN_MAIL_SASL_BACKEND_H
#define TERN_MAIL_SASL_BACKEND_H

#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"

/*
 * Password lookup for the "tern" backend: find user's crypt(3) hash.
 * Returns 1 found (hash in value), 0 no such user, -1 error (reason in
 * value). Called from any thread; must be safe for that.
 */
typedef int (*sasl_lookup_fn)(void *ctx, const char *user, struct buf *value);

struct sasl_setup {
	const char *type;		/* "dovecot" or "tern" */
	const char *dovecot_path;	/* dovecot: the auth-client socket */
	sasl_lookup_fn lookup;		/* tern: where hashes come from */
	void *lookup_ctx;
	void (*release)(void *lookup_ctx);	/* frees lookup_ctx; called when the backend is replaced or setup fails */
	int timeout;			/* seconds per Dovecot round trip; 0 = 30 */
};

/*
 * Choose the process's backend (replaces any earlier one). For dovecot,
 * connects once to learn the mechanisms Dovecot offers. 0 ok; -1 with one
 * line in err. sasl_server_init() calls this with values from main.cf.
 */
int sasl_server_setup(const struct sasl_setup *setup, struct buf *err);
/* Forget the backend and release its lookup context (tests, reloads). */
void sasl_server_shutdown(void);

/* Longest user name and password accepted (RFC 4616 allows 255 octets). */
#define SASL_MAX_FIELD 255

/*
 * PLAIN (RFC 4616): "[authzid] NUL authcid NUL passwd". Exactly two NULs,
 * authcid and passwd non-empty, each at most SASL_MAX_FIELD bytes, no
 * control characters in the names. An authzid is accepted only when it
 * equals authcid (Tern does not let one user act as another). 0 ok with
 * user and pass filled; -1 malformed with a reason in user.
 */
int sasl_plain_parse(const char *data, size_t len, struct buf *user, struct buf *pass);

/* One LOGIN field (user name or password): non-empty, no NUL, bounded;
 * names also without control characters. 0 ok, -1 bad. */
int sasl_login_field(const char *data, size_t len, bool is_name);

/*
 * Verify pass against a crypt(3) hash ("$y$...", "$6$...", ...) with
 * libcrypt, comparing in constant time. hash NULL means "no such user":
 * a dummy hash is computed anyway so that timing does not tell which
 * users exist. 1 match, 0 no match (or an unusable hash), -1 error.
 */
int sasl_crypt_verify(const char *pass, const char *hash);

/*
 * Dovecot's authentication protocol, client side, major version 1. The
 * process keeps one connection (made on first use, so that it is never
 * shared across fork) for all its exchanges, each with its own request
 * id; a mutex serializes the round trips.
 */
/* Connect, read the handshake, close: the mechanisms Dovecot offers,
 * space separated (private and anonymous ones left out). 0 ok; -1 err. */
int dovecot_probe(const char *path, int timeout, struct buf *mechs, struct buf *err);

struct dovecot_exchange;
struct dovecot_exchange *dovecot_exchange_new(const char *path, int timeout);
/*
 * Send AUTH (first call; data NULL = no initial response) or CONT (later
 * calls) and wait for the answer. Returns a value of enum sasl_status:
 * SASL_DONE (user name in user), SASL_CONTINUE (decoded challenge in
 * out), SASL_FAIL or SASL_TEMPFAIL (reason in out).
 */
int dovecot_exchange_step(struct dovecot_exchange *x, const char *mech,
		const char *client_addr, bool secured, const char *data, size_t len,
		struct buf *out, struct buf *user);
/* Free; an unfinished exchange is cancelled at Dovecot's end. */
void dovecot_exchange_free(struct dovecot_exchange *x);
/* Close the process's connection (tests). */
void dovecot_disconnect(void);

/* Parse one line of Dovecot's protocol into TAB-separated fields, undoing
 * its \001 escapes in place. Returns the number of fields (at most max),
 * or -1 when a field holds an escaped NUL (never valid in what we read). */
int dovecot_split(char *line, char **fields, int max);

#endif
