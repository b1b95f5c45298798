/*
 * test_qdirs.c - Check suite for the queue directory table
 * (lib/mail/qdirs.c): it agrees with the permissions manifest
 * conf/tern-files, and qdirs_setup creates, reports and repairs, as
 * qdirs_own does for one path (never following a link).
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

/* qdirs_own: mail_owner's parts outside the queue (data/, mail/, the maillog). */
enum own_start { OWN_NONE, OWN_DIR, OWN_FILE, OWN_LINK };
static const struct own_case {
	const char *what;
	enum own_start start;
	mode_t start_mode;	/* of what is there before */
	mode_t mode;		/* asked for (0: any) */
	int flags;
	int want_rc;
	const char *want_report;	/* substring, or NULL for an empty report */
	mode_t want_mode;	/* afterwards (0: nothing there) */
} own_cases[] = {
	{ .what = "missing, only checked", .start = OWN_NONE, .mode = 0700, .want_rc = 1,
	  .want_report = "No such file" },
	{ .what = "missing dir, created", .start = OWN_NONE, .mode = 0700, .flags = QDIRS_CREATE,
	  .want_mode = 0700 },
	{ .what = "missing file, created 0640", .start = OWN_NONE, .flags = QDIRS_CREATE | QDIRS_FILE,
	  .want_mode = 0640 },
	{ .what = "right dir", .start = OWN_DIR, .start_mode = 0700, .mode = 0700, .want_mode = 0700 },
	{ .what = "wrong mode reported", .start = OWN_DIR, .start_mode = 0755, .mode = 0700,
	  .want_rc = 1, .want_report = "mode 0755, want", .want_mode = 0755 },
	{ .what = "wrong mode repaired", .start = OWN_DIR, .start_mode = 0755, .mode = 0700,
	  .flags = QDIRS_FIX, .want_mode = 0700 },
	{ .what = "file, any mode", .start = OWN_FILE, .start_mode = 0644, .flags = QDIRS_FILE | QDIRS_FIX,
	  .want_mode = 0644 },
	{ .what = "file where a dir belongs", .start = OWN_FILE, .start_mode = 0600, .mode = 0700,
	  .flags = QDIRS_FIX, .want_rc = 1, .want_report = "not a directory", .want_mode = 0600 },
	{ .what = "dir where a file belongs", .start = OWN_DIR, .start_mode = 0700,
	  .flags = QDIRS_FILE | QDIRS_FIX, .want_rc = 1, .want_report = "not a plain file", .want_mode = 0700 },
	{ .what = "link never followed", .start = OWN_LINK, .mode = 0700, .flags = QDIRS_FIX | QDIRS_CREATE,
	  .want_rc = 1, .want_report = "not a directory" },
	{ .what = "link to a file never followed", .start = OWN_LINK, .flags = QDIRS_FILE | QDIRS_FIX,
	  .want_rc = 1, .want_report = "not a plain file" },
};

START_TEST(test_own)
{
	const struct own_case *c = &own_cases[_i];
	char top[] = "/tmp/test_qdirs_own.XXXXXX", path[4200], target[4200];
	struct buf report = BUF_INIT;
	struct stat st;
	ck_assert_ptr_nonnull(mkdtemp(top));
	snprintf(path, sizeof(path), "%s/part", top);
	snprintf(target, sizeof(target), "%s/target", top);
	/* The link's target: a directory or a file whose mode must not change. */
	if (c->flags & QDIRS_FILE)
		fclose(fopen(target, "w"));
	else
		ck_assert_int_eq(mkdir(target, 0755), 0);
	chmod(target, 0755);
	switch (c->start) {
	case OWN_NONE:
		break;
	case OWN_DIR:
		ck_assert_int_eq(mkdir(path, 0700), 0);
		break;
	case OWN_FILE:
		fclose(fopen(path, "w"));
		break;
	case OWN_LINK:
		ck_assert_int_eq(symlink(target, path), 0);
		break;
	}
	if (c->start == OWN_DIR || c->start == OWN_FILE)
		chmod(path, c->start_mode);

	int rc = qdirs_own(path, geteuid(), getegid(), c->mode, c->flags, &report);
	ck_assert_msg(rc == c->want_rc, "%s: rc %d, want %d (%s)", c->what, rc, c->want_rc, buf_str(&report));
	if (c->want_report)
		ck_assert_msg(strstr(buf_str(&report), c->want_report) != NULL, "%s: report '%s' lacks '%s'",
			      c->what, buf_str(&report), c->want_report);
	else
		ck_assert_msg(report.len == 0, "%s: report '%s'", c->what, buf_str(&report));
	if (c->want_mode) {
		ck_assert_int_eq(lstat(path, &st), 0);
		ck_assert_msg((st.st_mode & 07777) == c->want_mode, "%s: mode %o, want %o", c->what,
			      (unsigned)(st.st_mode & 07777), (unsigned)c->want_mode);
	} else if (c->start == OWN_NONE) {
		ck_assert_int_ne(lstat(path, &st), 0);
	}
	ck_assert_int_eq(stat(target, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0755);

	unlink(path);
	rmdir(path);
	unlink(target);
	rmdir(target);
	ck_assert_int_eq(rmdir(top), 0);
	buf_free(&report);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("qdirs");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_matches_manifest);
	tcase_add_test(tc, test_setup);
	tcase_add_loop_test(tc, test_own, 0, (int)(sizeof(own_cases) / sizeof(own_cases[0])));
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
