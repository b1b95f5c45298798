/*
 * smtpd_dns.c - policy decisions that need the DNS or a policy server
 * (reject_unknown_sender_domain, reject_unknown_recipient_domain) without
 * stalling the event loop: the policy is evaluated on the loop thread,
 * and when it needs a domain looked up (SMTP_PENDING from
 * smtp_policy_*_dns), the lookup runs on the DNS worker pool while the
 * engine holds the session's input; once the answer is back the policy
 * is evaluated again, on the loop thread, until it decides. The session
 * then resumes where it stopped (smtp_engine_policy_done), so pipelined
 * replies keep their order. The answers stay with the session, so that
 * with smtpd_delay_reject = yes the sender's domain is looked up once,
 * not again for every recipient (a session is short; the resolver's
 * own TTLs matter no more than in Postfix's process-wide cache).
 *
 * check_policy_service (Postfix's policy delegation) goes the same way:
 * the evaluation returns SMTP_PENDING with the request to send, a worker
 * of the policy pool makes the round trip (bounded by
 * smtpd_policy_service_timeout, default action on failure), and the
 * evaluation starts over with the answer. Policy answers hold for one
 * command only.
 *
 * Part of smtpd, runs as mail_owner. Workers run nothing but
 * smtp_policy_dns_lookup() on the job's own copy of what it needs (the
 * domain, or the policy request and its server) and the process's one
 * DNS context (lib/mail/dns.h, thread-safe, pointed at smtpd_dns_servers):
 * maps, the policy and the sessions are only touched on the loop thread. The pool is its own, so that a dead
 * name server can never delay commits or AUTH answers.
 */
#include "compat.h"

#include <stdlib.h>
#include <string.h>

#include "mail/smtp_policy.h"
#include "smtpd/smtpd.h"
#include "util/log.h"
#include "util/mem.h"

struct dns_job {
	struct smtpd_job job;	/* first: the pool hands back &job */
	void *conn;
	enum smtpd_dns_stage stage;
	char *rcpt;		/* SMTPD_DNS_RCPT */
	struct smtp_policy_dns dns;
};

static struct smtpd_pool *pool;		/* NULL: lookups on the loop thread */
/*
 * check_policy_service round trips have a pool of their own (as many
 * threads): a policy server that hangs for its whole timeout must not
 * hold up DNS answers, nor a dead name server the policy answers.
 */
static struct smtpd_pool *policy_pool;

int smtpd_dns_init(unsigned threads)
{
	if (threads == 0)
		return 0;
	pool = smtpd_pool_new(threads);
	policy_pool = pool ? smtpd_pool_new(threads) : NULL;
	return policy_pool ? 0 : -1;
}

bool smtpd_dns_busy(void)
{
	return smtpd_pool_busy(pool) || smtpd_pool_busy(policy_pool);
}

/* The pool for what the job needs next: a policy answer or a domain. */
static struct smtpd_pool *pool_for(const struct smtp_policy_dns *dns)
{
	return dns->request != NULL ? policy_pool : pool;
}

/* One evaluation of the stage's restrictions with the answers known so far. */
static enum smtp_verdict evaluate(enum smtpd_dns_stage stage, const struct smtp_session_info *si,
		const char *rcpt, struct smtp_policy_dns *dns, struct buf *reply)
{
	switch (stage) {
	case SMTPD_DNS_HELO:
		return smtp_policy_helo_dns(smtpd.policy, si, dns, reply);
	case SMTPD_DNS_MAIL:
		return smtp_policy_mail_dns(smtpd.policy, si, dns, reply);
	case SMTPD_DNS_RCPT:
		return smtp_policy_rcpt_dns(smtpd.policy, si, rcpt, dns, reply);
	}
	return SMTP_ACCEPT;
}

static void lookup_run(struct smtpd_job *job)
{
	struct dns_job *j = (struct dns_job *)job;
	smtp_policy_dns_lookup(&j->dns);
}

static void job_free(struct dns_job *j)
{
	smtp_policy_dns_release(&j->dns);
	free(j->rcpt);
	free(j);
}

static void lookup_done(struct smtpd_job *job)
{
	struct dns_job *j = (struct dns_job *)job;
	const struct smtp_session_info *si = smtpd_conn_waiting_info(j->conn);
	if (si == NULL) {
		/* The client left meanwhile: nobody wants the answer. */
		smtpd_conn_job_done(j->conn);
		job_free(j);
		return;
	}
	/*
	 * The engine keeps si as it was when it asked. smtpd.policy may be a
	 * newer one (a table was rebuilt): the decision is then the new
	 * policy's, as it would be for a command arriving now.
	 */
	struct buf reply = BUF_INIT;
	smtpd_conn_dns_keep(j->conn, &j->dns);
	enum smtp_verdict v = evaluate(j->stage, si, j->rcpt, &j->dns, &reply);
	if (v == SMTP_PENDING) {
		/* Another domain (the recipient's after the sender's): one more round. */
		buf_free(&reply);
		smtpd_pool_submit(pool_for(&j->dns), &j->job);
		return;
	}
	if (j->stage == SMTPD_DNS_HELO && v == SMTP_ACCEPT)
		buf_reset(&reply);	/* a HELO has no message to add headers to */
	smtpd_conn_policy_done(j->conn, v, buf_str(&reply));
	buf_free(&reply);
	job_free(j);
}

enum smtp_verdict smtpd_dns_check(void *conn, enum smtpd_dns_stage stage,
		const struct smtp_session_info *si, const char *rcpt, struct buf *reply)
{
	if (pool == NULL) {
		/* Lookups (if any) here and now, as sendmail -bs does. */
		switch (stage) {
		case SMTPD_DNS_HELO:
			return smtp_policy_helo(smtpd.policy, si, reply);
		case SMTPD_DNS_MAIL:
			return smtp_policy_mail(smtpd.policy, si, reply);
		case SMTPD_DNS_RCPT:
			return smtp_policy_rcpt(smtpd.policy, si, rcpt, reply);
		}
	}
	struct smtp_policy_dns dns;
	const struct smtp_policy_dns *known = smtpd_conn_dns_known(conn);
	if (known != NULL)
		dns = *known;	/* kept without policy answers or a request */
	else
		smtp_policy_dns_init(&dns);
	enum smtp_verdict v = evaluate(stage, si, rcpt, &dns, reply);
	if (v != SMTP_PENDING)
		return v;	/* decided without the DNS: the common case */
	struct dns_job *j = xcalloc(1, sizeof(*j));
	j->job.run = lookup_run;
	j->job.done = lookup_done;
	j->conn = conn;
	j->stage = stage;
	j->rcpt = rcpt ? xstrdup(rcpt) : NULL;
	j->dns = dns;
	buf_reset(reply);
	smtpd_conn_job_start(conn);
	smtpd_pool_submit(pool_for(&j->dns), &j->job);
	return SMTP_PENDING;
}
