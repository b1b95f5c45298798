/*
 * helper_queue.c - a scratch queue directory for unit tests (see
 * helper_queue.h). Test code; runs with the tester's privileges.
 */
#include "compat.h"

#include <check.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "mail/qfile.h"
#include "util/buf.h"

#include "helper_queue.h"

void test_queue_make(char *dir)
{
	static const char *const sub[] = {"incoming", "active", "deferred", "hold", "defer", "maildrop"};
	struct buf path = BUF_INIT;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	for (size_t i = 0; i < sizeof(sub) / sizeof(sub[0]); i++) {
		buf_reset(&path);
		buf_printf(&path, "%s/%s", dir, sub[i]);
		ck_assert_int_eq(mkdir(buf_str(&path), 0700), 0);
	}
	buf_free(&path);
}

void test_queue_message(const char *dir, const char *queue, char *id, size_t idsize)
{
	struct buf err = BUF_INIT, path = BUF_INIT;
	struct qfile_writer *w;

	buf_printf(&path, "%s/%s", dir, queue);
	ck_assert_ptr_nonnull(w = qfile_create(buf_str(&path), &err));
	qfile_set_sender(w, "alice@example.com");
	qfile_add_rcpt(w, "bob@remote.example", 0, "");
	ck_assert_int_eq(qfile_write(w, "\nx\n", 3, &err), 0);
	ck_assert_int_eq(qfile_commit(w, id, idsize, &err), 0);
	buf_free(&err);
	buf_free(&path);
}

void test_queue_remove(const char *dir)
{
	struct buf cmd = BUF_INIT;

	buf_printf(&cmd, "rm -rf '%s'", dir);
	ck_assert_int_eq(system(buf_str(&cmd)), 0);
	buf_free(&cmd);
}
