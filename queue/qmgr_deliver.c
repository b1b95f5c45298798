/*
 * qmgr_deliver.c - one delivery attempt of one message (or of a batch),
 * in one of qmgr's delivery processes (qmgr_pool.c; mail_owner).
 *
 * Each queue file is locked (flock) while it is worked on, so that it
 * never has two delivery processes at once (qmgr.c).
 *
 * Order of events, which is what makes a crash safe: each recipient the
 * local delivery agent reports delivered is marked done in the queue
 * file (pwrite of its status byte, qfile_mark_done) before the next
 * reply is even read; a failed recipient is marked only after its bounce
 * is queued. The file is removed when nothing is pending (into the pool
 * of spare queue files, qrecycle.h; unsynced: a system crash before the
 * removal reaches the disk delivers it again, as Postfix would),
 * otherwise its marks are synced (qfile_sync) and it goes to deferred/
 * with its modification time set to the next attempt and the reasons
 * kept in defer/ID for mailq.
 *
 * Remote recipients go to qmgr_smtp.c (relayhost or MX), one SMTP
 * session per next hop; they are marked as the local ones are.
 *
 * A batch (qmgr_deliver_batch: messages for one local recipient, see
 * qmgr_sched.c) opens every file first, sends every request, all but the
 * last with hold (lproto.h), and only then reads the answers, message by
 * message in the same order; each file is then settled as alone. Should
 * the connection fail, what got no answer is deferred, as for one message.
 */
#include "compat.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "mail/bounce.h"
#include "mail/cleanup.h"
#include "mail/config.h"
#include "mail/lproto.h"
#include "mail/mailq.h"
#include "mail/qcorrupt.h"
#include "mail/qfile.h"
#include "mail/qwake.h"
#include "mail/resolve.h"
#include "queue/qmgr.h"
#include "util/frame.h"
#include "util/log.h"
#include "util/mem.h"

enum outcome { OUT_NONE, OUT_SENT, OUT_DEFER, OUT_BOUNCE };

/*
 * The deferral reasons of a local delivery agent that went away in the
 * middle (killed, crashed, restarted), or of its helper process for one
 * delivery (local_mailbox.c, run_as): not the mailbox's fault, so the
 * first such deferral is retried at once (a crash must not hold a whole
 * batch for minimal_backoff_time); a second one in a row backs off as
 * usual, so an agent that dies on a message never spins.
 */
#define LOCAL_LOST	"lost connection with the local delivery agent"
#define LOCAL_GONE	"local delivery agent unavailable"
#define LOCAL_DIED	"delivery process died"	/* local's helper for one delivery (run_as) */

static bool agent_lost(const char *why)
{
	return strcmp(why, LOCAL_LOST) == 0 || strcmp(why, LOCAL_GONE) == 0
	    || strncmp(why, LOCAL_DIED, strlen(LOCAL_DIED)) == 0;
}

struct rstate {
	enum outcome outcome;
	char relay[300];
	char dsn[16];
	struct buf text;
	int remote;		/* sent over SMTP: a success notice says "relayed" */
	int dsn_passed;		/* the next hop took NOTIFY: it reports success */
};

struct attempt {
	const char *id;
	struct qfile *q;
	size_t n;
	struct rstate *r;
	struct timeval arrival;
	int expired;
	int mark_failed;	/* a done mark could not be written */
};

static double delay_of(const struct attempt *a)
{
	struct timeval now;

	gettimeofday(&now, NULL);
	return (double)(now.tv_sec - a->arrival.tv_sec)
	    + (double)(now.tv_usec - a->arrival.tv_usec) / 1e6;
}

static void set(struct attempt *a, size_t i, enum outcome o, const char *relay, const char *dsn,
    const char *text)
{
	a->r[i].outcome = o;
	a->r[i].remote = 0;
	a->r[i].dsn_passed = 0;
	strlcpy(a->r[i].relay, relay, sizeof(a->r[i].relay));
	strlcpy(a->r[i].dsn, dsn, sizeof(a->r[i].dsn));
	buf_reset(&a->r[i].text);
	buf_adds(&a->r[i].text, text);
}

static void log_rcpt(const struct attempt *a, size_t i, const char *status)
{
	const struct qfile_rcpt *rc = qfile_rcpt(a->q, i);

	msg_info("%s: to=<%s>, relay=%s, delay=%.2f, dsn=%s, status=%s (%s)", a->id, rc->address,
	    a->r[i].relay, delay_of(a), a->r[i].dsn, status, buf_str(&a->r[i].text));
}

/* Mark recipient i done; on failure the attempt must stop (the file is unsure). */
static int mark(struct attempt *a, size_t i, char status)
{
	struct buf err = BUF_INIT;
	int ret = qfile_mark_done(a->q, i, status, &err);

	if (ret < 0)
		msg_error("%s: cannot mark recipient %zu done: %s", a->id, i, buf_str(&err));
	buf_free(&err);
	return ret;
}

/*
 * How long to wait for local's first answer to n requests sent together:
 * a stuck delivery must not hold the messages forever, but local answers
 * a batch only once every message of it is delivered, so the time one
 * message may take (a command, a mailbox lock) counts once per message.
 */
static void set_reply_timeout(int fd, size_t n)
{
	struct timeval tv = {.tv_sec = ((time_t)cfg_int(P_command_time_limit) + 120) * (time_t)(n ? n : 1)};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

static int connect_local(void)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd;

	strlcpy(sun.sun_path, "private/local", sizeof(sun.sun_path));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		close(fd);
		return -1;
	}
	set_reply_timeout(fd, 1);
	return fd;
}

/*
 * The connection to the local delivery agent stays open from one message
 * to the next of this delivery process (local serves any number of
 * requests on one connection); it is dropped after any error.
 */
static int local_fd = -1;

static void drop_local(void)
{
	if (local_fd >= 0)
		close(local_fd);
	local_fd = -1;
}

/*
 * Send a request; a kept connection the agent has closed since (it was
 * restarted) fails at once, so the first request of an attempt tries
 * once more on a new one. A later request of a batch must go on the
 * connection of the earlier ones, which answers all of them.
 */
static int send_local(const struct buf *frame, bool may_reconnect)
{
	bool kept = local_fd >= 0;

	if (local_fd < 0 && may_reconnect)
		local_fd = connect_local();
	if (local_fd >= 0 && frame_write(local_fd, frame) == 0)
		return 0;
	drop_local();
	if (!kept || !may_reconnect)
		return -1;
	local_fd = connect_local();
	if (local_fd >= 0 && frame_write(local_fd, frame) == 0)
		return 0;
	drop_local();
	return -1;
}

static void defer_all(struct attempt *a, const size_t *idx, size_t count, const char *why)
{
	for (size_t k = 0; k < count; k++)
		if (a->r[idx[k]].outcome == OUT_NONE)
			set(a, idx[k], OUT_DEFER, "local", "4.3.0", why);
}

/*
 * Hand the local recipients to the local delivery agent (hold: more
 * requests follow before any reply is read). -1 when it could not be
 * sent; its recipients are then deferred.
 */
static int local_send(struct attempt *a, const size_t *idx, size_t count, bool hold,
    bool may_reconnect)
{
	struct lreq req;
	struct buf frame = BUF_INIT;
	int ret = 0;

	lreq_init(&req);
	buf_adds(&req.queue_id, a->id);
	buf_printf(&req.path, "active/%s", a->id);
	buf_adds(&req.sender, qfile_sender(a->q));
	for (size_t k = 0; k < count; k++) {
		const struct qfile_rcpt *rc = qfile_rcpt(a->q, idx[k]);
		lreq_add_rcpt(&req, (long long)idx[k], rc->address, rc->orcpt);
	}
	req.hold = hold;
	lreq_encode(&req, &frame);
	if (send_local(&frame, may_reconnect) < 0) {
		defer_all(a, idx, count, LOCAL_GONE);
		ret = -1;
	}
	lreq_free(&req);
	buf_free(&frame);
	return ret;
}

/*
 * Record each answer to a sent request as it comes; -1 when a mark
 * failed. After a failed mark the file is unsure and nothing more is
 * marked in it, but the rest of its answers are still read: in a batch,
 * the answers of the next messages follow on the same connection.
 */
static int local_read(struct attempt *a, const size_t *idx, size_t count)
{
	struct lreply rep;
	struct buf frame = BUF_INIT;
	size_t answered = 0;
	int ret = 0;

	lreply_init(&rep);
	while (answered < count && local_fd >= 0) {
		errno = 0;
		int r = frame_read(local_fd, &frame);
		size_t i;

		if (r <= 0 || lreply_decode(frame.data, frame.len, &rep) < 0) {
			msg_warn("%s: %s from the local delivery agent", a->id,
			    r == 0 ? "early end of connection"
			    : r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) ? "no answer in time"
			    : "bad reply");
			drop_local();
			break;
		}
		i = (size_t)rep.index;
		if (i >= a->n || a->r[i].outcome != OUT_NONE) {
			msg_warn("%s: local reply for unexpected recipient %lld", a->id, rep.index);
			drop_local();
			break;
		}
		answered++;
		if (rep.result == LRESULT_SENT) {
			set(a, i, OUT_SENT, "local", buf_str(&rep.dsn), buf_str(&rep.text));
			/* Marked before the next reply is read (synced only if the file is kept). */
			if (ret == 0 && mark(a, i, QF_RCPT_DELIVERED) < 0)
				ret = -1;
			else if (ret == 0)
				log_rcpt(a, i, "sent");
		} else {
			set(a, i, rep.result == LRESULT_DEFER ? OUT_DEFER : OUT_BOUNCE, "local",
			    buf_str(&rep.dsn), buf_str(&rep.text));
		}
	}
	if (answered < count)
		drop_local();	/* replies may still come: never read them for another message */
	defer_all(a, idx, count, LOCAL_LOST);
	lreply_free(&rep);
	buf_free(&frame);
	return ret;
}

/* The original message for a notice: all of it, or enough for the headers. */
static void read_content(struct qfile *q, size_t limit, struct buf *out)
{
	char chunk[8192];
	ssize_t n;

	qfile_rewind(q);
	while (out->len <= limit && (n = qfile_read(q, chunk, sizeof(chunk))) > 0)
		buf_add(out, chunk, (size_t)n);
}

/* One notice of this kind for the recipients selected; 0 queued (or not wanted), -1 not. */
static int notify(struct attempt *a, enum bounce_kind kind, const size_t *idx, size_t count)
{
	struct bounce_rcpt *br;
	struct buf content = BUF_INIT, err = BUF_INIT;
	char nid[QF_ID_MAX];
	const char *ret_attr = qfile_attr(a->q, "dsn_ret");
	struct bounce_msg m = {
		.kind = kind,
		.queue_id = a->id,
		.sender = qfile_sender(a->q),
		.envid = qfile_attr(a->q, "dsn_envid"),
		.arrival = a->arrival.tv_sec,
		.ret_full = ret_attr != NULL && strcasecmp(ret_attr, "FULL") == 0,
	};
	int ret;

	if (count == 0)
		return 0;
	br = xcalloc(count, sizeof(*br));
	for (size_t k = 0; k < count; k++) {
		const struct qfile_rcpt *rc = qfile_rcpt(a->q, idx[k]);
		br[k].address = rc->address;
		br[k].orcpt = rc->orcpt;
		br[k].status = a->r[idx[k]].dsn;
		br[k].diag = buf_str(&a->r[idx[k]].text);
		if (kind == BOUNCE_DELIVERED && a->r[idx[k]].remote)
			br[k].action = "relayed";	/* RFC 3464 2.3.3: no DSN beyond here */
	}
	m.rcpts = br;
	m.nrcpt = count;
	if (kind == BOUNCE_DELAYED) {
		long long life = *m.sender ? cfg_int(P_maximal_queue_lifetime)
		    : cfg_int(P_bounce_queue_lifetime);
		m.retry_until = a->arrival.tv_sec + (time_t)life;
	}
	read_content(a->q, (size_t)cfg_int(P_bounce_size_limit) + 65536, &content);
	m.message = content.data ? content.data : "";
	m.message_len = content.len;
	ret = bounce_send(&m, nid, sizeof(nid), &err);
	if (ret < 0)
		msg_warn("%s: cannot queue a notification: %s", a->id, buf_str(&err));
	free(br);
	buf_free(&content);
	buf_free(&err);
	return ret < 0 ? -1 : 0;
}

static int wants(int notify_bits, int bit)
{
	if (notify_bits & DSN_NOTIFY_NEVER)
		return 0;
	if (notify_bits == 0)	/* not given: failures (and delays) are reported */
		return bit == DSN_NOTIFY_FAILURE || bit == DSN_NOTIFY_DELAY;
	return (notify_bits & bit) != 0;
}

/* An SMTP result: a delivered recipient is marked before anything else. */
static void smtp_result(void *ctx, size_t i, int outcome, const char *relay, const char *dsn,
    const char *text)
{
	struct attempt *a = ctx;

	if (i >= a->n || a->r[i].outcome != OUT_NONE)
		return;
	int sent = outcome == 0 || outcome == QMGR_SMTP_SENT_DSN;
	set(a, i, sent ? OUT_SENT : outcome == 1 ? OUT_DEFER : OUT_BOUNCE, relay, dsn, text);
	a->r[i].remote = 1;
	a->r[i].dsn_passed = outcome == QMGR_SMTP_SENT_DSN;
	if (sent) {
		if (mark(a, i, QF_RCPT_DELIVERED) < 0)
			a->mark_failed = 1;
		else
			log_rcpt(a, i, "sent");
	}
}

/* Where an attempt's pending recipients go: the local delivery agent, or SMTP next hops. */
struct plan {
	size_t *local_idx, nlocal;
	size_t *relay_idx, nrelay;
	char **relay_hop;
};

/* Classify each pending recipient (a bad one is bounced here). */
static void plan_make(struct attempt *a, struct plan *p)
{
	struct resolved res;

	p->local_idx = xcalloc(a->n + 1, sizeof(size_t));
	p->relay_idx = xcalloc(a->n + 1, sizeof(size_t));
	p->relay_hop = xcalloc(a->n + 1, sizeof(char *));
	p->nlocal = p->nrelay = 0;
	resolved_init(&res);
	for (size_t i = 0; i < a->n; i++) {
		const struct qfile_rcpt *rc = qfile_rcpt(a->q, i);

		if (rc->status != QF_RCPT_PENDING)
			continue;
		if (resolve_address(rc->address, &res) < 0) {
			set(a, i, OUT_BOUNCE, "none", "5.1.3", "bad address syntax");
			continue;
		}
		switch (res.class) {
		case RESOLVE_LOCAL:
			p->local_idx[p->nlocal++] = i;
			break;
		case RESOLVE_RELAY:
			p->relay_idx[p->nrelay] = i;
			p->relay_hop[p->nrelay++] = xstrdup(buf_str(&res.nexthop));
			break;
		case RESOLVE_VIRTUAL: {
			const char *t = buf_str(&res.nexthop);
			set(a, i, OUT_BOUNCE, "none", "5.1.1",
			    strncmp(t, "5.1.1 ", 6) == 0 ? t + 6 : t);
			break;
		}
		default:
			set(a, i, OUT_BOUNCE, "none", "5.1.3", "bad address syntax");
			break;
		}
	}
	resolved_free(&res);
}

/* Remote recipients: one SMTP session per next hop. -1 when a mark failed. */
static int plan_relay(struct attempt *a, struct plan *p)
{
	int ret = 0;

	for (size_t k = 0; k < p->nrelay && ret == 0; k++) {
		size_t *group, ng = 0;

		if (p->relay_hop[k] == NULL)
			continue;
		group = xcalloc(p->nrelay, sizeof(size_t));
		for (size_t m = k; m < p->nrelay; m++) {
			if (p->relay_hop[m] != NULL && strcasecmp(p->relay_hop[m], p->relay_hop[k]) == 0) {
				group[ng++] = p->relay_idx[m];
				if (m != k) {
					free(p->relay_hop[m]);
					p->relay_hop[m] = NULL;
				}
			}
		}
		a->mark_failed = 0;
		qmgr_smtp(a->q, a->id, p->relay_hop[k], group, ng, smtp_result, a);
		if (a->mark_failed)
			ret = -1;
		free(group);
	}
	return ret;
}

static void plan_free(struct plan *p)
{
	for (size_t k = 0; k < p->nrelay; k++)
		free(p->relay_hop[k]);
	free(p->relay_hop);
	free(p->relay_idx);
	free(p->local_idx);
}

/* After the attempt: expiry, bounces, success notices, delay warnings; pending count. */
static size_t settle(struct attempt *a, struct deferlog *dl)
{
	size_t *fail = xcalloc(a->n + 1, sizeof(size_t)), *quiet = xcalloc(a->n + 1, sizeof(size_t));
	size_t *ok = xcalloc(a->n + 1, sizeof(size_t)), *late = xcalloc(a->n + 1, sizeof(size_t));
	size_t nfail = 0, nquiet = 0, nok = 0, nlate = 0, pending = 0;
	time_t now = time(NULL);

	for (size_t i = 0; i < a->n; i++) {
		const struct qfile_rcpt *rc = qfile_rcpt(a->q, i);
		struct rstate *r = &a->r[i];

		/* soft_bounce: a failure is kept and retried instead (testing configurations). */
		if (r->outcome == OUT_BOUNCE && cfg_bool(P_soft_bounce) && !a->expired) {
			r->outcome = OUT_DEFER;
			r->dsn[0] = '4';
		}
		if (r->outcome == OUT_DEFER && a->expired) {
			struct buf why = BUF_INIT;
			long age = (long)(now - a->arrival.tv_sec);
			if (age >= 86400)
				buf_printf(&why, "message expired after %ld days", age / 86400);
			else if (age >= 3600)
				buf_printf(&why, "message expired after %ld hours", age / 3600);
			else
				buf_printf(&why, "message expired after %ld seconds", age);
			buf_printf(&why, ": %s", buf_str(&r->text));
			r->outcome = OUT_BOUNCE;
			r->dsn[0] = '5';
			if (strcmp(r->dsn, "5.3.0") == 0 || r->dsn[1] != '.')
				strlcpy(r->dsn, "5.4.7", sizeof(r->dsn));
			buf_reset(&r->text);
			buf_adds(&r->text, buf_str(&why));
			buf_free(&why);
		}
		if (r->outcome == OUT_BOUNCE) {
			if (wants(rc->notify, DSN_NOTIFY_FAILURE) || *qfile_sender(a->q) == '\0')
				fail[nfail++] = i;
			else
				quiet[nquiet++] = i;
		} else if (r->outcome == OUT_SENT && wants(rc->notify, DSN_NOTIFY_SUCCESS)
		    && !r->dsn_passed) {
			ok[nok++] = i;
		}
	}
	/* Failures: the notice first, then the marks. */
	if (nfail > 0 && notify(a, BOUNCE_FAILED, fail, nfail) < 0) {
		for (size_t k = 0; k < nfail; k++) {
			struct rstate *r = &a->r[fail[k]];
			r->outcome = OUT_DEFER;
			buf_reset(&r->text);
			buf_adds(&r->text, "cannot queue the non-delivery notification");
			strlcpy(r->dsn, "4.3.0", sizeof(r->dsn));
		}
		nfail = 0;
	}
	for (size_t k = 0; k < nfail; k++) {
		if (mark(a, fail[k], QF_RCPT_BOUNCED) == 0)
			log_rcpt(a, fail[k], "bounced");
	}
	for (size_t k = 0; k < nquiet; k++) {
		if (mark(a, quiet[k], QF_RCPT_BOUNCED) == 0)
			log_rcpt(a, quiet[k], "bounced");
	}
	if (nok > 0)
		notify(a, BOUNCE_DELIVERED, ok, nok);
	/* What is still pending is deferred. */
	for (size_t i = 0; i < a->n; i++) {
		const struct qfile_rcpt *rc = qfile_rcpt(a->q, i);
		struct rstate *r = &a->r[i];

		if (rc->status != QF_RCPT_PENDING)
			continue;
		pending++;
		if (r->outcome == OUT_NONE)
			set(a, i, OUT_DEFER, "none", "4.3.0", "delivery was not attempted");
		deferlog_add(dl, rc->address, buf_str(&r->text));
		log_rcpt(a, i, "deferred");
		if (wants(rc->notify, DSN_NOTIFY_DELAY))
			late[nlate++] = i;
	}
	{
		long long warn = cfg_int(P_delay_warning_time);
		if (warn > 0 && nlate > 0 && dl->warned == 0 && now - a->arrival.tv_sec >= warn
		    && *qfile_sender(a->q) != '\0') {
			if (notify(a, BOUNCE_DELAYED, late, nlate) == 0)
				dl->warned = now;
		}
	}
	free(fail);
	free(quiet);
	free(ok);
	free(late);
	return pending;
}

/* One message's attempt, from opening its file to removing or deferring it. */
struct job {
	struct attempt a;
	struct deferlog dl;
	struct buf path;
	struct plan plan;
	bool ready;		/* opened: the attempt goes on */
	bool sent;		/* its local request went out */
	bool lost_before;	/* its last attempt too ended with the local agent gone */
};


/* Open active/ID and get the attempt ready (j->ready), or deal with a file that cannot be. */
static void job_begin(struct job *j, const char *id)
{
	struct buf err = BUF_INIT;
	struct attempt *a = &j->a;
	long long life;
	const char *fx;
	int r;

	memset(j, 0, sizeof(*j));
	a->id = id;
	buf_init(&j->path);
	buf_printf(&j->path, "active/%s", id);
	r = qfile_open(buf_str(&j->path), true, &a->q, &err);
	if (r == QF_CORRUPT) {
		struct buf merr = BUF_INIT;
		msg_warn("%s: corrupt queue file (%s); moved to corrupt/", id, buf_str(&err));
		bounce_error_notice("software", id, "corrupt queue file; moved to corrupt/");
		if (qfile_move(buf_str(&j->path), "corrupt", &merr) < 0)
			msg_error("%s: move to corrupt: %s", id, buf_str(&merr));
		qcorrupt_trim("corrupt", cfg_int(P_corrupt_queue_limit));
		buf_free(&merr);
		goto out;
	}
	if (r == QF_STALE) {
		/* A crash left a name pointing at a reused file: only the name goes. */
		msg_warn("%s: stale name of a reused queue file (%s); removed", id, buf_str(&err));
		if (unlink(buf_str(&j->path)) < 0)
			msg_error("%s: remove stale name: %m", id);
		goto out;
	}
	if (r != QF_OK) {
		msg_warn("%s: cannot open queue file: %s", id, buf_str(&err));
		goto out;	/* qmgr defers what is left in active/ */
	}
	/*
	 * Held while this process works on it: a delivery process of an
	 * earlier qmgr (killed, or stopped for a reload) may still be at
	 * work on it, and two at once would repeat its deliveries and mark a
	 * file the other has recycled. Left to that one (qmgr.c watches it).
	 */
	if (flock(qfile_fd(a->q), LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK) {
		msg_info("%s: in the hands of another delivery process; left to it", id);
		qfile_close(a->q);
		a->q = NULL;
		goto out;
	}
	a->n = qfile_rcpt_count(a->q);
	a->r = xcalloc(a->n, sizeof(*a->r));
	a->arrival = qfile_arrival(a->q);
	life = *qfile_sender(a->q) ? cfg_int(P_maximal_queue_lifetime) : cfg_int(P_bounce_queue_lifetime);
	fx = qfile_attr(a->q, "forced_expire");
	a->expired = time(NULL) - a->arrival.tv_sec >= (time_t)life || (fx && strcmp(fx, "yes") == 0);
	msg_info("%s: from=<%s>, size=%llu, nrcpt=%zu (queue active)", id, qfile_sender(a->q),
	    qfile_content_size(a->q), a->n);
	deferlog_init(&j->dl);
	deferlog_read(".", id, &j->dl);
	for (size_t k = 0; k < j->dl.count; k++)
		if (agent_lost(j->dl.reason[k]))
			j->lost_before = true;
	{
		/* Reasons are recomputed on every attempt; keep only the warning mark. */
		long long warned = j->dl.warned;
		deferlog_free(&j->dl);
		j->dl.warned = warned;
	}
	plan_make(a, &j->plan);
	j->ready = true;
out:
	buf_free(&err);
}

/*
 * The attempt is over (ok: every mark was written): remove the file when
 * nothing is pending, else sync its marks and defer it. When a mark could
 * not be written the file stays in active/ for qmgr to retry.
 */
static void job_end(struct job *j, bool ok)
{
	struct attempt *a = &j->a;
	const char *id = a->id;

	if (j->ready && !ok) {
		/* The file could not be marked: stop here, qmgr will retry it. */
		qfile_close(a->q);
		a->q = NULL;
	} else if (j->ready) {
		size_t pending = settle(a, &j->dl);
		if (pending == 0) {
			int rc = qfile_remove(a->q);
			a->q = NULL;
			if (rc < 0)
				msg_error("%s: remove queue file: %m", id);
			deferlog_remove(".", id);
			msg_info("%s: removed", id);
		} else {
			struct timeval tv[2];
			struct buf merr = BUF_INIT;
			bool lost = false;

			for (size_t i = 0; i < a->n; i++)
				if (a->r[i].outcome == OUT_DEFER && agent_lost(buf_str(&a->r[i].text)))
					lost = true;
			/* Its done marks must outlive a system crash, or the retry repeats them. */
			if (qfile_sync(a->q, &merr) < 0) {
				msg_warn("%s: %s", id, buf_str(&merr));
				buf_reset(&merr);
			}
			deferlog_write(".", id, &j->dl);
			gettimeofday(&tv[0], NULL);
			if (lost && !j->lost_before)
				msg_info("%s: the local delivery agent went away; retried at once", id);
			else
				tv[0].tv_sec += qmgr_backoff(tv[0].tv_sec - a->arrival.tv_sec);
			tv[1] = tv[0];
			if (utimes(buf_str(&j->path), tv) < 0)
				msg_warn("%s: set next attempt time: %m", id);
			if (qfile_move(buf_str(&j->path), "deferred", &merr) < 0)
				msg_error("%s: move to deferred: %s", id, buf_str(&merr));
			else if (lost && !j->lost_before)
				qwake_send(".", QWAKE_DUE);	/* qmgr looks into deferred/ now */
			buf_free(&merr);
		}
	}
	if (j->ready) {
		deferlog_free(&j->dl);
		plan_free(&j->plan);
	}
	if (a->q != NULL)
		qfile_close(a->q);
	for (size_t i = 0; i < a->n; i++)
		buf_free(&a->r[i].text);
	free(a->r);
	buf_free(&j->path);
}

int qmgr_deliver(const char *id)
{
	struct job j;
	int ret = 0;

	job_begin(&j, id);
	if (j.ready && j.plan.nlocal > 0 && local_send(&j.a, j.plan.local_idx, j.plan.nlocal, false, true) == 0)
		ret = local_read(&j.a, j.plan.local_idx, j.plan.nlocal);
	if (j.ready && ret == 0)
		ret = plan_relay(&j.a, &j.plan);
	job_end(&j, ret == 0);
	return 0;
}

int qmgr_deliver_batch(const char *const *ids, size_t n)
{
	struct job *jobs = xcalloc(n, sizeof(*jobs));
	size_t last = n, first = n;

	for (size_t k = 0; k < n; k++) {
		job_begin(&jobs[k], ids[k]);
		if (jobs[k].ready && jobs[k].plan.nlocal > 0) {
			if (first == n)
				first = k;
			last = k;
		}
	}
	/* Every request before any reply: all but the last with hold. */
	for (size_t k = first; k < n && k <= last; k++) {
		struct job *j = &jobs[k];
		if (!j->ready || j->plan.nlocal == 0)
			continue;
		if (k != first && local_fd < 0)
			defer_all(&j->a, j->plan.local_idx, j->plan.nlocal, LOCAL_GONE);
		else
			j->sent = local_send(&j->a, j->plan.local_idx, j->plan.nlocal, k != last,
			    k == first) == 0;
	}
	/* Then the answers, in the same order (a lost connection defers the rest). */
	size_t nsent = 0;
	for (size_t k = 0; k < n; k++)
		nsent += jobs[k].sent;
	if (local_fd >= 0)
		set_reply_timeout(local_fd, nsent);
	for (size_t k = 0; k < n; k++) {
		struct job *j = &jobs[k];
		int ret = 0;
		if (j->sent)
			ret = local_read(&j->a, j->plan.local_idx, j->plan.nlocal);
		if (j->ready && ret == 0)
			ret = plan_relay(&j->a, &j->plan);
		job_end(j, ret == 0);
	}
	if (local_fd >= 0)
		set_reply_timeout(local_fd, 1);
	free(jobs);
	return 0;
}
