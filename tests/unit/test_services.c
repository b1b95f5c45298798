/*
 * test_services.c - Check suite for the service table parser
 * (lib/mail/services.c): good tables, every malformed column, and the
 * default tables shipped in conf/.
 */
#include "compat.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mail/services.h"

struct parse_case {
	const char *label;
	const char *text;
	int want_rc;
	size_t want_count;
	const char *want_err;		/* substring of the error */
	/* first service, when want_rc == 0 */
	const char *want_name;
	enum svc_type want_type;
	const char *want_host;
	int want_port;
	enum svc_tls want_tls;
	enum svc_auth want_auth;
	int want_root;
	int want_procs;
	int want_argc;
	const char *want_last_arg;
};

static const struct parse_case parse_cases[] = {
	{ .label = "smtp listener",
	  .text = "smtp inet 25 starttls yes - 1 smtpd\n",
	  .want_count = 1, .want_name = "smtp", .want_type = SVC_INET, .want_port = 25,
	  .want_tls = SVC_TLS_STARTTLS, .want_auth = SVC_AUTH_YES, .want_procs = 1,
	  .want_argc = 1, .want_last_arg = "smtpd" },
	{ .label = "host and port, options",
	  .text = "# comment\n\nsubmission inet 127.0.0.1:587 required required - 2 smtpd -o smtpd_tls_auth_only=yes\n",
	  .want_count = 1, .want_name = "submission", .want_host = "127.0.0.1", .want_port = 587,
	  .want_tls = SVC_TLS_REQUIRED, .want_auth = SVC_AUTH_REQUIRED, .want_procs = 2,
	  .want_argc = 3, .want_last_arg = "smtpd_tls_auth_only=yes" },
	{ .label = "ipv6 in brackets",
	  .text = "smtps inet [::1]:465 implicit - - - smtpd",
	  .want_count = 1, .want_name = "smtps", .want_host = "::1", .want_port = 465,
	  .want_tls = SVC_TLS_IMPLICIT, .want_procs = 1, .want_argc = 1, .want_last_arg = "smtpd" },
	{ .label = "continuation lines and comments between",
	  .text = "submission inet 587 required required - - smtpd\n"
		  "  -o smtpd_sasl_auth_enable=yes\n"
		  "# a comment inside\n"
		  "\t-o smtpd_tls_auth_only=yes\n"
		  "pickup proc - - - - 1 pickup\n",
	  .want_count = 2, .want_name = "submission", .want_port = 587, .want_tls = SVC_TLS_REQUIRED,
	  .want_auth = SVC_AUTH_REQUIRED, .want_procs = 1, .want_argc = 5,
	  .want_last_arg = "smtpd_tls_auth_only=yes" },
	{ .label = "root local, absolute path, procs 0",
	  .text = "local unix - - - root 0 /usr/lib/tern/local -v\n",
	  .want_count = 1, .want_name = "local", .want_type = SVC_UNIX, .want_root = 1,
	  .want_procs = 0, .want_argc = 2, .want_last_arg = "-v" },
	{ .label = "public", .text = "qmgr public - - - - - qmgr",
	  .want_count = 1, .want_name = "qmgr", .want_type = SVC_PUBLIC, .want_procs = 1,
	  .want_argc = 1, .want_last_arg = "qmgr" },
	{ .label = "empty table", .text = "# nothing\n\n", .want_count = 0 },

	{ .label = "too few columns", .text = "smtp inet 25 - - - 1\n", .want_rc = -1,
	  .want_err = "t.cf, line 1: expected 8 columns" },
	{ .label = "bad name", .text = "Smtp inet 25 - - - 1 smtpd\n", .want_rc = -1,
	  .want_err = "bad service name" },
	{ .label = "bad type", .text = "\nsmtp tcp 25 - - - 1 smtpd\n", .want_rc = -1,
	  .want_err = "t.cf, line 2: service smtp: bad type" },
	{ .label = "port zero", .text = "smtp inet 0 - - - 1 smtpd", .want_rc = -1,
	  .want_err = "bad listen address" },
	{ .label = "port too big", .text = "smtp inet 65536 - - - 1 smtpd", .want_rc = -1,
	  .want_err = "bad listen address" },
	{ .label = "port not a number", .text = "smtp inet smtp - - - 1 smtpd", .want_rc = -1,
	  .want_err = "bad listen address" },
	{ .label = "bare ipv6", .text = "smtp inet ::1:25 - - - 1 smtpd", .want_rc = -1,
	  .want_err = "bad listen address" },
	{ .label = "empty host", .text = "smtp inet :25 - - - 1 smtpd", .want_rc = -1,
	  .want_err = "bad listen address" },
	{ .label = "unclosed bracket", .text = "smtp inet [::1:25 - - - 1 smtpd", .want_rc = -1,
	  .want_err = "bad listen address" },
	{ .label = "listen on a unix service", .text = "qmgr unix 25 - - - 1 qmgr", .want_rc = -1,
	  .want_err = "listen must be \"-\"" },
	{ .label = "bad tls", .text = "smtp inet 25 ssl - - 1 smtpd", .want_rc = -1,
	  .want_err = "bad tls" },
	{ .label = "tls on a proc", .text = "pickup proc - none - - 1 pickup", .want_rc = -1,
	  .want_err = "tls must be \"-\"" },
	{ .label = "bad auth", .text = "smtp inet 25 - maybe - 1 smtpd", .want_rc = -1,
	  .want_err = "bad auth" },
	{ .label = "auth on a unix service", .text = "local unix - - yes root 1 local", .want_rc = -1,
	  .want_err = "auth must be \"-\"" },
	{ .label = "bad user", .text = "smtp inet 25 - - nobody 1 smtpd", .want_rc = -1,
	  .want_err = "bad user" },
	{ .label = "negative procs", .text = "smtp inet 25 - - - -1 smtpd", .want_rc = -1,
	  .want_err = "bad procs" },
	{ .label = "too many procs", .text = "smtp inet 25 - - - 1001 smtpd", .want_rc = -1,
	  .want_err = "bad procs" },
	{ .label = "relative path", .text = "smtp inet 25 - - - 1 bin/smtpd", .want_rc = -1,
	  .want_err = "must be a name in daemon_directory" },
	{ .label = "-o without value", .text = "smtp inet 25 - - - 1 smtpd -o", .want_rc = -1,
	  .want_err = "-o needs name=value" },
	{ .label = "-o without =", .text = "smtp inet 25 - - - 1 smtpd -o foo", .want_rc = -1,
	  .want_err = "-o needs name=value" },
	{ .label = "unknown daemon option", .text = "smtp inet 25 - - - 1 smtpd -v\n  -x",
	  .want_rc = -1, .want_err = "line 1: service smtp: unknown argument \"-x\"" },
	{ .label = "stray daemon argument", .text = "smtp inet 25 - - - 1 smtpd -o a=b extra",
	  .want_rc = -1, .want_err = "unknown argument \"extra\"" },
	{ .label = "daemon -vv and -c", .text = "smtp inet 25 - - - 1 smtpd -vv -c /etc/tern -o a=b",
	  .want_count = 1, .want_name = "smtp", .want_type = SVC_INET, .want_procs = 1,
	  .want_argc = 6, .want_last_arg = "a=b", .want_port = 25 },
	{ .label = "another program keeps its arguments", .text = "filter unix - - - - 1 /usr/bin/f -x y",
	  .want_count = 1, .want_name = "filter", .want_type = SVC_UNIX, .want_procs = 1,
	  .want_argc = 3, .want_last_arg = "y" },
	{ .label = "duplicate", .text = "a proc - - - - 1 x\nb proc - - - - 1 x\na proc - - - - 1 y\n",
	  .want_rc = -1, .want_err = "line 3: service a is declared twice" },
	{ .label = "leading continuation", .text = "  -o x=y\nsmtp inet 25 - - - 1 smtpd", .want_rc = -1,
	  .want_err = "line 1: continuation line without a service" },
	{ .label = "error after continuation names first line",
	  .text = "smtp inet 25 - - - 1 smtpd\n -o\n", .want_rc = -1,
	  .want_err = "line 1: service smtp: -o needs" },
};

START_TEST(test_parse_table)
{
	const struct parse_case *c = &parse_cases[_i];
	struct service_table t;
	struct buf err = BUF_INIT;
	int rc = services_parse(c->text, "t.cf", &t, &err);

	ck_assert_msg(rc == c->want_rc, "%s: rc %d, err %s", c->label, rc, buf_str(&err));
	if (rc < 0) {
		ck_assert_msg(strstr(buf_str(&err), c->want_err) != NULL,
			      "%s: error \"%s\" lacks \"%s\"", c->label, buf_str(&err), c->want_err);
		ck_assert_uint_eq(t.count, 0);
		buf_free(&err);
		return;
	}
	ck_assert_msg(t.count == c->want_count, "%s: count %zu", c->label, t.count);
	if (t.count > 0) {
		const struct service *s = &t.svc[0];
		ck_assert_str_eq(s->name, c->want_name);
		ck_assert_int_eq(s->type, c->want_type);
		if (c->want_host)
			ck_assert_str_eq(s->host, c->want_host);
		else
			ck_assert_ptr_null(s->host);
		ck_assert_int_eq(s->port, c->want_port);
		ck_assert_int_eq(s->tls, c->want_tls);
		ck_assert_int_eq(s->auth, c->want_auth);
		ck_assert_int_eq(s->root, c->want_root);
		ck_assert_int_eq(s->procs, c->want_procs);
		ck_assert_int_eq(s->argc, c->want_argc);
		ck_assert_str_eq(s->argv[s->argc - 1], c->want_last_arg);
		ck_assert_ptr_null(s->argv[s->argc]);
		ck_assert_ptr_eq(services_find(&t, c->want_name), s);
	}
	ck_assert_ptr_null(services_find(&t, "no-such-service"));
	services_free(&t);
	buf_free(&err);
}
END_TEST

struct name_case {
	const char *word;
	int type, tls, auth;		/* -1 = not a name of that kind */
};

static const struct name_case name_cases[] = {
	{ .word = "inet", .type = SVC_INET, .tls = -1, .auth = -1 },
	{ .word = "public", .type = SVC_PUBLIC, .tls = -1, .auth = -1 },
	{ .word = "implicit", .type = -1, .tls = SVC_TLS_IMPLICIT, .auth = -1 },
	{ .word = "required", .type = -1, .tls = SVC_TLS_REQUIRED, .auth = SVC_AUTH_REQUIRED },
	{ .word = "-", .type = -1, .tls = SVC_TLS_DEFAULT, .auth = SVC_AUTH_DEFAULT },
	{ .word = "yes", .type = -1, .tls = -1, .auth = SVC_AUTH_YES },
	{ .word = "INET", .type = -1, .tls = -1, .auth = -1 },
	{ .word = "", .type = -1, .tls = -1, .auth = -1 },
};

START_TEST(test_names)
{
	const struct name_case *c = &name_cases[_i];
	ck_assert_int_eq(svc_type_parse(c->word), c->type);
	ck_assert_int_eq(svc_tls_parse(c->word), c->tls);
	ck_assert_int_eq(svc_auth_parse(c->word), c->auth);
	if (c->type >= 0)
		ck_assert_str_eq(svc_type_name((enum svc_type)c->type), c->word);
	if (c->tls >= 0)
		ck_assert_str_eq(svc_tls_name((enum svc_tls)c->tls), c->word);
	if (c->auth >= 0)
		ck_assert_str_eq(svc_auth_name((enum svc_auth)c->auth), c->word);
}
END_TEST

START_TEST(test_needs_cert)
{
	struct service_table t;
	struct buf err = BUF_INIT;
	ck_assert_int_eq(services_parse("a inet 25 starttls - - 1 smtpd\n"
					"b inet 587 required - - 1 smtpd\n"
					"c inet 465 implicit - - 1 smtpd\n"
					"d inet 26 - - - 1 smtpd\n"
					"e proc - - - - 1 pickup\n", "t", &t, &err), 0);
	ck_assert(!service_needs_cert(services_find(&t, "a")));
	ck_assert(service_needs_cert(services_find(&t, "b")));
	ck_assert(service_needs_cert(services_find(&t, "c")));
	ck_assert(!service_needs_cert(services_find(&t, "d")));
	ck_assert(!service_needs_cert(services_find(&t, "e")));
	services_free(&t);
	buf_free(&err);
}
END_TEST

/* service_param: the service's own -o NAME=value, the last one; NULL without. */
static const struct {
	const char *line, *name, *want;
} param_cases[] = {
	{ .line = "s inet 25 - - - 1 smtpd -o smtpd_tls_cert_file=/a.pem", .name = "smtpd_tls_cert_file",
	  .want = "/a.pem" },
	{ .line = "s inet 25 - - - 1 smtpd -o smtpd_tls_cert_file=/a -o smtpd_tls_cert_file=/b",
	  .name = "smtpd_tls_cert_file", .want = "/b" },
	{ .line = "s inet 25 - - - 1 smtpd -o smtpd_tls_cert_file_x=/a", .name = "smtpd_tls_cert_file" },
	{ .line = "s inet 25 - - - 1 smtpd -o smtpd_tls=/a", .name = "smtpd_tls_cert_file" },
	{ .line = "s inet 25 - - - 1 /usr/sbin/x smtpd_tls_cert_file=/a", .name = "smtpd_tls_cert_file" },
	{ .line = "s inet 25 - - - 1 smtpd -o smtpd_tls_chain_files=", .name = "smtpd_tls_chain_files",
	  .want = "" },
	{ .line = "s inet 25 - - - 1 smtpd", .name = "smtpd_tls_cert_file" },
};

START_TEST(test_service_param)
{
	struct service_table t;
	struct buf err = BUF_INIT;
	ck_assert_int_eq(services_parse(param_cases[_i].line, "t", &t, &err), 0);
	const char *got = service_param(&t.svc[0], param_cases[_i].name);
	if (param_cases[_i].want == NULL)
		ck_assert_ptr_null(got);
	else
		ck_assert_str_eq(got, param_cases[_i].want);
	services_free(&t);
	buf_free(&err);
}
END_TEST

/* The table make install writes must parse, with 25, 587 and 465. */
START_TEST(test_default_table)
{
	struct service_table t;
	struct buf err = BUF_INIT;
	const char *src = getenv("TERN_SRCDIR");
	char path[4096];
	snprintf(path, sizeof(path), "%s/conf/master.cf", src ? src : ".");
	ck_assert_msg(services_load(path, &t, &err) == 0, "%s", buf_str(&err));
	const struct service *s;
	ck_assert_ptr_nonnull(s = services_find(&t, "smtp"));
	ck_assert_int_eq(s->port, 25);
	ck_assert_ptr_nonnull(s = services_find(&t, "submission"));
	ck_assert_int_eq(s->port, 587);
	ck_assert_int_eq(s->tls, SVC_TLS_REQUIRED);
	ck_assert_int_eq(s->auth, SVC_AUTH_REQUIRED);
	ck_assert_ptr_nonnull(s = services_find(&t, "submissions"));
	ck_assert_int_eq(s->port, 465);
	ck_assert_int_eq(s->tls, SVC_TLS_IMPLICIT);
	ck_assert_ptr_nonnull(s = services_find(&t, "local"));
	ck_assert(s->root);
	ck_assert(!services_find(&t, "smtp")->root);
	services_free(&t);
	ck_assert_int_eq(services_load("/nonexistent/master.cf", &t, &err), -1);
	buf_free(&err);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("services");
	TCase *tc = tcase_create("core");
	tcase_add_loop_test(tc, test_parse_table, 0, sizeof(parse_cases) / sizeof(parse_cases[0]));
	tcase_add_loop_test(tc, test_names, 0, sizeof(name_cases) / sizeof(name_cases[0]));
	tcase_add_test(tc, test_needs_cert);
	tcase_add_loop_test(tc, test_service_param, 0, sizeof(param_cases) / sizeof(param_cases[0]));
	tcase_add_test(tc, test_default_table);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
