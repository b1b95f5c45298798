/*
 * smtp_tls.h - the client side of TLS for the smtp delivery program:
 * which TLS level applies to a next hop (smtp_tls_security_level,
 * smtp_tls_policy_maps), the STARTTLS handshake with certificate or
 * DANE (TLSA) verification, TLS session reuse, and what to log.
 *
 * Runs inside smtp/smtp as mail_owner, no other privileges. OpenSSL 3.
 *
 * Cipher grades (smtp_tls_ciphers, smtp_tls_mandatory_ciphers, ciphers=)
 * map to OpenSSL cipher lists for TLS 1.2 (TLS 1.3's suites are all
 * strong and left at OpenSSL's default), as smtpd does:
 *   high                   "HIGH:!aNULL:!eNULL:!MD5:!RC4:!3DES:!CAMELLIA:!ARIA:!SHA1"
 *   medium, low, export, null
 *                          "HIGH:MEDIUM:!aNULL:!eNULL:!MD5:!RC4:!3DES:!DES:!EXPORT:!PSK:!SRP"
 * OpenSSL 3 has nothing weaker that Tern would use: low, export and null
 * mean medium, and unauthenticated or unencrypted suites are never offered.
 * Protocols: never below TLS 1.2, whatever a list allows (tls_proto.h).
 */
#ifndef TERN_SMTP_TLS_H
#define TERN_SMTP_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>

#include "util/buf.h"

enum smtp_tls_level {
	SMTP_TLS_NONE,
	SMTP_TLS_MAY,
	SMTP_TLS_ENCRYPT,
	SMTP_TLS_DANE,
	SMTP_TLS_DANE_ONLY,
	SMTP_TLS_VERIFY,
	SMTP_TLS_SECURE,
};

struct smtp_tls_policy {
	enum smtp_tls_level level;
	char *match;		/* ':'-separated match names or NULL: from match= or smtp_tls_*_cert_match */
	char *protocols;	/* NULL: smtp_tls_protocols / smtp_tls_mandatory_protocols */
	char *ciphers;		/* NULL: smtp_tls_ciphers / smtp_tls_mandatory_ciphers */
	bool from_sts;		/* set by the caller when MTA-STS enforce raised it to verify */
};

/* "none", "may", ... as main.cf writes them. */
const char *smtp_tls_level_name(enum smtp_tls_level level);

/*
 * The level for a next hop: smtp_tls_policy_maps looked up as the next
 * hop as written ("[host]:port", "[host]"), then the domain, then
 * ".parent" domains; else smtp_tls_security_level. "dane" with
 * smtp_dns_support_level != dnssec becomes "may" (as Postfix);
 * "dane-only" stays and fails closed (no validated TLSA can exist).
 * match/protocols/ciphers not given by the table stay NULL: then
 * smtp_tls_connect uses main.cf (smtp_tls_verify_cert_match at verify,
 * smtp_tls_secure_cert_match at secure, "hostname:nexthop" for DANE-TA
 * names; smtp_tls_mandatory_* at encrypt and above, smtp_tls_* at may).
 * 0 ok, -1 bad table entry or map failure (err says which; the caller
 * defers). Free *p with smtp_tls_policy_free either way.
 */
int smtp_tls_policy_lookup(const char *nexthop, const char *domain, struct smtp_tls_policy *p, struct buf *err);

/*
 * Pure parser of one table value ("secure match=example.com:.example.com
 * protocols=>=TLSv1.2 ciphers=high"), exposed for unit tests and fuzzing.
 * Does not read the configuration. 0 ok, -1 with a reason in err.
 */
int smtp_tls_policy_parse(const char *value, struct smtp_tls_policy *p, struct buf *err);
void smtp_tls_policy_free(struct smtp_tls_policy *p);

struct smtp_tls_info {
	bool used;		/* a TLS session was established */
	bool verified;		/* the peer was authenticated (CA chain + name, or DANE) */
	bool dane;		/* authenticated by TLSA records */
	bool resumed;		/* a cached session was resumed */
	const char *trust;	/* "Anonymous", "Untrusted", "Trusted", "Verified" as Postfix logs */
	char protocol[32];
	char cipher[128];
	char peer_cn[256];	/* subject CN, control characters replaced by '?' */
	int bits, alg_bits;	/* cipher strength as Postfix logs "(256/256 bits)" */
};

/* A validated TLSA record (the same layout as lib/mail/dns.h). */
struct dns_tlsa;

/*
 * Handshake on a connected socket after the server's 220 to STARTTLS.
 * host = the MX host name (SNI and the "hostname" match), port for the
 * session cache key, nexthop_domain for nexthop/dot-nexthop matches.
 * tlsa/ntlsa from DNS (validated; NULL when none): with DANE levels they
 * decide (usage 3 DANE-EE and 2 DANE-TA; 0/1 ignored as RFC 7672 says).
 * Returns the SSL* (caller uses SSL_read/SSL_write and smtp_tls_close)
 * or NULL with why ("Server certificate not verified", "certificate
 * name mismatch", "TLSA records do not match", handshake errors).
 * deadline_ms: absolute CLOCK_MONOTONIC ms for the whole handshake (the
 * socket is non-blocking and polled meanwhile; its flags are restored).
 * At verify, secure, dane (with usable TLSA) and dane-only a returned SSL
 * is authenticated: a failed check fails the handshake. At may and
 * encrypt nothing is checked; info->trust says what would have held.
 * With p->from_sts and no match list, the certificate must name the MX
 * host (RFC 8461 4.1). The caller ignores SIGPIPE (a peer may vanish).
 * A session is offered again to the same host, port and policy (level,
 * match names, TLSA digest) later in the process; info->resumed says so.
 */
SSL *smtp_tls_connect(int fd, const char *host, const char *nexthop_domain, const struct smtp_tls_policy *p,
		      const struct dns_tlsa *tlsa, size_t ntlsa, long long deadline_ms, struct smtp_tls_info *info,
		      struct buf *why);
/* The same with an explicit port for the session cache key (smtp_tls_connect uses 25). */
SSL *smtp_tls_connect_port(int fd, const char *host, unsigned port, const char *nexthop_domain,
			   const struct smtp_tls_policy *p, const struct dns_tlsa *tlsa, size_t ntlsa,
			   long long deadline_ms, struct smtp_tls_info *info, struct buf *why);
/* close_notify (best effort, no waiting), then free. NULL is fine. */
void smtp_tls_close(SSL *ssl);

/*
 * Once per process: the SSL_CTX from smtp_tls_CAfile, smtp_tls_CApath
 * (both empty: the system default paths). 0, or -1 with err.
 */
int smtp_tls_init(struct buf *err);
/* Free the context and the session cache (tests, clean exit). */
void smtp_tls_shutdown(void);

/*
 * What the caller may do for this handshake given the TLSA records it
 * found (RFC 7672 2.2): a dane level with usable records (usage 2 or 3)
 * stays dane; dane with records but none usable acts as encrypt (TLS
 * required, no authentication); dane with no records acts as may;
 * dane-only stays dane-only (and smtp_tls_connect fails without usable
 * records). Other levels are returned unchanged.
 */
enum smtp_tls_level smtp_tls_effective_level(enum smtp_tls_level level, const struct dns_tlsa *tlsa, size_t ntlsa);

/*
 * Appends "Verified TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256
 * bits)" [" by DANE"] [" resumed"], or "none" when TLS was not used: for
 * the per-recipient log line and the Received: header.
 */
void smtp_tls_describe(const struct smtp_tls_info *info, struct buf *out);
/* Logs Postfix's "Verified TLS connection established to RELAY: TLSv1.3 with cipher ... (256/256 bits)". */
void smtp_tls_log_established(const struct smtp_tls_info *info, const char *relay);

#endif
