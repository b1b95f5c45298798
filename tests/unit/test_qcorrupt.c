/*
 * test_qcorrupt.c - Check suite for the corrupt/ directory's count and
 * bound (lib/mail/qcorrupt.c): oldest first by change time, only
 * regular files counted or removed, no bound with a limit of 0.
 */
#include "compat.h"

#include <check.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mail/qcorrupt.h"

static char dir[] = "/tmp/test_qcorrupt.XXXXXX";

static void put(const char *name)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	ck_assert_int_ge(fd, 0);
	close(fd);
	/* Change times 10 ms apart: the order is the order of creation. */
	struct timespec ts = { .tv_sec = 0, .tv_nsec = 10000000 };
	nanosleep(&ts, NULL);
}

static bool there(const char *name)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return access(path, F_OK) == 0;
}

START_TEST(test_scan_and_trim)
{
	struct qcorrupt_scan scan;
	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_eq(qcorrupt_scan(dir, &scan), 0);
	ck_assert_int_eq(scan.count, 0);
	put("b-first");
	put("a-second");
	put("c-third");
	put("d-fourth");
	char sub[300], link[300];
	snprintf(sub, sizeof(sub), "%s/subdir", dir);
	ck_assert_int_eq(mkdir(sub, 0700), 0);
	snprintf(link, sizeof(link), "%s/0-link", dir);
	ck_assert_int_eq(symlink("/etc/passwd", link), 0);

	ck_assert_int_eq(qcorrupt_scan(dir, &scan), 0);
	ck_assert_int_eq(scan.count, 4);	/* neither the directory nor the link */
	ck_assert_str_eq(scan.oldest_name, "b-first");
	ck_assert_int_eq(qcorrupt_trim(dir, 0), 0);	/* no bound */
	ck_assert_int_eq(qcorrupt_trim(dir, 4), 0);
	ck_assert_int_eq(qcorrupt_trim(dir, 2), 2);
	ck_assert(!there("b-first") && !there("a-second"));
	ck_assert(there("c-third") && there("d-fourth") && there("subdir") && there("0-link"));
	ck_assert_int_eq(qcorrupt_scan(dir, &scan), 0);
	ck_assert_int_eq(scan.count, 2);
	ck_assert_str_eq(scan.oldest_name, "c-third");

	unlink(link);
	rmdir(sub);
	ck_assert_int_eq(qcorrupt_trim(dir, 1), 1);
	ck_assert_int_eq(qcorrupt_trim(dir, 1), 0);
	unlink(link);
	char path[300];
	snprintf(path, sizeof(path), "%s/d-fourth", dir);
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_int_eq(rmdir(dir), 0);
	ck_assert_int_eq(qcorrupt_scan(dir, &scan), -1);
	ck_assert_int_eq(qcorrupt_trim(dir, 1), -1);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("qcorrupt");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_scan_and_trim);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
