/*
 * smtpd_commit.c - the commit threads: make queue files durable (file
 * and directory fsync inside cleanup_finish) without stopping the event
 * loop, so that many sessions' commits proceed at once and the disk sees
 * several fsyncs in flight (it sustains far more durable commits with
 * several writers than with one).
 *
 * Part of smtpd, runs as mail_owner. Workers only call
 * smtp_queue_commit() on messages whose headers the loop thread has
 * already completed; results come back through an eventfd to the loop
 * thread, which alone touches sessions.
 */
#include "compat.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "mail/smtp_queue.h"
#include "smtpd/smtpd.h"
#include "util/log.h"
#include "util/mem.h"

struct job {
	struct job *next;
	void *conn;
	void *msg;
	enum smtp_commit result;
	char queue_id[64];
	struct buf reason;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t work = PTHREAD_COND_INITIALIZER;
static struct job *todo_head, *todo_tail, *done_head;
static unsigned inflight;
static struct smtpd_watch done_watch;

static void *worker(void *arg)
{
	(void)arg;
	for (;;) {
		pthread_mutex_lock(&lock);
		while (todo_head == NULL)
			pthread_cond_wait(&work, &lock);
		struct job *j = todo_head;
		todo_head = j->next;
		if (todo_head == NULL)
			todo_tail = NULL;
		pthread_mutex_unlock(&lock);

		buf_init(&j->reason);
		j->result = smtp_queue_commit(j->msg, j->queue_id, sizeof(j->queue_id), &j->reason);

		pthread_mutex_lock(&lock);
		j->next = done_head;
		done_head = j;
		pthread_mutex_unlock(&lock);
		uint64_t one = 1;
		ssize_t ignored = write(done_watch.fd, &one, sizeof(one));
		(void)ignored;
	}
	return NULL;
}

static void on_done(struct smtpd_watch *w, uint32_t events)
{
	uint64_t n;
	(void)events;
	ssize_t ignored = read(w->fd, &n, sizeof(n));
	(void)ignored;
	pthread_mutex_lock(&lock);
	struct job *list = done_head;
	done_head = NULL;
	pthread_mutex_unlock(&lock);
	/* Oldest first, so that replies follow the order of commits. */
	struct job *rev = NULL;
	while (list != NULL) {
		struct job *next = list->next;
		list->next = rev;
		rev = list;
		list = next;
	}
	while (rev != NULL) {
		struct job *j = rev;
		rev = j->next;
		inflight--;
		smtpd_conn_commit_done(j->conn, j->result, j->queue_id, buf_str(&j->reason));
		buf_free(&j->reason);
		free(j);
	}
}

int smtpd_commit_init(unsigned threads)
{
	if (threads == 0)
		return 0;
	done_watch.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (done_watch.fd < 0)
		return -1;
	done_watch.handler = on_done;
	smtpd_watch_add(&done_watch, EPOLLIN);
	for (unsigned i = 0; i < threads; i++) {
		pthread_t t;
		pthread_attr_t attr;
		pthread_attr_init(&attr);
		pthread_attr_setstacksize(&attr, 256 * 1024);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		int rc = pthread_create(&t, &attr, worker, NULL);
		pthread_attr_destroy(&attr);
		if (rc != 0) {
			errno = rc;
			return -1;
		}
	}
	return 0;
}

void smtpd_commit_submit(void *conn, void *msg)
{
	struct job *j = xcalloc(1, sizeof(*j));
	j->conn = conn;
	j->msg = msg;
	inflight++;
	pthread_mutex_lock(&lock);
	if (todo_tail)
		todo_tail->next = j;
	else
		todo_head = j;
	todo_tail = j;
	pthread_cond_signal(&work);
	pthread_mutex_unlock(&lock);
}

bool smtpd_commit_busy(void)
{
	return inflight > 0;
}
