/*
 * test_qfile.c - Check suite for the queue file (lib/mail/qfile.c):
 * round trip, truncated and corrupt files of every kind, marking a
 * recipient done in place, and fault injection (every failing system
 * call is a temporary failure that leaves no file behind).
 */
#include "compat.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "mail/qfile.h"
#include "util/buf.h"
#include "util/mem.h"

static char dir[64];

static void setup(void)
{
	strlcpy(dir, "/tmp/tern-qfile.XXXXXX", sizeof(dir));
	ck_assert_ptr_nonnull(mkdtemp(dir));
	qfile_fault_reset();
	/*
	 * The fault tests count fsyncs as file, then directory: the same on
	 * every machine, whatever file system /tmp is (auto would skip the
	 * directory's on ext4 and XFS for a lone commit, and after a
	 * shared syncfs on ext4 with a journal and XFS: t_qfile_dirsync.sh
	 * tests that path, test_shared_sync_split the choice).
	 */
	qfile_set_dir_sync_always(true);
}

static void teardown(void)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	while (d && (e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		char *p = xasprintf("%s/%s", dir, e->d_name);
		unlink(p);
		free(p);
	}
	if (d)
		closedir(d);
	rmdir(dir);
	qfile_fault_reset();
}

/* Number of entries in dir (including temporary dot files). */
static int dir_entries(void)
{
	int n = 0;
	DIR *d = opendir(dir);
	struct dirent *e;
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

static const char content[] = "From: a@example.org\nSubject: hi\n\nbody line\n.\nlast\n";

/* Write a typical message; returns 0 or -1 as qfile_commit does. */
static int write_sample(char *id, size_t idlen, struct buf *err)
{
	struct qfile_writer *w = qfile_create(dir, err);
	if (w == NULL)
		return -1;
	struct timeval tv = {.tv_sec = 1700000000, .tv_usec = 42};
	qfile_set_arrival(w, &tv);
	ck_assert_int_eq(qfile_set_sender(w, "sender@example.org"), 0);
	ck_assert_int_eq(qfile_add_attr(w, "uid", "1000"), 0);
	ck_assert_int_eq(qfile_add_attr(w, "full_name", "A. User = x"), 0);
	ck_assert_int_eq(qfile_add_rcpt(w, "one@example.org", 0, NULL), 0);
	ck_assert_int_eq(qfile_add_rcpt(w, "\"two words\"@example.org", 6, "rfc822;two@x"), 0);
	ck_assert_int_eq(qfile_add_rcpt(w, "three@example.org", 1, ""), 0);
	/* Content in uneven pieces. */
	for (size_t i = 0; i < sizeof(content) - 1; i += 7) {
		size_t n = sizeof(content) - 1 - i < 7 ? sizeof(content) - 1 - i : 7;
		if (qfile_write(w, content + i, n, err) != 0) {
			qfile_abort(w);
			return -1;
		}
	}
	return qfile_commit(w, id, idlen, err);
}

static char *read_all(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	struct stat st;
	fstat(fd, &st);
	char *data = xmalloc((size_t)st.st_size + 1);
	ck_assert_int_eq(read(fd, data, (size_t)st.st_size), st.st_size);
	close(fd);
	*len = (size_t)st.st_size;
	return data;
}

static void write_file(const char *path, const char *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
	close(fd);
}

/* qfile_write_fd: a range of another file as content, after bytes from memory. */
START_TEST(test_write_fd)
{
	struct buf err = BUF_INIT;
	char id[QF_ID_MAX], tmpl[96], got[64];
	snprintf(tmpl, sizeof(tmpl), "%s/.src.XXXXXX", dir);
	int fd = mkstemp(tmpl);
	ck_assert_int_ge(fd, 0);
	unlink(tmpl);
	ck_assert_int_eq(write(fd, "0123456789", 10), 10);
	struct qfile_writer *w = qfile_create(dir, &err);
	ck_assert_ptr_nonnull(w);
	ck_assert_int_eq(qfile_add_rcpt(w, "a@x.test", 0, NULL), 0);
	ck_assert_int_eq(qfile_write(w, "ab", 2, &err), 0);
	ck_assert_int_eq(qfile_write_fd(w, fd, 3, 5, &err), 0);
	ck_assert_int_eq(qfile_write(w, "\n", 1, &err), 0);
	ck_assert_uint_eq(qfile_content_written(w), 8);
	ck_assert_int_eq(qfile_commit(w, id, sizeof(id), &err), 0);
	char *path = xasprintf("%s/%s", dir, id);
	struct qfile *q;
	ck_assert_int_eq(qfile_open(path, false, &q, &err), QF_OK);
	ck_assert_int_eq(qfile_read(q, got, sizeof(got)), 8);
	ck_assert_int_eq(memcmp(got, "ab34567\n", 8), 0);
	qfile_close(q);
	unlink(path);
	free(path);

	/* A source shorter than said, or a failing write: -1, nothing committed. */
	w = qfile_create(dir, &err);
	ck_assert_int_eq(qfile_add_rcpt(w, "a@x.test", 0, NULL), 0);
	ck_assert_int_eq(qfile_write_fd(w, fd, 8, 5, &err), -1);
	ck_assert_int_eq(qfile_commit(w, id, sizeof(id), &err), -1);
	w = qfile_create(dir, &err);
	ck_assert_int_eq(qfile_add_rcpt(w, "a@x.test", 0, NULL), 0);
	qfile_fault_inject(QF_CALL_WRITE, 2, ENOSPC, false);	/* the envelope's flush, then the copy */
	ck_assert_int_eq(qfile_write_fd(w, fd, 0, 10, &err), -1);
	ck_assert_ptr_nonnull(strstr(buf_str(&err), strerror(ENOSPC)));
	qfile_abort(w);
	qfile_fault_reset();
	ck_assert_int_eq(dir_entries(), 0);
	close(fd);
	buf_free(&err);
}
END_TEST

/* qfile_set_commit_dir: the file made in one directory is committed into another. */
START_TEST(test_commit_dir)
{
	struct buf err = BUF_INIT;
	char id[QF_ID_MAX];
	char *other = xasprintf("%s/other", dir);
	ck_assert_int_eq(mkdir(other, 0700), 0);
	struct qfile_writer *w = qfile_create(dir, &err);
	ck_assert_int_eq(qfile_add_rcpt(w, "a@x.test", 0, NULL), 0);
	ck_assert_int_eq(qfile_write(w, "x\n", 2, &err), 0);
	qfile_set_commit_dir(w, other);
	ck_assert_int_eq(qfile_commit(w, id, sizeof(id), &err), 0);
	char *path = xasprintf("%s/%s", other, id);
	struct qfile *q;
	ck_assert_int_eq(qfile_open(path, false, &q, &err), QF_OK);
	qfile_close(q);
	ck_assert_int_eq(dir_entries(), 1);	/* other/ only */
	unlink(path);
	rmdir(other);
	free(path);
	free(other);
	buf_free(&err);
}
END_TEST

START_TEST(test_round_trip)
{
	struct buf err = BUF_INIT;
	char id[QF_ID_MAX];
	ck_assert_int_eq(write_sample(id, sizeof(id), &err), 0);
	ck_assert(qfile_id_valid(id));
	ck_assert_int_eq(dir_entries(), 1);

	char *path = xasprintf("%s/%s", dir, id);
	struct stat st;
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0600);

	struct qfile *q;
	ck_assert_int_eq(qfile_open(path, false, &q, &err), QF_OK);
	ck_assert_str_eq(qfile_id(q), id);
	ck_assert_str_eq(qfile_sender(q), "sender@example.org");
	ck_assert_int_eq(qfile_arrival(q).tv_sec, 1700000000);
	ck_assert_int_eq(qfile_arrival(q).tv_usec, 42);
	ck_assert_str_eq(qfile_attr(q, "uid"), "1000");
	ck_assert_str_eq(qfile_attr(q, "full_name"), "A. User = x");
	ck_assert_ptr_null(qfile_attr(q, "nope"));
	ck_assert_uint_eq(qfile_attr_count(q), 2);
	ck_assert_uint_eq(qfile_rcpt_count(q), 3);
	ck_assert_str_eq(qfile_rcpt(q, 1)->address, "\"two words\"@example.org");
	ck_assert_str_eq(qfile_rcpt(q, 1)->orcpt, "rfc822;two@x");
	ck_assert_int_eq(qfile_rcpt(q, 1)->notify, 6);
	ck_assert_int_eq(qfile_rcpt(q, 2)->notify, 1);
	ck_assert_str_eq(qfile_rcpt(q, 0)->orcpt, "");
	ck_assert_int_eq(qfile_rcpt(q, 0)->status, QF_RCPT_PENDING);
	ck_assert_ptr_null(qfile_rcpt(q, 3));
	ck_assert_uint_eq(qfile_pending_count(q), 3);
	ck_assert_uint_eq(qfile_content_size(q), sizeof(content) - 1);

	char got[256];
	size_t total = 0;
	ssize_t n;
	while ((n = qfile_read(q, got + total, 5)) > 0)
		total += (size_t)n;
	ck_assert_int_eq(n, 0);
	ck_assert_uint_eq(total, sizeof(content) - 1);
	ck_assert_mem_eq(got, content, total);
	qfile_rewind(q);
	ck_assert_int_eq(qfile_read(q, got, sizeof(got)), (ssize_t)(sizeof(content) - 1));
	qfile_close(q);

	/* The same bytes parse from a buffer. */
	size_t len;
	char *data = read_all(path, &len);
	ck_assert_int_eq(qfile_parse_buffer(data, len, &q, &err), QF_OK);
	ck_assert_uint_eq(qfile_rcpt_count(q), 3);
	ck_assert_int_eq(qfile_read(q, got, sizeof(got)), (ssize_t)(sizeof(content) - 1));
	ck_assert_mem_eq(got, content, sizeof(content) - 1);
	qfile_close(q);
	free(data);
	free(path);
	buf_free(&err);
}
END_TEST

START_TEST(test_empty_sender_and_content)
{
	struct buf err = BUF_INIT;
	char id[QF_ID_MAX];
	struct qfile_writer *w = qfile_create(dir, &err);
	ck_assert_ptr_nonnull(w);
	qfile_set_sender(w, "");
	qfile_add_rcpt(w, "x@y", 0, NULL);
	ck_assert_int_eq(qfile_commit(w, id, sizeof(id), &err), 0);
	char *path = xasprintf("%s/%s", dir, id);
	struct qfile *q;
	ck_assert_int_eq(qfile_open(path, false, &q, &err), QF_OK);
	ck_assert_str_eq(qfile_sender(q), "");
	ck_assert_uint_eq(qfile_content_size(q), 0);
	qfile_close(q);
	free(path);
	buf_free(&err);
}
END_TEST

START_TEST(test_ids_unique)
{
	struct buf err = BUF_INIT;
	char ids[50][QF_ID_MAX];
	for (int i = 0; i < 50; i++)
		ck_assert_int_eq(write_sample(ids[i], QF_ID_MAX, &err), 0);
	for (int i = 0; i < 50; i++)
		for (int j = i + 1; j < 50; j++)
			ck_assert_str_ne(ids[i], ids[j]);
	ck_assert_int_eq(dir_entries(), 50);
	buf_free(&err);
}
END_TEST

START_TEST(test_writer_refuses_bad_fields)
{
	struct buf err = BUF_INIT;
	struct qfile_writer *w = qfile_create(dir, &err);
	ck_assert_int_eq(qfile_set_sender(w, "a\nb"), -1);
	ck_assert_int_eq(qfile_add_rcpt(w, "", 0, NULL), -1);
	ck_assert_int_eq(qfile_add_rcpt(w, "a\tb", 0, NULL), -1);
	ck_assert_int_eq(qfile_add_rcpt(w, "a@b", 16, NULL), -1);
	ck_assert_int_eq(qfile_add_rcpt(w, "a@b", 0, "x\ry"), -1);
	ck_assert_int_eq(qfile_add_attr(w, "Bad-Name", "v"), -1);
	ck_assert_int_eq(qfile_add_attr(w, "", "v"), -1);
	ck_assert_int_eq(qfile_add_attr(w, "ok", "v\001"), -1);
	/* No recipients: cannot commit (unless allowed), and nothing stays behind. */
	char id[QF_ID_MAX];
	ck_assert_int_eq(qfile_commit(w, id, sizeof(id), &err), -1);
	ck_assert_int_eq(dir_entries(), 0);

	/* A maildrop file of sendmail -t may have none; it is 0644 when asked. */
	w = qfile_create_mode(dir, 0644, &err);
	ck_assert_str_ne(qfile_writer_temp_path(w), "");
	qfile_allow_no_rcpt(w);
	ck_assert_int_eq(qfile_commit(w, id, sizeof(id), &err), 0);
	char *path = xasprintf("%s/%s", dir, id);
	struct stat st;
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0644);
	struct qfile *q;
	ck_assert_int_eq(qfile_open(path, false, &q, &err), QF_OK);
	ck_assert_uint_eq(qfile_rcpt_count(q), 0);
	qfile_close(q);
	free(path);
	buf_free(&err);
}
END_TEST

/* The mode is the one asked for whatever the umask: fchmod runs only when they differ. */
START_TEST(test_writer_mode_despite_umask)
{
	struct buf err = BUF_INIT;
	mode_t old = umask(0277);
	struct qfile_writer *w = qfile_create(dir, &err);
	umask(old);
	ck_assert_ptr_nonnull(w);
	struct stat st;
	ck_assert_int_eq(stat(qfile_writer_temp_path(w), &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, 0600);
	qfile_abort(w);
	w = qfile_create(dir, &err);	/* the usual case, nothing to change */
	ck_assert_int_eq(stat(qfile_writer_temp_path(w), &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, 0600);
	qfile_abort(w);
	buf_free(&err);
}
END_TEST

START_TEST(test_abort_leaves_nothing)
{
	struct buf err = BUF_INIT;
	struct qfile_writer *w = qfile_create(dir, &err);
	qfile_add_rcpt(w, "a@b", 0, NULL);
	qfile_write(w, "x\n", 2, &err);
	ck_assert_int_eq(dir_entries(), 1);
	qfile_abort(w);
	ck_assert_int_eq(dir_entries(), 0);
	buf_free(&err);
}
END_TEST

START_TEST(test_mark_done)
{
	struct buf err = BUF_INIT;
	char id[QF_ID_MAX];
	ck_assert_int_eq(write_sample(id, sizeof(id), &err), 0);
	char *path = xasprintf("%s/%s", dir, id);
	size_t before_len;
	char *before = read_all(path, &before_len);

	struct qfile *q;
	ck_assert_int_eq(qfile_open(path, true, &q, &err), QF_OK);
	ck_assert_int_eq(qfile_mark_done(q, 1, QF_RCPT_DELIVERED, &err), 0);
	ck_assert_int_eq(qfile_mark_done(q, 2, QF_RCPT_BOUNCED, &err), 0);
	ck_assert_int_eq(qfile_mark_done(q, 3, QF_RCPT_BOUNCED, &err), -1);
	ck_assert_int_eq(qfile_mark_done(q, 0, 'Z', &err), -1);
	ck_assert_int_eq(qfile_rcpt(q, 1)->status, QF_RCPT_DELIVERED);
	qfile_close(q);

	/* Only two bytes changed, the file still parses, the marks persist. */
	size_t after_len;
	char *after = read_all(path, &after_len);
	ck_assert_uint_eq(before_len, after_len);
	int diffs = 0;
	for (size_t i = 0; i < after_len; i++)
		diffs += before[i] != after[i];
	ck_assert_int_eq(diffs, 2);
	ck_assert_int_eq(qfile_open(path, false, &q, &err), QF_OK);
	ck_assert_int_eq(qfile_rcpt(q, 0)->status, QF_RCPT_PENDING);
	ck_assert_int_eq(qfile_rcpt(q, 1)->status, QF_RCPT_DELIVERED);
	ck_assert_int_eq(qfile_rcpt(q, 2)->status, QF_RCPT_BOUNCED);
	ck_assert_uint_eq(qfile_pending_count(q), 1);
	/* Read-only handle cannot mark. */
	ck_assert_int_eq(qfile_mark_done(q, 0, QF_RCPT_DELIVERED, &err), -1);
	qfile_close(q);
	free(before);
	free(after);
	free(path);
	buf_free(&err);
}
END_TEST

START_TEST(test_truncated_everywhere)
{
	/* Every proper prefix of a valid file must be reported corrupt. */
	struct buf err = BUF_INIT;
	char id[QF_ID_MAX];
	ck_assert_int_eq(write_sample(id, sizeof(id), &err), 0);
	char *path = xasprintf("%s/%s", dir, id);
	size_t len;
	char *data = read_all(path, &len);
	char *cut = xasprintf("%s/cut", dir);
	for (size_t n = 0; n < len; n++) {
		write_file(cut, data, n);
		struct qfile *q = NULL;
		int rc = qfile_open(cut, false, &q, &err);
		ck_assert_msg(rc == QF_CORRUPT, "prefix %zu of %zu: rc %d", n, len, rc);
		ck_assert_ptr_null(q);
		ck_assert_uint_gt(err.len, 0);
		ck_assert_int_eq(qfile_parse_buffer(data, n, &q, &err), QF_CORRUPT);
		/* The same read whole into a kept buffer. */
		struct buf mem = BUF_INIT;
		ck_assert_int_eq(qfile_open_whole(cut, false, &mem, &q, &err), QF_CORRUPT);
		ck_assert_ptr_null(q);
		buf_free(&mem);
	}
	/* Extra bytes after the end record are corrupt too. */
	char *longer = xmalloc(len + 3);
	memcpy(longer, data, len);
	memcpy(longer + len, "E\n", 2);
	write_file(cut, longer, len + 2);
	struct qfile *q;
	ck_assert_int_eq(qfile_open(cut, false, &q, &err), QF_CORRUPT);
	free(longer);
	free(cut);
	free(data);
	free(path);
	buf_free(&err);
}
END_TEST

/* Hand-made files, each broken in one way. */
#define GOODHEAD "TERNQ 1\nT 1700000000.000042\nI 6553F10000002A1F\nS s@x\n"
#define M5 "M 00000000000000000005\n"
static const struct corrupt_case {
	const char *name;
	const char *data;
	int want;
} corrupt_cases[] = {
	{.name = "valid control", .data = GOODHEAD "N a=b\nR-0\tr@x\t\n" M5 "hello" "E\n", .want = QF_OK},
	{.name = "valid marked", .data = GOODHEAD "RD4\tr@x\trfc822;r@x\nRB0\tq@x\t\n" M5 "hello" "E\n", .want = QF_OK},
	{.name = "empty", .data = "", .want = QF_CORRUPT},
	{.name = "bad magic", .data = "TERNQ 3\nT 1.000000\n", .want = QF_CORRUPT},
	{.name = "no time", .data = "TERNQ 1\nI 6553F10000002A1F\n", .want = QF_CORRUPT},
	{.name = "time no usec", .data = "TERNQ 1\nT 17\nI 6553F10000002A1F\nS \nR-0\tr@x\t\n" M5 "helloE\n", .want = QF_CORRUPT},
	{.name = "time letters", .data = "TERNQ 1\nT 1x.000000\nI 6553F10000002A1F\nS \nR-0\tr@x\t\n" M5 "helloE\n", .want = QF_CORRUPT},
	{.name = "usec too big", .data = "TERNQ 1\nT 1.1000000\nI 6553F10000002A1F\nS \nR-0\tr@x\t\n" M5 "helloE\n", .want = QF_CORRUPT},
	{.name = "lower-case id", .data = "TERNQ 1\nT 1.000000\nI 6553f10000002a1f\nS \nR-0\tr@x\t\n" M5 "helloE\n", .want = QF_CORRUPT},
	{.name = "id with slash", .data = "TERNQ 1\nT 1.000000\nI ../../etc/passwd\nS \nR-0\tr@x\t\n" M5 "helloE\n", .want = QF_CORRUPT},
	{.name = "short id", .data = "TERNQ 1\nT 1.000000\nI ABC\nS \nR-0\tr@x\t\n" M5 "helloE\n", .want = QF_CORRUPT},
	{.name = "no sender", .data = "TERNQ 1\nT 1.000000\nI 6553F10000002A1F\nR-0\tr@x\t\n" M5 "helloE\n", .want = QF_CORRUPT},
	{.name = "sender no space", .data = "TERNQ 1\nT 1.000000\nI 6553F10000002A1F\nS\nR-0\tr@x\t\n" M5 "helloE\n", .want = QF_CORRUPT},
	{.name = "sender control", .data = GOODHEAD "S a\001b\nR-0\tr@x\t\n" M5 "helloE\n", .want = QF_CORRUPT},
	{.name = "no recipients (maildrop -t)", .data = GOODHEAD M5 "helloE\n", .want = QF_OK},
	{.name = "bad status", .data = GOODHEAD "RX0\tr@x\t\n" M5 "helloE\n", .want = QF_CORRUPT},
	{.name = "bad notify", .data = GOODHEAD "R-g\tr@x\t\n" M5 "helloE\n", .want = QF_CORRUPT},
	{.name = "empty address", .data = GOODHEAD "R-0\t\t\n" M5 "helloE\n", .want = QF_CORRUPT},
	{.name = "missing orcpt tab", .data = GOODHEAD "R-0\tr@x\n" M5 "helloE\n", .want = QF_CORRUPT},
	{.name = "extra tab", .data = GOODHEAD "R-0\tr@x\ta\tb\n" M5 "helloE\n", .want = QF_CORRUPT},
	{.name = "rcpt no tab", .data = GOODHEAD "R-0 r@x\t\n" M5 "helloE\n", .want = QF_CORRUPT},
	{.name = "attr after rcpt", .data = GOODHEAD "R-0\tr@x\t\nN a=b\n" M5 "helloE\n", .want = QF_CORRUPT},
	{.name = "attr no equals", .data = GOODHEAD "N ab\nR-0\tr@x\t\n" M5 "helloE\n", .want = QF_CORRUPT},
	{.name = "attr bad name", .data = GOODHEAD "N A-b=c\nR-0\tr@x\t\n" M5 "helloE\n", .want = QF_CORRUPT},
	{.name = "unknown record", .data = GOODHEAD "Z junk\nR-0\tr@x\t\n" M5 "helloE\n", .want = QF_CORRUPT},
	{.name = "nul in record", .data = GOODHEAD "R-0\tr\0x\t\n" M5 "helloE\n", .want = QF_CORRUPT},
	{.name = "length short", .data = GOODHEAD "R-0\tr@x\t\nM 00000000000000000004\nhelloE\n", .want = QF_CORRUPT},
	{.name = "length long", .data = GOODHEAD "R-0\tr@x\t\nM 00000000000000000006\nhelloE\n", .want = QF_CORRUPT},
	{.name = "length huge", .data = GOODHEAD "R-0\tr@x\t\nM 99999999999999999999\nhelloE\n", .want = QF_CORRUPT},
	{.name = "length not digits", .data = GOODHEAD "R-0\tr@x\t\nM 0000000000000000000x\nhelloE\n", .want = QF_CORRUPT},
	{.name = "length short field", .data = GOODHEAD "R-0\tr@x\t\nM 5\nhelloE\n", .want = QF_CORRUPT},
	{.name = "bad end record", .data = GOODHEAD "R-0\tr@x\t\n" M5 "helloX\n", .want = QF_CORRUPT},
	{.name = "no end record", .data = GOODHEAD "R-0\tr@x\t\n" M5 "hello", .want = QF_CORRUPT},
};

/* Where a version 2 file's end record starts (before it, the checksummed bytes). */
static size_t end_record_at(const char *data, size_t len)
{
	size_t n = len;
	while (n > 0 && data[n - 1] == '\0')
		n--;
	ck_assert_uint_ge(n, QF_END_LEN);
	ck_assert_int_eq(data[n - QF_END_LEN], 'E');
	return n - QF_END_LEN;
}

static int open_rc(const char *path, bool whole)
{
	struct qfile *q = NULL;
	struct buf err = BUF_INIT, mem = BUF_INIT;
	int rc = whole ? qfile_open_whole(path, false, &mem, &q, &err)
		       : qfile_open(path, false, &q, &err);
	qfile_close(q);
	buf_free(&mem);
	buf_free(&err);
	return rc;
}

#define OTHER_BOOT "0123456789abcdef0123456789abcdef"

/*
 * Version 2: the end record, the padding, and the checksum, which catches
 * a file some of whose bytes are not what was written: always from a
 * buffer, from a file when it was written in an earlier boot. Status
 * bytes marked later and M's digits are not part of it.
 */
START_TEST(test_checksum)
{
	struct buf err = BUF_INIT;
	char id[QF_ID_MAX];
	for (int big = 0; big < 2; big++) {
		struct qfile_writer *w = qfile_create(dir, &err);
		ck_assert_ptr_nonnull(w);
		ck_assert_int_eq(qfile_set_sender(w, "s@example.org"), 0);
		ck_assert_int_eq(qfile_add_rcpt(w, "r@example.org", 0, NULL), 0);
		ck_assert_int_eq(qfile_add_rcpt(w, "t@example.org", 0, NULL), 0);
		/* big: past qfile_open's first read and past the writer's buffer */
		size_t clen = big ? 300 * 1024 : sizeof(content) - 1;
		char *body = xmalloc(clen);
		for (size_t i = 0; i < clen; i++)
			body[i] = i % 64 == 63 ? '\n' : content[i % (sizeof(content) - 1)];
		ck_assert_int_eq(qfile_write(w, body, clen, &err), 0);
		ck_assert_int_eq(qfile_commit(w, id, sizeof(id), &err), 0);
		char *path = xasprintf("%s/%s", dir, id);
		size_t len;
		char *data = read_all(path, &len);
		ck_assert_mem_eq(data, "TERNQ 2\n", 8);
		ck_assert_uint_eq(len % QF_PAD, 0);
		size_t e = end_record_at(data, len);
		ck_assert_uint_lt(len - e - QF_END_LEN, QF_PAD);
		ck_assert_int_eq(data[e + 1], ' ');
		ck_assert_int_eq(data[e + 34], ' ');
		struct qfile *q;
		ck_assert_int_eq(qfile_parse_buffer(data, len, &q, &err), QF_OK);
		qfile_close(q);

		/* Recipients marked done: still whole, in a later boot too. */
		ck_assert_int_eq(qfile_open(path, true, &q, &err), QF_OK);
		ck_assert_int_eq(qfile_mark_done(q, 1, QF_RCPT_DELIVERED, &err), 0);
		qfile_close(q);
		qfile_fault_boot_id(OTHER_BOOT);
		ck_assert_int_eq(open_rc(path, false), QF_OK);
		ck_assert_int_eq(open_rc(path, true), QF_OK);
		qfile_fault_boot_id(NULL);

		/*
		 * One content byte not what was written (as a block left from the
		 * message a spare held before): written in this boot, the page
		 * cache is trusted and it is not read again for it; from an
		 * earlier boot it is corrupt, read whole or not.
		 */
		size_t at = e - clen / 2;
		data[at] ^= 0x20;
		write_file(path, data, len);
		ck_assert_int_eq(qfile_parse_buffer(data, len, &q, &err), QF_CORRUPT);
		ck_assert_ptr_nonnull(strstr(buf_str(&err), "checksum"));
		ck_assert_int_eq(open_rc(path, false), QF_OK);
		qfile_fault_boot_id(OTHER_BOOT);
		ck_assert_int_eq(open_rc(path, false), QF_CORRUPT);
		ck_assert_int_eq(open_rc(path, true), QF_CORRUPT);
		qfile_fault_boot_id(NULL);
		data[at] ^= 0x20;

		/* Padding that is not NULs; a checksum digit in upper case. */
		if (len - e > QF_END_LEN) {
			data[len - 1] = 'x';
			write_file(path, data, len);
			ck_assert_int_eq(open_rc(path, false), QF_CORRUPT);
			data[len - 1] = '\0';
		}
		char keep = data[e + 40];
		data[e + 40] = 'A';
		write_file(path, data, len);
		ck_assert_int_eq(open_rc(path, true), QF_CORRUPT);
		data[e + 40] = keep;
		write_file(path, data, len);
		ck_assert_int_eq(open_rc(path, true), QF_OK);
		unlink(path);
		free(path);
		free(data);
		free(body);
	}
	buf_free(&err);
}
END_TEST

/* Whole from a later boot, corrupt with one content byte changed (both ways of opening). */
static void check_later_boot(const char *path)
{
	size_t len;
	char *data = read_all(path, &len);
	size_t e = end_record_at(data, len);
	qfile_fault_boot_id(OTHER_BOOT);
	ck_assert_int_eq(open_rc(path, false), QF_OK);
	ck_assert_int_eq(open_rc(path, true), QF_OK);
	data[e - 3] ^= 0x01;	/* content (or the M digits' neighbour when empty) */
	write_file(path, data, len);
	ck_assert_int_eq(open_rc(path, false), QF_CORRUPT);
	ck_assert_int_eq(open_rc(path, true), QF_CORRUPT);
	qfile_fault_boot_id(NULL);
	unlink(path);
	free(data);
}

/* Every way of writing checksums what it writes: copy from a file, many small pieces, no recipients, create_final. */
START_TEST(test_checksum_paths)
{
	struct buf err = BUF_INIT;
	char id[QF_ID_MAX];
	size_t big = 300 * 1024;
	char *body = xmalloc(big);
	for (size_t i = 0; i < big; i++)
		body[i] = i % 50 == 49 ? '\n' : (char)('a' + i % 26);

	/* qfile_write_fd, after a piece from memory */
	char *src = xasprintf("%s/.source", dir);
	write_file(src, body, big);
	int fd = open(src, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	struct qfile_writer *w = qfile_create(dir, &err);
	ck_assert_int_eq(qfile_add_rcpt(w, "r@example.org", 0, NULL), 0);
	ck_assert_int_eq(qfile_write(w, "X-Head: 1\n", 10, &err), 0);
	ck_assert_int_eq(qfile_write_fd(w, fd, 7, big - 7, &err), 0);
	ck_assert_int_eq(qfile_commit(w, id, sizeof(id), &err), 0);
	close(fd);
	unlink(src);
	free(src);
	char *path = xasprintf("%s/%s", dir, id);
	check_later_boot(path);
	free(path);

	/* 1,000-byte pieces past the writer's buffer, and no recipients */
	for (int norcpt = 0; norcpt < 2; norcpt++) {
		w = qfile_create(dir, &err);
		if (norcpt)
			qfile_allow_no_rcpt(w);
		else
			ck_assert_int_eq(qfile_add_rcpt(w, "r@example.org", 0, NULL), 0);
		for (size_t at = 0; at < big; at += 1000)
			ck_assert_int_eq(qfile_write(w, body + at, big - at < 1000 ? big - at : 1000, &err), 0);
		ck_assert_int_eq(qfile_commit(w, id, sizeof(id), &err), 0);
		path = xasprintf("%s/%s", dir, id);
		check_later_boot(path);
		free(path);
	}

	/* create_final (sendmail's maildrop file) */
	w = qfile_create_final(dir, &err);
	ck_assert_ptr_nonnull(w);
	ck_assert_int_eq(qfile_add_rcpt(w, "r@example.org", 0, NULL), 0);
	ck_assert_int_eq(qfile_write(w, body, 5000, &err), 0);
	ck_assert_int_eq(qfile_commit_final(w, 0644, id, sizeof(id), &err), 0);
	path = xasprintf("%s/%s", dir, id);
	check_later_boot(path);
	free(path);
	free(body);
	buf_free(&err);
}
END_TEST

/*
 * A file checked whole in a later boot, marked by its delivery process
 * (qfile_mark_checked), gets this boot in its end record: not read whole
 * again. The open alone writes nothing.
 */
START_TEST(test_checked_once)
{
	struct buf err = BUF_INIT;
	char id[QF_ID_MAX];
	struct qfile *q;
	ck_assert_int_eq(write_sample(id, sizeof(id), &err), 0);
	char *path = xasprintf("%s/%s", dir, id);
	qfile_fault_boot_id(OTHER_BOOT);
	ck_assert_int_eq(qfile_open(path, false, &q, &err), QF_OK);	/* read-only: left as it is */
	qfile_close(q);
	size_t len;
	char *data = read_all(path, &len);
	size_t e = end_record_at(data, len);
	ck_assert_mem_ne(data + e + 2, OTHER_BOOT, 32);
	free(data);
	ck_assert_int_eq(qfile_open(path, true, &q, &err), QF_OK);
	qfile_close(q);
	data = read_all(path, &len);
	ck_assert_mem_ne(data + e + 2, OTHER_BOOT, 32);
	free(data);
	ck_assert_int_eq(qfile_open(path, true, &q, &err), QF_OK);
	qfile_mark_checked(q);
	qfile_close(q);
	data = read_all(path, &len);
	ck_assert_mem_eq(data + e + 2, OTHER_BOOT, 32);
	/* Now of this boot: a changed byte is not looked for (the page cache is trusted). */
	data[e - 3] ^= 0x01;
	write_file(path, data, len);
	ck_assert_int_eq(open_rc(path, false), QF_OK);
	qfile_fault_boot_id(NULL);
	free(data);
	free(path);
	buf_free(&err);
}
END_TEST

START_TEST(test_corrupt_table)
{
	const struct corrupt_case *c = &corrupt_cases[_i];
	struct buf err = BUF_INIT;
	/* Lengths by hand: one case holds a NUL. */
	size_t len = strlen(c->data);
	if (strcmp(c->name, "nul in record") == 0)
		len = sizeof(GOODHEAD "R-0\tr\0x\t\n" M5 "helloE\n") - 1;
	char *path = xasprintf("%s/case", dir);
	write_file(path, c->data, len);
	struct qfile *q = NULL;
	int rc = qfile_open(path, false, &q, &err);
	ck_assert_msg(rc == c->want, "%s: got %d (%s)", c->name, rc, buf_str(&err));
	if (rc == QF_OK) {
		char got[8];
		ck_assert_int_eq(qfile_read(q, got, sizeof(got)), 5);
		ck_assert_mem_eq(got, "hello", 5);
	} else {
		ck_assert_ptr_null(q);
		ck_assert_uint_gt(err.len, 0);
	}
	qfile_close(q);
	rc = qfile_parse_buffer(c->data, len, &q, &err);
	ck_assert_msg(rc == c->want, "%s (buffer): got %d", c->name, rc);
	qfile_close(q);
	free(path);
	buf_free(&err);
}
END_TEST

START_TEST(test_open_errors)
{
	struct buf err = BUF_INIT;
	struct qfile *q;
	char *path = xasprintf("%s/missing", dir);
	ck_assert_int_eq(qfile_open(path, false, &q, &err), QF_IOERR);
	ck_assert_int_eq(qfile_open(dir, false, &q, &err), QF_CORRUPT);	/* a directory */
	free(path);
	buf_free(&err);
}
END_TEST

/* Fault injection: fail call N of each kind; a temporary failure, no file left. */
static const struct fault_case {
	enum qfile_call call;
	unsigned nth;
	int err;
} fault_cases[] = {
	{.call = QF_CALL_OPEN, .nth = 1, .err = ENOSPC},	/* the temp file */
	{.call = QF_CALL_WRITE, .nth = 1, .err = ENOSPC},	/* the whole file, length filled in */
	{.call = QF_CALL_FSYNC, .nth = 1, .err = EIO},		/* the file */
	{.call = QF_CALL_FSYNC, .nth = 2, .err = ENOSPC},	/* the directory */
	{.call = QF_CALL_RENAME, .nth = 1, .err = EIO},
};

START_TEST(test_fault_injection)
{
	const struct fault_case *f = &fault_cases[_i];
	struct buf err = BUF_INIT;
	char id[QF_ID_MAX];

	qfile_fault_inject(f->call, f->nth, f->err, false);
	ck_assert_int_eq(write_sample(id, sizeof(id), &err), -1);
	ck_assert_msg(strstr(buf_str(&err), strerror(f->err)) != NULL, "reason: %s", buf_str(&err));
	ck_assert_int_eq(dir_entries(), 0);

	/* The next write succeeds: the fault was one call only. */
	ck_assert_int_eq(write_sample(id, sizeof(id), &err), 0);
	ck_assert_int_eq(dir_entries(), 1);
	buf_free(&err);
}
END_TEST

/*
 * EINTR once at each call a commit makes: the call is made again, the
 * message is queued (no temporary failure for an interrupted call).
 */
static const struct fault_case eintr_cases[] = {
	{.call = QF_CALL_OPEN, .nth = 1, .err = EINTR},		/* the temp file */
	{.call = QF_CALL_WRITE, .nth = 1, .err = EINTR},	/* envelope + content */
	{.call = QF_CALL_WRITE, .nth = 2, .err = EINTR},	/* the length field (pwrite) */
	{.call = QF_CALL_FSYNC, .nth = 1, .err = EINTR},	/* the file */
	{.call = QF_CALL_FSYNC, .nth = 2, .err = EINTR},	/* the directory */
	{.call = QF_CALL_RENAME, .nth = 1, .err = EINTR},
};

START_TEST(test_fault_eintr)
{
	const struct fault_case *f = &eintr_cases[_i];
	struct buf err = BUF_INIT;
	char id[QF_ID_MAX];

	qfile_fault_inject(f->call, f->nth, f->err, false);
	ck_assert_msg(write_sample(id, sizeof(id), &err) == 0, "call %d #%u: %s", (int)f->call, f->nth,
		      buf_str(&err));
	ck_assert_int_eq(dir_entries(), 1);
	buf_free(&err);
}
END_TEST

/*
 * The directory is fsynced through the descriptor its sync state keeps
 * (opened once, at its first commit), not opened per commit: the second
 * open a commit sequence makes is the next message's temporary file.
 */
START_TEST(test_dir_not_opened_per_commit)
{
	struct buf err = BUF_INIT;
	char id[QF_ID_MAX];

	qfile_fault_inject(QF_CALL_OPEN, 2, EIO, false);
	ck_assert_msg(write_sample(id, sizeof(id), &err) == 0, "%s", buf_str(&err));
	ck_assert_int_eq(write_sample(id, sizeof(id), &err), -1);	/* its temporary file */
	ck_assert_msg(strstr(buf_str(&err), "cannot create") != NULL, "reason: %s", buf_str(&err));
	ck_assert_int_eq(write_sample(id, sizeof(id), &err), 0);
	ck_assert_int_eq(dir_entries(), 2);
	buf_free(&err);
}
END_TEST

START_TEST(test_fault_eintr_forever)
{
	/* A signal at every try: a temporary failure in the end, not a hang. */
	struct buf err = BUF_INIT;
	char id[QF_ID_MAX];
	qfile_fault_inject(QF_CALL_FSYNC, 1, EINTR, true);
	ck_assert_int_eq(write_sample(id, sizeof(id), &err), -1);
	ck_assert_int_eq(dir_entries(), 0);
	buf_free(&err);
}
END_TEST

START_TEST(test_fault_large_content)
{
	/* A disk that fills up in the middle of a big body. */
	struct buf err = BUF_INIT;
	qfile_fault_inject(QF_CALL_WRITE, 3, ENOSPC, true);
	struct qfile_writer *w = qfile_create(dir, &err);
	qfile_add_rcpt(w, "a@b", 0, NULL);
	char block[10000];
	memset(block, 'x', sizeof(block));
	block[sizeof(block) - 1] = '\n';
	int failed = 0;
	for (int i = 0; i < 100 && !failed; i++)
		failed = qfile_write(w, block, sizeof(block), &err) != 0;
	ck_assert_int_eq(failed, 1);
	ck_assert_int_eq(qfile_commit(w, NULL, 0, &err), -1);
	ck_assert_int_eq(dir_entries(), 0);
	buf_free(&err);
}
END_TEST

/* A small message is one write: envelope, content with its length filled in, end record. */
START_TEST(test_small_one_write)
{
	struct buf err = BUF_INIT;
	char id[QF_ID_MAX];
	struct qfile *q;
	char got[sizeof(content)];

	qfile_fault_inject(QF_CALL_WRITE, 2, EIO, true);	/* no second write may happen */
	ck_assert_int_eq(write_sample(id, sizeof(id), &err), 0);
	qfile_fault_reset();
	char *path = xasprintf("%s/%s", dir, id);
	ck_assert_int_eq(qfile_open(path, false, &q, &err), QF_OK);
	ck_assert_uint_eq(qfile_content_size(q), sizeof(content) - 1);
	ck_assert_int_eq(qfile_read(q, got, sizeof(got)), (ssize_t)sizeof(content) - 1);
	ck_assert_mem_eq(got, content, sizeof(content) - 1);
	qfile_close(q);
	free(path);
	buf_free(&err);
}
END_TEST

/*
 * Content larger than the writer's buffer (256 KiB): in small pieces, in
 * one piece larger than the buffer (written from the caller's memory)
 * and in pieces that straddle a flush; read back byte for byte. Then a
 * failure at each write of it (the flushes, the big piece, the length
 * field written last) is a temporary failure that leaves no file.
 */
static char *big_content(size_t *len)
{
	size_t n = 700 * 1024 + 13;
	char *b = xmalloc(n);
	for (size_t i = 0; i < n; i++)
		b[i] = (i % 997 == 996) ? '\n' : (char)(' ' + (i * 7) % 95);
	b[n - 1] = 'z';	/* a last line without a newline */
	*len = n;
	return b;
}

static int write_big(const char *b, size_t n, char *id, size_t idlen, struct buf *err)
{
	struct qfile_writer *w = qfile_create(dir, err);
	size_t pos = 0;
	if (w == NULL)
		return -1;
	ck_assert_int_eq(qfile_add_rcpt(w, "a@example.org", 0, NULL), 0);
	while (pos < n) {
		size_t take = pos < 20000 ? 7 : pos < 400000 ? 300 * 1024 : 8192;
		if (take > n - pos)
			take = n - pos;
		if (qfile_write(w, b + pos, take, err) != 0) {
			qfile_abort(w);
			return -1;
		}
		pos += take;
	}
	return qfile_commit(w, id, idlen, err);
}

START_TEST(test_large_content)
{
	struct buf err = BUF_INIT;
	char id[QF_ID_MAX];
	size_t n, got = 0;
	char *b = big_content(&n);
	char *back = xmalloc(n + 1);
	struct qfile *q;
	ssize_t r;

	ck_assert_int_eq(write_big(b, n, id, sizeof(id), &err), 0);
	char *path = xasprintf("%s/%s", dir, id);
	ck_assert_int_eq(qfile_open(path, false, &q, &err), QF_OK);
	ck_assert_uint_eq(qfile_content_size(q), n);
	while ((r = qfile_read(q, back + got, n + 1 - got)) > 0)
		got += (size_t)r;
	ck_assert_uint_eq(got, n);
	ck_assert_mem_eq(back, b, n);
	qfile_close(q);
	unlink(path);
	free(path);

	/* Every write call fails once in turn, until one past the last. */
	unsigned nth;
	for (nth = 1; nth < 20; nth++) {
		qfile_fault_inject(QF_CALL_WRITE, nth, EIO, false);
		int rc = write_big(b, n, id, sizeof(id), &err);
		qfile_fault_reset();
		if (rc == 0)
			break;
		ck_assert_msg(strstr(buf_str(&err), strerror(EIO)) != NULL, "reason: %s", buf_str(&err));
		ck_assert_int_eq(dir_entries(), 0);
	}
	/* Flushes at 256 KiB, the 300 KiB piece, the rest, the length: more than three. */
	ck_assert_uint_ge(nth, 4);
	ck_assert_uint_lt(nth, 20);
	free(back);
	free(b);
	buf_free(&err);
}
END_TEST

/*
 * A file read in part (larger than the first read): a failed read of its
 * end record says nothing about its content. QF_IOERR, never QF_CORRUPT
 * (which would move an acknowledged message to corrupt/); EINTR is read
 * again.
 */
START_TEST(test_end_read_error)
{
	struct buf err = BUF_INIT;
	char id[QF_ID_MAX];
	size_t n;
	char *b = big_content(&n);
	struct qfile *q;

	ck_assert_int_eq(write_big(b, n, id, sizeof(id), &err), 0);
	char *path = xasprintf("%s/%s", dir, id);
	qfile_fault_inject(QF_CALL_READ, 1, EIO, false);
	ck_assert_int_eq(qfile_open(path, false, &q, &err), QF_IOERR);
	ck_assert_msg(strstr(buf_str(&err), strerror(EIO)) != NULL, "reason: %s", buf_str(&err));
	qfile_fault_inject(QF_CALL_READ, 1, EINTR, false);
	ck_assert_int_eq(qfile_open(path, false, &q, &err), QF_OK);
	qfile_close(q);
	qfile_fault_reset();
	ck_assert_int_eq(qfile_open(path, false, &q, &err), QF_OK);
	qfile_close(q);
	unlink(path);
	free(path);
	free(b);
	buf_free(&err);
}
END_TEST

/*
 * An envelope as large as qfile_open's 16 KiB reads: 600 recipients, then
 * a padding attribute whose length moves the M record's "\nM " and its
 * line end across the first read's end, byte by byte. Every recipient,
 * the attribute and the content must come back.
 */
static int write_wide(size_t pad, char *id, size_t idlen, struct buf *err)
{
	struct qfile_writer *w = qfile_create(dir, err);
	char addr[64], *padding = xmalloc(pad + 2);

	ck_assert_ptr_nonnull(w);
	for (int i = 0; i < 600; i++) {
		snprintf(addr, sizeof(addr), "rcpt%04d@example.org", i);
		ck_assert_int_eq(qfile_add_rcpt(w, addr, 0, NULL), 0);
	}
	memset(padding, 'p', pad + 1);
	padding[pad + 1] = '\0';
	ck_assert_int_eq(qfile_add_attr(w, "padding", padding), 0);
	free(padding);
	for (int i = 0; i < 3000; i++)
		ck_assert_int_eq(qfile_write(w, "0123456789abcdef\n", 17, err), 0);
	return qfile_commit(w, id, idlen, err);
}

START_TEST(test_open_wide_envelope)
{
	struct buf err = BUF_INIT;
	char id[QF_ID_MAX];
	size_t len, base;

	/* Where the M record starts with the least padding: then pad so it nears 16 KiB. */
	ck_assert_int_eq(write_wide(0, id, sizeof(id), &err), 0);
	char *path = xasprintf("%s/%s", dir, id);
	char *data = read_all(path, &len);
	const char *m = memmem(data, len, "\nM ", 3);
	ck_assert_ptr_nonnull(m);
	ck_assert_uint_lt((size_t)(m - data), 16384 - 40);
	base = 16384 - 40 - (size_t)(m - data);
	free(data);
	unlink(path);
	free(path);
	for (size_t pad = base; pad < base + 64; pad++) {
		struct qfile *q;
		char got[17];
		ck_assert_int_eq(write_wide(pad, id, sizeof(id), &err), 0);
		path = xasprintf("%s/%s", dir, id);
		ck_assert_msg(qfile_open(path, false, &q, &err) == QF_OK, "pad %zu: %s", pad, buf_str(&err));
		ck_assert_uint_eq(qfile_rcpt_count(q), 600);
		ck_assert_str_eq(qfile_rcpt(q, 599)->address, "rcpt0599@example.org");
		ck_assert_uint_eq(strlen(qfile_attr(q, "padding")), pad + 1);
		ck_assert_uint_eq(qfile_content_size(q), 3000 * 17);
		ck_assert_int_eq(qfile_read(q, got, sizeof(got)), (ssize_t)sizeof(got));
		ck_assert_mem_eq(got, "0123456789abcdef\n", 17);
		qfile_close(q);
		unlink(path);
		free(path);
	}
	buf_free(&err);
}
END_TEST

/*
 * qfile_open_whole: one buffer of the caller's for a large file and then
 * a small one: each file's content, where it lies, byte for byte; marks
 * on a writable one work as with qfile_open.
 */
START_TEST(test_open_whole)
{
	struct buf err = BUF_INIT, mem = BUF_INIT;
	char big_id[QF_ID_MAX], small_id[QF_ID_MAX], got[sizeof(content)];
	size_t n;
	char *b = big_content(&n);
	struct qfile *q;

	ck_assert_int_eq(write_big(b, n, big_id, sizeof(big_id), &err), 0);
	ck_assert_int_eq(write_sample(small_id, sizeof(small_id), &err), 0);
	char *big = xasprintf("%s/%s", dir, big_id), *small = xasprintf("%s/%s", dir, small_id);

	ck_assert_int_eq(qfile_open_whole(big, false, &mem, &q, &err), QF_OK);
	ck_assert_uint_eq(qfile_content_size(q), n);
	ck_assert_ptr_nonnull(qfile_content_mem(q));
	ck_assert_mem_eq(qfile_content_mem(q), b, n);
	qfile_close(q);

	ck_assert_int_eq(qfile_open_whole(small, true, &mem, &q, &err), QF_OK);
	ck_assert_uint_eq(qfile_content_size(q), sizeof(content) - 1);
	ck_assert_mem_eq(qfile_content_mem(q), content, sizeof(content) - 1);
	ck_assert_int_eq(qfile_read(q, got, sizeof(got)), (ssize_t)sizeof(content) - 1);
	ck_assert_mem_eq(got, content, sizeof(content) - 1);
	ck_assert_int_eq(qfile_mark_done(q, 1, QF_RCPT_DELIVERED, &err), 0);
	qfile_close(q);
	ck_assert_int_eq(qfile_open(small, false, &q, &err), QF_OK);
	ck_assert_int_eq(qfile_rcpt(q, 1)->status, QF_RCPT_DELIVERED);
	qfile_close(q);

	/* qfile_open reads only the start of a large file: its content is not in memory. */
	ck_assert_int_eq(qfile_open(big, false, &q, &err), QF_OK);
	ck_assert_ptr_null(qfile_content_mem(q));
	qfile_close(q);
	free(big);
	free(small);
	free(b);
	buf_free(&mem);
	buf_free(&err);
}
END_TEST

START_TEST(test_mark_done_fault)
{
	struct buf err = BUF_INIT;
	char id[QF_ID_MAX];
	ck_assert_int_eq(write_sample(id, sizeof(id), &err), 0);
	char *path = xasprintf("%s/%s", dir, id);
	struct qfile *q;
	ck_assert_int_eq(qfile_open(path, true, &q, &err), QF_OK);
	qfile_fault_inject(QF_CALL_WRITE, 1, EIO, false);
	ck_assert_int_eq(qfile_mark_done(q, 0, QF_RCPT_DELIVERED, &err), -1);
	ck_assert_int_eq(qfile_rcpt(q, 0)->status, QF_RCPT_PENDING);
	/* A mark needs no sync to be seen; qfile_sync reports its own failure. */
	ck_assert_int_eq(qfile_mark_done(q, 0, QF_RCPT_DELIVERED, &err), 0);
	qfile_fault_inject(QF_CALL_FSYNC, 1, EIO, false);
	buf_reset(&err);
	ck_assert_int_eq(qfile_sync(q, &err), -1);
	ck_assert_msg(strstr(buf_str(&err), strerror(EIO)) != NULL, "reason: %s", buf_str(&err));
	ck_assert_int_eq(qfile_sync(q, &err), 0);
	qfile_close(q);
	struct qfile *again;
	ck_assert_int_eq(qfile_open(path, false, &again, &err), QF_OK);
	ck_assert_int_eq(qfile_rcpt(again, 0)->status, QF_RCPT_DELIVERED);
	qfile_close(again);
	free(path);
	buf_free(&err);
}
END_TEST

/* qfile_open's other reads fail: an I/O error, never corrupt; EINTR retried, but not for ever. */
START_TEST(test_read_file_error)
{
	struct buf err = BUF_INIT, mem = BUF_INIT;
	char id[QF_ID_MAX];
	struct qfile *q;
	time_t t;

	ck_assert_int_eq(write_sample(id, sizeof(id), &err), 0);
	char *path = xasprintf("%s/%s", dir, id);
	qfile_fault_inject(QF_CALL_READ_FILE, 1, EIO, true);
	errno = 0;
	ck_assert_int_eq(qfile_open(path, false, &q, &err), QF_IOERR);
	ck_assert_int_eq(errno, EIO);	/* the failed call's, for the caller */
	ck_assert_msg(strstr(buf_str(&err), strerror(EIO)) != NULL, "reason: %s", buf_str(&err));
	errno = 0;
	ck_assert_int_eq(qfile_open_whole(path, false, &mem, &q, &err), QF_IOERR);
	ck_assert_int_eq(errno, EIO);
	qfile_fault_inject(QF_CALL_READ_FILE, 1, EINTR, true);
	ck_assert_int_eq(qfile_open(path, false, &q, &err), QF_IOERR);
	ck_assert_int_eq(qfile_open_whole(path, false, &mem, &q, &err), QF_IOERR);
	qfile_fault_inject(QF_CALL_READ_FILE, 1, EINTR, false);
	ck_assert_int_eq(qfile_open(path, false, &q, &err), QF_OK);
	qfile_close(q);
	qfile_fault_reset();
	ck_assert_int_eq(qfile_open_whole(path, false, &mem, &q, &err), QF_OK);
	qfile_close(q);
	/* The id's first 8 digits are the second it was made in. */
	ck_assert(qfile_id_time(id, &t));
	ck_assert(t <= time(NULL) && t >= time(NULL) - 60);
	ck_assert(qfile_id_time("6B15C10A8F2B4A72103", &t));
	ck_assert_int_eq((long long)t, 0x6B15C10ALL);
	ck_assert(!qfile_id_time("6b15c10a8f2b4a72103", &t));
	ck_assert(!qfile_id_time("6B15C10A", &t));
	setenv("TERN_QFILE_FAULT", "readfile:1:EIO:all", 1);
	ck_assert_int_eq(qfile_fault_from_env(), 0);
	ck_assert_int_eq(qfile_open(path, false, &q, &err), QF_IOERR);
	unsetenv("TERN_QFILE_FAULT");
	qfile_fault_reset();
	unlink(path);
	free(path);
	buf_free(&mem);
	buf_free(&err);
}
END_TEST

START_TEST(test_fault_env)
{
	setenv("TERN_QFILE_FAULT", "rename:1:ENOSPC", 1);
	ck_assert_int_eq(qfile_fault_from_env(), 0);
	struct buf err = BUF_INIT;
	char id[QF_ID_MAX];
	ck_assert_int_eq(write_sample(id, sizeof(id), &err), -1);
	ck_assert_int_eq(dir_entries(), 0);
	setenv("TERN_QFILE_FAULT", "bogus:1:ENOSPC", 1);
	ck_assert_int_eq(qfile_fault_from_env(), -1);
	setenv("TERN_QFILE_FAULT", "write:0:ENOSPC", 1);
	ck_assert_int_eq(qfile_fault_from_env(), -1);
	setenv("TERN_QFILE_FAULT", "write:1:EINTR", 1);
	ck_assert_int_eq(qfile_fault_from_env(), 0);
	ck_assert_int_eq(write_sample(id, sizeof(id), &err), 0);	/* made again */
	ck_assert_int_eq(dir_entries(), 1);
	setenv("TERN_QFILE_FAULT", "write:1:EPERM", 1);
	ck_assert_int_eq(qfile_fault_from_env(), -1);
	unsetenv("TERN_QFILE_FAULT");
	buf_free(&err);
}
END_TEST

START_TEST(test_move)
{
	struct buf err = BUF_INIT;
	char id[QF_ID_MAX];
	ck_assert_int_eq(write_sample(id, sizeof(id), &err), 0);
	char *sub = xasprintf("%s/corrupt", dir);
	ck_assert_int_eq(mkdir(sub, 0700), 0);
	char *path = xasprintf("%s/%s", dir, id);
	ck_assert_int_eq(qfile_move(path, sub, &err), 0);
	ck_assert_int_ne(access(path, F_OK), 0);
	char *moved = xasprintf("%s/%s", sub, id);
	ck_assert_int_eq(access(moved, F_OK), 0);
	unlink(moved);
	rmdir(sub);
	free(moved);
	free(path);
	free(sub);
	buf_free(&err);
}
END_TEST

static const struct id_case {
	const char *id;
	bool valid;
} id_cases[] = {
	{.id = "6553F10000002A1F", .valid = true},
	{.id = "", .valid = false},
	{.id = "6553F1000000", .valid = false},
	{.id = "6553F10000002A1f", .valid = false},
	{.id = "6553F10000002A1F/", .valid = false},
	{.id = ".6553F10000002A1F", .valid = false},
	{.id = "0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF", .valid = false},
};

/*
 * Group commit of directory fsyncs. Threads must not use ck_assert, so
 * they record results for the main thread to check.
 */
struct committer {
	pthread_t thread;
	int commits;		/* how many to make */
	int ok, failed;
	char id[QF_ID_MAX];	/* of the last success */
	char reason[256];	/* of the last failure */
};

static void *committer_main(void *arg)
{
	struct committer *c = arg;
	struct buf err = BUF_INIT;
	for (int i = 0; i < c->commits; i++) {
		struct qfile_writer *w = qfile_create(dir, &err);
		if (w == NULL) {
			c->failed++;
			strlcpy(c->reason, buf_str(&err), sizeof(c->reason));
			continue;
		}
		qfile_add_rcpt(w, "a@example.org", 0, NULL);
		qfile_write(w, content, sizeof(content) - 1, &err);
		if (qfile_commit(w, c->id, sizeof(c->id), &err) == 0) {
			c->ok++;
		} else {
			c->failed++;
			strlcpy(c->reason, buf_str(&err), sizeof(c->reason));
		}
	}
	buf_free(&err);
	return NULL;
}

START_TEST(test_group_commit_concurrent)
{
	enum { THREADS = 8, EACH = 25 };
	struct committer c[THREADS] = {0};
	for (int i = 0; i < THREADS; i++) {
		c[i].commits = EACH;
		ck_assert_int_eq(pthread_create(&c[i].thread, NULL, committer_main, &c[i]), 0);
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(c[i].thread, NULL);
		ck_assert_msg(c[i].failed == 0, "thread %d: %s", i, c[i].reason);
		ck_assert_int_eq(c[i].ok, EACH);
	}
	ck_assert_int_eq(dir_entries(), THREADS * EACH);
	/* Every file is complete. */
	for (int i = 0; i < THREADS; i++) {
		struct buf err = BUF_INIT;
		struct qfile *q;
		char *path = xasprintf("%s/%s", dir, c[i].id);
		ck_assert_int_eq(qfile_open(path, false, &q, &err), QF_OK);
		qfile_close(q);
		free(path);
		buf_free(&err);
	}
}
END_TEST

/* The first leader stops in its fsync until the main thread lets it go. */
static sem_t leader_in, leader_go;
static int hook_calls;

static void blocking_hook(void)
{
	if (__atomic_fetch_add(&hook_calls, 1, __ATOMIC_SEQ_CST) == 0) {
		sem_post(&leader_in);
		sem_wait(&leader_go);
	}
}

/* Final (non-temporary) names in dir. */
static int dir_final_entries(void)
{
	int n = 0;
	DIR *d = opendir(dir);
	struct dirent *e;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

START_TEST(test_group_commit_fsync_failure)
{
	/*
	 * A leads fsync 1 and is held in it. B..E rename meanwhile, so they
	 * need fsync 2, which one of them leads for all; it fails: all four
	 * get a temporary failure and their files are gone; A succeeds.
	 */
	enum { WAITERS = 4 };
	struct committer a = {.commits = 1}, w[WAITERS] = {0};
	sem_init(&leader_in, 0, 0);
	sem_init(&leader_go, 0, 0);
	hook_calls = 0;
	qfile_fault_dirsync_hook(blocking_hook);

	ck_assert_int_eq(pthread_create(&a.thread, NULL, committer_main, &a), 0);
	sem_wait(&leader_in);
	for (int i = 0; i < WAITERS; i++) {
		w[i].commits = 1;
		ck_assert_int_eq(pthread_create(&w[i].thread, NULL, committer_main, &w[i]), 0);
	}
	/* Wait (generously) until all four renames are done. */
	for (int tries = 0; dir_final_entries() < 1 + WAITERS && tries < 3000; tries++)
		usleep(10000);
	ck_assert_int_eq(dir_final_entries(), 1 + WAITERS);
	/*
	 * Their file fsyncs are done: the next fsync is A's (it runs after
	 * the hook), and the one after it the shared one of B..E.
	 */
	qfile_fault_inject(QF_CALL_FSYNC, 2, EIO, false);
	sem_post(&leader_go);

	pthread_join(a.thread, NULL);
	ck_assert_int_eq(a.ok, 1);
	for (int i = 0; i < WAITERS; i++) {
		pthread_join(w[i].thread, NULL);
		ck_assert_int_eq(w[i].ok, 0);
		ck_assert_int_eq(w[i].failed, 1);
		ck_assert_msg(strstr(w[i].reason, "fsync queue directory") != NULL &&
			      strstr(w[i].reason, strerror(EIO)) != NULL, "reason: %s", w[i].reason);
	}
	/* Exactly two directory fsyncs ran: one per group, not one per file. */
	ck_assert_int_eq(hook_calls, 2);
	ck_assert_int_eq(dir_entries(), 1);
	char *path = xasprintf("%s/%s", dir, a.id);
	ck_assert_int_eq(access(path, F_OK), 0);
	free(path);

	/* A later commit is not affected by the old failure. */
	qfile_fault_dirsync_hook(NULL);
	struct committer later = {.commits = 1};
	committer_main(&later);
	ck_assert_msg(later.ok == 1, "reason: %s", later.reason);
	ck_assert_int_eq(dir_entries(), 2);
	sem_destroy(&leader_in);
	sem_destroy(&leader_go);
}
END_TEST

/*
 * Shared sync (smtpd): a leader alone fsyncs its own file; the files
 * renamed while it ran share one syncfs. The first leader is held in the
 * hook until four more writers wait behind it.
 */
static sem_t fs_in, fs_go;
static int fs_calls;
static unsigned fs_batches[8];

static char sync_events[16];		/* "1" lone fsync, "n" syncfs, "d" directory fsync */
static int sync_event_count;

static void sync_event(char e)
{
	int k = __atomic_fetch_add(&sync_event_count, 1, __ATOMIC_SEQ_CST);
	if (k < (int)sizeof(sync_events) - 1)
		sync_events[k] = e;
}

static void filesync_hook(unsigned batch)
{
	sync_event(batch <= 1 ? '1' : 'n');
	int k = __atomic_fetch_add(&fs_calls, 1, __ATOMIC_SEQ_CST);
	if (k < 8)
		fs_batches[k] = batch;
	if (k == 0) {
		sem_post(&fs_in);
		sem_wait(&fs_go);
	}
}

enum { BATCH = 4 };

/* A commits alone and is held; BATCH more commit behind it. */
static void start_held_batch(struct committer *a, struct committer *w)
{
	sem_init(&fs_in, 0, 0);
	sem_init(&fs_go, 0, 0);
	fs_calls = 0;
	qfile_set_shared_sync(true);
	qfile_fault_filesync_hook(filesync_hook);
	a->commits = 1;
	ck_assert_int_eq(pthread_create(&a->thread, NULL, committer_main, a), 0);
	sem_wait(&fs_in);
	for (int i = 0; i < BATCH; i++) {
		w[i].commits = 1;
		ck_assert_int_eq(pthread_create(&w[i].thread, NULL, committer_main, &w[i]), 0);
	}
	/* Shared sync renames first: all five names are there, four waiting. */
	for (int tries = 0; dir_final_entries() < 1 + BATCH && tries < 3000; tries++)
		usleep(10000);
	ck_assert_int_eq(dir_final_entries(), 1 + BATCH);
	usleep(100000);		/* from the rename to the wait is a few instructions */
}

START_TEST(test_shared_sync_batch)
{
	struct committer a = {0}, w[BATCH] = {0};
	start_held_batch(&a, w);
	sem_post(&fs_go);
	pthread_join(a.thread, NULL);
	ck_assert_msg(a.ok == 1, "reason: %s", a.reason);
	for (int i = 0; i < BATCH; i++) {
		pthread_join(w[i].thread, NULL);
		ck_assert_msg(w[i].ok == 1, "reason: %s", w[i].reason);
	}
	/* Two syncs for five files: A's fsync, then one syncfs for the four. */
	ck_assert_int_eq(fs_calls, 2);
	ck_assert_int_eq(fs_batches[0], 1);
	ck_assert_int_eq(fs_batches[1], BATCH);
	ck_assert_int_eq(dir_final_entries(), 1 + BATCH);
	ck_assert_int_eq(dir_entries(), 1 + BATCH);
	for (int i = 0; i < BATCH; i++) {
		struct buf err = BUF_INIT;
		struct qfile *q;
		char *path = xasprintf("%s/%s", dir, w[i].id);
		ck_assert_int_eq(qfile_open(path, false, &q, &err), QF_OK);
		qfile_close(q);
		free(path);
		buf_free(&err);
	}
	qfile_fault_filesync_hook(NULL);
	sem_destroy(&fs_in);
	sem_destroy(&fs_go);
}
END_TEST

static void dirsync_event_hook(void)
{
	sync_event('d');
}

/*
 * Shared sync where a lone commit's fsync after its rename commits the
 * rename but a syncfs does not (ext4 without a journal), and the other
 * way round: a lone commit fsyncs the directory only where its fsync
 * does not cover it, a batch's syncfs is followed by the directory's
 * fsync only where the syncfs does not. The pair is forced, since /tmp
 * may be any file system.
 */
static const struct {
	int covered, syncfs_covered;
	const char *events;
} split_cases[] = {
	{1, 0, "1nd"},		/* ext4 without a journal */
	{0, 1, "1dn"},
	{1, 1, "1n"},		/* ext4 with a journal, XFS */
	{0, 0, "1dnd"},		/* anything else */
};

START_TEST(test_shared_sync_split)
{
	qfile_fault_dir_covered(split_cases[_i].covered, split_cases[_i].syncfs_covered);
	qfile_fault_dirsync_hook(dirsync_event_hook);
	memset(sync_events, 0, sizeof(sync_events));
	sync_event_count = 0;
	struct committer a = {0}, w[BATCH] = {0};
	start_held_batch(&a, w);
	sem_post(&fs_go);
	pthread_join(a.thread, NULL);
	ck_assert_msg(a.ok == 1, "reason: %s", a.reason);
	for (int i = 0; i < BATCH; i++) {
		pthread_join(w[i].thread, NULL);
		ck_assert_msg(w[i].ok == 1, "reason: %s", w[i].reason);
	}
	/* A's sync alone, then one syncfs for the four (so the batch did share one). */
	ck_assert_int_eq(fs_calls, 2);
	ck_assert_int_eq(fs_batches[1], BATCH);
	ck_assert_str_eq(sync_events, split_cases[_i].events);
	qfile_fault_dirsync_hook(NULL);
	qfile_fault_filesync_hook(NULL);
	qfile_fault_dir_covered(-1, -1);
	sem_destroy(&fs_in);
	sem_destroy(&fs_go);
}
END_TEST

START_TEST(test_shared_sync_failure)
{
	/*
	 * The batch's syncfs fails: all four get a temporary failure, none of
	 * their files is left (their names are taken back), A is unaffected,
	 * and the directory falls back to one fsync per file, which works.
	 */
	struct committer a = {0}, w[BATCH] = {0};
	start_held_batch(&a, w);
	qfile_fault_inject(QF_CALL_SYNCFS, 1, EIO, false);
	sem_post(&fs_go);
	pthread_join(a.thread, NULL);
	ck_assert_msg(a.ok == 1, "reason: %s", a.reason);
	for (int i = 0; i < BATCH; i++) {
		pthread_join(w[i].thread, NULL);
		ck_assert_int_eq(w[i].ok, 0);
		ck_assert_int_eq(w[i].failed, 1);
		ck_assert_msg(strstr(w[i].reason, "fsync queue file") != NULL &&
			      strstr(w[i].reason, strerror(EIO)) != NULL, "reason: %s", w[i].reason);
	}
	ck_assert_int_eq(fs_calls, 2);
	ck_assert_int_eq(dir_entries(), 1);

	/* From now on each file is fsynced on its own: no more group syncs. */
	struct committer later[BATCH] = {0};
	for (int i = 0; i < BATCH; i++) {
		later[i].commits = 5;
		ck_assert_int_eq(pthread_create(&later[i].thread, NULL, committer_main, &later[i]), 0);
	}
	for (int i = 0; i < BATCH; i++) {
		pthread_join(later[i].thread, NULL);
		ck_assert_msg(later[i].ok == 5, "reason: %s", later[i].reason);
	}
	ck_assert_int_eq(fs_calls, 2);
	ck_assert_int_eq(dir_entries(), 1 + BATCH * 5);
	qfile_fault_filesync_hook(NULL);
	sem_destroy(&fs_in);
	sem_destroy(&fs_go);
}
END_TEST

/*
 * Commits that chose shared sync before a syncfs failed but reach the
 * group after the failed generation and the one after it (their renames
 * were slow) must not be covered by another syncfs: it cannot report the
 * error the failed one consumed, and their own pages may be what was
 * lost. A leads sync 1 (held); B1, B2 rename behind it and share syncfs
 * 2, which fails; S0..S2 chose shared sync before that and are held just
 * after their renames. S0 then comes alone (held again, if it leads a
 * sync 3), and S1, S2 come while it runs. No sync after the failure may
 * be a syncfs of a batch: each of these files is fsynced on its own.
 */
static sem_t st_fs_in, st_fs_go, st_ren_in, st_ren_go;
static int st_fs_calls, st_renames;
static unsigned st_batches[16];

static void straggler_filesync_hook(unsigned batch)
{
	int k = __atomic_fetch_add(&st_fs_calls, 1, __ATOMIC_SEQ_CST);
	if (k < 16)
		st_batches[k] = batch;
	if (k == 0 || k == 2) {	/* A's sync; a sync 3 led by S0 */
		sem_post(&st_fs_in);
		sem_wait(&st_fs_go);
	}
}

static void straggler_rename_hook(void)
{
	/* A, B1 and B2 go on; S0, S1 and S2 wait here. */
	if (__atomic_fetch_add(&st_renames, 1, __ATOMIC_SEQ_CST) >= 3) {
		sem_post(&st_ren_in);
		sem_wait(&st_ren_go);
	}
}

START_TEST(test_shared_sync_failure_stragglers)
{
	struct committer a = {.commits = 1}, b[2] = {0}, s[3] = {0};
	struct timespec until;

	sem_init(&st_fs_in, 0, 0);
	sem_init(&st_fs_go, 0, 0);
	sem_init(&st_ren_in, 0, 0);
	sem_init(&st_ren_go, 0, 0);
	qfile_set_shared_sync(true);
	qfile_fault_filesync_hook(straggler_filesync_hook);
	qfile_fault_rename_hook(straggler_rename_hook);

	ck_assert_int_eq(pthread_create(&a.thread, NULL, committer_main, &a), 0);
	sem_wait(&st_fs_in);
	for (int i = 0; i < 2; i++) {
		b[i].commits = 1;
		ck_assert_int_eq(pthread_create(&b[i].thread, NULL, committer_main, &b[i]), 0);
	}
	for (int tries = 0; dir_final_entries() < 3 && tries < 3000; tries++)
		usleep(10000);
	ck_assert_int_eq(dir_final_entries(), 3);
	usleep(100000);		/* B1, B2: from the rename to the wait */
	for (int i = 0; i < 3; i++) {
		s[i].commits = 1;
		ck_assert_int_eq(pthread_create(&s[i].thread, NULL, committer_main, &s[i]), 0);
	}
	for (int i = 0; i < 3; i++)
		sem_wait(&st_ren_in);

	/* Sync 2 (B1 and B2) fails. */
	qfile_fault_inject(QF_CALL_SYNCFS, 1, EIO, false);
	sem_post(&st_fs_go);
	pthread_join(a.thread, NULL);
	ck_assert_msg(a.ok == 1, "reason: %s", a.reason);
	for (int i = 0; i < 2; i++) {
		pthread_join(b[i].thread, NULL);
		ck_assert_int_eq(b[i].ok, 0);
	}
	ck_assert_int_eq(st_fs_calls, 2);
	ck_assert_int_eq(st_batches[1], 2);

	/* S0 alone: it may lead sync 3; if so it is held there. */
	sem_post(&st_ren_go);
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 2;
	bool held = sem_timedwait(&st_fs_in, &until) == 0;
	if (!held) {
		/* It fsynced its file on its own: wait until it is done. */
		int done = 0;
		for (int tries = 0; done < 1 && tries < 3000; tries++) {
			done = 0;
			for (int i = 0; i < 3; i++)
				done += __atomic_load_n(&s[i].ok, __ATOMIC_SEQ_CST) +
					__atomic_load_n(&s[i].failed, __ATOMIC_SEQ_CST);
			if (done < 1)
				usleep(10000);
		}
		ck_assert_int_eq(done, 1);
	}
	/* S1 and S2 meanwhile. */
	sem_post(&st_ren_go);
	sem_post(&st_ren_go);
	usleep(200000);		/* from the rename to the wait */
	if (held)
		sem_post(&st_fs_go);
	for (int i = 0; i < 3; i++)
		pthread_join(s[i].thread, NULL);
	for (int k = 2; k < st_fs_calls && k < 16; k++)
		ck_assert_msg(st_batches[k] <= 1,
			      "sync %d after a failed syncfs covered %u files at once", k + 1, st_batches[k]);
	/* With nothing failing any more, their own fsyncs succeed. */
	for (int i = 0; i < 3; i++)
		ck_assert_msg(s[i].ok == 1, "reason: %s", s[i].reason);

	qfile_fault_rename_hook(NULL);
	qfile_fault_filesync_hook(NULL);
	sem_destroy(&st_fs_in);
	sem_destroy(&st_fs_go);
	sem_destroy(&st_ren_in);
	sem_destroy(&st_ren_go);
}
END_TEST

/* Where the file's fsync after the rename commits the rename (queue_directory_sync = auto). */
static const struct {
	long fstype;
	bool ext4_driver;
	bool covered;
} covered_cases[] = {
	{0xEF53, true, true},		/* ext4, journal or not (ext4_sync_parent without one) */
	{0xEF53, false, false},		/* the ext2 driver */
	{0x58465342, false, true},	/* XFS: always a log */
	{0x58465342, true, true},
	{0x9123683E, false, false},	/* btrfs */
	{0x9123683E, true, false},
	{0x01021994, false, false},	/* tmpfs */
	{0x6969, false, false},		/* NFS */
	{0x794c7630, false, false},	/* overlayfs */
	{0, true, false},
};

START_TEST(test_rename_covered)
{
	ck_assert_int_eq(qfile_rename_covered(covered_cases[_i].fstype, covered_cases[_i].ext4_driver),
			 covered_cases[_i].covered);
}
END_TEST

/* Where a syncfs after the renames commits them (shared sync, queue_directory_sync = auto). */
static const struct {
	long fstype;
	bool journal;
	bool covered;
} syncfs_cases[] = {
	{0xEF53, true, true},		/* ext4 with a journal */
	{0xEF53, false, false},		/* without: its flush comes before its last buffer writes */
	{0x58465342, false, true},	/* XFS: always a log */
	{0x9123683E, false, false},	/* btrfs */
	{0x01021994, false, false},	/* tmpfs */
	{0, true, false},
};

START_TEST(test_syncfs_covered)
{
	ck_assert_int_eq(qfile_syncfs_covered(syncfs_cases[_i].fstype, syncfs_cases[_i].journal),
			 syncfs_cases[_i].covered);
}
END_TEST

/*
 * qfile_renames_atomic (qmgr's moves into active/ without an fsync): as a
 * shared syncfs's coverage, and never with queue_directory_sync = always.
 * (The file system's own answer: t_qmgr_active_sync.sh.)
 */
START_TEST(test_renames_atomic)
{
	qfile_fault_dir_covered(1, 1);
	ck_assert(qfile_renames_atomic(dir));
	qfile_fault_dir_covered(1, 0);	/* ext4 without a journal */
	ck_assert(!qfile_renames_atomic(dir));
	qfile_fault_dir_covered(0, 0);
	ck_assert(!qfile_renames_atomic(dir));
	qfile_fault_dir_covered(-1, -1);
	qfile_set_dir_sync_always(true);	/* (the fixture's setting) */
	ck_assert(!qfile_renames_atomic(dir));
	qfile_set_dir_sync_always(false);
	ck_assert(!qfile_renames_atomic("/nonexistent"));	/* unknown: synced */
	qfile_set_dir_sync_always(true);
}
END_TEST

/* Where a new file's fsync also persists its directory entry (one-process sendmail). */
static const struct {
	long fstype;
	bool ext4_driver;
	bool covered;
} create_cases[] = {
	{0xEF53, true, true},		/* ext4, journal or not (ext4_sync_parent) */
	{0xEF53, false, false},		/* the ext2 driver */
	{0x58465342, false, true},	/* XFS */
	{0x9123683E, false, true},	/* btrfs */
	{0x01021994, false, false},	/* tmpfs: syncfs (a no-op there) */
	{0x6969, false, false},		/* NFS */
	{0, true, false},
};

START_TEST(test_create_covered)
{
	ck_assert_int_eq(qfile_create_covered(create_cases[_i].fstype, create_cases[_i].ext4_driver),
			 create_cases[_i].covered);
}
END_TEST

/* Whether /sys/fs/ext4 lists the device of the file at path (the kernel's name of /sys/dev/block/MAJ:MIN). */
static bool sysfs_ext4_lists(const char *path)
{
	char link[256], name[PATH_MAX];	/* block device names are short */
	struct stat st;
	ck_assert_int_eq(stat(path, &st), 0);
	snprintf(name, sizeof(name), "/sys/dev/block/%u:%u", major(st.st_dev), minor(st.st_dev));
	ssize_t n = readlink(name, link, sizeof(link) - 1);
	if (n <= 0)
		return false;
	link[n] = '\0';
	const char *base = strrchr(link, '/');
	snprintf(name, sizeof(name), "/sys/fs/ext4/%s", base != NULL ? base + 1 : link);
	return stat(name, &st) == 0 && S_ISDIR(st.st_mode);
}

/*
 * The ioctl that tells the ext4 driver, against /sys/fs/ext4: where the
 * ioctl says yes, sysfs agrees (where there is a /sys/fs/ext4: not in a
 * chroot without /sys), and it says yes on the ext4 driver's file systems
 * (Linux 5.3 and later) unless the ioctl is refused outright (a security
 * module, a kernel without it); never on tmpfs.
 */
START_TEST(test_ext4_driver_ioctl)
{
	char path[128];
	struct statfs sfs;
	struct stat st;
	bool have_sysfs = stat("/sys/fs/ext4", &st) == 0 && S_ISDIR(st.st_mode);
	snprintf(path, sizeof(path), "%s/ext4-probe", dir);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0200);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fstatfs(fd, &sfs), 0);
	errno = 0;
	bool ioctl_says = qfile_ext4_driver_ioctl(fd);
	int ioctl_errno = errno;
	bool refused = !ioctl_says && (ioctl_errno == EPERM || ioctl_errno == EACCES || ioctl_errno == ENOTTY);
	bool sysfs_says = have_sysfs && sysfs_ext4_lists(path);
	if (ioctl_says) {
		ck_assert(sfs.f_type == 0xEF53);
		if (have_sysfs)
			ck_assert_msg(sysfs_says, "EXT4_IOC_GETSTATE answers on %s, /sys/fs/ext4 does not list it", dir);
	}
	struct utsname u;
	int major_v = 0, minor_v = 0;
	if (sfs.f_type == 0xEF53 && sysfs_says && !refused && uname(&u) == 0 &&
	    sscanf(u.release, "%d.%d", &major_v, &minor_v) == 2 && (major_v > 5 || (major_v == 5 && minor_v >= 3)))
		ck_assert_msg(ioctl_says, "the ext4 driver runs %s but EXT4_IOC_GETSTATE failed: %s", dir,
			      strerror(ioctl_errno));
	close(fd);
	unlink(path);
	/* tmpfs never answers it; /dev/shm is tmpfs only where statfs says so. */
	fd = open("/dev/shm", O_RDONLY | O_DIRECTORY);
	if (fd >= 0) {
		if (fstatfs(fd, &sfs) == 0 && sfs.f_type == 0x01021994)	/* TMPFS_MAGIC */
			ck_assert(!qfile_ext4_driver_ioctl(fd));
		close(fd);
	}
}
END_TEST

/* The mode of the one file in dir, its size into *size, its name into name. */
static mode_t only_file(char *name, size_t namelen, off_t *size)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	mode_t mode = 0;
	int n = 0;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		char *p = xasprintf("%s/%s", dir, e->d_name);
		struct stat st;
		ck_assert_int_eq(stat(p, &st), 0);
		mode = st.st_mode & 07777;
		*size = st.st_size;
		strlcpy(name, e->d_name, namelen);
		free(p);
		n++;
	}
	closedir(d);
	ck_assert_int_eq(n, 1);
	return mode;
}

/*
 * qfile_create_final: the final name at once, mode 0200, the first
 * record written; commit makes it 0644 and it reads back; an abort or a
 * failed commit leaves it empty and 0200 (never unlinked); a file
 * removed before the commit fails it.
 */
/* A pickup taking a published file: its mode seen, then its name gone. */
static char *taken_path;
static int taken_mode;
static void take_published(void)
{
	struct stat st;
	taken_mode = stat(taken_path, &st) == 0 ? (int)(st.st_mode & 07777) : -1;
	ck_assert_int_eq(unlink(taken_path), 0);
}

START_TEST(test_create_final)
{
	struct buf err = BUF_INIT;
	char id[QF_ID_MAX], name[256];
	off_t size;
	struct qfile *q;

	struct qfile_writer *w = qfile_create_final(dir, &err);
	ck_assert_ptr_nonnull(w);
	ck_assert_int_eq(only_file(name, sizeof(name), &size), 0200);
	ck_assert_int_eq(size, (off_t)strlen(QF_MAGIC "\n"));
	ck_assert(qfile_id_valid(name));
	ck_assert_str_eq(name, qfile_writer_id(w));
	ck_assert_int_eq(qfile_set_sender(w, "a@example.org"), 0);
	ck_assert_int_eq(qfile_add_rcpt(w, "b@example.org", 0, NULL), 0);
	ck_assert_int_eq(qfile_write(w, content, strlen(content), &err), 0);
	ck_assert_int_eq(only_file(name, sizeof(name), &size), 0200);
	ck_assert_int_eq(qfile_commit_final(w, 0644, id, sizeof(id), &err), 0);
	ck_assert_int_eq(only_file(name, sizeof(name), &size), 0644);
	ck_assert_str_eq(name, id);
	char *p = xasprintf("%s/%s", dir, id);
	ck_assert_int_eq(qfile_open(p, false, &q, &err), QF_OK);
	ck_assert_str_eq(qfile_id(q), id);
	ck_assert_str_eq(qfile_sender(q), "a@example.org");
	ck_assert_uint_eq(qfile_content_size(q), strlen(content));
	qfile_close(q);
	unlink(p);
	free(p);

	/* Abort: empty, 0200, still there. */
	w = qfile_create_final(dir, &err);
	ck_assert_ptr_nonnull(w);
	ck_assert_int_eq(qfile_write(w, content, strlen(content), &err), 0);
	qfile_abort(w);
	ck_assert_int_eq(only_file(name, sizeof(name), &size), 0200);
	ck_assert_int_eq(size, 0);
	p = xasprintf("%s/%s", dir, name);
	unlink(p);
	free(p);

	/*
	 * A failed fsync once the file was readable: given back its 0200 but
	 * left whole (pickup may have it open; emptying it could hand pickup
	 * a truncated message).
	 */
	w = qfile_create_final(dir, &err);
	ck_assert_ptr_nonnull(w);
	ck_assert_int_eq(qfile_add_rcpt(w, "b@example.org", 0, NULL), 0);
	ck_assert_int_eq(qfile_write(w, content, strlen(content), &err), 0);
	qfile_fault_inject(QF_CALL_FSYNC, 1, EIO, false);
	ck_assert_int_eq(qfile_commit_final(w, 0644, id, sizeof(id), &err), -1);
	ck_assert_ptr_nonnull(strstr(buf_str(&err), "fsync"));
	ck_assert_int_eq(only_file(name, sizeof(name), &size), 0200);
	ck_assert_uint_gt(size, strlen(content));
	p = xasprintf("%s/%s", dir, name);
	unlink(p);
	free(p);
	qfile_fault_reset();

	/*
	 * Taken by pickup (read, committed, unlinked) between the fchmod and
	 * the end of the sync: queued, so a success, also when that sync
	 * fails (before, the writer reported 75 and the caller's retry made
	 * a second copy).
	 */
	for (int fail = 0; fail < 2; fail++) {
		w = qfile_create_final(dir, &err);
		ck_assert_ptr_nonnull(w);
		ck_assert_int_eq(qfile_add_rcpt(w, "b@example.org", 0, NULL), 0);
		ck_assert_int_eq(qfile_write(w, content, strlen(content), &err), 0);
		taken_path = xasprintf("%s/%s", dir, qfile_writer_id(w));
		qfile_fault_rename_hook(take_published);
		if (fail)
			qfile_fault_inject(QF_CALL_FSYNC, 1, EIO, false);
		ck_assert_int_eq(qfile_commit_final(w, 0644, id, sizeof(id), &err), 0);
		ck_assert_int_eq(taken_mode, 0644);
		ck_assert_int_eq(dir_entries(), 0);
		qfile_fault_rename_hook(NULL);
		qfile_fault_reset();
		free(taken_path);
		taken_path = NULL;
	}

	/* Removed under the writer: never a success. */
	w = qfile_create_final(dir, &err);
	ck_assert_ptr_nonnull(w);
	ck_assert_int_eq(qfile_add_rcpt(w, "b@example.org", 0, NULL), 0);
	ck_assert_int_eq(qfile_write(w, content, strlen(content), &err), 0);
	p = xasprintf("%s/%s", dir, qfile_writer_id(w));
	ck_assert_int_eq(unlink(p), 0);
	free(p);
	ck_assert_int_eq(qfile_commit_final(w, 0644, id, sizeof(id), &err), -1);
	ck_assert_ptr_nonnull(strstr(buf_str(&err), "removed"));
	ck_assert_int_eq(dir_entries(), 0);
	buf_free(&err);
}
END_TEST

/*
 * queue_directory_sync = always: a commit's second fsync is the
 * directory's, whatever the file system; failing it fails the commit and
 * takes the renamed file back.
 */
START_TEST(test_dir_sync_always)
{
	struct buf err = BUF_INIT;
	char id[QF_ID_MAX];
	qfile_fault_inject(QF_CALL_FSYNC, 2, EIO, false);
	ck_assert_int_eq(write_sample(id, sizeof(id), &err), -1);
	ck_assert_ptr_nonnull(strstr(buf_str(&err), "cannot fsync queue directory"));
	ck_assert_int_eq(dir_entries(), 0);
	buf_free(&err);
}
END_TEST

START_TEST(test_id_valid)
{
	ck_assert_int_eq(qfile_id_valid(id_cases[_i].id), id_cases[_i].valid);
}
END_TEST

/*
 * Whether a name still is an opened file's (what a delivery process checks
 * after it got the lock): the same file yes; renamed away, replaced by
 * another file, by a symbolic link to it, or unlinked no.
 */
START_TEST(test_still_named)
{
	char *path = xasprintf("%s/A1", dir), *away = xasprintf("%s/A2", dir);
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert(qfile_still_named(fd, path));

	ck_assert_int_eq(rename(path, away), 0);
	ck_assert(!qfile_still_named(fd, path));
	ck_assert(qfile_still_named(fd, away));

	int other = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
	ck_assert_int_ge(other, 0);
	ck_assert(!qfile_still_named(fd, path));
	close(other);

	ck_assert_int_eq(unlink(path), 0);
	ck_assert_int_eq(symlink(away, path), 0);
	ck_assert(!qfile_still_named(fd, path));
	ck_assert_int_eq(unlink(path), 0);

	ck_assert_int_eq(unlink(away), 0);
	ck_assert(!qfile_still_named(fd, away));
	close(fd);
	free(path);
	free(away);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("qfile");
	TCase *tc = tcase_create("core");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_write_fd);
	tcase_add_test(tc, test_commit_dir);
	tcase_add_test(tc, test_empty_sender_and_content);
	tcase_add_test(tc, test_ids_unique);
	tcase_add_test(tc, test_writer_refuses_bad_fields);
	tcase_add_test(tc, test_writer_mode_despite_umask);
	tcase_add_test(tc, test_dir_not_opened_per_commit);
	tcase_add_test(tc, test_abort_leaves_nothing);
	tcase_add_test(tc, test_mark_done);
	tcase_add_test(tc, test_truncated_everywhere);
	tcase_add_loop_test(tc, test_corrupt_table, 0, sizeof(corrupt_cases) / sizeof(corrupt_cases[0]));
	tcase_add_test(tc, test_checksum);
	tcase_add_test(tc, test_checksum_paths);
	tcase_add_test(tc, test_checked_once);
	tcase_add_test(tc, test_open_errors);
	tcase_add_loop_test(tc, test_fault_injection, 0, sizeof(fault_cases) / sizeof(fault_cases[0]));
	tcase_add_loop_test(tc, test_fault_eintr, 0, sizeof(eintr_cases) / sizeof(eintr_cases[0]));
	tcase_add_test(tc, test_fault_eintr_forever);
	tcase_add_test(tc, test_fault_large_content);
	tcase_add_test(tc, test_small_one_write);
	tcase_add_test(tc, test_large_content);
	tcase_add_test(tc, test_end_read_error);
	tcase_add_test(tc, test_open_whole);
	tcase_add_test(tc, test_open_wide_envelope);
	tcase_add_test(tc, test_mark_done_fault);
	tcase_add_test(tc, test_read_file_error);
	tcase_add_test(tc, test_fault_env);
	tcase_add_test(tc, test_move);
	tcase_add_test(tc, test_group_commit_concurrent);
	tcase_add_test(tc, test_group_commit_fsync_failure);
	tcase_add_test(tc, test_shared_sync_batch);
	tcase_add_loop_test(tc, test_shared_sync_split, 0, sizeof(split_cases) / sizeof(split_cases[0]));
	tcase_add_test(tc, test_shared_sync_failure);
	tcase_add_test(tc, test_shared_sync_failure_stragglers);
	tcase_add_loop_test(tc, test_rename_covered, 0, sizeof(covered_cases) / sizeof(covered_cases[0]));
	tcase_add_test(tc, test_renames_atomic);
	tcase_add_loop_test(tc, test_syncfs_covered, 0, sizeof(syncfs_cases) / sizeof(syncfs_cases[0]));
	tcase_add_test(tc, test_dir_sync_always);
	tcase_add_loop_test(tc, test_create_covered, 0, sizeof(create_cases) / sizeof(create_cases[0]));
	tcase_add_test(tc, test_ext4_driver_ioctl);
	tcase_add_test(tc, test_create_final);
	tcase_add_loop_test(tc, test_id_valid, 0, sizeof(id_cases) / sizeof(id_cases[0]));
	tcase_add_test(tc, test_still_named);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
