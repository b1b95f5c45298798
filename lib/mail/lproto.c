/*
 * lproto.c - encoding and strict decoding of the qmgr <-> delivery
 * agent messages (see lproto.h). Mail layer, no privileges.
 */
#include "compat.h"

#include <stdlib.h>
#include <string.h>

#include "mail/lproto.h"
#include "util/frame.h"
#include "util/mem.h"

void lreq_init(struct lreq *q)
{
	memset(q, 0, sizeof(*q));
}

void lreq_free(struct lreq *q)
{
	buf_free(&q->queue_id);
	buf_free(&q->path);
	buf_free(&q->sender);
	buf_free(&q->nexthop);
	buf_free(&q->transport);
	for (size_t i = 0; i < q->nrcpt; i++) {
		buf_free(&q->rcpt[i].address);
		buf_free(&q->rcpt[i].orcpt);
	}
	free(q->rcpt);
	lreq_init(q);
}

void lreq_add_rcpt(struct lreq *q, long long index, const char *address, const char *orcpt)
{
	struct lreq_rcpt *r;

	q->rcpt = xreallocarray(q->rcpt, q->nrcpt + 1, sizeof(*q->rcpt));
	r = &q->rcpt[q->nrcpt++];
	r->index = index;
	buf_init(&r->address);
	buf_init(&r->orcpt);
	buf_adds(&r->address, address);
	buf_adds(&r->orcpt, orcpt ? orcpt : "");
}

void lreq_encode(const struct lreq *q, struct buf *frame)
{
	frame_begin(frame);
	frame_add_str(frame, "deliver");
	frame_add_str(frame, buf_str(&q->queue_id));
	frame_add_str(frame, buf_str(&q->path));
	frame_add_str(frame, buf_str(&q->sender));
	frame_add_int(frame, (long long)q->nrcpt);
	for (size_t i = 0; i < q->nrcpt; i++) {
		frame_add_int(frame, q->rcpt[i].index);
		frame_add_str(frame, buf_str(&q->rcpt[i].address));
		frame_add_str(frame, buf_str(&q->rcpt[i].orcpt));
	}
	frame_add_int(frame, q->hold ? 1 : 0);
	frame_add_str(frame, buf_str(&q->nexthop));
	frame_add_str(frame, buf_str(&q->transport));
	frame_finish(frame);
}

int lreq_decode(const void *payload, size_t len, struct lreq *q)
{
	struct frame_reader rd;
	struct buf tag = BUF_INIT, addr = BUF_INIT, orcpt = BUF_INIT;
	long long n, index, hold;
	int ret = -1;

	lreq_free(q);
	frame_reader_init(&rd, payload, len);
	if (frame_get_str(&rd, &tag) < 0 || strcmp(buf_str(&tag), "deliver") != 0)
		goto out;
	frame_get_str(&rd, &q->queue_id);
	frame_get_str(&rd, &q->path);
	frame_get_str(&rd, &q->sender);
	if (frame_get_int(&rd, &n) < 0 || n < 1 || n > LPROTO_MAX_RCPT)
		goto out;
	for (long long i = 0; i < n; i++) {
		if (frame_get_int(&rd, &index) < 0 || index < 0 || frame_get_str(&rd, &addr) < 0
		    || frame_get_str(&rd, &orcpt) < 0)
			goto out;
		lreq_add_rcpt(q, index, buf_str(&addr), buf_str(&orcpt));
	}
	if (frame_get_int(&rd, &hold) < 0 || (hold != 0 && hold != 1))
		goto out;
	q->hold = hold == 1;
	if (frame_get_str(&rd, &q->nexthop) < 0 || frame_get_str(&rd, &q->transport) < 0)
		goto out;
	if (frame_end(&rd) == 0 && q->queue_id.len > 0 && q->path.len > 0)
		ret = 0;
out:
	if (ret < 0)
		lreq_free(q);
	buf_free(&tag);
	buf_free(&addr);
	buf_free(&orcpt);
	return ret;
}

void lreply_init(struct lreply *r)
{
	memset(r, 0, sizeof(*r));
}

void lreply_free(struct lreply *r)
{
	buf_free(&r->dsn);
	buf_free(&r->text);
	buf_free(&r->relay);
	buf_free(&r->diag);
	buf_free(&r->remote_mta);
	buf_free(&r->tls);
	lreply_init(r);
}

void lreply_encode(const struct lreply *r, struct buf *frame)
{
	frame_begin(frame);
	frame_add_str(frame, "status");
	frame_add_int(frame, r->index);
	frame_add_int(frame, (long long)r->result);
	frame_add_str(frame, buf_str(&r->dsn));
	frame_add_str(frame, buf_str(&r->text));
	frame_add_str(frame, buf_str(&r->relay));
	frame_add_str(frame, buf_str(&r->diag));
	frame_add_str(frame, buf_str(&r->remote_mta));
	frame_add_int(frame, (long long)r->flags);
	frame_add_str(frame, buf_str(&r->tls));
	frame_finish(frame);
}

int lreply_decode(const void *payload, size_t len, struct lreply *r)
{
	struct frame_reader rd;
	struct buf tag = BUF_INIT;
	long long result = -1, flags = -1;
	int ret = -1;

	lreply_free(r);
	frame_reader_init(&rd, payload, len);
	if (frame_get_str(&rd, &tag) < 0 || strcmp(buf_str(&tag), "status") != 0)
		goto out;
	frame_get_int(&rd, &r->index);
	frame_get_int(&rd, &result);
	frame_get_str(&rd, &r->dsn);
	frame_get_str(&rd, &r->text);
	frame_get_str(&rd, &r->relay);
	frame_get_str(&rd, &r->diag);
	frame_get_str(&rd, &r->remote_mta);
	frame_get_int(&rd, &flags);
	frame_get_str(&rd, &r->tls);
	if (frame_end(&rd) < 0 || r->index < 0 || result < 0 || result > 2
	    || flags < 0 || (flags & ~(long long)LREPLY_FLAGS_KNOWN) != 0)
		goto out;
	r->flags = (int)flags;
	/* The status code's class must agree with the result. */
	if (r->dsn.len < 5 || r->dsn.data[0] != "245"[result] || r->dsn.data[1] != '.')
		goto out;
	r->result = (enum lresult)result;
	ret = 0;
out:
	buf_free(&tag);
	return ret;
}
