/*
 * test_sendmail_opts.c - Check suite for sendmail's command line
 * (sendmail/sendmail_opts.c, compiled in here since it belongs to the
 * program, not a library): what each flag sets, which are accepted and
 * ignored, and that only unknown flags and bad values are usage errors.
 */
#include "compat.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

#include "../../sendmail/sendmail_opts.c"

#define MAXARGS 32

/* Split a command line on spaces into argv (no quoting needed here). */
static int split(const char *line, char **argv, char *store, size_t size)
{
	int argc = 0;
	strlcpy(store, line, size);
	for (char *tok = strtok(store, " "); tok && argc < MAXARGS - 1; tok = strtok(NULL, " "))
		argv[argc++] = tok;
	argv[argc] = NULL;
	return argc;
}

static const struct opt_case {
	const char *cmd;
	enum sm_mode mode;
	int nrcpt;
	bool extract, ignore_dots, sender_given;
	const char *sender, *full_name, *dsn_ret, *body_type;
	int notify;
	const char *flush_what, *flush_filter;	/* -qI/-qR/-qS: ternqueue option and argument */
} cases[] = {
	{.cmd = "sendmail root", .mode = SM_DELIVER, .nrcpt = 1},
	{.cmd = "sendmail -FCronDaemon -i -B8BITMIME -oem user", .mode = SM_DELIVER, .nrcpt = 1,
	 .ignore_dots = true, .full_name = "CronDaemon", .body_type = "8BITMIME"},
	{.cmd = "sendmail -FCronDaemon -i -odi -oem -oi -t -f user", .mode = SM_DELIVER, .extract = true,
	 .ignore_dots = true, .sender_given = true, .sender = "user", .full_name = "CronDaemon"},
	{.cmd = "sendmail -t -i", .mode = SM_DELIVER, .extract = true, .ignore_dots = true},
	{.cmd = "sendmail -oem -oi -- a@b c@d", .mode = SM_DELIVER, .nrcpt = 2, .ignore_dots = true},
	{.cmd = "sendmail -i -f dev@example.org list@example.net", .mode = SM_DELIVER, .nrcpt = 1,
	 .ignore_dots = true, .sender_given = true, .sender = "dev@example.org"},
	{.cmd = "sendmail -f <> x", .mode = SM_DELIVER, .nrcpt = 1, .sender_given = true, .sender = ""},
	{.cmd = "sendmail -r Name<a@b> x", .mode = SM_DELIVER, .nrcpt = 1, .sender_given = true, .sender = "a@b"},
	{.cmd = "sendmail -bs", .mode = SM_SMTP},
	{.cmd = "sendmail -bp", .mode = SM_PRINT},
	{.cmd = "sendmail -bP", .mode = SM_PRINT},
	{.cmd = "sendmail -bi", .mode = SM_ALIASES},
	{.cmd = "sendmail -I", .mode = SM_ALIASES},
	{.cmd = "sendmail -bv a@b", .mode = SM_VERIFY, .nrcpt = 1},
	{.cmd = "sendmail -bt", .mode = SM_TEST},
	{.cmd = "sendmail -bd", .mode = SM_DAEMON},
	{.cmd = "sendmail -bD", .mode = SM_DAEMON},
	{.cmd = "sendmail -bC", .mode = SM_CHECK},
	{.cmd = "sendmail -bh", .mode = SM_IGNORED},
	{.cmd = "sendmail -bH", .mode = SM_IGNORED},
	{.cmd = "sendmail -q", .mode = SM_FLUSH},
	{.cmd = "sendmail -qIabc", .mode = SM_FLUSH, .flush_what = "-I", .flush_filter = "abc"},
	{.cmd = "sendmail -qRexample.org", .mode = SM_FLUSH, .flush_what = "-R", .flush_filter = "example.org"},
	{.cmd = "sendmail -qSsender", .mode = SM_FLUSH, .flush_what = "-S", .flush_filter = "sender"},
	{.cmd = "sendmail -q!Rx", .mode = SM_FLUSH, .flush_what = "-R", .flush_filter = "!x"},
	{.cmd = "sendmail -qSa -qIb", .mode = SM_FLUSH, .flush_what = "-I", .flush_filter = "b"},
	{.cmd = "sendmail -qR", .mode = SM_FLUSH},	/* empty: everything */
	{.cmd = "sendmail -qGgroup", .mode = SM_FLUSH},	/* no queue groups: everything */
	{.cmd = "sendmail -q!", .mode = SM_FLUSH},
	{.cmd = "sendmail -q30m", .mode = SM_IGNORED},
	{.cmd = "sendmail -bd -q30m", .mode = SM_DAEMON},
	{.cmd = "sendmail -Q", .mode = SM_IGNORED},
	{.cmd = "sendmail -N success,delay x", .mode = SM_DELIVER, .nrcpt = 1,
	 .notify = DSN_NOTIFY_SUCCESS | DSN_NOTIFY_DELAY},
	{.cmd = "sendmail -N never x", .mode = SM_DELIVER, .nrcpt = 1, .notify = DSN_NOTIFY_NEVER},
	{.cmd = "sendmail -R hdrs x", .mode = SM_DELIVER, .nrcpt = 1, .dsn_ret = "HDRS"},
	{.cmd = "sendmail -R FULL x", .mode = SM_DELIVER, .nrcpt = 1, .dsn_ret = "FULL"},
	{.cmd = "sendmail -B 7bit x", .mode = SM_DELIVER, .nrcpt = 1, .body_type = "7BIT"},
	{.cmd = "sendmail -B binarymime x", .mode = SM_DELIVER, .nrcpt = 1},	/* warned, ignored */
	{.cmd = "sendmail -O IgnoreDots=true x", .mode = SM_DELIVER, .nrcpt = 1, .ignore_dots = true},
	{.cmd = "sendmail -oi x", .mode = SM_DELIVER, .nrcpt = 1, .ignore_dots = true},
	/* Accepted and ignored. */
	{.cmd = "sendmail -Ac -Am -c -G -h 3 -L tag -m -n -s -T -x -U x", .mode = SM_DELIVER, .nrcpt = 1},
	{.cmd = "sendmail -oem -oee -odb -odq -odi -oA/etc/aliases -O opt=val x", .mode = SM_DELIVER, .nrcpt = 1},
	{.cmd = "sendmail -X /tmp/log -d0 -D /tmp/dbg -p smtp:host -M rX -e q -V env x", .mode = SM_DELIVER,
	 .nrcpt = 1},
	/* Options stop at the first recipient. */
	{.cmd = "sendmail user -f x", .mode = SM_DELIVER, .nrcpt = 3},
};

START_TEST(test_cases)
{
	const struct opt_case *c = &cases[_i];
	char *argv[MAXARGS], store[512];
	int argc = split(c->cmd, argv, store, sizeof(store));
	struct sm_opts o;
	optind = 1;
	log_init("test", 0);
	sm_parse(argc, argv, &o);
	ck_assert_msg(o.mode == c->mode, "%s: mode %d", c->cmd, o.mode);
	ck_assert_msg(o.nrcpt == c->nrcpt, "%s: %d recipients", c->cmd, o.nrcpt);
	ck_assert_msg(o.extract == c->extract, "%s: extract", c->cmd);
	ck_assert_msg(o.ignore_dots == c->ignore_dots, "%s: ignore_dots", c->cmd);
	ck_assert_msg(o.sender_given == c->sender_given, "%s: sender_given", c->cmd);
	if (c->sender)
		ck_assert_str_eq(o.sender, c->sender);
	if (c->full_name)
		ck_assert_str_eq(o.full_name, c->full_name);
	if (c->dsn_ret)
		ck_assert_str_eq(o.dsn_ret, c->dsn_ret);
	if (c->body_type)
		ck_assert_str_eq(o.body_type, c->body_type);
	else
		ck_assert_ptr_null(o.body_type);
	ck_assert_int_eq(o.notify, c->notify);
	if (c->flush_filter) {
		ck_assert_str_eq(o.flush_what, c->flush_what);
		ck_assert_str_eq(o.flush_filter, c->flush_filter);
	} else {
		ck_assert_ptr_null(o.flush_filter);
	}
	sm_free(&o);
}
END_TEST

/* Usage errors: exit 64. */
static const char *const usage_cases[] = {
	"sendmail -Z x",		/* unknown flag */
	"sendmail -N sometimes x",	/* bad value */
	"sendmail -N never,success x",	/* NEVER alone */
	"sendmail -R partial x",
	"sendmail -bz",
	"sendmail -bmm",
	"sendmail -f a@b,c@d x",	/* two senders */
	"sendmail -f",			/* missing value */
};

START_TEST(test_usage)
{
	char *argv[MAXARGS], store[512];
	int argc = split(usage_cases[_i], argv, store, sizeof(store));
	struct sm_opts o;
	optind = 1;
	log_init("test", 0);
	sm_parse(argc, argv, &o);
	exit(0);	/* not reached when the case is a usage error */
}
END_TEST

/* An unknown -b mode is named in the message, so a caller sees which flag is wrong. */
static const struct {
	const char *cmd, *want;
} mode_messages[] = {
	{"sendmail -bz", "sendmail: fatal: unsupported mode -bz\n"},
	{"sendmail -bmm x", "sendmail: fatal: unsupported mode -bmm\n"},
};

START_TEST(test_mode_message)
{
	char *argv[MAXARGS], store[512], got[256];
	int argc = split(mode_messages[_i].cmd, argv, store, sizeof(store));
	int fds[2], status;
	size_t len = 0;
	ssize_t n;
	pid_t pid;

	ck_assert_int_eq(pipe(fds), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct sm_opts o;
		dup2(fds[1], 2);
		close(fds[0]);
		optind = 1;
		log_init("sendmail", LOG_TO_STDERR);
		sm_parse(argc, argv, &o);
		_exit(0);
	}
	close(fds[1]);
	while (len < sizeof(got) - 1 && (n = read(fds[0], got + len, sizeof(got) - 1 - len)) > 0)
		len += (size_t)n;
	got[len] = '\0';
	close(fds[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), EX_USAGE);
	ck_assert_str_eq(got, mode_messages[_i].want);
}
END_TEST

/*
 * The pre-pass a set-group-ID sendmail makes before it drops the group:
 * only a plain submission opens the maildrop file in process; -C found
 * in every form getopt takes, and only as an option.
 */
static const struct prepass_case {
	const char *cmd;
	bool plain;
	const char *config;	/* NULL: none */
} prepass_cases[] = {
	{"sendmail -t -i", true, NULL},
	{"sendmail user", true, NULL},
	{"sendmail -bm user", true, NULL},
	{"sendmail -C /etc/alt -t -i", true, "/etc/alt"},
	{"sendmail -C/etc/alt -t", true, "/etc/alt"},
	{"sendmail -tiC /etc/alt", true, "/etc/alt"},
	{"sendmail -tiC/etc/alt", true, "/etc/alt"},
	{"sendmail -C /a -C /b user", true, "/b"},
	{"sendmail -t -- -C /etc/alt", true, NULL},	/* after --: a recipient */
	{"sendmail user -C /etc/alt", true, NULL},	/* '+': options end at the first recipient */
	{"sendmail -f -C user", true, NULL},		/* -C as -f's value */
	{"sendmail -F -C -t", true, NULL},
	{"sendmail -C /not/listed -t", true, "/not/listed"},	/* validated later, as the writer does */
	{"sendmail -oi -odi -oem -f a@b user", true, NULL},
	{"sendmail -q30m user", false, NULL},
	{"sendmail", false, NULL},			/* usage error: no file for it */
	{"sendmail -i", false, NULL},
	{"sendmail -bs", false, NULL},
	{"sendmail -bs -C /etc/alt", false, "/etc/alt"},
	{"sendmail -bp", false, NULL},
	{"sendmail -bi", false, NULL},
	{"sendmail -I", false, NULL},
	{"sendmail -bv user", false, NULL},
	{"sendmail -bt", false, NULL},
	{"sendmail -bd", false, NULL},
	{"sendmail -q", false, NULL},
	{"sendmail -qIabc", false, NULL},
	{"sendmail -Q user", false, NULL},
	{"sendmail -bz user", false, NULL},
	{"sendmail -bs -bm user", false, NULL},	/* odd: left to the writer's path */
	{"sendmail -Y user", false, NULL},		/* unknown option */
	{"sendmail -C", false, NULL},			/* -C without its value */
	{"mailq", false, NULL},
	{"/usr/bin/mailq -t", false, NULL},
	{"newaliases", false, NULL},
	{"hoststat", false, NULL},
	{"/usr/sbin/sendmail -t", true, NULL},
};

START_TEST(test_prepass)
{
	char *argv[MAXARGS], store[256];
	const struct prepass_case *c = &prepass_cases[_i];
	int argc = split(c->cmd, argv, store, sizeof(store));
	char *before[MAXARGS];
	memcpy(before, argv, sizeof(before));
	struct sm_prepass p;
	sm_prepass(argc, argv, &p);
	ck_assert_msg(p.plain == c->plain, "%s: plain %d", c->cmd, p.plain);
	if (c->config == NULL)
		ck_assert_msg(p.config == NULL, "%s: config %s", c->cmd, p.config);
	else
		ck_assert_msg(p.config && strcmp(p.config, c->config) == 0, "%s: config %s", c->cmd,
			      p.config ? p.config : "(none)");
	/* argv itself untouched, and sm_parse agrees afterwards. */
	ck_assert(memcmp(before, argv, sizeof(before)) == 0);
	if (p.plain) {
		struct sm_opts o;
		sm_parse(argc, argv, &o);
		ck_assert_int_eq(o.mode, SM_DELIVER);
		if (c->config)
			ck_assert_str_eq(o.config_dir, c->config);
		else
			ck_assert_ptr_null(o.config_dir);
		sm_free(&o);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sendmail_opts");
	TCase *tc = tcase_create("core");
	tcase_add_loop_test(tc, test_cases, 0, sizeof(cases) / sizeof(cases[0]));
	tcase_add_loop_exit_test(tc, test_usage, EX_USAGE, 0, sizeof(usage_cases) / sizeof(usage_cases[0]));
	tcase_add_loop_test(tc, test_mode_message, 0, sizeof(mode_messages) / sizeof(mode_messages[0]));
	tcase_add_loop_test(tc, test_prepass, 0, sizeof(prepass_cases) / sizeof(prepass_cases[0]));
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
