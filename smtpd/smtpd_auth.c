/*
 * smtpd_auth.c - SMTP AUTH for smtpd's sessions: each step of an
 * exchange with the SASL backend (a round trip to Dovecot, which holds
 * failures back for seconds, or a crypt(3) hash, which is slow on
 * purpose) runs on the AUTH worker pool, so the event loop keeps serving
 * every other session meanwhile; and failed attempts are counted per
 * client address across sessions (lib/mail/sasl_penalty.h), each answer
 * to such a client held back a little longer, on a timer.
 *
 * Part of smtpd, runs as mail_owner. Workers only call sasl_server_step()
 * on a context that no other thread uses meanwhile (sasl.h allows
 * different contexts to be stepped at once); the answer goes back to the
 * session on the loop thread.
 */
#include "compat.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mail/sasl.h"
#include "mail/sasl_penalty.h"
#include "smtpd/smtpd.h"
#include "util/log.h"
#include "util/mem.h"

/* A client with no failure for this long starts again from zero. */
#define PENALTY_FORGET	3600

/* What the engine holds as its "auth" pointer. */
struct auth {
	struct smtpd_job job;	/* first: the pool hands back &job */
	void *conn;
	struct sasl_server *s;
	bool pending;		/* a step is on a worker */
	bool orphaned;		/* the session let go meanwhile: free when it returns */
	/* The step: input (data NULL = none) and output. */
	bool has_data;
	struct buf data, out;
	enum sasl_status st;
};

static struct smtpd_pool *pool;		/* NULL: steps run on the loop thread */
static struct sasl_penalty *penalty;	/* NULL: no cross-session slow-down */

int smtpd_auth_init(unsigned threads, unsigned delay_ms, unsigned max_delay_ms)
{
	if (delay_ms > 0)
		penalty = sasl_penalty_new(delay_ms, max_delay_ms, PENALTY_FORGET, 0);
	if (threads == 0)
		return 0;
	pool = smtpd_pool_new(threads);
	return pool ? 0 : -1;
}

bool smtpd_auth_busy(void)
{
	return smtpd_pool_busy(pool);
}

void smtpd_auth_shutdown(void)
{
	sasl_penalty_free(penalty);
	penalty = NULL;
}

static enum smtp_auth_status engine_status(enum sasl_status st)
{
	switch (st) {
	case SASL_DONE:
		return SMTP_AUTH_DONE;
	case SASL_CONTINUE:
		return SMTP_AUTH_CONTINUE;
	case SASL_TEMPFAIL:
		return SMTP_AUTH_TEMPFAIL;
	default:
		return SMTP_AUTH_FAIL;
	}
}

static void wipe(struct buf *b)
{
	if (b->data)
		explicit_bzero(b->data, b->cap);
	buf_free(b);
}

static void auth_destroy(struct auth *a)
{
	sasl_server_free(a->s);
	wipe(&a->data);		/* may hold a password */
	buf_free(&a->out);
	free(a);
}

void *smtpd_auth_new(void *conn, const char *mech, const struct smtp_session_info *si)
{
	struct sasl_server *s = sasl_server_new(mech, si->client_addr, si->tls);
	if (s == NULL)
		return NULL;
	struct auth *a = xcalloc(1, sizeof(*a));
	a->conn = conn;
	a->s = s;
	buf_init(&a->data);
	buf_init(&a->out);
	return a;
}

static void step_run(struct smtpd_job *job)
{
	struct auth *a = (struct auth *)job;
	a->st = sasl_server_step(a->s, a->has_data ? (a->data.data ? a->data.data : "") : NULL,
				 a->data.len, &a->out);
}

static void step_done(struct smtpd_job *job)
{
	struct auth *a = (struct auth *)job;
	void *conn = a->conn;
	a->pending = false;
	wipe(&a->data);
	if (a->orphaned) {
		auth_destroy(a);
		smtpd_conn_job_done(conn);
		return;
	}
	/* The engine copies out; a stays its auth context until auth_free. */
	smtpd_conn_auth_done(conn, engine_status(a->st), a->out.data, a->out.len);
}

enum smtp_auth_status smtpd_auth_step(void *auth, const char *data, size_t len,
				      struct buf *challenge)
{
	struct auth *a = auth;
	if (pool == NULL)
		return engine_status(sasl_server_step(a->s, data, len, challenge));
	a->has_data = data != NULL;
	buf_reset(&a->data);
	if (data != NULL)
		buf_add(&a->data, data, len);
	buf_reset(&a->out);
	a->job.run = step_run;
	a->job.done = step_done;
	a->pending = true;
	smtpd_conn_job_start(a->conn);
	smtpd_pool_submit(pool, &a->job);
	return SMTP_AUTH_PENDING;
}

const char *smtpd_auth_username(void *auth)
{
	return sasl_username(((struct auth *)auth)->s);
}

void smtpd_auth_free(void *auth)
{
	struct auth *a = auth;
	if (a == NULL)
		return;
	if (a->pending)
		a->orphaned = true;	/* a worker still uses it: step_done frees it */
	else
		auth_destroy(a);
}

/*
 * The end of an exchange. A failure counts against the client's address
 * and is answered after that address's current delay; a success forgets
 * the address, but is answered after the same delay, so that a client
 * cannot guess its way through by giving up on answers that take long.
 */
unsigned smtpd_auth_outcome(void *conn, const struct smtp_session_info *si, bool success)
{
	(void)conn;
	if (penalty == NULL)
		return 0;
	time_t now = (time_t)(smtpd_now() / 1000) + 1;	/* monotonic, never 0 */
	const char *addr = si->client_addr;
	unsigned delay;
	if (success) {
		delay = sasl_penalty_delay(penalty, addr, now);
		sasl_penalty_success(penalty, addr);
		if (delay > 0)
			msg_info("%s[%s]: SASL authentication after earlier failures from this address: "
				 "reply delayed %u ms", si->client_name, addr, delay);
		return delay;
	}
	delay = sasl_penalty_fail(penalty, addr, now);
	msg_warn("%s[%s]: SASL authentication failure %u from this address: reply delayed %u ms",
		 si->client_name, addr, sasl_penalty_count(penalty, addr, now), delay);
	return delay;
}
