/*
 * qmgr_pool.c - the delivery processes: children of qmgr that each
 * deliver one message at a time (qmgr_deliver) and then wait for the
 * next, so that a busy queue does not pay a fork, a connection to the
 * local delivery agent and that agent's fork for every message.
 *
 * Runs as mail_owner, in qmgr and in its children. qmgr hands a worker
 * a queue id over a socketpair (SOCK_SEQPACKET: one packet per hand-over;
 * a batch of local deliveries is several ids separated by spaces); the
 * worker answers with one byte when the attempt is over. A worker serves
 * at most max_use hand-overs (a batch is one: the limit bounds a
 * process's life, and counting each message of a batch made a busy
 * mailbox pay the start of a worker and of local's child for it every
 * few batches) and is retired after max_idle seconds without work (as
 * Postfix's daemons are): qmgr closes its end and the worker
 * exits when it reads the end of file, so no id is ever sent to a worker
 * that is about to leave. A worker that dies during a delivery is reaped
 * by qmgr, which defers what it left in active/ (qmgr.c); one whose
 * attempt left the file in active/ leaves on purpose, for the same.
 */
#include "compat.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "mail/daemon.h"
#include "mail/param_maps.h"
#include "mail/qfile.h"
#include "queue/qmgr.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/mem.h"

struct worker {
	pid_t pid;		/* 0: free slot */
	int fd;			/* qmgr's end; -1 once closed (the worker is leaving) */
	bool busy;
	char *ids;		/* the messages it delivers, while busy: "ID ID ..." */
	unsigned uses;
	time_t idle_since;
};

static struct worker workers[QMGR_POOL_MAX];
static int max_workers = 1;
static unsigned max_use = 100;
static time_t max_idle = 100;
/* qmgr's own descriptors a worker must not keep (its sockets, SIGCHLD pipe, incoming/, active/) */
static int extra_fds[1 + DAEMON_MAX_LISTEN + 4];
static int nextra;

void qmgr_pool_init(int max, unsigned use_limit, time_t idle_limit, const int *fds, int nfds)
{
	max_workers = max < 1 ? 1 : max > QMGR_POOL_MAX ? QMGR_POOL_MAX : max;
	max_use = use_limit < 1 ? 1 : use_limit;
	max_idle = idle_limit < 1 ? 1 : idle_limit;
	nextra = 0;
	for (int i = 0; i < nfds && nextra < (int)(sizeof(extra_fds) / sizeof(extra_fds[0])); i++)
		extra_fds[nextra++] = fds[i];
	for (int i = 0; i < QMGR_POOL_MAX; i++)
		workers[i].fd = -1;
}

void qmgr_pool_close_in_child(void)
{
	for (int i = 0; i < QMGR_POOL_MAX; i++)
		if (workers[i].fd >= 0)
			close(workers[i].fd);
	for (int i = 0; i < nextra; i++)
		close(extra_fds[i]);
}

/* The worker's life: ids in, one delivery attempt, a byte out. */
static void worker_main(int fd)
{
	static char packet[QMGR_BATCH_MAX * QF_ID_MAX + 1];
	const char *ids[QMGR_BATCH_MAX];
	bool gone[QMGR_BATCH_MAX];

	for (;;) {
		ssize_t n = recv(fd, packet, sizeof(packet) - 1, 0);
		size_t nids = 0;
		char *save = NULL;

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			_exit(0);
		packet[n] = '\0';
		for (char *id = strtok_r(packet, " ", &save); id != NULL; id = strtok_r(NULL, " ", &save)) {
			if (!qfile_id_valid(id) || nids == QMGR_BATCH_MAX) {
				msg_warn("delivery process: bad queue id from qmgr");
				_exit(1);
			}
			ids[nids++] = id;
		}
		if (nids == 0) {
			msg_warn("delivery process: no queue id from qmgr");
			_exit(1);
		}
		param_maps_recheck();
		if (nids == 1)
			gone[0] = qmgr_deliver(ids[0]);
		else
			qmgr_deliver_batch(ids, nids, gone);
		/*
		 * Still in active/: the attempt could not deal with it (the file
		 * could not be opened or marked, or not moved on). Leave without
		 * an answer, as a process that dies does: qmgr's reaper then
		 * defers it, where the next attempt finds it; answered, it would
		 * stay in active/ until qmgr starts again. A file the attempt
		 * removed or moved itself is not looked for (the usual case);
		 * any other is.
		 */
		for (size_t i = 0; i < nids; i++) {
			char path[sizeof("active/") + QF_ID_MAX];
			if (gone[i])
				continue;
			snprintf(path, sizeof(path), "active/%s", ids[i]);
			if (access(path, F_OK) == 0)
				_exit(EX_TEMPFAIL);
		}
		if (send(fd, "d", 1, MSG_NOSIGNAL) != 1)
			_exit(0);
	}
}

static struct worker *spawn(void)
{
	struct worker *w = NULL;
	int live = 0, sv[2];

	for (int i = 0; i < QMGR_POOL_MAX; i++) {
		if (workers[i].pid != 0)
			live++;
		else if (w == NULL)
			w = &workers[i];
	}
	if (w == NULL || live >= max_workers)
		return NULL;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		msg_warn("socketpair: %m");
		return NULL;
	}
	pid_t pid = fork();
	if (pid < 0) {
		msg_warn("fork: %m");
		close(sv[0]);
		close(sv[1]);
		return NULL;
	}
	if (pid == 0) {
		signal(SIGTERM, SIG_DFL);
		signal(SIGCHLD, SIG_DFL);
		close(sv[0]);
		qmgr_pool_close_in_child();
		worker_main(sv[1]);
	}
	close(sv[1]);
	*w = (struct worker){.pid = pid, .fd = sv[0], .idle_since = time(NULL)};
	return w;
}

int qmgr_pool_start(const char *const *ids, size_t n)
{
	struct buf packet = BUF_INIT;

	for (size_t i = 0; i < n; i++)
		buf_printf(&packet, "%s%s", i ? " " : "", ids[i]);
	for (;;) {
		struct worker *w = NULL;
		for (int i = 0; i < QMGR_POOL_MAX && w == NULL; i++)
			if (workers[i].pid != 0 && workers[i].fd >= 0 && !workers[i].busy)
				w = &workers[i];
		if (w == NULL && (w = spawn()) == NULL) {
			buf_free(&packet);
			return -1;
		}
		if (send(w->fd, packet.data, packet.len, MSG_NOSIGNAL) < 0) {
			/* It is gone: qmgr reaps it; try another one. */
			close(w->fd);
			w->fd = -1;
			continue;
		}
		w->busy = true;
		w->ids = xstrdup(buf_str(&packet));
		buf_free(&packet);
		return 0;
	}
}

/* Is id one of the words of list? */
static bool has_word(const char *list, const char *id)
{
	size_t len = strlen(id);

	for (const char *p = list; (p = strstr(p, id)) != NULL; p += len)
		if ((p == list || p[-1] == ' ') && (p[len] == ' ' || p[len] == '\0'))
			return true;
	return false;
}

bool qmgr_pool_has(const char *id)
{
	for (int i = 0; i < QMGR_POOL_MAX; i++)
		if (workers[i].pid != 0 && workers[i].busy && has_word(workers[i].ids, id))
			return true;
	return false;
}

int qmgr_pool_pollfds(struct pollfd *pfd, int room)
{
	int n = 0;
	for (int i = 0; i < QMGR_POOL_MAX && n < room; i++)
		if (workers[i].pid != 0 && workers[i].fd >= 0) {
			pfd[n].fd = workers[i].fd;
			pfd[n].events = POLLIN;
			pfd[n].revents = 0;
			n++;
		}
	return n;
}

static void retire(struct worker *w)
{
	close(w->fd);
	w->fd = -1;
}

void qmgr_pool_events(const struct pollfd *pfd, int n)
{
	time_t now = time(NULL);

	for (int k = 0; k < n; k++) {
		if (pfd[k].revents == 0)
			continue;
		for (int i = 0; i < QMGR_POOL_MAX; i++) {
			struct worker *w = &workers[i];
			char done;

			if (w->pid == 0 || w->fd != pfd[k].fd)
				continue;
			ssize_t r = recv(w->fd, &done, 1, MSG_DONTWAIT);
			if (r == 1 && w->busy) {
				w->busy = false;
				free(w->ids);
				w->ids = NULL;
				w->uses++;
				w->idle_since = now;
				if (w->uses >= max_use)
					retire(w);
			} else if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
				retire(w);	/* it left; reaping tells what it left behind */
			}
			break;
		}
	}
	for (int i = 0; i < QMGR_POOL_MAX; i++) {
		struct worker *w = &workers[i];
		if (w->pid != 0 && w->fd >= 0 && !w->busy && now - w->idle_since >= max_idle)
			retire(w);
	}
}

bool qmgr_pool_reaped(pid_t pid, char **ids)
{
	for (int i = 0; i < QMGR_POOL_MAX; i++) {
		struct worker *w = &workers[i];
		if (w->pid != pid)
			continue;
		*ids = w->busy ? w->ids : NULL;
		if (!w->busy)
			free(w->ids);
		if (w->fd >= 0)
			close(w->fd);
		*w = (struct worker){.fd = -1};
		return true;
	}
	return false;
}

/*
 * Every worker is retired: an idle one leaves at once. A busy one is
 * stopped, unless DRAIN (a reload): then it finishes the delivery in
 * hand, finds no answer wanted and leaves. Whatever it leaves in active/
 * is the next qmgr's, which ternd starts only once all of this qmgr's
 * processes are gone, so that no message is delivered by two at once.
 */
void qmgr_pool_stop(bool drain)
{
	for (int i = 0; i < QMGR_POOL_MAX; i++)
		if (workers[i].pid != 0) {
			if (workers[i].fd >= 0)
				retire(&workers[i]);
			if (workers[i].busy && !drain)
				kill(workers[i].pid, SIGTERM);
		}
}
