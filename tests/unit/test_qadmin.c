/*
 * test_qadmin.c - Check suite for the queue administrator's operations
 * (lib/mail/qadmin.c): delete, hold, release and requeue by queue id and
 * for ALL, the opening of a message for ternqueue -c, and each of them
 * when qmgr moves the message between the look-up and the act (access()
 * is wrapped here: it answers, then moves the file, as qmgr's retry of a
 * deferred message would).
 */
#include "compat.h"

#include <check.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mail/qadmin.h"
#include "mail/qfile.h"
#include "util/buf.h"

#include "helper_queue.h"

static char move_trigger[512], move_from[512], move_to[512];

/* The look-up finds the file where it was; qmgr moves it right after. */
int access(const char *name, int mode)
{
	static int (*real_access)(const char *, int);
	int rc;

	if (real_access == NULL)
		*(void **)&real_access = dlsym(RTLD_NEXT, "access");
	rc = real_access(name, mode);
	if (move_trigger[0] != '\0' && strcmp(name, move_trigger) == 0) {
		move_trigger[0] = '\0';
		ck_assert_int_eq(rename(move_from, move_to), 0);
	}
	return rc;
}

/* Arm the move of dir/from/id to dir/to/id at the next look at dir/from/id. */
static void move_when_found(const char *dir, const char *from, const char *to, const char *id)
{
	snprintf(move_from, sizeof(move_from), "%s/%s/%s", dir, from, id);
	snprintf(move_to, sizeof(move_to), "%s/%s/%s", dir, to, id);
	snprintf(move_trigger, sizeof(move_trigger), "%s", move_from);
}

static bool is_in(const char *dir, const char *queue, const char *id)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s/%s", dir, queue, id);
	move_trigger[0] = '\0';
	return access(path, F_OK) == 0;
}

/* The one queue the message is in, "" when none. */
static const char *where(const char *dir, const char *id)
{
	static const char *const q[] = {"incoming", "active", "deferred", "hold", "maildrop"};
	const char *found = "";

	for (size_t i = 0; i < sizeof(q) / sizeof(q[0]); i++)
		if (is_in(dir, q[i], id)) {
			ck_assert_str_eq(found, "");	/* never in two */
			found = q[i];
		}
	return found;
}

START_TEST(test_ops)
{
	char dir[] = "/tmp/test_qadmin.XXXXXX", id[QF_ID_MAX], defer[600];
	FILE *f;

	test_queue_make(dir);
	test_queue_message(dir, "deferred", id, sizeof(id));
	snprintf(defer, sizeof(defer), "%s/defer/%s", dir, id);
	ck_assert_ptr_nonnull(f = fopen(defer, "w"));
	fputs("bob@remote.example\tconnection refused\n", f);
	fclose(f);

	ck_assert_int_eq(qadmin_apply(dir, QADMIN_RELEASE, id), 0);	/* not on hold */
	ck_assert_str_eq(where(dir, id), "deferred");
	ck_assert_int_eq(qadmin_apply(dir, QADMIN_HOLD, id), 1);
	ck_assert_str_eq(where(dir, id), "hold");
	ck_assert_int_eq(qadmin_apply(dir, QADMIN_HOLD, id), 0);	/* already */
	ck_assert_int_eq(qadmin_apply(dir, QADMIN_REQUEUE, id), 1);	/* out of hold too */
	ck_assert_str_eq(where(dir, id), "incoming");
	ck_assert_int_eq(qadmin_apply(dir, QADMIN_REQUEUE, id), 0);	/* on its way */
	ck_assert_int_eq(qadmin_apply(dir, QADMIN_HOLD, id), 1);
	ck_assert_int_eq(qadmin_apply(dir, QADMIN_RELEASE, id), 1);
	ck_assert_str_eq(where(dir, id), "incoming");
	ck_assert_int_eq(qadmin_apply(dir, QADMIN_DELETE, id), 1);
	ck_assert_str_eq(where(dir, id), "");
	ck_assert_int_eq(access(defer, F_OK), -1);	/* its reasons went with it */
	ck_assert_int_eq(qadmin_apply(dir, QADMIN_DELETE, id), 0);
	ck_assert_int_eq(qadmin_apply(dir, QADMIN_DELETE, "../deferred"), 0);
	ck_assert_int_eq(qadmin_apply(dir, QADMIN_DELETE, ""), 0);
	test_queue_remove(dir);
}
END_TEST

START_TEST(test_all)
{
	static const char *const queues[] = {"incoming", "active", "deferred", "hold"};
	char dir[] = "/tmp/test_qadmin.XXXXXX", id[4][QF_ID_MAX];

	test_queue_make(dir);
	for (size_t i = 0; i < 4; i++)
		test_queue_message(dir, queues[i], id[i], sizeof(id[i]));
	ck_assert_uint_eq(qadmin_apply_all(dir, QADMIN_HOLD), 3);
	ck_assert_uint_eq(qadmin_apply_all(dir, QADMIN_RELEASE), 4);
	ck_assert_uint_eq(qadmin_apply_all(dir, QADMIN_DELETE), 4);
	for (size_t i = 0; i < 4; i++)
		ck_assert_str_eq(where(dir, id[i]), "");
	test_queue_remove(dir);
}
END_TEST

/*
 * Found in deferred/, moved to active/ before the act: each operation
 * looks again and acts on the file where it is now.
 */
START_TEST(test_moved_between)
{
	char dir[] = "/tmp/test_qadmin.XXXXXX", id[QF_ID_MAX];
	struct buf err = BUF_INIT;
	struct qfile *q = NULL;
	const char *qname = NULL;

	test_queue_make(dir);
	test_queue_message(dir, "deferred", id, sizeof(id));
	move_when_found(dir, "deferred", "active", id);
	ck_assert_int_eq(qadmin_open(dir, id, &q, &qname, &err), 1);
	ck_assert_str_eq(move_trigger, "");	/* it did move */
	ck_assert_str_eq(qname, "active");
	ck_assert_str_eq(qfile_sender(q), "alice@example.com");
	qfile_close(q);

	ck_assert_int_eq(rename(move_to, move_from), 0);
	move_when_found(dir, "deferred", "active", id);
	ck_assert_int_eq(qadmin_apply(dir, QADMIN_HOLD, id), 1);
	ck_assert_str_eq(move_trigger, "");
	ck_assert_str_eq(where(dir, id), "hold");

	ck_assert_int_eq(qadmin_apply(dir, QADMIN_DELETE, id), 1);
	test_queue_message(dir, "deferred", id, sizeof(id));
	move_when_found(dir, "deferred", "active", id);
	ck_assert_int_eq(qadmin_apply(dir, QADMIN_DELETE, id), 1);
	ck_assert_str_eq(move_trigger, "");
	ck_assert_str_eq(where(dir, id), "");

	/* Gone for good between the look-up and the open: no such message. */
	test_queue_message(dir, "deferred", id, sizeof(id));
	snprintf(move_from, sizeof(move_from), "%s/deferred/%s", dir, id);
	snprintf(move_to, sizeof(move_to), "%s/%s.gone", dir, id);
	snprintf(move_trigger, sizeof(move_trigger), "%s", move_from);
	ck_assert_int_eq(qadmin_open(dir, id, &q, &qname, &err), 0);
	buf_free(&err);
	test_queue_remove(dir);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("qadmin");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_ops);
	tcase_add_test(tc, test_all);
	tcase_add_test(tc, test_moved_between);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
