/*
 * test_qdirs.c - Check suite for the queue directory table
 * (lib/mail/qdirs.c): it agrees with the permissions manifest
 * conf/tern-files, and qdirs_setup creates, reports and repairs.
 */
#include "compat.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mail/qdirs.h"

/* Every queue subdirectory has a manifest line with the same mode and owners. */
START_TEST(test_matches_manifest)
{
	const char *src = getenv("TERN_SRCDIR");
	char path[4096], line[512];
	snprintf(path, sizeof(path), "%s/conf/tern-files", src ? src : ".");
	FILE *f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	unsigned found = 0;
	while (fgets(line, sizeof(line), f)) {
		char type[8], p[256], source[64], owner[32], group[32];
		unsigned mode;
		if (sscanf(line, "%7s %255s %63s %31s %31s %o", type, p, source, owner, group, &mode) != 6 ||
		    strncmp(p, "$queuedir/", 10) != 0)
			continue;
		const struct qdir *q = NULL;
		for (unsigned i = 0; i < qdir_count; i++)
			if (strcmp(qdir_table[i].name, p + 10) == 0)
				q = &qdir_table[i];
		ck_assert_msg(q != NULL, "manifest has %s, qdirs.c does not", p);
		ck_assert_msg(q->mode == mode, "%s: mode %o in qdirs.c, %o in the manifest", p, q->mode, mode);
		const char *want_owner = q->owner == QDIR_TOP_OWNER ? "root" : "$user";
		const char *want_group = q->owner == QDIR_MAIL_DROP ? "$group"
			: q->owner == QDIR_TOP_OWNER ? "root" : "$user";
		ck_assert_str_eq(owner, want_owner);
		ck_assert_str_eq(group, want_group);
		found++;
	}
	fclose(f);
	ck_assert_uint_eq(found, qdir_count);
}
END_TEST

START_TEST(test_setup)
{
	char top[] = "/tmp/test_qdirs.XXXXXX", path[4200];
	struct buf report = BUF_INIT;
	struct qdir_ids ids = { .uid = geteuid(), .gid = getegid(), .drop_gid = getegid() };
	struct stat st;
	ck_assert_ptr_nonnull(mkdtemp(top));

	/* Nothing there: reported, not created. */
	ck_assert_int_eq(qdirs_setup(top, &ids, 0, &report), (int)qdir_count);
	ck_assert_ptr_nonnull(strstr(buf_str(&report), "maildrop"));
	/* Created with the table's modes. */
	buf_reset(&report);
	ck_assert_int_eq(qdirs_setup(top, &ids, QDIRS_CREATE, &report), 0);
	snprintf(path, sizeof(path), "%s/maildrop", top);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 01730);
	/* A wrong mode is reported, then repaired. */
	chmod(path, 0777);
	ck_assert_int_eq(qdirs_setup(top, &ids, QDIRS_CREATE, &report), 1);
	ck_assert_ptr_nonnull(strstr(buf_str(&report), "mode 0777, want"));
	ck_assert_int_eq(qdirs_setup(top, &ids, QDIRS_FIX, &report), 0);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 01730);
	/* A file where a directory belongs. */
	snprintf(path, sizeof(path), "%s/hold", top);
	rmdir(path);
	fclose(fopen(path, "w"));
	buf_reset(&report);
	ck_assert_int_eq(qdirs_setup(top, &ids, QDIRS_CREATE | QDIRS_FIX, &report), 1);
	ck_assert_ptr_nonnull(strstr(buf_str(&report), "hold: not a directory"));
	unlink(path);
	for (unsigned i = 0; i < qdir_count; i++) {
		snprintf(path, sizeof(path), "%s/%s", top, qdir_table[i].name);
		rmdir(path);
	}
	ck_assert_int_eq(rmdir(top), 0);
	/* No queue directory at all. */
	ck_assert_int_eq(qdirs_setup(top, &ids, QDIRS_CREATE, &report), -1);
	buf_free(&report);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("qdirs");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_matches_manifest);
	tcase_add_test(tc, test_setup);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
