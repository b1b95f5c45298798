/*
 * test_dns.c - Check suite for the pure part of the DNS module
 * (lib/mail/dns_rdata.c): MX, TLSA, TXT and name RDATA decoding with
 * good, truncated and hostile input, MX ordering and shuffling, null MX;
 * and the resolver-less behaviour of dns_lookup.
 */
#include "compat.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "mail/dns.h"

#define RD(s) (const unsigned char *)(s), sizeof(s) - 1

START_TEST(test_mx_good)
{
	struct dns_mx mx;

	ck_assert_int_eq(dns_parse_mx(RD("\x00\x0a\x02mx\x07" "example\x03" "com\x00"), &mx), 0);
	ck_assert_uint_eq(mx.pref, 10);
	ck_assert_str_eq(mx.host, "mx.example.com");
	ck_assert_int_eq(dns_parse_mx(RD("\xff\xff\x01" "a\x00"), &mx), 0);
	ck_assert_uint_eq(mx.pref, 65535);
	ck_assert_str_eq(mx.host, "a");
	/* RFC 7505 null MX: preference 0, the root. */
	ck_assert_int_eq(dns_parse_mx(RD("\x00\x00\x00"), &mx), 0);
	ck_assert_uint_eq(mx.pref, 0);
	ck_assert_str_eq(mx.host, "");
}
END_TEST

static const struct {
	const char *rd;
	size_t len;
} bad_mx[] = {
	{"", 0},
	{"\x00", 1},
	{"\x00\x0a", 2},                                /* no name */
	{"\x00\x0a\x02mx", 5},                          /* label runs to the end */
	{"\x00\x0a\x05mx\x00", 6},                      /* label longer than the data */
	{"\x00\x0a\x02mx\x00x", 7},                     /* trailing byte */
	{"\x00\x0a\xc0\x0c", 4},                        /* compression pointer */
	{"\x00\x0a\x02mx\xc0\x0c", 7},                  /* pointer after a label */
	{"\x00\x0a\x41" "a\x00", 5},                    /* extended label type 01 */
	{"\x00\x0a\x81" "a\x00", 5},                    /* label type 10 */
	{"\x00\x0a\x03" "a.b\x00", 7},                  /* dot inside a label */
	{"\x00\x0a\x03" "a\0b\x00", 7},                 /* NUL inside a label */
	{"\x00\x0a\x03" "a b\x00", 7},                  /* space */
	{"\x00\x0a\x03" "a\nb\x00", 7},                 /* control byte */
	{"\x00\x0a\x03" "a\xc3" "b\x00", 7},            /* 8-bit byte */
};

START_TEST(test_mx_bad)
{
	struct dns_mx mx;

	ck_assert_int_eq(dns_parse_mx((const unsigned char *)bad_mx[_i].rd, bad_mx[_i].len, &mx), -1);
}
END_TEST

/* A name of exactly 255 octets on the wire is the longest allowed. */
START_TEST(test_name_length)
{
	unsigned char rd[2 + 300];
	struct dns_mx mx;
	size_t p = 2;

	rd[0] = 0;
	rd[1] = 5;
	/* 3 labels of 63 (192 octets) + 1 of 61 (62) + root (1) = 255. */
	for (int i = 0; i < 3; i++) {
		rd[p++] = 63;
		memset(rd + p, 'a', 63);
		p += 63;
	}
	rd[p++] = 61;
	memset(rd + p, 'b', 61);
	p += 61;
	rd[p++] = 0;
	ck_assert_int_eq(dns_parse_mx(rd, p, &mx), 0);
	ck_assert_uint_eq(strlen(mx.host), 253);
	/* One more octet in the last label: 256, refused. */
	rd[2 + 3 * 64] = 62;
	memset(rd + 2 + 3 * 64 + 1, 'b', 62);
	rd[2 + 3 * 64 + 63] = 0;
	ck_assert_int_eq(dns_parse_mx(rd, 2 + 3 * 64 + 64, &mx), -1);
	/* Many empty-looking labels cannot overflow the output either. */
	unsigned char many[2 + 600];
	many[0] = many[1] = 0;
	for (size_t i = 0; i < 299; i++) {
		many[2 + 2 * i] = 1;
		many[3 + 2 * i] = 'x';
	}
	many[2 + 598] = 0;
	ck_assert_int_eq(dns_parse_mx(many, 2 + 599, &mx), -1);
}
END_TEST

START_TEST(test_name_offset)
{
	char out[DNS_NAME_MAX + 1];
	size_t off = 1;

	ck_assert_int_eq(dns_parse_name(RD("Z\x03" "www\x00" "rest"), &off, out), 0);
	ck_assert_str_eq(out, "www");
	ck_assert_uint_eq(off, 6);
	off = 0;
	ck_assert_int_eq(dns_parse_name(RD("\x00"), &off, out), 0);
	ck_assert_str_eq(out, "");
	off = 5;
	ck_assert_int_eq(dns_parse_name(RD("\x00"), &off, out), -1);
}
END_TEST

START_TEST(test_tlsa)
{
	struct dns_tlsa t;

	ck_assert_int_eq(dns_parse_tlsa(RD("\x03\x01\x01\xde\xad\xbe\xef"), &t), 0);
	ck_assert_uint_eq(t.usage, 3);
	ck_assert_uint_eq(t.selector, 1);
	ck_assert_uint_eq(t.mtype, 1);
	ck_assert_uint_eq(t.len, 4);
	ck_assert_mem_eq(t.data, "\xde\xad\xbe\xef", 4);
	free(t.data);
	t.data = NULL;
	/* Three octets but no association data; shorter still. */
	ck_assert_int_eq(dns_parse_tlsa(RD("\x03\x01\x01"), &t), -1);
	ck_assert_int_eq(dns_parse_tlsa(RD("\x03"), &t), -1);
	ck_assert_int_eq(dns_parse_tlsa((const unsigned char *)"", 0, &t), -1);
	ck_assert_ptr_null(t.data);
}
END_TEST

START_TEST(test_txt)
{
	char *s = NULL;

	ck_assert_int_eq(dns_parse_txt(RD("\x05v=spf\x05" "1 -al\x01l"), &s), 0);
	ck_assert_str_eq(s, "v=spf1 -all");
	free(s);
	ck_assert_int_eq(dns_parse_txt(RD("\x00"), &s), 0);
	ck_assert_str_eq(s, "");
	free(s);
	s = NULL;
	ck_assert_int_eq(dns_parse_txt((const unsigned char *)"", 0, &s), -1);
	ck_assert_int_eq(dns_parse_txt(RD("\x05" "abc"), &s), -1);          /* truncated */
	ck_assert_int_eq(dns_parse_txt(RD("\x03" "abc\x04" "de"), &s), -1); /* second truncated */
	ck_assert_int_eq(dns_parse_txt(RD("\x03" "a\0c"), &s), -1);         /* NUL */
	ck_assert_ptr_null(s);
}
END_TEST

/* A "random" source that walks a fixed sequence. */
struct seq {
	const unsigned *v;
	size_t n, i;
};
static unsigned seq_next(void *arg)
{
	struct seq *s = arg;
	return s->v[s->i++ % s->n];
}

static void fill(struct dns_mx *mx, const unsigned *prefs, const char *const *hosts, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		mx[i].pref = prefs[i];
		strcpy(mx[i].host, hosts[i]);
	}
}

START_TEST(test_mx_sort)
{
	static const unsigned prefs[] = {30, 10, 20, 10, 10};
	static const char *const hosts[] = {"c", "a1", "b", "a2", "a3"};
	static const unsigned zero[] = {0};
	struct dns_mx mx[5];
	bool null_mx = true;
	struct seq s = {zero, 1, 0};

	fill(mx, prefs, hosts, 5);
	dns_sort_mx(mx, 5, &null_mx, seq_next, &s);
	ck_assert(!null_mx);
	ck_assert_uint_eq(mx[0].pref, 10);
	ck_assert_uint_eq(mx[1].pref, 10);
	ck_assert_uint_eq(mx[2].pref, 10);
	ck_assert_str_eq(mx[3].host, "b");
	ck_assert_str_eq(mx[4].host, "c");
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(mx[i].host[0], 'a');
}
END_TEST

/* Every order of the equal-preference hosts shows up, and only those. */
START_TEST(test_mx_shuffle)
{
	static const unsigned prefs[] = {5, 10, 10, 10};
	static const char *const hosts[] = {"first", "x", "y", "z"};
	bool seen[3][3] = {{false}};
	int firsts[3] = {0};

	srandom(1);
	for (int round = 0; round < 300; round++) {
		struct dns_mx mx[4];
		bool null_mx;
		fill(mx, prefs, hosts, 4);
		dns_sort_mx(mx, 4, &null_mx, NULL, NULL);
		ck_assert_str_eq(mx[0].host, "first");
		for (int i = 1; i < 4; i++) {
			ck_assert_uint_eq(mx[i].pref, 10);
			seen[i - 1][mx[i].host[0] - 'x'] = true;
		}
		firsts[mx[1].host[0] - 'x']++;
		ck_assert(strcmp(mx[1].host, mx[2].host) != 0 && strcmp(mx[2].host, mx[3].host) != 0
		    && strcmp(mx[1].host, mx[3].host) != 0);
	}
	for (int i = 0; i < 3; i++) {
		for (int j = 0; j < 3; j++)
			ck_assert(seen[i][j]);
		/* 300 rounds, 1/3 each: far from 0 and from 300. */
		ck_assert_int_gt(firsts[i], 50);
	}
}
END_TEST

START_TEST(test_null_mx)
{
	struct dns_mx mx[2];
	bool null_mx = false;

	fill(mx, (const unsigned[]){0}, (const char *const[]){""}, 1);
	dns_sort_mx(mx, 1, &null_mx, NULL, NULL);
	ck_assert(null_mx);
	/* "10 ." is not a null MX, nor is "0 ." beside a real host. */
	fill(mx, (const unsigned[]){10}, (const char *const[]){""}, 1);
	dns_sort_mx(mx, 1, &null_mx, NULL, NULL);
	ck_assert(!null_mx);
	fill(mx, (const unsigned[]){0, 10}, (const char *const[]){"", "mx"}, 2);
	dns_sort_mx(mx, 2, &null_mx, NULL, NULL);
	ck_assert(!null_mx);
	fill(mx, (const unsigned[]){0}, (const char *const[]){"mx"}, 1);
	dns_sort_mx(mx, 1, &null_mx, NULL, NULL);
	ck_assert(!null_mx);
	dns_sort_mx(mx, 0, &null_mx, NULL, NULL);
	ck_assert(!null_mx);
}
END_TEST

/* Without dns_init there is no resolver: a temporary failure, no data. */
START_TEST(test_no_resolver)
{
	struct dns_answer a;

	dns_answer_init(&a);
	ck_assert_int_eq(dns_lookup("example.com", DNS_MX, &a), DNS_TEMPFAIL);
	ck_assert_uint_eq(a.n, 0);
	ck_assert_ptr_null(a.mx);
	ck_assert_str_eq(a.why, "no DNS resolver set up");
	dns_answer_free(&a);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("dns");
	TCase *tc = tcase_create("rdata");

	tcase_add_test(tc, test_mx_good);
	tcase_add_loop_test(tc, test_mx_bad, 0, sizeof(bad_mx) / sizeof(bad_mx[0]));
	tcase_add_test(tc, test_name_length);
	tcase_add_test(tc, test_name_offset);
	tcase_add_test(tc, test_tlsa);
	tcase_add_test(tc, test_txt);
	tcase_add_test(tc, test_mx_sort);
	tcase_add_test(tc, test_mx_shuffle);
	tcase_add_test(tc, test_null_mx);
	tcase_add_test(tc, test_no_resolver);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
