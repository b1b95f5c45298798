/*
 * test_milter_proto.c - Check suite for the MTA side of the milter
 * protocol (lib/mail/milter_proto.c, milter_conv.c): every encoder and
 * every reply against bytes written by hand from mfdef.h, negotiation,
 * and whole conversations under several negotiated flag sets, with
 * malformed, truncated and oversized input.
 */
#include "compat.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "mail/milter_proto.h"
#include "util/mem.h"

/* A byte string literal and its length (literals may hold NULs). */
#define B(s) s, sizeof(s) - 1

static void assert_bytes(const struct buf *got, const char *want, size_t wlen, const char *what)
{
	ck_assert_msg(got->len == wlen && memcmp(got->data, want, wlen) == 0,
		      "%s: got %zu bytes, want %zu", what, got->len, wlen);
}

/* ---- encoders ---- */

static const char *const macros_c[] = {"j", "mx.example", "_", "c.example [192.0.2.1]"};
static const char *const mail_args[] = {"SIZE=100", "BODY=8BITMIME"};
static const char *const rcpt_args[] = {"NOTIFY=NEVER"};

enum enc_id {
	E_OPTNEG, E_OPTNEG2, E_MACRO, E_CONN4, E_CONN6, E_CONNL, E_CONNU, E_HELO, E_MAIL, E_MAIL_NULL,
	E_RCPT, E_DATA, E_HEADER, E_EOH, E_BODY, E_EOB, E_ABORT, E_QUIT, E_QUIT_NC, E_UNKNOWN,
};

static const struct {
	enum enc_id id;
	const char *want;
	size_t wlen;
} enc_rows[] = {
	{E_OPTNEG, B("\0\0\0\x0d" "O" "\0\0\0\x06" "\0\0\x01\xff" "\0\x1f\xff\xff")},
	{E_OPTNEG2, B("\0\0\0\x0d" "O" "\0\0\0\x02" "\0\0\0\x3f" "\0\0\0\x7f")},
	{E_MACRO, B("\0\0\0\x27" "D" "C" "j\0" "mx.example\0" "_\0" "c.example [192.0.2.1]\0")},
	{E_CONN4, B("\0\0\0\x18" "C" "c.example\0" "4" "\0\x19" "192.0.2.1\0")},
	{E_CONN6, B("\0\0\0\x13" "C" "h6\0" "6" "\x02\x4b" "2001:db8::1\0")},
	{E_CONNL, B("\0\0\0\x1a" "C" "localhost\0" "L" "\0\0" "/run/x.sock\0")},
	{E_CONNU, B("\0\0\0\x0a" "C" "unknown\0" "U")},
	{E_HELO, B("\0\0\0\x10" "H" "client.example\0")},
	{E_MAIL, B("\0\0\0\x26" "M" "<a@b.example>\0" "SIZE=100\0" "BODY=8BITMIME\0")},
	{E_MAIL_NULL, B("\0\0\0\x04" "M" "<>\0")},
	{E_RCPT, B("\0\0\0\x1c" "R" "<r@c.example>\0" "NOTIFY=NEVER\0")},
	{E_DATA, B("\0\0\0\x01" "T")},
	{E_HEADER, B("\0\0\0\x12" "L" "Subject\0" "hi there\0")},
	{E_EOH, B("\0\0\0\x01" "N")},
	{E_BODY, B("\0\0\0\x07" "B" "line\r\n")},
	{E_EOB, B("\0\0\0\x01" "E")},
	{E_ABORT, B("\0\0\0\x01" "A")},
	{E_QUIT, B("\0\0\0\x01" "Q")},
	{E_QUIT_NC, B("\0\0\0\x01" "K")},
	{E_UNKNOWN, B("\0\0\0\x0a" "U" "XFOO bar\0")},
};

START_TEST(test_encode)
{
	struct buf out = BUF_INIT;
	buf_adds(&out, "x");	/* encoders append */
	switch (enc_rows[_i].id) {
	case E_OPTNEG: milter_enc_optneg(&out, 6, 0x1ff, 0x1fffff); break;
	case E_OPTNEG2: milter_enc_optneg(&out, 2, 0x3f, 0x7f); break;
	case E_MACRO: milter_enc_macro(&out, 'C', macros_c, 2); break;
	case E_CONN4: milter_enc_connect(&out, "c.example", MILTER_FAM_INET, 25, "192.0.2.1"); break;
	case E_CONN6: milter_enc_connect(&out, "h6", MILTER_FAM_INET6, 587, "2001:db8::1"); break;
	case E_CONNL: milter_enc_connect(&out, "localhost", MILTER_FAM_UNIX, 99, "/run/x.sock"); break;
	case E_CONNU: milter_enc_connect(&out, "unknown", MILTER_FAM_UNKNOWN, 25, "ignored"); break;
	case E_HELO: milter_enc_helo(&out, "client.example"); break;
	case E_MAIL: milter_enc_mail(&out, "<a@b.example>", mail_args, 2); break;
	case E_MAIL_NULL: milter_enc_mail(&out, "<>", NULL, 0); break;
	case E_RCPT: milter_enc_rcpt(&out, "<r@c.example>", rcpt_args, 1); break;
	case E_DATA: milter_enc_data(&out); break;
	case E_HEADER: milter_enc_header(&out, "Subject", "hi there"); break;
	case E_EOH: milter_enc_eoh(&out); break;
	case E_BODY: milter_enc_body(&out, "line\r\n", 6); break;
	case E_EOB: milter_enc_bodyeob(&out); break;
	case E_ABORT: milter_enc_abort(&out); break;
	case E_QUIT: milter_enc_quit(&out); break;
	case E_QUIT_NC: milter_enc_quit_nc(&out); break;
	case E_UNKNOWN: milter_enc_unknown(&out, "XFOO bar"); break;
	}
	ck_assert_int_eq(out.data[0], 'x');
	buf_consume(&out, 1);
	assert_bytes(&out, enc_rows[_i].want, enc_rows[_i].wlen, "encoder");
	buf_free(&out);
}
END_TEST

/* ---- framing ---- */

static const struct {
	const char *in;
	size_t len;
	size_t max;
	int want;		/* 1 packet, 0 more, -1 error */
	size_t used;
	const char *err;
} frame_rows[] = {
	{B("\0\0\0\x01" "c"), MILTER_MDS_64K, 1, 5, NULL},
	{B("\0\0\0\x01" "c" "\0\0"), MILTER_MDS_64K, 1, 5, NULL},	/* the rest stays */
	{B("\0\0\0"), MILTER_MDS_64K, 0, 0, NULL},
	{B("\0\0\0\x03" "h" "X"), MILTER_MDS_64K, 0, 0, NULL},
	{B("\0\0\0\0" "c"), MILTER_MDS_64K, -1, 0, "length 0"},
	{B("\0\x01\0\0"), MILTER_MDS_64K, 0, 0, NULL},			/* 65535 data bytes: fine, wait */
	{B("\0\x01\0\x01"), MILTER_MDS_64K, -1, 0, "larger"},		/* 65536: refused at once */
	{B("\0\x04\0\0"), MILTER_MDS_256K, 0, 0, NULL},
	{B("\0\x04\0\x01"), MILTER_MDS_256K, -1, 0, "larger"},
	{B("\0\x10\0\x01"), MILTER_MDS_1M, -1, 0, "larger"},
	{B("\xff\xff\xff\xff"), MILTER_MDS_1M, -1, 0, "larger"},
};

START_TEST(test_frame)
{
	char cmd = 0;
	const char *data = NULL, *err = NULL;
	size_t dlen = 0, used = 0;
	int r = milter_pkt_take(frame_rows[_i].in, frame_rows[_i].len, frame_rows[_i].max,
				&cmd, &data, &dlen, &used, &err);
	ck_assert_int_eq(r, frame_rows[_i].want);
	if (r == 1) {
		ck_assert_uint_eq(used, frame_rows[_i].used);
		ck_assert_int_eq(cmd, 'c');
		ck_assert_uint_eq(dlen, 0);
	}
	if (r < 0)
		ck_assert_ptr_nonnull(strstr(err, frame_rows[_i].err));
}
END_TEST

/* ---- decoder ---- */

static const struct {
	const char *pkt;	/* a whole packet: length, command, data */
	size_t len;
	const char *err;	/* NULL: decodes */
	char cmd;
	int code;
	const char *text;	/* REPLYCODE text, SETSYMLIST list */
	const char *name, *value;
	uint32_t index;
	const char *body;
	size_t body_len;
	uint32_t version, actions, proto;
	const char *sym0, *sym2;
} dec_rows[] = {
	{B("\0\0\0\x01" "c"), .cmd = 'c'},
	{B("\0\0\0\x01" "a"), .cmd = 'a'},
	{B("\0\0\0\x01" "r"), .cmd = 'r'},
	{B("\0\0\0\x01" "t"), .cmd = 't'},
	{B("\0\0\0\x01" "d"), .cmd = 'd'},
	{B("\0\0\0\x01" "s"), .cmd = 's'},
	{B("\0\0\0\x01" "p"), .cmd = 'p'},
	{B("\0\0\0\x01" "4"), .cmd = '4'},
	{B("\0\0\0\x01" "f"), .cmd = 'f'},
	{B("\0\0\0\x02" "c" "\0"), .err = "unexpected data"},
	{B("\0\0\0\x02" "a" "x"), .err = "unexpected data"},
	{B("\0\0\0\x01" "Z"), .err = "unknown milter reply"},
	/* REPLYCODE */
	{B("\0\0\0\x13" "y" "550 5.7.1 go away\0"), .cmd = 'y', .code = 550, .text = "550 5.7.1 go away"},
	{B("\0\0\0\x1a" "y" "550-5.7.1 a\r\n550 5.7.1 b\0"), .cmd = 'y', .code = 550,
	 .text = "550-5.7.1 a\r\n550 5.7.1 b"},
	{B("\0\0\0\x16" "y" "421 4.3.2 100%% busy\0"), .cmd = 'y', .code = 421, .text = "421 4.3.2 100% busy"},
	{B("\0\0\0\x05" "y" "450\0"), .cmd = 'y', .code = 450, .text = "450"},
	{B("\0\0\0\x0b" "y" "451 later\0"), .cmd = 'y', .code = 451, .text = "451 later"},
	{B("\0\0\0\x08" "y" "250 ok\0"), .err = "not 4xx or 5xx"},
	{B("\0\0\0\x08" "y" "650 no\0"), .err = "not 4xx or 5xx"},
	{B("\0\0\0\x05" "y" "55\0\0"), .err = "malformed milter reply code"},
	{B("\0\0\0\x04" "y" "55\0"), .err = "not 4xx or 5xx"},
	{B("\0\0\0\x0d" "y" "550 4.7.1 x\0"), .err = "class differs"},
	{B("\0\0\0\x0e" "y" "550-a\r\n551 b\0"), .err = "changes"},
	{B("\0\0\0\x07" "y" "550-a\0"), .err = "continuation"},
	{B("\0\0\0\x0e" "y" "550 a\r\n550 b\0"), .err = "continues after"},
	{B("\0\0\0\x09" "y" "550 a\nb\0"), .err = "control character"},
	{B("\0\0\0\x09" "y" "550 a\r\n\0"), .err = "line end"},
	{B("\0\0\0\x0b" "y" "550 5.7 x\0"), .err = "enhanced"},
	{B("\0\0\0\x06" "y" "550x\0"), .err = "space or '-'"},
	{B("\0\0\0\x07" "y" "550 ok"), .err = "malformed milter reply code"},
	{B("\0\0\0\x07" "y" "550\0x\0"), .err = "malformed milter reply code"},
	{B("\0\0\0\x01" "y"), .err = "malformed milter reply code"},
	/* header edits */
	{B("\0\0\0\x0c" "h" "X-Spam\0" "yes\0"), .cmd = 'h', .name = "X-Spam", .value = "yes"},
	{B("\0\0\0\x0c" "h" "X-Dk\0" " a\n\tb\0"), .cmd = 'h', .name = "X-Dk", .value = " a\n\tb"},
	{B("\0\0\0\x0c" "h" "X Spam\0" "yes\0"), .err = "invalid header name"},
	{B("\0\0\0\x06" "h" "\0" "yes\0"), .err = "invalid header name"},
	{B("\0\0\0\x0c" "h" "X:Spam\0" "yes\0"), .err = "invalid header name"},
	{B("\0\0\0\x03" "h" "X\0"), .err = "malformed milter header change"},
	{B("\0\0\0\x07" "h" "X\0" "y\0" "z\0"), .err = "malformed milter header change"},
	{B("\0\0\0\x04" "h" "X\0" "y"), .err = "malformed milter header change"},
	{B("\0\0\0\x0b" "i" "\0\0\0\0" "X-A\0" "v\0"), .cmd = 'i', .name = "X-A", .value = "v", .index = 0},
	{B("\0\0\0\x0b" "i" "\0\0\x01\x02" "X-A\0" "v\0"), .cmd = 'i', .name = "X-A", .value = "v",
	 .index = 0x102},
	{B("\0\0\0\x0e" "m" "\0\0\0\x02" "Subject\0" "\0"), .cmd = 'm', .name = "Subject", .value = "",
	 .index = 2},
	{B("\0\0\0\x03" "m" "\0\0"), .err = "truncated"},
	{B("\0\0\0\x05" "m" "\0\0\0\x01"), .err = "malformed milter header change"},
	/* envelope edits */
	{B("\0\0\0\x07" "+" "<n@x>\0"), .cmd = '+', .name = "<n@x>"},
	{B("\0\0\0\x07" "-" "<o@x>\0"), .cmd = '-', .name = "<o@x>"},
	{B("\0\0\0\x14" "2" "<n@x>\0" "NOTIFY=NEVER\0"), .cmd = '2', .name = "<n@x>", .value = "NOTIFY=NEVER"},
	{B("\0\0\0\x07" "2" "<n@x>\0"), .cmd = '2', .name = "<n@x>"},
	{B("\0\0\0\x0f" "e" "<s@x>\0" "SIZE=10\0"), .cmd = 'e', .name = "<s@x>", .value = "SIZE=10"},
	{B("\0\0\0\x04" "e" "<>\0"), .cmd = 'e', .name = "<>"},
	{B("\0\0\0\x02" "e" "\0"), .err = "malformed milter envelope change"},
	{B("\0\0\0\x09" "+" "<n@x>\0" "a\0"), .err = "malformed milter envelope change"},
	{B("\0\0\0\x06" "-" "<o@x>"), .err = "malformed milter envelope change"},
	{B("\0\0\0\x01" "+"), .err = "malformed milter envelope change"},
	{B("\0\0\0\x0a" "2" "a\0" "b\0" "c\0" "d\0" "e"), .err = "malformed milter envelope change"},
	/* body and quarantine */
	{B("\0\0\0\x0b" "b" "new body\r\n"), .cmd = 'b', .body = "new body\r\n", .body_len = 10},
	{B("\0\0\0\x04" "b" "a\0b"), .cmd = 'b', .body = "a\0b", .body_len = 3},
	{B("\0\0\0\x01" "b"), .cmd = 'b', .body = "", .body_len = 0},
	{B("\0\0\0\x06" "q" "spam\0"), .cmd = 'q', .name = "spam"},
	{B("\0\0\0\x05" "q" "spam"), .err = "quarantine"},
	/* negotiation */
	{B("\0\0\0\x0d" "O" "\0\0\0\x06" "\0\0\x01\xff" "\0\x1f\xff\xff"), .cmd = 'O', .version = 6,
	 .actions = 0x1ff, .proto = 0x1fffff},
	{B("\0\0\0\x31" "O" "\0\0\0\x06" "\0\0\x01\0" "\0\0\0\0" "\0\0\0\0" "j {daemon_name}\0"
	   "\0\0\0\x02" "{mail_addr}\0"), .cmd = 'O', .version = 6, .actions = 0x100,
	 .sym0 = "j {daemon_name}", .sym2 = "{mail_addr}"},
	{B("\0\0\0\x0c" "O" "\0\0\0\x06" "\0\0\x01\0" "\0\0\0"), .err = "truncated milter negotiation"},
	{B("\0\0\0\x13" "O" "\0\0\0\x06" "\0\0\0\0" "\0\0\0\0" "\0\0\0\x07" "j\0"), .err = "unknown macro stage"},
	{B("\0\0\0\x13" "O" "\0\0\0\x06" "\0\0\0\0" "\0\0\0\0" "\0\0\0\x01" "jj"), .err = "unterminated"},
	{B("\0\0\0\x11" "O" "\0\0\0\x06" "\0\0\0\0" "\0\0\0\0" "\0\0\0\x01"), .err = "truncated macro list"},
	{B("\0\0\0\x19" "O" "\0\0\0\x06" "\0\0\0\0" "\0\0\0\0" "\0\0\0\x01" "j\0" "\0\0\0\x01" "k\0"),
	 .err = "twice"},
	{B("\0\0\0\x11" "l" "\0\0\0\x03" "{rcpt_addr}\0"), .cmd = 'l', .text = "{rcpt_addr}"},
	{B("\0\0\0\x07" "l" "\0\0\0\x09" "x\0"), .err = "unknown macro stage"},
	{B("\0\0\0\x04" "l" "\0\0\0"), .err = "malformed milter macro list"},
};

static void check_str(const char *got, const char *want, const char *what)
{
	if (!want)
		ck_assert_msg(got == NULL, "%s: got \"%s\", want none", what, got);
	else
		ck_assert_msg(got && strcmp(got, want) == 0, "%s: got \"%s\", want \"%s\"", what,
			      got ? got : "(null)", want);
}

START_TEST(test_decode)
{
	char cmd;
	const char *data, *err = NULL;
	size_t dlen, used;
	struct milter_reply r;

	ck_assert_int_eq(milter_pkt_take(dec_rows[_i].pkt, dec_rows[_i].len, MILTER_MDS_64K, &cmd, &data,
					 &dlen, &used, &err), 1);
	ck_assert_uint_eq(used, dec_rows[_i].len);
	/* The decoder gets an exact copy, so that ASan sees any over-read. */
	char *copy = xmalloc(dlen ? dlen : 1);
	memcpy(copy, data, dlen);
	int rc = milter_reply_decode(cmd, copy, dlen, &r, &err);
	if (dec_rows[_i].err) {
		ck_assert_int_eq(rc, -1);
		ck_assert_msg(strstr(err, dec_rows[_i].err), "row %d: got \"%s\", want \"%s\"", _i, err,
			      dec_rows[_i].err);
	} else {
		ck_assert_msg(rc == 0, "row %d: %s", _i, err);
		ck_assert_int_eq(r.cmd, dec_rows[_i].cmd);
		ck_assert_int_eq(r.code, dec_rows[_i].code);
		check_str(r.text, dec_rows[_i].text, "text");
		if (r.cmd != 'O' && r.cmd != 'l' && r.cmd != 'y') {
			check_str(r.mod.name, dec_rows[_i].name, "name");
			check_str(r.mod.value, dec_rows[_i].value, "value");
		}
		ck_assert_uint_eq(r.mod.index, dec_rows[_i].index);
		if (dec_rows[_i].body) {
			ck_assert_uint_eq(r.mod.body_len, dec_rows[_i].body_len);
			ck_assert_int_eq(memcmp(r.mod.body, dec_rows[_i].body, r.mod.body_len), 0);
		} else {
			ck_assert_ptr_null(r.mod.body);
		}
		ck_assert_uint_eq(r.version, dec_rows[_i].version);
		ck_assert_uint_eq(r.actions, dec_rows[_i].actions);
		ck_assert_uint_eq(r.proto, dec_rows[_i].proto);
		check_str(r.symlist[0], dec_rows[_i].sym0, "symlist 0");
		check_str(r.symlist[2], dec_rows[_i].sym2, "symlist 2");
		if (r.cmd == 'l')
			ck_assert_uint_eq(r.stage, 3);
	}
	milter_reply_free(&r);
	free(copy);
}
END_TEST

/* Every prefix of every valid reply decodes or fails cleanly (ASan). */
START_TEST(test_decode_truncated)
{
	for (size_t i = 0; i < sizeof dec_rows / sizeof dec_rows[0]; i++) {
		if (dec_rows[i].len < 5)
			continue;
		for (size_t n = 0; n <= dec_rows[i].len - 5; n++) {
			char *copy = xmalloc(n ? n : 1);
			memcpy(copy, dec_rows[i].pkt + 5, n);
			struct milter_reply r;
			const char *err = NULL;
			if (milter_reply_decode(dec_rows[i].pkt[4], copy, n, &r, &err) < 0)
				ck_assert_ptr_nonnull(err);
			milter_reply_free(&r);
			free(copy);
		}
	}
}
END_TEST

/* ---- negotiation ---- */

START_TEST(test_offer)
{
	struct milter_offer o;
	milter_offer_init(&o, 6, 0);
	ck_assert_uint_eq(o.version, 6);
	ck_assert_uint_eq(o.actions, 0x1ff);
	ck_assert_uint_eq(o.proto, 0x1fffff);
	milter_offer_init(&o, 6, MILTER_MDS_256K);
	ck_assert_uint_eq(o.proto, 0x101fffff);
	milter_offer_init(&o, 6, MILTER_MDS_1M);
	ck_assert_uint_eq(o.proto, 0x201fffff);
	milter_offer_init(&o, 2, MILTER_MDS_1M);
	ck_assert_uint_eq(o.version, 2);
	ck_assert_uint_eq(o.actions, 0x3f);
	ck_assert_uint_eq(o.proto, 0x7f);
	milter_offer_init(&o, 4, 0);
	ck_assert_uint_eq(o.proto, 0x3ff);
}
END_TEST

static const struct {
	uint32_t offer_version;
	size_t offer_mds;
	uint32_t version, actions, proto;
	const char *err;
	size_t max_data;
} neg_rows[] = {
	{6, 0, 6, 0x1ff, 0x1fffff, NULL, MILTER_MDS_64K},
	{6, 0, 6, 0, 0, NULL, MILTER_MDS_64K},
	{6, 0, 2, 0x01, 0x01, NULL, MILTER_MDS_64K},	/* an older filter */
	{6, 0, 7, 0, 0, "version", 0},
	{6, 0, 1, 0, 0, "version", 0},
	{2, 0, 6, 0, 0, "version", 0},
	{6, 0, 6, 0x200, 0, "actions", 0},
	{2, 0, 2, 0x40, 0, "actions", 0},		/* CHGFROM is not a version 2 action */
	{2, 0, 2, 0, 0x80, "protocol steps", 0},	/* NR_HDR not offered to version 2 */
	{6, 0, 6, 0, 0x00200000, "protocol steps", 0},
	{6, 0, 6, 0, 0x10000000, "protocol steps", 0},	/* MDS not offered */
	{6, MILTER_MDS_1M, 6, 0, 0x20000000, NULL, MILTER_MDS_1M},
	{6, MILTER_MDS_256K, 6, 0, 0x10000000, NULL, MILTER_MDS_256K},
	{6, MILTER_MDS_1M, 6, 0, 0x10000000, "protocol steps", 0},
	{6, 0, 6, 0, 0x80000000, "protocol steps", 0},
};

START_TEST(test_negotiate)
{
	struct milter_offer o;
	struct milter_reply r;
	struct milter_neg n;
	const char *err = NULL;

	milter_offer_init(&o, neg_rows[_i].offer_version, neg_rows[_i].offer_mds);
	memset(&r, 0, sizeof r);
	r.cmd = 'O';
	r.version = neg_rows[_i].version;
	r.actions = neg_rows[_i].actions;
	r.proto = neg_rows[_i].proto;
	int rc = milter_negotiate(&o, &r, &n, &err);
	if (neg_rows[_i].err) {
		ck_assert_int_eq(rc, -1);
		ck_assert_ptr_nonnull(strstr(err, neg_rows[_i].err));
	} else {
		ck_assert_int_eq(rc, 0);
		ck_assert_uint_eq(n.max_data, neg_rows[_i].max_data);
		ck_assert_uint_eq(n.proto, neg_rows[_i].proto);
	}
	milter_neg_free(&n);
	milter_reply_free(&r);
}
END_TEST

START_TEST(test_negotiate_symlist)
{
	struct milter_offer o;
	struct milter_reply r;
	struct milter_neg n;
	const char *err;

	milter_offer_init(&o, 6, 0);
	memset(&r, 0, sizeof r);
	r.version = 6;
	r.actions = MILTER_F_SETSYMLIST;
	r.symlist[MILTER_M_ENVFROM] = xstrdup("{mail_addr}");
	ck_assert_int_eq(milter_negotiate(&o, &r, &n, &err), 0);
	ck_assert_str_eq(n.symlist[MILTER_M_ENVFROM], "{mail_addr}");
	milter_neg_free(&n);
	milter_reply_free(&r);

	/* Without the action, as in sendmail, the lists are ignored. */
	memset(&r, 0, sizeof r);
	r.version = 6;
	r.symlist[MILTER_M_ENVFROM] = xstrdup("{mail_addr}");
	ck_assert_int_eq(milter_negotiate(&o, &r, &n, &err), 0);
	ck_assert_ptr_null(n.symlist[MILTER_M_ENVFROM]);
	milter_neg_free(&n);
	milter_reply_free(&r);
}
END_TEST

/* ---- conversations ---- */

static struct milter_conv conv;
static struct buf out, in;

#define R_CONT "\0\0\0\x01" "c"
#define R_ACCEPT "\0\0\0\x01" "a"
#define R_REJECT "\0\0\0\x01" "r"
#define R_DISCARD "\0\0\0\x01" "d"
#define R_SKIP "\0\0\0\x01" "s"
#define R_PROGRESS "\0\0\0\x01" "p"
#define R_SHUTDOWN "\0\0\0\x01" "4"
#define R_ADDHDR "\0\0\0\x0c" "h" "X-Spam\0" "yes\0"

static enum milter_next feed(const char *b, size_t n)
{
	buf_reset(&out);
	buf_add(&in, b, n);
	return milter_conv_input(&conv, &in, &out);
}

/* Open a conversation: offer, then the filter's answer. */
static void conv_open(uint32_t version, size_t mds, uint32_t rversion, uint32_t acts, uint32_t proto)
{
	struct milter_offer o;
	struct buf reply = BUF_INIT;

	milter_offer_init(&o, version, mds);
	milter_conv_init(&conv, &o);
	buf_init(&in);
	buf_init(&out);
	ck_assert_int_eq(milter_conv_start(&conv, &out), MILTER_WAIT);
	ck_assert_uint_eq(out.len, 17);
	milter_enc_optneg(&reply, rversion, acts, proto);	/* same layout as the reply */
	ck_assert_int_eq(feed(reply.data, reply.len), MILTER_DONE);
	ck_assert_int_eq(conv.state, MILTER_CONV_READY);
	buf_free(&reply);
}

static void conv_close(void)
{
	milter_conv_free(&conv);
	buf_free(&in);
	buf_free(&out);
}

static enum milter_next stage(enum milter_stage st)
{
	struct milter_event ev = {.stage = st};
	buf_reset(&out);
	switch (st) {
	case MILTER_S_CONNECT:
		ev.macros = macros_c;
		ev.nmacros = 2;
		ev.host = "c.example";
		ev.family = MILTER_FAM_INET;
		ev.port = 25;
		ev.addr = "192.0.2.1";
		break;
	case MILTER_S_HELO:
		ev.arg = "client.example";
		break;
	case MILTER_S_MAIL:
		ev.arg = "<a@b.example>";
		ev.args = mail_args;
		ev.nargs = 2;
		break;
	case MILTER_S_RCPT:
		ev.arg = "<r@c.example>";
		ev.args = rcpt_args;
		ev.nargs = 1;
		break;
	case MILTER_S_UNKNOWN:
		ev.arg = "XFOO bar";
		break;
	case MILTER_S_HEADER:
		ev.arg = "Subject";
		ev.value = " hi there";
		break;
	case MILTER_S_BODY:
		ev.body = "line\r\n";
		ev.body_len = 6;
		break;
	default:
		break;
	}
	return milter_conv_stage(&conv, &ev, &out);
}

static enum milter_next body(size_t n)
{
	char *b = xmalloc(n);
	memset(b, 'a', n);
	struct milter_event ev = {.stage = MILTER_S_BODY, .body = b, .body_len = n};
	buf_reset(&out);
	enum milter_next r = milter_conv_stage(&conv, &ev, &out);
	free(b);
	return r;
}

#define OUT_IS(lit) assert_bytes(&out, B(lit), #lit)

/* A whole message, every stage answered, with every edit at the end. */
START_TEST(test_conv_full)
{
	conv_open(6, 0, 6, MILTER_F_ALL, 0);
	ck_assert_int_eq(stage(MILTER_S_CONNECT), MILTER_WAIT);
	OUT_IS("\0\0\0\x27" "D" "C" "j\0" "mx.example\0" "_\0" "c.example [192.0.2.1]\0"
	       "\0\0\0\x18" "C" "c.example\0" "4" "\0\x19" "192.0.2.1\0");
	ck_assert_int_eq(feed(B(R_CONT)), MILTER_DONE);
	ck_assert_int_eq(conv.verdict, MILTER_V_CONTINUE);
	ck_assert_int_eq(stage(MILTER_S_HELO), MILTER_WAIT);
	OUT_IS("\0\0\0\x10" "H" "client.example\0");
	ck_assert_int_eq(feed(B(R_CONT)), MILTER_DONE);
	ck_assert_int_eq(stage(MILTER_S_MAIL), MILTER_WAIT);
	OUT_IS("\0\0\0\x26" "M" "<a@b.example>\0" "SIZE=100\0" "BODY=8BITMIME\0");
	ck_assert_int_eq(feed(B(R_CONT)), MILTER_DONE);
	/* A refused recipient leaves the message going. */
	ck_assert_int_eq(stage(MILTER_S_RCPT), MILTER_WAIT);
	OUT_IS("\0\0\0\x1c" "R" "<r@c.example>\0" "NOTIFY=NEVER\0");
	ck_assert_int_eq(feed(B(R_REJECT)), MILTER_DONE);
	ck_assert_int_eq(conv.verdict, MILTER_V_REJECT);
	ck_assert_int_eq(stage(MILTER_S_RCPT), MILTER_WAIT);
	ck_assert_int_eq(feed(B("\0\0\0\x13" "y" "550 5.7.1 go away\0")), MILTER_DONE);
	ck_assert_int_eq(conv.verdict, MILTER_V_REPLYCODE);
	ck_assert_int_eq(conv.code, 550);
	ck_assert_str_eq(conv.text, "550 5.7.1 go away");
	ck_assert_int_eq(stage(MILTER_S_RCPT), MILTER_WAIT);
	ck_assert_int_eq(feed(B(R_CONT)), MILTER_DONE);
	ck_assert_ptr_null(conv.text);
	ck_assert_int_eq(stage(MILTER_S_DATA), MILTER_WAIT);
	OUT_IS("\0\0\0\x01" "T");
	ck_assert_int_eq(feed(B(R_CONT)), MILTER_DONE);
	/* Without HDR_LEADSPC the blank after the colon is not sent. */
	ck_assert_int_eq(stage(MILTER_S_HEADER), MILTER_WAIT);
	OUT_IS("\0\0\0\x12" "L" "Subject\0" "hi there\0");
	ck_assert_int_eq(feed(B(R_CONT)), MILTER_DONE);
	ck_assert_int_eq(stage(MILTER_S_EOH), MILTER_WAIT);
	OUT_IS("\0\0\0\x01" "N");
	ck_assert_int_eq(feed(B(R_CONT)), MILTER_DONE);
	/* 70000 bytes: a full chunk, then the rest once it is answered. */
	ck_assert_int_eq(body(70000), MILTER_WAIT);
	ck_assert_uint_eq(out.len, 5 + 65535);
	ck_assert_int_eq(memcmp(out.data, "\0\x01\0\0" "B", 5), 0);
	ck_assert_int_eq(feed(B(R_CONT)), MILTER_WAIT);
	ck_assert_uint_eq(out.len, 5 + 4465);
	ck_assert_int_eq(memcmp(out.data, "\0\0\x11\x72" "B", 5), 0);
	ck_assert_int_eq(feed(B(R_PROGRESS)), MILTER_WAIT);
	ck_assert_uint_eq(out.len, 0);
	ck_assert_int_eq(feed(B(R_CONT)), MILTER_DONE);
	ck_assert_int_eq(stage(MILTER_S_EOM), MILTER_WAIT);
	OUT_IS("\0\0\0\x01" "E");
	ck_assert_int_eq(feed(B(R_ADDHDR
			       "\0\0\0\x0b" "i" "\0\0\0\0" "X-A\0" "v\0"
			       "\0\0\0\x0e" "m" "\0\0\0\x02" "Subject\0" "\0"
			       "\0\0\0\x07" "+" "<n@x>\0"
			       "\0\0\0\x14" "2" "<n@x>\0" "NOTIFY=NEVER\0"
			       "\0\0\0\x07" "-" "<o@x>\0"
			       "\0\0\0\x0f" "e" "<s@x>\0" "SIZE=10\0"
			       "\0\0\0\x0b" "b" "new body\r\n"
			       "\0\0\0\x06" "q" "spam\0"
			       R_PROGRESS)), MILTER_WAIT);
	ck_assert_uint_eq(conv.nmods, 9);
	ck_assert_int_eq(feed(B(R_ACCEPT R_CONT)), MILTER_DONE);
	ck_assert_int_eq(conv.verdict, MILTER_V_ACCEPT);
	ck_assert_uint_eq(in.len, 5);	/* what follows the deciding reply stays */
	buf_reset(&in);
	const char types[] = "him+2-ebq";
	for (size_t i = 0; i < conv.nmods; i++)
		ck_assert_int_eq(conv.mods[i].type, types[i]);
	ck_assert_str_eq(conv.mods[2].name, "Subject");
	ck_assert_uint_eq(conv.mods[2].index, 2);
	ck_assert_str_eq(conv.mods[4].value, "NOTIFY=NEVER");
	ck_assert_str_eq(conv.mods[8].name, "spam");
	/* The message is over: an ABORT now is not sent. */
	ck_assert_int_eq(stage(MILTER_S_ABORT), MILTER_DONE);
	ck_assert_uint_eq(out.len, 0);
	ck_assert_int_eq(stage(MILTER_S_QUIT), MILTER_DONE);
	OUT_IS("\0\0\0\x01" "Q");
	ck_assert_int_eq(conv.state, MILTER_CONV_CLOSED);
	conv_close();
}
END_TEST

/* Skipped stages cost no I/O; NR_* stages are sent without a reply. */
START_TEST(test_conv_no_and_nr)
{
	conv_open(6, 0, 6, 0,
		  MILTER_P_NOCONNECT | MILTER_P_NOHELO | MILTER_P_NR_MAIL | MILTER_P_NR_RCPT |
		  MILTER_P_NODATA | MILTER_P_NOHDRS | MILTER_P_NR_EOH | MILTER_P_NR_BODY |
		  MILTER_P_NOUNKNOWN);
	ck_assert_int_eq(stage(MILTER_S_CONNECT), MILTER_DONE);
	ck_assert_uint_eq(out.len, 0);
	ck_assert_int_eq(stage(MILTER_S_HELO), MILTER_DONE);
	ck_assert_uint_eq(out.len, 0);
	ck_assert_int_eq(stage(MILTER_S_UNKNOWN), MILTER_DONE);
	ck_assert_uint_eq(out.len, 0);
	ck_assert_int_eq(stage(MILTER_S_MAIL), MILTER_DONE);
	OUT_IS("\0\0\0\x26" "M" "<a@b.example>\0" "SIZE=100\0" "BODY=8BITMIME\0");
	ck_assert_int_eq(stage(MILTER_S_RCPT), MILTER_DONE);
	ck_assert_uint_eq(out.len, 0x1c + 4);
	ck_assert_int_eq(stage(MILTER_S_DATA), MILTER_DONE);
	ck_assert_uint_eq(out.len, 0);
	ck_assert_int_eq(stage(MILTER_S_HEADER), MILTER_DONE);
	ck_assert_uint_eq(out.len, 0);
	ck_assert_int_eq(stage(MILTER_S_EOH), MILTER_DONE);
	OUT_IS("\0\0\0\x01" "N");
	ck_assert_int_eq(body(70000), MILTER_DONE);
	ck_assert_uint_eq(out.len, 5 + 65535 + 5 + 4465);
	ck_assert_int_eq(memcmp(out.data + 5 + 65535, "\0\0\x11\x72" "B", 5), 0);
	ck_assert_int_eq(stage(MILTER_S_EOM), MILTER_WAIT);
	OUT_IS("\0\0\0\x01" "E");
	ck_assert_int_eq(feed(B(R_CONT)), MILTER_DONE);
	/* A second message, aborted: ABORT is sent once. */
	ck_assert_int_eq(stage(MILTER_S_MAIL), MILTER_DONE);
	ck_assert_int_eq(stage(MILTER_S_ABORT), MILTER_DONE);
	OUT_IS("\0\0\0\x01" "A");
	ck_assert_int_eq(stage(MILTER_S_ABORT), MILTER_DONE);
	ck_assert_uint_eq(out.len, 0);
	conv_close();
}
END_TEST

START_TEST(test_conv_skip)
{
	conv_open(6, 0, 6, 0, MILTER_P_SKIP | MILTER_P_HDR_LEADSPC);
	ck_assert_int_eq(stage(MILTER_S_MAIL), MILTER_WAIT);
	ck_assert_int_eq(feed(B(R_CONT)), MILTER_DONE);
	/* HDR_LEADSPC: the value goes as it is. */
	ck_assert_int_eq(stage(MILTER_S_HEADER), MILTER_WAIT);
	OUT_IS("\0\0\0\x13" "L" "Subject\0" " hi there\0");
	ck_assert_int_eq(feed(B(R_CONT)), MILTER_DONE);
	ck_assert_int_eq(body(70000), MILTER_WAIT);
	ck_assert_int_eq(feed(B(R_SKIP)), MILTER_DONE);
	ck_assert_int_eq(conv.verdict, MILTER_V_CONTINUE);
	ck_assert_uint_eq(out.len, 0);	/* the second chunk is not sent */
	ck_assert_int_eq(stage(MILTER_S_BODY), MILTER_DONE);
	ck_assert_uint_eq(out.len, 0);
	ck_assert_int_eq(stage(MILTER_S_EOM), MILTER_WAIT);
	ck_assert_int_eq(feed(B(R_CONT)), MILTER_DONE);
	/* The next message gets its body again. */
	ck_assert_int_eq(stage(MILTER_S_MAIL), MILTER_WAIT);
	ck_assert_int_eq(feed(B(R_CONT)), MILTER_DONE);
	ck_assert_int_eq(stage(MILTER_S_BODY), MILTER_WAIT);
	OUT_IS("\0\0\0\x07" "B" "line\r\n");
	conv_close();

	/*
	 * SKIP at a body chunk without the SKIP step is still honoured
	 * (libmilter sends it anyway); outside the body it is a failure.
	 */
	conv_open(6, 0, 6, 0, 0);
	ck_assert_int_eq(stage(MILTER_S_MAIL), MILTER_WAIT);
	ck_assert_int_eq(feed(B(R_CONT)), MILTER_DONE);
	ck_assert_int_eq(body(70000), MILTER_WAIT);
	ck_assert_int_eq(feed(B(R_SKIP)), MILTER_DONE);
	ck_assert_uint_eq(out.len, 0);
	ck_assert_int_eq(stage(MILTER_S_BODY), MILTER_DONE);
	ck_assert_uint_eq(out.len, 0);
	conv_close();
	conv_open(6, 0, 6, 0, MILTER_P_SKIP);
	ck_assert_int_eq(stage(MILTER_S_MAIL), MILTER_WAIT);
	ck_assert_int_eq(feed(B(R_SKIP)), MILTER_ERROR);
	ck_assert_ptr_nonnull(strstr(conv.error, "SKIP"));
	conv_close();
}
END_TEST

/* What each verdict ends: the recipient, the message or the connection. */
START_TEST(test_conv_verdicts)
{
	/* REJECT at MAIL ends the message: nothing more until the next MAIL. */
	conv_open(6, 0, 6, 0, 0);
	ck_assert_int_eq(stage(MILTER_S_MAIL), MILTER_WAIT);
	ck_assert_int_eq(feed(B(R_REJECT)), MILTER_DONE);
	ck_assert_int_eq(stage(MILTER_S_RCPT), MILTER_DONE);
	ck_assert_uint_eq(out.len, 0);
	ck_assert_int_eq(stage(MILTER_S_ABORT), MILTER_DONE);
	ck_assert_uint_eq(out.len, 0);
	ck_assert_int_eq(stage(MILTER_S_MAIL), MILTER_WAIT);
	ck_assert_int_eq(feed(B(R_CONT)), MILTER_DONE);
	/* DISCARD at a header: the rest of the message is not sent. */
	ck_assert_int_eq(stage(MILTER_S_HEADER), MILTER_WAIT);
	ck_assert_int_eq(feed(B(R_DISCARD)), MILTER_DONE);
	ck_assert_int_eq(conv.verdict, MILTER_V_DISCARD);
	ck_assert_int_eq(stage(MILTER_S_BODY), MILTER_DONE);
	ck_assert_int_eq(stage(MILTER_S_EOM), MILTER_DONE);
	ck_assert_uint_eq(out.len, 0);
	/* UNKNOWN is answered on its own. */
	ck_assert_int_eq(stage(MILTER_S_UNKNOWN), MILTER_WAIT);
	OUT_IS("\0\0\0\x0a" "U" "XFOO bar\0");
	ck_assert_int_eq(feed(B(R_REJECT)), MILTER_DONE);
	/* QUIT_NC: the filter waits for a new CONNECT, no new negotiation. */
	ck_assert_int_eq(stage(MILTER_S_QUIT_NC), MILTER_DONE);
	OUT_IS("\0\0\0\x01" "K");
	ck_assert_int_eq(stage(MILTER_S_CONNECT), MILTER_WAIT);
	ck_assert_uint_eq(out.len, (4 + 0x27) + (4 + 0x18));
	/* ACCEPT at connect: nothing more but QUIT. */
	ck_assert_int_eq(feed(B(R_ACCEPT)), MILTER_DONE);
	ck_assert_int_eq(stage(MILTER_S_HELO), MILTER_DONE);
	ck_assert_int_eq(stage(MILTER_S_MAIL), MILTER_DONE);
	ck_assert_int_eq(stage(MILTER_S_EOM), MILTER_DONE);
	ck_assert_int_eq(stage(MILTER_S_ABORT), MILTER_DONE);
	ck_assert_uint_eq(out.len, 0);
	ck_assert_int_eq(stage(MILTER_S_QUIT), MILTER_DONE);
	OUT_IS("\0\0\0\x01" "Q");
	conv_close();

	/* SHUTDOWN: the verdict, then only QUIT. */
	conv_open(6, 0, 6, 0, 0);
	ck_assert_int_eq(stage(MILTER_S_MAIL), MILTER_WAIT);
	ck_assert_int_eq(feed(B(R_SHUTDOWN)), MILTER_DONE);
	ck_assert_int_eq(conv.verdict, MILTER_V_SHUTDOWN);
	ck_assert_int_eq(stage(MILTER_S_RCPT), MILTER_DONE);
	ck_assert_uint_eq(out.len, 0);
	conv_close();

	/* A reply fed one byte at a time. */
	conv_open(6, 0, 6, 0, 0);
	ck_assert_int_eq(stage(MILTER_S_MAIL), MILTER_WAIT);
	static const char y[] = "\0\0\0\x1a" "y" "550-5.7.1 a\r\n550 5.7.1 b\0";
	for (size_t i = 0; i + 1 < sizeof y - 1; i++)
		ck_assert_int_eq(feed(y + i, 1), MILTER_WAIT);
	ck_assert_int_eq(feed(y + sizeof y - 2, 1), MILTER_DONE);
	ck_assert_int_eq(conv.code, 550);
	ck_assert_str_eq(conv.text, "550-5.7.1 a\r\n550 5.7.1 b");
	conv_close();
}
END_TEST

/* Version 2 filters never see DATA or UNKNOWN. */
START_TEST(test_conv_v2)
{
	conv_open(2, 0, 2, MILTER_F_ADDHDRS, MILTER_P_NOCONNECT);
	ck_assert_int_eq(stage(MILTER_S_UNKNOWN), MILTER_DONE);
	ck_assert_int_eq(stage(MILTER_S_MAIL), MILTER_WAIT);
	ck_assert_int_eq(feed(B(R_CONT)), MILTER_DONE);
	ck_assert_int_eq(stage(MILTER_S_DATA), MILTER_DONE);
	ck_assert_uint_eq(out.len, 0);
	ck_assert_int_eq(stage(MILTER_S_EOM), MILTER_WAIT);
	ck_assert_int_eq(feed(B(R_ADDHDR R_CONT)), MILTER_DONE);
	ck_assert_uint_eq(conv.nmods, 1);
	conv_close();
}
END_TEST

static const struct {
	uint32_t acts;
	size_t mds;
	enum milter_stage at;	/* stage answered */
	const char *reply;
	size_t len;
	const char *err;	/* NULL: accepted (MILTER_WAIT or DONE) */
} bad_rows[] = {
	{MILTER_F_ALL, 0, MILTER_S_RCPT, B(R_ADDHDR), "outside end of message"},
	{MILTER_F_CHGHDRS, 0, MILTER_S_EOM, B(R_ADDHDR), "did not negotiate"},
	{MILTER_F_ADDHDRS, 0, MILTER_S_EOM, B("\0\0\0\x07" "+" "<n@x>\0"), "did not negotiate"},
	{MILTER_F_ALL, 0, MILTER_S_EOM, B("\0\0\0\x0d" "O" "\0\0\0\x06" "\0\0\0\0" "\0\0\0\0"),
	 "unexpected"},
	{MILTER_F_ALL, 0, MILTER_S_EOM, B("\0\0\0\x11" "l" "\0\0\0\x03" "{rcpt_addr}\0"), "unexpected"},
	{MILTER_F_ALL, 0, MILTER_S_RCPT, B("\0\0\0\x08" "y" "250 ok\0"), "4xx or 5xx"},
	{MILTER_F_ALL, 0, MILTER_S_EOM, B("\0\x01\0\x01" "b"), "larger"},
	{MILTER_F_ALL, MILTER_MDS_1M, MILTER_S_EOM, B("\0\x01\0\x01" "b"), NULL},
	{MILTER_F_ALL, MILTER_MDS_1M, MILTER_S_EOM, B("\0\x10\0\x01" "b"), "larger"},
	{MILTER_F_ALL, 0, MILTER_S_HELO, B("\0\0\0\0"), "length 0"},
	{MILTER_F_ALL, 0, MILTER_S_HELO, B("garbage!"), "larger"},
	{MILTER_F_ALL, 0, MILTER_S_HELO, B("\0\0\0\x01" "x"), "unknown"},
};

START_TEST(test_conv_bad)
{
	conv_open(6, bad_rows[_i].mds, 6, bad_rows[_i].acts,
		  bad_rows[_i].mds ? MILTER_P_MDS_1M : 0);
	if (bad_rows[_i].at != MILTER_S_HELO) {
		ck_assert_int_eq(stage(MILTER_S_MAIL), MILTER_WAIT);
		ck_assert_int_eq(feed(B(R_CONT)), MILTER_DONE);
	}
	ck_assert_int_eq(stage(bad_rows[_i].at), MILTER_WAIT);
	enum milter_next r = feed(bad_rows[_i].reply, bad_rows[_i].len);
	if (bad_rows[_i].err) {
		ck_assert_int_eq(r, MILTER_ERROR);
		ck_assert_msg(strstr(conv.error, bad_rows[_i].err), "row %d: %s", _i, conv.error);
		ck_assert_int_eq(conv.state, MILTER_CONV_CLOSED);
		/* A failed conversation stays failed. */
		ck_assert_int_eq(stage(MILTER_S_QUIT), MILTER_ERROR);
	} else {
		ck_assert_int_eq(r, MILTER_WAIT);
	}
	conv_close();
}
END_TEST

/* The edits of one end of message are bounded. */
START_TEST(test_conv_mods_limit)
{
	conv_open(6, 0, 6, MILTER_F_ALL, 0);
	conv.mods_limit = 40;
	ck_assert_int_eq(stage(MILTER_S_MAIL), MILTER_WAIT);
	ck_assert_int_eq(feed(B(R_CONT)), MILTER_DONE);
	ck_assert_int_eq(stage(MILTER_S_EOM), MILTER_WAIT);
	ck_assert_int_eq(feed(B(R_ADDHDR R_ADDHDR)), MILTER_WAIT);	/* 2 x 16 bytes */
	ck_assert_uint_eq(conv.mods_bytes, 32);
	ck_assert_int_eq(feed(B(R_ADDHDR)), MILTER_ERROR);
	ck_assert_ptr_nonnull(strstr(conv.error, "size limit"));
	conv_close();
	/* The count starts again at each end of message. */
	conv_open(6, 0, 6, MILTER_F_ALL, 0);
	conv.mods_limit = 40;
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(stage(MILTER_S_MAIL), MILTER_WAIT);
		ck_assert_int_eq(feed(B(R_CONT)), MILTER_DONE);
		ck_assert_int_eq(stage(MILTER_S_EOM), MILTER_WAIT);
		ck_assert_int_eq(feed(B(R_ADDHDR R_ADDHDR R_CONT)), MILTER_DONE);
	}
	conv_close();
}
END_TEST

/* Out of turn: bytes when nothing was asked, a stage while waiting. */
START_TEST(test_conv_out_of_turn)
{
	conv_open(6, 0, 6, 0, 0);
	ck_assert_int_eq(feed(B(R_CONT)), MILTER_ERROR);
	ck_assert_ptr_nonnull(strstr(conv.error, "out of turn"));
	conv_close();

	conv_open(6, 0, 6, 0, 0);
	ck_assert_int_eq(stage(MILTER_S_HELO), MILTER_WAIT);
	ck_assert_int_eq(stage(MILTER_S_MAIL), MILTER_ERROR);
	conv_close();

	/* The negotiation must be answered by a negotiation reply... */
	struct milter_offer o;
	milter_offer_init(&o, 6, 0);
	milter_conv_init(&conv, &o);
	ck_assert_int_eq(milter_conv_start(&conv, &out), MILTER_WAIT);
	ck_assert_int_eq(feed(B(R_CONT)), MILTER_ERROR);
	ck_assert_ptr_nonnull(strstr(conv.error, "negotiation"));
	conv_close();
	/* ...that asks for nothing more than was offered. */
	milter_offer_init(&o, 2, 0);
	milter_conv_init(&conv, &o);
	ck_assert_int_eq(milter_conv_start(&conv, &out), MILTER_WAIT);
	OUT_IS("\0\0\0\x0d" "O" "\0\0\0\x02" "\0\0\0\x3f" "\0\0\0\x7f");
	ck_assert_int_eq(feed(B("\0\0\0\x0d" "O" "\0\0\0\x02" "\0\0\0\0" "\0\0\0\x80")), MILTER_ERROR);
	ck_assert_ptr_nonnull(strstr(conv.error, "protocol steps"));
	conv_close();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("milter_proto");
	TCase *tc = tcase_create("core");
	tcase_add_loop_test(tc, test_encode, 0, (int)(sizeof enc_rows / sizeof enc_rows[0]));
	tcase_add_loop_test(tc, test_frame, 0, (int)(sizeof frame_rows / sizeof frame_rows[0]));
	tcase_add_loop_test(tc, test_decode, 0, (int)(sizeof dec_rows / sizeof dec_rows[0]));
	tcase_add_test(tc, test_decode_truncated);
	tcase_add_test(tc, test_offer);
	tcase_add_loop_test(tc, test_negotiate, 0, (int)(sizeof neg_rows / sizeof neg_rows[0]));
	tcase_add_test(tc, test_negotiate_symlist);
	tcase_add_test(tc, test_conv_full);
	tcase_add_test(tc, test_conv_no_and_nr);
	tcase_add_test(tc, test_conv_skip);
	tcase_add_test(tc, test_conv_verdicts);
	tcase_add_test(tc, test_conv_v2);
	tcase_add_loop_test(tc, test_conv_bad, 0, (int)(sizeof bad_rows / sizeof bad_rows[0]));
	tcase_add_test(tc, test_conv_mods_limit);
	tcase_add_test(tc, test_conv_out_of_turn);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
