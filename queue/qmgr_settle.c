/*
 * qmgr_settle.c - the end of a delivery attempt: expired mail bounced,
 * bounces queued before their recipients are marked, success notices,
 * delay warnings, deferral reasons for mailq; and the one log line per
 * recipient.
 *
 * Runs in a delivery process of qmgr, as mail_owner.
 *
 * The log line has Postfix's shape, "ID: to=<addr>, relay=R, delay=T,
 * delays=a/b/c/d, dsn=X.Y.Z, status=S (text)". delay is the time since
 * the message arrived; delays splits it as far as Tern can measure it
 * honestly: a, before this delivery attempt (in the incoming queue and
 * earlier attempts: Postfix's "before the queue manager"); b, in the
 * queue manager until the request went to a delivery agent (or until
 * now for a recipient no agent handles: error:, retry:, discard:); c,
 * connection setup, always 0, because the agents do not report it
 * apart; d, from the request to the agent's answer, its connection
 * setup included.
 */
#include "compat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>

#include "mail/bounce.h"
#include "mail/cleanup.h"
#include "mail/config.h"
#include "mail/mailq.h"
#include "mail/qfile.h"
#include "queue/qmgr_attempt.h"
#include "util/log.h"
#include "util/mem.h"

double attempt_now(void)
{
	struct timeval now;

	gettimeofday(&now, NULL);
	return (double)now.tv_sec + (double)now.tv_usec / 1e6;
}

void attempt_set(struct attempt *a, size_t i, enum outcome o, const char *relay, const char *dsn,
    const char *text)
{
	struct rstate *r = &a->r[i];

	r->outcome = o;
	r->remote = 0;
	r->dsn_passed = 0;
	r->remote_mta[0] = '\0';
	r->tls[0] = '\0';
	buf_reset(&r->diag);
	strlcpy(r->relay, relay, sizeof(r->relay));
	strlcpy(r->dsn, dsn, sizeof(r->dsn));
	buf_reset(&r->text);
	buf_adds(&r->text, text);
}

int attempt_mark(struct attempt *a, size_t i, char status)
{
	struct buf err = BUF_INIT;
	int ret = qfile_mark_done(a->q, i, status, &err);

	if (ret < 0)
		msg_error("%s: cannot mark recipient %zu done: %s", a->id, i, buf_str(&err));
	buf_free(&err);
	return ret;
}

/* Postfix's way of writing a delay: "0", "0.25", "3.1", "1363". */
static void add_delay(struct buf *b, double s)
{
	char tmp[64];
	size_t n;

	if (s < 0.005) {
		buf_addc(b, '0');
		return;
	}
	snprintf(tmp, sizeof(tmp), s < 10 ? "%.2f" : s < 100 ? "%.1f" : "%.0f", s);
	n = strlen(tmp);
	if (strchr(tmp, '.') != NULL) {
		while (n > 0 && tmp[n - 1] == '0')
			n--;
		if (n > 0 && tmp[n - 1] == '.')
			n--;
	}
	buf_add(b, tmp, n);
}

void attempt_log(const struct attempt *a, size_t i, const char *status)
{
	const struct qfile_rcpt *rc = qfile_rcpt(a->q, i);
	const struct rstate *r = &a->r[i];
	double now = attempt_now();
	double arrival = (double)a->arrival.tv_sec + (double)a->arrival.tv_usec / 1e6;
	double before = a->start - arrival, inq, deliv = 0;
	struct buf d = BUF_INIT;

	if (r->t_agent > 0) {
		inq = r->t_agent - a->start;
		deliv = (r->t_done > 0 ? r->t_done : now) - r->t_agent;
	} else {
		inq = now - a->start;
	}
	add_delay(&d, now - arrival);
	buf_adds(&d, ", delays=");
	add_delay(&d, before > 0 ? before : 0);
	buf_addc(&d, '/');
	add_delay(&d, inq > 0 ? inq : 0);
	buf_adds(&d, "/0/");
	add_delay(&d, deliv > 0 ? deliv : 0);
	/*
	 * tls= goes after the status text: log tools (pflogsumm) expect
	 * Postfix's fields up to status= in this order.
	 */
	msg_info("%s: to=<%s>, relay=%s, delay=%s, dsn=%s, status=%s (%s)%s%s", a->id, rc->address,
	    r->relay, buf_str(&d), r->dsn, status, buf_str(&r->text), *r->tls ? ", tls=" : "", r->tls);
	buf_free(&d);
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
		const struct rstate *r = &a->r[idx[k]];

		br[k].address = rc->address;
		br[k].orcpt = rc->orcpt;
		br[k].status = r->dsn;
		br[k].diag = buf_str(&r->text);
		br[k].remote_mta = r->remote_mta;
		br[k].smtp_diag = buf_str(&r->diag);
		if (kind == BOUNCE_DELIVERED && r->remote)
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
/* After the attempt: expiry, bounces, success notices, delay warnings; pending count. */
size_t attempt_settle(struct attempt *a, struct deferlog *dl)
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
		if (attempt_mark(a, fail[k], QF_RCPT_BOUNCED) == 0)
			attempt_log(a, fail[k], "bounced");
	}
	for (size_t k = 0; k < nquiet; k++) {
		if (attempt_mark(a, quiet[k], QF_RCPT_BOUNCED) == 0)
			attempt_log(a, quiet[k], "bounced");
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
			attempt_set(a, i, OUT_DEFER, "none", "4.3.0", "delivery was not attempted");
		deferlog_add(dl, rc->address, buf_str(&r->text));
		attempt_log(a, i, "deferred");
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
