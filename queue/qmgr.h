/*
 * qmgr.h - shared declarations of the queue manager's files.
 * Runs as mail_owner (see qmgr.c).
 */
#ifndef TERN_QUEUE_QMGR_H
#define TERN_QUEUE_QMGR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

struct qfile;
struct mailq_entry;

/*
 * Deliver what is pending in queue_directory/active/ID, then remove the
 * file (nothing pending) or move it to deferred/ with its modification
 * time set to the next attempt. Runs in a delivery process of qmgr
 * (qmgr_pool.c), once per message. Returns true when the file is known
 * to have left active/ (removed, deferred, moved to corrupt/), false
 * when it may still be there (the caller looks).
 */
bool qmgr_deliver(const char *id);
/* In qmgr, before the first delivery process is forked: state they share. */
void qmgr_deliver_init(void);
/*
 * The same for n messages whose pending recipients are all local: their
 * requests go to the local delivery agent one after the other, all but
 * the last with hold set (lproto.h), so that it makes them durable
 * together; then each message is settled as qmgr_deliver() does, and
 * gone[k] says of ids[k] what qmgr_deliver() returns.
 */
void qmgr_deliver_batch(const char *const *ids, size_t n, bool *gone);

/*
 * qmgr_pool.c: the delivery processes, at most max at a time (at most
 * QMGR_POOL_MAX), each serving up to use_limit messages and retired
 * after idle_limit seconds without one. fds: qmgr's own descriptors,
 * closed in every worker.
 */
#define QMGR_POOL_MAX	64
#define QMGR_BATCH_MAX	256	/* messages in one hand-over (local_destination_batch_limit) */
struct pollfd;
void qmgr_pool_init(int max, unsigned use_limit, time_t idle_limit, const int *fds, int nfds);
/*
 * Hand n ids (1 to QMGR_BATCH_MAX; more than one only for a batch of
 * local deliveries, qmgr_deliver_batch) to an idle (or new) worker: 0,
 * or -1 when all max are busy.
 */
int qmgr_pool_start(const char *const *ids, size_t n);
/* Is a worker delivering id (alone or in a batch)? */
bool qmgr_pool_has(const char *id);
/* Poll entries for the workers (at most room); qmgr_pool_events() reads them. */
int qmgr_pool_pollfds(struct pollfd *pfd, int room);
void qmgr_pool_events(const struct pollfd *pfd, int n);
/*
 * A child was reaped: true if it was a worker, with the ids it was
 * delivering in *ids (space separated, to be freed; NULL when it was idle).
 */
bool qmgr_pool_reaped(pid_t pid, char **ids);
/* In any other child of qmgr: close the workers' sockets. */
void qmgr_pool_close_in_child(void);
/* qmgr stops: workers leave (a busy one is terminated, its file stays in active/). */
void qmgr_pool_stop(bool drain);

/*
 * qmgr_sched.c: messages in active/ in line for a delivery process, with
 * per-destination concurrency limits (local_destination_concurrency_limit
 * per local recipient, smtp_destination_concurrency_limit per remote
 * next hop).
 */
void qmgr_sched_add(const char *id);		/* a message now in active/ */
bool qmgr_sched_known(const char *id);		/* waiting or being delivered */
size_t qmgr_sched_waiting(void);
void qmgr_sched_run(void);			/* start what may start */
void qmgr_sched_finished(void);			/* free the slots of ended deliveries */
void qmgr_sched_check_config(void);		/* warn now about a bad limit */

/* Next attempt for a message of this age (queue_run_delay ... maximal_backoff_time). */
time_t qmgr_backoff(time_t age);


/*
 * qmgr_flush.c: a flush of matching mail only. The public/qmgr request is
 * "flush [!]X SUBSTR" with X = I (queue id), R (an undelivered recipient)
 * or S (the sender); addresses match case-insensitively, ids exactly.
 */
#define QMGR_FILTER_MAX	255
struct qmgr_filter {
	char what;		/* 'I', 'R' or 'S' */
	bool negate;		/* "!": mail that does not match */
	char substr[QMGR_FILTER_MAX + 1];
};
/* Parse a request line (no newline); 0 ok, -1 malformed. */
int qmgr_flush_parse(const char *req, struct qmgr_filter *f);
bool qmgr_filter_match(const struct qmgr_filter *f, const struct mailq_entry *e);
/* Make matching deferred mail due now; how many messages, -1 queue unreadable. */
long qmgr_flush_matching(const struct qmgr_filter *f);
/* Make every deferred message due now (a stopping qmgr's flush); how many, -1 unreadable. */
long qmgr_flush_all(void);

#endif
