/*
 * dns.h - Tern's one DNS module: MX, A, AAAA, TLSA, TXT and PTR lookups
 * through libunbound, with DNSSEC validation when it is turned on.
 *
 * Mail layer, no privileges needed: it runs in the smtp delivery program
 * (mail_owner, one lookup at a time) and in smtpd's restriction workers.
 * One resolver context per process, made by dns_init (or
 * dns_init_from_config) before any lookup and never changed afterwards.
 *
 * Threads: dns_lookup may be called from several threads at once on the
 * one context. libunbound documents its functions as thread-safe and a
 * context as usable from a threaded program; ub_resolve (the blocking
 * call used here) takes the context's locks itself. dns_init is not
 * thread-safe: call it once, before the threads start.
 *
 * DNSSEC: with dnssec on, an answer that validates has secure = true; a
 * bogus answer gives DNS_BOGUS and none of its data; an insecure answer
 * (no trust anchor covers the name) is returned as found, secure = false.
 * With dnssec off no trust anchor is loaded and secure is always false.
 *
 * Resolution: every question is forwarded to the servers of dns_conf or
 * /etc/resolv.conf (never iterated from the root); names are absolute
 * (no search list). Names under .test and reverse zones of private
 * addresses go to those servers too, not answered NXDOMAIN by
 * libunbound. A lookup blocks until it has an answer or for at most
 * DNS_LOOKUP_DEADLINE_S, or dns_conf's deadline_s (then DNS_TEMPFAIL,
 * "no answer ... within");
 * libunbound by itself would wait about 35 s when no server answers.
 *
 * Everything in an answer is bounded and checked: RDATA lengths are never
 * trusted, names are decoded only within their RDATA. libunbound hands
 * over RDATA without its packet (it expands the compressed names of the
 * types it knows, MX and PTR among them, when it parses a reply), so a
 * compression pointer still inside RDATA cannot be followed: it is an
 * error for that record, which is skipped.
 */
#ifndef TERN_MAIL_DNS_H
#define TERN_MAIL_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "util/buf.h"

enum dns_status {
	DNS_OK,
	DNS_NODATA,     /* name exists, no such record */
	DNS_NXDOMAIN,   /* name does not exist */
	DNS_TEMPFAIL,   /* SERVFAIL, REFUSED, timeout, no resolver */
	DNS_BOGUS       /* DNSSEC validation failed */
};

#define DNS_NAME_MAX 255

/*
 * The longest one lookup may take: 30 s, the default smtp_connect_timeout
 * (Postfix has no parameter for it: its resolver's own retries bound a
 * lookup). A dead resolver then holds a delivery no longer than a dead
 * server would at the connect stage.
 */
#define DNS_LOOKUP_DEADLINE_S 30

struct dns_mx {
	unsigned pref;
	char host[DNS_NAME_MAX + 1];    /* no trailing dot; "" for the root */
};

struct dns_tlsa {
	unsigned char usage, selector, mtype;
	unsigned char *data;            /* owned by the answer */
	size_t len;
};

struct dns_answer {
	enum dns_status status;
	bool secure;              /* validated by DNSSEC (only with dnssec on) */
	char why[256];            /* for logs: "Host not found", "SERVFAIL", "bogus: ..." */
	size_t n;                 /* records of the asked type */
	struct dns_mx *mx;        /* DNS_MX: sorted by preference, equal preferences shuffled; */
	bool null_mx;             /*   RFC 7505 "0 ." (the only MX record) */
	struct sockaddr_storage *addr; /* DNS_A / DNS_AAAA, port 0 */
	struct dns_tlsa *tlsa;
	char **txt;               /* DNS_TXT: each record's strings joined */
	char **names;             /* DNS_PTR, no trailing dot */
	char canon[DNS_NAME_MAX + 1]; /* the canonical name after CNAMEs */
};

enum dns_type { DNS_MX, DNS_A, DNS_AAAA, DNS_TLSA, DNS_TXT, DNS_PTR };

struct dns_conf {
	bool dnssec;
	const char *trust_anchor_file;  /* read only with dnssec on */
	const char *servers;            /* NULL: /etc/resolv.conf; else "ip[@port] ..." */
	int deadline_s;                 /* 0: DNS_LOOKUP_DEADLINE_S (tests set less) */
};

/* Once per process, before any lookup (and before threads); -1 with err. */
int dns_init(const struct dns_conf *c, struct buf *err);
/*
 * From main.cf: smtp_dns_support_level ("dnssec" turns validation on)
 * and dns_trust_anchor_file. -1 with err.
 */
int dns_init_from_config(struct buf *err);
/* Release the context (tests, and programs that re-read their config). */
void dns_end(void);
/* Has dns_init succeeded (and dns_end not been called since)? */
bool dns_ready(void);

void dns_answer_init(struct dns_answer *a);
void dns_answer_free(struct dns_answer *a);   /* and leaves it as dns_answer_init did */

/*
 * Look name up. Returns a->status (a is freed and refilled first). For
 * TLSA, name is "_25._tcp.host" (the caller builds it); for PTR, name is
 * an IPv4 or IPv6 address string. Without dns_init: DNS_TEMPFAIL.
 */
int dns_lookup(const char *name, enum dns_type type, struct dns_answer *a);

/*
 * Pure parsers of RDATA (wire format), exposed for the unit tests and a
 * libFuzzer target. Each returns 0, or -1 when rdata is malformed
 * (truncated, trailing bytes, a compression pointer, a bad label).
 * dns_parse_tlsa's out->data and dns_parse_txt's *out are allocated on
 * success (caller frees); nothing is allocated on failure.
 */
int dns_parse_mx(const unsigned char *rdata, size_t len, struct dns_mx *out);
int dns_parse_tlsa(const unsigned char *rdata, size_t len, struct dns_tlsa *out);
int dns_parse_txt(const unsigned char *rdata, size_t len, char **out);
/*
 * Decode an uncompressed domain name of rdata at *off into out (dotted,
 * no trailing dot, "" for the root), advancing *off. -1 when malformed.
 */
int dns_parse_name(const unsigned char *rdata, size_t len, size_t *off,
    char out[DNS_NAME_MAX + 1]);
/*
 * Sort MX records by preference, shuffling equal preferences (RFC 5321
 * section 5.1); sets *null_mx when the set is the single RFC 7505 "0 .".
 * rnd is a random source for the shuffle (NULL: random()).
 */
void dns_sort_mx(struct dns_mx *mx, size_t n, bool *null_mx,
    unsigned (*rnd)(void *), void *arg);

#endif
