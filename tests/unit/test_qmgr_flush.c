/*
 * test_qmgr_flush.c - the filtered flush request of public/qmgr
 * ("flush [!]I|R|S substr"): what is refused, and what matches; and the
 * flush of a stopping qmgr (qmgr_flush_all): every message of deferred/
 * due now, nothing else touched. Unprivileged unit test.
 */
#include "compat.h"

#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../../queue/qmgr_flush.c"

static const struct parse_case {
	const char *req;
	int ok;			/* 0 accepted, -1 refused */
	char what;
	bool negate;
	const char *substr;
} parse_cases[] = {
	{.req = "flush I 4F2A", .ok = 0, .what = 'I', .substr = "4F2A"},
	{.req = "flush R bob@Example.org", .ok = 0, .what = 'R', .substr = "bob@Example.org"},
	{.req = "flush S alice", .ok = 0, .what = 'S', .substr = "alice"},
	{.req = "flush !R remote", .ok = 0, .what = 'R', .negate = true, .substr = "remote"},
	{.req = "flush R a b", .ok = 0, .what = 'R', .substr = "a b"},
	{.req = "flush", .ok = -1},
	{.req = "flush ", .ok = -1},
	{.req = "flush X abc", .ok = -1},		/* unknown letter */
	{.req = "flush r abc", .ok = -1},		/* letters are upper case */
	{.req = "flush R", .ok = -1},			/* no substring */
	{.req = "flush R ", .ok = -1},			/* empty substring */
	{.req = "flush Rabc", .ok = -1},		/* no space */
	{.req = "flush !!R abc", .ok = -1},
	{.req = "flush R a\tb", .ok = -1},		/* control character */
	{.req = "flush R a\033b", .ok = -1},
	{.req = "flush R a\177b", .ok = -1},
	{.req = "list sendmail", .ok = -1},
};

START_TEST(test_parse)
{
	const struct parse_case *c = &parse_cases[_i];
	struct qmgr_filter f;
	int r = qmgr_flush_parse(c->req, &f);

	ck_assert_msg(r == c->ok, "%s: %d", c->req, r);
	if (r == 0) {
		ck_assert_int_eq(f.what, c->what);
		ck_assert(f.negate == c->negate);
		ck_assert_str_eq(f.substr, c->substr);
	}
}
END_TEST

START_TEST(test_parse_length)
{
	char req[600];
	struct qmgr_filter f;

	strlcpy(req, "flush R ", sizeof(req));
	memset(req + 8, 'a', QMGR_FILTER_MAX);
	req[8 + QMGR_FILTER_MAX] = '\0';
	ck_assert_int_eq(qmgr_flush_parse(req, &f), 0);
	req[8 + QMGR_FILTER_MAX] = 'a';
	req[9 + QMGR_FILTER_MAX] = '\0';
	ck_assert_int_eq(qmgr_flush_parse(req, &f), -1);
}
END_TEST

static const struct match_case {
	const char *req;
	bool match;
} match_cases[] = {
	{.req = "flush I 4F2A", .match = true},
	{.req = "flush I 4f2a", .match = false},	/* queue ids match exactly */
	{.req = "flush I 99", .match = false},
	{.req = "flush !I 99", .match = true},
	{.req = "flush R carol@", .match = true},	/* the second recipient */
	{.req = "flush R CAROL@REMOTE", .match = true},	/* addresses: any case */
	{.req = "flush R dave", .match = false},
	{.req = "flush !R carol", .match = false},
	{.req = "flush !R dave", .match = true},
	{.req = "flush S Alice@", .match = true},
	{.req = "flush S bob", .match = false},
	{.req = "flush !S bob", .match = true},
};

START_TEST(test_match)
{
	const struct match_case *c = &match_cases[_i];
	struct mailq_list l;
	struct mailq_entry *e;
	struct qmgr_filter f;

	mailq_list_init(&l);
	e = mailq_add(&l, "deferred", "4F2A9C01", 0, 10, "alice@localhost");
	mailq_add_rcpt(e, "bob@remote.example", "");
	mailq_add_rcpt(e, "carol@remote.example", "");
	ck_assert_int_eq(qmgr_flush_parse(c->req, &f), 0);
	ck_assert_msg(qmgr_filter_match(&f, e) == c->match, "%s", c->req);
	mailq_list_free(&l);
}
END_TEST

/* A file at dir/name whose modification time is an hour ahead. */
static void file_ahead(const char *dir, const char *name)
{
	char path[256];
	struct timeval tv[2];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	ck_assert_int_ge(fd, 0);
	close(fd);
	gettimeofday(&tv[0], NULL);
	tv[0].tv_sec += 3600;
	tv[1] = tv[0];
	ck_assert_int_eq(utimes(path, tv), 0);
}

static time_t mtime_of(const char *dir, const char *name)
{
	char path[256];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	ck_assert_int_eq(stat(path, &st), 0);
	return st.st_mtime;
}

START_TEST(test_flush_all)
{
	char top[] = "/tmp/tern-qmgr-flush.XXXXXX";
	char here[4096];
	time_t now = time(NULL);

	ck_assert_ptr_nonnull(mkdtemp(top));
	ck_assert_ptr_nonnull(getcwd(here, sizeof(here)));
	ck_assert_int_eq(chdir(top), 0);
	ck_assert_int_eq(qmgr_flush_all(), -1);	/* no deferred/ */
	ck_assert_int_eq(mkdir("deferred", 0700), 0);
	ck_assert_int_eq(mkdir("incoming", 0700), 0);
	file_ahead("deferred", "6B14281F73AA3A720E5");
	file_ahead("deferred", "6B14281F70C1B2360");
	file_ahead("deferred", ".tmp.1.2.3");
	file_ahead("incoming", "6B14281F7AAAAAAAAAA");
	ck_assert_int_eq(qmgr_flush_all(), 2);
	ck_assert_int_le(mtime_of("deferred", "6B14281F73AA3A720E5"), now + 60);
	ck_assert_int_le(mtime_of("deferred", "6B14281F70C1B2360"), now + 60);
	ck_assert_int_gt(mtime_of("deferred", ".tmp.1.2.3"), now + 3000);
	ck_assert_int_gt(mtime_of("incoming", "6B14281F7AAAAAAAAAA"), now + 3000);
	unlink("deferred/6B14281F73AA3A720E5");
	unlink("deferred/6B14281F70C1B2360");
	unlink("deferred/.tmp.1.2.3");
	unlink("incoming/6B14281F7AAAAAAAAAA");
	rmdir("deferred");
	rmdir("incoming");
	ck_assert_int_eq(chdir(here), 0);
	rmdir(top);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("qmgr_flush");
	TCase *tc = tcase_create("core");
	tcase_add_loop_test(tc, test_parse, 0, sizeof(parse_cases) / sizeof(parse_cases[0]));
	tcase_add_test(tc, test_parse_length);
	tcase_add_loop_test(tc, test_match, 0, sizeof(match_cases) / sizeof(match_cases[0]));
	tcase_add_test(tc, test_flush_all);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
