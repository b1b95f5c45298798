/*
 * smtp_int.h - the pieces of the smtp delivery program behind
 * smtp_deliver(): routing a next hop to server addresses
 * (smtp_route.c) and one SMTP session over a socket (smtp_session.c).
 *
 * Runs in the smtp program, as mail_owner; one delivery at a time per
 * process, so every wait here is a blocking one with a deadline.
 */
#ifndef TERN_SMTP_INT_H
#define TERN_SMTP_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include <openssl/ssl.h>

#include "mail/dns.h"
#include "mail/smtpc.h"
#include "smtp/smtp_tls.h"
#include "util/buf.h"

/* --- routing (smtp_route.c) --------------------------------------------- */

/* One server address to try, in order. */
struct smtp_target {
	char host[DNS_NAME_MAX + 1];	/* MX host (or the next hop's name) */
	struct sockaddr_storage addr;	/* with the port set */
	socklen_t alen;
	unsigned pref;			/* MX preference (0 without MX) */
	bool secure;			/* MX (if any) and address answers DNSSEC-validated */
};

enum smtp_route_status { ROUTE_OK, ROUTE_DEFER, ROUTE_BOUNCE };

struct smtp_route {
	enum smtp_route_status status;
	char dsn[16];			/* DEFER/BOUNCE: enhanced status */
	struct buf why;			/* DEFER/BOUNCE: reason for the log and the bounce */
	char domain[DNS_NAME_MAX + 1];	/* the next-hop domain, lower case, no brackets or port */
	unsigned port;
	bool literal;			/* [host]: no MX lookup */
	bool via_mx;			/* the targets come from MX records of domain */
	bool mx_secure;			/* the MX answer was validated */
	struct smtp_target *t;
	size_t n;
};

void smtp_route_init(struct smtp_route *r);
void smtp_route_free(struct smtp_route *r);
/*
 * Split a next hop as written ("example.com", "[mx.example]:587",
 * "host:2525", "[192.0.2.1]", "[ipv6:2001:db8::1]") into a name, the
 * port (25 when none) and whether it was bracketed. -1 when malformed.
 */
int smtp_nexthop_parse(const char *nexthop, char *name, size_t size, unsigned *port, bool *literal);
/* Where mail for nexthop goes: r->status says whether r->t can be tried. */
void smtp_route(const char *nexthop, struct smtp_route *r);
/* Keep only the targets whose host keep(host, ctx) accepts (MTA-STS). */
void smtp_route_filter(struct smtp_route *r, bool (*keep)(const char *host, void *ctx), void *ctx);

/* --- one session (smtp_session.c) ----------------------------------------- */

struct smtp_sess {
	int fd;
	SSL *ssl;
	struct smtpc *pc;
	char host[DNS_NAME_MAX + 1];
	char relay[300];		/* "host[addr]:port" for logs */
	unsigned port;
	char key[600];			/* connection cache key */
	struct smtp_tls_info tls;
	long long opened_ms, idle_ms;	/* CLOCK_MONOTONIC */
	bool tls_failed;		/* a handshake failed: may tries again in clear */
	bool broken;			/* not reusable */
	bool timed_out;			/* broken by a stage's deadline, not by the server */
	bool content_gone;		/* the queue file left active/ while it was sent */
};

/* Why smtp_session_open() failed. */
struct smtp_open_fail {
	int code;			/* the server's reply code, 0 none (or Tern's own refusal: 450) */
	char dsn[16];
	enum smtpc_stage stage;		/* where it failed */
	char relay[300];		/* "host[addr]:port" once connected, "" when the connection failed */
};

long long smtp_now_ms(void);
/* "host[addr]:port" of a target, as logs show it; returns the port. */
unsigned smtp_relay_name(const struct smtp_target *t, char *out, size_t size);
/*
 * Connect to t and run the greeting, EHLO, STARTTLS (as pol says) and
 * AUTH (user/pass or NULL) up to READY. NULL on failure with the code
 * the server gave (0: none, connection or TLS trouble), the enhanced
 * status and the reason ("connect to h[a]:25: Connection refused",
 * "host h[a] said: 554 ... (in reply to initial greeting)").
 */
struct smtp_sess *smtp_session_open(const struct smtp_target *t, const char *nexthop_domain,
    const struct smtp_tls_policy *pol, bool tls_off, const struct dns_tlsa *tlsa, size_t ntlsa,
    const char *user, const char *pass, struct smtp_open_fail *fail, struct buf *why);
/*
 * One transaction on a READY session, the content read from q. Results
 * are in txn (the engine's per-recipient and message replies). -1 when
 * the session broke (the rest of txn is what was known).
 */
struct qfile;
int smtp_session_send(struct smtp_sess *s, struct smtpc_txn *txn, struct qfile *q,
    const struct buf *content, bool content_8bit);
/* Is a cached idle session still usable (no EOF, no unsolicited bytes)? */
bool smtp_session_alive(struct smtp_sess *s);
void smtp_session_close(struct smtp_sess *s, bool quit);

#endif
