/*
 * smtpd_work.c - worker pools: run slow, blocking steps (a queue file's
 * fsyncs, a round trip to Dovecot, a crypt(3) hash) on threads, so that
 * the event loop never waits for them, and hand each result back to the
 * loop thread.
 *
 * Part of smtpd, runs as mail_owner. A job's run() is the only code of a
 * job that executes on a worker; it must touch nothing the loop thread
 * uses meanwhile (sessions are never touched there). Finished jobs come
 * back through one eventfd per pool, and their done() runs on the loop
 * thread, oldest first. Each kind of work has its own pool, so that one
 * kind (say, failing AUTH attempts that Dovecot holds back for seconds)
 * can never delay another (commits).
 */
#include "compat.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "smtpd/smtpd.h"
#include "util/mem.h"

struct smtpd_pool {
	struct smtpd_watch w;	/* first: the loop hands back &w */
	pthread_mutex_t lock;
	pthread_cond_t work;
	struct smtpd_job *todo_head, *todo_tail, *done_head;
	unsigned inflight;	/* submitted, done() not yet run; loop thread only */
};

static void *worker(void *arg)
{
	struct smtpd_pool *p = arg;
	for (;;) {
		pthread_mutex_lock(&p->lock);
		while (p->todo_head == NULL)
			pthread_cond_wait(&p->work, &p->lock);
		struct smtpd_job *j = p->todo_head;
		p->todo_head = j->next;
		if (p->todo_head == NULL)
			p->todo_tail = NULL;
		pthread_mutex_unlock(&p->lock);

		j->run(j);

		/*
		 * The eventfd is written only when the done list was empty: a
		 * non-empty list has been signalled already and the loop takes
		 * the whole list under the lock after reading the eventfd, so
		 * one write and one wake-up serve every job finished meanwhile.
		 */
		pthread_mutex_lock(&p->lock);
		bool signal = p->done_head == NULL;
		j->next = p->done_head;
		p->done_head = j;
		pthread_mutex_unlock(&p->lock);
		if (signal) {
			uint64_t one = 1;
			ssize_t ignored = write(p->w.fd, &one, sizeof(one));
			(void)ignored;
		}
	}
	return NULL;
}

static void on_done(struct smtpd_watch *w, uint32_t events)
{
	struct smtpd_pool *p = (struct smtpd_pool *)w;
	uint64_t n;
	(void)events;
	ssize_t ignored = read(w->fd, &n, sizeof(n));
	(void)ignored;
	pthread_mutex_lock(&p->lock);
	struct smtpd_job *list = p->done_head;
	p->done_head = NULL;
	pthread_mutex_unlock(&p->lock);
	/* Oldest first, so that replies follow the order in which work finished. */
	struct smtpd_job *rev = NULL;
	while (list != NULL) {
		struct smtpd_job *next = list->next;
		list->next = rev;
		rev = list;
		list = next;
	}
	while (rev != NULL) {
		struct smtpd_job *j = rev;
		rev = j->next;
		p->inflight--;
		j->done(j);	/* may free j */
	}
}

struct smtpd_pool *smtpd_pool_new(unsigned threads)
{
	if (threads == 0) {
		errno = EINVAL;
		return NULL;
	}
	struct smtpd_pool *p = xcalloc(1, sizeof(*p));
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->work, NULL);
	p->w.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (p->w.fd < 0)
		return NULL;	/* the process exits; nothing to give back */
	p->w.handler = on_done;
	smtpd_watch_add(&p->w, EPOLLIN);
	for (unsigned i = 0; i < threads; i++) {
		pthread_t t;
		pthread_attr_t attr;
		pthread_attr_init(&attr);
		pthread_attr_setstacksize(&attr, 256 * 1024);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		int rc = pthread_create(&t, &attr, worker, p);
		pthread_attr_destroy(&attr);
		if (rc != 0) {
			errno = rc;
			return NULL;
		}
	}
	return p;
}

void smtpd_pool_submit(struct smtpd_pool *p, struct smtpd_job *j)
{
	j->next = NULL;
	p->inflight++;
	pthread_mutex_lock(&p->lock);
	if (p->todo_tail)
		p->todo_tail->next = j;
	else
		p->todo_head = j;
	p->todo_tail = j;
	pthread_cond_signal(&p->work);
	pthread_mutex_unlock(&p->lock);
}

bool smtpd_pool_busy(const struct smtpd_pool *p)
{
	return p != NULL && p->inflight > 0;
}
