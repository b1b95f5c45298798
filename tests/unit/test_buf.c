/*
 * test_buf.c - Check suite for the growable string (lib/util/buf.c).
 */
#include "compat.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/* printf into the room there is, at its edges: what fits, exactly, and one byte more. */
START_TEST(test_printf_room)
{
	char text[200];
	memset(text, 'x', sizeof(text) - 1);
	text[sizeof(text) - 1] = '\0';
	for (int extra = -2; extra <= 2; extra++) {
		struct buf b = BUF_INIT;
		buf_adds(&b, "0123456789");
		size_t cap = b.cap, room = cap - b.len - 1;	/* bytes that fit with the NUL */
		int len = (int)room + extra;
		buf_printf(&b, "%.*s|%d", len - 2, text, 7);
		ck_assert_uint_eq(b.len, 10 + (size_t)len);
		ck_assert_uint_eq(strlen(b.data), b.len);
		ck_assert_int_eq(memcmp(b.data, "0123456789xxx", 13), 0);
		ck_assert_str_eq(b.data + b.len - 2, "|7");
		if (extra <= 0)
			ck_assert_uint_eq(b.cap, cap);	/* fitted where it was */
		buf_printf(&b, "%s", "");
		ck_assert_uint_eq(b.len, 10 + (size_t)len);
		buf_printf(&b, "%s", text);
		ck_assert_uint_eq(b.len, 10 + (size_t)len + sizeof(text) - 1);
		ck_assert_uint_eq(strlen(b.data), b.len);
		buf_free(&b);
	}
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

/* buf_read_fd: a file of `size` bytes read after `prefix`, with limit `max`. */
static const struct read_case {
	size_t size, max;
	const char *prefix;
	int want;		/* 0, or -1 with errno EFBIG */
} reads[] = {
	{.size = 0, .max = 0, .prefix = "", .want = 0},
	{.size = 10, .max = 0, .prefix = "", .want = 0},
	{.size = 200000, .max = 0, .prefix = "", .want = 0},	/* several reads */
	{.size = 5, .max = 0, .prefix = "kept:", .want = 0},	/* appends */
	{.size = 100, .max = 100, .prefix = "", .want = 0},	/* exactly the limit */
	{.size = 101, .max = 100, .prefix = "", .want = -1},
	{.size = 200000, .max = 70000, .prefix = "", .want = -1},
};

START_TEST(test_read_fd)
{
	const struct read_case *c = &reads[_i];
	FILE *f = tmpfile();
	ck_assert_ptr_nonnull(f);
	for (size_t i = 0; i < c->size; i++)
		fputc('a' + (int)(i % 26), f);
	fflush(f);
	rewind(f);
	struct buf b = BUF_INIT;
	buf_adds(&b, c->prefix);
	errno = 0;
	int rc = buf_read_fd(&b, fileno(f), c->max);
	ck_assert_int_eq(rc, c->want);
	size_t plen = strlen(c->prefix);
	if (rc == 0) {
		ck_assert_uint_eq(b.len, plen + c->size);
		ck_assert_int_eq(memcmp(b.data, c->prefix, plen), 0);
		/* One comparison, not one assertion per byte: 200,000 of them
		   outlast Check's timeout under the sanitizers on a busy machine. */
		char *want = malloc(c->size + 1);
		ck_assert_ptr_nonnull(want);
		for (size_t i = 0; i < c->size; i++)
			want[i] = (char)('a' + (int)(i % 26));
		ck_assert_int_eq(memcmp(b.data + plen, want, c->size), 0);
		free(want);
	} else {
		ck_assert_int_eq(errno, EFBIG);
		ck_assert_uint_gt(b.len, c->max);
	}
	ck_assert_int_eq(buf_str(&b)[b.len], '\0');
	buf_free(&b);
	fclose(f);
}
END_TEST

START_TEST(test_read_fd_error)
{
	struct buf b = BUF_INIT;
	ck_assert_int_eq(buf_read_fd(&b, -1, 0), -1);
	ck_assert_int_eq(errno, EBADF);
	buf_free(&b);
}
END_TEST

START_TEST(test_add_dec)
{
	/* buf_add_dec is "%0*llu" without printf: compared with it. */
	static const unsigned long long vals[] = { 0, 7, 10, 999999, 1000000, 4294967295ULL,
						   18446744073709551615ULL };
	static const int widths[] = { 0, 1, 6, 25 };
	struct buf b = BUF_INIT;
	char want[64];
	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++)
		for (size_t k = 0; k < sizeof(widths) / sizeof(widths[0]); k++) {
			buf_reset(&b);
			buf_adds(&b, "x");
			buf_add_dec(&b, vals[i], widths[k]);
			snprintf(want, sizeof(want), "x%0*llu", widths[k], vals[i]);
			ck_assert_str_eq(buf_str(&b), want);
		}
	buf_free(&b);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("buf");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_add_and_printf);
	tcase_add_test(tc, test_printf_room);
	tcase_add_test(tc, test_growth);
	tcase_add_test(tc, test_add_dec);
	tcase_add_loop_test(tc, test_read_fd, 0, sizeof(reads) / sizeof(reads[0]));
	tcase_add_test(tc, test_read_fd_error);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
