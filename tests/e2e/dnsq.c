/*
 * dnsq.c - test program: one lookup through Tern's DNS module
 * (lib/mail/dns.h), printed in a stable form for end-to-end tests. Runs
 * as whoever runs the test; no privileges of its own.
 *
 *   dnsq [-s] [-a FILE] [-S SERVERS] [-t N] [-d SECONDS] TYPE NAME
 *
 *   TYPE     MX, A, AAAA, TLSA, TXT or PTR (NAME is then an address)
 *   -s       DNSSEC validation, with the trust anchors of -a FILE or of
 *            $DNSQ_ANCHOR
 *   -S       name servers ("ip[@port] ..."), instead of /etc/resolv.conf
 *   -t N     N threads do the same lookup at once on the one context; all
 *            answers must print the same (MX order aside), and the first
 *            is printed
 *   -d S     a lookup gives up after S seconds, not DNS_LOOKUP_DEADLINE_S
 *
 * Output: a line "STATUS secure|insecure canon=NAME" then one line per
 * record: "MX PREF HOST" (and "null MX"), "A ADDR", "TLSA U S M HEX",
 * "TXT TEXT", "PTR NAME"; then "why: ..." when there is a reason.
 * Exit 0 for DNS_OK, 1 for NODATA/NXDOMAIN, 2 for BOGUS, 75 for TEMPFAIL,
 * 64 for bad usage.
 */
#include "compat.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mail/dns.h"
#include "util/buf.h"

static const char *const status_names[] = {
	[DNS_OK] = "OK", [DNS_NODATA] = "NODATA", [DNS_NXDOMAIN] = "NXDOMAIN",
	[DNS_TEMPFAIL] = "TEMPFAIL", [DNS_BOGUS] = "BOGUS",
};

struct job {
	const char *name;
	enum dns_type type;
	struct dns_answer a;
	struct buf out;
};

/* The answer as text; with sorted, records in a fixed order (for -t). */
static void format(struct job *j, bool sorted)
{
	struct dns_answer *a = &j->a;
	struct buf *o = &j->out;

	buf_printf(o, "%s %s canon=%s\n", status_names[a->status], a->secure ? "secure" : "insecure", a->canon);
	for (size_t i = 0; i < a->n; i++) {
		char text[INET6_ADDRSTRLEN];
		switch (j->type) {
		case DNS_MX: {
			/* Sorted mode prints equal preferences by name. */
			size_t k = i;
			if (sorted)
				for (size_t m = 0; m < a->n; m++) {
					size_t rank = 0;
					for (size_t q = 0; q < a->n; q++)
						if (a->mx[q].pref < a->mx[m].pref || (a->mx[q].pref == a->mx[m].pref
						    && strcmp(a->mx[q].host, a->mx[m].host) < 0))
							rank++;
					if (rank == i)
						k = m;
				}
			buf_printf(o, "MX %u %s\n", a->mx[k].pref, a->mx[k].host[0] ? a->mx[k].host : ".");
			break;
		}
		case DNS_A:
		case DNS_AAAA:
			if (a->addr[i].ss_family == AF_INET)
				inet_ntop(AF_INET, &((struct sockaddr_in *)&a->addr[i])->sin_addr, text, sizeof(text));
			else
				inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&a->addr[i])->sin6_addr, text, sizeof(text));
			buf_printf(o, "%s %s\n", j->type == DNS_A ? "A" : "AAAA", text);
			break;
		case DNS_TLSA:
			buf_printf(o, "TLSA %u %u %u ", a->tlsa[i].usage, a->tlsa[i].selector, a->tlsa[i].mtype);
			for (size_t b = 0; b < a->tlsa[i].len; b++)
				buf_printf(o, "%02x", a->tlsa[i].data[b]);
			buf_addc(o, '\n');
			break;
		case DNS_TXT:
			buf_printf(o, "TXT %s\n", a->txt[i]);
			break;
		case DNS_PTR:
			buf_printf(o, "PTR %s\n", a->names[i]);
			break;
		}
	}
	if (a->null_mx)
		buf_adds(o, "null MX\n");
	/* The reason's wording depends on what the cache already held, which
	 * differs between threads: compared threads leave it out. */
	if (a->why[0] != '\0' && !sorted)
		buf_printf(o, "why: %s\n", a->why);
}

static void *run(void *arg)
{
	struct job *j = arg;

	dns_lookup(j->name, j->type, &j->a);
	return NULL;
}

static int usage(void)
{
	fprintf(stderr, "usage: dnsq [-s] [-a FILE] [-S SERVERS] [-t N] [-d SECONDS] MX|A|AAAA|TLSA|TXT|PTR NAME\n");
	return 64;
}

int main(int argc, char **argv)
{
	static const char *const types[] = {
		[DNS_MX] = "MX", [DNS_A] = "A", [DNS_AAAA] = "AAAA",
		[DNS_TLSA] = "TLSA", [DNS_TXT] = "TXT", [DNS_PTR] = "PTR",
	};
	struct dns_conf c = {.dnssec = false, .trust_anchor_file = getenv("DNSQ_ANCHOR"), .servers = NULL};
	struct buf err = BUF_INIT;
	int opt, nthreads = 1, type = -1;

	while ((opt = getopt(argc, argv, "sa:S:t:d:")) != -1) {
		switch (opt) {
		case 's':
			c.dnssec = true;
			break;
		case 'a':
			c.trust_anchor_file = optarg;
			break;
		case 'S':
			c.servers = optarg;
			break;
		case 'd':
			c.deadline_s = atoi(optarg);
			if (c.deadline_s < 1 || c.deadline_s > 60)
				return usage();
			break;
		case 't':
			nthreads = atoi(optarg);
			if (nthreads < 1 || nthreads > 64)
				return usage();
			break;
		default:
			return usage();
		}
	}
	if (argc - optind != 2)
		return usage();
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (strcmp(argv[optind], types[i]) == 0)
			type = (int)i;
	if (type < 0)
		return usage();
	if (dns_init(&c, &err) < 0) {
		fprintf(stderr, "dnsq: %s\n", buf_str(&err));
		buf_free(&err);
		return 75;
	}

	struct job *jobs = calloc((size_t)nthreads, sizeof(*jobs));
	pthread_t *tids = calloc((size_t)nthreads, sizeof(*tids));
	if (jobs == NULL || tids == NULL)
		return 75;
	for (int i = 0; i < nthreads; i++) {
		jobs[i].name = argv[optind + 1];
		jobs[i].type = (enum dns_type)type;
		dns_answer_init(&jobs[i].a);
		buf_init(&jobs[i].out);
		if (nthreads == 1)
			run(&jobs[i]);
		else if (pthread_create(&tids[i], NULL, run, &jobs[i]) != 0)
			return 75;
	}
	int rc = 0;
	for (int i = 0; i < nthreads; i++) {
		if (nthreads > 1)
			pthread_join(tids[i], NULL);
		format(&jobs[i], nthreads > 1);
		if (strcmp(buf_str(&jobs[i].out), buf_str(&jobs[0].out)) != 0) {
			fprintf(stderr, "dnsq: thread %d answered differently:\n%s", i, buf_str(&jobs[i].out));
			rc = 3;
		}
	}
	fputs(buf_str(&jobs[0].out), stdout);
	if (nthreads > 1 && jobs[0].a.why[0] != '\0')
		printf("why: %s\n", jobs[0].a.why);
	if (rc == 0)
		switch (jobs[0].a.status) {
		case DNS_OK: rc = 0; break;
		case DNS_NODATA: case DNS_NXDOMAIN: rc = 1; break;
		case DNS_BOGUS: rc = 2; break;
		case DNS_TEMPFAIL: rc = 75; break;
		}
	for (int i = 0; i < nthreads; i++) {
		dns_answer_free(&jobs[i].a);
		buf_free(&jobs[i].out);
	}
	free(jobs);
	free(tids);
	dns_end();
	buf_free(&err);
	return rc;
}
