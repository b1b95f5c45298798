/*
 * sasl.h - server side of SMTP AUTH (RFC 4954): what smtpd needs from a
 * SASL backend.
 *
 * Mail layer. Runs inside smtpd, as mail_owner, never as root. The SMTP
 * engine does the SMTP framing (AUTH command, "334 " lines, base64,
 * the "*" cancel, "=" for an empty initial response); a backend sees
 * decoded bytes only and knows nothing about SMTP.
 *
 * Backends, chosen by smtpd_sasl_type:
 *   dovecot   Dovecot's authentication protocol on the UNIX socket named
 *             by smtpd_sasl_path (relative paths are under queue_directory)
 *   tern      a map of crypt(3) hashes (smtpd_sasl_password_maps:
 *             "user  $y$..." lines), for small hosts
 *
 * Threads: sasl_server_step() may block (a round trip to Dovecot), so
 * smtpd may call it from a worker thread. Different contexts can be
 * stepped at the same time from different threads; one context is only
 * ever used by one thread at a time. Shared backend state (a Dovecot
 * connection, an open map) must be protected by the backend.
 */
#ifndef TERN_MAIL_SASL_H
#define TERN_MAIL_SASL_H

#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"

enum sasl_status {
	SASL_DONE,		/* authenticated: sasl_username() is valid */
	SASL_CONTINUE,		/* send the challenge, feed the next response */
	SASL_FAIL,		/* bad credentials or protocol error: 535 5.7.8 */
	SASL_TEMPFAIL,		/* backend unavailable: 454 4.7.0 */
};

struct sasl_server;

/*
 * Once per process, after config_load(): open/check the backend named by
 * smtpd_sasl_type. 0 ok; -1 with one line in err (smtpd then offers no
 * AUTH and logs why).
 */
int sasl_server_init(struct buf *err);

/*
 * Mechanisms to offer, space separated, e.g. "PLAIN LOGIN". tls is true
 * when the session is encrypted (a backend may offer fewer without).
 */
const char *sasl_server_mechanisms(bool tls);

/*
 * The mechanisms of mechs (space separated) that Postfix-style security
 * options allow (smtpd_sasl_security_options, smtpd_sasl_tls_security_options):
 * noplaintext drops PLAIN and LOGIN, noanonymous ANONYMOUS, nodictionary
 * every mechanism a password guesser can attack offline or online
 * (all but EXTERNAL), noactive all but EXTERNAL, GSSAPI and GS2-KRB5,
 * mutual_auth keeps only DIGEST-MD5, SCRAM-*, GSSAPI and GS2-KRB5,
 * forward_secrecy keeps none. Tern judges by mechanism name (as Cyrus
 * SASL's plugins declare them); an unknown name survives only noplaintext
 * and noanonymous. The result, space separated, replaces out.
 */
void sasl_mechanisms_allowed(const char *mechs, char *const *options, struct buf *out);

/*
 * One authentication exchange for mechanism mech (case-insensitive).
 * client_addr is the client's IP address as text, for the backend's
 * logs and rate limits. NULL when the mechanism is not supported.
 */
struct sasl_server *sasl_server_new(const char *mech, const char *client_addr, bool tls);

/*
 * Feed the next client response. The first call gets the initial
 * response from the AUTH command, or data NULL when there was none
 * (an empty initial response, "=", is data non-NULL with len 0).
 * On SASL_CONTINUE, challenge holds the (decoded) bytes to send next,
 * e.g. "Username:" for LOGIN, "" for PLAIN without initial response.
 * On SASL_FAIL/SASL_TEMPFAIL, challenge may hold a one-line reason for
 * the log (never shown to the client).
 */
enum sasl_status sasl_server_step(struct sasl_server *s, const char *data, size_t len,
		struct buf *challenge);

/* The authenticated user after SASL_DONE (else NULL); owned by s. */
const char *sasl_username(const struct sasl_server *s);

void sasl_server_free(struct sasl_server *s);

#endif
