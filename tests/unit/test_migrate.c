/*
 * test_migrate.c - Check suite for the parsers of tern migrate-sendmail
 * (lib/mail/migrate_parse.c): access, virtusertable and mailertable
 * entries, sendmail.mc calls, sendmail.cf D/C/F/O lines, DAEMON_OPTIONS;
 * and mig_run on the committed fixture of a hosting host.
 */
#include "compat.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mail/config.h"
#include "mail/migrate.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/mem.h"

/* ---- access ---- */

struct acc_case {
	const char *key, *value;
	int ok;
	size_t n;
	struct { enum mig_access_map map; const char *key, *value; } e[3];
};

static const struct acc_case acc_cases[] = {
	{"Connect:127.0.0.1", "RELAY", 1, 1, {{MIG_ACC_RELAY_CLIENT, "127.0.0.1", "OK"}}},
	{"Connect:192.168.10", "REJECT", 1, 1, {{MIG_ACC_CLIENT, "192.168.10", "REJECT"}}},
	{"Connect:IPv6:2001:db8::1", "REJECT", 1, 1, {{MIG_ACC_CLIENT, "2001:db8::1", "REJECT"}}},
	{"Connect:spam.example", "ERROR:\"550 No spam\"", 1, 1,
	 {{MIG_ACC_CLIENT, "spam.example", "550 5.7.1 No spam"}}},
	{"From:bad.example", "ERROR:5.7.1:550 Blocked", 1, 1,
	 {{MIG_ACC_SENDER, "bad.example", "550 5.7.1 Blocked"}}},
	{"From:x@y.example", "ERROR:4.7.0:451 later", 1, 1,
	 {{MIG_ACC_SENDER, "x@y.example", "451 4.7.0 later"}}},
	{"From:user@", "OK", 1, 1, {{MIG_ACC_SENDER, "user@", "OK"}}},
	{"To:backup.example", "RELAY", 1, 1, {{MIG_ACC_RELAY_RCPT, "backup.example", "OK"}}},
	{"To:abuse@shop.example", "OK", 1, 1, {{MIG_ACC_RECIPIENT, "abuse@shop.example", "OK"}}},
	{"To:x.example", "SKIP", 1, 1, {{MIG_ACC_RECIPIENT, "x.example", "DUNNO"}}},
	/* A bare key is Connect, From and To at once; an address only Connect. */
	{"junk.example", "REJECT", 1, 3,
	 {{MIG_ACC_CLIENT, "junk.example", "REJECT"}, {MIG_ACC_SENDER, "junk.example", "REJECT"},
	  {MIG_ACC_RECIPIENT, "junk.example", "REJECT"}}},
	{"198.51.100.7", "REJECT", 1, 1, {{MIG_ACC_CLIENT, "198.51.100.7", "REJECT"}}},
	{"10.1", "RELAY", 1, 1, {{MIG_ACC_RELAY_CLIENT, "10.1", "OK"}}},
	{"friend.example", "RELAY", 1, 2,
	 {{MIG_ACC_RELAY_CLIENT, "friend.example", "OK"}, {MIG_ACC_RELAY_RCPT, "friend.example", "OK"}}},
	{"connect:lower.example", "reject", 1, 1, {{MIG_ACC_CLIENT, "lower.example", "REJECT"}}},
	/* What Tern cannot do. */
	{"From:bulk@news.example", "DISCARD", 0, 0, {{0}}},
	{"From:friend.example", "RELAY", 0, 0, {{0}}},
	{"GreetPause:localhost", "0", 0, 0, {{0}}},
	{"Spam:postmaster@", "FRIEND", 0, 0, {{0}}},
	{"Connect:x.example", "QUARANTINE:why", 0, 0, {{0}}},
	{"Connect:x.example", "MAYBE", 0, 0, {{0}}},
	{"Connect:", "REJECT", 0, 0, {{0}}},
};

START_TEST(test_access)
{
	const struct acc_case *c = &acc_cases[_i];
	struct mig_access a;
	struct buf why = BUF_INIT;
	int rc = mig_access_entry(c->key, c->value, &a, &why);
	ck_assert_msg(rc == c->ok, "%s %s: rc %d (%s)", c->key, c->value, rc, buf_str(&why));
	if (rc) {
		ck_assert_uint_eq(a.n, c->n);
		for (size_t i = 0; i < a.n; i++) {
			ck_assert_int_eq(a.e[i].map, c->e[i].map);
			ck_assert_str_eq(a.e[i].key, c->e[i].key);
			ck_assert_str_eq(a.e[i].value, c->e[i].value);
		}
		mig_access_free(&a);
	} else
		ck_assert_uint_gt(why.len, 0);
	buf_free(&why);
}
END_TEST

/* ---- virtusertable ---- */

struct vu_case {
	const char *key, *value;
	int ok;
	bool is_error;
	const char *want_key, *want_value;
};

static const struct vu_case vu_cases[] = {
	{"info@shop.example", "alice", 1, false, "info@shop.example", "alice"},
	{"sales@shop.example", "bob@partner.example", 1, false, "sales@shop.example", "bob@partner.example"},
	{"@catch.example", "postmaster", 1, false, "@catch.example", "postmaster"},
	{"@shop.example", "error:nouser 550 5.1.1 No such user here", 1, true, "@shop.example",
	 "550 5.1.1 No such user here"},
	{"gone@shop.example", "error:5.1.6:550 Moved away", 1, true, "gone@shop.example", "550 5.1.6 Moved away"},
	{"gone@shop.example", "error:nouser User unknown", 1, true, "gone@shop.example", "550 5.1.1 User unknown"},
	{"@old.example", "%1@shop.example", 0, false, NULL, NULL},
	{"joe+*@shop.example", "joe", 0, false, NULL, NULL},
	{"nodomain", "alice", 0, false, NULL, NULL},
	{"user@", "alice", 0, false, NULL, NULL},
};

START_TEST(test_virtuser)
{
	const struct vu_case *c = &vu_cases[_i];
	struct buf k = BUF_INIT, v = BUF_INIT, why = BUF_INIT;
	bool is_error = false;
	int rc = mig_virtuser_entry(c->key, c->value, &k, &v, &is_error, &why);
	ck_assert_msg(rc == c->ok, "%s %s: rc %d (%s)", c->key, c->value, rc, buf_str(&why));
	if (rc) {
		ck_assert(is_error == c->is_error);
		ck_assert_str_eq(buf_str(&k), c->want_key);
		ck_assert_str_eq(buf_str(&v), c->want_value);
	} else
		ck_assert_uint_gt(why.len, 0);
	buf_free(&k);
	buf_free(&v);
	buf_free(&why);
}
END_TEST

/* ---- mailertable ---- */

struct mt_case {
	const char *key, *value;
	int ok;
	const char *want_key, *want_value;
};

static const struct mt_case mt_cases[] = {
	{"backup.example", "esmtp:[mail.backup.example]", 1, "backup.example", "smtp:[mail.backup.example]"},
	{".corp.example", "relay:gw.corp.example", 1, ".corp.example", "smtp:gw.corp.example"},
	{"v6.example", "smtp:[IPv6:2001:db8::25]", 1, "v6.example", "smtp:[IPv6:2001:db8::25]"},
	{".", "esmtp:[smart.example]", 1, "*", "smtp:[smart.example]"},
	{"here.example", "local:", 1, "here.example", "local:"},
	{"dead.example", "error:5.1.2:550 This domain is gone", 1, "dead.example",
	 "error:5.1.2 This domain is gone"},
	{"dead.example", "error:nohost No such host", 1, "dead.example", "error:5.1.2 No such host"},
	{"uucp.example", "uucp-dom:uuhost", 0, NULL, NULL},
	{"local.example", "local:alice", 0, NULL, NULL},
	{"two.example", "esmtp:a.example:b.example", 0, NULL, NULL},
	{"none.example", "esmtp:", 0, NULL, NULL},
	{"bare.example", "hostonly", 0, NULL, NULL},
};

START_TEST(test_mailertable)
{
	const struct mt_case *c = &mt_cases[_i];
	struct buf k = BUF_INIT, v = BUF_INIT, why = BUF_INIT;
	int rc = mig_mailertable_entry(c->key, c->value, &k, &v, &why);
	ck_assert_msg(rc == c->ok, "%s %s: rc %d (%s)", c->key, c->value, rc, buf_str(&why));
	if (rc) {
		ck_assert_str_eq(buf_str(&k), c->want_key);
		ck_assert_str_eq(buf_str(&v), c->want_value);
	} else
		ck_assert_uint_gt(why.len, 0);
	buf_free(&k);
	buf_free(&v);
	buf_free(&why);
}
END_TEST

/* ---- sendmail.mc ---- */

struct mc_case {
	const char *line;
	int rc;
	const char *name;
	size_t argc;
	const char *argv[MIG_MC_MAXARGS];
};

static const struct mc_case mc_cases[] = {
	{"define(`SMART_HOST', `[relay.isp.example]')dnl\n", 1, "define", 2,
	 {"SMART_HOST", "[relay.isp.example]"}},
	{"FEATURE(`access_db', , `skip')dnl\n", 1, "FEATURE", 3, {"access_db", "", "skip"}},
	{"FEATURE(`greet_pause', `1000')dnl 1 seconds\n", 1, "FEATURE", 2, {"greet_pause", "1000"}},
	{"MASQUERADE_AS(`example.org')dnl\n", 1, "MASQUERADE_AS", 1, {"example.org"}},
	{"define(`confPRIVACY_FLAGS',dnl\n`needmailhelo,authwarnings')dnl\n", 1, "define", 2,
	 {"confPRIVACY_FLAGS", "needmailhelo,authwarnings"}},
	{"DAEMON_OPTIONS(`Family=inet,  Name=MTA-v4, Port=smtp, Addr=127.0.0.1')dnl", 1,
	 "DAEMON_OPTIONS", 1, {"Family=inet,  Name=MTA-v4, Port=smtp, Addr=127.0.0.1"}},
	{"define(`x', ``nested' quotes')", 1, "define", 2, {"x", "`nested' quotes"}},
	{"MAILER_DEFINITIONS\n", 1, "MAILER_DEFINITIONS", 0, {NULL}},
	{"MAILER(smtp)dnl\n", 1, "MAILER", 1, {"smtp"}},
	{"dnl DAEMON_OPTIONS(`Port=25')\n", 0, NULL, 0, {NULL}},
	{"# a comment\n", 0, NULL, 0, {NULL}},
	{"   \n", 0, NULL, 0, {NULL}},
	{"FEATURE(`unclosed'\n", -1, NULL, 0, {NULL}},
	{"define(`a', `b', `c', `d', `e')", -1, NULL, 0, {NULL}},
	{"{junk}", -1, NULL, 0, {NULL}},
	{"MAILER_DEFINITIONS trailing", -1, NULL, 0, {NULL}},
};

START_TEST(test_mc)
{
	const struct mc_case *c = &mc_cases[_i];
	struct mig_mc_call call;
	struct buf why = BUF_INIT;
	int rc = mig_mc_line(c->line, &call, &why);
	ck_assert_msg(rc == c->rc, "%s: rc %d (%s)", c->line, rc, buf_str(&why));
	if (rc == 1) {
		ck_assert_str_eq(call.name, c->name);
		ck_assert_uint_eq(call.argc, c->argc);
		for (size_t i = 0; i < call.argc; i++)
			ck_assert_str_eq(call.argv[i], c->argv[i]);
		mig_mc_call_free(&call);
	}
	buf_free(&why);
}
END_TEST

START_TEST(test_mc_complete)
{
	ck_assert_int_eq(mig_mc_complete("define(`a',dnl\n"), 0);
	ck_assert_int_eq(mig_mc_complete("define(`a',dnl\n`b')dnl\n"), 1);
	ck_assert_int_eq(mig_mc_complete("define(`a)', `b')\n"), 1);
	ck_assert_int_eq(mig_mc_complete("dnl ( not counted\n"), 1);
	ck_assert_int_eq(mig_mc_complete("define(`open\n"), 0);
}
END_TEST

/* ---- sendmail.cf ---- */

struct cf_case {
	const char *line;
	int rc;
	char kind;
	const char *name, *value;
};

static const struct cf_case cf_cases[] = {
	{"DS[relay.isp.example]", 1, 'D', "S", "[relay.isp.example]"},
	{"DS", 1, 'D', "S", ""},
	{"DMexample.org", 1, 'D', "M", "example.org"},
	{"Djmx.hosting.example", 1, 'D', "j", "mx.hosting.example"},
	{"D{MTAHost}[mail.example]", 1, 'D', "MTAHost", "[mail.example]"},
	{"Cwlocalhost", 1, 'C', "w", "localhost"},
	{"Cw a.example b.example", 1, 'C', "w", "a.example b.example"},
	{"C{w}c.example", 1, 'C', "w", "c.example"},
	{"Fw/etc/mail/local-host-names %[^\\#]", 1, 'F', "w", "/etc/mail/local-host-names %[^\\#]"},
	{"O MaxMessageSize=26214400", 1, 'O', "MaxMessageSize", "26214400"},
	{"O DaemonPortOptions=Family=inet,  Name=MTA-v4, Port=smtp", 1, 'O', "DaemonPortOptions",
	 "Family=inet,  Name=MTA-v4, Port=smtp"},
	{"R$* < @ $=w > $*	$1", 0, 0, NULL, NULL},
	{"Ox", 0, 0, NULL, NULL},
	{"D{unclosed", 0, 0, NULL, NULL},
	{"D{}x", 0, 0, NULL, NULL},
	{"", 0, 0, NULL, NULL},
};

START_TEST(test_cf)
{
	const struct cf_case *c = &cf_cases[_i];
	char kind = 0, *name, *value;
	int rc = mig_cf_line(c->line, &kind, &name, &value);
	ck_assert_msg(rc == c->rc, "%s: rc %d", c->line, rc);
	if (rc) {
		ck_assert_int_eq(kind, c->kind);
		ck_assert_str_eq(name, c->name);
		ck_assert_str_eq(value, c->value);
		free(name);
		free(value);
	}
}
END_TEST

/* ---- DAEMON_OPTIONS ---- */

START_TEST(test_daemon)
{
	struct mig_daemon d;
	struct buf why = BUF_INIT;
	ck_assert_int_eq(mig_daemon_options("Family=inet,  Name=MSP-v4, Port=submission, M=Ea, Addr=127.0.0.1",
					    &d, &why), 1);
	ck_assert_str_eq(d.port, "submission");
	ck_assert_str_eq(d.addr, "127.0.0.1");
	ck_assert_str_eq(d.modifiers, "Ea");
	ck_assert_str_eq(d.name, "MSP-v4");
	mig_daemon_free(&d);
	ck_assert_int_eq(mig_daemon_options("Name=MTA", &d, &why), 1);
	ck_assert_str_eq(d.port, "smtp");
	ck_assert_str_eq(d.addr, "");
	mig_daemon_free(&d);
	ck_assert_int_eq(mig_daemon_options("Family=local, Addr=/var/run/s", &d, &why), 0);
	buf_reset(&why);
	ck_assert_int_eq(mig_daemon_options("Port=25, InputMailFilters=f", &d, &why), 0);
	ck_assert_uint_gt(why.len, 0);
	buf_free(&why);
}
END_TEST

/* ---- the whole hosting fixture ---- */

static bool report_has(const struct mig_result *r, const char *s)
{
	return strstr(buf_str(&r->report), s) != NULL;
}

START_TEST(test_run_hosting)
{
	struct mig_result r;
	struct buf err = BUF_INIT;
	char *from = xasprintf("%s/tests/fixtures/sendmail/hosting", TERN_BUILD_DIR);
	ck_assert_int_eq(mig_run(from, "/etc/tern", &r, &err), 0);
	ck_assert_str_eq(mig_get(&r, P_message_size_limit), "26214400");
	ck_assert_str_eq(mig_get(&r, P_myhostname), "mx.hosting.example");
	ck_assert_str_eq(mig_get(&r, P_inet_interfaces), "all");
	/* shop.example's unlisted users were refused: a virtual alias domain, not local. */
	ck_assert_str_eq(mig_get(&r, P_mydestination),
			 "$myhostname, localhost.$mydomain, localhost, hosting.example");
	ck_assert_str_eq(mig_get(&r, P_virtual_alias_domains), "shop.example");
	ck_assert_str_eq(mig_get(&r, P_relay_domains), "backup.example");
	ck_assert_str_eq(mig_get(&r, P_mynetworks), "127.0.0.0/8, [::1]/128, 192.168.10.0/24, 10.1.2.3/32");
	ck_assert_str_eq(mig_get(&r, P_transport_maps), "hash:/etc/tern/transport");
	ck_assert_ptr_null(mig_get(&r, P_relayhost));
	ck_assert(report_has(&r, "/access:9: From:bulk@news.example DISCARD"));
	ck_assert(report_has(&r, "/virtusertable:6: @old.example %1@shop.example"));
	ck_assert(report_has(&r, "/mailertable:4: uucp.example uucp-dom:uuhost"));
	ck_assert(report_has(&r, "/domaintable:1:"));
	ck_assert(report_has(&r, "/relay-domains:5: IPv6:2001:db8:1"));
	ck_assert(report_has(&r, "/sendmail.mc:25: FEATURE(`smrsh')"));
	ck_assert_uint_eq(r.untranslated, 12);
	mig_result_free(&r);
	buf_free(&err);
	free(from);
}
END_TEST

START_TEST(test_run_missing)
{
	struct mig_result r;
	struct buf err = BUF_INIT;
	ck_assert_int_eq(mig_run("/nonexistent/etc/mail", "/tmp", &r, &err), -1);
	ck_assert_uint_gt(err.len, 0);
	buf_free(&err);
}
END_TEST

int main(void)
{
	log_init("test_migrate", 0);
	Suite *s = suite_create("migrate");
	TCase *tc = tcase_create("core");
	tcase_add_loop_test(tc, test_access, 0, sizeof(acc_cases) / sizeof(acc_cases[0]));
	tcase_add_loop_test(tc, test_virtuser, 0, sizeof(vu_cases) / sizeof(vu_cases[0]));
	tcase_add_loop_test(tc, test_mailertable, 0, sizeof(mt_cases) / sizeof(mt_cases[0]));
	tcase_add_loop_test(tc, test_mc, 0, sizeof(mc_cases) / sizeof(mc_cases[0]));
	tcase_add_test(tc, test_mc_complete);
	tcase_add_loop_test(tc, test_cf, 0, sizeof(cf_cases) / sizeof(cf_cases[0]));
	tcase_add_test(tc, test_daemon);
	tcase_add_test(tc, test_run_hosting);
	tcase_add_test(tc, test_run_missing);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
