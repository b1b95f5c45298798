/*
 * test_qspace.c - Check suite for the queue free-space rule
 * (lib/mail/qspace.c): queue_minfree and 1.5 x message_size_limit, and
 * a real statvfs() of this test's file system.
 */
#include "compat.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "mail/qspace.h"

static const struct {
	unsigned long long avail, minfree, limit;
	bool enough;
} rows[] = {
	{.avail = 1000, .minfree = 0, .limit = 0, .enough = true},
	{.avail = 0, .minfree = 0, .limit = 0, .enough = false},	/* a full disk */
	{.avail = 1000, .minfree = 999, .limit = 0, .enough = true},
	{.avail = 1000, .minfree = 1000, .limit = 0, .enough = false},
	{.avail = 1000, .minfree = 1ULL << 50, .limit = 0, .enough = false},
	/* 1.5 x message_size_limit must be free. */
	{.avail = 1500, .minfree = 0, .limit = 999, .enough = true},
	{.avail = 1500, .minfree = 0, .limit = 1000, .enough = false},
	{.avail = 1501, .minfree = 0, .limit = 1000, .enough = true},
	{.avail = 15000000000ULL, .minfree = 0, .limit = 10240000, .enough = true},
	{.avail = 15000000, .minfree = 0, .limit = 10240000, .enough = false},
	/* No overflow near the top. */
	{.avail = ~0ULL, .minfree = 0, .limit = 1ULL << 50, .enough = true},
	{.avail = ~0ULL, .minfree = ~0ULL, .limit = 0, .enough = false},
};

START_TEST(test_rule)
{
	ck_assert_msg(qspace_enough(rows[_i].avail, rows[_i].minfree, rows[_i].limit) == rows[_i].enough,
		      "avail %llu minfree %llu limit %llu", rows[_i].avail, rows[_i].minfree, rows[_i].limit);
}
END_TEST

START_TEST(test_statvfs)
{
	struct buf why = BUF_INIT;
	/* 1 PB is more than any test machine has; 1 byte is less. */
	ck_assert_int_eq(qspace_check("/tmp", 1000000000000000ULL, 0, &why), 0);
	ck_assert_msg(strstr(buf_str(&why), "queue_minfree is 1000000000000000") != NULL, "%s", buf_str(&why));
	buf_reset(&why);
	ck_assert_int_eq(qspace_check("/tmp", 1, 0, &why), 1);
	ck_assert_int_eq(qspace_check("/tmp", 0, 1000000000000000ULL, &why), 0);
	ck_assert_msg(strstr(buf_str(&why), "1.5 x message_size_limit") != NULL, "%s", buf_str(&why));
	buf_free(&why);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("qspace");
	TCase *tc = tcase_create("core");
	tcase_add_loop_test(tc, test_rule, 0, (int)(sizeof(rows) / sizeof(rows[0])));
	tcase_add_test(tc, test_statvfs);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
