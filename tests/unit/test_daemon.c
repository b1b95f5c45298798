/*
 * test_daemon.c - Check suite for the daemon skeleton (lib/mail/daemon.c):
 * options, the environment ternd passes (sockets at 3.., service
 * columns), -o overrides and the columns turned into parameters, usage
 * and configuration errors, and the privilege drop to oneself.
 * Each test runs in its own process (Check's fork mode), since
 * daemon_init changes process state.
 */
#include "compat.h"

#include <check.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "mail/config.h"
#include "mail/daemon.h"

static char dir[] = "/tmp/test_daemon.XXXXXX";

static void remove_config(void);

/*
 * A config directory whose mail_owner is whoever runs the test; removed
 * at exit too, for the tests that end in daemon_init's exit.
 */
static void make_config(void)
{
	char path[256];
	ck_assert_ptr_nonnull(mkdtemp(dir));
	atexit(remove_config);
	snprintf(path, sizeof(path), "%s/main.cf", dir);
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "mail_owner = %s\nqueue_directory = %s\nmaillog_file = %s/maillog\n",
		getpwuid(geteuid())->pw_name, dir, dir);
	fclose(f);
}

static void remove_config(void)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/main.cf", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/maillog", dir);
	unlink(path);
	rmdir(dir);
}

/* Put a listening-capable socket at descriptor 3 + i. */
static void give_socket(int i)
{
	int sv[2];
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ck_assert_int_ge(dup2(sv[0], DAEMON_LISTEN_FD + i), 0);
}

struct env_case {
	const char *label;
	const char *type, *tls, *auth, *fds, *addrs;
	int give;			/* sockets to put at 3.. */
	enum svc_type want_type;
	enum svc_tls want_tls;
	enum svc_auth want_auth;
	int want_nlisten;
	const char *want_addr0;
	const char *want_security_level;	/* smtpd_tls_security_level after init */
	const char *want_sasl;			/* smtpd_sasl_auth_enable */
};

static const struct env_case env_cases[] = {
	{ .label = "smtp listener, starttls, auth yes", .type = "inet", .tls = "starttls", .auth = "yes",
	  .fds = "1", .addrs = "127.0.0.1:25", .give = 1, .want_type = SVC_INET,
	  .want_tls = SVC_TLS_STARTTLS, .want_auth = SVC_AUTH_YES, .want_nlisten = 1,
	  .want_addr0 = "127.0.0.1:25", .want_security_level = "may", .want_sasl = "yes" },
	{ .label = "two sockets, required/required", .type = "inet", .tls = "required", .auth = "required",
	  .fds = "2", .addrs = "127.0.0.1:587 [::1]:587", .give = 2, .want_type = SVC_INET,
	  .want_tls = SVC_TLS_REQUIRED, .want_auth = SVC_AUTH_REQUIRED, .want_nlisten = 2,
	  .want_addr0 = "127.0.0.1:587", .want_security_level = "encrypt", .want_sasl = "yes" },
	{ .label = "tls none, auth no", .type = "inet", .tls = "none", .auth = "no",
	  .fds = "1", .addrs = "0.0.0.0:25", .give = 1, .want_type = SVC_INET,
	  .want_tls = SVC_TLS_NONE, .want_auth = SVC_AUTH_NO, .want_nlisten = 1,
	  .want_addr0 = "0.0.0.0:25", .want_security_level = "none", .want_sasl = "no" },
	{ .label = "defaults keep main.cf", .type = "inet", .tls = "-", .auth = "-",
	  .fds = "1", .addrs = "127.0.0.1:25", .give = 1, .want_type = SVC_INET,
	  .want_nlisten = 1, .want_addr0 = "127.0.0.1:25", .want_security_level = "",
	  .want_sasl = "no" },
	{ .label = "unix socket", .type = "unix", .tls = "-", .auth = "-", .fds = "1",
	  .addrs = "/q/private/local", .give = 1, .want_type = SVC_UNIX, .want_nlisten = 1,
	  .want_addr0 = "/q/private/local", .want_security_level = "", .want_sasl = "no" },
	{ .label = "no socket", .type = "proc", .tls = "-", .auth = "-", .fds = "0", .addrs = "",
	  .want_type = SVC_PROC, .want_security_level = "", .want_sasl = "no" },
};

START_TEST(test_environment)
{
	const struct env_case *c = &env_cases[_i];
	make_config();
	for (int i = 0; i < c->give; i++)
		give_socket(i);
	setenv(DAEMON_ENV_SERVICE, "svc", 1);
	setenv(DAEMON_ENV_TYPE, c->type, 1);
	setenv(DAEMON_ENV_TLS, c->tls, 1);
	setenv(DAEMON_ENV_AUTH, c->auth, 1);
	setenv(DAEMON_ENV_FDS, c->fds, 1);
	setenv(DAEMON_ENV_ADDRS, c->addrs, 1);
	char *argv[] = { "standin", "-c", dir, "first-arg", NULL };
	int first = daemon_init(4, argv, "standin", DAEMON_NO_CHDIR);
	const struct daemon_info *di = daemon_info();

	ck_assert_int_eq(first, 3);
	ck_assert_str_eq(di->service, "svc");
	ck_assert(di->by_master);
	ck_assert_int_eq(di->type, c->want_type);
	ck_assert_int_eq(di->tls, c->want_tls);
	ck_assert_int_eq(di->auth, c->want_auth);
	ck_assert_int_eq(di->nlisten, c->want_nlisten);
	for (int i = 0; i < di->nlisten; i++)
		ck_assert_int_eq(di->listen[i].fd, DAEMON_LISTEN_FD + i);
	if (c->want_addr0)
		ck_assert_str_eq(di->listen[0].addr, c->want_addr0);
	ck_assert_str_eq(cfg_str("smtpd_tls_security_level"), c->want_security_level);
	ck_assert_str_eq(cfg_bool("smtpd_sasl_auth_enable") ? "yes" : "no", c->want_sasl);
	/* The variables are gone, so pipe deliveries never see them. */
	ck_assert_ptr_null(getenv(DAEMON_ENV_SERVICE));
	ck_assert_ptr_null(getenv(DAEMON_ENV_FDS));
	ck_assert_ptr_null(getenv(DAEMON_ENV_ADDRS));
	ck_assert_ptr_null(getenv(DAEMON_ENV_TLS));
	remove_config();
}
END_TEST

/*
 * TERN_FILES: each "FD:PATH" line whose descriptor is a regular file is
 * found by its path; a socket, a closed descriptor or a malformed line is
 * ignored; the variable is removed; daemon_files_close() closes them.
 */
START_TEST(test_files)
{
	char key[] = "/tmp/tern-key.XXXXXX";
	int kfd = mkstemp(key);
	ck_assert_int_ge(kfd, 0);
	ck_assert_int_eq(write(kfd, "PEM", 3), 3);
	make_config();
	give_socket(0);
	setenv(DAEMON_ENV_SERVICE, "smtp", 1);
	setenv(DAEMON_ENV_TYPE, "inet", 1);
	setenv(DAEMON_ENV_FDS, "1", 1);
	setenv(DAEMON_ENV_ADDRS, "127.0.0.1:25", 1);
	char env[512];
	snprintf(env, sizeof(env), "%d:%s\n3:/etc/socket.pem\n999:/closed.pem\nnonsense\n:/x.pem\n",
		 kfd, key);
	setenv(DAEMON_ENV_FILES, env, 1);
	char *argv[] = { "smtpd", "-c", dir, NULL };
	daemon_init(3, argv, "smtpd", DAEMON_NO_CHDIR);
	ck_assert_int_eq(daemon_file(key), kfd);
	ck_assert_int_eq(daemon_file("/etc/socket.pem"), -1);
	ck_assert_int_eq(daemon_file("/closed.pem"), -1);
	ck_assert_int_eq(daemon_file("/x.pem"), -1);
	ck_assert_int_eq(daemon_file("/not/passed.pem"), -1);
	ck_assert_ptr_null(getenv(DAEMON_ENV_FILES));
	ck_assert_int_eq(fcntl(kfd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
	daemon_files_close();
	ck_assert_int_eq(daemon_file(key), -1);
	ck_assert_int_eq(fcntl(kfd, F_GETFD), -1);
	unlink(key);
	remove_config();
}
END_TEST

/* -o overrides the column and main.cf; run by hand, no sockets. */
START_TEST(test_overrides)
{
	make_config();
	unsetenv(DAEMON_ENV_SERVICE);
	unsetenv(DAEMON_ENV_FDS);
	char *argv[] = { "x", "-c", dir, "-o", "smtpd_tls_security_level=encrypt", "-o",
			 "message_size_limit=1000", "-v", NULL };
	ck_assert_int_eq(daemon_init(8, argv, "x", DAEMON_NO_CHDIR), 8);
	const struct daemon_info *di = daemon_info();
	ck_assert(!di->by_master);
	ck_assert_str_eq(di->service, "x");
	ck_assert_int_eq(di->nlisten, 0);
	ck_assert_str_eq(cfg_str("smtpd_tls_security_level"), "encrypt");
	ck_assert_int_eq(cfg_int("message_size_limit"), 1000);
	ck_assert_str_eq(cfg_str("queue_directory"), dir);
	remove_config();
}
END_TEST

START_TEST(test_chdir)
{
	char cwd[256];
	make_config();
	unsetenv(DAEMON_ENV_SERVICE);
	char *argv[] = { "x", "-c", dir, NULL };
	daemon_init(3, argv, "x", 0);
	ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
	ck_assert_str_eq(cwd, dir);
	ck_assert_int_eq(umask(0), 077);
	remove_config();
}
END_TEST

START_TEST(test_bad_option)
{
	char *argv[] = { "x", "-z", NULL };
	daemon_init(2, argv, "x", 0);
}
END_TEST

START_TEST(test_bad_override_value)
{
	make_config();
	char *argv[] = { "x", "-c", dir, "-o", "message_size_limit=lots", NULL };
	daemon_init(5, argv, "x", DAEMON_NO_CHDIR);
}
END_TEST

START_TEST(test_missing_config)
{
	char *argv[] = { "x", "-c", "/nonexistent/tern", NULL };
	daemon_init(3, argv, "x", DAEMON_NO_CHDIR);
}
END_TEST

START_TEST(test_not_a_socket)
{
	make_config();
	ck_assert_int_ge(dup2(open("/dev/null", 0), DAEMON_LISTEN_FD), 0);
	setenv(DAEMON_ENV_SERVICE, "svc", 1);
	setenv(DAEMON_ENV_FDS, "1", 1);
	char *argv[] = { "x", "-c", dir, NULL };
	daemon_init(3, argv, "x", DAEMON_NO_CHDIR);
}
END_TEST

START_TEST(test_priv_drop_to_self)
{
	struct buf err = BUF_INIT;
	struct passwd *pw = getpwuid(geteuid());
	ck_assert_ptr_nonnull(pw);
	ck_assert_msg(priv_drop(pw->pw_name, &err) == 0, "%s", buf_str(&err));
	ck_assert_int_eq(geteuid(), pw->pw_uid);
	ck_assert_int_eq(priv_drop("no-such-user-tern-test", &err), -1);
	ck_assert_ptr_nonnull(strstr(buf_str(&err), "no-such-user-tern-test"));
	buf_free(&err);
}
END_TEST

/* As root: drop to nobody, verified, and root cannot come back. */
START_TEST(test_priv_drop_root)
{
	struct buf err = BUF_INIT;
	if (geteuid() != 0)
		return;
	uid_t uid;
	gid_t gid;
	ck_assert_int_eq(priv_lookup("nobody", &uid, &gid, &err), 0);
	ck_assert_msg(priv_drop_ids(uid, gid, &err) == 0, "%s", buf_str(&err));
	ck_assert_int_eq(getuid(), uid);
	ck_assert_int_eq(geteuid(), uid);
	ck_assert_int_eq(getegid(), gid);
	ck_assert_int_ne(setuid(0), 0);
	gid_t groups[4];
	ck_assert_int_eq(getgroups(4, groups), 1);
	ck_assert_int_eq(groups[0], gid);
	buf_free(&err);
}
END_TEST

START_TEST(test_trigger)
{
	struct buf err = BUF_INIT;
	make_config();
	ck_assert_int_eq(daemon_trigger(dir, "public", "qmgr", "flush", &err), -1);
	ck_assert_ptr_nonnull(strstr(buf_str(&err), "public/qmgr"));
	remove_config();
	buf_free(&err);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("daemon");
	TCase *tc = tcase_create("core");
	tcase_add_loop_test(tc, test_environment, 0, sizeof(env_cases) / sizeof(env_cases[0]));
	tcase_add_test(tc, test_overrides);
	tcase_add_test(tc, test_files);
	tcase_add_test(tc, test_chdir);
	tcase_add_exit_test(tc, test_bad_option, EX_USAGE);
	tcase_add_exit_test(tc, test_bad_override_value, EX_CONFIG);
	tcase_add_exit_test(tc, test_missing_config, EX_CONFIG);
	tcase_add_exit_test(tc, test_not_a_socket, EX_SOFTWARE);
	tcase_add_test(tc, test_priv_drop_to_self);
	tcase_add_test(tc, test_priv_drop_root);
	tcase_add_test(tc, test_trigger);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
