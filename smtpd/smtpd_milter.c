/*
 * smtpd_milter.c - smtpd_milters for one SMTP session: the events of the
 * session passed to the milter chain (lib/mail/milter_chain.h), the
 * chain's socket watched by the event loop, its deadline, the macros
 * taken from the session, and the milters' edits applied to the message
 * that cleanup holds before it is committed.
 *
 * Part of smtpd, runs as mail_owner on the event loop thread. Nothing
 * here blocks: a milter that is slow holds only its own session, whose
 * engine waits (SMTP_WAIT_POLICY or SMTP_WAIT_COMMIT) meanwhile.
 *
 * The socket of the milter at work stays in the epoll set between
 * events (with EPOLLIN), so that a session's dozen round trips to one
 * milter cost no epoll_ctl each; it leaves the set when the chain moves
 * to another milter's socket, when the chain is about to close it
 * (ops->closing: the next socket may get the same number, and close(2)
 * would not tell us), and when it is readable while no reply is awaited
 * (unasked bytes or EOF, which the chain reads at its next event:
 * level-triggered, watching on would spin the loop).
 */
#include "compat.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "mail/milter_apply.h"
#include "mail/milter_chain.h"
#include "mail/qfile.h"
#include "mail/smtp_queue.h"
#include "smtpd/smtpd.h"
#include "util/log.h"
#include "util/mem.h"

struct smtpd_milter {
	struct smtpd_watch w;		/* the chain's current socket */
	void *conn;
	struct milter_chain *chain;
	const struct smtp_session_info *si;	/* the engine's, valid for the session */
	bool watching;
	uint32_t ev;
	/* What is waiting for the chain. */
	enum smtpd_milter_stage pending;	/* SMTPD_M_NONE: nothing */
	struct buf held_reply;		/* a rejected recipient's reply, while RCPT_REJ milters look */
	bool discard;			/* a milter discarded the message */
	void *msg;			/* the message during SMTPD_M_MESSAGE (and after, until committed) */
	/*
	 * The queue file, made at MAIL FROM so that the milters get the queue
	 * id (macro i) from then on, as with Postfix; cleanup takes it over at
	 * DATA (smtpd_milter_take_writer), else it goes with the transaction.
	 */
	struct qfile_writer *early;
	struct buf why;			/* an edit that could not be applied */
	struct milter_apply edits;	/* the message's edits (milter_header_checks verdicts) */
	char msg_id[64];
	/* Macro values. */
	char client_port[8], daemon_addr[64], underscore[300];
	char *rcpt;			/* the recipient being judged */
	struct smtpd_milter *prev, *next;	/* sessions whose chain has a deadline */
	/*
	 * Freed sessions wait in a list until the batch of events is over
	 * (smtpd_milter_reap): the chain's done callback may end the session
	 * under the chain's feet, and an event of the socket may still be in
	 * the batch the loop is going through.
	 */
	bool dead;
	struct smtpd_milter *grave_next;
};

static void release(struct smtpd_milter *m);
static void drop_early(struct smtpd_milter *m);

static struct smtpd_milter *waiting;	/* list of sessions with a pending chain event */
static struct smtpd_milter *grave;	/* freed, released after the batch */

static void wait_unlink(struct smtpd_milter *m)
{
	if (m->prev)
		m->prev->next = m->next;
	else if (waiting == m)
		waiting = m->next;
	if (m->next)
		m->next->prev = m->prev;
	m->prev = m->next = NULL;
}

static void unwatch(struct smtpd_milter *m)
{
	if (m->watching)
		smtpd_watch_del(&m->w);
	m->watching = false;
}

/*
 * Watch the descriptor the chain names now (it changes from milter to
 * milter). Between events the chain names none: the last one stays
 * watched for EPOLLIN (EPOLLOUT, always ready, would wake the loop).
 */
static void sync_watch(struct smtpd_milter *m)
{
	short events = 0;
	int fd = m->chain && !m->dead ? milter_chain_poll(m->chain, &events) : -1;
	uint32_t ev = (events & POLLIN ? EPOLLIN : 0) | (events & POLLOUT ? EPOLLOUT : 0);
	if (fd < 0 && m->watching && m->ev != EPOLLIN) {
		smtpd_watch_mod(&m->w, EPOLLIN);
		m->ev = EPOLLIN;
	}
	if (m->watching && fd >= 0 && fd != m->w.fd)
		unwatch(m);
	if (fd >= 0 && !m->watching) {
		m->w.fd = fd;
		smtpd_watch_add(&m->w, ev);
		m->watching = true;
		m->ev = ev;
	} else if (fd >= 0 && ev != m->ev) {
		smtpd_watch_mod(&m->w, ev);
		m->ev = ev;
	}
	wait_unlink(m);
	if (m->pending != SMTPD_M_NONE && !m->dead) {
		m->next = waiting;
		if (waiting)
			waiting->prev = m;
		waiting = m;
	}
}

static void on_event(struct smtpd_watch *w, uint32_t events)
{
	struct smtpd_milter *m = (struct smtpd_milter *)w;
	if (m->dead)
		return;
	short unused;
	if (milter_chain_poll(m->chain, &unused) != m->w.fd) {
		/* Nothing asked: bytes or EOF for the next event to find. */
		unwatch(m);
		return;
	}
	short rev = (events & EPOLLIN ? POLLIN : 0) | (events & EPOLLOUT ? POLLOUT : 0) |
		    (events & EPOLLERR ? POLLERR : 0) | (events & EPOLLHUP ? POLLHUP : 0);
	milter_chain_io(m->chain, rev);
	sync_watch(m);
}

int smtpd_milter_timers(uint64_t now)
{
	/*
	 * A tick fails the milter that is late and moves the event on (or
	 * ends it, which may end the session): start over after each one.
	 * The list holds only sessions that wait for a milter right now.
	 */
	for (int rounds = 0; rounds < 1000; rounds++) {
		struct smtpd_milter *m = waiting;
		while (m != NULL && !(milter_chain_deadline(m->chain) >= 0 &&
				      (uint64_t)milter_chain_deadline(m->chain) <= now))
			m = m->next;
		if (m == NULL)
			break;
		milter_chain_tick(m->chain);
		sync_watch(m);	/* also takes m off the list */
	}
	long long next = -1;
	for (struct smtpd_milter *m = waiting; m != NULL; m = m->next) {
		long long dl = milter_chain_deadline(m->chain);
		if (dl >= 0 && (next < 0 || dl < next))
			next = dl;
	}
	if (next < 0)
		return -1;
	return (uint64_t)next <= now ? 0 : (int)((uint64_t)next - now > 60000 ? 60000 : (uint64_t)next - now);
}

/* ---- chain callbacks ---- */

static const char *macro(void *ctx, const char *name)
{
	struct smtpd_milter *m = ctx;
	const struct smtp_session_info *si = m->si;
	if (strcmp(name, "j") == 0)
		return smtpd.engine.myhostname;
	if (strcmp(name, "_") == 0)
		return m->underscore;
	if (strcmp(name, "{daemon_name}") == 0)
		return smtpd.milters.daemon_name;
	if (strcmp(name, "{daemon_addr}") == 0)
		return m->daemon_addr;
	if (strcmp(name, "v") == 0)
		return smtpd.milters.macro_v;
	if (strcmp(name, "{client_addr}") == 0)
		return si->client_addr;
	if (strcmp(name, "{client_name}") == 0 || strcmp(name, "{client_ptr}") == 0)
		return si->client_name;
	if (strcmp(name, "{client_port}") == 0)
		return m->client_port;
	if (strcmp(name, "{tls_version}") == 0)
		return si->tls_version;
	if (strcmp(name, "{cipher}") == 0)
		return si->tls_cipher;
	if (strcmp(name, "{auth_type}") == 0)
		return si->sasl_method;
	if (strcmp(name, "{auth_authen}") == 0)
		return si->sasl_username;
	if (strcmp(name, "{mail_addr}") == 0)
		return si->sender;
	if (strcmp(name, "{rcpt_addr}") == 0)
		return m->rcpt;
	if (strcmp(name, "{mail_mailer}") == 0)
		return si->sender ? "smtp" : NULL;
	if (strcmp(name, "i") == 0 && m->msg != NULL) {
		const char *id = cleanup_queue_id(smtp_queue_cleanup(m->msg));
		return *id ? id : NULL;
	}
	if (strcmp(name, "i") == 0 && m->early != NULL)
		return qfile_writer_id(m->early);
	return NULL;
}

static size_t header_count(void *ctx)
{
	struct smtpd_milter *m = ctx;
	return cleanup_header_count(smtp_queue_cleanup(m->msg));
}

static void header_get(void *ctx, size_t i, const char **name, const char **value)
{
	struct smtpd_milter *m = ctx;
	cleanup_header_get(smtp_queue_cleanup(m->msg), i, name, value);
}

static int body_rewind(void *ctx)
{
	struct smtpd_milter *m = ctx;
	return cleanup_body_rewind(smtp_queue_cleanup(m->msg));
}

static ssize_t body_read(void *ctx, char *data, size_t len)
{
	struct smtpd_milter *m = ctx;
	return cleanup_body_read(smtp_queue_cleanup(m->msg), data, len);
}

static int apply(void *ctx, const struct milter_mod *mod, bool first)
{
	struct smtpd_milter *m = ctx;
	buf_reset(&m->why);
	if (milter_apply_mod(&m->edits, mod, first, &m->why) == 0)
		return 0;
	msg_warn("%s: %s", m->underscore, buf_str(&m->why));
	return -1;
}

/* The chain closes fd: out of the epoll set while the number is still this socket's. */
static void closing(void *ctx, int fd)
{
	struct smtpd_milter *m = ctx;
	if (m->watching && m->w.fd == fd)
		unwatch(m);
}

static void chain_log(void *ctx, bool warning, const char *line)
{
	struct smtpd_milter *m = ctx;
	if (warning)
		msg_warn("%s: %s", m->underscore, line);
	else
		msg_info("%s: %s", m->underscore, line);
}

/* An outcome as the engine's verdict; DISCARD is remembered for the end of data. */
static enum smtp_verdict verdict(struct smtpd_milter *m, enum milter_outcome o, const char *reply,
		struct buf *out)
{
	switch (o) {
	case MILTER_O_CONTINUE:
	case MILTER_O_PENDING:
		return SMTP_ACCEPT;
	case MILTER_O_DISCARD:
		m->discard = true;
		return SMTP_ACCEPT;
	case MILTER_O_SHUTDOWN:
		buf_reset(out);
		buf_adds(out, reply ? reply : "421 4.7.0 Server closing connection");
		return SMTP_DISCONNECT;
	case MILTER_O_REJECT:
	case MILTER_O_TEMPFAIL:
		break;
	}
	buf_reset(out);
	buf_adds(out, reply ? reply : (o == MILTER_O_REJECT ? "550 5.7.1 Command rejected"
				       : "451 4.7.1 Service unavailable - try again later"));
	return SMTP_REJECT;
}

static void done(void *ctx, enum milter_outcome o, const char *reply)
{
	struct smtpd_milter *m = ctx;
	enum smtpd_milter_stage st = m->pending;
	m->pending = SMTPD_M_NONE;
	sync_watch(m);
	if (st == SMTPD_M_MESSAGE) {
		o = milter_apply_verdict(&m->edits, o, &reply);
		smtpd_conn_milter_message_done(m->conn, o, reply);
		return;
	}
	struct buf r = BUF_INIT;
	enum smtp_verdict v = verdict(m, o, reply, &r);
	if (st == SMTPD_M_MAIL && v != SMTP_ACCEPT)
		drop_early(m);
	if (m->held_reply.len > 0) {
		/* A recipient refused before the milters saw it: that refusal stands. */
		v = SMTP_REJECT;
		buf_reset(&r);
		buf_add(&r, m->held_reply.data, m->held_reply.len);
		buf_reset(&m->held_reply);
	}
	smtpd_conn_milter_done(m->conn, v, buf_str(&r));
	buf_free(&r);
}

static const struct milter_chain_ops chain_ops = {
	.macro = macro,
	.header_count = header_count,
	.header_get = header_get,
	.body_rewind = body_rewind,
	.body_read = body_read,
	.apply = apply,
	.done = done,
	.log = chain_log,
	.closing = closing,
};

/* ---- the session's side ---- */

struct smtpd_milter *smtpd_milter_new(void *conn, int fd, const struct smtp_session_info *si,
		unsigned client_port)
{
	if (smtpd.milters.n == 0)
		return NULL;
	struct smtpd_milter *m = xcalloc(1, sizeof(*m));
	m->w.handler = on_event;
	m->w.fd = -1;
	m->conn = conn;
	m->si = si;
	buf_init(&m->held_reply);
	buf_init(&m->why);
	buf_init(&m->edits.reject);
	snprintf(m->client_port, sizeof(m->client_port), "%u", client_port);
	snprintf(m->underscore, sizeof(m->underscore), "%s [%s]", si->client_name, si->client_addr);
	struct sockaddr_storage ss = { 0 };	/* for analysers that do not see getsockname fill it */
	socklen_t sl = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
		if (ss.ss_family == AF_INET)
			inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, m->daemon_addr,
				  sizeof(m->daemon_addr));
		else if (ss.ss_family == AF_INET6)
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, m->daemon_addr,
				  sizeof(m->daemon_addr));
	}
	m->chain = milter_chain_new(&smtpd.milters, &chain_ops, m);
	return m;
}

void smtpd_milter_free(struct smtpd_milter *m)
{
	if (m == NULL)
		return;
	/*
	 * No EPOLL_CTL_DEL: release closes the socket before the loop waits
	 * again, and smtpd neither forks nor duplicates it, so the close takes
	 * it out of the epoll set; an event of it still in this batch finds
	 * m dead.
	 */
	m->watching = false;
	wait_unlink(m);
	m->dead = true;
	m->grave_next = grave;
	grave = m;
}

void smtpd_milter_reap(void)
{
	while (grave != NULL) {
		struct smtpd_milter *m = grave;
		grave = m->grave_next;
		release(m);
	}
}

static void release(struct smtpd_milter *m)
{
	milter_chain_free(m->chain);
	m->chain = NULL;
	qfile_abort(m->early);
	buf_free(&m->held_reply);
	buf_free(&m->why);
	milter_apply_free(&m->edits);
	free(m->rcpt);
	free(m);
}

/* A refused MAIL has no transaction (and no txn_end): its early queue file goes now. */
static void drop_early(struct smtpd_milter *m)
{
	qfile_abort(m->early);
	m->early = NULL;
}

static enum smtp_verdict finish_event(struct smtpd_milter *m, enum smtpd_milter_stage st,
		enum milter_outcome o, const char *reply, struct buf *out)
{
	if (o == MILTER_O_PENDING) {
		m->pending = st;
		sync_watch(m);
		return SMTP_PENDING;
	}
	sync_watch(m);
	enum smtp_verdict v = verdict(m, o, reply, out);
	if (st == SMTPD_M_MAIL && v != SMTP_ACCEPT)
		drop_early(m);
	return v;
}

struct qfile_writer *smtpd_milter_take_writer(struct smtpd_milter *m)
{
	if (m == NULL)
		return NULL;
	struct qfile_writer *w = m->early;
	m->early = NULL;
	return w;
}

enum smtp_verdict smtpd_milter_event(struct smtpd_milter *m, enum smtpd_milter_stage st,
		const char *arg, bool rejected, struct buf *reply)
{
	const struct smtp_session_info *si = m->si;
	const char *r = NULL;
	enum milter_outcome o = MILTER_O_CONTINUE;
	switch (st) {
	case SMTPD_M_CONNECT: {
		char fam = strchr(si->client_addr, ':') ? MILTER_FAM_INET6 : MILTER_FAM_INET;
		o = milter_chain_connect(m->chain, si->client_name, si->client_addr, fam,
					 (uint16_t)atoi(m->client_port), &r);	/* NOLINT(cert-err34-c): printed with %u */
		break;
	}
	case SMTPD_M_HELO:
		o = milter_chain_helo(m->chain, si->helo ? si->helo : "", &r);
		break;
	case SMTPD_M_MAIL:
		m->discard = false;
		free(m->rcpt);
		m->rcpt = NULL;
		if (m->early == NULL) {
			struct buf dir = BUF_INIT, err = BUF_INIT;
			buf_printf(&dir, "%s/incoming", smtpd.queue_dir);
			/* No file now: no i before DATA, and DATA makes it (or fails) as without milters. */
			m->early = qfile_create(buf_str(&dir), &err);
			buf_free(&dir);
			buf_free(&err);
		}
		o = milter_chain_mail(m->chain, si->cmd_addr ? si->cmd_addr : "<>", si->cmd_args,
				      si->ncmd_args, &r);
		break;
	case SMTPD_M_RCPT:
		free(m->rcpt);
		m->rcpt = xstrdup(arg ? arg : "");
		if (rejected) {
			buf_reset(&m->held_reply);
			buf_adds(&m->held_reply, buf_str(reply));
		}
		o = milter_chain_rcpt(m->chain, si->cmd_addr ? si->cmd_addr : "<>", si->cmd_args,
				      si->ncmd_args, rejected, &r);
		if (rejected && o != MILTER_O_PENDING) {
			buf_reset(&m->held_reply);
			sync_watch(m);
			return SMTP_REJECT;	/* reply untouched */
		}
		break;
	case SMTPD_M_DATA:
		free(m->rcpt);		/* {rcpt_addr} belongs to the RCPT stage */
		m->rcpt = NULL;
		o = milter_chain_data(m->chain, &r);
		break;
	case SMTPD_M_UNKNOWN:
		o = milter_chain_unknown(m->chain, arg, &r);
		break;
	case SMTPD_M_MESSAGE:
	case SMTPD_M_NONE:
		break;
	}
	return finish_event(m, st, o, r, reply);
}

void smtpd_milter_abort(struct smtpd_milter *m)
{
	if (m == NULL)
		return;
	m->discard = false;
	/*
	 * The client left while a milter was still judging its command: the
	 * session ends now, and the chain with it (smtpd_milter_free).
	 */
	qfile_abort(m->early);
	m->early = NULL;
	if (m->pending != SMTPD_M_NONE)
		return;
	milter_chain_abort(m->chain);
	sync_watch(m);
}

bool smtpd_milter_discarding(const struct smtpd_milter *m)
{
	return m != NULL && m->discard;
}

enum milter_outcome smtpd_milter_message(struct smtpd_milter *m, void *msg, const char **reply)
{
	m->msg = msg;
	struct cleanup *c = smtp_queue_cleanup(msg);
	strlcpy(m->msg_id, cleanup_queue_id(c), sizeof(m->msg_id));
	milter_apply_free(&m->edits);
	milter_apply_init(&m->edits, c, smtpd.milter_header_checks, m->msg_id);
	enum milter_outcome o = milter_chain_message(m->chain, reply);
	if (o == MILTER_O_PENDING)
		m->pending = SMTPD_M_MESSAGE;
	else
		o = milter_apply_verdict(&m->edits, o, reply);
	sync_watch(m);
	return o;
}

void smtpd_milter_message_end(struct smtpd_milter *m)
{
	if (m != NULL) {
		m->msg = NULL;
		m->discard = false;
	}
}
