/*
 * test_header_checks.c - Check suite for the header_checks(5) evaluator
 * (lib/mail/header_checks.c): every action and its text, the ones not
 * acted on (with their warning), texts made safe for replies, and lookups
 * through a regexp: table as milter_header_checks uses them. Runs
 * unprivileged in a temporary directory.
 */
#include "compat.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mail/header_checks.h"
#include "util/buf.h"
#include "util/map.h"
#include "util/mem.h"

static const struct parse {
	const char *result;
	enum hc_action action;
	const char *text;
	int code;		/* REJECT */
	const char *dsn;	/* REJECT */
	const char *warning;	/* substring; NULL: no warning */
} parses[] = {
	{"REJECT", HC_REJECT, "Message content rejected", 550, "5.7.1", NULL},
	{"reject go away", HC_REJECT, "go away", 550, "5.7.1", NULL},
	{"REJECT 5.7.0 spam here", HC_REJECT, "spam here", 550, "5.7.0", NULL},
	{"REJECT 4.7.1 try later", HC_REJECT, "try later", 451, "4.7.1", NULL},
	{"REJECT 4.7.1", HC_REJECT, "Message content rejected", 451, "4.7.1", NULL},
	{"REJECT 2.0.0 not a reject code", HC_REJECT, "2.0.0 not a reject code", 550, "5.7.1", NULL},
	{"REJECT 5.7.1234 too long", HC_REJECT, "5.7.1234 too long", 550, "5.7.1", NULL},
	{"REJECT 5.7.1x", HC_REJECT, "5.7.1x", 550, "5.7.1", NULL},
	{"  REJECT   spaced out  ", HC_REJECT, "spaced out", 550, "5.7.1", NULL},
	{"DISCARD", HC_DISCARD, "", 0, "", NULL},
	{"Discard spam from a milter", HC_DISCARD, "spam from a milter", 0, "", NULL},
	{"HOLD", HC_HOLD, "", 0, "", NULL},
	{"hold spamassassin says so", HC_HOLD, "spamassassin says so", 0, "", NULL},
	{"WARN", HC_WARN, "", 0, "", NULL},
	{"WARN looks odd", HC_WARN, "looks odd", 0, "", NULL},
	{"INFO noted", HC_INFO, "noted", 0, "", NULL},
	{"REDIRECT spam@example.com", HC_REDIRECT, "spam@example.com", 0, "", NULL},
	{"REDIRECT", HC_DUNNO, "", 0, "", "REDIRECT needs one address"},
	{"REDIRECT a@b c@d", HC_DUNNO, "", 0, "", "REDIRECT needs one address"},
	{"IGNORE", HC_IGNORE, "", 0, "", NULL},
	{"REPLACE X-Spam-Flag: checked", HC_REPLACE, "X-Spam-Flag: checked", 0, "", NULL},
	{"REPLACE not a header", HC_DUNNO, "", 0, "", "REPLACE text must be a whole header"},
	{"DUNNO", HC_DUNNO, "", 0, "", NULL},
	{"dunno whatever follows", HC_DUNNO, "", 0, "", NULL},
	{"OK", HC_DUNNO, "", 0, "", NULL},
	{"FILTER smtp:[127.0.0.1]:10025", HC_DUNNO, "", 0, "",
	 "FILTER is not implemented for milter_header_checks: treated as DUNNO"},
	{"PREPEND X-Foo: bar", HC_DUNNO, "", 0, "", "PREPEND is not implemented"},
	{"BCC archive@example.com", HC_DUNNO, "", 0, "", "BCC is not implemented"},
	{"FROBNICATE now", HC_DUNNO, "", 0, "", "unknown action \"FROBNICATE\": treated as DUNNO"},
	{"550 go away", HC_DUNNO, "", 0, "", "unknown action \"550\""},
	{"", HC_DUNNO, "", 0, "", "unknown action \"\""},
	/* $N can copy a folded header's line breaks: a reply must stay one line. */
	{"REJECT bad\r\n\tsubject\x01", HC_REJECT, "bad   subject ", 550, "5.7.1", NULL},
	{"HOLD a\nb", HC_HOLD, "a b", 0, "", NULL},
	{"UNKNOWN\x01\x02", HC_DUNNO, "", 0, "", "unknown action \"UNKNOWN  \""},
};

START_TEST(test_parse)
{
	const struct parse *t = &parses[_i];
	struct header_check hc;
	header_check_init(&hc);
	header_check_parse(t->result, &hc);
	ck_assert_msg(hc.action == t->action, "\"%s\": action %s, want %s", t->result,
		      header_check_action_name(hc.action), header_check_action_name(t->action));
	ck_assert_msg(strcmp(buf_str(&hc.text), t->text) == 0, "\"%s\": text \"%s\", want \"%s\"",
		      t->result, buf_str(&hc.text), t->text);
	ck_assert_int_eq(hc.code, t->code);
	ck_assert_str_eq(hc.dsn, t->dsn);
	if (t->warning == NULL)
		ck_assert_msg(hc.warning.len == 0, "\"%s\": warning \"%s\"", t->result, buf_str(&hc.warning));
	else
		ck_assert_msg(strstr(buf_str(&hc.warning), t->warning) != NULL,
			      "\"%s\": warning \"%s\" lacks \"%s\"", t->result, buf_str(&hc.warning), t->warning);
	ck_assert_ptr_null(strchr(buf_str(&hc.warning), '\n'));
	ck_assert_str_eq(buf_str(&hc.result), t->result);
	header_check_free(&hc);
}
END_TEST

START_TEST(test_text_limit)
{
	/* A long text is cut at HC_TEXT_MAX, never inside a UTF-8 character. */
	struct buf r = BUF_INIT;
	buf_adds(&r, "REJECT ");
	for (int i = 0; i < HC_TEXT_MAX - 1; i++)
		buf_addc(&r, 'a');
	buf_adds(&r, "\xc3\xa9tail");	/* é straddles the limit */
	struct header_check hc;
	header_check_init(&hc);
	header_check_parse(buf_str(&r), &hc);
	ck_assert_int_eq(hc.text.len, HC_TEXT_MAX - 1);
	header_check_parse("HOLD short", &hc);
	ck_assert_str_eq(buf_str(&hc.text), "short");
	header_check_free(&hc);
	buf_free(&r);
}
END_TEST

START_TEST(test_action_names)
{
	ck_assert_str_eq(header_check_action_name(HC_REJECT), "reject");
	ck_assert_str_eq(header_check_action_name(HC_HOLD), "hold");
	ck_assert_str_eq(header_check_action_name(HC_DISCARD), "discard");
	ck_assert_str_eq(header_check_action_name(HC_WARN), "warning");
	ck_assert_str_eq(header_check_action_name(HC_REDIRECT), "redirect");
	ck_assert_str_eq(header_check_action_name(HC_DUNNO), "dunno");
}
END_TEST

static char tmpdir[] = "/tmp/tern-test-hchecks.XXXXXX";

static void setup(void)
{
	strlcpy(tmpdir, "/tmp/tern-test-hchecks.XXXXXX", sizeof(tmpdir));
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void teardown(void)
{
	char *cmd = xasprintf("rm -rf '%s'", tmpdir);
	ck_assert_int_eq(system(cmd), 0);
	free(cmd);
}

static char *write_table(const char *name, const char *text)
{
	char *p = xasprintf("%s/%s", tmpdir, name);
	FILE *f = fopen(p, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
	char *spec = xasprintf("regexp:%s", p);
	free(p);
	return spec;
}

/* The table of the milter_header_checks example: what spamass-milter and friends add. */
static const char milter_table[] =
	"# milter_header_checks\n"
	"/^X-Spam-Flag:[[:space:]]+YES/        HOLD spam flagged by a milter\n"
	"/^X-Spam-Level: \\*{15,}/             DISCARD very spammy\n"
	"/^X-Virus: (.*)/                      REJECT 5.7.0 virus found: $1\n"
	"/^X-Quarantine:/                      REDIRECT quarantine@example.com\n"
	"/^X-Debug:/                           WARN debug header from milter\n"
	"/^X-Internal:/                        IGNORE\n"
	"/^X-Score: (.*)/                      REPLACE X-Score-Seen: $1\n"
	"/^X-Route:/                           FILTER smtp:[127.0.0.1]:10025\n"
	"/^X-Spam-Status: No/                  DUNNO\n"
	"/^X-Spam-Status:/                     HOLD status\n";

static const struct eval {
	const char *header;
	int want_r;
	enum hc_action action;
	const char *text;
} evals[] = {
	{"X-Spam-Flag: YES", 1, HC_HOLD, "spam flagged by a milter"},
	{"x-spam-flag: yes\n", 1, HC_HOLD, "spam flagged by a milter"},
	{"X-Spam-Flag: NO", 0, HC_DUNNO, ""},
	{"X-Spam-Level: ****************", 1, HC_DISCARD, "very spammy"},
	{"X-Spam-Level: ***", 0, HC_DUNNO, ""},
	{"X-Virus: Eicar-Test", 1, HC_REJECT, "virus found: Eicar-Test"},
	/* A folded header is one key; its line break does not reach the reply. */
	{"X-Virus: Eicar\r\n\tTest\r\n", 1, HC_REJECT, "virus found: Eicar   Test"},
	{"X-Quarantine: yes", 1, HC_REDIRECT, "quarantine@example.com"},
	{"X-Debug: 1", 1, HC_WARN, "debug header from milter"},
	{"X-Internal: secret", 1, HC_IGNORE, ""},
	{"X-Score: 7.5", 1, HC_REPLACE, "X-Score-Seen: 7.5"},
	{"X-Route: x", 1, HC_DUNNO, ""},
	{"X-Spam-Status: No, score=1", 1, HC_DUNNO, ""},
	{"X-Spam-Status: Yes, score=9", 1, HC_HOLD, "status"},
	{"Subject: hello", 0, HC_DUNNO, ""},
};

START_TEST(test_eval_map)
{
	const struct eval *t = &evals[_i];
	char *spec = write_table("milter_header_checks", milter_table);
	struct buf err = BUF_INIT;
	struct map *m = map_open(spec, MAP_RDONLY, &err);
	ck_assert_msg(m != NULL, "%s", buf_str(&err));
	struct header_check hc;
	header_check_init(&hc);
	/* A previous result is cleared by each evaluation. */
	header_check_parse("REJECT old", &hc);
	int r = header_checks_map(m, t->header, &hc, &err);
	ck_assert_msg(r == t->want_r, "\"%s\": %d", t->header, r);
	ck_assert_msg(hc.action == t->action, "\"%s\": action %s, want %s", t->header,
		      header_check_action_name(hc.action), header_check_action_name(t->action));
	ck_assert_msg(strcmp(buf_str(&hc.text), t->text) == 0, "\"%s\": text \"%s\", want \"%s\"",
		      t->header, buf_str(&hc.text), t->text);
	if (r == 0)
		ck_assert_int_eq(hc.result.len, 0);
	header_check_free(&hc);
	map_close(m);
	buf_free(&err);
	free(spec);
}
END_TEST

START_TEST(test_eval_list)
{
	char *a = write_table("a", "/^X-A:/ HOLD from a\n/^X-Both:/ WARN from a\n");
	char *b = write_table("b", "/^X-B:/ DISCARD from b\n/^X-Both:/ REJECT from b\n");
	char *specs = xasprintf("%s, %s", a, b);
	struct buf err = BUF_INIT;
	struct maplist *l = maplist_open(specs, 0, &err);
	ck_assert_msg(l != NULL, "%s", buf_str(&err));
	struct header_check hc;
	header_check_init(&hc);
	ck_assert_int_eq(header_checks_list(l, "X-A: 1", &hc, &err), 1);
	ck_assert_int_eq(hc.action, HC_HOLD);
	ck_assert_int_eq(header_checks_list(l, "X-B: 1", &hc, &err), 1);
	ck_assert_int_eq(hc.action, HC_DISCARD);
	ck_assert_int_eq(header_checks_list(l, "X-Both: 1", &hc, &err), 1);
	ck_assert_int_eq(hc.action, HC_WARN);
	ck_assert_str_eq(buf_str(&hc.text), "from a");
	ck_assert_str_eq(buf_str(&hc.result), "WARN from a");
	ck_assert_int_eq(header_checks_list(l, "X-None: 1", &hc, &err), 0);
	ck_assert_int_eq(hc.action, HC_DUNNO);
	header_check_free(&hc);
	maplist_close(l);
	free(specs);
	free(a);
	free(b);
	buf_free(&err);
}
END_TEST

START_TEST(test_eval_exact_table)
{
	/* An exact-match table works too (its keys folded by the map layer). */
	struct buf err = BUF_INIT;
	struct map *m = map_open("inline:{ { x-a: 1 = HOLD by inline } }", MAP_RDONLY, &err);
	ck_assert_msg(m != NULL, "%s", buf_str(&err));
	struct header_check hc;
	header_check_init(&hc);
	ck_assert_int_eq(header_checks_map(m, "X-A: 1", &hc, &err), 1);
	ck_assert_int_eq(hc.action, HC_HOLD);
	ck_assert_str_eq(buf_str(&hc.text), "by inline");
	ck_assert_int_eq(header_checks_map(m, "X-A: 2", &hc, &err), 0);
	map_close(m);
	header_check_free(&hc);
	buf_free(&err);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("header_checks");
	TCase *tc = tcase_create("parse");
	tcase_add_loop_test(tc, test_parse, 0, sizeof(parses) / sizeof(parses[0]));
	tcase_add_test(tc, test_text_limit);
	tcase_add_test(tc, test_action_names);
	suite_add_tcase(s, tc);
	tc = tcase_create("lookup");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_eval_map, 0, sizeof(evals) / sizeof(evals[0]));
	tcase_add_test(tc, test_eval_list);
	tcase_add_test(tc, test_eval_exact_table);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
