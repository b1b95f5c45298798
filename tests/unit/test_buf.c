/*
 * test_buf.c - Check suite for the growable string (lib/util/buf.c).
 */
#include "compat.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"

START_TEST(test_add_and_printf)
{
	struct buf b = BUF_INIT;
	ck_assert_str_eq(buf_str(&b), "");
	buf_adds(&b, "abc");
	buf_addc(&b, '-');
	buf_printf(&b, "%d/%s", 42, "x");
	ck_assert_str_eq(buf_str(&b), "abc-42/x");
	ck_assert_uint_eq(b.len, 8);
	buf_consume(&b, 4);
	ck_assert_str_eq(buf_str(&b), "42/x");
	buf_truncate(&b, 2);
	ck_assert_str_eq(buf_str(&b), "42");
	char *s = buf_steal(&b);
	ck_assert_str_eq(s, "42");
	ck_assert_ptr_null(b.data);
	free(s);
}
END_TEST

START_TEST(test_growth)
{
	struct buf b = BUF_INIT;
	for (int i = 0; i < 100000; i++)
		buf_addc(&b, (char)('a' + i % 26));
	ck_assert_uint_eq(b.len, 100000);
	ck_assert_int_eq(b.data[99999], 'a' + 99999 % 26);
	ck_assert_int_eq(b.data[100000], '\0');
	buf_free(&b);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("buf");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_add_and_printf);
	tcase_add_test(tc, test_growth);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
