/*
 * local_request.c - serve the queue manager's requests on one connection:
 * check each request against the queue file, expand each recipient and
 * deliver to every destination, answer once per recipient (the answers
 * of a batch of requests together, once its Maildir files are durable:
 * local_batch.c).
 *
 * Runs as root (or the instance owner) in a process of its own per
 * connection; every delivery itself happens in a child with the
 * recipient's privileges (local_mailbox.c, local_pipe.c).
 */
#include "compat.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "mail/alias_expand.h"
#include "mail/bounce.h"
#include "mail/config.h"
#include "mail/lproto.h"
#include "mail/param_maps.h"
#include "mail/qfile.h"
#include "mail/resolve.h"
#include "local/local.h"
#include "util/frame.h"
#include "util/log.h"
#include "util/mem.h"

void lres_set(struct lresult_text *r, enum lresult result, const char *dsn, const char *fmt, ...)
{
	va_list ap;

	r->result = result;
	strlcpy(r->dsn, dsn, sizeof(r->dsn));
	buf_reset(&r->text);
	va_start(ap, fmt);
	buf_vprintf(&r->text, fmt, ap);
	va_end(ap);
	/* One line: the text goes into logs, replies and bounces. */
	for (size_t i = 0; i < r->text.len; i++)
		if ((unsigned char)r->text.data[i] < 0x20)
			r->text.data[i] = ' ';
}

/* Has this message been delivered to this address here before (Delivered-To:)? */
static int delivered_before(const struct lmsg *m, const char *addr)
{
	const char *p = m->content, *end = m->content + m->content_len;
	size_t alen = strlen(addr);

	while (p < end && *p != '\n') {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		size_t len = eol ? (size_t)(eol - p) : (size_t)(end - p);

		if (len > 13 && strncasecmp(p, "Delivered-To:", 13) == 0) {
			const char *v = p + 13;
			size_t vlen = len - 13;
			while (vlen > 0 && (*v == ' ' || *v == '\t'))
				v++, vlen--;
			while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\r'))
				vlen--;
			if (vlen == alen && strncasecmp(v, addr, alen) == 0)
				return 1;
		}
		p = eol ? eol + 1 : end;
	}
	return 0;
}

/* Worse results win: defer over bounce over sent. */
static int rank(enum lresult r)
{
	return r == LRESULT_DEFER ? 2 : r == LRESULT_BOUNCE ? 1 : 0;
}

/* Whose privileges a |command or /file from this destination gets. */
static void ident_for(const struct dest *d, struct ident *id)
{
	if (d->source == EXPAND_FROM_FORWARD) {
		if (ident_of_user(d->via, id) < 0)
			ident_default_privs(id);
	} else if (d->source == EXPAND_FROM_INCLUDE) {
		if (ident_of_file_owner(d->via, id) < 0)
			ident_default_privs(id);
	} else {
		ident_alias_owner(id);
	}
	/* Commands and files never run as root. */
	if (id->uid == 0)
		ident_default_privs(id);
}

/* Errors of an owner-NAME list go to its owner: a notice, and the recipient counts as done. */
static int owner_notice(const struct lmsg *m, const struct lrcpt *rc, const struct dest *d,
    const struct lresult_text *r)
{
	struct buf owner = BUF_INIT, addrs = BUF_INIT;
	struct lresult_text fr = {.text = BUF_INIT};
	struct buf notice = BUF_INIT;
	char *list[1];
	int ok;
	struct bounce_rcpt br = {.address = rc->address, .orcpt = rc->orcpt, .status = r->dsn,
				 .diag = buf_str(&r->text)};
	struct bounce_msg bm = {
		.kind = BOUNCE_FAILED, .reporting_mta = cfg_str(P_myhostname),
		.queue_id = m->queue_id, .sender = m->sender, .arrival = m->arrival,
		.now = time(NULL), .message = m->content, .message_len = m->content_len,
		.rcpts = &br, .nrcpt = 1,
	};
	struct buf from = BUF_INIT, boundary = BUF_INIT;

	buf_printf(&owner, "%s@%s", d->owner, rc->domain);
	buf_printf(&from, "MAILER-DAEMON@%s", cfg_str(P_myhostname));
	buf_printf(&boundary, "%s.%ld.owner/%s", m->queue_id, (long)bm.now, cfg_str(P_myhostname));
	bm.to = buf_str(&owner);
	bm.from = buf_str(&from);
	bm.boundary = buf_str(&boundary);
	bounce_compose(&bm, &notice);
	list[0] = owner.data;
	/* The notice travels like forwarded mail, with the null sender. */
	{
		struct lmsg nm = {.queue_id = m->queue_id, .sender = "", .content = notice.data,
				  .content_len = notice.len, .arrival = bm.now};
		deliver_forward(&nm, NULL, "", list, 1, &fr);
	}
	ok = fr.result == LRESULT_SENT;
	if (ok)
		msg_info("%s: error for <%s> (%s) reported to <%s>", m->queue_id, rc->address,
		    buf_str(&r->text), buf_str(&owner));
	buf_free(&owner);
	buf_free(&addrs);
	buf_free(&fr.text);
	buf_free(&notice);
	buf_free(&from);
	buf_free(&boundary);
	return ok;
}

static void deliver_recipient(const struct lmsg *m, const struct lrcpt *rc, struct lresult_text *res)
{
	struct dest_list dl;
	struct buf err = BUF_INIT;
	struct lresult_text r = {.text = BUF_INIT};
	char **remote = NULL;
	size_t nremote = 0, nsent = 0;
	const char *fwd_sender = m->sender;
	int worst = -1;

	dest_list_init(&dl);
	if (local_expand(rc, &dl, &err) < 0) {
		lres_set(res, LRESULT_DEFER, "4.3.0", "%s", buf_str(&err));
		goto out;
	}
	for (size_t i = 0; i < dl.count; i++) {
		const struct dest *d = &dl.d[i];
		struct ident id;

		buf_reset(&r.text);
		switch (d->kind) {
		case DEST_MAILBOX:
			deliver_mailbox(m, rc, d->target, &r);
			break;
		case DEST_PIPE:
			ident_for(d, &id);
			deliver_pipe(m, rc, d->target, &id, &r);
			break;
		case DEST_FILE:
			ident_for(d, &id);
			deliver_file(m, rc, d->target, &id, &r);
			break;
		case DEST_REMOTE:
			remote = xreallocarray(remote, nremote + 1, sizeof(char *));
			remote[nremote++] = d->target;
			if (d->owner != NULL && cfg_bool(P_owner_request_special)) {
				/* Mail to a list with an owner travels with the owner as sender. */
				static char owner_sender[600];
				const char *o = d->owner_sender ? d->owner_sender : d->owner;

				/* expand_owner_alias: owner-NAME's value; a bare name is local. */
				if (strchr(o, '@') != NULL)
					snprintf(owner_sender, sizeof(owner_sender), "%s", o);
				else
					snprintf(owner_sender, sizeof(owner_sender), "%s@%s", o, rc->domain);
				fwd_sender = owner_sender;
			}
			continue;
		case DEST_ERROR:
			lres_set(&r, LRESULT_BOUNCE, d->dsn ? d->dsn : "5.3.0", "%s", d->target);
			break;
		}
		if (r.result == LRESULT_BOUNCE && d->owner != NULL && owner_notice(m, rc, d, &r))
			lres_set(&r, LRESULT_SENT, "2.0.0", "error reported to %s", d->owner);
		if (r.result == LRESULT_SENT)
			nsent++;
		if (rank(r.result) > worst) {
			worst = rank(r.result);
			lres_set(res, r.result, r.dsn, "%s", buf_str(&r.text));
		}
	}
	if (nremote > 0) {
		deliver_forward(m, rc, *m->sender ? fwd_sender : "", remote, nremote, &r);
		if (r.result == LRESULT_SENT)
			nsent++;
		if (rank(r.result) > worst) {
			worst = rank(r.result);
			lres_set(res, r.result, r.dsn, "%s", buf_str(&r.text));
		}
	}
	if (worst < 0)
		lres_set(res, LRESULT_BOUNCE, "5.1.1", "no destinations for %s", rc->address);
	else if (worst == 0 && nsent > 1) {
		struct buf t = BUF_INIT;
		buf_printf(&t, "%s, and %zu more", buf_str(&res->text), nsent - 1);
		lres_set(res, LRESULT_SENT, res->dsn, "%s", buf_str(&t));
		buf_free(&t);
	}
out:
	free(remote);
	dest_list_free(&dl);
	buf_free(&err);
	buf_free(&r.text);
}

static void lower_copy(char *dst, size_t size, const char *src)
{
	size_t i = 0;

	for (; src[i] && i + 1 < size; i++)
		dst[i] = (char)tolower((unsigned char)src[i]);
	dst[i] = '\0';
}

#define FILE_KEEP	(4u << 20)	/* bytes of queue file buffer kept between messages */

static void handle(const struct lreq *req)
{
	struct buf err = BUF_INIT, want = BUF_INIT;
	/*
	 * The queue file, read whole with one read into a buffer kept from
	 * one message to the next; the content is used where it lies. A new
	 * buffer per message, grown by doubling, was a realloc copy per
	 * doubling and a page fault per 4 KiB, and freeing it gave the memory
	 * back to the kernel (brk, a TLB flush on every CPU) only to fault it
	 * in again for the next message. One larger than FILE_KEEP is let go.
	 */
	static struct buf file = BUF_INIT;
	struct buf content = BUF_INIT;	/* only when the file was not read whole */
	const char *text;
	struct lresult_text res = {.text = BUF_INIT};
	struct qfile *q = NULL;
	struct resolved rv;
	const char *id = buf_str(&req->queue_id);
	unsigned long long size;
	ssize_t n = 0;

	resolved_init(&rv);
	buf_printf(&want, "active/%s", id);
	if (!qfile_id_valid(id) || strcmp(buf_str(&want), buf_str(&req->path)) != 0) {
		lres_set(&res, LRESULT_DEFER, "4.3.0", "bad queue file name in request");
		goto fail_all;
	}
	if (qfile_open_whole(buf_str(&req->path), false, &file, &q, &err) != QF_OK) {
		lres_set(&res, LRESULT_DEFER, "4.3.0", "cannot open queue file: %s", buf_str(&err));
		goto fail_all;
	}
	if (strcmp(qfile_sender(q), buf_str(&req->sender)) != 0) {
		lres_set(&res, LRESULT_DEFER, "4.3.0", "request does not match the queue file");
		goto fail_all;
	}
	size = qfile_content_size(q);
	text = qfile_content_mem(q);
	if (text == NULL) {
		/* Too large to have been read whole: read the content on its own. */
		if (size >= SIZE_MAX / 2) {
			lres_set(&res, LRESULT_DEFER, "4.3.0", "queue file too large to read");
			goto fail_all;
		}
		qfile_rewind(q);
		buf_reserve(&content, (size_t)size);
		while (content.len < size
		    && (n = qfile_read(q, content.data + content.len, (size_t)size - content.len)) > 0)
			content.len += (size_t)n;
		if (n < 0 || content.len < size) {
			lres_set(&res, LRESULT_DEFER, "4.3.0", "cannot read queue file");
			goto fail_all;
		}
		text = content.data;
	}
	{
		struct lmsg m = {
			.queue_id = id,
			.sender = qfile_sender(q),
			.content = text,
			.content_len = (size_t)size,
			.arrival = qfile_arrival(q).tv_sec,
		};

		for (size_t k = 0; k < req->nrcpt; k++) {
			const struct lreq_rcpt *qr = &req->rcpt[k];
			const struct qfile_rcpt *fr;
			struct lrcpt rc;

			memset(&rc, 0, sizeof(rc));
			if (qr->index < 0 || (size_t)qr->index >= qfile_rcpt_count(q)
			    || (fr = qfile_rcpt(q, (size_t)qr->index)) == NULL
			    || strcmp(fr->address, buf_str(&qr->address)) != 0
			    || fr->status != QF_RCPT_PENDING) {
				lres_set(&res, LRESULT_DEFER, "4.3.0", "request does not match the queue file");
			} else if (resolve_address(fr->address, &rv) < 0
			    || strcmp(buf_str(&rv.transport), "local") != 0) {
				/* transport_maps may send a remote domain here (local:), or a local one elsewhere. */
				lres_set(&res, LRESULT_DEFER, "4.3.0", "not a local address");
			} else {
				rc.address = fr->address;
				rc.orcpt = fr->orcpt;
				strlcpy(rc.local, buf_str(&rv.localpart), sizeof(rc.local));
				strlcpy(rc.ext, buf_str(&rv.extension), sizeof(rc.ext));
				strlcpy(rc.domain, buf_str(&rv.domain), sizeof(rc.domain));
				lower_copy(rc.delivered_to, sizeof(rc.delivered_to), buf_str(&rv.address));
				if (delivered_before(&m, rc.delivered_to))
					lres_set(&res, LRESULT_BOUNCE, "5.4.6", "mail forwarding loop for %s",
					    rc.delivered_to);
				else {
					/* The last of a request alone: its Maildir file may commit at once. */
					batch_expect_solo(!req->hold && k + 1 == req->nrcpt);
					deliver_recipient(&m, &rc, &res);
					batch_expect_solo(false);
				}
			}
			batch_hold(qr->index, &res);
		}
	}
	goto out;
fail_all:
	for (size_t k = 0; k < req->nrcpt; k++)
		batch_hold(req->rcpt[k].index, &res);
out:
	if (q != NULL)
		qfile_close(q);
	resolved_free(&rv);
	buf_free(&err);
	buf_free(&content);
	if (file.cap > FILE_KEEP)
		buf_free(&file);
	buf_free(&want);
	buf_free(&res.text);
}

void local_serve(int fd)
{
	struct buf in = BUF_INIT;
	struct frame_in fin;
	struct lreq req;
	int r;

	lreq_init(&req);
	frame_in_init(&fin, fd);	/* a batch's requests come out of one read */
	while ((r = frame_read_in(&fin, &in)) > 0) {
		if (lreq_decode(in.data, in.len, &req) < 0) {
			msg_warn("malformed request from qmgr; closing the connection");
			break;
		}
		param_maps_recheck();	/* this connection serves many messages */
		ident_forget();
		handle(&req);
		/* More requests follow before qmgr reads: keep the replies (lproto.h). */
		if (!req.hold)
			batch_flush(fd);
	}
	if (r < 0)
		msg_warn("read request from qmgr: %m");
	/* Nothing of an unfinished batch was delivered: qmgr retries it all. */
	batch_discard();
	lreq_free(&req);
	buf_free(&in);
	frame_in_free(&fin);
	close(fd);
}
