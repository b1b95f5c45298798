/*
 * fuzz_milter_reply.c - libFuzzer target for the milter reply decoder
 * and the conversation that consumes replies (lib/mail/milter_proto.c,
 * milter_conv.c).
 *
 * The first input byte picks the negotiated flags and the stage being
 * answered; the rest is what the filter sends, fed in two pieces so that
 * split packets are exercised too.
 */
#include "compat.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mail/milter_proto.h"
#include "util/buf.h"

static const enum milter_stage stages_fz[] = {
	MILTER_S_CONNECT, MILTER_S_HELO, MILTER_S_MAIL, MILTER_S_RCPT,
	MILTER_S_DATA, MILTER_S_UNKNOWN, MILTER_S_HEADER, MILTER_S_EOH,
	MILTER_S_BODY, MILTER_S_EOM,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t sel = data[0];
	data++;
	size--;

	/* The decoder alone, on every packet the framing finds. */
	size_t off = 0;
	for (;;) {
		char cmd;
		const char *d, *err = NULL;
		size_t dlen, used;
		if (milter_pkt_take((const char *)data + off, size - off, MILTER_MDS_1M, &cmd, &d, &dlen,
				    &used, &err) != 1)
			break;
		struct milter_reply r;
		if (milter_reply_decode(cmd, d, dlen, &r, &err) < 0 && !err)
			abort();
		milter_reply_free(&r);
		off += used;
	}

	/* A conversation waiting for the answer to one stage. */
	struct milter_offer o;
	milter_offer_init(&o, 6, (sel & 0x80) ? MILTER_MDS_1M : 0);
	struct milter_conv c;
	milter_conv_init(&c, &o);
	struct buf out = BUF_INIT, in = BUF_INIT;
	milter_conv_start(&c, &out);
	buf_reset(&out);
	milter_enc_optneg(&in, 6, (sel & 0x40) ? MILTER_F_ALL : 0,
			  ((sel & 0x20) ? MILTER_P_SKIP : 0) | ((sel & 0x80) ? MILTER_P_MDS_1M : 0));
	if (milter_conv_input(&c, &in, &out) != MILTER_DONE)
		abort();
	enum milter_stage st = stages_fz[(sel & 0x1f) % (sizeof stages_fz / sizeof stages_fz[0])];
	if (st != MILTER_S_CONNECT) {
		struct milter_event mail = {.stage = MILTER_S_MAIL, .arg = "<a@b>"};
		buf_add(&in, "\0\0\0\x01" "c", 5);
		if (milter_conv_stage(&c, &mail, &out) != MILTER_WAIT ||
		    milter_conv_input(&c, &in, &out) != MILTER_DONE)
			abort();
	}
	struct milter_event ev = {.stage = st, .host = "h", .family = MILTER_FAM_INET, .addr = "a",
				  .arg = "x", .value = "v", .body = "0123456789", .body_len = 10};
	if (milter_conv_stage(&c, &ev, &out) == MILTER_WAIT) {
		size_t half = size / 2;
		buf_add(&in, data, half);
		enum milter_next n = milter_conv_input(&c, &in, &out);
		if (n == MILTER_WAIT) {
			buf_add(&in, data + half, size - half);
			n = milter_conv_input(&c, &in, &out);
		}
		if (n == MILTER_ERROR && !c.error)
			abort();
		if (n == MILTER_DONE && c.verdict == MILTER_V_REPLYCODE && (c.code < 400 || c.code > 599))
			abort();
	}
	milter_conv_free(&c);
	buf_free(&in);
	buf_free(&out);
	return 0;
}
