/*
 * smtp.c - the SMTP delivery program: mail to other servers.
 *
 * NAME
 *	smtp - Tern SMTP delivery
 * SYNOPSIS
 *	smtp [-c config_dir] [-v]   (started by ternd, service "smtp-client")
 * DESCRIPTION
 *	The queue manager connects to queue_directory/private/smtp-client
 *	and sends one request per message and next hop (lib/mail/lproto.h:
 *	queue id, "active/ID", sender, the recipients with their index in
 *	the queue file, the next hop and the transport, smtp or relay).
 *	smtp checks the request against the queue file, which it opens
 *	read-only, hands the recipients that match to the delivery code
 *	(smtp_deliver.c: next hop to hosts, the SMTP session, the cache of
 *	idle connections) and answers once per recipient: sent, deferred or
 *	bounced, with the status code, the text for the log, the relay, the
 *	remote server's reply and host for a bounce (Diagnostic-Code,
 *	Remote-MTA) and whether the next hop took the DSN request. qmgr
 *	marks the queue file, logs and sends notices; smtp writes nothing
 *	in the queue. Between requests it waits for the next one no longer
 *	than the first cached connection may stay idle, closes the idle
 *	connections that expired, and closes all of them when qmgr hangs up
 *	or ternd stops it. See smtp(8).
 * SECURITY
 *	Runs as mail_owner (service user "-"), never root: it reads queue
 *	files and talks to the network. Each qmgr connection is served by a
 *	process of its own. A request may only name active/ID for a valid
 *	queue id, and each recipient's index and address must be the ones
 *	in that file and still pending, so qmgr (or whatever connects to the
 *	socket, which only mail_owner can reach) cannot make smtp send
 *	anything that is not in the queue.
 * CONFIGURATION PARAMETERS
 *	Those of smtp_deliver.c (see smtp(8)); this file reads none itself.
 */
#include "compat.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mail/daemon.h"
#include "mail/lproto.h"
#include "mail/param_maps.h"
#include "mail/qfile.h"
#include "smtp/smtp.h"
#include "smtp/smtp_tls.h"
#include "util/frame.h"
#include "util/log.h"
#include "util/mem.h"

/* Set when smtp_deliver_init() failed: every recipient is deferred with this reason. */
static struct buf init_error = BUF_INIT;
static bool init_failed;

/* Control characters would break the log line and the one-line reason in bounces. */
static void one_line(struct buf *b)
{
	for (size_t i = 0; i < b->len; i++)
		if ((unsigned char)b->data[i] < 0x20 || b->data[i] == 0x7f)
			b->data[i] = ' ';
}

static int send_reply(int fd, long long index, enum lresult result, const char *dsn,
    const char *text, const char *relay, const char *diag, const char *remote_mta, int flags,
    const char *tls)
{
	static const char cls[] = "245";
	struct lreply rep;
	struct buf frame = BUF_INIT;
	int r;

	lreply_init(&rep);
	rep.index = index;
	rep.result = result;
	/* qmgr refuses a code whose class disagrees with the result: keep the result. */
	if (strlen(dsn) >= 5 && dsn[0] == cls[result] && dsn[1] == '.')
		buf_adds(&rep.dsn, dsn);
	else
		buf_printf(&rep.dsn, "%c.0.0", cls[result]);
	buf_adds(&rep.text, text);
	buf_adds(&rep.relay, *relay ? relay : "none");
	buf_adds(&rep.diag, diag);
	buf_adds(&rep.remote_mta, remote_mta);
	buf_adds(&rep.tls, tls);
	one_line(&rep.tls);
	one_line(&rep.text);
	one_line(&rep.relay);
	one_line(&rep.diag);
	one_line(&rep.remote_mta);
	rep.flags = result == LRESULT_SENT ? flags : 0;
	lreply_encode(&rep, &frame);
	r = frame_write(fd, &frame);
	lreply_free(&rep);
	buf_free(&frame);
	return r;
}

static int defer_one(int fd, long long index, const char *why)
{
	return send_reply(fd, index, LRESULT_DEFER, "4.3.0", why, "none", "", "", 0, "");
}

static bool nexthop_ok(const char *h)
{
	size_t n = strlen(h);

	if (n == 0 || n > 300)
		return false;
	for (const char *p = h; *p; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f)
			return false;
	return true;
}

/* Serve one request: a reply for each of its recipients. -1 when a reply could not be written. */
static int handle(int fd, const struct lreq *req)
{
	struct buf err = BUF_INIT, want = BUF_INIT, why = BUF_INIT;
	struct qfile *q = NULL;
	struct smtp_rcpt *rc = xcalloc(req->nrcpt, sizeof(*rc));
	bool *ok = xcalloc(req->nrcpt, sizeof(*ok));
	const char *id = buf_str(&req->queue_id);
	const char *transport = buf_str(&req->transport);
	size_t n = 0;
	int ret = 0;

	buf_printf(&want, "active/%s", id);
	if (init_failed)
		buf_printf(&why, "smtp client not ready: %s", buf_str(&init_error));
	else if (!qfile_id_valid(id) || strcmp(buf_str(&want), buf_str(&req->path)) != 0)
		buf_adds(&why, "bad queue file name in request");
	else if (strcmp(transport, "smtp") != 0 && strcmp(transport, "relay") != 0)
		buf_printf(&why, "transport \"%s\" is not served by the smtp program", transport);
	else if (!nexthop_ok(buf_str(&req->nexthop)))
		buf_adds(&why, "bad next hop in request");
	else if (qfile_open(buf_str(&req->path), false, &q, &err) != QF_OK)
		buf_printf(&why, "cannot open queue file: %s", buf_str(&err));
	else if (strcmp(qfile_sender(q), buf_str(&req->sender)) != 0)
		buf_adds(&why, "request does not match the queue file");
	if (why.len > 0) {
		msg_warn("%s: %s", id, buf_str(&why));
		for (size_t k = 0; k < req->nrcpt && ret == 0; k++)
			ret = defer_one(fd, req->rcpt[k].index, buf_str(&why));
		goto out;
	}
	for (size_t k = 0; k < req->nrcpt; k++) {
		const struct lreq_rcpt *qr = &req->rcpt[k];
		const struct qfile_rcpt *fr = NULL;

		/* The same recipient twice would be sent twice. */
		for (size_t j = 0; j < k; j++)
			if (ok[j] && req->rcpt[j].index == qr->index)
				goto refused;
		if ((size_t)qr->index >= qfile_rcpt_count(q)
		    || (fr = qfile_rcpt(q, (size_t)qr->index)) == NULL
		    || strcmp(fr->address, buf_str(&qr->address)) != 0
		    || fr->status != QF_RCPT_PENDING)
			goto refused;
		ok[k] = true;
		rc[n].index = qr->index;
		rc[n].address = fr->address;
		rc[n].orcpt = fr->orcpt ? fr->orcpt : "";
		rc[n].notify = fr->notify;
		rc[n].outcome = SMTP_PENDING;
		buf_init(&rc[n].text);
		buf_init(&rc[n].diag);
		n++;
		continue;
refused:
		msg_warn("%s: recipient %lld does not match the queue file", id, qr->index);
	}
	if (n > 0) {
		struct smtp_message m = {
			.queue_id = id,
			.q = q,
			.sender = qfile_sender(q),
			.nexthop = buf_str(&req->nexthop),
			.transport = transport,
			.rcpt = rc,
			.n = n,
		};
		smtp_deliver(&m);
	}
	for (size_t k = 0, i = 0; k < req->nrcpt && ret == 0; k++) {
		struct smtp_rcpt *r;
		enum lresult res;

		if (!ok[k]) {
			ret = defer_one(fd, req->rcpt[k].index, "request does not match the queue file");
			continue;
		}
		r = &rc[i++];
		switch (r->outcome) {
		case SMTP_SENT: res = LRESULT_SENT; break;
		case SMTP_BOUNCE: res = LRESULT_BOUNCE; break;
		case SMTP_DEFER: res = LRESULT_DEFER; break;
		default:
			/* Never left pending by contract; should it be, the recipient is retried. */
			res = LRESULT_DEFER;
			strlcpy(r->dsn, "4.3.0", sizeof(r->dsn));
			buf_reset(&r->text);
			buf_adds(&r->text, "delivery was not attempted");
			break;
		}
		r->relay[sizeof(r->relay) - 1] = '\0';
		r->remote_mta[sizeof(r->remote_mta) - 1] = '\0';
		r->dsn[sizeof(r->dsn) - 1] = '\0';
		ret = send_reply(fd, r->index, res, r->dsn, buf_str(&r->text), r->relay,
		    buf_str(&r->diag), r->remote_mta, r->notify_passed ? LREPLY_NOTIFY_PASSED : 0, r->tls);
	}
	if (ret < 0)
		msg_warn("%s: write reply to qmgr: %m", id);
out:
	for (size_t i = 0; i < n; i++) {
		buf_free(&rc[i].text);
		buf_free(&rc[i].diag);
	}
	free(rc);
	free(ok);
	if (q != NULL)
		qfile_close(q);
	buf_free(&err);
	buf_free(&want);
	buf_free(&why);
	return ret;
}

/* One qmgr connection, until it ends or ternd stops us. */
static void serve(int fd)
{
	struct buf in = BUF_INIT;
	struct lreq req;

	if (smtp_deliver_init(&init_error) < 0) {
		init_failed = true;
		msg_warn("%s; deferring every recipient", buf_str(&init_error));
	}
	lreq_init(&req);
	while (!daemon_stop) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int r = poll(&p, 1, smtp_cache_timeout_ms());

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			msg_warn("poll: %m");
			break;
		}
		if (r == 0) {
			smtp_cache_expire(false);
			continue;
		}
		if ((r = frame_read(fd, &in)) <= 0) {
			if (r < 0)
				msg_warn("read request from qmgr: %m");
			break;
		}
		if (lreq_decode(in.data, in.len, &req) < 0) {
			msg_warn("malformed request from qmgr; closing the connection");
			break;
		}
		param_maps_recheck();	/* this connection serves many messages */
		if (handle(fd, &req) < 0)
			break;
	}
	smtp_cache_expire(true);
	lreq_free(&req);
	buf_free(&in);
	buf_free(&init_error);
	close(fd);
}

int main(int argc, char **argv)
{
	daemon_init(argc, argv, "smtp", DAEMON_CATCH_TERM | DAEMON_DELIVERY);
	/*
	 * The TLS context (the system's trusted CAs parsed, a few ms of CPU)
	 * is made once here and inherited by every process forked below,
	 * instead of once per qmgr connection: that cost per process was a
	 * third of this program's CPU when relaying. A CA file changed later
	 * is read after `tern reload` (which starts a new listener). OpenSSL
	 * reseeds its random generator in each child (it sees the new process
	 * id), so no two sessions share a random stream. Should it
	 * fail here, each connection's process tries again (and says why).
	 * The DNS context stays per process, so that each reads
	 * /etc/resolv.conf as it is when it starts.
	 */
	{
		struct buf err = BUF_INIT;
		if (smtp_tls_init(&err) < 0)
			msg_warn("%s (tried again for each connection)", buf_str(&err));
		buf_free(&err);
	}
	/* The child keeps SIGTERM caught: cached connections get QUIT. */
	daemon_serve_forked(serve, DAEMON_SERVE_KEEP_TERM);
	return 0;
}
