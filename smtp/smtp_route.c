/*
 * smtp_route.c - from a next hop to the server addresses to try, in
 * order: RFC 5321 section 5.1 with RFC 7505's null MX.
 *
 * Runs in the smtp program as mail_owner. "[host]" and "[address]" are
 * used as written (no MX lookup); "host" means the host's MX records,
 * sorted by preference with equal preferences shuffled (lib/mail/dns.c),
 * or its own address records when it has no MX. A null MX ("0 .")
 * bounces at once (5.1.10), a name that does not exist bounces (5.1.2),
 * a lookup that fails temporarily or whose DNSSEC signatures do not
 * validate defers (4.4.3), as Postfix does. smtp_host_lookup = native
 * (or smtp_dns_support_level = disabled) uses the host's name service
 * (getaddrinfo, /etc/hosts) and no MX records. inet_protocols says which
 * address families are tried, smtp_address_preference which comes first,
 * smtp_mx_address_limit how many addresses in all.
 */
#include "compat.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mail/config.h"
#include "smtp/smtp_int.h"
#include "util/mem.h"

void smtp_route_init(struct smtp_route *r)
{
	memset(r, 0, sizeof(*r));
	buf_init(&r->why);
}

void smtp_route_free(struct smtp_route *r)
{
	free(r->t);
	buf_free(&r->why);
	r->t = NULL;
	r->n = 0;
}

static unsigned port_of(const char *s)
{
	char *end;
	long v;

	if (strcmp(s, "smtp") == 0)
		return 25;
	if (strcmp(s, "submission") == 0)
		return 587;
	if (strcmp(s, "submissions") == 0 || strcmp(s, "smtps") == 0)
		return 465;
	v = strtol(s, &end, 10);
	return *s && *end == '\0' && v > 0 && v < 65536 ? (unsigned)v : 0;
}

int smtp_nexthop_parse(const char *nexthop, char *name, size_t size, unsigned *port, bool *literal)
{
	const char *p = nexthop, *end, *colon = NULL;
	size_t len;

	*port = 25;
	*literal = false;
	if (*p == '[') {
		end = strchr(p, ']');
		if (end == NULL)
			return -1;
		*literal = true;
		p++;
		if (strncasecmp(p, "ipv6:", 5) == 0)
			p += 5;
		len = (size_t)(end - p);
		if (end[1] == ':')
			colon = end + 1;
		else if (end[1] != '\0')
			return -1;
	} else {
		colon = strrchr(p, ':');
		len = colon ? (size_t)(colon - p) : strlen(p);
	}
	if (colon != NULL && (*port = port_of(colon + 1)) == 0)
		return -1;
	if (len == 0 || len >= size)
		return -1;
	memcpy(name, p, len);
	name[len] = '\0';
	for (char *c = name; *c; c++) {
		if (isspace((unsigned char)*c) || *c == '[' || *c == ']')
			return -1;
		*c = (char)tolower((unsigned char)*c);
	}
	if (len > 1 && name[len - 1] == '.')
		name[len - 1] = '\0';
	return 0;
}

static bool family_on(int family)
{
	char **l = cfg_list(P_inet_protocols);
	bool on = false;

	for (size_t i = 0; l != NULL && l[i] != NULL; i++)
		if (strcmp(l[i], "all") == 0 || (family == AF_INET && strcmp(l[i], "ipv4") == 0)
		    || (family == AF_INET6 && strcmp(l[i], "ipv6") == 0))
			on = true;
	return on;
}

static bool use_dns(void)
{
	char **l = cfg_list(P_smtp_host_lookup);
	bool dns = false;

	if (strcmp(cfg_str(P_smtp_dns_support_level), "disabled") == 0)
		return false;
	for (size_t i = 0; l != NULL && l[i] != NULL; i++)
		if (strcmp(l[i], "dns") == 0)
			dns = true;
	return dns;
}

static bool use_native(void)
{
	char **l = cfg_list(P_smtp_host_lookup);

	if (!use_dns())
		return true;
	for (size_t i = 0; l != NULL && l[i] != NULL; i++)
		if (strcmp(l[i], "native") == 0)
			return true;
	return false;
}

static void add_target(struct smtp_route *r, const char *host, const struct sockaddr_storage *ss,
    unsigned pref, bool secure)
{
	struct smtp_target *t;

	r->t = xreallocarray(r->t, r->n + 1, sizeof(*r->t));
	t = &r->t[r->n++];
	memset(t, 0, sizeof(*t));
	strlcpy(t->host, host, sizeof(t->host));
	t->addr = *ss;
	t->pref = pref;
	t->secure = secure;
	if (ss->ss_family == AF_INET6) {
		((struct sockaddr_in6 *)&t->addr)->sin6_port = htons((unsigned short)r->port);
		t->alen = sizeof(struct sockaddr_in6);
	} else {
		((struct sockaddr_in *)&t->addr)->sin_port = htons((unsigned short)r->port);
		t->alen = sizeof(struct sockaddr_in);
	}
}

/* Postfix's wording for a failed lookup: name, record type, the resolver's reason. */
#define NAME_ERROR "Host or domain name not found. Name service error for name=%s type=%s: %s"

static void set_status(struct smtp_route *r, enum smtp_route_status st, const char *dsn,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void set_status(struct smtp_route *r, enum smtp_route_status st, const char *dsn,
    const char *fmt, ...)
{
	va_list ap;

	r->status = st;
	strlcpy(r->dsn, dsn, sizeof(r->dsn));
	buf_reset(&r->why);
	va_start(ap, fmt);
	buf_vprintf(&r->why, fmt, ap);
	va_end(ap);
}

/* The host's addresses through the name service; 1 some added, 0 none (why set). */
static int native_addrs(struct smtp_route *r, const char *host, unsigned pref)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
	int rc, added = 0;

	hints.ai_family = family_on(AF_INET) && family_on(AF_INET6) ? AF_UNSPEC
	    : family_on(AF_INET6) ? AF_INET6 : AF_INET;
	rc = getaddrinfo(host, NULL, &hints, &res);
	if (rc != 0) {
		bool hard = rc == EAI_NONAME;
#ifdef EAI_NODATA
		hard = hard || rc == EAI_NODATA;
#endif
		set_status(r, hard ? ROUTE_BOUNCE : ROUTE_DEFER, hard ? "5.1.2" : "4.4.3", NAME_ERROR,
		    host, "A", gai_strerror(rc));
		return 0;
	}
	for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
		struct sockaddr_storage ss;

		if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) || ai->ai_addrlen > sizeof(ss))
			continue;
		memset(&ss, 0, sizeof(ss));
		memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
		add_target(r, host, &ss, pref, false);
		added = 1;
	}
	freeaddrinfo(res);
	return added;
}

/*
 * A host's A and AAAA records (in the order smtp_address_preference
 * says); 1 when some were added, 0 with r->status/why saying why not.
 */
static int dns_addrs(struct smtp_route *r, const char *host, unsigned pref, bool mx_secure)
{
	static const enum dns_type both[2] = {DNS_A, DNS_AAAA};
	const char *preferred = cfg_str(P_smtp_address_preference);
	int order[2] = {0, 1}, added = 0, asked = 0;

	if (strcmp(preferred, "ipv6") == 0 || (strcmp(preferred, "any") == 0 && (random() & 1))) {
		order[0] = 1;
		order[1] = 0;
	}
	for (int k = 0; k < 2; k++) {
		enum dns_type type = both[order[k]];
		struct dns_answer a;

		if (!family_on(type == DNS_A ? AF_INET : AF_INET6))
			continue;
		asked++;
		dns_answer_init(&a);
		switch (dns_lookup(host, type, &a)) {
		case DNS_OK:
			for (size_t i = 0; i < a.n; i++)
				add_target(r, host, &a.addr[i], pref, mx_secure && a.secure);
			added += a.n > 0;
			break;
		case DNS_NXDOMAIN:
			set_status(r, ROUTE_BOUNCE, "5.1.2", NAME_ERROR,
			    host, type == DNS_A ? "A" : "AAAA", "Host not found");
			break;
		case DNS_NODATA:
			if (r->status == ROUTE_OK || r->status == ROUTE_BOUNCE)
				set_status(r, ROUTE_BOUNCE, "5.1.2", NAME_ERROR,
				    host, type == DNS_A ? "A" : "AAAA",
				    "Host found but no data record of requested type");
			break;
		default:
			set_status(r, ROUTE_DEFER, "4.4.3", NAME_ERROR, host,
			    type == DNS_A ? "A" : "AAAA", *a.why ? a.why : "Host not found, try again");
			break;
		}
		dns_answer_free(&a);
	}
	if (asked == 0)
		set_status(r, ROUTE_DEFER, "4.4.4", "no address family enabled for name=%s (inet_protocols)",
		    host);
	return added > 0;
}

static void apply_limit(struct smtp_route *r)
{
	long long limit = cfg_int(P_smtp_mx_address_limit);

	if (limit > 0 && r->n > (size_t)limit)
		r->n = (size_t)limit;
}

void smtp_route(const char *nexthop, struct smtp_route *r)
{
	char name[DNS_NAME_MAX + 1];
	struct sockaddr_storage ss;
	struct dns_answer mx;

	smtp_route_free(r);
	smtp_route_init(r);
	if (smtp_nexthop_parse(nexthop, name, sizeof(name), &r->port, &r->literal) < 0) {
		set_status(r, ROUTE_BOUNCE, "5.3.5", "bad next-hop destination %s (transport_maps or relayhost)",
		    nexthop);
		return;
	}
	strlcpy(r->domain, name, sizeof(r->domain));
	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, name, &((struct sockaddr_in *)&ss)->sin_addr) == 1) {
		ss.ss_family = AF_INET;
		if (family_on(AF_INET))
			add_target(r, name, &ss, 0, false);
	} else if (inet_pton(AF_INET6, name, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
		ss.ss_family = AF_INET6;
		if (family_on(AF_INET6))
			add_target(r, name, &ss, 0, false);
	} else if (!use_dns()) {
		native_addrs(r, name, 0);
	} else if (r->literal) {
		if (!dns_addrs(r, name, 0, true) && use_native() && r->status != ROUTE_DEFER) {
			r->status = ROUTE_OK;
			native_addrs(r, name, 0);
		}
	} else {
		dns_answer_init(&mx);
		switch (dns_lookup(name, DNS_MX, &mx)) {
		case DNS_OK:
			if (mx.null_mx) {
				set_status(r, ROUTE_BOUNCE, "5.1.10", "Domain %s does not accept mail (nullMX)", name);
				break;
			}
			r->via_mx = true;
			r->mx_secure = mx.secure;
			for (size_t i = 0; i < mx.n; i++) {
				enum smtp_route_status before = r->status;
				dns_addrs(r, mx.mx[i].host, mx.mx[i].pref, mx.secure);
				if (r->n > 0)
					r->status = before;	/* one usable host is enough */
			}
			break;
		case DNS_NODATA:	/* RFC 5321 5.1: the domain's own addresses */
			if (!dns_addrs(r, name, 0, true) && use_native() && r->status != ROUTE_DEFER) {
				r->status = ROUTE_OK;
				native_addrs(r, name, 0);
			}
			break;
		case DNS_NXDOMAIN:
			if (use_native() && native_addrs(r, name, 0))
				break;
			set_status(r, ROUTE_BOUNCE, "5.1.2", NAME_ERROR, name,
			    "MX", "Host not found");
			break;
		default:
			set_status(r, ROUTE_DEFER, "4.4.3", NAME_ERROR, name,
			    "MX", *mx.why ? mx.why : "Host not found, try again");
			break;
		}
		dns_answer_free(&mx);
	}
	if (r->n > 0) {
		r->status = ROUTE_OK;
		apply_limit(r);
	} else if (r->status == ROUTE_OK) {
		set_status(r, ROUTE_DEFER, "4.4.4", "no usable address for %s (inet_protocols)", name);
	}
}

void smtp_route_filter(struct smtp_route *r, bool (*keep)(const char *host, void *ctx), void *ctx)
{
	size_t n = 0;

	for (size_t i = 0; i < r->n; i++)
		if (keep(r->t[i].host, ctx))
			r->t[n++] = r->t[i];
	r->n = n;
}
