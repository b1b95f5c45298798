/*
 * test_qrecycle.c - Check suite for the pool of spare queue files
 * (lib/mail/qrecycle.c) and its use by the queue file writer and reader
 * (lib/mail/qfile.c): a delivered file goes into the pool as it is and
 * the next queue file is written over it (its inode and blocks, cut to
 * the new end); a spare with a second name is never reused; a name a
 * crash left pointing at a reused file, or at a spare that still holds
 * its delivered message, is reported stale, not delivered; a spare that
 * holds another message than its own is set aside in corrupt/, never
 * written over or trimmed; trimming keeps the pool to its size and removes
 * what a crash left half-given; with the pool off, files are unlinked; the
 * empty file a cut-short give leaves in active/ is adopted into the pool
 * only when free of other locks and its id names its inode, never truncated.
 */
#include "compat.h"

#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mail/qfile.h"
#include "mail/qrecycle.h"
#include "util/buf.h"
#include "util/mem.h"

static char dir[64], incoming[96], active[96], pool[96], corrupt[96];

static void setup(void)
{
	strlcpy(dir, "/tmp/tern-qrecycle.XXXXXX", sizeof(dir));
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(incoming, sizeof(incoming), "%s/incoming", dir);
	snprintf(active, sizeof(active), "%s/active", dir);
	snprintf(pool, sizeof(pool), "%s/recycle", dir);
	snprintf(corrupt, sizeof(corrupt), "%s/corrupt", dir);
	ck_assert_int_eq(mkdir(corrupt, 0700), 0);
	ck_assert_int_eq(mkdir(incoming, 0700), 0);
	ck_assert_int_eq(mkdir(active, 0700), 0);
	ck_assert_int_eq(mkdir(pool, 0700), 0);
	qrecycle_enable(pool, true);
}

static void teardown(void)
{
	char cmd[128];
	qrecycle_enable(NULL, false);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

static int entries(const char *d)
{
	DIR *dp = opendir(d);
	struct dirent *e;
	int n = 0;
	ck_assert_ptr_nonnull(dp);
	while ((e = readdir(dp)) != NULL)
		n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
	closedir(dp);
	return n;
}

/* Queue one message into incoming/; its path in path, inode returned. */
static ino_t queue_one(const char *body, char *path, size_t size)
{
	struct buf err = BUF_INIT;
	char id[QF_ID_MAX];
	struct stat st;
	struct qfile_writer *w = qfile_create(incoming, &err);

	ck_assert_ptr_nonnull(w);
	ck_assert_int_eq(qfile_set_sender(w, "a@example.org"), 0);
	ck_assert_int_eq(qfile_add_rcpt(w, "b@example.org", 0, NULL), 0);
	ck_assert_int_eq(qfile_write(w, body, strlen(body), &err), 0);
	ck_assert_int_eq(qfile_commit(w, id, sizeof(id), &err), 0);
	snprintf(path, size, "%s/%s", incoming, id);
	ck_assert_int_eq(stat(path, &st), 0);
	buf_free(&err);
	return st.st_ino;
}

/* Deliver it: open it as qmgr does and remove it. */
static void remove_one(const char *path)
{
	struct qfile *q;
	struct buf err = BUF_INIT;
	ck_assert_int_eq(qfile_open(path, true, &q, &err), QF_OK);
	ck_assert_int_eq(qfile_remove(q), 0);
	buf_free(&err);
}

START_TEST(test_spent_file_is_reused)
{
	char first[160], second[160], spare[200];
	struct stat st;
	/* Longer than one QF_PAD: the reuse must cut it. */
	char *long_body = xmalloc(9001);
	memset(long_body, 'z', 9000);
	memcpy(long_body, "Subject: one\n\n", 14);
	long_body[9000] = '\0';
	ino_t ino = queue_one(long_body, first, sizeof(first));
	free(long_body);

	remove_one(first);
	ck_assert_int_eq(access(first, F_OK), -1);
	ck_assert_int_eq(entries(pool), 1);
	/* Given as it is: its blocks and the delivered message stay, under its id. */
	snprintf(spare, sizeof(spare), "%s/%s", pool, strrchr(first, '/') + 1);
	ck_assert_int_eq(stat(spare, &st), 0);
	ck_assert_int_eq(st.st_size, 3 * QF_PAD);
	ck_assert_int_eq(st.st_ino, ino);
	int fd = open(spare, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert(qfile_spare_spent(fd, strrchr(first, '/') + 1));
	ck_assert(!qfile_spare_spent(fd, "6B0000000000000001"));
	close(fd);

	ck_assert_int_eq(queue_one("Subject: two\n\nhi\n", second, sizeof(second)), ino);
	ck_assert_int_eq(stat(second, &st), 0);
	ck_assert_int_eq(st.st_size, QF_PAD);	/* cut to the new end */
	ck_assert_int_eq(entries(pool), 0);
	ck_assert_str_ne(first, second);	/* the id carries the time too */

	/* The reused file reads back whole, with nothing of the first. */
	struct qfile *q;
	struct buf err = BUF_INIT, body = BUF_INIT;
	char chunk[256];
	ssize_t n;
	ck_assert_int_eq(qfile_open(second, false, &q, &err), QF_OK);
	while ((n = qfile_read(q, chunk, sizeof(chunk))) > 0)
		buf_add(&body, chunk, (size_t)n);
	ck_assert_str_eq(buf_str(&body), "Subject: two\n\nhi\n");
	qfile_close(q);
	buf_free(&err);
	buf_free(&body);
}
END_TEST

/* A spare whose mode changed comes back with the mode asked for; its id from its inode. */
START_TEST(test_spare_mode_and_id)
{
	char first[160], second[160], spare[200];
	ino_t ino = queue_one("Subject: one\n\nx\n", first, sizeof(first));
	remove_one(first);
	snprintf(spare, sizeof(spare), "%s/%s", pool, strrchr(first, '/') + 1);
	ck_assert_int_eq(chmod(spare, 0640), 0);
	ck_assert_int_eq(queue_one("Subject: two\n\ny\n", second, sizeof(second)), ino);
	struct stat st;
	ck_assert_int_eq(stat(second, &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, 0600);
	char hex[32];
	snprintf(hex, sizeof(hex), "%llX", (unsigned long long)ino);
	const char *id = strrchr(second, '/') + 1;
	ck_assert_str_eq(id + strlen(id) - strlen(hex), hex);
}
END_TEST

START_TEST(test_pool_off_unlinks)
{
	char path[160];
	qrecycle_enable(pool, false);
	queue_one("Subject: x\n\ny\n", path, sizeof(path));
	remove_one(path);
	ck_assert_int_eq(access(path, F_OK), -1);
	ck_assert_int_eq(entries(pool), 0);
}
END_TEST

START_TEST(test_moved_away_left_alone)
{
	/* Moved to another name while open (ternqueue -h): 1, and the file is untouched. */
	char path[160], held[200];
	struct qfile *q;
	struct buf err = BUF_INIT;
	struct stat st;
	queue_one("Subject: x\n\nheld text\n", path, sizeof(path));
	ck_assert_int_eq(qfile_open(path, true, &q, &err), QF_OK);
	snprintf(held, sizeof(held), "%s.held", path);
	ck_assert_int_eq(rename(path, held), 0);
	ck_assert_int_eq(qfile_remove(q), 1);
	ck_assert_int_eq(stat(held, &st), 0);
	ck_assert_int_gt(st.st_size, 0);
	ck_assert_int_eq(entries(pool), 0);
	ck_assert_int_eq(unlink(held), 0);
	buf_free(&err);
}
END_TEST

START_TEST(test_linked_spare_not_reused)
{
	char path[160], spare[200], other[200];
	ino_t ino = queue_one("Subject: x\n\ny\n", path, sizeof(path));

	remove_one(path);
	/* A spare with a second name (a crash can leave one) is someone else's too. */
	snprintf(spare, sizeof(spare), "%s/%s", pool, strrchr(path, '/') + 1);
	snprintf(other, sizeof(other), "%s/%s", active, "elsewhere");
	ck_assert_int_eq(link(spare, other), 0);
	ck_assert_int_ne(queue_one("Subject: z\n\nw\n", path, sizeof(path)), ino);
	ck_assert_int_eq(entries(pool), 0);
	ck_assert_int_eq(access(other, F_OK), 0);
	ck_assert_int_eq(entries(incoming), 1);	/* no temporary file left */
}
END_TEST

START_TEST(test_stale_name_after_crash)
{
	char first[160], second[160], stale[200];
	struct qfile *q;
	struct buf err = BUF_INIT;

	queue_one("Subject: one\n\n1\n", first, sizeof(first));
	/*
	 * What a crash on a file system without ordering can leave: the
	 * delivered file's old name in active/ survives while its inode,
	 * recycled, already holds the next message under that one's name.
	 */
	snprintf(stale, sizeof(stale), "%s/%s", active, strrchr(first, '/') + 1);
	remove_one(first);
	queue_one("Subject: two\n\n2\n", second, sizeof(second));
	ck_assert_int_eq(link(second, stale), 0);
	ck_assert_int_eq(qfile_open(stale, true, &q, &err), QF_STALE);
	ck_assert_int_eq(qfile_open(second, true, &q, &err), QF_OK);
	qfile_close(q);

	/*
	 * A spare keeps its delivered message: a name of it that a crash
	 * left in active/ is whole and names it. In a later boot (the only
	 * one a crash can leave such a name for) the pool's name for the
	 * same file shows it given: stale, not mail to deliver again.
	 */
	remove_one(second);
	unlink(stale);
	snprintf(stale, sizeof(stale), "%s/%s", active, strrchr(second, '/') + 1);
	snprintf(first, sizeof(first), "%s/%s", pool, strrchr(second, '/') + 1);
	ck_assert_int_eq(link(first, stale), 0);
	ck_assert_int_eq(qfile_open(stale, false, &q, &err), QF_STALE);
	qfile_fault_boot_id("0123456789abcdef0123456789abcdef");
	ck_assert_int_eq(qfile_open(stale, false, &q, &err), QF_STALE);
	qfile_fault_boot_id(NULL);
	/*
	 * (A short link count, two names and one link, as a crash without
	 * fsck can leave, takes debugfs to make: qfile.c then says corrupt,
	 * so that the file is moved, never unlinked. Not tested here.)
	 */

	/* With one link and not in the pool: the delivered message, whole. */
	unlink(first);
	ck_assert_int_eq(qfile_open(stale, false, &q, &err), QF_OK);
	qfile_close(q);
	buf_free(&err);
}
END_TEST

START_TEST(test_spare_with_data_set_aside)
{
	char path[160], spare[200], aside[200], back[64] = "";
	struct stat st;
	ino_t ino = queue_one("Subject: x\n\ny\n", path, sizeof(path));

	remove_one(path);
	/*
	 * Another message than its own in a spare: after a crash without
	 * fsck, the pool's name can be a second name of an acknowledged
	 * message. Neither written over nor trimmed: set aside in corrupt/,
	 * and a new file is made instead.
	 */
	snprintf(spare, sizeof(spare), "%s/%s", pool, strrchr(path, '/') + 1);
	int fd = open(spare, O_WRONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "acknowledged\n", 13), 13);
	close(fd);
	ck_assert_int_eq(qrecycle_trim(0, 0, 0, 0), 0);
	ck_assert_int_eq(entries(pool), 1);
	ck_assert_int_ne(queue_one("Subject: z\n\nw\n", path, sizeof(path)), ino);
	ck_assert_int_eq(entries(pool), 0);
	ck_assert_int_eq(entries(incoming), 1);	/* the new message, no temporary file */
	snprintf(aside, sizeof(aside), "%s/spare.%llu", corrupt, (unsigned long long)ino);
	ck_assert_int_eq(stat(aside, &st), 0);
	ck_assert_int_eq(st.st_size, QF_PAD);
	fd = open(aside, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(read(fd, back, 13), 13);
	close(fd);
	ck_assert_str_eq(back, "acknowledged\n");
}
END_TEST

START_TEST(test_trim)
{
	char path[160], half[200];
	struct stat st;

	for (int i = 0; i < 5; i++) {
		qrecycle_enable(pool, false);	/* five distinct files */
		queue_one("Subject: x\n\ny\n", path, sizeof(path));
		qrecycle_enable(pool, true);
		remove_one(path);
	}
	ck_assert_int_eq(entries(pool), 5);
	ck_assert_int_eq(qrecycle_trim(3, 60, 0, 0), 2);
	ck_assert_int_eq(entries(pool), 3);

	/* Half-given (a crash between emptying and naming): removed once old enough. */
	snprintf(half, sizeof(half), "%s/.12345", pool);
	int fd = open(half, O_WRONLY | O_CREAT, 0600);
	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert_int_eq(qrecycle_trim(3, 60, 0, 0), 0);	/* may be a give under way */
	ck_assert_int_eq(stat(half, &st), 0);
	ck_assert_int_eq(qrecycle_trim(3, 0, 0, 0), 1);
	ck_assert_int_eq(stat(half, &st), -1);
	ck_assert_int_eq(qrecycle_trim(0, 0, 0, 0), 3);
	ck_assert_int_eq(entries(pool), 0);
}
END_TEST

/* A message of n bytes of content (a body of x lines). */
static char *body_of(size_t n)
{
	char *b = xmalloc(n + 1);
	memcpy(b, "Subject: x\n\n", 12);
	for (size_t i = 12; i < n; i++)
		b[i] = (i % 80 == 79) ? '\n' : 'x';
	b[n] = '\0';
	return b;
}

/*
 * The pool's bounds: a file larger than QRECYCLE_SPARE_MAX is unlinked
 * when given, and trimmed when found in the pool (an earlier version put
 * it there) though within keep; with the pool off, a trim takes every
 * spare; qrecycle_room_short is twice qspace_enough's rule.
 */
START_TEST(test_trim_bounds)
{
	char path[160], spare[200];
	char *big = body_of(QRECYCLE_SPARE_MAX + 4096);
	struct stat st;

	queue_one(big, path, sizeof(path));
	remove_one(path);
	ck_assert_int_eq(access(path, F_OK), -1);
	ck_assert_int_eq(entries(pool), 0);

	/* In the pool already (given whole by an earlier version), under its id. */
	queue_one("Subject: x\n\nsmall\n", path, sizeof(path));
	remove_one(path);
	qrecycle_enable(pool, false);	/* a file of its own, not the small spare */
	queue_one(big, path, sizeof(path));
	qrecycle_enable(pool, true);
	snprintf(spare, sizeof(spare), "%s/%s", pool, strrchr(path, '/') + 1);
	ck_assert_int_eq(rename(path, spare), 0);
	ck_assert_int_eq(entries(pool), 2);
	ck_assert_int_eq(qrecycle_trim(10, 60, 0, 0), 1);
	ck_assert_int_eq(stat(spare, &st), -1);
	ck_assert_int_eq(entries(pool), 1);

	/* Off: what was pooled goes at the next trim, whatever keep says. */
	qrecycle_enable(pool, false);
	ck_assert_int_eq(qrecycle_trim(10, 60, 0, 0), 1);
	ck_assert_int_eq(entries(pool), 0);

	const unsigned long long M = 1000000;
	ck_assert(!qrecycle_room_short(100 * M, 0, 10 * M));
	ck_assert(!qrecycle_room_short(31 * M, 0, 10 * M));
	ck_assert(qrecycle_room_short(30 * M, 0, 10 * M));	/* half is 1.5 x the limit */
	ck_assert(qrecycle_room_short(20 * M, 10 * M, 0));	/* half is queue_minfree */
	ck_assert(!qrecycle_room_short(21 * M, 10 * M, 0));
	free(big);
}
END_TEST

/*
 * What a give cut short leaves: the message's file, empty, under its id
 * in active/ (path); its inode returned.
 */
static ino_t cut_short(char *path, size_t size)
{
	char queued[160];
	ino_t ino = queue_one("Subject: x\n\ny\n", queued, sizeof(queued));
	snprintf(path, size, "%s/%s", active, strrchr(queued, '/') + 1);
	ck_assert_int_eq(rename(queued, path), 0);
	ck_assert_int_eq(truncate(path, 0), 0);
	return ino;
}

START_TEST(test_adopt_empty)
{
	char path[160], spare[200];
	struct stat st;
	ino_t ino = cut_short(path, sizeof(path));

	/* Held by another delivery process (its give under way): left to it, untouched. */
	int held = open(path, O_RDWR);
	ck_assert_int_ge(held, 0);
	ck_assert_int_eq(flock(held, LOCK_EX), 0);
	ck_assert_int_eq(write(held, "x", 1), 1);	/* not empty while held: never truncated */
	ck_assert_int_eq(qrecycle_adopt_empty(path), QR_HELD);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_size, 1);
	ck_assert_int_eq(ftruncate(held, 0), 0);
	ck_assert_int_eq(qrecycle_adopt_empty(path), QR_HELD);
	close(held);

	/* Free: into the pool under its id, the same inode, one rename. */
	ck_assert_int_eq(qrecycle_adopt_empty(path), QR_ADOPTED);
	ck_assert_int_eq(access(path, F_OK), -1);
	snprintf(spare, sizeof(spare), "%s/%s", pool, strrchr(path, '/') + 1);
	ck_assert_int_eq(stat(spare, &st), 0);
	ck_assert_int_eq(st.st_ino, ino);
	ck_assert_int_eq(entries(pool), 1);

	/* Gone meanwhile (the holder's give renamed it): nothing to do, nothing to report. */
	ck_assert_int_eq(qrecycle_adopt_empty(path), QR_GONE);
	ck_assert_int_eq(entries(pool), 1);
}
END_TEST

START_TEST(test_adopt_not_spent)
{
	char path[160], copy[200], id[64];
	struct stat st;
	cut_short(path, sizeof(path));

	/* Data in it: not spent, left as it is for the caller (corrupt/). */
	int fd = open(path, O_WRONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "data\n", 5), 5);
	close(fd);
	ck_assert_int_eq(qrecycle_adopt_empty(path), QR_NOT_SPENT);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_size, 5);

	/*
	 * An empty file whose inode is not the one its id names (copied,
	 * restored). Made under a dot-name first and named after its inode
	 * is known: an id chosen before would name the inode the file
	 * system is likely to hand out next, this file's own.
	 */
	char tmp[200];
	snprintf(tmp, sizeof(tmp), "%s/.copy", active);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fstat(fd, &st), 0);
	close(fd);
	unsigned long long other = (unsigned long long)st.st_ino + 1;
	ck_assert_uint_ne(other, (unsigned long long)st.st_ino);
	snprintf(id, sizeof(id), "6B13FE0000000%llX", other);
	snprintf(copy, sizeof(copy), "%s/%s", active, id);
	ck_assert_int_eq(rename(tmp, copy), 0);
	ck_assert_int_eq(qrecycle_adopt_empty(copy), QR_NOT_SPENT);
	ck_assert_int_eq(access(copy, F_OK), 0);

	/* Two links: not spent either (a stale name, qfile_open's QF_STALE). */
	ck_assert_int_eq(truncate(path, 0), 0);
	ck_assert_int_eq(unlink(copy), 0);
	ck_assert_int_eq(link(path, copy), 0);
	ck_assert_int_eq(qrecycle_adopt_empty(path), QR_NOT_SPENT);
	ck_assert_int_eq(unlink(copy), 0);

	/* Not a queue id. */
	snprintf(copy, sizeof(copy), "%s/not-an-id", active);
	ck_assert_int_eq(rename(path, copy), 0);
	ck_assert_int_eq(qrecycle_adopt_empty(copy), QR_NOT_SPENT);
	ck_assert_int_eq(entries(pool), 0);
}
END_TEST

START_TEST(test_adopt_pool_off)
{
	char path[160];
	cut_short(path, sizeof(path));
	qrecycle_enable(pool, false);
	ck_assert_int_eq(qrecycle_adopt_empty(path), QR_ADOPTED);
	ck_assert_int_eq(access(path, F_OK), -1);
	ck_assert_int_eq(entries(pool), 0);
}
END_TEST

START_TEST(test_id_inode)
{
	unsigned long long ino;
	ck_assert(qfile_id_inode("6B13FE0000000A0001", &ino));
	ck_assert_uint_eq(ino, 0xA0001);
	ck_assert(qfile_id_inode("6B13FE00F423F1", &ino));
	ck_assert_uint_eq(ino, 1);
	ck_assert(!qfile_id_inode("6B13FE00F423F", &ino));	/* no inode part */
	ck_assert(!qfile_id_inode("6B13FE0000000a0001", &ino));
	ck_assert(!qfile_id_inode("6B13FE000000011112222333344445", &ino));	/* 17 digits */
	ck_assert(!qfile_id_inode("6B13F", &ino));	/* shorter than the inode's offset */
	ck_assert(!qfile_id_inode("", &ino));
}
END_TEST

START_TEST(test_empty_pool)
{
	char path[160];
	{ char name[64]; ck_assert_int_eq(qrecycle_take(incoming, name, sizeof(name)), -1); }
	queue_one("Subject: x\n\ny\n", path, sizeof(path));	/* creates one */
	ck_assert_int_eq(entries(incoming), 1);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("qrecycle");
	TCase *tc = tcase_create("core");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_spent_file_is_reused);
	tcase_add_test(tc, test_spare_mode_and_id);
	tcase_add_test(tc, test_pool_off_unlinks);
	tcase_add_test(tc, test_moved_away_left_alone);
	tcase_add_test(tc, test_linked_spare_not_reused);
	tcase_add_test(tc, test_stale_name_after_crash);
	tcase_add_test(tc, test_spare_with_data_set_aside);
	tcase_add_test(tc, test_trim);
	tcase_add_test(tc, test_trim_bounds);
	tcase_add_test(tc, test_empty_pool);
	tcase_add_test(tc, test_adopt_empty);
	tcase_add_test(tc, test_adopt_not_spent);
	tcase_add_test(tc, test_adopt_pool_off);
	tcase_add_test(tc, test_id_inode);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
