/*
 * dns.c - DNS lookups through libunbound, validating with DNSSEC when it
 * is turned on (see dns.h for the interface and its guarantees).
 *
 * Mail layer, no privileges: runs in the smtp delivery program and in
 * smtpd's DNS worker threads. One ub_ctx per process, configured once by
 * dns_init and then only read; ub_resolve is thread-safe on it.
 */
#include "compat.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unbound.h>

#include "mail/dns.h"
#include "util/mem.h"

/* RR types (RFC 1035, 3596, 6698). */
enum { T_A = 1, T_PTR = 12, T_MX = 15, T_TXT = 16, T_AAAA = 28, T_TLSA = 52 };
enum { C_IN = 1 };
/* RCODEs (RFC 1035 4.1.1). */
enum { R_NOERROR = 0, R_FORMERR = 1, R_SERVFAIL = 2, R_NXDOMAIN = 3, R_NOTIMP = 4, R_REFUSED = 5 };

static struct ub_ctx *ctx;
/*
 * Lookups are asked with ub_resolve_async and waited for here, so that
 * each has a deadline (DNS_LOOKUP_DEADLINE_S). ub_process runs the
 * callbacks of whichever lookups have answered, possibly another
 * thread's: the lock makes the callback's writes and the waiter's reads
 * of one struct pending orderly.
 */
static pthread_mutex_t lookup_lock = PTHREAD_MUTEX_INITIALIZER;
/* The longest one lookup may take (dns_conf's deadline_s). */
static int deadline_s = DNS_LOOKUP_DEADLINE_S;

struct pending {
	bool done;
	int err;
	struct ub_result *r;
};

void dns_end(void)
{
	if (ctx != NULL)
		ub_ctx_delete(ctx);
	ctx = NULL;
}

/* "ip[@port] ip[@port] ..." (blanks or commas between) as forwarders. */
static int set_servers(const char *servers, struct buf *err)
{
	char *copy = xstrdup(servers), *save = NULL;
	int n = 0, r = 0;

	for (char *w = strtok_r(copy, " \t,", &save); w != NULL; w = strtok_r(NULL, " \t,", &save)) {
		int e = ub_ctx_set_fwd(ctx, w);
		if (e != 0) {
			buf_printf(err, "DNS server \"%s\": %s", w, ub_strerror(e));
			r = -1;
			break;
		}
		n++;
	}
	if (r == 0 && n == 0) {
		buf_adds(err, "no DNS server given");
		r = -1;
	}
	free(copy);
	return r;
}

bool dns_ready(void)
{
	return ctx != NULL;
}

int dns_init(const struct dns_conf *c, struct buf *err)
{
	int e;

	dns_end();
	deadline_s = c->deadline_s > 0 ? c->deadline_s : DNS_LOOKUP_DEADLINE_S;
	ctx = ub_ctx_create();
	if (ctx == NULL) {
		buf_adds(err, "cannot create the DNS resolver context");
		return -1;
	}
	/*
	 * Name servers on the loopback (a local caching resolver, the
	 * usual case for DNSSEC) must be usable; unbound's default refuses
	 * to send queries to 127.0.0.0/8 and ::1.
	 */
	/*
	 * Reverse zones of private addresses (RFC 1918) are served by the
	 * site's resolver: unbound would answer them itself with NXDOMAIN,
	 * which makes every LAN client "unknown" to smtpd. They are
	 * unsigned, so with DNSSEC on they must also be allowed insecure.
	 */
	/*
	 * The first wait for a server not heard from yet: Tern asks the
	 * site's resolver, which may need seconds to recurse on a cache
	 * miss; unbound's 376 ms (tuned for authoritative servers) would
	 * send each question several times. 5 s, as the C library waits.
	 */
	/* Asynchronous lookups in a thread of this process, not a forked one. */
	if ((e = ub_ctx_async(ctx, 1)) != 0 ||
	    (e = ub_ctx_set_option(ctx, "do-not-query-localhost:", "no")) != 0 ||
	    (e = ub_ctx_set_option(ctx, "unknown-server-time-limit:", "5000")) != 0 ||
	    (e = ub_ctx_set_option(ctx, "unblock-lan-zones:", "yes")) != 0 ||
	    (e = ub_ctx_set_option(ctx, "insecure-lan-zones:", "yes")) != 0) {
		buf_printf(err, "DNS resolver option: %s", ub_strerror(e));
		goto fail;
	}
	if (c->servers != NULL) {
		if (set_servers(c->servers, err) < 0)
			goto fail;
	} else if ((e = ub_ctx_resolvconf(ctx, NULL)) != 0) {
		buf_printf(err, "/etc/resolv.conf: %s", ub_strerror(e));
		goto fail;
	}
	if (c->dnssec) {
		const char *f = c->trust_anchor_file;
		if (f == NULL || *f == '\0') {
			buf_adds(err, "DNSSEC is on but no trust anchor file is set");
			goto fail;
		}
		/* libunbound reads the file only at the first lookup: check
		 * now that it can be read, so the error shows at start-up. */
		FILE *fp = fopen(f, "r");
		if (fp == NULL) {
			buf_printf(err, "trust anchor file %s: %s", f, strerror(errno));
			goto fail;
		}
		fclose(fp);
		if ((e = ub_ctx_add_ta_file(ctx, f)) != 0) {
			buf_printf(err, "trust anchor file %s: %s", f, ub_strerror(e));
			goto fail;
		}
	}
	/* val-log-level 2: why_bogus names the failing record. */
	if ((e = ub_ctx_set_option(ctx, "val-log-level:", "2")) != 0) {
		buf_printf(err, "DNS resolver set-up: %s", ub_strerror(e));
		goto fail;
	}
	/*
	 * RFC 6761 lets a site's own resolver serve names under .test (test
	 * networks, staging); Tern asks that resolver as the C library would,
	 * so libunbound's built-in NXDOMAIN for .test is turned off. Last:
	 * adding a zone finalizes the context's configuration.
	 */
	if ((e = ub_ctx_zone_add(ctx, "test.", "nodefault")) != 0) {
		buf_printf(err, "DNS resolver set-up: %s", ub_strerror(e));
		goto fail;
	}
	return 0;
fail:
	dns_end();
	return -1;
}

void dns_answer_init(struct dns_answer *a)
{
	memset(a, 0, sizeof(*a));
	a->status = DNS_TEMPFAIL;
}

static void free_strings(char **v, size_t n)
{
	if (v == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void dns_answer_free(struct dns_answer *a)
{
	free(a->mx);
	free(a->addr);
	if (a->tlsa != NULL)
		for (size_t i = 0; i < a->n; i++)
			free(a->tlsa[i].data);
	free(a->tlsa);
	free_strings(a->txt, a->n);
	free_strings(a->names, a->n);
	dns_answer_init(a);
}

/* The reverse-lookup name of an address string; -1 when it is not one. */
static int ptr_name(const char *addr, char *out, size_t size)
{
	unsigned char b[16];
	size_t o = 0;

	if (inet_pton(AF_INET, addr, b) == 1) {
		snprintf(out, size, "%u.%u.%u.%u.in-addr.arpa", b[3], b[2], b[1], b[0]);
		return 0;
	}
	if (inet_pton(AF_INET6, addr, b) != 1)
		return -1;
	for (int i = 15; i >= 0; i--)
		o += (size_t)snprintf(out + o, size - o, "%x.%x.", b[i] & 0xf, b[i] >> 4);
	snprintf(out + o, size - o, "ip6.arpa");
	return 0;
}

static void set_why(struct dns_answer *a, const char *fmt, const char *arg)
{
	snprintf(a->why, sizeof(a->why), fmt, arg);
}

/* Copy the usable records of the asked type; returns how many were bad. */
static size_t take_records(struct ub_result *r, enum dns_type type, struct dns_answer *a)
{
	size_t count = 0, bad = 0;

	while (r->data[count] != NULL)
		count++;
	switch (type) {
	case DNS_MX:
		a->mx = xcalloc(count ? count : 1, sizeof(*a->mx));
		break;
	case DNS_A:
	case DNS_AAAA:
		a->addr = xcalloc(count ? count : 1, sizeof(*a->addr));
		break;
	case DNS_TLSA:
		a->tlsa = xcalloc(count ? count : 1, sizeof(*a->tlsa));
		break;
	case DNS_TXT:
		a->txt = xcalloc(count ? count : 1, sizeof(*a->txt));
		break;
	case DNS_PTR:
		a->names = xcalloc(count ? count : 1, sizeof(*a->names));
		break;
	}
	for (size_t i = 0; i < count; i++) {
		const unsigned char *d = (const unsigned char *)r->data[i];
		size_t len = r->len[i] < 0 ? 0 : (size_t)r->len[i];
		int ok = -1;

		switch (type) {
		case DNS_MX:
			ok = dns_parse_mx(d, len, &a->mx[a->n]);
			break;
		case DNS_A:
			if (len == 4) {
				struct sockaddr_in *s = (struct sockaddr_in *)&a->addr[a->n];
				s->sin_family = AF_INET;
				memcpy(&s->sin_addr, d, 4);
				ok = 0;
			}
			break;
		case DNS_AAAA:
			if (len == 16) {
				struct sockaddr_in6 *s = (struct sockaddr_in6 *)&a->addr[a->n];
				s->sin6_family = AF_INET6;
				memcpy(&s->sin6_addr, d, 16);
				ok = 0;
			}
			break;
		case DNS_TLSA:
			ok = dns_parse_tlsa(d, len, &a->tlsa[a->n]);
			break;
		case DNS_TXT:
			ok = dns_parse_txt(d, len, &a->txt[a->n]);
			break;
		case DNS_PTR: {
			char name[DNS_NAME_MAX + 1];
			size_t off = 0;
			ok = dns_parse_name(d, len, &off, name);
			if (ok == 0 && (off != len || name[0] == '\0'))
				ok = -1;
			if (ok == 0)
				a->names[a->n] = xstrdup(name);
			break;
		}
		}
		if (ok == 0)
			a->n++;
		else
			bad++;
	}
	return bad;
}

static const int rrtypes[] = {
	[DNS_MX] = T_MX, [DNS_A] = T_A, [DNS_AAAA] = T_AAAA,
	[DNS_TLSA] = T_TLSA, [DNS_TXT] = T_TXT, [DNS_PTR] = T_PTR,
};
static const char *const type_names[] = {
	[DNS_MX] = "MX", [DNS_A] = "A", [DNS_AAAA] = "AAAA",
	[DNS_TLSA] = "TLSA", [DNS_TXT] = "TXT", [DNS_PTR] = "PTR",
};

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Runs inside ub_process, with lookup_lock held. */
static void on_answer(void *arg, int err, struct ub_result *r)
{
	struct pending *p = arg;

	p->err = err;
	p->r = r;
	p->done = true;
}

/*
 * ub_resolve with a deadline: 0 with *out, a ub error, or 1 when no
 * answer came in time (the question is cancelled). Waits in slices so
 * that a thread whose answer another thread's ub_process took sees it.
 */
static int resolve(const char *qname, int rrtype, struct ub_result **out)
{
	struct pending p = {0};
	long long deadline = now_ms() + deadline_s * 1000LL;
	int id, e;

	pthread_mutex_lock(&lookup_lock);
	e = ub_resolve_async(ctx, qname, rrtype, C_IN, &p, on_answer, &id);
	pthread_mutex_unlock(&lookup_lock);
	if (e != 0)
		return e;
	for (;;) {
		struct pollfd pfd = {.fd = ub_fd(ctx), .events = POLLIN};
		long long left;

		pthread_mutex_lock(&lookup_lock);
		if (!p.done && ub_poll(ctx))
			e = ub_process(ctx);
		left = deadline - now_ms();
		if (!p.done && (e != 0 || left <= 0)) {
			ub_cancel(ctx, id);	/* on_answer will not run for it */
			pthread_mutex_unlock(&lookup_lock);
			return e != 0 ? e : 1;
		}
		pthread_mutex_unlock(&lookup_lock);
		if (p.done)
			break;
		poll(&pfd, 1, left > 100 ? 100 : (int)left);
	}
	if (p.err != 0) {
		ub_resolve_free(p.r);
		return p.err;
	}
	*out = p.r;
	return 0;
}

int dns_lookup(const char *name, enum dns_type type, struct dns_answer *a)
{
	char qname[DNS_NAME_MAX + 2];
	struct ub_result *r = NULL;
	int e;

	dns_answer_free(a);
	if ((unsigned)type >= sizeof(rrtypes) / sizeof(rrtypes[0])) {
		set_why(a, "%s", "unknown record type");
		return a->status = DNS_TEMPFAIL;
	}
	if (ctx == NULL) {
		set_why(a, "%s", "no DNS resolver set up");
		return a->status = DNS_TEMPFAIL;
	}
	if (type == DNS_PTR) {
		if (ptr_name(name, qname, sizeof(qname)) < 0) {
			set_why(a, "\"%.200s\" is not an IP address", name);
			return a->status = DNS_NXDOMAIN;
		}
	} else {
		size_t l = strlen(name);
		/* The name is always absolute: no search list, no ndots. */
		if (l == 0 || l > DNS_NAME_MAX - 2 || name[0] == '.' || strstr(name, "..") != NULL) {
			set_why(a, "%s", "Host not found (malformed name)");
			return a->status = DNS_NXDOMAIN;
		}
		memcpy(qname, name, l + 1);
	}
	snprintf(a->canon, sizeof(a->canon), "%s", qname);
	if ((e = resolve(qname, rrtypes[type], &r)) != 0) {
		if (e == 1)
			snprintf(a->why, sizeof(a->why), "no answer from the DNS server within %d s",
			    deadline_s);
		else
			set_why(a, "resolver: %s", ub_strerror(e));
		return a->status = DNS_TEMPFAIL;
	}
	/* A bogus answer is never used, not even its RCODE or CNAMEs. */
	if (r->bogus) {
		set_why(a, "bogus: %.240s", r->why_bogus ? r->why_bogus : "DNSSEC validation failed");
		a->status = DNS_BOGUS;
		goto done;
	}
	a->secure = r->secure != 0;
	if (r->canonname != NULL) {
		size_t l = strlen(r->canonname);
		if (l > 1 && r->canonname[l - 1] == '.')
			l--;
		if (l <= DNS_NAME_MAX) {
			memcpy(a->canon, r->canonname, l);
			a->canon[l] = '\0';
		}
	}
	if (r->nxdomain || r->rcode == R_NXDOMAIN) {
		set_why(a, "%s", "Host not found");
		a->status = DNS_NXDOMAIN;
		goto done;
	}
	if (r->rcode != R_NOERROR) {
		set_why(a, "%s", r->rcode == R_SERVFAIL ? "SERVFAIL" : r->rcode == R_REFUSED ? "REFUSED"
		    : r->rcode == R_FORMERR ? "FORMERR" : r->rcode == R_NOTIMP ? "NOTIMP" : "name server error");
		a->status = DNS_TEMPFAIL;
		goto done;
	}
	if (!r->havedata) {
		set_why(a, "no %s record", type_names[type]);
		a->status = DNS_NODATA;
		goto done;
	}
	size_t bad = take_records(r, type, a);
	if (a->n == 0) {
		/* Records that are all malformed: the zone or the path to it is
		 * broken; try again later rather than act as if none existed. */
		set_why(a, "malformed %s record", type_names[type]);
		a->status = DNS_TEMPFAIL;
		goto done;
	}
	if (type == DNS_MX)
		dns_sort_mx(a->mx, a->n, &a->null_mx, NULL, NULL);
	if (bad > 0)
		snprintf(a->why, sizeof(a->why), "%zu malformed %s record(s) skipped", bad, type_names[type]);
	a->status = DNS_OK;
done:
	ub_resolve_free(r);
	return a->status;
}
