/*
 * test_tls_proto.c - Check suite for the parser of Postfix's TLS
 * protocol lists (lib/mail/tls_proto.c), and that a bad list in main.cf
 * is an error with file and line.
 */
#include "compat.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "mail/config.h"
#include "mail/tls_proto.h"

#define T12 TLS_PROTO_TLSv1_2
#define T13 TLS_PROTO_TLSv1_3

static const struct {
	const char *spec;
	int rc;
	unsigned want;		/* when rc is 0 */
	const char *why;	/* part of the reason when rc is -1 */
} cases[] = {
	{"", 0, T12 | T13, NULL},
	{">=TLSv1.2", 0, T12 | T13, NULL},
	{">=TLSv1.3", 0, T13, NULL},
	{"<=TLSv1.2", 0, T12, NULL},
	{">=TLSv1, <=TLSv1.2", 0, T12, NULL},
	{">=TLSv1.2 <=TLSv1.2", 0, T12, NULL},
	{"!SSLv2, !SSLv3, !TLSv1, !TLSv1.1", 0, T12 | T13, NULL},
	{"!SSLv2:!SSLv3:!TLSv1.2", 0, T13, NULL},
	{"!TLSv1.3", 0, T12, NULL},
	{"TLSv1.3", 0, T13, NULL},
	{"TLSv1.2, TLSv1.3", 0, T12 | T13, NULL},
	{"tlsv1.2", 0, T12, NULL},
	{">=TLSv1", 0, T12 | T13, NULL},	/* Tern's floor */
	{"\t!SSLv2 ,,  !SSLv3\n", 0, T12 | T13, NULL},
	{"TLSv1.4", -1, 0, "unknown TLS protocol \"TLSv1.4\""},
	{"!TLSv1.2, SSLv4", -1, 0, "unknown TLS protocol \"SSLv4\""},
	{">TLSv1.2", -1, 0, "unknown"},
	{"=>TLSv1.2", -1, 0, "unknown"},
	{"!", -1, 0, "unknown"},
	{"<=TLSv1.1", -1, 0, "no TLS protocol left"},
	{"TLSv1, TLSv1.1", -1, 0, "no TLS protocol left"},
	{"!TLSv1.2 !TLSv1.3", -1, 0, "no TLS protocol left"},
	{">=TLSv1.3 <=TLSv1.2", -1, 0, "no TLS protocol left"},
};

START_TEST(test_parse)
{
	struct buf why = BUF_INIT;
	unsigned got = 0xdead;
	int rc = tls_protocols_parse(cases[_i].spec, &got, &why);
	ck_assert_msg(rc == cases[_i].rc, "\"%s\": rc %d (%s)", cases[_i].spec, rc, buf_str(&why));
	if (rc == 0)
		ck_assert_msg(got == cases[_i].want, "\"%s\": got %#x want %#x", cases[_i].spec, got,
			      cases[_i].want);
	else
		ck_assert_msg(strstr(buf_str(&why), cases[_i].why) != NULL, "\"%s\": %s", cases[_i].spec,
			      buf_str(&why));
	buf_free(&why);
}
END_TEST

/* main.cf: both parameters are checked at load, with file and line. */
START_TEST(test_config_error)
{
	static const char good[] = "smtpd_tls_protocols = !SSLv2, !SSLv3\n"
		"smtpd_tls_mandatory_protocols = >=TLSv1.3\n";
	static const char bad[] = "# comment\nsmtpd_tls_protocols = >=TLSv1.2\n"
		"smtpd_tls_mandatory_protocols = >=TLSv1.2, !TLSv9\n";
	struct buf err = BUF_INIT;
	ck_assert_int_eq(config_load_buffer("main.cf", good, sizeof(good) - 1, &err), 0);
	ck_assert_str_eq(cfg_str("smtpd_tls_mandatory_protocols"), ">=TLSv1.3");
	ck_assert_int_eq(config_load_buffer("main.cf", bad, sizeof(bad) - 1, &err), -1);
	ck_assert_msg(strstr(buf_str(&err), "main.cf, line 3: parameter smtpd_tls_mandatory_protocols") != NULL,
		      "%s", buf_str(&err));
	ck_assert_msg(strstr(buf_str(&err), "TLSv9") != NULL, "%s", buf_str(&err));
	buf_free(&err);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("tls_proto");
	TCase *tc = tcase_create("parse");
	tcase_add_loop_test(tc, test_parse, 0, sizeof(cases) / sizeof(cases[0]));
	tcase_add_test(tc, test_config_error);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
