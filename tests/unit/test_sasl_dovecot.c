/*
 * test_sasl_dovecot.c - Check suite for the client side of Dovecot's
 * authentication protocol (lib/mail/sasl_dovecot.c), against a scripted
 * fake server on a UNIX socket in a temporary directory: the exact
 * request lines, challenges, OK/FAIL/temp, and every malformed answer we
 * could think of (bad version, bad base64, escaped NUL, stray lines,
 * EOF, overlong lines, silence). The real Dovecot is in
 * tests/e2e/t_sasl_dovecot.sh.
 */
#include "compat.h"

#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "mail/sasl.h"
#include "mail/sasl_backend.h"
#include "util/buf.h"

#define STD_HANDSHAKE "VERSION\t1\t2\nMECH\tPLAIN\tplaintext\nMECH\tLOGIN\tplaintext\n" \
	"SPID\t100\nCUID\t7\nCOOKIE\t0123456789abcdef\nDONE\n"

/* One round: read a line from the client (recorded), answer. {id} in the
 * answer becomes the request id read; NULL answer closes the connection;
 * "" answers nothing. */
struct round {
	const char *answer;
};

static const struct dovecot_case {
	const char *name;
	const char *handshake;		/* NULL: STD_HANDSHAKE */
	const char *mech;
	bool secured;
	const char *steps[3];		/* client data per step ("\x01" = NULL) */
	size_t steplen[3];
	int nsteps;
	struct round rounds[4];
	int want[3];			/* status per step */
	const char *want_challenge;	/* of the first CONTINUE */
	const char *want_user;
	const char *want_request;	/* first line the server got after the handshake */
	const char *want_reason;	/* in the last step's reason */
	int timeout;
} cases[] = {
	{.name = "PLAIN ok", .mech = "PLAIN", .secured = true, .nsteps = 1,
	 .steps = {"\0alice\0secret"}, .steplen = {13},
	 .rounds = {{"OK\t{id}\tuser=alice\n"}}, .want = {SASL_DONE}, .want_user = "alice",
	 .want_request = "AUTH\t1\tPLAIN\tservice=smtp\tnologin\tno-penalty\tsecured\t"
			 "rip=192.0.2.1\tresp=AGFsaWNlAHNlY3JldA=="},
	{.name = "PLAIN unencrypted, no initial response", .mech = "plain", .nsteps = 2,
	 .steps = {"\x01", "\0alice\0secret"}, .steplen = {0, 13},
	 .rounds = {{"CONT\t{id}\t\n"}, {"OK\t{id}\tuser=alice\tfoo\n"}},
	 .want = {SASL_CONTINUE, SASL_DONE}, .want_challenge = "", .want_user = "alice",
	 .want_request = "AUTH\t1\tPLAIN\tservice=smtp\tnologin\tno-penalty\trip=192.0.2.1"},
	{.name = "empty initial response", .mech = "PLAIN", .nsteps = 1,
	 .steps = {""}, .steplen = {0},
	 .rounds = {{"FAIL\t{id}\treason=empty\n"}}, .want = {SASL_FAIL},
	 .want_request = "AUTH\t1\tPLAIN\tservice=smtp\tnologin\tno-penalty\trip=192.0.2.1\tresp="},
	{.name = "LOGIN with challenges", .mech = "LOGIN", .secured = true, .nsteps = 3,
	 .steps = {"\x01", "bob", "pw"}, .steplen = {0, 3, 2},
	 .rounds = {{"CONT\t{id}\tVXNlcm5hbWU6\n"}, {"CONT\t{id}\tUGFzc3dvcmQ6\n"},
		    {"OK\t{id}\tuser=bob\n"}},
	 .want = {SASL_CONTINUE, SASL_CONTINUE, SASL_DONE}, .want_challenge = "Username:",
	 .want_user = "bob"},
	{.name = "FAIL", .mech = "PLAIN", .nsteps = 1, .steps = {"\0a\0b"}, .steplen = {4},
	 .rounds = {{"FAIL\t{id}\tuser=a\treason=Password mismatch\n"}}, .want = {SASL_FAIL}},
	{.name = "FAIL temp", .mech = "PLAIN", .nsteps = 1, .steps = {"\0a\0b"}, .steplen = {4},
	 .rounds = {{"FAIL\t{id}\ttemp\treason=db down\n"}}, .want = {SASL_TEMPFAIL}},
	{.name = "OK without user", .mech = "PLAIN", .nsteps = 1, .steps = {"\0a\0b"},
	 .steplen = {4}, .rounds = {{"OK\t{id}\n"}}, .want = {SASL_TEMPFAIL}},
	{.name = "OK with escaped NUL in user", .mech = "PLAIN", .nsteps = 1,
	 .steps = {"\0a\0b"}, .steplen = {4},
	 .rounds = {{"OK\t{id}\tuser=adm\0010in\n"}}, .want = {SASL_TEMPFAIL}},
	{.name = "OK with escaped TAB in user", .mech = "PLAIN", .nsteps = 1,
	 .steps = {"\0a\0b"}, .steplen = {4},
	 .rounds = {{"OK\t{id}\tuser=adm\001tin\n"}}, .want = {SASL_TEMPFAIL}},
	{.name = "OK with escaped \\001 only", .mech = "PLAIN", .nsteps = 1,
	 .steps = {"\0a\0b"}, .steplen = {4},
	 .rounds = {{"OK\t{id}\tuser=a\001.b\n"}}, .want = {SASL_DONE}, .want_user = "a.b"},
	{.name = "challenge not base64", .mech = "LOGIN", .nsteps = 1, .steps = {"\x01"},
	 .steplen = {0}, .rounds = {{"CONT\t{id}\tVXNlc*5hbWU6\n"}}, .want = {SASL_TEMPFAIL}},
	{.name = "challenge with bad padding", .mech = "LOGIN", .nsteps = 1, .steps = {"\x01"},
	 .steplen = {0}, .rounds = {{"CONT\t{id}\tVXN=bmFtZTo\n"}}, .want = {SASL_TEMPFAIL}},
	{.name = "answers to other ids first", .mech = "PLAIN", .nsteps = 1,
	 .steps = {"\0a\0b"}, .steplen = {4},
	 .rounds = {{"FAIL\t77\nOK\t0\tuser=x\nNOISE\nOK\t{id}x\tuser=y\nOK\t{id}\tuser=a\n"}},
	 .want = {SASL_DONE}, .want_user = "a"},
	{.name = "closed during the exchange", .mech = "PLAIN", .nsteps = 1,
	 .steps = {"\0a\0b"}, .steplen = {4}, .rounds = {{NULL}}, .want = {SASL_TEMPFAIL}},
	{.name = "closed after a challenge", .mech = "LOGIN", .nsteps = 2,
	 .steps = {"\x01", "u"}, .steplen = {0, 1},
	 .rounds = {{"CONT\t{id}\tVXNlcm5hbWU6\n"}, {NULL}},
	 .want = {SASL_CONTINUE, SASL_TEMPFAIL}, .want_challenge = "Username:"},
	{.name = "silence", .mech = "PLAIN", .nsteps = 1, .steps = {"\0a\0b"}, .steplen = {4},
	 .rounds = {{""}}, .want = {SASL_TEMPFAIL}, .timeout = 1, .want_reason = "timeout"},
	{.name = "mechanism not announced", .mech = "LOGIN", .nsteps = 0,
	 .handshake = "VERSION\t1\t2\nMECH\tPLAIN\tplaintext\nDONE\n"},
};

struct fake {
	char dir[64], path[128];
	int lfd;
	const struct dovecot_case *c;
	const char *handshake;
	struct buf got;		/* lines received after the handshake */
	const char *bigline;	/* sent instead of rounds when set */
	pthread_t tid;
};

static int read_client_line(int fd, struct buf *line)
{
	buf_reset(line);
	char ch;
	for (;;) {
		ssize_t n = read(fd, &ch, 1);
		if (n <= 0)
			return -1;
		if (ch == '\n')
			return 0;
		buf_addc(line, ch);
	}
}

static void send_str(int fd, const char *s, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, s, len, MSG_NOSIGNAL);
		if (n <= 0)
			return;
		s += n;
		len -= (size_t)n;
	}
}

/* Handshake on a new connection: 0 ok. */
static int serve_handshake(struct fake *f, int fd)
{
	struct buf line = BUF_INIT;
	int rc = read_client_line(fd, &line);
	if (rc == 0 && strcmp(buf_str(&line), "VERSION\t1\t2") != 0)
		rc = -1;
	if (rc == 0)
		rc = read_client_line(fd, &line);
	if (rc == 0 && strncmp(buf_str(&line), "CPID\t", 5) != 0)
		rc = -1;
	if (rc == 0)
		send_str(fd, f->handshake, strlen(f->handshake));
	buf_free(&line);
	return rc;
}

static void *serve(void *arg)
{
	struct fake *f = arg;
	struct buf line = BUF_INIT, out = BUF_INIT;
	/* First the probe made by sasl_server_setup, then the exchange. */
	for (int conn = 0; conn < 2; conn++) {
		int fd = accept(f->lfd, NULL, NULL);
		if (fd < 0)
			break;
		bool hangup = serve_handshake(f, fd) < 0;
		for (int r = 0; !hangup && conn == 1 && r < f->c->nsteps; r++) {
			if (read_client_line(fd, &line) < 0)
				break;
			buf_add(&f->got, line.data, line.len);
			buf_addc(&f->got, '\n');
			const char *ans = f->c->rounds[r].answer;
			if (ans == NULL) {
				hangup = true;		/* close on the client */
				break;
			}
			if (f->bigline) {
				send_str(fd, f->bigline, strlen(f->bigline));
				continue;
			}
			/* The id is the second field of what we got. */
			char id[16] = "";
			const char *tab = strchr(buf_str(&line), '\t');
			if (tab)
				snprintf(id, sizeof id, "%.*s", (int)strcspn(tab + 1, "\t"), tab + 1);
			buf_reset(&out);
			for (const char *p = ans; *p; p++) {
				if (strncmp(p, "{id}", 4) == 0) {
					buf_adds(&out, id);
					p += 3;
				} else {
					buf_addc(&out, *p);
				}
			}
			send_str(fd, out.data ? out.data : "", out.len);
		}
		/* Keep the connection until the client hangs up. */
		while (!hangup && read_client_line(fd, &line) == 0)
			;
		close(fd);
	}
	buf_free(&line);
	buf_free(&out);
	return NULL;
}

static void fake_start(struct fake *f, const struct dovecot_case *c)
{
	memset(f, 0, sizeof *f);
	f->c = c;
	f->handshake = c->handshake ? c->handshake : STD_HANDSHAKE;
	strlcpy(f->dir, "/tmp/tern-test-dovecot.XXXXXX", sizeof f->dir);
	ck_assert_ptr_nonnull(mkdtemp(f->dir));
	snprintf(f->path, sizeof f->path, "%s/auth-client", f->dir);
	f->lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	strlcpy(sun.sun_path, f->path, sizeof sun.sun_path);
	ck_assert_int_eq(bind(f->lfd, (struct sockaddr *)&sun, sizeof sun), 0);
	ck_assert_int_eq(listen(f->lfd, 4), 0);
	buf_init(&f->got);
	pthread_create(&f->tid, NULL, serve, f);
}

static void fake_stop(struct fake *f)
{
	sasl_server_shutdown();
	shutdown(f->lfd, SHUT_RDWR);
	close(f->lfd);
	pthread_join(f->tid, NULL);
	unlink(f->path);
	rmdir(f->dir);
}

START_TEST(test_protocol)
{
	const struct dovecot_case *c = &cases[_i];
	struct fake f;
	fake_start(&f, c);
	struct buf err = BUF_INIT, ch = BUF_INIT;
	struct sasl_setup su = {.type = "dovecot", .dovecot_path = f.path,
				.timeout = c->timeout ? c->timeout : 5};
	ck_assert_msg(sasl_server_setup(&su, &err) == 0, "%s: %s", c->name, buf_str(&err));
	if (c->nsteps == 0) {
		ck_assert_ptr_null(sasl_server_new(c->mech, "192.0.2.1", true));
		fake_stop(&f);
		buf_free(&f.got);
		buf_free(&err);
		return;
	}
	struct sasl_server *s = sasl_server_new(c->mech, "192.0.2.1", c->secured);
	ck_assert_msg(s != NULL, "%s: mechanism refused", c->name);
	bool challenged = false;
	for (int i = 0; i < c->nsteps; i++) {
		const char *data = strcmp(c->steps[i], "\x01") == 0 ? NULL : c->steps[i];
		enum sasl_status st = sasl_server_step(s, data, c->steplen[i], &ch);
		ck_assert_msg((int)st == c->want[i], "%s: step %d gave %d, want %d (%s)",
			      c->name, i, st, c->want[i], buf_str(&ch));
		if (st == SASL_CONTINUE && !challenged) {
			ck_assert_str_eq(buf_str(&ch), c->want_challenge);
			challenged = true;
		}
	}
	if (c->want_reason)
		ck_assert_msg(strstr(buf_str(&ch), c->want_reason) != NULL, "%s: reason '%s'",
			      c->name, buf_str(&ch));
	if (c->want_user)
		ck_assert_str_eq(sasl_username(s), c->want_user);
	else
		ck_assert_ptr_null(sasl_username(s));
	sasl_server_free(s);
	fake_stop(&f);
	if (c->want_request) {
		const char *got = buf_str(&f.got);
		ck_assert_msg(strncmp(got, c->want_request, strlen(c->want_request)) == 0 &&
			      got[strlen(c->want_request)] == '\n',
			      "%s: request was '%s'", c->name, got);
	}
	buf_free(&f.got);
	buf_free(&err);
	buf_free(&ch);
}
END_TEST

static const struct handshake_case {
	const char *handshake;
	int want_rc;
	const char *want_mechs;		/* on failure: a word of the reason */
} handshakes[] = {
	{STD_HANDSHAKE, 0, "PLAIN LOGIN"},
	{"VERSION\t1\t3\nMECH\tPLAIN\tplaintext\nMECH\tANONYMOUS\tanonymous\n"
	 "MECH\tEXTERNAL\tprivate\nMECH\tCRAM-MD5\tdictionary\tactive\n"
	 "MECH\tBad Name\nMECH\tscram-sha-1\nNEWTHING\tx\nDONE\n", 0, "PLAIN CRAM-MD5"},
	{"VERSION\t2\t0\nMECH\tPLAIN\nDONE\n", -1, NULL},
	{"MECH\tPLAIN\nDONE\n", -1, NULL},
	{"VERSION\t1\t2\nDONE\n", -1, NULL},		/* nothing to offer */
	{"VERSION\t1\t2\nMECH\tPLAIN\n", -1, "timeout"},	/* never DONE */
	{"VERSION\t1\t2\nMECH\tPL\0010AIN\nDONE\n", -1, NULL},
};

START_TEST(test_handshake)
{
	const struct handshake_case *h = &handshakes[_i];
	static const struct dovecot_case none = {.name = "handshake"};
	struct fake f;
	fake_start(&f, &none);
	f.handshake = h->handshake;
	struct buf err = BUF_INIT;
	struct sasl_setup su = {.type = "dovecot", .dovecot_path = f.path, .timeout = 1};
	int rc = sasl_server_setup(&su, &err);
	ck_assert_msg(rc == h->want_rc, "handshake %d: rc %d (%s)", _i, rc, buf_str(&err));
	if (rc == 0)
		ck_assert_str_eq(sasl_server_mechanisms(true), h->want_mechs);
	else
		ck_assert_uint_gt(err.len, 0);
	if (rc != 0 && h->want_mechs)	/* here: a word the reason must hold */
		ck_assert_msg(strstr(buf_str(&err), h->want_mechs) != NULL, "%s", buf_str(&err));
	fake_stop(&f);
	buf_free(&f.got);
	buf_free(&err);
}
END_TEST

/* A line that never ends must not grow memory without bound. */
START_TEST(test_overlong_line)
{
	static const struct dovecot_case c = {.name = "overlong", .mech = "PLAIN", .nsteps = 1,
		.rounds = {{"x"}}};
	struct fake f;
	fake_start(&f, &c);
	char *big = malloc(200000);
	memset(big, 'A', 199999);
	big[199999] = '\0';
	memcpy(big, "CONT\t1\t", 7);
	f.bigline = big;
	struct buf err = BUF_INIT, ch = BUF_INIT;
	struct sasl_setup su = {.type = "dovecot", .dovecot_path = f.path, .timeout = 5};
	ck_assert_int_eq(sasl_server_setup(&su, &err), 0);
	struct sasl_server *s = sasl_server_new("PLAIN", "192.0.2.1", true);
	ck_assert_int_eq(sasl_server_step(s, "\0a\0b", 4, &ch), SASL_TEMPFAIL);
	ck_assert_ptr_nonnull(strstr(buf_str(&ch), "too long"));
	sasl_server_free(s);
	fake_stop(&f);
	buf_free(&f.got);
	free(big);
	buf_free(&err);
	buf_free(&ch);
}
END_TEST

static const struct split_case {
	const char *line;
	int want_n;
	const char *want[4];
} splits[] = {
	{"OK\t1\tuser=a", 3, {"OK", "1", "user=a"}},
	{"CONT\t2\t", 3, {"CONT", "2", ""}},
	{"A\001tB\tC\001\001D\001nE", 2, {"A\tB", "C\001D\nE"}},
	{"X\001", 1, {"X\001"}},		/* a lone escape at the end stays */
	{"X\0010Y", -1, {NULL}},
	{"", 1, {""}},
};

START_TEST(test_split)
{
	const struct split_case *c = &splits[_i];
	char line[64], *f[8];
	strlcpy(line, c->line, sizeof line);
	int n = dovecot_split(line, f, 8);
	ck_assert_int_eq(n, c->want_n);
	for (int i = 0; i < n; i++)
		ck_assert_str_eq(f[i], c->want[i]);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sasl_dovecot");
	TCase *tc = tcase_create("protocol");
	tcase_set_timeout(tc, 20);
	tcase_add_loop_test(tc, test_protocol, 0, sizeof cases / sizeof cases[0]);
	tcase_add_loop_test(tc, test_handshake, 0, sizeof handshakes / sizeof handshakes[0]);
	tcase_add_test(tc, test_overlong_line);
	tcase_add_loop_test(tc, test_split, 0, sizeof splits / sizeof splits[0]);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
