/*
 * dns_rdata.c - the pure part of the DNS module (dns.h): decoding the
 * RDATA of MX, TLSA, TXT and PTR records and ordering MX records.
 *
 * Mail layer, no I/O and no privileges. Its input comes from name
 * servers and is untrusted: every length is checked against the bytes
 * that are really there, and a record that does not decode is refused
 * whole (the caller skips it) rather than half read.
 */
#include "compat.h"

#include <stdlib.h>
#include <string.h>

#include "mail/dns.h"
#include "util/mem.h"

/*
 * A label byte we are willing to put in a host name. Names go into logs,
 * SMTP commands and further lookups, so a dot inside a label (which would
 * change the name's meaning once dotted), a backslash, spaces and control
 * or 8-bit bytes make the record unusable.
 */
static int name_byte_ok(unsigned char c)
{
	return c > 0x20 && c < 0x7f && c != '.' && c != '\\';
}

int dns_parse_name(const unsigned char *rdata, size_t len, size_t *off,
    char out[DNS_NAME_MAX + 1])
{
	size_t p = *off, o = 0, wire = 0;

	for (;;) {
		if (p >= len)
			return -1;
		unsigned l = rdata[p++];
		wire += 1 + l;
		if (wire > DNS_NAME_MAX)
			return -1;      /* RFC 1035 2.3.4: 255 octets on the wire */
		if (l == 0)
			break;
		/* 0xc0: a compression pointer, which RDATA alone cannot follow;
		 * 0x40 and 0x80: extended label types, obsolete or unassigned. */
		if (l & 0xc0)
			return -1;
		if (l > len - p)
			return -1;
		if (o > 0)
			out[o++] = '.';
		for (unsigned i = 0; i < l; i++) {
			if (!name_byte_ok(rdata[p + i]))
				return -1;
			out[o++] = (char)rdata[p + i];
		}
		p += l;
	}
	/* wire <= 255 keeps o <= 253: the labels' bytes plus dots. */
	out[o] = '\0';
	*off = p;
	return 0;
}

int dns_parse_mx(const unsigned char *rdata, size_t len, struct dns_mx *out)
{
	size_t off = 2;

	if (len < 3)
		return -1;
	out->pref = (unsigned)rdata[0] << 8 | rdata[1];
	if (dns_parse_name(rdata, len, &off, out->host) < 0 || off != len)
		return -1;
	return 0;
}

int dns_parse_tlsa(const unsigned char *rdata, size_t len, struct dns_tlsa *out)
{
	/* RFC 6698 2.1: three one-octet fields, then the association data,
	 * which is never empty. */
	if (len < 4)
		return -1;
	out->usage = rdata[0];
	out->selector = rdata[1];
	out->mtype = rdata[2];
	out->len = len - 3;
	out->data = xmalloc(out->len);
	memcpy(out->data, rdata + 3, out->len);
	return 0;
}

int dns_parse_txt(const unsigned char *rdata, size_t len, char **out)
{
	size_t p = 0, o = 0;
	char *s;

	/* RFC 1035 3.3.14: one or more <character-string>s. The joined text
	 * is never longer than the RDATA. A NUL would cut the C string short
	 * and hide what follows, so a record with one is refused. */
	if (len == 0)
		return -1;
	while (p < len) {
		size_t l = rdata[p++];
		if (l > len - p || memchr(rdata + p, '\0', l) != NULL)
			return -1;
		p += l;
	}
	s = xmalloc(len + 1);
	for (p = 0; p < len;) {
		size_t l = rdata[p++];
		memcpy(s + o, rdata + p, l);
		o += l;
		p += l;
	}
	s[o] = '\0';
	*out = s;
	return 0;
}

static int mx_cmp(const void *a, const void *b)
{
	const struct dns_mx *x = a, *y = b;

	return x->pref < y->pref ? -1 : x->pref > y->pref;
}

/* arc4random: seeded by the kernel in every process and thread-safe;
 * random() was never seeded by the programs that sort MX hosts, so each
 * new process shuffled equal preferences the same way. */
static unsigned default_rnd(void *arg)
{
	(void)arg;
	return arc4random();
}

void dns_sort_mx(struct dns_mx *mx, size_t n, bool *null_mx,
    unsigned (*rnd)(void *), void *arg)
{
	if (rnd == NULL)
		rnd = default_rnd;
	*null_mx = n == 1 && mx[0].pref == 0 && mx[0].host[0] == '\0';
	if (n < 2)
		return;
	qsort(mx, n, sizeof(*mx), mx_cmp);
	/* RFC 5321 5.1: hosts of equal preference are tried in random order,
	 * spreading load; a Fisher-Yates shuffle of each run of equals. */
	for (size_t i = 0; i < n;) {
		size_t j = i + 1;
		while (j < n && mx[j].pref == mx[i].pref)
			j++;
		for (size_t k = j - 1; k > i; k--) {
			size_t r = i + rnd(arg) % (k - i + 1);
			if (r != k) {
				struct dns_mx t = mx[k];
				mx[k] = mx[r];
				mx[r] = t;
			}
		}
		i = j;
	}
}
