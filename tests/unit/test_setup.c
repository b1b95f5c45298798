/*
 * test_setup.c - Check suite for the install questions of tern setup
 * (lib/mail/setup_answers.c): each answer's check, the names flags and
 * preseed files use, Debian's default destinations, the main.cf edits
 * each configuration type makes, and the aliases root: line.
 */
#include "compat.h"

#include <check.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>

#include "mail/conf_edit.h"
#include "mail/setup_answers.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/mem.h"

struct check_case {
	enum setup_q q;
	const char *value;
	bool ok;
};

static const struct check_case checks[] = {
	{ SQ_TYPE, "Internet Site", true },
	{ SQ_TYPE, "internet site", true },
	{ SQ_TYPE, "Satellite system", true },
	{ SQ_TYPE, "smarthost", true },
	{ SQ_TYPE, "none", true },
	{ SQ_TYPE, "5", true },
	{ SQ_TYPE, "6", false },
	{ SQ_TYPE, "Internet", true },
	{ SQ_TYPE, "Internet only", false },
	{ SQ_MAILNAME, "example.org", true },
	{ SQ_MAILNAME, "mail-1.example.org", true },
	{ SQ_MAILNAME, "localdomain", true },
	{ SQ_MAILNAME, "", false },
	{ SQ_MAILNAME, "-bad.example", false },
	{ SQ_MAILNAME, "bad-.example", false },
	{ SQ_MAILNAME, "a..b", false },
	{ SQ_MAILNAME, "example.org.", false },
	{ SQ_MAILNAME, "ex ample.org", false },
	{ SQ_MAILNAME, "user@example.org", false },
	{ SQ_MAILNAME, "a234567890123456789012345678901234567890123456789012345678901234.org", false },
	{ SQ_NETWORKS, "127.0.0.0/8 [::ffff:127.0.0.0]/104 [::1]/128", true },
	{ SQ_NETWORKS, "192.0.2.0/24, 10.0.0.1", true },
	{ SQ_NETWORKS, "", true },
	{ SQ_NETWORKS, "192.0.2.0/33", false },
	{ SQ_NETWORKS, "127.0.0.0/8 localhost", false },
	{ SQ_NETWORKS, "300.1.1.1/8", false },
	{ SQ_NETWORKS, "127.0.0.1\n10.0.0.1", false },	/* would be two main.cf lines */
	{ SQ_DESTINATIONS, "localhost\n/etc/x", false },
	{ SQ_MAILBOX_LIMIT, "1\t", false },
	{ SQ_RELAYHOST, "", true },
	{ SQ_RELAYHOST, "smtp.example.org", true },
	{ SQ_RELAYHOST, "[smtp.example.org]", true },
	{ SQ_RELAYHOST, "[smtp.example.org]:587", true },
	{ SQ_RELAYHOST, "smtp.example.org:submission", true },
	{ SQ_RELAYHOST, "[192.0.2.1]:25", true },
	{ SQ_RELAYHOST, "[2001:db8::1]", true },
	{ SQ_RELAYHOST, "[ipv6:2001:db8::1]:587", true },
	{ SQ_RELAYHOST, "a.example b.example", false },
	{ SQ_RELAYHOST, "a.example,b.example", false },
	{ SQ_RELAYHOST, "[smtp.example.org", false },
	{ SQ_RELAYHOST, "[smtp.example.org]x", false },
	{ SQ_RELAYHOST, "smtp.example.org:0", false },
	{ SQ_RELAYHOST, "smtp.example.org:65536", false },
	{ SQ_RELAYHOST, "smtp.example.org:", false },
	{ SQ_RELAYHOST, "smtp.example.org:no-such-service", false },
	{ SQ_RELAYHOST, "[ipv6:smtp.example.org]", false },
	{ SQ_MAILBOX_LIMIT, "0", true },
	{ SQ_MAILBOX_LIMIT, "51200000", true },
	{ SQ_MAILBOX_LIMIT, "", false },
	{ SQ_MAILBOX_LIMIT, "-1", false },
	{ SQ_MAILBOX_LIMIT, "10k", false },
	{ SQ_MAILBOX_LIMIT, "99999999999999999999", false },
	{ SQ_DELIMITER, "+", true },
	{ SQ_DELIMITER, "+-", true },
	{ SQ_DELIMITER, "", true },
	{ SQ_DELIMITER, "a", false },
	{ SQ_DELIMITER, "@", false },
	{ SQ_DELIMITER, "$", false },
	{ SQ_DELIMITER, ".", false },
	{ SQ_DELIMITER, "+ ", false },
	{ SQ_PROTOCOLS, "all", true },
	{ SQ_PROTOCOLS, "ipv4", true },
	{ SQ_PROTOCOLS, "ipv4, ipv6", true },
	{ SQ_PROTOCOLS, "ipv5", false },
	{ SQ_PROTOCOLS, "", false },
	{ SQ_DESTINATIONS, "$myhostname, example.org, localhost", true },
	{ SQ_DESTINATIONS, "", true },
	{ SQ_DESTINATIONS, "hash:/etc/tern/domains", true },
	{ SQ_DESTINATIONS, "exa mple!.org", false },
	{ SQ_ROOT, "alice", true },
	{ SQ_ROOT, "alice, bob@example.org", true },
	{ SQ_ROOT, "", true },
	{ SQ_ROOT, "bob@", false },
	{ SQ_ROOT, "alice\nbob: x", false },
};

START_TEST(test_check)
{
	const struct check_case *c = &checks[_i];
	/* Service names come from /etc/services (netbase), which a bare root may lack. */
	if (strstr(c->value, ":submission") != NULL && getservbyname("submission", "tcp") == NULL)
		return;
	struct buf why = BUF_INIT;
	bool ok = setup_check(c->q, c->value, &why);
	ck_assert_msg(ok == c->ok, "%s \"%s\": got %d (%s)", setup_q_name(c->q), c->value, ok, buf_str(&why));
	/* A refusal says why, in one line. */
	if (!ok) {
		ck_assert_uint_gt(why.len, 0);
		ck_assert_ptr_null(strchr(buf_str(&why), '\n'));
	}
	buf_free(&why);
}
END_TEST

START_TEST(test_names)
{
	ck_assert_int_eq(setup_q_find("type"), SQ_TYPE);
	ck_assert_int_eq(setup_q_find("mailbox-limit"), SQ_MAILBOX_LIMIT);
	ck_assert_int_eq(setup_q_find("mailbox_limit"), SQ_MAILBOX_LIMIT);
	ck_assert_int_eq(setup_q_find("main_mailer_type"), SQ_TYPE);
	ck_assert_int_eq(setup_q_find("root_address"), SQ_ROOT);
	ck_assert_int_eq(setup_q_find("recipient_delim"), SQ_DELIMITER);
	ck_assert_int_eq(setup_q_find("mynetworks"), SQ_NETWORKS);
	ck_assert_int_eq(setup_q_find("relayhost"), SQ_RELAYHOST);
	ck_assert_int_eq(setup_q_find("nonsense"), -1);
	ck_assert_int_eq(setup_q_find("a-very-long-name-that-does-not-fit-anywhere"), -1);
	for (int q = 0; q < SQ_COUNT; q++)
		ck_assert_int_eq(setup_q_find(setup_q_name((enum setup_q)q)), q);

	enum setup_type t;
	for (int k = SETUP_NONE; k <= SETUP_LOCAL; k++) {
		ck_assert(setup_type_parse(setup_type_label((enum setup_type)k), &t));
		ck_assert_int_eq(t, k);
	}
	ck_assert(setup_type_parse("1", &t) && t == SETUP_NONE);
	ck_assert(setup_type_parse("LOCAL ONLY", &t) && t == SETUP_LOCAL);

	/* relayhost only for the types that relay; nothing after "No configuration". */
	ck_assert(setup_q_applies(SQ_RELAYHOST, SETUP_SMARTHOST));
	ck_assert(setup_q_applies(SQ_RELAYHOST, SETUP_SATELLITE));
	ck_assert(!setup_q_applies(SQ_RELAYHOST, SETUP_INTERNET));
	ck_assert(!setup_q_applies(SQ_RELAYHOST, SETUP_LOCAL));
	ck_assert(!setup_q_applies(SQ_MAILNAME, SETUP_NONE));
	ck_assert(setup_q_applies(SQ_TYPE, SETUP_NONE));
}
END_TEST

START_TEST(test_destinations)
{
	struct buf b = BUF_INIT;
	setup_default_destinations(SETUP_INTERNET, "example.org", "host.example.org", "example.org", &b);
	ck_assert_str_eq(buf_str(&b), "$myhostname, example.org, host.example.org, localhost.example.org, localhost");
	buf_reset(&b);
	setup_default_destinations(SETUP_INTERNET, "host.example.org", "host.example.org", "example.org", &b);
	ck_assert_str_eq(buf_str(&b), "$myhostname, host.example.org, localhost.example.org, localhost");
	/* With a relay host: the mail name is another machine's, unless the host is outside it. */
	buf_reset(&b);
	setup_default_destinations(SETUP_SATELLITE, "example.org", "host.example.org", "example.org", &b);
	ck_assert_str_eq(buf_str(&b), "$myhostname, host.example.org, localhost.example.org, localhost");
	buf_reset(&b);
	setup_default_destinations(SETUP_LOCAL, "other.net", "host.example.org", "example.org", &b);
	ck_assert_str_eq(buf_str(&b), "other.net, $myhostname, host.example.org, localhost.example.org, localhost");
	buf_free(&b);
}
END_TEST

/* Apply the edits of type t to text and compare with want. */
static void edits_give(enum setup_type t, const struct setup_current *cur, const char *text, const char *want)
{
	struct setup_answers a = { 0 };
	a.v[SQ_MAILNAME] = xstrdup("example.org");
	a.v[SQ_DESTINATIONS] = xstrdup("$myhostname, localhost");
	a.v[SQ_NETWORKS] = xstrdup("127.0.0.0/8");
	a.v[SQ_MAILBOX_LIMIT] = xstrdup("0");
	a.v[SQ_DELIMITER] = xstrdup("+");
	a.v[SQ_PROTOCOLS] = xstrdup("all");
	a.v[SQ_RELAYHOST] = xstrdup("[smtp.example.org]:587");
	struct conf_edit e[SETUP_MAX_EDITS];
	size_t n = setup_edits(&a, t, cur, e);
	ck_assert_uint_le(n, SETUP_MAX_EDITS);
	struct buf out = BUF_INIT;
	conf_edit_text(text, strlen(text), e, n, &out);
	ck_assert_msg(strcmp(buf_str(&out), want) == 0, "type %s:\n%s\nwanted:\n%s", setup_type_label(t),
		      buf_str(&out), want);
	/* The same answers again change nothing. */
	struct buf again = BUF_INIT;
	conf_edit_text(buf_str(&out), out.len, e, n, &again);
	ck_assert_str_eq(buf_str(&again), buf_str(&out));
	buf_free(&again);
	buf_free(&out);
	setup_answers_free(&a);
}

#define COMMON "myorigin = example.org\nmydestination = $myhostname, localhost\nmynetworks = 127.0.0.0/8\n" \
	"mailbox_size_limit = 0\nrecipient_delimiter = +\ninet_protocols = all\n"

START_TEST(test_edits)
{
	const char *start = "# mine\nmyhostname = host.example.org\n";
	struct setup_current none = { 0 };
	edits_give(SETUP_NONE, &none, start, start);
	edits_give(SETUP_INTERNET, &none, start, "# mine\nmyhostname = host.example.org\n" COMMON "relayhost = \n");
	edits_give(SETUP_SMARTHOST, &none, start,
		   "# mine\nmyhostname = host.example.org\n" COMMON "relayhost = [smtp.example.org]:587\n");
	edits_give(SETUP_SATELLITE, &none, start,
		   "# mine\nmyhostname = host.example.org\n" COMMON "relayhost = [smtp.example.org]:587\n"
		   "inet_interfaces = loopback-only\n");
	edits_give(SETUP_LOCAL, &none, start,
		   "# mine\nmyhostname = host.example.org\n" COMMON "relayhost = \n"
		   "inet_interfaces = loopback-only\n"
		   "default_transport = " SETUP_LOCAL_TRANSPORT "\n"
		   "relay_transport = " SETUP_LOCAL_TRANSPORT "\n");

	/* Leaving local only: its transports go, loopback-only becomes all. */
	const char *local = "inet_interfaces = loopback-only\ndefault_transport = " SETUP_LOCAL_TRANSPORT "\n"
			    "relay_transport = error\n";
	struct setup_current was_local = { SETUP_LOCAL_TRANSPORT, "error", "loopback-only" };
	edits_give(SETUP_INTERNET, &was_local, local, "inet_interfaces = all\n" COMMON "relayhost = \n");
	/* Someone else's transports and an instance's own address stay. */
	const char *other = "inet_interfaces = 127.0.0.1\ndefault_transport = smtp:[gw]\n";
	struct setup_current was_other = { "smtp:[gw]", NULL, "127.0.0.1" };
	edits_give(SETUP_SMARTHOST, &was_other, other,
		   "inet_interfaces = 127.0.0.1\ndefault_transport = smtp:[gw]\n" COMMON
		   "relayhost = [smtp.example.org]:587\n");

	/* Blank networks: main.cf's line goes (the default applies). */
	struct setup_answers a = { 0 };
	const char *vals[SQ_COUNT] = { "Internet Site", "example.org", "", "", "", "0", "", "all", "" };
	for (int q = 0; q < SQ_COUNT; q++)
		a.v[q] = xstrdup(vals[q]);
	struct conf_edit e[SETUP_MAX_EDITS];
	size_t n = setup_edits(&a, SETUP_INTERNET, &none, e);
	struct buf out = BUF_INIT;
	const char *in = "mynetworks = 10.0.0.0/8\n";
	conf_edit_text(in, strlen(in), e, n, &out);
	ck_assert_ptr_null(strstr(buf_str(&out), "mynetworks"));
	ck_assert_ptr_nonnull(strstr(buf_str(&out), "mydestination = \n"));
	buf_free(&out);
	setup_answers_free(&a);
}
END_TEST

START_TEST(test_type_from_conf)
{
	ck_assert_int_eq(setup_type_from_conf(NULL, NULL, NULL), SETUP_INTERNET);
	ck_assert_int_eq(setup_type_from_conf(NULL, "all", ""), SETUP_INTERNET);
	ck_assert_int_eq(setup_type_from_conf(NULL, "all", "[gw]"), SETUP_SMARTHOST);
	ck_assert_int_eq(setup_type_from_conf(NULL, "loopback-only", "[gw]"), SETUP_SATELLITE);
	ck_assert_int_eq(setup_type_from_conf("error", "loopback-only", ""), SETUP_LOCAL);
	ck_assert_int_eq(setup_type_from_conf(SETUP_LOCAL_TRANSPORT, NULL, NULL), SETUP_LOCAL);
	ck_assert_int_eq(setup_type_from_conf("smtp", NULL, NULL), SETUP_INTERNET);
}
END_TEST

struct alias_case {
	const char *in;
	const char *value;	/* root: value read, NULL = none */
	const char *set;	/* what we write */
	const char *want;
};

static const struct alias_case alias_cases[] = {
	{ "postmaster: root\n", NULL, "alice", "postmaster: root\nroot: alice\n" },
	{ "postmaster: root", NULL, "alice", "postmaster: root\nroot: alice\n" },
	{ "", NULL, "alice", "root: alice\n" },
	{ "# root: old\npostmaster: root\nroot:\tbob\nother: x\n", "bob", "alice",
	  "# root: old\npostmaster: root\nroot: alice\nother: x\n" },
	/* The same value: the line stays byte for byte. */
	{ "root:\tbob\n", "bob", "bob", "root:\tbob\n" },
	/* Continuation lines belong to the entry; a later duplicate goes. */
	{ "root: bob,\n  carol\n# c\nx: y\nROOT : dave\n", "bob, carol", "alice", "root: alice\n# c\nx: y\n" },
	{ "rootbeer: x\nroot2: y\n", NULL, "alice", "rootbeer: x\nroot2: y\nroot: alice\n" },
};

START_TEST(test_aliases)
{
	const struct alias_case *c = &alias_cases[_i];
	struct buf v = BUF_INIT, out = BUF_INIT;
	bool found = setup_aliases_root_get(c->in, strlen(c->in), &v);
	ck_assert_int_eq(found, c->value != NULL);
	if (found)
		ck_assert_str_eq(buf_str(&v), c->value);
	setup_aliases_root_set(c->in, strlen(c->in), c->set, &out);
	ck_assert_str_eq(buf_str(&out), c->want);
	buf_free(&v);
	buf_free(&out);
}
END_TEST

int main(void)
{
	log_init("test_setup", 0);
	Suite *s = suite_create("setup");
	TCase *tc = tcase_create("core");
	tcase_add_loop_test(tc, test_check, 0, sizeof(checks) / sizeof(checks[0]));
	tcase_add_test(tc, test_names);
	tcase_add_test(tc, test_destinations);
	tcase_add_test(tc, test_edits);
	tcase_add_test(tc, test_type_from_conf);
	tcase_add_loop_test(tc, test_aliases, 0, sizeof(alias_cases) / sizeof(alias_cases[0]));
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
