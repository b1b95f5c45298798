/*
 * test_mailq.c - Check suite for the queue listing (lib/mail/mailq_format.c):
 * golden output in sendmail's, Postfix's and postqueue -j's layouts, the
 * empty queue in each, the defer/ID text format, and the scan of a queue
 * whose message moves while it is read (opendir is wrapped here for that).
 */
#include "compat.h"

#include <check.h>
#include <dirent.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mail/login_sender.h"
#include "mail/mailq.h"
#include "mail/qfile.h"

#include "helper_queue.h"

/* Two messages: one deferred with a reason, one active to two recipients. */
static void sample(struct mailq_list *l)
{
	struct mailq_entry *e;

	mailq_list_init(l);
	e = mailq_add(l, "deferred", "6925C2B1E6A5B1A2F", 1764082190, 1234, "alice@example.com");
	mailq_add_rcpt(e, "bob@remote.example", "no SMTP client configured");
	e = mailq_add(l, "active", "6925C2C00000D1A30", 1764082204, 3000, "");
	mailq_add_rcpt(e, "carol@localhost", "");
	mailq_add_rcpt(e, "dave \"x\"@localhost", "");
}

static const char golden_sendmail[] =
    "\t\t/var/spool/tern (2 requests)\n"
    "-----Q-ID----- --Size-- -----Q-Time----- ------------Sender/Recipient-----------\n"
    "6925C2B1E6A5B1A2F     1234 Tue Nov 25 14:49 <alice@example.com>\n"
    "                 (no SMTP client configured)\n"
    "\t\t\t\t\t <bob@remote.example>\n"
    "6925C2C00000D1A30*    3000 Tue Nov 25 14:50 <>\n"
    "\t\t\t\t\t <carol@localhost>\n"
    "\t\t\t\t\t <dave \"x\"@localhost>\n"
    "\t\tTotal requests: 2\n";

static const char golden_postfix[] =
    "-Queue ID-  --Size-- ----Arrival Time---- -Sender/Recipient-------\n"
    "6925C2B1E6A5B1A2F    1234 Tue Nov 25 14:49:50  alice@example.com\n"
    "                                                   (no SMTP client configured)\n"
    "                                         bob@remote.example\n"
    "\n"
    "6925C2C00000D1A30*    3000 Tue Nov 25 14:50:04  MAILER-DAEMON\n"
    "                                         carol@localhost\n"
    "                                         dave \"x\"@localhost\n"
    "\n"
    "-- 4 Kbytes in 2 Requests.\n";

static const char golden_json[] =
    "{\"queue_name\": \"deferred\", \"queue_id\": \"6925C2B1E6A5B1A2F\", \"arrival_time\": 1764082190, "
    "\"message_size\": 1234, \"forced_expire\": false, \"sender\": \"alice@example.com\", "
    "\"recipients\": [{\"address\": \"bob@remote.example\", \"delay_reason\": \"no SMTP client configured\"}]}\n"
    "{\"queue_name\": \"active\", \"queue_id\": \"6925C2C00000D1A30\", \"arrival_time\": 1764082204, "
    "\"message_size\": 3000, \"forced_expire\": false, \"sender\": \"MAILER-DAEMON\", "
    "\"recipients\": [{\"address\": \"carol@localhost\"}, {\"address\": \"dave \\\"x\\\"@localhost\"}]}\n";

static const struct {
	enum mailq_style style;
	int empty;
	const char *want;
} rows[] = {
	{.style = MAILQ_SENDMAIL, .want = golden_sendmail},
	{.style = MAILQ_POSTFIX, .want = golden_postfix},
	{.style = MAILQ_JSON, .want = golden_json},
	{.style = MAILQ_SENDMAIL, .empty = 1, .want = "/var/spool/tern is empty\n\t\tTotal requests: 0\n"},
	{.style = MAILQ_POSTFIX, .empty = 1, .want = "Mail queue is empty\n"},
	{.style = MAILQ_JSON, .empty = 1, .want = ""},
};

START_TEST(test_golden)
{
	struct mailq_list l;
	struct buf out = BUF_INIT;

	if (rows[_i].empty)
		mailq_list_init(&l);
	else
		sample(&l);
	mailq_format(rows[_i].style, "/var/spool/tern", &l, &out);
	ck_assert_str_eq(buf_str(&out), rows[_i].want);
	mailq_list_free(&l);
	buf_free(&out);
}
END_TEST

START_TEST(test_reason_changes_and_hold)
{
	struct mailq_list l;
	struct mailq_entry *e;
	struct buf out = BUF_INIT;

	mailq_list_init(&l);
	e = mailq_add(&l, "hold", "6925C2B1E6A5B1A2F", 1764082190, 10, "a@x");
	mailq_add_rcpt(e, "r1@x", "reason one");
	mailq_add_rcpt(e, "r2@x", "reason one");
	mailq_add_rcpt(e, "r3@x", "");
	e->forced_expire = true;
	mailq_format(MAILQ_POSTFIX, "/q", &l, &out);
	ck_assert_ptr_nonnull(strstr(buf_str(&out), "6925C2B1E6A5B1A2F!#"));
	ck_assert_ptr_nonnull(strstr(buf_str(&out), "(reason unavailable)\n"));
	ck_assert_ptr_nonnull(strstr(buf_str(&out), "-- 0 Kbytes in 1 Request.\n"));
	/* "reason one" is printed once for two recipients. */
	ck_assert_ptr_null(strstr(strstr(buf_str(&out), "(reason one)") + 1, "(reason one)"));
	buf_reset(&out);
	mailq_format(MAILQ_JSON, "/q", &l, &out);
	ck_assert_ptr_nonnull(strstr(buf_str(&out), "\"forced_expire\": true"));
	ck_assert_ptr_nonnull(strstr(buf_str(&out), "\"queue_name\": \"hold\""));
	buf_reset(&out);
	mailq_format(MAILQ_SENDMAIL, "/q", &l, &out);
	ck_assert_ptr_nonnull(strstr(buf_str(&out), "\t\t/q (1 request)\n"));
	ck_assert_ptr_nonnull(strstr(buf_str(&out), "6925C2B1E6A5B1A2F!      10 "));
	mailq_list_free(&l);
	buf_free(&out);
}
END_TEST

/* Mail still in maildrop/ is marked '^' in both text layouts. */
START_TEST(test_maildrop_mark)
{
	struct mailq_list l;
	struct buf out = BUF_INIT;

	mailq_list_init(&l);
	struct mailq_entry *e = mailq_add(&l, "maildrop", "6925C2B1E6A5B1A2F", 1764082190, 10, "erin");
	mailq_add_rcpt(e, "frank@localhost", "");
	mailq_format(MAILQ_SENDMAIL, "/q", &l, &out);
	ck_assert_ptr_nonnull(strstr(buf_str(&out), "\n6925C2B1E6A5B1A2F^      10 "));
	ck_assert_ptr_nonnull(strstr(buf_str(&out), "Total requests: 1\n"));
	buf_reset(&out);
	mailq_format(MAILQ_POSTFIX, "/q", &l, &out);
	ck_assert_ptr_nonnull(strstr(buf_str(&out), "\n6925C2B1E6A5B1A2F^      10 "));
	buf_reset(&out);
	mailq_format(MAILQ_JSON, "/q", &l, &out);
	ck_assert_ptr_nonnull(strstr(buf_str(&out), "{\"queue_name\": \"maildrop\", \"queue_id\": \"6925C2B1E6A5B1A2F\""));
	mailq_list_free(&l);
	buf_free(&out);
}
END_TEST

START_TEST(test_json_escapes)
{
	struct mailq_list l;
	struct buf out = BUF_INIT;

	mailq_list_init(&l);
	struct mailq_entry *e = mailq_add(&l, "deferred", "X", 1, 1, "a\\b\x01");
	mailq_add_rcpt(e, "r@x", "tab\there");
	mailq_format(MAILQ_JSON, "/q", &l, &out);
	ck_assert_ptr_nonnull(strstr(buf_str(&out), "\"sender\": \"a\\\\b\\u0001\""));
	ck_assert_ptr_nonnull(strstr(buf_str(&out), "\"delay_reason\": \"tab\\there\""));
	mailq_list_free(&l);
	buf_free(&out);
}
END_TEST

START_TEST(test_deferlog)
{
	struct deferlog d, back;
	struct buf text = BUF_INIT;

	deferlog_init(&d);
	d.warned = 1764082190;
	deferlog_add(&d, "a@x", "first");
	deferlog_add(&d, "b@x", "line\nbreak");
	deferlog_add(&d, "a@x", "second");
	deferlog_format(&d, &text);
	ck_assert_str_eq(buf_str(&text), "W 1764082190\nR a@x\tsecond\nR b@x\tline break\n");
	deferlog_init(&back);
	deferlog_parse("junk\nR no-tab\nR \tempty\n" "W 1764082190\nR a@x\tsecond\nR b@x\tline break\n", &back);
	ck_assert_int_eq(back.warned, 1764082190);
	ck_assert_uint_eq(back.count, 2);
	ck_assert_str_eq(deferlog_reason(&back, "b@x"), "line break");
	ck_assert_str_eq(deferlog_reason(&back, "zzz"), "");
	ck_assert_int_eq(back.unreadable_since, 0);
	/* The unreadable marks: since when, and when the postmaster was told. */
	d.unreadable_since = 1764082000;
	d.unreadable_told = 1764082300;
	buf_reset(&text);
	deferlog_format(&d, &text);
	ck_assert_str_eq(buf_str(&text), "W 1764082190\nU 1764082000 1764082300\nR a@x\tsecond\nR b@x\tline break\n");
	deferlog_free(&back);
	deferlog_parse(buf_str(&text), &back);
	ck_assert_int_eq(back.unreadable_since, 1764082000);
	ck_assert_int_eq(back.unreadable_told, 1764082300);
	ck_assert_int_eq(back.warned, 1764082190);
	ck_assert_uint_eq(back.count, 2);
	d.unreadable_since = 0;	/* read again: no U line */
	buf_reset(&text);
	deferlog_format(&d, &text);
	ck_assert_ptr_null(strstr(buf_str(&text), "U "));
	deferlog_free(&d);
	deferlog_free(&back);
	buf_free(&text);
}
END_TEST

/*
 * A real queue: two committed files, one recipient done, one defer log, one
 * stray temp file, and one file in maildrop/ not yet picked up.
 */
START_TEST(test_scan)
{
	char dir[] = "/tmp/test_mailq.XXXXXX";
	struct buf err = BUF_INIT, path = BUF_INIT, out = BUF_INIT;
	char id1[QF_ID_MAX], id2[QF_ID_MAX], id3[QF_ID_MAX], id4[QF_ID_MAX], owner[256];
	struct qfile_writer *w;
	struct qfile *q;
	struct mailq_list l;
	struct deferlog d;

	test_queue_make(dir);
	buf_reset(&path);
	buf_printf(&path, "%s/deferred", dir);
	ck_assert_ptr_nonnull(w = qfile_create(buf_str(&path), &err));
	qfile_set_arrival(w, &(struct timeval){.tv_sec = 1764082190});
	qfile_set_sender(w, "alice@example.com");
	qfile_add_rcpt(w, "done@localhost", 0, "");
	qfile_add_rcpt(w, "bob@remote.example", 0, "");
	ck_assert_int_eq(qfile_write(w, "Subject: x\n\nbody\n", 18, &err), 0);
	ck_assert_int_eq(qfile_commit(w, id1, sizeof(id1), &err), 0);
	buf_reset(&path);
	buf_printf(&path, "%s/deferred/%s", dir, id1);
	ck_assert_int_eq(qfile_open(buf_str(&path), true, &q, &err), QF_OK);
	ck_assert_int_eq(qfile_mark_done(q, 0, QF_RCPT_DELIVERED, &err), 0);
	qfile_close(q);
	deferlog_init(&d);
	deferlog_add(&d, "bob@remote.example", "no SMTP client configured");
	ck_assert_int_eq(deferlog_write(dir, id1, &d), 0);
	deferlog_free(&d);
	buf_reset(&path);
	buf_printf(&path, "%s/hold", dir);
	ck_assert_ptr_nonnull(w = qfile_create(buf_str(&path), &err));
	qfile_set_arrival(w, &(struct timeval){.tv_sec = 1764082290});
	qfile_set_sender(w, "");
	qfile_add_rcpt(w, "carol@localhost", 0, "");
	ck_assert_int_eq(qfile_write(w, "\nx\n", 3, &err), 0);
	ck_assert_int_eq(qfile_commit(w, id2, sizeof(id2), &err), 0);
	/* As terndrop writes it with -f: mode 0644, the sender given. */
	buf_reset(&path);
	buf_printf(&path, "%s/maildrop", dir);
	ck_assert_ptr_nonnull(w = qfile_create_mode(buf_str(&path), 0644, &err));
	qfile_set_arrival(w, &(struct timeval){.tv_sec = 1764082390});
	qfile_set_sender(w, "erin");
	qfile_add_attr(w, "uid", "1000");
	qfile_add_attr(w, "sender_given", "yes");
	qfile_add_rcpt(w, "frank@localhost", 0, "");
	ck_assert_int_eq(qfile_write(w, "Subject: y\n\nz\n", 15, &err), 0);
	ck_assert_int_eq(qfile_commit(w, id3, sizeof(id3), &err), 0);
	/* Without -f: no sender in the file; the listing shows the owner's login, as pickup uses it. */
	ck_assert_ptr_nonnull(w = qfile_create_mode(buf_str(&path), 0644, &err));
	qfile_set_arrival(w, &(struct timeval){.tv_sec = 1764082490});
	qfile_set_sender(w, "");
	qfile_add_attr(w, "sender_given", "no");
	qfile_add_rcpt(w, "grace@localhost", 0, "");
	ck_assert_int_eq(qfile_write(w, "Subject: y\n\nz\n", 15, &err), 0);
	ck_assert_int_eq(qfile_commit(w, id4, sizeof(id4), &err), 0);
	ck_assert_int_eq(login_of_uid(getuid(), owner, sizeof(owner), NULL), 0);
	ck_assert_str_ne(owner, "");
	/* A temporary file being written is not listed. */
	buf_reset(&path);
	buf_printf(&path, "%s/incoming", dir);
	ck_assert_ptr_nonnull(w = qfile_create(buf_str(&path), &err));

	mailq_list_init(&l);
	ck_assert_int_eq(mailq_scan(dir, &l, &err), 0);
	ck_assert_uint_eq(l.count, 4);
	ck_assert_str_eq(l.e[3].queue_id, id4);
	ck_assert_str_eq(l.e[3].sender, owner);
	ck_assert_str_eq(l.e[2].queue_id, id3);
	ck_assert_str_eq(l.e[2].queue_name, "maildrop");
	ck_assert_str_eq(l.e[2].sender, "erin");
	ck_assert_uint_eq(l.e[2].nrcpt, 1);
	ck_assert_str_eq(l.e[2].rcpt[0].address, "frank@localhost");
	ck_assert_str_eq(l.e[0].queue_id, id1);
	ck_assert_str_eq(l.e[0].queue_name, "deferred");
	ck_assert_uint_eq(l.e[0].nrcpt, 1);
	ck_assert_str_eq(l.e[0].rcpt[0].address, "bob@remote.example");
	ck_assert_str_eq(l.e[0].rcpt[0].reason, "no SMTP client configured");
	ck_assert_int_eq(l.e[0].size, 18);
	ck_assert_str_eq(l.e[1].queue_name, "hold");
	mailq_format(MAILQ_JSON, dir, &l, &out);
	ck_assert_ptr_nonnull(strstr(buf_str(&out), "\"queue_name\": \"hold\""));
	ck_assert_ptr_nonnull(strstr(buf_str(&out), "\"queue_name\": \"maildrop\""));
	qfile_abort(w);
	test_queue_remove(dir);
	mailq_list_free(&l);
	buf_free(&err);
	buf_free(&path);
	buf_free(&out);
}
END_TEST

/*
 * A message that moves between queue directories while mailq_scan reads
 * them. opendir is wrapped: when the scan opens deferred/ for the first
 * time, the file is renamed from one queue to the other first, as qmgr
 * does when a retry starts (deferred/ to active/) or ends (active/ to
 * deferred/), after active/ was read. access is wrapped likewise for
 * mailq_find.
 */
static char move_from[256], move_to[256], move_trigger[256];

DIR *opendir(const char *name)
{
	static DIR *(*real_opendir)(const char *);

	if (real_opendir == NULL)
		*(void **)&real_opendir = dlsym(RTLD_NEXT, "opendir");
	if (move_trigger[0] != '\0' && strcmp(name, move_trigger) == 0) {
		move_trigger[0] = '\0';
		if (rename(move_from, move_to) < 0)
			return NULL;
	}
	return real_opendir(name);
}

/* The same for access(), which mailq_find asks: the move happens when deferred/ID is asked. */
int access(const char *name, int mode)
{
	static int (*real_access)(const char *, int);

	if (real_access == NULL)
		*(void **)&real_access = dlsym(RTLD_NEXT, "access");
	if (move_trigger[0] != '\0' && strcmp(name, move_trigger) == 0) {
		move_trigger[0] = '\0';
		if (rename(move_from, move_to) < 0)
			return -1;
	}
	return real_access(name, mode);
}

static const char *const moves[][2] = {{"deferred", "active"}, {"active", "deferred"}};

START_TEST(test_scan_moving)
{
	char dir[] = "/tmp/test_mailq.XXXXXX", id[QF_ID_MAX];
	struct buf err = BUF_INIT;
	struct mailq_list l;

	test_queue_make(dir);
	test_queue_message(dir, moves[_i][0], id, sizeof(id));
	snprintf(move_from, sizeof(move_from), "%s/%s/%s", dir, moves[_i][0], id);
	snprintf(move_to, sizeof(move_to), "%s/%s/%s", dir, moves[_i][1], id);
	snprintf(move_trigger, sizeof(move_trigger), "%s/deferred", dir);

	mailq_list_init(&l);
	ck_assert_int_eq(mailq_scan(dir, &l, &err), 0);
	ck_assert_str_eq(move_trigger, "");	/* the move happened during the scan */
	ck_assert_uint_eq(l.count, 1);
	ck_assert_str_eq(l.e[0].queue_id, id);
	ck_assert_str_eq(l.e[0].queue_name, moves[_i][1]);	/* where it is now */
	ck_assert_str_eq(l.e[0].sender, "alice@example.com");
	ck_assert_uint_eq(l.e[0].nrcpt, 1);
	mailq_list_free(&l);
	test_queue_remove(dir);
	buf_free(&err);
}
END_TEST

/* mailq_find: a message that moves from deferred/ to active/ after active/ was asked is found. */
START_TEST(test_find_moving)
{
	char dir[] = "/tmp/test_mailq.XXXXXX", id[QF_ID_MAX];
	const char *qname = NULL;

	test_queue_make(dir);
	test_queue_message(dir, "deferred", id, sizeof(id));
	ck_assert_int_eq(mailq_find(dir, id, &qname), 0);
	ck_assert_str_eq(qname, "deferred");

	snprintf(move_from, sizeof(move_from), "%s/deferred/%s", dir, id);
	snprintf(move_to, sizeof(move_to), "%s/active/%s", dir, id);
	snprintf(move_trigger, sizeof(move_trigger), "%s/deferred/%s", dir, id);
	ck_assert_int_eq(mailq_find(dir, id, &qname), 0);
	ck_assert_str_eq(move_trigger, "");	/* the move happened during the look-up */
	ck_assert_str_eq(qname, "active");
	ck_assert_int_eq(mailq_find(dir, "6925C2C00000D1A30", &qname), -1);

	test_queue_remove(dir);
}
END_TEST

int main(void)
{
	setenv("TZ", "UTC", 1);
	tzset();
	Suite *s = suite_create("mailq");
	TCase *tc = tcase_create("format");
	tcase_add_loop_test(tc, test_golden, 0, (int)(sizeof(rows) / sizeof(rows[0])));
	tcase_add_test(tc, test_reason_changes_and_hold);
	tcase_add_test(tc, test_maildrop_mark);
	tcase_add_test(tc, test_json_escapes);
	tcase_add_test(tc, test_deferlog);
	tcase_add_test(tc, test_scan);
	tcase_add_loop_test(tc, test_scan_moving, 0, 2);
	tcase_add_test(tc, test_find_moving);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
