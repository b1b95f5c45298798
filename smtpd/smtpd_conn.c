/*
 * smtpd_conn.c - one SMTP session on a non-blocking socket: accept,
 * read into the engine, write its replies, STARTTLS and implicit TLS,
 * timeouts, delayed replies, early talkers, and the hand-off of finished
 * messages to the commit pool, of AUTH steps to the AUTH pool and of
 * policy decisions that need the DNS to the DNS pool.
 *
 * Part of smtpd, runs as mail_owner on the event loop thread. A session
 * holds no buffer while idle: reads go through one shared buffer and the
 * engine frees its own buffers when they empty.
 */
#include "compat.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>

#include "mail/qspace.h"
#include "mail/smtp_queue.h"
#include "smtpd/smtpd.h"
#include "util/log.h"
#include "util/mem.h"

enum cstate {
	CS_GREET,		/* greeting pause: input now is an early talker */
	CS_HANDSHAKE,		/* TLS handshake in progress */
	CS_RUN,			/* SMTP */
};

/* Message state kept by smtpd around smtp_queue's. */
struct conn_msg {
	void *q;
};

struct conn {
	struct smtpd_watch w;	/* first: the event loop hands back &w */
	struct smtp_engine *e;
	SSL *ssl;
	enum cstate state;
	uint32_t ev;		/* the interest registered with epoll */
	uint32_t want;		/* what the session waits for (ev may hold EPOLLIN more: pump) */
	bool registered;	/* added to epoll (at the first set_events) */
	bool hold, dead, implicit, exempt, ssl_wants_write;
	unsigned jobs;		/* worker jobs (commit, AUTH step, DNS lookup) that point here */
	struct smtp_policy_dns *dns;	/* answers of earlier lookups; NULL until one was needed */
	char *prepend;		/* PREPEND header lines of the transaction's policy answers; NULL: none */
	uint64_t deadline, hold_until;
	uint64_t session_end;	/* smtpd_session_time_limit; UINT64_MAX: none */
	uint64_t data_deadline;	/* message content must be in by then (smtpd_min_data_rate); 0: not in content */
	bool in_line;		/* a command line has begun: its deadline runs from its first byte */
	struct conn *prev, *next;	/* idle list, oldest first */
	struct conn *hprev, *hnext;	/* hold list, earliest first */
	bool in_hold_list;
	struct smtpd_anvil_client *client;
	struct smtpd_milter *milter;	/* smtpd_milters: NULL when none */
	enum smtpd_milter_stage after_policy;	/* the milter stage that follows a pending policy verdict */
	char *policy_rcpt;	/* the recipient of that verdict */
	void *milter_msg;	/* the message the milters are looking at */
	char addr[64];
	unsigned port;		/* the client's, for the PREGREET line */
	uint64_t since;		/* accept time */
};

static struct conn *idle_head, *idle_tail, *hold_head;
static unsigned nconn;
static char rbuf[65536];

#define OUTPUT_HIGH_WATER	(256 * 1024)

static void pump(struct conn *c);
static void conn_close(struct conn *c);
static void commit_answer(struct conn *c, enum smtp_commit result, const char *queue_id,
		const char *reason);

unsigned smtpd_conn_count(void)
{
	return nconn;
}

/* ---- timers ---- */

static void idle_unlink(struct conn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else if (idle_head == c)
		idle_head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else if (idle_tail == c)
		idle_tail = c->prev;
	c->prev = c->next = NULL;
}

/*
 * Put the session's deadline at when. The idle list stays sorted by
 * deadline; with one timeout for everyone (the default: both are 300s)
 * the place is near the tail, so the walk back is short.
 */
static void set_deadline(struct conn *c, uint64_t when)
{
	idle_unlink(c);
	c->deadline = when;
	struct conn *after = idle_tail;
	while (after != NULL && after->deadline > c->deadline)
		after = after->prev;
	c->prev = after;
	c->next = after ? after->next : idle_head;
	if (c->next)
		c->next->prev = c;
	else
		idle_tail = c;
	if (after)
		after->next = c;
	else
		idle_head = c;
}

/* A deadline, but never past the end of the session (smtpd_session_time_limit). */
static void limit_deadline(struct conn *c, uint64_t when)
{
	set_deadline(c, when < c->session_end ? when : c->session_end);
}

/*
 * The client did something: its deadline moves on, by smtpd_starttls_timeout
 * during a TLS handshake, else by smtpd_timeout.
 */
static void touch(struct conn *c)
{
	limit_deadline(c, smtpd_now() + (c->state == CS_HANDSHAKE ? smtpd.starttls_timeout_ms : smtpd.timeout_ms));
}

/*
 * After the engine took n bytes of input (or an answer it waited for):
 * the deadline, as an administrator reads smtpd_timeout. Message content
 * starts with smtpd_timeout and earns n / smtpd_min_data_rate seconds per
 * read, never more than smtpd_timeout ahead, so a client that trickles
 * content is closed however often it sends a byte (Postfix's rule with
 * smtpd_per_record_deadline, which Tern always applies). A command line
 * gets smtpd_timeout from its first byte to its end, so trickling a line
 * gains nothing either. Between commands the client has smtpd_timeout
 * to begin the next one. A BDAT transaction counts as content from its
 * first chunk to its last, the BDAT command lines included.
 */
static void reschedule(struct conn *c, size_t n)
{
	uint64_t now = smtpd_now();
	int f = smtp_engine_flags(c->e);
	if (!(f & SMTP_IN_CONTENT))
		c->data_deadline = 0;
	else if (c->data_deadline == 0)
		c->data_deadline = now + smtpd.timeout_ms;
	if (c->data_deadline != 0) {
		c->in_line = false;
		c->data_deadline += (uint64_t)n * 1000 / smtpd.min_data_rate;
		if (c->data_deadline > now + smtpd.timeout_ms)
			c->data_deadline = now + smtpd.timeout_ms;
		limit_deadline(c, c->data_deadline);
		return;
	}
	if (smtp_engine_partial_line(c->e)) {
		if (!c->in_line) {
			c->in_line = true;
			touch(c);
		}
		return;
	}
	c->in_line = false;
	touch(c);
}

static void hold_unlink(struct conn *c)
{
	if (!c->in_hold_list)
		return;
	if (c->hprev)
		c->hprev->hnext = c->hnext;
	else
		hold_head = c->hnext;
	if (c->hnext)
		c->hnext->hprev = c->hprev;
	c->hprev = c->hnext = NULL;
	c->in_hold_list = false;
}

static void hold_for(struct conn *c, unsigned ms)
{
	hold_unlink(c);
	c->hold = true;
	c->hold_until = smtpd_now() + ms;
	struct conn **pp = &hold_head, *prev = NULL;
	while (*pp != NULL && (*pp)->hold_until <= c->hold_until) {
		prev = *pp;
		pp = &(*pp)->hnext;
	}
	c->hnext = *pp;
	c->hprev = prev;
	if (*pp)
		(*pp)->hprev = c;
	*pp = c;
	c->in_hold_list = true;
}

/* ---- engine callbacks ---- */

static enum smtp_verdict cb_connect(void *ctx, const struct smtp_session_info *si, struct buf *reply)
{
	struct conn *c = ctx;
	if (smtpd.policy == NULL)
		return SMTP_ACCEPT;	/* mail is refused at RCPT with 451 */
	enum smtp_verdict v = smtp_policy_connect(smtpd.policy, si, reply);
	if (v == SMTP_ACCEPT && c->milter != NULL)
		v = smtpd_milter_event(c->milter, SMTPD_M_CONNECT, NULL, false, reply);
	return v;
}

/*
 * After the policy's verdict on a command, the milters' (Postfix's order:
 * smtpd's restrictions first). A policy verdict still pending (DNS) is
 * followed by the milters in smtpd_conn_policy_done. A recipient the
 * policy refused is shown to the milters that ask for refused ones.
 */
static enum smtp_verdict then_milters(struct conn *c, enum smtpd_milter_stage st, enum smtp_verdict v,
		const char *rcpt, struct buf *reply)
{
	if (c->milter == NULL)
		return v;
	if (v == SMTP_PENDING) {
		c->after_policy = st;
		if (rcpt != c->policy_rcpt) {	/* policy_done passes the one kept */
			free(c->policy_rcpt);
			c->policy_rcpt = rcpt ? xstrdup(rcpt) : NULL;
		}
		return v;
	}
	if (v == SMTP_ACCEPT)
		return smtpd_milter_event(c->milter, st, rcpt, false, reply);
	if (v == SMTP_REJECT && st == SMTPD_M_RCPT)
		return smtpd_milter_event(c->milter, st, rcpt, true, reply);
	return v;
}

static enum smtp_verdict cb_helo(void *ctx, const struct smtp_session_info *si, struct buf *reply)
{
	if (smtpd.policy == NULL)
		return SMTP_ACCEPT;
	enum smtp_verdict v = smtpd_dns_check(ctx, SMTPD_DNS_HELO, si, NULL, reply);
	if (v == SMTP_ACCEPT)
		buf_reset(reply);	/* a HELO has no message to add headers to */
	return then_milters(ctx, SMTPD_M_HELO, v, NULL, reply);
}

/* Keep the header lines an accepting policy verdict carries (see smtp_policy.h). */
static void keep_prepend(struct conn *c, enum smtp_verdict v, struct buf *reply)
{
	if (v != SMTP_ACCEPT || reply->len == 0)
		return;
	struct buf all = BUF_INIT;
	if (c->prepend != NULL)
		buf_adds(&all, c->prepend);
	buf_adds(&all, buf_str(reply));
	free(c->prepend);
	c->prepend = buf_steal(&all);
	buf_reset(reply);
}

static enum smtp_verdict cb_mail(void *ctx, const struct smtp_session_info *si, const char *sender,
		struct buf *reply)
{
	struct conn *c = ctx;
	(void)sender;	/* also in si->sender */
	/* A new transaction: headers asked for in an earlier one are not this message's. */
	free(c->prepend);
	c->prepend = NULL;
	if (smtpd.policy == NULL)
		return SMTP_ACCEPT;
	enum smtp_verdict v = smtpd_dns_check(ctx, SMTPD_DNS_MAIL, si, NULL, reply);
	keep_prepend(c, v, reply);
	return then_milters(c, SMTPD_M_MAIL, v, NULL, reply);
}

static enum smtp_verdict cb_data(void *ctx, const struct smtp_session_info *si, size_t nrcpt, bool end,
		struct buf *reply)
{
	struct conn *c = ctx;
	if (smtpd.policy == NULL)
		return SMTP_ACCEPT;	/* no recipient was accepted anyway */
	enum smtp_verdict v = smtp_policy_data(smtpd.policy, si, nrcpt, end, reply);
	/* The milters see the content at the end, in cb_finish. */
	return end ? v : then_milters(c, SMTPD_M_DATA, v, NULL, reply);
}

/*
 * Per-transaction limits before the 250 to MAIL: room in the queue
 * (queue_minfree, and 1.5 x message_size_limit as Postfix wants), then
 * the client's message rate.
 */
static enum smtp_verdict cb_rate(void *ctx, const struct smtp_session_info *si, struct buf *reply)
{
	struct conn *c = ctx;
	struct buf why = BUF_INIT;
	(void)si;
	int room = qspace_check(smtpd.queue_dir, smtpd.queue_minfree, smtpd.message_size_limit, &why);
	if (room == 0)
		msg_warn("%s", buf_str(&why));
	buf_free(&why);
	if (room == 0) {
		buf_adds(reply, "452 4.3.1 Insufficient system storage");
		return SMTP_REJECT;
	}
	return smtpd_anvil_message(c->client, reply) == 0 ? SMTP_ACCEPT : SMTP_REJECT;
}

static enum smtp_verdict cb_auth_rate(void *ctx, const struct smtp_session_info *si, struct buf *reply)
{
	struct conn *c = ctx;
	(void)si;
	return smtpd_anvil_auth(c->client, reply) == 0 ? SMTP_ACCEPT : SMTP_REJECT;
}

static enum smtp_verdict cb_rcpt(void *ctx, const struct smtp_session_info *si, const char *rcpt,
		struct buf *reply)
{
	struct conn *c = ctx;
	if (smtpd.policy == NULL) {
		buf_adds(reply, "451 4.3.5 Server configuration error");
		return SMTP_REJECT;
	}
	if (smtpd_anvil_rcpt(c->client, reply) != 0)
		return SMTP_REJECT;
	enum smtp_verdict v = smtpd_dns_check(c, SMTPD_DNS_RCPT, si, rcpt, reply);
	keep_prepend(c, v, reply);
	return then_milters(c, SMTPD_M_RCPT, v, rcpt, reply);
}

static enum smtp_verdict cb_unknown(void *ctx, const struct smtp_session_info *si, const char *line,
		struct buf *reply)
{
	struct conn *c = ctx;
	(void)si;
	if (c->milter == NULL)
		return SMTP_ACCEPT;
	return smtpd_milter_event(c->milter, SMTPD_M_UNKNOWN, line, false, reply);
}

static void cb_txn_end(void *ctx)
{
	struct conn *c = ctx;
	smtpd_milter_abort(c->milter);
}

static void cb_vrfy(void *ctx, const struct smtp_session_info *si, const char *addr, struct buf *reply)
{
	(void)ctx;
	if (smtpd.policy != NULL)
		smtp_policy_vrfy(smtpd.policy, si, addr, reply);
}

static void *cb_open(void *ctx, const struct smtp_session_info *si, const struct smtp_envelope *env,
		struct buf *reply)
{
	struct conn *c = ctx;
	void *q = smtp_queue_open_edit(NULL, si, env, c->milter != NULL, smtpd_milter_take_writer(c->milter),
				       reply);
	if (q == NULL)
		return NULL;
	/*
	 * Postfix's first line of a message, logged when its queue file is
	 * made, before cleanup's message-id= and the queue manager's from=:
	 * log tools (pflogsumm) count a received message from it.
	 */
	const char *qid = cleanup_queue_id(smtp_queue_cleanup(q));
	if (si->sasl_username)
		msg_info("%s: client=%s[%s], sasl_method=%s, sasl_username=%s", qid, si->client_name,
			 c->addr, si->sasl_method ? si->sasl_method : "", si->sasl_username);
	else
		msg_info("%s: client=%s[%s]", qid, si->client_name, c->addr);
	/*
	 * Headers from PREPEND actions (X-Greylist:, Received-SPF:) start
	 * the message; cleanup puts its Received: above them.
	 */
	if (c->prepend != NULL) {
		if (smtp_queue_write(q, c->prepend, strlen(c->prepend)) < 0) {
			smtp_queue_abort(q);
			buf_adds(reply, "451 4.3.0 Error: queue file write error");
			return NULL;
		}
		free(c->prepend);
		c->prepend = NULL;
	}
	struct conn_msg *m = xcalloc(1, sizeof(*m));
	m->q = q;
	return m;
}

static int cb_write(void *msg, const char *data, size_t len)
{
	struct conn_msg *m = msg;
	return smtp_queue_write(m->q, data, len);
}

/*
 * Commit now, on the loop thread, or on the commit pool. Now: without
 * commit threads, and when this session is the only one and no commit is
 * in flight. Then the loop has nothing else to serve while the fsync runs
 * (a client that connects meanwhile waits for its greeting that long,
 * in the listen queue), and a message costs no hand-off to a commit
 * thread and back (its wake-up, the loop's wake-up: two context switches
 * and four system calls at one client). There is nothing to share a sync
 * with either. The commit itself is the same call either way.
 */
static enum smtp_commit commit(struct conn *c, void *q, char *qid, size_t idlen, struct buf *reason)
{
	if (smtpd.commit_threads == 0 || (nconn == 1 && !smtpd_commit_busy())) {
		enum smtp_commit r = smtp_queue_commit(q, qid, idlen, reason);
		smtpd_milter_message_end(c->milter);
		return r;
	}
	smtpd_conn_job_start(c);
	smtpd_commit_submit(c, q);
	return SMTP_COMMIT_PENDING;
}

/*
 * The milters refused or discarded the message: it is not queued. A
 * discarded one is answered 250 as if it had been (the client must not
 * send it again), and logged.
 */
static enum smtp_commit milter_refused(struct conn *c, void *q, enum milter_outcome o, const char *r,
		char *qid, size_t idlen, struct buf *reason)
{
	const char *id = cleanup_queue_id(smtp_queue_cleanup(q));
	const struct smtp_session_info *si = smtp_engine_info(c->e);
	buf_reset(reason);
	if (o == MILTER_O_DISCARD) {
		msg_info("%s: milter-discard: END-OF-MESSAGE from %s[%s]: 4.7.1 Message discarded by milter; from=<%s>",
			 id, si->client_name, c->addr, si->sender ? si->sender : "");
		if (qid && idlen)
			qid[0] = '\0';	/* the engine's "250 2.0.0 Ok", without an id */
	} else {
		buf_adds(reason, r ? r : "");	/* the engine logs the refusal */
	}
	smtp_queue_abort(q);
	smtpd_milter_message_end(c->milter);
	switch (o) {
	case MILTER_O_DISCARD:
		return SMTP_COMMIT_OK;
	case MILTER_O_REJECT:
		return SMTP_COMMIT_REJECT;
	default:
		return SMTP_COMMIT_TEMPFAIL;
	}
}

static enum smtp_commit cb_finish(void *ctx, void *msg, char *qid, size_t idlen, struct buf *reason)
{
	struct conn *c = ctx;
	struct conn_msg *m = msg;
	void *q = m->q;
	/*
	 * A message that is all header gets its empty line here, so that
	 * cleanup's header work (map lookups) runs on this thread, not on a
	 * commit thread.
	 */
	if (smtp_queue_close_headers(q) < 0) {
		free(m);
		smtp_queue_abort(q);
		buf_adds(reason, "queue file write error");
		return SMTP_COMMIT_TEMPFAIL;
	}
	free(m);
	if (c->milter != NULL) {
		const char *r = NULL;
		enum milter_outcome o = smtpd_milter_discarding(c->milter) ? MILTER_O_DISCARD
					: smtpd_milter_message(c->milter, q, &r);
		if (o == MILTER_O_PENDING) {
			c->milter_msg = q;
			return SMTP_COMMIT_PENDING;
		}
		if (o != MILTER_O_CONTINUE)
			return milter_refused(c, q, o, r, qid, idlen, reason);
	}
	return commit(c, q, qid, idlen, reason);
}

static void cb_abort(void *msg)
{
	struct conn_msg *m = msg;
	smtp_queue_abort(m->q);
	free(m);
}

static void cb_log(void *ctx, bool warning, const char *line)
{
	(void)ctx;
	if (warning)
		msg_warn("%s", line);
	else
		msg_info("%s", line);
}

static const struct smtp_engine_ops ops = {
	.check_connect = cb_connect,
	.check_helo = cb_helo,
	.check_mail = cb_mail,
	.check_data = cb_data,
	.check_rcpt = cb_rcpt,
	.check_rate = cb_rate,
	.check_auth_rate = cb_auth_rate,
	.vrfy = cb_vrfy,
	.check_unknown = cb_unknown,
	.txn_end = cb_txn_end,
	.msg_open = cb_open,
	.msg_write = cb_write,
	.msg_finish = cb_finish,
	.msg_abort = cb_abort,
	.auth_new = smtpd_auth_new,		/* smtpd_auth.c */
	.auth_step = smtpd_auth_step,
	.auth_username = smtpd_auth_username,
	.auth_free = smtpd_auth_free,
	.auth_outcome = smtpd_auth_outcome,
	.log = cb_log,
};

/* ---- I/O ---- */

/*
 * The socket joins epoll at its first set_events, with the interest it
 * needs then (EPOLLIN once the greeting went out), not with none at
 * accept and a change right after: one epoll_ctl instead of two.
 */
static void register_events(struct conn *c, uint32_t ev)
{
	if (!c->registered) {
		smtpd_watch_add(&c->w, ev);
		c->registered = true;
		c->ev = ev;
	} else if (ev != c->ev) {
		smtpd_watch_mod(&c->w, ev);
		c->ev = ev;
	}
}

static void set_events(struct conn *c, uint32_t ev)
{
	c->want = ev;
	register_events(c, ev);
}

/* Send queued output; -1 when the connection is gone. */
static int flush(struct conn *c)
{
	size_t len;
	const char *p;
	c->ssl_wants_write = false;
	while ((p = smtp_engine_output(c->e, &len)) != NULL && len > 0) {
		if (c->ssl) {
			ERR_clear_error();
			int n = SSL_write(c->ssl, p, (int)(len > 1 << 20 ? 1 << 20 : len));
			if (n > 0) {
				smtp_engine_output_done(c->e, (size_t)n);
				continue;
			}
			int err = SSL_get_error(c->ssl, n);
			if (err == SSL_ERROR_WANT_WRITE || err == SSL_ERROR_WANT_READ)
				return 0;
			return -1;
		}
		ssize_t n = send(c->w.fd, p, len, MSG_NOSIGNAL);
		if (n > 0) {
			smtp_engine_output_done(c->e, (size_t)n);
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return 0;
		return -1;
	}
	return 0;
}

/*
 * smtpd_greet_pause for a client outside the exceptions: wait before
 * the greeting (on implicit TLS, after the handshake, since there the
 * client speaks first). True when the pause began.
 */
static bool greet_pause(struct conn *c)
{
	if (smtpd.greet_pause_ms == 0 || c->exempt || (smtp_engine_flags(c->e) & SMTP_WANT_CLOSE))
		return false;
	c->state = CS_GREET;
	hold_for(c, smtpd.greet_pause_ms);
	set_events(c, EPOLLIN);
	touch(c);
	return true;
}

static void tls_handshake(struct conn *c)
{
	ERR_clear_error();
	int r = SSL_accept(c->ssl);
	if (r == 1) {
		const char *version = SSL_get_version(c->ssl);
		const char *cipher = SSL_get_cipher_name(c->ssl);
		if (smtpd.tls_loglevel >= 1) {
			/* Postfix's line: no client certificate is asked for, hence "Anonymous". */
			int alg_bits = 0, bits = SSL_get_cipher_bits(c->ssl, &alg_bits);
			msg_info("Anonymous TLS connection established from %s[%s]: %s with cipher %s "
				 "(%d/%d bits)%s", smtp_engine_info(c->e)->client_name, c->addr, version,
				 cipher, bits, alg_bits, SSL_session_reused(c->ssl) ? " (resumed)" : "");
		}
		c->state = CS_RUN;
		if (c->implicit) {
			smtp_engine_set_tls(c->e, version, cipher);
			if (greet_pause(c))
				return;
			smtp_engine_start(c->e);
		} else {
			smtp_engine_tls_done(c->e, true, version, cipher);
		}
		touch(c);
		pump(c);
		return;
	}
	int err = SSL_get_error(c->ssl, r);
	if (err == SSL_ERROR_WANT_READ) {
		set_events(c, EPOLLIN);
		return;
	}
	if (err == SSL_ERROR_WANT_WRITE) {
		set_events(c, EPOLLOUT);
		return;
	}
	char text[200] = "";
	ERR_error_string_n(ERR_get_error(), text, sizeof(text));
	const char *refused = smtpd_tls_refused(c->ssl);
	if (refused != NULL)
		msg_warn("SSL_accept error from %s[%s]: %s", smtp_engine_info(c->e)->client_name, c->addr,
			 refused);
	else
		msg_info("SSL_accept error from %s[%s]: %s", smtp_engine_info(c->e)->client_name, c->addr,
			 *text ? text : "lost connection");
	smtp_engine_tls_done(c->e, false, NULL, NULL);
	conn_close(c);
}

/* smtpd_tls_loglevel 2 and up: each step of the handshake, as Postfix logs them. */
static void tls_info(const SSL *ssl, int where, int ret)
{
	const struct conn *c = SSL_get_app_data(ssl);
	if (c == NULL)
		return;
	if (where & SSL_CB_LOOP)
		msg_info("%s[%s]: SSL_accept:%s", smtp_engine_info(c->e)->client_name, c->addr,
			 SSL_state_string_long(ssl));
	else if (where & SSL_CB_ALERT)
		msg_info("%s[%s]: SSL3 alert %s:%s:%s", smtp_engine_info(c->e)->client_name, c->addr,
			 (where & SSL_CB_READ) ? "read" : "write", SSL_alert_type_string_long(ret),
			 SSL_alert_desc_string_long(ret));
}

static void start_tls(struct conn *c)
{
	c->ssl = SSL_new(smtpd.tls);
	if (c->ssl == NULL || smtpd_tls_attach(c->ssl, c->w.fd) < 0) {
		msg_warn("cannot start TLS for %s: out of resources", c->addr);
		conn_close(c);
		return;
	}
	SSL_set_accept_state(c->ssl);
	if (smtpd.tls_loglevel >= 2) {
		SSL_set_app_data(c->ssl, c);
		SSL_set_info_callback(c->ssl, tls_info);
	}
	c->state = CS_HANDSHAKE;
	touch(c);	/* smtpd_starttls_timeout for the whole handshake */
	tls_handshake(c);
}

/* After anything happened: send, then decide what to wait for. */
static void pump(struct conn *c)
{
	if (c->dead)
		return;
	unsigned delay = smtp_engine_take_delay(c->e);
	if (delay > 0)
		hold_for(c, delay);
	if (!c->hold && flush(c) < 0) {
		smtp_engine_eof(c->e);
		conn_close(c);
		return;
	}
	size_t pending;
	smtp_engine_output(c->e, &pending);
	int f = smtp_engine_flags(c->e);
	if (pending == 0 && !c->hold) {
		if (f & SMTP_WANT_CLOSE) {
			conn_close(c);
			return;
		}
		if ((f & SMTP_WANT_STARTTLS) && c->state == CS_RUN) {
			start_tls(c);
			return;
		}
	}
	uint32_t ev = 0;
	if (!c->hold && !(f & (SMTP_WAIT_ANY | SMTP_WANT_CLOSE | SMTP_WANT_STARTTLS))
	    && pending < OUTPUT_HIGH_WATER)
		ev |= EPOLLIN;
	if (!c->hold && (pending > 0 || c->ssl_wants_write))
		ev |= EPOLLOUT;
	c->want = ev;
	/*
	 * While the session waits for a worker or a milter (a commit, a
	 * policy verdict), EPOLLIN stays registered: a client that waits for
	 * the reply, as almost all do, sends nothing meanwhile, and the wait
	 * costs no epoll_ctl to drop EPOLLIN and none to add it back. One
	 * that pipelines on wakes the loop once, and on_event drops EPOLLIN
	 * then (its bytes wait in the socket, as before). A session that
	 * waits for its connect milter joins epoll with EPOLLIN likewise.
	 * Never while held
	 * (a delay must not read), closing or before STARTTLS (nothing
	 * after the command may be read as plaintext).
	 */
	if ((!c->registered || (c->ev & EPOLLIN)) && !c->hold && (f & SMTP_WAIT_ANY)
	    && !(f & (SMTP_WANT_CLOSE | SMTP_WANT_STARTTLS)) && pending < OUTPUT_HIGH_WATER)
		ev |= EPOLLIN;
	register_events(c, ev);
}

static void readable(struct conn *c)
{
	for (int i = 0; i < 16; i++) {
		ssize_t n;
		if (c->ssl) {
			ERR_clear_error();
			int r = SSL_read(c->ssl, rbuf, sizeof(rbuf));
			if (r <= 0) {
				int err = SSL_get_error(c->ssl, r);
				if (err == SSL_ERROR_WANT_READ)
					break;
				if (err == SSL_ERROR_WANT_WRITE) {
					c->ssl_wants_write = true;
					break;
				}
				smtp_engine_eof(c->e);
				conn_close(c);
				return;
			}
			n = r;
		} else {
			n = recv(c->w.fd, rbuf, sizeof(rbuf), 0);
			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				break;
			if (n <= 0) {
				smtp_engine_eof(c->e);
				conn_close(c);
				return;
			}
		}
		smtp_engine_input(c->e, rbuf, (size_t)n);
		reschedule(c, (size_t)n);
		int f = smtp_engine_flags(c->e);
		if (f & (SMTP_WAIT_ANY | SMTP_WANT_CLOSE | SMTP_WANT_STARTTLS))
			break;
		size_t pending;
		smtp_engine_output(c->e, &pending);
		if (pending >= OUTPUT_HIGH_WATER || (size_t)n < sizeof(rbuf) / 2)
			break;
	}
	pump(c);
}

/* The greeting pause ended, or the client spoke during it. */
static void greet(struct conn *c, bool early)
{
	if (early) {
		char peek[64];
		ssize_t n;
		if (c->ssl != NULL) {
			/* Implicit TLS: only application data counts, not TLS records. */
			ERR_clear_error();
			int r = SSL_peek(c->ssl, peek, sizeof(peek) - 1);
			n = r;
			if (r <= 0) {
				int err = SSL_get_error(c->ssl, r);
				if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE)
					return;
				conn_close(c);
				return;
			}
		} else {
			n = recv(c->w.fd, peek, sizeof(peek) - 1, MSG_PEEK | MSG_DONTWAIT);
		}
		if (n <= 0) {
			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				return;
			conn_close(c);	/* gone before the greeting: not an early talker */
			return;
		}
		/* postscreen's wording and escapes, which log watchers know. */
		struct buf shown = BUF_INIT;
		for (ssize_t i = 0; i < n; i++) {
			if (peek[i] == '\r')
				buf_adds(&shown, "\\r");
			else if (peek[i] == '\n')
				buf_adds(&shown, "\\n");
			else
				buf_addc(&shown, (peek[i] >= 32 && peek[i] < 127) ? peek[i] : '?');
		}
		uint64_t ms = smtpd_now() - c->since;
		msg_info("PREGREET %zd after %llu.%02llu from [%s]:%u: %s", n, (unsigned long long)(ms / 1000),
				(unsigned long long)(ms % 1000 / 10), c->addr, c->port, buf_str(&shown));
		buf_free(&shown);
		hold_unlink(c);
		c->hold = false;
		c->state = CS_RUN;
		smtp_engine_refuse(c->e, "554 5.5.1 Error: talking before the greeting");
		pump(c);
		return;
	}
	c->state = CS_RUN;
	if (c->implicit && c->ssl == NULL) {
		start_tls(c);
		return;
	}
	smtp_engine_start(c->e);
	pump(c);
}

static void on_event(struct smtpd_watch *w, uint32_t events)
{
	struct conn *c = (struct conn *)w;
	if (c->dead)
		return;
	switch (c->state) {
	case CS_GREET:
		greet(c, true);
		return;
	case CS_HANDSHAKE:
		/* No touch(): smtpd_starttls_timeout bounds the whole handshake, trickled or not. */
		tls_handshake(c);
		return;
	case CS_RUN:
		break;
	}
	if (events & (EPOLLERR | EPOLLHUP)) {
		/* Read what is left (a QUIT, maybe), then close. */
		events |= EPOLLIN;
	} else if ((events & EPOLLIN) && !(c->want & EPOLLIN)) {
		/* Input while the session waits (pump kept EPOLLIN): stop watching it now. */
		register_events(c, c->want);
		events &= ~(uint32_t)EPOLLIN;
	}
	if ((events & EPOLLOUT) && !c->hold) {
		pump(c);
		if (c->dead)
			return;
	}
	if (events & EPOLLIN)
		readable(c);
}

/*
 * Closed sessions are freed after the current batch of events, so that
 * no code still holding the pointer (an event later in the batch, the
 * caller of pump) ever sees freed memory.
 */
static struct conn *grave;

static void conn_free(struct conn *c)
{
	c->next = grave;
	grave = c;
}

void smtpd_conn_reap(void)
{
	smtpd_milter_reap();
	while (grave != NULL) {
		struct conn *c = grave;
		grave = c->next;
		smtp_engine_free(c->e);
		free(c->dns);
		free(c->prepend);
		free(c->policy_rcpt);
		free(c);
	}
}

static void conn_close(struct conn *c)
{
	if (c->dead)
		return;
	/* Postfix's shape: "disconnect from host[addr] ehlo=1 auth=0/1 quit=1 commands=2/3". */
	const struct smtp_session_info *si = smtp_engine_info(c->e);
	struct buf counts = BUF_INIT;
	smtp_engine_command_counts(c->e, &counts);
	msg_info("disconnect from %s[%s] %s", si->client_name, c->addr, buf_str(&counts));
	buf_free(&counts);
	if (c->ssl) {
		SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	if (c->milter_msg != NULL) {
		smtp_queue_abort(c->milter_msg);
		c->milter_msg = NULL;
	}
	smtpd_milter_free(c->milter);
	c->milter = NULL;
	/*
	 * No EPOLL_CTL_DEL: smtpd neither forks nor duplicates a session's
	 * socket, so this close is the last reference to it and takes it out
	 * of the epoll set; events of it already fetched in this batch find
	 * c dead (freed after the batch).
	 */
	close(c->w.fd);
	idle_unlink(c);
	hold_unlink(c);
	smtpd_anvil_disconnect(c->client);
	c->dead = true;
	nconn--;
	if (c->jobs == 0)
		conn_free(c);
	/* else the last job's answer frees it (smtpd_conn_job_done). */
}

void smtpd_conn_job_start(void *conn)
{
	struct conn *c = conn;
	c->jobs++;
}

void smtpd_conn_job_done(void *conn)
{
	struct conn *c = conn;
	c->jobs--;
	if (c->dead && c->jobs == 0)
		conn_free(c);
}

void smtpd_conn_auth_done(void *conn, enum smtp_auth_status st, const char *data, size_t len)
{
	struct conn *c = conn;
	if (c->dead) {
		/* Gone while the backend answered (the engine let go of the context first). */
		smtpd_conn_job_done(c);
		return;
	}
	c->jobs--;
	smtp_engine_auth_done(c->e, st, data, len);
	reschedule(c, 0);
	pump(c);
}

const struct smtp_session_info *smtpd_conn_waiting_info(void *conn)
{
	struct conn *c = conn;
	return c->dead ? NULL : smtp_engine_info(c->e);
}

void smtpd_conn_policy_done(void *conn, enum smtp_verdict v, const char *reply)
{
	struct conn *c = conn;
	c->jobs--;
	struct buf r = BUF_INIT;
	buf_adds(&r, reply);
	keep_prepend(c, v, &r);
	enum smtpd_milter_stage st = c->after_policy;
	c->after_policy = SMTPD_M_NONE;
	if (st != SMTPD_M_NONE && c->milter != NULL) {
		if (st == SMTPD_M_HELO && v == SMTP_ACCEPT)
			buf_reset(&r);
		v = then_milters(c, st, v, c->policy_rcpt, &r);
		if (v == SMTP_PENDING) {
			buf_free(&r);
			return;		/* smtpd_conn_milter_done follows */
		}
	}
	smtp_engine_policy_done(c->e, v, buf_str(&r));
	buf_free(&r);
	reschedule(c, 0);
	pump(c);
}

void smtpd_conn_milter_done(void *conn, enum smtp_verdict v, const char *reply)
{
	struct conn *c = conn;
	smtp_engine_policy_done(c->e, v, reply);
	reschedule(c, 0);
	pump(c);
}

void smtpd_conn_milter_message_done(void *conn, enum milter_outcome o, const char *reply)
{
	struct conn *c = conn;
	void *q = c->milter_msg;
	char qid[64] = "";
	struct buf reason = BUF_INIT;
	enum smtp_commit r;
	c->milter_msg = NULL;
	if (o == MILTER_O_CONTINUE)
		r = commit(c, q, qid, sizeof(qid), &reason);
	else
		r = milter_refused(c, q, o, reply, qid, sizeof(qid), &reason);
	if (r != SMTP_COMMIT_PENDING)
		commit_answer(c, r, qid, buf_str(&reason));
	buf_free(&reason);
}

const struct smtp_policy_dns *smtpd_conn_dns_known(void *conn)
{
	return ((struct conn *)conn)->dns;
}

void smtpd_conn_dns_keep(void *conn, const struct smtp_policy_dns *dns)
{
	struct conn *c = conn;
	if (c->dns == NULL)
		c->dns = xmalloc(sizeof(*c->dns));
	*c->dns = *dns;
	c->dns->need[0] = '\0';
	/* Policy answers hold for one command; a request belongs to the job that makes it. */
	c->dns->request = NULL;
	c->dns->nanswers = 0;
}

/* Answer the end of data. */
static void commit_answer(struct conn *c, enum smtp_commit result, const char *queue_id,
		const char *reason)
{
	smtpd_milter_message_end(c->milter);
	smtp_engine_commit_done(c->e, result, queue_id, reason);
	reschedule(c, 0);
	pump(c);
}

void smtpd_conn_commit_done(void *conn, enum smtp_commit result, const char *queue_id,
		const char *reason)
{
	struct conn *c = conn;
	if (c->dead) {
		/* The client left while we committed: the message is queued (or not) all the same. */
		smtpd_conn_job_done(c);
		return;
	}
	c->jobs--;
	commit_answer(c, result, queue_id, reason);
}

static void peer_text(const struct sockaddr_storage *ss, char *out, size_t len)
{
	if (ss->ss_family == AF_INET) {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, out, (socklen_t)len);
	} else if (ss->ss_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)ss)->sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED(a))
			inet_ntop(AF_INET, &a->s6_addr[12], out, (socklen_t)len);
		else
			inet_ntop(AF_INET6, a, out, (socklen_t)len);
	} else {
		strlcpy(out, "unknown", len);
	}
}

/* A session for the client on fd, accepted from ss: set up, not yet greeted. */
static struct conn *conn_new(int fd, const struct sockaddr_storage *ss)
{
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	struct conn *c = xcalloc(1, sizeof(*c));
	c->w.fd = fd;
	c->w.handler = on_event;
	peer_text(ss, c->addr, sizeof(c->addr));
	c->port = ss->ss_family == AF_INET ? ntohs(((const struct sockaddr_in *)ss)->sin_port)
		  : ss->ss_family == AF_INET6 ? ntohs(((const struct sockaddr_in6 *)ss)->sin6_port) : 0;
	c->since = smtpd_now();
	c->session_end = smtpd.session_limit_ms > 0 ? c->since + smtpd.session_limit_ms : UINT64_MAX;
	const char *name = (strcmp(c->addr, "127.0.0.1") == 0 || strcmp(c->addr, "::1") == 0)
			   ? "localhost" : "unknown";
	c->e = smtp_engine_new(&smtpd.engine, &ops, c, name, c->addr);
	c->exempt = cidr_list_match(&smtpd.limit_exceptions, c->addr);
	c->implicit = smtpd.implicit_tls;
	c->milter = smtpd_milter_new(c, fd, smtp_engine_info(c->e), c->port);
	nconn++;
	msg_info("connect from %s[%s]", name, c->addr);
	return c;
}

/*
 * A descriptor held in reserve: at the descriptor limit it is given up
 * for a moment to accept a client, tell it 421 and close, so that the
 * client knows to come back later instead of waiting in the listen
 * queue for an answer that never comes. Any descriptor will do; a
 * duplicate of the listener needs no file system (smtpd may be chrooted).
 */
static int spare_fd = -1;

static void spare_take(int listen_fd)
{
	if (spare_fd < 0)
		spare_fd = fcntl(listen_fd, F_DUPFD_CLOEXEC, 0);
}

/*
 * Out of descriptors: refuse the clients waiting on listen_fd with the
 * spare descriptor. 0 when that worked (the listener may stay on), -1
 * when it did not (no spare, or the system as a whole is out of files).
 */
static int refuse_waiting(int listen_fd, int accept_errno)
{
	for (int i = 0; i < 256; i++) {
		if (spare_fd < 0)
			return -1;
		close(spare_fd);
		spare_fd = -1;
		struct sockaddr_storage ss;
		ss.ss_family = AF_UNSPEC;	/* "unknown" should the kernel give no address */
		socklen_t sl = sizeof(ss);
		int fd = accept4(listen_fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			int err = errno;
			spare_take(listen_fd);
			if (err == EAGAIN || err == EINTR || err == ECONNABORTED)
				return 0;
			errno = err;
			msg_warn("accept: %m: not accepting for a moment");
			return -1;
		}
		char addr[64], reply[300];
		peer_text(&ss, addr, sizeof(addr));
		int len = snprintf(reply, sizeof(reply), "421 4.3.2 %s Service not available, "
				   "out of resources: try again later\r\n", smtpd.engine.myhostname);
		if (smtpd.implicit_tls) {
			/*
			 * The client speaks TLS first, and a plaintext 421 would
			 * only break its handshake: the refusal goes out inside
			 * TLS, as every other one does, from a session of its own
			 * that holds the spare's place until it ends. No other
			 * client can be refused meanwhile: the listeners pause.
			 */
			errno = accept_errno;
			msg_warn("connection from [%s] refused with 421: out of descriptors (%m, %u sessions)",
				 addr, nconn);
			struct conn *c = conn_new(fd, &ss);
			c->state = CS_RUN;
			touch(c);
			reply[len - 2] = '\0';	/* the engine adds the CR LF */
			smtp_engine_refuse(c->e, reply);
			start_tls(c);
			return -1;
		}
		/* A fresh socket has room for one line; a client that is not there loses nothing. */
		if (len > 0 && (size_t)len < sizeof(reply))
			(void)send(fd, reply, (size_t)len, MSG_NOSIGNAL | MSG_DONTWAIT);
		close(fd);
		spare_take(listen_fd);
		errno = accept_errno;
		msg_warn("connection from [%s] refused with 421: out of descriptors (%m, %u sessions)",
				addr, nconn);
	}
	return 0;
}

/*
 * The waiting clients, until EAGAIN; on a quiet server (no session open
 * and the listener the only event of its epoll_wait), just one. The
 * listener is level-triggered, so one more waiting shows in the next
 * epoll_wait, which the loop makes anyway to wait for this client's
 * first command: no failing accept4 per session when clients come one
 * at a time. With sessions open, accepting all at once keeps the
 * newcomers out of further wake-ups (one at a time cost 0.4 epoll_wait
 * per message at 10 clients).
 */
int smtpd_conn_accept(int listen_fd, bool alone)
{
	spare_take(listen_fd);
	int most = alone && nconn == 0 ? 1 : 256;
	for (int i = 0; i < most; i++) {
		struct sockaddr_storage ss;
		ss.ss_family = AF_UNSPEC;	/* "unknown" should the kernel give no address */
		socklen_t sl = sizeof(ss);
		int fd = accept4(listen_fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE)
				return refuse_waiting(listen_fd, errno);
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				msg_warn("accept: %m");
			return 0;
		}
		struct conn *c = conn_new(fd, &ss);
		struct buf refuse = BUF_INIT;
		c->client = smtpd_anvil_connect(c->addr, c->exempt, &refuse);
		c->state = CS_RUN;
		touch(c);
		if (refuse.len > 0) {
			smtp_engine_refuse(c->e, buf_str(&refuse));
			buf_free(&refuse);
			/*
			 * On an implicit TLS listener the client speaks TLS first:
			 * as Postfix, the 421 goes out after the handshake (a
			 * plaintext 421 would only break the client's handshake).
			 */
			if (c->implicit)
				start_tls(c);
			else
				pump(c);
			continue;
		}
		buf_free(&refuse);
		/* Implicit TLS pauses after the handshake (tls_handshake). */
		if (!c->implicit && greet_pause(c))
			continue;
		greet(c, false);
	}
	return 0;
}

int smtpd_conn_timers(uint64_t now)
{
	while (hold_head != NULL && hold_head->hold_until <= now) {
		struct conn *c = hold_head;
		hold_unlink(c);
		c->hold = false;
		if (c->state == CS_GREET)
			greet(c, false);
		else
			pump(c);
	}
	while (idle_head != NULL && idle_head->deadline <= now) {
		struct conn *c = idle_head;
		if (c->jobs > 0 || (smtp_engine_flags(c->e) & SMTP_WAIT_ANY)) {
			/*
			 * Waiting for the disk, the SASL backend or the DNS is not
			 * the client's fault (and not bounded by the session's end,
			 * which has passed when this is what woke us).
			 */
			set_deadline(c, now + smtpd.timeout_ms);
			continue;
		}
		if ((smtp_engine_flags(c->e) & SMTP_WANT_CLOSE) || c->state != CS_RUN) {
			/* The last reply could not be sent in time, or TLS never came up. */
			if (c->state == CS_HANDSHAKE)
				msg_info("timeout during TLS handshake from %s[%s]",
						smtp_engine_info(c->e)->client_name, c->addr);
			conn_close(c);
			continue;
		}
		/* The 421 gets smtpd_timeout to go out. */
		set_deadline(c, now + smtpd.timeout_ms);
		hold_unlink(c);
		c->hold = false;
		c->state = CS_RUN;
		if (now >= c->session_end)
			smtp_engine_session_limit(c->e);
		else
			smtp_engine_timeout(c->e);
		pump(c);
	}
	int mt = smtpd_milter_timers(now);
	uint64_t next = mt >= 0 ? now + (uint64_t)mt : UINT64_MAX;
	if (hold_head != NULL && hold_head->hold_until < next)
		next = hold_head->hold_until;
	if (idle_head != NULL && idle_head->deadline < next)
		next = idle_head->deadline;
	if (next == UINT64_MAX)
		return -1;
	return next <= now ? 0 : (int)(next - now > 60000 ? 60000 : next - now);
}

void smtpd_conn_close_all(void)
{
	while (idle_head != NULL) {
		struct conn *c = idle_head;
		smtp_engine_eof(c->e);
		conn_close(c);
	}
}
