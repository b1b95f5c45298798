/*
 * test_login_sender.c - Check suite for local_login_sender_maps matching
 * (lib/mail/login_sender.c), table-driven with inline: tables, and for
 * login_of_uid (its answers injected with a look-up hook).
 */
#include "compat.h"

#include <check.h>
#include <errno.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "mail/login_sender.h"
#include "mail/qfile.h"
#include "util/buf.h"

#define MAPS "inline:{ { alice = alice, @alice.example }, { root = * }, { bounce = <> }, " \
	     "{ bob = bob@other.example bob } }"

static const struct ls_case {
	const char *maps, *login, *sender;
	int want;
} cases[] = {
	{.maps = "static:*", .login = "anyone", .sender = "ceo@bank.example", .want = 1},
	{.maps = "", .login = "anyone", .sender = "x@y", .want = 1},
	{.maps = MAPS, .login = "alice", .sender = "alice", .want = 1},
	{.maps = MAPS, .login = "alice", .sender = "alice@test.example", .want = 1},
	{.maps = MAPS, .login = "alice", .sender = "ALICE@Test.Example", .want = 1},
	{.maps = MAPS, .login = "alice", .sender = "anything@alice.example", .want = 1},
	{.maps = MAPS, .login = "alice", .sender = "x@sub.alice.example", .want = 0},
	{.maps = MAPS, .login = "alice", .sender = "bob@test.example", .want = 0},
	{.maps = MAPS, .login = "alice", .sender = "", .want = 0},
	{.maps = MAPS, .login = "root", .sender = "whoever@wherever.example", .want = 1},
	{.maps = MAPS, .login = "root", .sender = "", .want = 1},
	{.maps = MAPS, .login = "bounce", .sender = "", .want = 1},
	{.maps = MAPS, .login = "bounce", .sender = "bounce", .want = 0},
	{.maps = MAPS, .login = "bob", .sender = "bob@other.example", .want = 1},
	{.maps = MAPS, .login = "bob", .sender = "bob", .want = 1},
	{.maps = MAPS, .login = "bob", .sender = "bob@elsewhere.example", .want = 0},
	{.maps = MAPS, .login = "mallory", .sender = "mallory", .want = 0},	/* not in the table */
	{.maps = "nosuchtype:/x", .login = "alice", .sender = "alice", .want = -1},
	{.maps = "static:@test.example", .login = "alice", .sender = "alice", .want = 1},
	{.maps = "static:@test.example", .login = "alice", .sender = "a@other.example", .want = 0},
	{.maps = " , static:{ <>, bob }, " MAPS, .login = "alice", .sender = "alice", .want = 0},
	{.maps = " , static:{ <>, bob }, " MAPS, .login = "mallory", .sender = "", .want = 1},
};

START_TEST(test_cases)
{
	const struct ls_case *c = &cases[_i];
	struct buf err = BUF_INIT;
	int got = login_sender_allowed(c->maps, c->login, c->sender, "test.example", &err);
	ck_assert_msg(got == c->want, "%s / %s as <%s>: got %d want %d (%s)", c->maps, c->login, c->sender,
		      got, c->want, buf_str(&err));
	if (got < 0)
		ck_assert_uint_gt(err.len, 0);
	/* Maps that need no login (sendmail then looks none up) answer alike for any. */
	if (!login_sender_needs_login(c->maps))
		ck_assert_int_eq(login_sender_allowed(c->maps, "", c->sender, "test.example", &err), c->want);
	buf_free(&err);
}
END_TEST

/* Which maps sendmail -f needs the submitter's login for: all but a static: first. */
START_TEST(test_sender_needs_login)
{
	ck_assert(!login_sender_needs_login("static:*"));
	ck_assert(!login_sender_needs_login(" ,static:{ <>, bob }, hash:/etc/x"));
	ck_assert(!login_sender_needs_login(""));
	ck_assert(!login_sender_needs_login(" , "));
	ck_assert(!login_sender_needs_login(NULL));
	ck_assert(login_sender_needs_login(MAPS));
	ck_assert(login_sender_needs_login("hash:/etc/x, static:*"));
	ck_assert(login_sender_needs_login("statics:*"));
}
END_TEST

static const struct submit_case {
	const char *list[4];
	const char *login;
	int want;
} submit_cases[] = {
	{.list = {"static:anyone"}, .login = "joe", .want = 1},
	{.list = {NULL}, .login = "joe", .want = 0},
	{.list = {"root", "joe"}, .login = "joe", .want = 1},
	{.list = {"root", "joe"}, .login = "ann", .want = 0},
	{.list = {"!joe", "static:anyone"}, .login = "joe", .want = 0},
	{.list = {"!joe", "static:anyone"}, .login = "ann", .want = 1},
	{.list = {"inline:{ ann=x }"}, .login = "ann", .want = 1},
	{.list = {"inline:{ ann=x }"}, .login = "bob", .want = 0},
	{.list = {"nosuchtype:x"}, .login = "bob", .want = -1},
	{.list = {"static:{ x }", "!bob"}, .login = "bob", .want = 1},
	{.list = {"static:bad}"}, .login = "bob", .want = -1},
};

START_TEST(test_submit_users)
{
	const struct submit_case *c = &submit_cases[_i];
	struct buf err = BUF_INIT;
	ck_assert_int_eq(submit_user_allowed((char *const *)c->list, c->login, &err), c->want);
	/* A list that needs no login (sendmail then looks none up) answers alike for any. */
	bool needs = submit_user_needs_login((char *const *)c->list);
	ck_assert_int_eq(needs, c->list[0] == NULL || strncmp(c->list[0], "static:", 7) != 0);
	if (!needs)
		ck_assert_int_eq(submit_user_allowed((char *const *)c->list, "", &err), c->want);
	buf_free(&err);
}
END_TEST

/* The login pickup, mailq and the writers derive from a uid: the name, or #UID. */
START_TEST(test_login_of_uid)
{
	char login[256], tiny[3];
	struct buf name = BUF_INIT;
	struct passwd *pw = getpwuid(0);
	ck_assert_int_eq(login_of_uid(0, login, sizeof(login), &name), 0);
	ck_assert_str_eq(login, pw != NULL ? pw->pw_name : "#0");
	if (pw != NULL && pw->pw_gecos != NULL && strchr(pw->pw_gecos, ',') == NULL && qfile_field_valid(pw->pw_gecos))
		ck_assert_str_eq(buf_str(&name), pw->pw_gecos);
	/*
	 * A uid without an entry is faked in test_login_of_uid_answers: a real
	 * look-up of an unknown uid fails instead of answering where an NSS
	 * source is unreachable.
	 */
	/* A name that does not fit is not cut: the uid instead. */
	login_of_uid(0, tiny, sizeof(tiny), NULL);
	ck_assert_str_eq(tiny, pw != NULL && strlen(pw->pw_name) < 3 ? pw->pw_name : "#0");
	buf_free(&name);
}
END_TEST

/* What the look-up hook below answers: an errno, or an entry (NULL: none). */
static int fake_rc;
static struct passwd *fake_pw;
static size_t fake_need;	/* ERANGE below this buffer size */

static int fake_lookup(uid_t uid, struct passwd *pwbuf, char *store, size_t len, struct passwd **result)
{
	(void)uid;
	(void)store;
	*result = NULL;
	if (len < fake_need)
		return ERANGE;
	if (fake_rc != 0)
		return fake_rc;
	if (fake_pw != NULL) {
		*pwbuf = *fake_pw;
		*result = pwbuf;
	}
	return 0;
}

/*
 * A look-up that fails (an LDAP or SSSD source down) is told from a uid
 * without an entry; an empty name is no login; a GECOS name of any length
 * that is a valid field is kept whole.
 */
START_TEST(test_login_of_uid_answers)
{
	char login[256], gecos[600];
	struct buf name = BUF_INIT;
	struct passwd entry = {.pw_name = "ann", .pw_gecos = gecos};

	login_of_uid_lookup_hook(fake_lookup);
	fake_need = 0;
	fake_pw = NULL;
	fake_rc = EIO;
	ck_assert_int_eq(login_of_uid(1000, login, sizeof(login), &name), -1);
	ck_assert_str_eq(login, "#1000");
	ck_assert_str_eq(buf_str(&name), "");
	fake_rc = ENOENT;	/* what glibc passes on from a source that is down */
	ck_assert_int_eq(login_of_uid(1000, login, sizeof(login), NULL), -1);
	fake_rc = 0;	/* no entry: an answer */
	buf_adds(&name, "stale");
	ck_assert_int_eq(login_of_uid(3999999999u, login, sizeof(login), &name), 0);
	ck_assert_str_eq(login, "#3999999999");
	ck_assert_str_eq(buf_str(&name), "");

	memset(gecos, 'A', 300);
	strcpy(gecos + 300, ",room 1,phone");
	fake_pw = &entry;
	fake_need = 10000;	/* the buffer grows until it is enough */
	ck_assert_int_eq(login_of_uid(1000, login, sizeof(login), &name), 0);
	ck_assert_str_eq(login, "ann");
	ck_assert_uint_eq(name.len, 300);
	ck_assert(strspn(buf_str(&name), "A") == 300);
	gecos[5] = '\n';
	login_of_uid(1000, login, sizeof(login), &name);
	ck_assert_str_eq(buf_str(&name), "");
	entry.pw_name = "";
	ck_assert_int_eq(login_of_uid(1000, login, sizeof(login), NULL), 0);
	ck_assert_str_eq(login, "#1000");
	entry.pw_name = NULL;
	login_of_uid(1000, login, sizeof(login), NULL);
	ck_assert_str_eq(login, "#1000");

	login_of_uid_lookup_hook(NULL);
	buf_free(&name);
}
END_TEST

/*
 * pickup and a failed look-up of a maildrop file's owner: the file waits
 * for an hour, then goes with "#UID"; one warning a minute per uid.
 */
START_TEST(test_lookup_failure_policy)
{
	ck_assert(!login_lookup_patience_over(1000, 1000));
	ck_assert(!login_lookup_patience_over(1000, 1000 + LOGIN_LOOKUP_PATIENCE - 1));
	ck_assert(login_lookup_patience_over(1000, 1000 + LOGIN_LOOKUP_PATIENCE));
	ck_assert(login_lookup_patience_over(1000, 1000 + 10 * LOGIN_LOOKUP_PATIENCE));

	ck_assert(login_lookup_warn_due(1001, 5000));
	ck_assert(!login_lookup_warn_due(1001, 5000));
	ck_assert(!login_lookup_warn_due(1001, 5059));
	ck_assert(login_lookup_warn_due(1002, 5059));	/* another uid: its own minute */
	ck_assert(login_lookup_warn_due(1001, 5060));
	ck_assert(!login_lookup_warn_due(1001, 5061));
	ck_assert(login_lookup_warn_due(1001, 4000));	/* the clock set back: not silent for long */
	/* More uids than remembered: one pushed out warns again (more warnings, never none). */
	for (uid_t u = 2000; u < 2016; u++)
		ck_assert(login_lookup_warn_due(u, 6000));
	ck_assert(login_lookup_warn_due(2000, 6000));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("login_sender");
	TCase *tc = tcase_create("core");
	tcase_add_loop_test(tc, test_cases, 0, sizeof(cases) / sizeof(cases[0]));
	tcase_add_loop_test(tc, test_submit_users, 0, sizeof(submit_cases) / sizeof(submit_cases[0]));
	tcase_add_test(tc, test_sender_needs_login);
	tcase_add_test(tc, test_login_of_uid);
	tcase_add_test(tc, test_lookup_failure_policy);
	tcase_add_test(tc, test_login_of_uid_answers);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
