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
 *
 * Wake-ups (system calls per job) are kept to what is needed. A job goes
 * to a worker through a semaphore: sem_post makes a futex call only when
 * a worker sleeps, and sem_wait only when there is no job (a condition
 * variable signalled under the lock cost three: the signal, the wait, and
 * the unlock after the wait, since glibc marks the mutex a waiter took
 * back as contended). A worker writes the eventfd only when the loop is
 * asleep in epoll_wait or about to be (smtpd_pool_sleep); an awake loop
 * collects finished jobs itself before it sleeps (smtpd_pool_awake). The
 * eventfd is edge-triggered and never read: each write is an edge, and
 * its counter (one per sleep of the loop at most) cannot fill.
 */
#include "compat.h"

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
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
	sem_t work;		/* one post per job in todo */
	struct smtpd_job *todo_head, *todo_tail, *done_head;
	unsigned inflight;	/* submitted, done() not yet run; loop thread only */
	struct smtpd_pool *next_pool;	/* every pool, for the loop's look before it sleeps */
};

static struct smtpd_pool *pools;
/* The loop is in epoll_wait or past its last look at the done lists. */
static atomic_bool loop_asleep;

static void *worker(void *arg)
{
	struct smtpd_pool *p = arg;
	for (;;) {
		while (sem_wait(&p->work) != 0)
			;	/* EINTR */
		pthread_mutex_lock(&p->lock);
		struct smtpd_job *j = p->todo_head;
		p->todo_head = j->next;
		if (p->todo_head == NULL)
			p->todo_tail = NULL;
		pthread_mutex_unlock(&p->lock);

		j->run(j);

		/*
		 * The eventfd is written only when the done list was empty (a
		 * non-empty one has been signalled, or will be collected, and
		 * the loop takes the whole list) and the loop sleeps: an awake
		 * loop looks at every list before it sleeps (smtpd_pool_sleep
		 * sets loop_asleep first and then takes this lock, so either
		 * it sees this job or this load sees its store).
		 */
		pthread_mutex_lock(&p->lock);
		bool signal = p->done_head == NULL;
		j->next = p->done_head;
		p->done_head = j;
		pthread_mutex_unlock(&p->lock);
		if (signal && atomic_load(&loop_asleep)) {
			uint64_t one = 1;
			ssize_t ignored = write(p->w.fd, &one, sizeof(one));
			(void)ignored;
		}
	}
	return NULL;
}

/* Run done() of the jobs p finished. */
static void collect(struct smtpd_pool *p)
{
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

static void on_done(struct smtpd_watch *w, uint32_t events)
{
	(void)events;
	collect((struct smtpd_pool *)w);
}

bool smtpd_pool_sleep(void)
{
	atomic_store(&loop_asleep, true);
	for (struct smtpd_pool *p = pools; p != NULL; p = p->next_pool) {
		if (p->inflight == 0)
			continue;
		pthread_mutex_lock(&p->lock);
		bool done = p->done_head != NULL;
		pthread_mutex_unlock(&p->lock);
		if (done)
			return true;
	}
	return false;
}

void smtpd_pool_awake(void)
{
	atomic_store(&loop_asleep, false);
	for (struct smtpd_pool *p = pools; p != NULL; p = p->next_pool)
		if (p->inflight > 0)
			collect(p);
}

struct smtpd_pool *smtpd_pool_new(unsigned threads)
{
	if (threads == 0) {
		errno = EINVAL;
		return NULL;
	}
	struct smtpd_pool *p = xcalloc(1, sizeof(*p));
	pthread_mutex_init(&p->lock, NULL);
	if (sem_init(&p->work, 0, 0) != 0)
		return NULL;	/* the process exits; nothing to give back */
	p->w.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (p->w.fd < 0)
		return NULL;
	p->w.handler = on_done;
	smtpd_watch_add(&p->w, EPOLLIN | EPOLLET);
	p->next_pool = pools;
	pools = p;
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
	pthread_mutex_unlock(&p->lock);
	sem_post(&p->work);	/* a futex call only when a worker sleeps */
}

bool smtpd_pool_busy(const struct smtpd_pool *p)
{
	return p != NULL && p->inflight > 0;
}
