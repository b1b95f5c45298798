/*
 * test_lproto.c - Check suite for typed frames (lib/util/frame.c) and the
 * qmgr <-> delivery agent messages (lib/mail/lproto.c): round trips, and every
 * truncation, extra byte or wrong type is refused.
 */
#include "compat.h"

#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mail/lproto.h"
#include "util/frame.h"

static void sample(struct lreq *q)
{
	lreq_init(q);
	buf_adds(&q->queue_id, "6925C2B10A1B2C3");
	buf_adds(&q->path, "active/6925C2B10A1B2C3");
	buf_adds(&q->sender, "alice@example.com");
	lreq_add_rcpt(q, 0, "bob@localhost", "rfc822;bob@localhost");
	lreq_add_rcpt(q, 3, "carol+x@localhost", "");
	q->hold = true;
	buf_adds(&q->nexthop, "[mx.example.com]:587");
	buf_adds(&q->transport, "relay");
}

START_TEST(test_request_round_trip)
{
	struct lreq q, back;
	struct buf f = BUF_INIT;

	sample(&q);
	lreq_encode(&q, &f);
	lreq_init(&back);
	ck_assert_int_eq(lreq_decode(f.data + 4, f.len - 4, &back), 0);
	ck_assert_str_eq(buf_str(&back.queue_id), "6925C2B10A1B2C3");
	ck_assert_str_eq(buf_str(&back.path), "active/6925C2B10A1B2C3");
	ck_assert_str_eq(buf_str(&back.sender), "alice@example.com");
	ck_assert_uint_eq(back.nrcpt, 2);
	ck_assert_int_eq(back.rcpt[1].index, 3);
	ck_assert_str_eq(buf_str(&back.rcpt[1].address), "carol+x@localhost");
	ck_assert_str_eq(buf_str(&back.rcpt[0].orcpt), "rfc822;bob@localhost");
	ck_assert(back.hold);
	ck_assert_str_eq(buf_str(&back.nexthop), "[mx.example.com]:587");
	ck_assert_str_eq(buf_str(&back.transport), "relay");
	q.hold = false;
	lreq_encode(&q, &f);
	ck_assert_int_eq(lreq_decode(f.data + 4, f.len - 4, &back), 0);
	ck_assert(!back.hold);
	/* Every shorter payload and one with a byte too many are refused. */
	for (size_t n = 0; n < f.len - 4; n++)
		ck_assert_msg(lreq_decode(f.data + 4, n, &back) == -1, "prefix %zu accepted", n);
	buf_addc(&f, 'x');
	ck_assert_int_eq(lreq_decode(f.data + 4, f.len - 4, &back), -1);
	lreq_free(&q);
	lreq_free(&back);
	buf_free(&f);
}
END_TEST

/* Malformed requests built field by field. */
enum { BAD_TAG, BAD_ZERO_RCPT, BAD_NEG_INDEX, BAD_TYPE, BAD_NUL, BAD_TOO_MANY, BAD_HOLD, NO_HOLD,
	NO_TRANSPORT, BAD_NEXTHOP_TYPE, GOOD };

START_TEST(test_request_malformed)
{
	struct buf f = BUF_INIT;
	struct lreq q;

	frame_begin(&f);
	frame_add_str(&f, _i == BAD_TAG ? "deliverx" : "deliver");
	frame_add_str(&f, "ID");
	if (_i == BAD_TYPE)
		frame_add_int(&f, 7);
	else
		frame_add_str(&f, "active/ID");
	frame_add_str(&f, "s@x");
	frame_add_int(&f, _i == BAD_ZERO_RCPT ? 0 : _i == BAD_TOO_MANY ? LPROTO_MAX_RCPT + 1 : 1);
	frame_add_int(&f, _i == BAD_NEG_INDEX ? -1 : 0);
	frame_add_str(&f, "r@x");
	frame_add_str(&f, "");
	if (_i != NO_HOLD)
		frame_add_int(&f, _i == BAD_HOLD ? 2 : 1);
	if (_i == BAD_NEXTHOP_TYPE)
		frame_add_int(&f, 25);
	else
		frame_add_str(&f, "example.com");
	if (_i != NO_TRANSPORT)
		frame_add_str(&f, "smtp");
	frame_finish(&f);
	if (_i == BAD_NUL)
		f.data[f.len - 40] = '\0';	/* inside "r@x" */
	lreq_init(&q);
	/* The last one is the well-formed request the others spoil. */
	ck_assert_int_eq(lreq_decode(f.data + 4, f.len - 4, &q), _i == GOOD ? 0 : -1);
	lreq_free(&q);
	buf_free(&f);
}
END_TEST

static const struct {
	enum lresult result;
	const char *dsn;
	int flags;
	int ok;
} replies[] = {
	{.result = LRESULT_SENT, .dsn = "2.0.0", .ok = 1},
	{.result = LRESULT_SENT, .dsn = "2.0.0", .flags = LREPLY_NOTIFY_PASSED, .ok = 1},
	{.result = LRESULT_SENT, .dsn = "2.0.0", .flags = 2, .ok = 0},
	{.result = LRESULT_SENT, .dsn = "2.0.0", .flags = -1, .ok = 0},
	{.result = LRESULT_DEFER, .dsn = "4.2.2", .ok = 1},
	{.result = LRESULT_BOUNCE, .dsn = "5.1.1", .ok = 1},
	{.result = LRESULT_SENT, .dsn = "5.1.1", .ok = 0},
	{.result = LRESULT_BOUNCE, .dsn = "2.0.0", .ok = 0},
	{.result = LRESULT_DEFER, .dsn = "4", .ok = 0},
	{.result = (enum lresult)3, .dsn = "5.0.0", .ok = 0},
};

START_TEST(test_reply)
{
	struct lreply r, back;
	struct buf f = BUF_INIT;

	lreply_init(&r);
	lreply_init(&back);
	r.index = 5;
	r.result = replies[_i].result;
	buf_adds(&r.dsn, replies[_i].dsn);
	buf_adds(&r.text, "delivered to maildir");
	buf_adds(&r.relay, "mx.example.com[192.0.2.1]:25");
	buf_adds(&r.diag, "550 5.1.1 <x@y>: unknown");
	buf_adds(&r.remote_mta, "mx.example.com");
	r.flags = replies[_i].flags;
	lreply_encode(&r, &f);
	ck_assert_int_eq(lreply_decode(f.data + 4, f.len - 4, &back), replies[_i].ok ? 0 : -1);
	if (replies[_i].ok) {
		ck_assert_int_eq(back.index, 5);
		ck_assert_int_eq(back.result, replies[_i].result);
		ck_assert_str_eq(buf_str(&back.text), "delivered to maildir");
		ck_assert_str_eq(buf_str(&back.relay), "mx.example.com[192.0.2.1]:25");
		ck_assert_str_eq(buf_str(&back.diag), "550 5.1.1 <x@y>: unknown");
		ck_assert_str_eq(buf_str(&back.remote_mta), "mx.example.com");
		ck_assert_int_eq(back.flags, replies[_i].flags);
		/* Every shorter payload and one with a byte too many are refused. */
		for (size_t n = 0; n < f.len - 4; n++)
			ck_assert_msg(lreply_decode(f.data + 4, n, &back) == -1, "prefix %zu accepted", n);
		buf_addc(&f, 'x');
		ck_assert_int_eq(lreply_decode(f.data + 4, f.len - 4, &back), -1);
	}
	lreply_free(&r);
	lreply_free(&back);
	buf_free(&f);
}
END_TEST

START_TEST(test_socket)
{
	int sv[2];
	struct buf f = BUF_INIT, in = BUF_INIT;
	struct lreq q, back;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	sample(&q);
	lreq_encode(&q, &f);
	ck_assert_int_eq(frame_write(sv[0], &f), 0);
	ck_assert_int_eq(frame_read(sv[1], &in), 1);
	lreq_init(&back);
	ck_assert_int_eq(lreq_decode(in.data, in.len, &back), 0);
	/* A length beyond FRAME_MAX is refused before reading it. */
	ck_assert_int_eq(write(sv[0], "\x7f\0\0\0", 4), 4);
	ck_assert_int_eq(frame_read(sv[1], &in), -1);
	close(sv[0]);
	ck_assert_int_eq(frame_read(sv[1], &in), 0);
	close(sv[1]);
	lreq_free(&q);
	lreq_free(&back);
	buf_free(&f);
	buf_free(&in);
}
END_TEST

/* The buffered reader: frames that come together, one split in pieces, the end, errors. */
START_TEST(test_socket_buffered)
{
	int sv[2];
	struct buf f = BUF_INIT, two = BUF_INIT, in = BUF_INIT;
	struct frame_in fin;
	struct lreq q, back;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	frame_in_init(&fin, sv[1]);
	sample(&q);
	lreq_encode(&q, &f);
	/* Two frames and an empty one in one write: three frames out, one read. */
	buf_add(&two, f.data, f.len);
	buf_add(&two, f.data, f.len);
	buf_add(&two, "\0\0\0\0", 4);
	ck_assert_int_eq(write(sv[0], two.data, two.len), (ssize_t)two.len);
	for (int k = 0; k < 2; k++) {
		ck_assert_int_eq(frame_read_in(&fin, &in), 1);
		lreq_init(&back);
		ck_assert_int_eq(lreq_decode(in.data, in.len, &back), 0);
		ck_assert_str_eq(buf_str(&back.queue_id), buf_str(&q.queue_id));
		lreq_free(&back);
	}
	ck_assert_int_eq(frame_read_in(&fin, &in), 1);
	ck_assert_uint_eq(in.len, 0);
	/* A frame in three pieces: its length split, then the payload. */
	ck_assert_int_eq(write(sv[0], f.data, 2), 2);
	ck_assert_int_eq(write(sv[0], f.data + 2, 3), 3);
	ck_assert_int_eq(write(sv[0], f.data + 5, f.len - 5), (ssize_t)(f.len - 5));
	ck_assert_int_eq(frame_read_in(&fin, &in), 1);
	ck_assert_uint_eq(in.len, f.len - 4);
	ck_assert_mem_eq(in.data, f.data + 4, in.len);
	/* A length beyond FRAME_MAX is refused. */
	ck_assert_int_eq(write(sv[0], "\x7f\0\0\0", 4), 4);
	ck_assert_int_eq(frame_read_in(&fin, &in), -1);
	ck_assert_int_eq(errno, EMSGSIZE);
	frame_in_free(&fin);
	/* The end of the file in the middle of a frame is an error; before one, the end. */
	frame_in_init(&fin, sv[1]);
	ck_assert_int_eq(write(sv[0], f.data, f.len - 1), (ssize_t)(f.len - 1));
	close(sv[0]);
	ck_assert_int_eq(frame_read_in(&fin, &in), -1);
	ck_assert_int_eq(errno, EPROTO);
	frame_in_free(&fin);
	close(sv[1]);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	frame_in_init(&fin, sv[1]);
	close(sv[0]);
	ck_assert_int_eq(frame_read_in(&fin, &in), 0);
	frame_in_free(&fin);
	close(sv[1]);
	lreq_free(&q);
	buf_free(&f);
	buf_free(&two);
	buf_free(&in);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("lproto");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_request_round_trip);
	tcase_add_loop_test(tc, test_request_malformed, BAD_TAG, GOOD + 1);
	tcase_add_loop_test(tc, test_reply, 0, (int)(sizeof(replies) / sizeof(replies[0])));
	tcase_add_test(tc, test_socket);
	tcase_add_test(tc, test_socket_buffered);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
