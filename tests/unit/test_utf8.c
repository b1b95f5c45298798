/*
 * test_utf8.c - Check suite for strict UTF-8 validation (lib/util/utf8.c).
 */
#include "compat.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "util/utf8.h"

static const struct {
	const char *s;
	bool ok;
} rows[] = {
	{"", true},
	{"plain ascii", true},
	{"j\xc3\xb6rg", true},			/* U+00F6 */
	{"\xe2\x82\xac", true},			/* U+20AC */
	{"\xed\x9f\xbf", true},			/* U+D7FF, last before the surrogates */
	{"\xee\x80\x80", true},			/* U+E000, first after them */
	{"\xf0\x90\x80\x80", true},		/* U+10000 */
	{"\xf4\x8f\xbf\xbf", true},		/* U+10FFFF */
	{"\xff", false},
	{"\xfe", false},
	{"a\x80", false},			/* stray continuation */
	{"\xc3", false},			/* truncated */
	{"\xe2\x82", false},
	{"\xc0\xaf", false},			/* overlong '/' */
	{"\xc1\xbf", false},
	{"\xe0\x80\xaf", false},		/* overlong, 3 bytes */
	{"\xe0\x9f\xbf", false},
	{"\xf0\x80\x80\xaf", false},		/* overlong, 4 bytes */
	{"\xf0\x8f\xbf\xbf", false},
	{"\xed\xa0\x80", false},		/* U+D800, a surrogate */
	{"\xed\xbf\xbf", false},		/* U+DFFF */
	{"\xf4\x90\x80\x80", false},		/* U+110000 */
	{"\xf5\x80\x80\x80", false},
	{"\xc3\x28", false},			/* bad continuation */
	{"\xe2\x28\xa1", false},
	{"\xf0\x90\x28\xbc", false},
};

START_TEST(test_rows)
{
	ck_assert_msg(utf8_valid(rows[_i].s, strlen(rows[_i].s)) == rows[_i].ok, "row %d", _i);
}
END_TEST

START_TEST(test_length_bound)
{
	/* Only len bytes are looked at: a sequence cut by len is invalid. */
	ck_assert(!utf8_valid("\xc3\xb6", 1));
	ck_assert(utf8_valid("\xc3\xb6\xff", 2));
}
END_TEST

START_TEST(test_non_ascii)
{
	ck_assert(!utf8_non_ascii(""));
	ck_assert(!utf8_non_ascii("joe@example.org\x7f"));
	ck_assert(utf8_non_ascii("j\xc3\xb6rg@example.org"));
	ck_assert(utf8_non_ascii("joe@example.org\xff"));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("utf8");
	TCase *tc = tcase_create("core");
	tcase_add_loop_test(tc, test_rows, 0, sizeof(rows) / sizeof(rows[0]));
	tcase_add_test(tc, test_length_bound);
	tcase_add_test(tc, test_non_ascii);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
