/*
 * test_hash64.c - Check suite for lib/util/hash64.c: the value does not
 * depend on how the bytes are fed, any one changed bit or swapped block
 * changes it, and a few values are pinned (queue files written on one
 * machine are checked on another, so the function may never change).
 */
#include "compat.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "util/hash64.h"

static unsigned char data[9000];

static void fill(void)
{
	unsigned x = 12345;
	for (size_t i = 0; i < sizeof(data); i++) {
		x = x * 1103515245u + 12345u;
		data[i] = (unsigned char)(x >> 16);
	}
}

START_TEST(test_pieces)
{
	fill();
	static const size_t lens[] = {0, 1, 3, 7, 8, 31, 32, 33, 63, 64, 100, 4096, 9000};
	for (size_t l = 0; l < sizeof(lens) / sizeof(lens[0]); l++) {
		uint64_t whole = hash64(data, lens[l]);
		for (size_t piece = 1; piece <= 40; piece += 3) {
			struct hash64 h;
			hash64_init(&h);
			for (size_t at = 0; at < lens[l]; at += piece)
				hash64_add(&h, data + at, lens[l] - at < piece ? lens[l] - at : piece);
			ck_assert_msg(hash64_value(&h) == whole, "len %zu piece %zu", lens[l], piece);
		}
	}
}
END_TEST

START_TEST(test_changes)
{
	fill();
	uint64_t base = hash64(data, sizeof(data));
	for (size_t i = 0; i < sizeof(data); i += 97)
		for (int bit = 0; bit < 8; bit += 3) {
			data[i] ^= (unsigned char)(1 << bit);
			ck_assert_msg(hash64(data, sizeof(data)) != base, "byte %zu bit %d", i, bit);
			data[i] ^= (unsigned char)(1 << bit);
		}
	/* Two 4 KiB blocks swapped; a block of zeros; one byte longer. */
	static unsigned char swapped[8192];
	memcpy(swapped, data + 4096, 4096);
	memcpy(swapped + 4096, data, 4096);
	ck_assert(hash64(swapped, 8192) != hash64(data, 8192));
	memset(swapped, 0, 4096);
	ck_assert(hash64(swapped, 8192) != hash64(data, 8192));
	ck_assert(hash64(data, 100) != hash64(data, 101));
}
END_TEST

START_TEST(test_pinned)
{
	ck_assert_uint_eq(hash64("", 0), 0x3fdf455f9dcf1e62ULL);
	ck_assert_uint_eq(hash64("abc", 3), 0xc6286258a8ea2c6aULL);
	fill();
	ck_assert_uint_eq(hash64(data, sizeof(data)), 0x10d78b27495f6d19ULL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("hash64");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_pieces);
	tcase_add_test(tc, test_changes);
	tcase_add_test(tc, test_pinned);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
