/*
 * test_cleanup_date.c - Check suite for cleanup_rfc5322_date (the Date:
 * and Received: dates cleanup writes), whose digits are written by hand
 * rather than by snprintf: the same text as the printf format it
 * replaced, in zones east and west of UTC (with half and three-quarter
 * hour offsets) and at the edges of days, months, years and 32-bit time.
 * Unprivileged.
 */
#include "compat.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "mail/cleanup_impl.h"
#include "util/buf.h"
#include "util/mem.h"

START_TEST(test_rfc5322_date)
{
	static const char *const zones[] = { "UTC0", "EST5EDT,M3.2.0,M11.1.0", "IST-5:30",
					     "XYZ+11:45", "ABC-14" };
	static const time_t times[] = { 0, 59, 86399, 951782400, 1000000000, 1234567890,
					1700000000, 1767225599, 2147483647, 4102444800LL,
					253402300799LL,
					/* outside the hand-written path's years: its printf fallback */
					-2208988801LL, -86400, 253402300800LL };
	static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
	static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
					   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	struct buf got = BUF_INIT;

	for (size_t z = 0; z < sizeof(zones) / sizeof(zones[0]); z++) {
		setenv("TZ", zones[z], 1);
		tzset();
		for (size_t k = 0; k < sizeof(times) / sizeof(times[0]); k++) {
			struct tm tm;
			char want[64];
			localtime_r(&times[k], &tm);
			long off = tm.tm_gmtoff / 60;
			char sign = off < 0 ? '-' : '+';
			if (off < 0)
				off = -off;
			snprintf(want, sizeof(want), "%s, %d %s %d %02d:%02d:%02d %c%02ld%02ld",
				 days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900,
				 tm.tm_hour, tm.tm_min, tm.tm_sec, sign, off / 60, off % 60);
			buf_reset(&got);
			buf_adds(&got, "x");	/* appended, not replaced */
			cleanup_rfc5322_date(times[k], &got);
			ck_assert_str_eq(buf_str(&got) + 1, want);
		}
	}
	buf_free(&got);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("cleanup_date");
	TCase *tc = tcase_create("date");
	tcase_add_test(tc, test_rfc5322_date);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
