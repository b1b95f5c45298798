/*
 * qmgr_agent.c - the queue manager's side of the delivery agents: the
 * local delivery agent (private/local) and the smtp program
 * (private/smtp-client), both spoken to with lproto (lib/mail/lproto.h).
 *
 * Runs in a delivery process of qmgr, as mail_owner. Each agent's
 * connection stays open from one message to the next of this process
 * (the agents serve any number of requests on one connection) and is
 * dropped after any error, so that a late answer is never read for
 * another message. A recipient the agent reports delivered is marked
 * done in the queue file (qfile_mark_done) before the next answer is
 * read; failures are only recorded here and settled by qmgr_settle.c.
 */
#include "compat.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "mail/config.h"
#include "mail/lproto.h"
#include "mail/qfile.h"
#include "queue/qmgr_attempt.h"
#include "util/frame.h"
#include "util/log.h"

struct agent {
	const char *name;	/* for the log and deferral reasons */
	const char *socket;	/* relative to queue_directory */
	const char *relay;	/* relay= of a recipient it never answered */
	bool remote;		/* its deliveries leave this host */
	int fd;
	struct frame_in in;	/* its replies, read a batch at a time */
	/*
	 * The receive timeout fd has (0: none set yet). Most attempts ask
	 * for the one the last asked for, so the setsockopt is made only
	 * when it changes, not once per message.
	 */
	time_t timeout;
};

struct agent agent_local = {.name = "local delivery agent", .socket = "private/local",
			    .relay = "local", .fd = -1};
struct agent agent_smtp = {.name = "smtp delivery agent", .socket = "private/smtp-client",
			   .relay = "none", .remote = true, .fd = -1};

/*
 * How long to wait for the first answer to n requests sent together.
 * local answers a batch only once every message of it is delivered, so
 * the time one message may take (a command, a mailbox lock) counts once
 * per message. smtp bounds each stage of a session itself (its
 * smtp_*_timeout parameters, several hosts in turn): an hour is only a
 * guard against a stuck program, after which the recipients are
 * deferred and retried.
 */
void agent_set_timeout(struct agent *ag, size_t n)
{
	struct timeval tv = {0};

	if (ag->fd < 0)
		return;
	if (ag->remote)
		tv.tv_sec = 3600;
	else
		tv.tv_sec = ((time_t)cfg_int(P_command_time_limit) + 120) * (time_t)(n ? n : 1);
	if (tv.tv_sec == ag->timeout)
		return;
	if (setsockopt(ag->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == 0)
		ag->timeout = tv.tv_sec;
}

bool agent_connected(const struct agent *ag)
{
	return ag->fd >= 0;
}

static void drop(struct agent *ag)
{
	if (ag->fd >= 0)
		close(ag->fd);
	ag->fd = -1;
	ag->timeout = 0;
	frame_in_free(&ag->in);	/* what it sent is never read for another message */
}

static void connect_agent(struct agent *ag)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd;

	strlcpy(sun.sun_path, ag->socket, sizeof(sun.sun_path));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		close(fd);
		return;
	}
	ag->fd = fd;
	ag->timeout = 0;
	frame_in_init(&ag->in, fd);
	agent_set_timeout(ag, 1);
}

/*
 * A kept connection the agent has closed since (it was restarted) fails
 * at once, so the first request of an attempt tries once more on a new
 * one. A later request of a batch must go on the connection of the
 * earlier ones, which answers all of them.
 */
static int send_frame(struct agent *ag, const struct buf *frame, bool may_reconnect)
{
	bool kept = ag->fd >= 0;

	if (ag->fd < 0 && may_reconnect)
		connect_agent(ag);
	if (ag->fd >= 0 && frame_write(ag->fd, frame) == 0)
		return 0;
	drop(ag);
	if (!kept || !may_reconnect)
		return -1;
	connect_agent(ag);
	if (ag->fd >= 0 && frame_write(ag->fd, frame) == 0)
		return 0;
	drop(ag);
	return -1;
}

void attempt_defer_rest(struct attempt *a, const size_t *idx, size_t count, const char *relay,
    const char *why)
{
	for (size_t k = 0; k < count; k++)
		if (a->r[idx[k]].outcome == OUT_NONE)
			attempt_set(a, idx[k], OUT_DEFER, relay, "4.3.0", why);
}

int agent_send(struct agent *ag, struct attempt *a, const size_t *idx, size_t count, bool hold,
    bool may_reconnect, const char *transport, const char *nexthop)
{
	struct lreq req;
	struct buf frame = BUF_INIT, why = BUF_INIT;
	double now = attempt_now();
	int ret = 0;

	lreq_init(&req);
	buf_adds(&req.queue_id, a->id);
	buf_printf(&req.path, "active/%s", a->id);
	buf_adds(&req.sender, qfile_sender(a->q));
	for (size_t k = 0; k < count; k++) {
		const struct qfile_rcpt *rc = qfile_rcpt(a->q, idx[k]);
		lreq_add_rcpt(&req, (long long)idx[k], rc->address, rc->orcpt);
		a->r[idx[k]].t_agent = now;
	}
	req.hold = hold;
	buf_adds(&req.transport, transport);
	buf_adds(&req.nexthop, nexthop);
	lreq_encode(&req, &frame);
	if (send_frame(ag, &frame, may_reconnect) < 0) {
		buf_printf(&why, "%s unavailable", ag->name);
		attempt_defer_rest(a, idx, count, ag->relay, buf_str(&why));
		ret = -1;
	}
	lreq_free(&req);
	buf_free(&frame);
	buf_free(&why);
	return ret;
}

/* Is i one of the recipients of this request? */
static bool asked(const size_t *idx, size_t count, size_t i)
{
	for (size_t k = 0; k < count; k++)
		if (idx[k] == i)
			return true;
	return false;
}

int agent_read(struct agent *ag, struct attempt *a, const size_t *idx, size_t count)
{
	struct lreply rep;
	struct buf frame = BUF_INIT, why = BUF_INIT;
	size_t answered = 0;
	int ret = 0;

	lreply_init(&rep);
	while (answered < count && ag->fd >= 0) {
		errno = 0;
		int r = frame_read_in(&ag->in, &frame);
		struct rstate *rs;
		const char *relay;
		size_t i;

		if (r <= 0 || lreply_decode(frame.data, frame.len, &rep) < 0) {
			msg_warn("%s: %s from the %s", a->id,
			    r == 0 ? "early end of connection"
			    : r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) ? "no answer in time"
			    : "bad reply", ag->name);
			drop(ag);
			break;
		}
		i = (size_t)rep.index;
		if (i >= a->n || a->r[i].outcome != OUT_NONE || !asked(idx, count, i)) {
			msg_warn("%s: %s reply for unexpected recipient %lld", a->id, ag->name, rep.index);
			drop(ag);
			break;
		}
		answered++;
		relay = rep.relay.len > 0 ? buf_str(&rep.relay) : ag->relay;
		attempt_set(a, i, rep.result == LRESULT_SENT ? OUT_SENT
		    : rep.result == LRESULT_DEFER ? OUT_DEFER : OUT_BOUNCE, relay, buf_str(&rep.dsn),
		    buf_str(&rep.text));
		rs = &a->r[i];
		rs->t_done = attempt_now();
		rs->remote = ag->remote;
		rs->dsn_passed = ag->remote && (rep.flags & LREPLY_NOTIFY_PASSED) != 0;
		buf_adds(&rs->diag, buf_str(&rep.diag));
		strlcpy(rs->remote_mta, buf_str(&rep.remote_mta), sizeof(rs->remote_mta));
		strlcpy(rs->tls, buf_str(&rep.tls), sizeof(rs->tls));
		if (rep.result == LRESULT_SENT) {
			/* Marked before the next reply is read (synced only if the file is kept). */
			if (ret == 0 && attempt_mark(a, i, QF_RCPT_DELIVERED) < 0)
				ret = -1;
			else if (ret == 0)
				attempt_log(a, i, "sent");
		}
	}
	if (answered < count)
		drop(ag);	/* replies may still come: never read them for another message */
	buf_printf(&why, "lost connection with the %s", ag->name);
	attempt_defer_rest(a, idx, count, ag->relay, buf_str(&why));
	lreply_free(&rep);
	buf_free(&frame);
	buf_free(&why);
	return ret;
}
