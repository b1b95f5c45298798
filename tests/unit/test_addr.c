/*
 * test_addr.c - Check suite for RFC 5322/5321 address parsing
 * (lib/mail/addr.c): address lists of every shape, malformed input of
 * every kind, envelope addresses.
 */
#include "compat.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "mail/addr.h"
#include "util/buf.h"
#include "util/mem.h"

/* Lists: input, the mailboxes expected (joined by '|'), bad element count. */
static const struct list_case {
	const char *in;
	const char *want;	/* mailboxes joined with '|' */
	const char *display;	/* display name of the first mailbox, if checked */
	size_t bad;
} list_cases[] = {
	{.in = "a@example.org", .want = "a@example.org"},
	{.in = "  a@example.org  ", .want = "a@example.org"},
	{.in = "user", .want = "user"},
	{.in = "a@b, c@d", .want = "a@b|c@d"},
	{.in = "a@b,,c@d,", .want = "a@b|c@d"},
	{.in = "", .want = ""},
	{.in = "Joe Q. Public <john.q.public@example.com>", .want = "john.q.public@example.com", .display = "Joe Q. Public"},
	{.in = "\"Doe, John\" <jd@x.org>, other@y", .want = "jd@x.org|other@y", .display = "Doe, John"},
	{.in = "<a@b>", .want = "a@b", .display = ""},
	{.in = "a@b (Comment, with comma)", .want = "a@b"},
	{.in = "(lead) a(in)@(mid)b.(x)org (trail)", .want = "a@b.org"},
	{.in = "a@b (nested (comment) here)", .want = "a@b"},
	{.in = "\"quoted local\"@example.org", .want = "\"quoted local\"@example.org"},
	{.in = "\"q\\\"uote\"@x", .want = "\"q\\\"uote\"@x"},
	{.in = "\"a@b\"@c", .want = "\"a@b\"@c"},
	{.in = "user@[192.0.2.1]", .want = "user@[192.0.2.1]"},
	{.in = "user@[IPv6:2001:db8::1]", .want = "user@[IPv6:2001:db8::1]"},
	{.in = "Undisclosed recipients:;", .want = ""},
	{.in = "friends: a@x, b@y; c@z", .want = "a@x|b@y|c@z"},
	{.in = "A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;", .want = "c@a.test|joe@where.test|jdoe@one.test"},
	{.in = "<@route.one,@route.two:user@dest>", .want = "user@dest"},
	{.in = "Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>", .want = "pete@silly.test"},
	{.in = "a@b\n\t, c@d", .want = "a@b|c@d"},
	{.in = "j . doe @ example . org", .want = "j.doe@example.org"},
	{.in = "Jürgen <jü@exämple.de>", .want = "jü@exämple.de", .display = "Jürgen"},
	{.in = "a.b+tag@x", .want = "a.b+tag@x"},
	/* Malformed elements are skipped and counted. */
	{.in = "a@b, <unclosed@x", .want = "a@b", .bad = 1},
	{.in = "a b@c", .want = "", .bad = 1},
	{.in = "@nolocal.org", .want = "", .bad = 1},
	{.in = "a@", .want = "", .bad = 1},
	{.in = "a@b c", .want = "", .bad = 1},
	{.in = "<>", .want = "", .bad = 1},
	{.in = "a@b, \"unterminated", .want = "a@b", .bad = 1},
	{.in = "a@b (unterminated", .want = "", .bad = 1},
	{.in = "a@b )", .want = "", .bad = 1},
	{.in = "x@y, a@b )", .want = "x@y", .bad = 1},
	{.in = "group: a@b", .want = "a@b", .bad = 1},
	{.in = "g: h: a@b;", .want = "", .bad = 1},
	{.in = "a@[1.2.3", .want = "", .bad = 1},
	{.in = "a@b.]", .want = "", .bad = 1},
	{.in = "a\\b@c", .want = "", .bad = 1},
	{.in = "a@b>, c@d", .want = "c@d", .bad = 1},
	{.in = "x <a@b> junk, c@d", .want = "c@d", .bad = 1},
	{.in = "a\001b@c", .want = "", .bad = 1},
	/* A quoted pair before a line break: unfolding would turn it into \" (found by fuzz_addr). */
	{.in = "\"\\ \\\n\"@x", .want = "", .bad = 1},
	{.in = "x@y, \"a\\\r\n\"@x", .want = "x@y", .bad = 1},
	{.in = "a@[1.2\\\n]", .want = "", .bad = 1},
	{.in = "a@b..c", .want = "", .bad = 1},
	{.in = "<@route:>", .want = "", .bad = 1},
	{.in = "<@:a@b>", .want = "", .bad = 1},
	{.in = ";", .want = "", .bad = 1},
	{.in = ":", .want = "", .bad = 1},
};

START_TEST(test_list)
{
	const struct list_case *c = &list_cases[_i];
	struct addr_list l;
	struct buf got = BUF_INIT;
	addr_list_init(&l);
	int rc = addr_parse_list(c->in, strlen(c->in), &l);
	for (size_t i = 0; i < l.n; i++) {
		if (i)
			buf_addc(&got, '|');
		buf_adds(&got, l.v[i].mailbox);
	}
	ck_assert_msg(strcmp(buf_str(&got), c->want) == 0, "'%s': got '%s' want '%s'", c->in,
		      buf_str(&got), c->want);
	ck_assert_msg(l.bad == c->bad, "'%s': %zu bad, want %zu (%s)", c->in, l.bad, c->bad,
		      buf_str(&l.error));
	ck_assert_int_eq(rc, c->bad ? -1 : 0);
	if (c->bad)
		ck_assert_uint_gt(l.error.len, 0);
	if (c->display)
		ck_assert_str_eq(l.v[0].display, c->display);
	buf_free(&got);
	addr_list_free(&l);
}
END_TEST

START_TEST(test_spans)
{
	/* The span covers the addr-spec, so cleanup can rewrite it in place. */
	const char *in = "Joe <joe> , (c) bob (x), \"q r\"@h";
	struct addr_list l;
	addr_list_init(&l);
	ck_assert_int_eq(addr_parse_list(in, strlen(in), &l), 0);
	ck_assert_uint_eq(l.n, 3);
	ck_assert_int_eq(strncmp(in + l.v[0].spec_start, "joe", l.v[0].spec_end - l.v[0].spec_start), 0);
	ck_assert_uint_eq(l.v[0].spec_end - l.v[0].spec_start, 3);
	ck_assert_int_eq(l.v[0].has_domain, 0);
	ck_assert_uint_eq(l.v[1].spec_end - l.v[1].spec_start, 3);
	ck_assert_int_eq(strncmp(in + l.v[1].spec_start, "bob", 3), 0);
	ck_assert_int_eq(strncmp(in + l.v[2].spec_start, "\"q r\"@h", 7), 0);
	ck_assert_uint_eq(l.v[2].spec_end - l.v[2].spec_start, 7);
	ck_assert_int_eq(l.v[2].has_domain, 1);
	addr_list_free(&l);
}
END_TEST

START_TEST(test_group_name)
{
	const char *in = "team: a@x; b@y";
	struct addr_list l;
	addr_list_init(&l);
	ck_assert_int_eq(addr_parse_list(in, strlen(in), &l), 0);
	ck_assert_str_eq(l.v[0].group, "team");
	ck_assert_str_eq(l.v[1].group, "");
	addr_list_free(&l);
}
END_TEST

START_TEST(test_long_list_grows_by_doubling)
{
	/* A header with 100,000 recipients: the list grows by doubling (xgrow),
	 * not one element at a time, so its room is never more than twice
	 * what it holds and at least that. */
	struct buf in = BUF_INIT;
	for (int i = 0; i < 100000; i++)
		buf_printf(&in, "u%d@localhost,\n ", i);
	buf_adds(&in, "last@localhost");
	struct addr_list l;
	addr_list_init(&l);
	ck_assert_int_eq(addr_parse_list(in.data, in.len, &l), 0);
	ck_assert_uint_eq(l.n, 100001);
	ck_assert_uint_ge(l.cap, l.n);
	ck_assert_uint_le(l.cap, 2 * l.n);
	ck_assert_str_eq(l.v[99999].mailbox, "u99999@localhost");
	addr_list_free(&l);
	buf_free(&in);

	/* xgrow itself: 8, then doubling; a jump past the room is met. */
	size_t cap = 0;
	char *v = xgrow(NULL, &cap, 0, 1);
	ck_assert_uint_eq(cap, 8);
	ck_assert_ptr_eq(xgrow(v, &cap, 7, 1), v);
	v = xgrow(v, &cap, 8, 1);
	ck_assert_uint_eq(cap, 16);
	v = xgrow(v, &cap, 100, 1);
	ck_assert_uint_ge(cap, 101);
	v[100] = 'x';
	free(v);
}
END_TEST

static const struct env_case {
	const char *in;
	const char *want;	/* NULL = must be rejected */
} env_cases[] = {
	{.in = "<>", .want = ""},
	{.in = "", .want = ""},
	{.in = "  <>  ", .want = ""},
	{.in = "a@b.org", .want = "a@b.org"},
	{.in = "<a@b.org>", .want = "a@b.org"},
	{.in = "Name <a@b.org>", .want = "a@b.org"},
	{.in = "root", .want = "root"},
	{.in = "<@x,@y:a@b>", .want = "a@b"},
	{.in = "\"a b\"@c", .want = "\"a b\"@c"},
	{.in = "a@[127.0.0.1]", .want = "a@[127.0.0.1]"},
	{.in = "a@b, c@d", .want = NULL},
	{.in = "a@b\nX-Injected: 1", .want = NULL},
	{.in = "a@b\r", .want = NULL},
	{.in = "<a@b", .want = NULL},
	{.in = "a@-b.org", .want = NULL},
	{.in = "a@b-.org", .want = NULL},
	{.in = "a@.b.org", .want = NULL},
	{.in = "a@b..org", .want = NULL},
	{.in = "a@b!c", .want = NULL},	/* '!' is atext, but not in a domain name */
	{.in = "a!b@c", .want = "a!b@c"},
	{.in = "g:a@b;", .want = NULL},
	{.in = "-oQ/tmp/x", .want = "-oQ/tmp/x"},	/* odd but a valid local part */
	{.in = "a b", .want = NULL},
	{.in = "@b", .want = NULL},
};

START_TEST(test_envelope)
{
	const struct env_case *c = &env_cases[_i];
	struct buf out = BUF_INIT, err = BUF_INIT;
	int rc = addr_parse_envelope(c->in, &out, &err);
	if (c->want == NULL) {
		ck_assert_msg(rc == -1, "'%s' accepted as '%s'", c->in, buf_str(&out));
		ck_assert_uint_gt(err.len, 0);
	} else {
		ck_assert_msg(rc == 0, "'%s' rejected: %s", c->in, buf_str(&err));
		ck_assert_str_eq(buf_str(&out), c->want);
		ck_assert(addr_envelope_valid(buf_str(&out)));
	}
	buf_free(&out);
	buf_free(&err);
}
END_TEST

START_TEST(test_envelope_too_long)
{
	char big[1200];
	memset(big, 'a', sizeof(big));
	memcpy(big + sizeof(big) - 5, "@b.c", 5);
	struct buf out = BUF_INIT, err = BUF_INIT;
	ck_assert_int_eq(addr_parse_envelope(big, &out, &err), -1);
	ck_assert(!addr_envelope_valid(big));
	buf_free(&out);
	buf_free(&err);
}
END_TEST

static const struct split_case {
	const char *in, *local, *domain;
	bool has;
} split_cases[] = {
	{.in = "a@b", .local = "a", .domain = "b", .has = true},
	{.in = "a", .local = "a", .domain = "", .has = false},
	{.in = "\"x@y\"@z", .local = "\"x@y\"", .domain = "z", .has = true},
	{.in = "\"x@y\"", .local = "\"x@y\"", .domain = "", .has = false},
	{.in = "\"a\\\"@b\"@c", .local = "\"a\\\"@b\"", .domain = "c", .has = true},
};

START_TEST(test_split)
{
	const struct split_case *c = &split_cases[_i];
	struct buf l = BUF_INIT, d = BUF_INIT;
	ck_assert_int_eq(addr_split(c->in, &l, &d), c->has);
	ck_assert_str_eq(buf_str(&l), c->local);
	ck_assert_str_eq(buf_str(&d), c->domain);
	buf_free(&l);
	buf_free(&d);
}
END_TEST

static const struct quote_case {
	const char *in, *want;
} quote_cases[] = {
	{.in = "john.doe", .want = "john.doe"},
	{.in = "a b", .want = "\"a b\""},
	{.in = "a..b", .want = "\"a..b\""},
	{.in = ".a", .want = "\".a\""},
	{.in = "q\"t", .want = "\"q\\\"t\""},
	{.in = "", .want = "\"\""},
};

START_TEST(test_quote)
{
	struct buf out = BUF_INIT;
	addr_quote_local(quote_cases[_i].in, &out);
	ck_assert_str_eq(buf_str(&out), quote_cases[_i].want);
	buf_free(&out);
}
END_TEST

/* Postfix's local rewriting context; bang = swap_bangpath, pct = allow_percent_hack. */
static const struct {
	const char *in, *want;
	bool bang, pct;
	const char *origin, *mydomain;
} rewrite_cases[] = {
	{.in = "site!user", .want = "user@site", .bang = true},
	{.in = "site!user", .want = "site!user", .bang = false},
	{.in = "a!b!user", .want = "b!user@a", .bang = true},
	{.in = "user%other.example", .want = "user@other.example", .pct = true},
	{.in = "user%other.example", .want = "user%other.example@origin.example", .pct = false,
	 .origin = "origin.example"},
	{.in = "u%a%b", .want = "u%a@b", .pct = true},
	/* Only forms without '@' are rewritten (the resolver handles the rest). */
	{.in = "user%other.example@localhost", .want = "user%other.example@localhost", .pct = true, .bang = true},
	{.in = "site!user@localhost", .want = "site!user@localhost", .bang = true},
	/* Bang before percent, as in Postfix. */
	{.in = "site!u%x", .want = "u%x@site", .bang = true, .pct = true},
	/* Quoted characters are part of the local part. */
	{.in = "\"a%b\"", .want = "\"a%b\"@o.example", .pct = true, .origin = "o.example"},
	{.in = "\"a!b\"", .want = "\"a!b\"", .bang = true},
	/* Nothing on either side: not a route. */
	{.in = "%x", .want = "%x", .pct = true},
	{.in = "x%", .want = "x%", .pct = true},
	{.in = "!x", .want = "!x", .bang = true},
	{.in = "user", .want = "user@origin.example", .origin = "origin.example"},
	{.in = "user", .want = "user"},
	{.in = "", .want = "", .origin = "origin.example", .mydomain = "example.com"},
	/* append_dot_mydomain */
	{.in = "user@host", .want = "user@host.example.com", .mydomain = "example.com"},
	{.in = "user@host.sub", .want = "user@host.sub", .mydomain = "example.com"},
	{.in = "user@[127.0.0.1]", .want = "user@[127.0.0.1]", .mydomain = "example.com"},
	{.in = "user", .want = "user@host.example.com", .origin = "host", .mydomain = "example.com"},
	{.in = "site!user", .want = "user@site.example.com", .bang = true, .mydomain = "example.com"},
	{.in = "user@host", .want = "user@host", .mydomain = ""},
};

START_TEST(test_rewrite_local)
{
	struct buf out = BUF_INIT;
	struct addr_rewrite rw = {
		.swap_bangpath = rewrite_cases[_i].bang,
		.percent_hack = rewrite_cases[_i].pct,
		.origin = rewrite_cases[_i].origin,
		.mydomain = rewrite_cases[_i].mydomain,
	};

	addr_rewrite_local(rewrite_cases[_i].in, &rw, &out);
	ck_assert_msg(strcmp(buf_str(&out), rewrite_cases[_i].want) == 0, "case %d: %s -> %s, want %s",
	    _i, rewrite_cases[_i].in, buf_str(&out), rewrite_cases[_i].want);
	buf_free(&out);
}
END_TEST

#define N(a) (sizeof(a) / sizeof((a)[0]))

int main(void)
{
	Suite *s = suite_create("addr");
	TCase *tc = tcase_create("core");
	tcase_add_loop_test(tc, test_list, 0, N(list_cases));
	tcase_add_test(tc, test_spans);
	tcase_add_test(tc, test_group_name);
	tcase_add_test(tc, test_long_list_grows_by_doubling);
	tcase_add_loop_test(tc, test_envelope, 0, N(env_cases));
	tcase_add_test(tc, test_envelope_too_long);
	tcase_add_loop_test(tc, test_split, 0, N(split_cases));
	tcase_add_loop_test(tc, test_quote, 0, N(quote_cases));
	tcase_add_loop_test(tc, test_rewrite_local, 0, N(rewrite_cases));
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
