/*
 * test_sasl.c - Check suite for the server side of SMTP AUTH:
 * the mechanism filter of smtpd_sasl_security_options,
 * PLAIN/LOGIN parsing (lib/mail/sasl_mech.c), whole exchanges on the
 * built-in "tern" backend (lib/mail/sasl.c), crypt(3) verification, and
 * the failure counter (lib/mail/sasl_penalty.c). Dovecot's protocol is
 * in test_sasl_dovecot.c.
 */
#include "compat.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mail/sasl.h"
#include "mail/sasl_backend.h"
#include "mail/sasl_penalty.h"
#include "util/base64.h"

#define S(lit) lit, sizeof(lit) - 1	/* bytes and length of a literal with NULs */

/* ---- PLAIN parsing --------------------------------------------------- */

static const struct plain_case {
	const char *name;
	const char *data;
	size_t len;
	int want_rc;
	const char *want_user, *want_pass;
} plain_cases[] = {
	{.name = "no authzid", .data = S("\0alice\0secret"), .want_rc = 0,
	 .want_user = "alice", .want_pass = "secret"},
	{.name = "authzid equal to user", .data = S("alice\0alice\0secret"), .want_rc = 0,
	 .want_user = "alice", .want_pass = "secret"},
	{.name = "authzid of another user", .data = S("root\0alice\0secret"), .want_rc = -1},
	{.name = "password with spaces and UTF-8", .data = S("\0alice\0p w \xc3\xa9"), .want_rc = 0,
	 .want_user = "alice", .want_pass = "p w \xc3\xa9"},
	{.name = "third NUL inside the password", .data = S("\0alice\0sec\0ret"), .want_rc = -1},
	{.name = "trailing NUL", .data = S("\0alice\0secret\0"), .want_rc = -1},
	{.name = "one NUL only", .data = S("\0alicesecret"), .want_rc = -1},
	{.name = "no NUL at all", .data = S("alice secret"), .want_rc = -1},
	{.name = "empty user", .data = S("\0\0secret"), .want_rc = -1},
	{.name = "empty password", .data = S("\0alice\0"), .want_rc = -1},
	{.name = "two NULs only", .data = S("\0\0"), .want_rc = -1},
	{.name = "empty", .data = "", .len = 0, .want_rc = -1},
	{.name = "absent", .data = NULL, .len = 0, .want_rc = -1},
	{.name = "CR LF in the user name", .data = S("\0ali\r\nce\0secret"), .want_rc = -1},
	{.name = "TAB in the user name", .data = S("\0ali\tce\0secret"), .want_rc = -1},
	{.name = "control character in authzid", .data = S("a\x01\0alice\0secret"), .want_rc = -1},
};

START_TEST(test_plain_parse)
{
	const struct plain_case *c = &plain_cases[_i];
	struct buf user = BUF_INIT, pass = BUF_INIT;
	int rc = sasl_plain_parse(c->data, c->len, &user, &pass);
	ck_assert_msg(rc == c->want_rc, "%s: rc %d, want %d", c->name, rc, c->want_rc);
	if (rc == 0) {
		ck_assert_str_eq(buf_str(&user), c->want_user);
		ck_assert_str_eq(buf_str(&pass), c->want_pass);
	} else {
		ck_assert_msg(user.len > 0, "%s: no reason given", c->name);
		ck_assert_uint_eq(pass.len, 0);
	}
	buf_free(&user);
	buf_free(&pass);
}
END_TEST

/* Field limits: 255 bytes pass, 256 do not, for each field. */
START_TEST(test_plain_lengths)
{
	struct buf msg = BUF_INIT, user = BUF_INIT, pass = BUF_INIT;
	for (int field = 0; field < 3; field++) {
		for (size_t n = SASL_MAX_FIELD; n <= SASL_MAX_FIELD + 1; n++) {
			buf_reset(&msg);
			char big[SASL_MAX_FIELD + 2];
			memset(big, 'x', n);
			big[n] = '\0';
			if (field == 0)		/* authzid equal to a long user */
				buf_printf(&msg, "%s%c%s%cpw", big, 0, big, 0);
			else if (field == 1)
				buf_printf(&msg, "%c%s%cpw", 0, big, 0);
			else
				buf_printf(&msg, "%cuser%c%s", 0, 0, big);
			int rc = sasl_plain_parse(msg.data, msg.len, &user, &pass);
			ck_assert_msg(rc == (n <= SASL_MAX_FIELD ? 0 : -1),
				      "field %d length %zu: rc %d", field, n, rc);
		}
	}
	buf_free(&msg);
	buf_free(&user);
	buf_free(&pass);
}
END_TEST

/* ---- LOGIN fields ------------------------------------------------------ */

static const struct login_case {
	const char *data;
	size_t len;
	bool is_name;
	int want_rc;
} login_cases[] = {
	{.data = S("alice"), .is_name = true, .want_rc = 0},
	{.data = S("alice@example.org"), .is_name = true, .want_rc = 0},
	{.data = S(""), .is_name = true, .want_rc = -1},
	{.data = NULL, .len = 0, .is_name = true, .want_rc = -1},
	{.data = S("ali\0ce"), .is_name = true, .want_rc = -1},
	{.data = S("alice\n"), .is_name = true, .want_rc = -1},
	{.data = S("pass word\t1"), .is_name = false, .want_rc = 0},
	{.data = S("pass\0word"), .is_name = false, .want_rc = -1},
	{.data = S(""), .is_name = false, .want_rc = -1},
};

START_TEST(test_login_field)
{
	const struct login_case *c = &login_cases[_i];
	ck_assert_int_eq(sasl_login_field(c->data, c->len, c->is_name), c->want_rc);
}
END_TEST

/* ---- crypt(3) ----------------------------------------------------------- */

/* Made with crypt_gensalt + crypt for the password "secret". */
#define HASH_Y "$y$j9T$VOK7F2YQJ3RsMlkvIq7sR0$SkCIRtVlZVR2QJHfOX8ALDw2s25K6Lc3LnNIBKp4.g."
#define HASH_6 "$6$PL78UUM3jHAMUcIz$DMs0LBIOt1zkhkeKdOzPYGRu6PB9F/DSyjsm8gp7ucfbtd.Kf36/UVjk3C3IIv/4hR8gjJSolo6cUt3Mo6tuj."

static const struct crypt_case {
	const char *pass, *hash;
	int want;
} crypt_cases[] = {
	{.pass = "secret", .hash = HASH_Y, .want = 1},
	{.pass = "secret", .hash = HASH_6, .want = 1},
	{.pass = "Secret", .hash = HASH_Y, .want = 0},
	{.pass = "secret ", .hash = HASH_6, .want = 0},
	{.pass = "", .hash = HASH_Y, .want = 0},
	{.pass = "secret", .hash = NULL, .want = 0},		/* no such user */
	{.pass = "secret", .hash = "!" HASH_Y, .want = 0},	/* locked */
	{.pass = "secret", .hash = "*", .want = 0},
	{.pass = "secret", .hash = "", .want = 0},
	{.pass = "secret", .hash = "$nonsense$xx", .want = -1},
	/* A prefix of the right hash must not match. */
	{.pass = "secret", .hash = "$y$j9T$VOK7F2YQJ3RsMlkvIq7sR0$", .want = 0},
};

START_TEST(test_crypt_verify)
{
	const struct crypt_case *c = &crypt_cases[_i];
	ck_assert_msg(sasl_crypt_verify(c->pass, c->hash) == c->want, "case %d", _i);
}
END_TEST

/* ---- whole exchanges on the tern backend --------------------------------- */

static int lookup_errors;

/* An in-memory password table. */
static int test_lookup(void *ctx, const char *user, struct buf *value)
{
	(void)ctx;
	if (strcmp(user, "broken") == 0) {
		lookup_errors++;
		buf_adds(value, "database on fire");
		return -1;
	}
	if (strcmp(user, "alice") == 0) {
		buf_adds(value, HASH_Y);
		return 1;
	}
	if (strcmp(user, "bob") == 0) {
		buf_adds(value, HASH_6 " extra fields ignored");
		return 1;
	}
	return 0;
}

#define NO_DATA ((const char *)1)	/* marks "no initial response" in a table */

struct step {
	const char *data;	/* NO_DATA: pass NULL */
	size_t len;
	enum sasl_status want;
	const char *want_challenge;	/* for SASL_CONTINUE */
};

static const struct exchange_case {
	const char *name;
	const char *mech;
	struct step steps[4];
	int nsteps;
	const char *want_user;
} exchange_cases[] = {
	{.name = "PLAIN initial response", .mech = "PLAIN", .nsteps = 1,
	 .steps = {{S("\0alice\0secret"), SASL_DONE, NULL}}, .want_user = "alice"},
	{.name = "plain in lower case", .mech = "plain", .nsteps = 1,
	 .steps = {{S("\0bob\0secret"), SASL_DONE, NULL}}, .want_user = "bob"},
	{.name = "PLAIN without initial response", .mech = "PLAIN", .nsteps = 2,
	 .steps = {{NO_DATA, 0, SASL_CONTINUE, ""}, {S("\0alice\0secret"), SASL_DONE, NULL}},
	 .want_user = "alice"},
	{.name = "PLAIN empty initial response", .mech = "PLAIN", .nsteps = 1,
	 .steps = {{"", 0, SASL_FAIL, NULL}}},
	{.name = "PLAIN wrong password", .mech = "PLAIN", .nsteps = 1,
	 .steps = {{S("\0alice\0wrong"), SASL_FAIL, NULL}}},
	{.name = "PLAIN unknown user", .mech = "PLAIN", .nsteps = 1,
	 .steps = {{S("\0mallory\0secret"), SASL_FAIL, NULL}}},
	{.name = "PLAIN password cut by a NUL", .mech = "PLAIN", .nsteps = 1,
	 .steps = {{S("\0alice\0secret\0more"), SASL_FAIL, NULL}}},
	{.name = "PLAIN authzid of another user", .mech = "PLAIN", .nsteps = 1,
	 .steps = {{S("bob\0alice\0secret"), SASL_FAIL, NULL}}},
	{.name = "PLAIN lookup error", .mech = "PLAIN", .nsteps = 1,
	 .steps = {{S("\0broken\0secret"), SASL_TEMPFAIL, NULL}}},
	{.name = "LOGIN", .mech = "LOGIN", .nsteps = 3,
	 .steps = {{NO_DATA, 0, SASL_CONTINUE, "Username:"},
		   {S("alice"), SASL_CONTINUE, "Password:"},
		   {S("secret"), SASL_DONE, NULL}}, .want_user = "alice"},
	{.name = "LOGIN user as initial response", .mech = "LOGIN", .nsteps = 2,
	 .steps = {{S("bob"), SASL_CONTINUE, "Password:"}, {S("secret"), SASL_DONE, NULL}},
	 .want_user = "bob"},
	{.name = "LOGIN wrong password", .mech = "LOGIN", .nsteps = 3,
	 .steps = {{NO_DATA, 0, SASL_CONTINUE, "Username:"},
		   {S("alice"), SASL_CONTINUE, "Password:"}, {S("secret!"), SASL_FAIL, NULL}}},
	{.name = "LOGIN empty user", .mech = "LOGIN", .nsteps = 2,
	 .steps = {{NO_DATA, 0, SASL_CONTINUE, "Username:"}, {"", 0, SASL_FAIL, NULL}}},
	{.name = "LOGIN user with NUL", .mech = "LOGIN", .nsteps = 2,
	 .steps = {{NO_DATA, 0, SASL_CONTINUE, "Username:"}, {S("alice\0x"), SASL_FAIL, NULL}}},
	{.name = "LOGIN password with NUL", .mech = "LOGIN", .nsteps = 3,
	 .steps = {{NO_DATA, 0, SASL_CONTINUE, "Username:"},
		   {S("alice"), SASL_CONTINUE, "Password:"}, {S("secret\0"), SASL_FAIL, NULL}}},
	{.name = "step after success", .mech = "PLAIN", .nsteps = 2,
	 .steps = {{S("\0alice\0secret"), SASL_DONE, NULL}, {S("\0alice\0secret"), SASL_FAIL, NULL}},
	 .want_user = "alice"},
	{.name = "step after failure", .mech = "PLAIN", .nsteps = 2,
	 .steps = {{S("\0alice\0nope"), SASL_FAIL, NULL}, {S("\0alice\0secret"), SASL_FAIL, NULL}}},
};

static void setup_tern(void)
{
	struct buf err = BUF_INIT;
	struct sasl_setup su = {.type = "tern", .lookup = test_lookup};
	ck_assert_msg(sasl_server_setup(&su, &err) == 0, "%s", buf_str(&err));
	buf_free(&err);
}

static void teardown(void)
{
	sasl_server_shutdown();
}

START_TEST(test_exchange)
{
	const struct exchange_case *c = &exchange_cases[_i];
	struct sasl_server *s = sasl_server_new(c->mech, "192.0.2.1", true);
	ck_assert_msg(s != NULL, "%s: mechanism refused", c->name);
	struct buf ch = BUF_INIT;
	for (int i = 0; i < c->nsteps; i++) {
		const struct step *st = &c->steps[i];
		const char *data = st->data == NO_DATA ? NULL : st->data;
		enum sasl_status got = sasl_server_step(s, data, st->len, &ch);
		ck_assert_msg(got == st->want, "%s: step %d gave %d, want %d (%s)",
			      c->name, i, got, st->want, buf_str(&ch));
		if (got == SASL_CONTINUE)
			ck_assert_str_eq(buf_str(&ch), st->want_challenge);
		if (got == SASL_FAIL || got == SASL_TEMPFAIL)
			ck_assert_msg(ch.len > 0, "%s: failure without a reason", c->name);
	}
	if (c->want_user)
		ck_assert_str_eq(sasl_username(s), c->want_user);
	else
		ck_assert_ptr_null(sasl_username(s));
	sasl_server_free(s);
	buf_free(&ch);
}
END_TEST

START_TEST(test_mechanisms)
{
	ck_assert_str_eq(sasl_server_mechanisms(true), "PLAIN LOGIN");
	ck_assert_ptr_null(sasl_server_new("CRAM-MD5", "192.0.2.1", true));
	ck_assert_ptr_null(sasl_server_new("", "192.0.2.1", true));
	ck_assert_ptr_null(sasl_server_new("PLAINX", "192.0.2.1", true));
	ck_assert_ptr_null(sasl_server_new("PLAIN LOGIN", "192.0.2.1", true));
	/* A client that never finishes: bounded number of steps. */
	struct sasl_server *s = sasl_server_new("LOGIN", NULL, false);
	struct buf ch = BUF_INIT;
	ck_assert_int_eq(sasl_server_step(s, NULL, 0, &ch), SASL_CONTINUE);
	ck_assert_int_eq(sasl_server_step(s, S("alice"), &ch), SASL_CONTINUE);
	sasl_server_free(s);	/* abandoned mid-way: no leak (ASan) */
	buf_free(&ch);
}
END_TEST

/* smtpd_sasl_security_options: which mechanisms each option leaves. */
static const struct {
	const char *mechs;
	const char *options[4];
	const char *want;
} filter_cases[] = {
	{"PLAIN LOGIN", {"noanonymous"}, "PLAIN LOGIN"},
	{"PLAIN LOGIN", {"noanonymous", "noplaintext"}, ""},
	{"PLAIN login CRAM-MD5", {"NOPLAINTEXT"}, "CRAM-MD5"},
	{"PLAIN ANONYMOUS", {NULL}, "PLAIN ANONYMOUS"},
	{"PLAIN ANONYMOUS", {"noanonymous"}, "PLAIN"},
	{"PLAIN CRAM-MD5 EXTERNAL GSSAPI", {"nodictionary"}, "EXTERNAL"},
	{"PLAIN CRAM-MD5 EXTERNAL GSSAPI", {"noactive"}, "EXTERNAL GSSAPI"},
	{"PLAIN SCRAM-SHA-256 XOAUTH2", {"mutual_auth"}, "SCRAM-SHA-256"},
	{"PLAIN XOAUTH2", {"noplaintext", "noanonymous"}, "XOAUTH2"},
	{"PLAIN SCRAM-SHA-1", {"forward_secrecy"}, ""},
	{"", {"noanonymous"}, ""},
};

START_TEST(test_mechanisms_allowed)
{
	struct buf out = BUF_INIT;
	buf_adds(&out, "left over");
	sasl_mechanisms_allowed(filter_cases[_i].mechs, (char *const *)filter_cases[_i].options, &out);
	ck_assert_str_eq(buf_str(&out), filter_cases[_i].want);
	buf_free(&out);
}
END_TEST

START_TEST(test_setup_errors)
{
	struct buf err = BUF_INIT;
	struct sasl_setup none = {.type = "tern"};
	ck_assert_int_eq(sasl_server_setup(&none, &err), -1);
	ck_assert_uint_gt(err.len, 0);
	buf_reset(&err);
	struct sasl_setup bad = {.type = "cyrus"};
	ck_assert_int_eq(sasl_server_setup(&bad, &err), -1);
	ck_assert_ptr_nonnull(strstr(buf_str(&err), "cyrus"));
	ck_assert_str_eq(sasl_server_mechanisms(false), "");
	ck_assert_ptr_null(sasl_server_new("PLAIN", "192.0.2.1", true));
	buf_reset(&err);
	struct sasl_setup nopath = {.type = "dovecot", .dovecot_path = "/nonexistent/auth"};
	ck_assert_int_eq(sasl_server_setup(&nopath, &err), -1);
	ck_assert_ptr_nonnull(strstr(buf_str(&err), "/nonexistent/auth"));
	buf_free(&err);
}
END_TEST

/* ---- base64 as the SMTP engine decodes it, into PLAIN --------------------- */

/* What a client may send after "AUTH PLAIN " or "334 ": only strict
 * base64 reaches the backend, and only the right bytes authenticate. */
static const struct b64_case {
	const char *text;
	bool want_decoded;
	enum sasl_status want;		/* when decoded */
} b64_cases[] = {
	{"AGFsaWNlAHNlY3JldA==", true, SASL_DONE},		/* \0alice\0secret */
	{"YWxpY2UAYWxpY2UAc2VjcmV0", true, SASL_DONE},		/* alice\0alice\0secret */
	{"AGFsaWNlAHNlY3JldAA=", true, SASL_FAIL},		/* trailing NUL */
	{"AGFsaWNlAHNlYwByZXQ=", true, SASL_FAIL},		/* NUL inside the password */
	{"AGFsaWNlAHdyb25n", true, SASL_FAIL},			/* wrong password */
	{"AAA=", true, SASL_FAIL},				/* \0\0 */
	{"AGFsaWNlAHNlY3JldA", false, 0},			/* padding missing */
	{"AGFsaWNl=AHNlY3JldA==", false, 0},			/* padding inside */
	{"AGFsaWNl AHNlY3JldA==", false, 0},			/* space */
	{"AGFsaWNlAHNlY3JldA==\r", false, 0},			/* CR left over */
	{"AGFsaWNlAHNlY3JldA=!", false, 0},			/* not in the alphabet */
	{"====", false, 0},
	{"A===", false, 0},
	{"*", false, 0},					/* the cancel, not data */
};

START_TEST(test_base64_inputs)
{
	const struct b64_case *c = &b64_cases[_i];
	struct buf raw = BUF_INIT, ch = BUF_INIT;
	bool ok = base64_decode(c->text, strlen(c->text), &raw);
	ck_assert_msg(ok == c->want_decoded, "'%s': decoded %d", c->text, ok);
	if (ok) {
		struct sasl_server *s = sasl_server_new("PLAIN", "192.0.2.1", true);
		enum sasl_status st = sasl_server_step(s, raw.data, raw.len, &ch);
		ck_assert_msg(st == c->want, "'%s': status %d (%s)", c->text, st, buf_str(&ch));
		sasl_server_free(s);
	}
	buf_free(&raw);
	buf_free(&ch);
}
END_TEST

/* ---- failure counter ---------------------------------------------------- */

START_TEST(test_penalty)
{
	struct sasl_penalty *p = sasl_penalty_new(500, 4000, 600, 4);
	/* Growing, capped delays for one client. */
	static const unsigned want[] = {500, 1000, 2000, 4000, 4000, 4000};
	for (unsigned i = 0; i < sizeof want / sizeof want[0]; i++)
		ck_assert_uint_eq(sasl_penalty_fail(p, "192.0.2.1", 1000 + i), want[i]);
	ck_assert_uint_eq(sasl_penalty_count(p, "192.0.2.1", 1010), 6);
	/* Another client is not affected. */
	ck_assert_uint_eq(sasl_penalty_count(p, "192.0.2.2", 1010), 0);
	ck_assert_uint_eq(sasl_penalty_fail(p, "192.0.2.2", 1010), 500);
	/* Forgotten after the window, measured from the latest failure. */
	ck_assert_uint_eq(sasl_penalty_count(p, "192.0.2.1", 1005 + 599), 6);
	ck_assert_uint_eq(sasl_penalty_count(p, "192.0.2.1", 1005 + 600), 0);
	ck_assert_uint_eq(sasl_penalty_fail(p, "192.0.2.1", 1005 + 600), 500);
	/* Success forgets. */
	sasl_penalty_fail(p, "192.0.2.1", 1606);
	sasl_penalty_success(p, "192.0.2.1");
	ck_assert_uint_eq(sasl_penalty_count(p, "192.0.2.1", 1607), 0);
	sasl_penalty_free(p);
}
END_TEST

/* sasl_penalty_delay: what a client with n failures waits for any answer. */
static const struct delay_case {
	const char *name;
	unsigned failures;	/* recorded at t = 1000, 1001, ... */
	bool success;		/* then a success */
	time_t at;		/* asked at this time */
	unsigned want;
} delay_cases[] = {
	{.name = "unknown client", .failures = 0, .at = 1000, .want = 0},
	{.name = "one failure", .failures = 1, .at = 1001, .want = 500},
	{.name = "three failures", .failures = 3, .at = 1003, .want = 2000},
	{.name = "capped", .failures = 9, .at = 1009, .want = 4000},
	{.name = "forgotten after the window", .failures = 3, .at = 1002 + 600, .want = 0},
	{.name = "just inside the window", .failures = 3, .at = 1002 + 599, .want = 2000},
	{.name = "success forgets", .failures = 5, .success = true, .at = 1005, .want = 0},
};

START_TEST(test_penalty_delay)
{
	const struct delay_case *c = &delay_cases[_i];
	struct sasl_penalty *p = sasl_penalty_new(500, 4000, 600, 8);
	unsigned last = 0;
	for (unsigned i = 0; i < c->failures; i++)
		last = sasl_penalty_fail(p, "192.0.2.9", 1000 + (time_t)i);
	if (c->success)
		sasl_penalty_success(p, "192.0.2.9");
	unsigned got = sasl_penalty_delay(p, "192.0.2.9", c->at);
	ck_assert_msg(got == c->want, "%s: delay %u, want %u", c->name, got, c->want);
	/* Asking does not count: the next failure gets the next step. */
	if (c->failures > 0 && !c->success && c->want > 0 && c->want < 4000)
		ck_assert_uint_eq(sasl_penalty_fail(p, "192.0.2.9", c->at), last * 2);
	/* Other clients are never affected. */
	ck_assert_uint_eq(sasl_penalty_delay(p, "192.0.2.10", c->at), 0);
	sasl_penalty_free(p);
}
END_TEST

START_TEST(test_penalty_bounded)
{
	/* Four slots, many addresses: the oldest entry makes room, the
	 * table never grows, the most recent attackers stay counted. */
	struct sasl_penalty *p = sasl_penalty_new(100, 1000, 3600, 4);
	sasl_penalty_fail(p, "10.0.0.1", 100);
	sasl_penalty_fail(p, "10.0.0.1", 101);
	for (int i = 2; i <= 5; i++) {
		char a[32];
		snprintf(a, sizeof a, "10.0.0.%d", i);
		sasl_penalty_fail(p, a, 101 + i);
	}
	ck_assert_uint_eq(sasl_penalty_count(p, "10.0.0.1", 200), 0);	/* evicted */
	ck_assert_uint_eq(sasl_penalty_count(p, "10.0.0.5", 200), 1);
	ck_assert_uint_eq(sasl_penalty_fail(p, "10.0.0.5", 201), 200);
	/* A very long "address" is cut, not overflowed. */
	char longaddr[300];
	memset(longaddr, 'a', sizeof longaddr - 1);
	longaddr[sizeof longaddr - 1] = '\0';
	ck_assert_uint_eq(sasl_penalty_fail(p, longaddr, 202), 100);
	sasl_penalty_free(p);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sasl");
	TCase *tc = tcase_create("parse");
	tcase_add_loop_test(tc, test_plain_parse, 0, sizeof plain_cases / sizeof plain_cases[0]);
	tcase_add_test(tc, test_plain_lengths);
	tcase_add_loop_test(tc, test_login_field, 0, sizeof login_cases / sizeof login_cases[0]);
	tcase_add_loop_test(tc, test_crypt_verify, 0, sizeof crypt_cases / sizeof crypt_cases[0]);
	tcase_add_loop_test(tc, test_mechanisms_allowed, 0, sizeof filter_cases / sizeof filter_cases[0]);
	suite_add_tcase(s, tc);
	tc = tcase_create("exchange");
	tcase_add_checked_fixture(tc, setup_tern, teardown);
	tcase_add_loop_test(tc, test_exchange, 0, sizeof exchange_cases / sizeof exchange_cases[0]);
	tcase_add_test(tc, test_mechanisms);
	tcase_add_loop_test(tc, test_base64_inputs, 0, sizeof b64_cases / sizeof b64_cases[0]);
	suite_add_tcase(s, tc);
	tc = tcase_create("setup");
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_add_test(tc, test_setup_errors);
	suite_add_tcase(s, tc);
	tc = tcase_create("penalty");
	tcase_add_test(tc, test_penalty);
	tcase_add_test(tc, test_penalty_bounded);
	tcase_add_loop_test(tc, test_penalty_delay, 0, sizeof delay_cases / sizeof delay_cases[0]);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
