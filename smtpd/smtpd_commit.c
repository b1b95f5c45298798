/*
 * smtpd_commit.c - commits on the worker pool (smtpd_work.c): make queue
 * files durable (file and directory fsync inside cleanup_finish) without
 * stopping the event loop, so that many sessions' commits proceed at once
 * and the disk sees several fsyncs in flight (it sustains far more
 * durable commits with several writers than with one).
 *
 * Part of smtpd, runs as mail_owner. Workers only call
 * smtp_queue_commit() on messages whose headers the loop thread has
 * already completed; the result goes back to the session on the loop
 * thread, which alone touches sessions.
 */
#include "compat.h"

#include <stdlib.h>

#include "mail/smtp_queue.h"
#include "smtpd/smtpd.h"
#include "util/mem.h"

struct commit_job {
	struct smtpd_job job;	/* first: the pool hands back &job */
	void *conn;
	void *msg;
	enum smtp_commit result;
	char queue_id[64];
	struct buf reason;
};

static struct smtpd_pool *pool;

static void commit_run(struct smtpd_job *job)
{
	struct commit_job *j = (struct commit_job *)job;
	j->result = smtp_queue_commit(j->msg, j->queue_id, sizeof(j->queue_id), &j->reason);
}

static void commit_done(struct smtpd_job *job)
{
	struct commit_job *j = (struct commit_job *)job;
	smtpd_conn_commit_done(j->conn, j->result, j->queue_id, buf_str(&j->reason));
	buf_free(&j->reason);
	free(j);
}

int smtpd_commit_init(unsigned threads)
{
	if (threads == 0)
		return 0;
	pool = smtpd_pool_new(threads);
	return pool ? 0 : -1;
}

void smtpd_commit_submit(void *conn, void *msg)
{
	struct commit_job *j = xcalloc(1, sizeof(*j));
	j->job.run = commit_run;
	j->job.done = commit_done;
	j->conn = conn;
	j->msg = msg;
	buf_init(&j->reason);
	smtpd_pool_submit(pool, &j->job);
}

bool smtpd_commit_busy(void)
{
	return smtpd_pool_busy(pool);
}
