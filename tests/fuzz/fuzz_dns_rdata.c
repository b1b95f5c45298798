/*
 * fuzz_dns_rdata.c - libFuzzer target for the RDATA decoders of the DNS
 * module (lib/mail/dns_rdata.c), which read what name servers send: the
 * first byte picks the record type (MX, TLSA, TXT, a bare name), the rest
 * is the RDATA. Each must refuse it or decode it into bounded, consistent
 * output, without a crash or an out-of-bounds read; MX sorting must keep
 * the preferences in order.
 */
#include "compat.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mail/dns.h"

static void check_name(const char *s)
{
	size_t l = strlen(s);

	if (l > DNS_NAME_MAX - 2 || (l > 0 && (s[0] == '.' || s[l - 1] == '.')) || strstr(s, "..") != NULL)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	const unsigned char *rd = data + 1;
	size_t len = size - 1;

	switch (data[0] % 4) {
	case 0: {
		struct dns_mx mx[4];
		size_t n = 0;
		bool null_mx;
		/* Up to four records, the RDATA cut in quarters. */
		for (size_t i = 0; i < 4; i++) {
			size_t a = len * i / 4, b = len * (i + 1) / 4;
			if (dns_parse_mx(rd + a, b - a, &mx[n]) == 0) {
				check_name(mx[n].host);
				n++;
			}
		}
		dns_sort_mx(mx, n, &null_mx, NULL, NULL);
		for (size_t i = 1; i < n; i++)
			if (mx[i - 1].pref > mx[i].pref)
				abort();
		if (null_mx && (n != 1 || mx[0].host[0] != '\0'))
			abort();
		break;
	}
	case 1: {
		struct dns_tlsa t;
		if (dns_parse_tlsa(rd, len, &t) == 0) {
			if (t.len + 3 != len || t.len == 0 || memcmp(t.data, rd + 3, t.len) != 0)
				abort();
			free(t.data);
		}
		break;
	}
	case 2: {
		char *txt;
		if (dns_parse_txt(rd, len, &txt) == 0) {
			if (strlen(txt) >= len)
				abort();
			free(txt);
		}
		break;
	}
	case 3: {
		char name[DNS_NAME_MAX + 1];
		size_t off = 0;
		if (dns_parse_name(rd, len, &off, name) == 0) {
			if (off > len || off == 0)
				abort();
			check_name(name);
		}
		break;
	}
	}
	return 0;
}
