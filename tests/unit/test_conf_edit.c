/*
 * test_conf_edit.c - Check suite for in-place main.cf edits
 * (lib/mail/conf_edit.c): set, remove and comment out keep every other
 * line, comment and the order; the expected texts are what postconf -e,
 * -X and -# of Postfix 3.7 produce on the same input (except that Tern
 * ends an appended line with a newline when the file did not).
 */
#include "compat.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mail/conf_edit.h"
#include "mail/config.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/mem.h"

static const char sample[] =
	"# top comment\n"
	"myhostname = a.example\n"
	"# comment before\n"
	"home_mailbox = old\n"
	"    continued here\n"
	"# after\n"
	"mydestination = x\n"
	"mydestination = y\n"
	"relayhost=[r]   \n"
	"#relayhost = z\n";

struct edit_case {
	const char *in;
	struct conf_edit edits[3];
	size_t n;
	const char *want;
};

static const struct edit_case cases[] = {
	{ .in = sample, .n = 1, .edits = { { CONF_SET, "home_mailbox", "Mail/" } },
	  .want = "# top comment\nmyhostname = a.example\n# comment before\nhome_mailbox = Mail/\n"
		  "# after\nmydestination = x\nmydestination = y\nrelayhost=[r]   \n#relayhost = z\n" },
	{ .in = sample, .n = 1, .edits = { { CONF_SET, "mydestination", "z" } },
	  .want = "# top comment\nmyhostname = a.example\n# comment before\nhome_mailbox = old\n"
		  "    continued here\n# after\nmydestination = z\nmydestination = z\nrelayhost=[r]   \n"
		  "#relayhost = z\n" },
	{ .in = sample, .n = 2, .edits = { { CONF_SET, "new_param", "1" }, { CONF_SET, "relayhost", "" } },
	  .want = "# top comment\nmyhostname = a.example\n# comment before\nhome_mailbox = old\n"
		  "    continued here\n# after\nmydestination = x\nmydestination = y\nrelayhost = \n"
		  "#relayhost = z\nnew_param = 1\n" },
	{ .in = sample, .n = 2, .edits = { { CONF_REMOVE, "home_mailbox", NULL },
					   { CONF_REMOVE, "mydestination", NULL } },
	  .want = "# top comment\nmyhostname = a.example\n# comment before\n# after\n"
		  "relayhost=[r]   \n#relayhost = z\n" },
	{ .in = sample, .n = 3, .edits = { { CONF_COMMENT, "home_mailbox", NULL },
					   { CONF_COMMENT, "relayhost", NULL },
					   { CONF_COMMENT, "nonexist", NULL } },
	  .want = "# top comment\nmyhostname = a.example\n# comment before\n#home_mailbox = old\n"
		  "#    continued here\n# after\nmydestination = x\nmydestination = y\n"
		  "#relayhost=[r]   \n#relayhost = z\n" },
	{ .in = sample, .n = 1, .edits = { { CONF_REMOVE, "nonexist", NULL } }, .want = sample },
	/* Comments and blank lines inside a continued entry stay. */
	{ .in = "home_mailbox = old\n# c\n\n  cont\nx = 1\n", .n = 1,
	  .edits = { { CONF_REMOVE, "home_mailbox", NULL } }, .want = "# c\n\nx = 1\n" },
	{ .in = "home_mailbox = old\n# c\n\n  cont\nx = 1\n", .n = 1,
	  .edits = { { CONF_COMMENT, "home_mailbox", NULL } },
	  .want = "#home_mailbox = old\n# c\n\n#  cont\nx = 1\n" },
	{ .in = "home_mailbox = old\n# c\n\n  cont\nx = 1\n", .n = 1,
	  .edits = { { CONF_SET, "home_mailbox", "n" } }, .want = "home_mailbox = n\n# c\n\nx = 1\n" },
	/* No newline at the end: Tern adds one before appending. */
	{ .in = "x = 1", .n = 1, .edits = { { CONF_SET, "y", "2" } }, .want = "x = 1\ny = 2\n" },
	{ .in = "x = 1\n   \ty", .n = 1, .edits = { { CONF_SET, "x", "2" } }, .want = "x = 2\n" },
	{ .in = "", .n = 1, .edits = { { CONF_SET, "home_mailbox", "Mail/" } },
	  .want = "home_mailbox = Mail/\n" },
	/* The last edit of a name counts. */
	{ .in = "", .n = 2, .edits = { { CONF_SET, "a", "1" }, { CONF_SET, "a", "2" } },
	  .want = "a = 2\n" },
	{ .in = "a = 0\n", .n = 2, .edits = { { CONF_SET, "a", "1" }, { CONF_REMOVE, "a", NULL } },
	  .want = "" },
	/* A name that is only a prefix of another does not match it. */
	{ .in = "relayhost_x = 1\nrelayhost = 2\n", .n = 1,
	  .edits = { { CONF_REMOVE, "relayhost", NULL } }, .want = "relayhost_x = 1\n" },
	/* Continuation lines of an untouched entry stay with it. */
	{ .in = "a = 1\n  2\nb = 3\n  4\n", .n = 1, .edits = { { CONF_SET, "b", "5" } },
	  .want = "a = 1\n  2\nb = 5\n" },
	/* CRLF lines are kept byte for byte. */
	{ .in = "a = 1\r\nb = 2\r\n", .n = 1, .edits = { { CONF_SET, "b", "3" } },
	  .want = "a = 1\r\nb = 3\n" },
};

START_TEST(test_edit_text)
{
	const struct edit_case *c = &cases[_i];
	struct buf out = BUF_INIT;
	conf_edit_text(c->in, strlen(c->in), c->edits, c->n, &out);
	ck_assert_str_eq(buf_str(&out), c->want);
	buf_free(&out);
}
END_TEST

/* The result of an edit reads back as the edit says (round trip). */
START_TEST(test_round_trip)
{
	const struct edit_case *c = &cases[_i];
	struct buf out = BUF_INIT, err = BUF_INIT;
	conf_edit_text(c->in, strlen(c->in), c->edits, c->n, &out);
	if (config_load_buffer("main.cf", out.data ? out.data : "", out.len, &err) == 0) {
		for (size_t k = 0; k < c->n; k++) {
			const struct conf_edit *e = &c->edits[k];
			bool later = false;
			for (size_t j = k + 1; j < c->n; j++)
				later |= strcmp(c->edits[j].name, e->name) == 0;
			if (later)
				continue;
			if (e->op == CONF_SET) {
				ck_assert(cfg_is_set(e->name));
				ck_assert_str_eq(cfg_raw(e->name), e->value);
			} else {
				ck_assert(!cfg_is_set(e->name));
			}
		}
	}
	/* Every comment line of the input survives. */
	const char *p = c->in;
	while ((p = strstr(p, "# ")) != NULL) {
		const char *eol = strchr(p, '\n');
		char *line = xstrndup(p, eol ? (size_t)(eol - p) : strlen(p));
		ck_assert_msg(strstr(buf_str(&out), line) != NULL, "lost %s", line);
		free(line);
		p += 2;
	}
	buf_free(&out);
	buf_free(&err);
}
END_TEST

#define N16 "aaaaaaaaaaaaaaaa"
#define N255 N16 N16 N16 N16 N16 N16 N16 N16 N16 N16 N16 N16 N16 N16 N16 "aaaaaaaaaaaaaaa"
static const struct {
	const char *arg;
	const char *name;	/* NULL: refused */
	const char *value;
} parse_cases[] = {
	{ "home_mailbox= Mail/", "home_mailbox", "Mail/" },
	{ "  x =  a b  ", "x", "a b" },
	{ "relayhost =", "relayhost", "" },
	{ "a==b", "a", "=b" },
	{ "home_mailbox", NULL, NULL },
	{ "= x", NULL, NULL },
	{ "bad name = x", NULL, NULL },
	{ "bad-name = x", NULL, NULL },
	{ "x = a\nb", NULL, NULL },
	/* The reader's limit, 255 characters: longer would write a line main.cf refuses. */
	{ N255 " = x", N255, "x" },
	{ N255 "a = x", NULL, NULL },
};

START_TEST(test_parse)
{
	char *name = NULL, *value = NULL;
	struct buf err = BUF_INIT;
	int rc = conf_edit_parse(parse_cases[_i].arg, &name, &value, &err);
	if (parse_cases[_i].name == NULL) {
		ck_assert_int_lt(rc, 0);
		ck_assert_uint_gt(err.len, 0);
	} else {
		ck_assert_int_eq(rc, 0);
		ck_assert_str_eq(name, parse_cases[_i].name);
		ck_assert_str_eq(value, parse_cases[_i].value);
	}
	free(name);
	free(value);
	buf_free(&err);
}
END_TEST

/* The file is replaced whole, keeps its mode, and leaves no temp file. */
START_TEST(test_edit_file)
{
	char dir[] = "/tmp/test_conf_edit.XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(dir));
	char *path = xasprintf("%s/main.cf", dir);
	struct buf err = BUF_INIT;
	struct conf_edit set = { CONF_SET, "home_mailbox", "Mail/" };

	/* Missing file: created. */
	ck_assert_int_eq(conf_edit_file(path, &set, 1, &err), 0);
	FILE *f = fopen(path, "r");
	char text[256] = "";
	size_t n = fread(text, 1, sizeof(text) - 1, f);
	text[n] = '\0';
	fclose(f);
	ck_assert_str_eq(text, "home_mailbox = Mail/\n");

	chmod(path, 0640);
	struct conf_edit add = { CONF_SET, "myorigin", "example.org" };
	ck_assert_int_eq(conf_edit_file(path, &add, 1, &err), 0);
	struct stat st;
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, 0640);
	ck_assert_int_eq(config_load(dir, false, &err), 0);
	ck_assert_str_eq(cfg_str("home_mailbox"), "Mail/");
	ck_assert_str_eq(cfg_str("myorigin"), "example.org");

	/* Nothing else is left in the directory. */
	char *cmd = xasprintf("test $(ls -A %s | wc -l) -eq 1", dir);
	ck_assert_int_eq(system(cmd), 0);
	free(cmd);

	/* A directory where the file should be: an error, nothing written. */
	char *sub = xasprintf("%s/sub", dir);
	mkdir(sub, 0755);
	char *subcf = xasprintf("%s/main.cf", sub);
	mkdir(subcf, 0755);
	ck_assert_int_lt(conf_edit_file(subcf, &set, 1, &err), 0);
	ck_assert_uint_gt(err.len, 0);
	rmdir(subcf);
	rmdir(sub);
	free(subcf);
	free(sub);

	unlink(path);
	rmdir(dir);
	free(path);
	buf_free(&err);
}
END_TEST

int main(void)
{
	log_init("test_conf_edit", 0);
	Suite *s = suite_create("conf_edit");
	TCase *tc = tcase_create("core");
	tcase_add_loop_test(tc, test_edit_text, 0, sizeof(cases) / sizeof(cases[0]));
	tcase_add_loop_test(tc, test_round_trip, 0, sizeof(cases) / sizeof(cases[0]));
	tcase_add_loop_test(tc, test_parse, 0, sizeof(parse_cases) / sizeof(parse_cases[0]));
	tcase_add_test(tc, test_edit_file);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
