/*
 * fuzz_lproto.c - libFuzzer target for the qmgr <-> delivery agent
 * frames (lib/mail/lproto.c): the request decoder is what the root local
 * delivery agent and the smtp program run on every message they are
 * sent, the reply decoder what qmgr runs on their answers. Any bytes must be decoded or
 * refused without a crash; the encoding is canonical, so whatever decodes
 * must encode back to exactly the same bytes.
 * Runs as any user; opens no files.
 */
#include "compat.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mail/lproto.h"
#include "util/buf.h"

/* frame is "4-byte length + payload": the payload must be data, size. */
static void same_payload(const struct buf *frame, const uint8_t *data, size_t size)
{
	if (frame->len != size + 4 || memcmp(frame->data + 4, data, size) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lreq q;
	struct lreply r;
	struct buf f = BUF_INIT;

	lreq_init(&q);
	if (lreq_decode(data, size, &q) == 0) {
		if (q.nrcpt == 0 || q.nrcpt > LPROTO_MAX_RCPT || q.queue_id.len == 0 || q.path.len == 0)
			abort();
		for (size_t i = 0; i < q.nrcpt; i++)
			if (q.rcpt[i].index < 0 || strlen(buf_str(&q.rcpt[i].address)) != q.rcpt[i].address.len)
				abort();
		lreq_encode(&q, &f);
		same_payload(&f, data, size);
	} else if (q.nrcpt != 0 || q.rcpt != NULL || q.queue_id.len != 0) {
		abort();	/* a refused request leaves nothing half-filled */
	}
	lreq_free(&q);

	lreply_init(&r);
	if (lreply_decode(data, size, &r) == 0) {
		if (r.index < 0 || r.result < LRESULT_SENT || r.result > LRESULT_BOUNCE ||
		    r.dsn.len < 5 || r.dsn.data[0] != "245"[r.result]
		    || (r.flags & ~LREPLY_FLAGS_KNOWN) != 0)
			abort();
		lreply_encode(&r, &f);
		same_payload(&f, data, size);
	}
	lreply_free(&r);
	buf_free(&f);
	return 0;
}
