/*
 * floor - the CPU floor of an accepted and locally delivered message:
 * the durable steps any MTA with Tern's guarantees must take per message,
 * with no MTA around them, so that tests/bench/run can print how far each
 * MTA is above them.
 *
 * Benchmark helper (not a test, not installed). Runs as whoever starts it
 * (tests/bench/run: root, inside a cgroup of its own), listens on
 * 127.0.0.1 only and writes only under DIR.
 *
 *   floor DIR THREADS
 *
 * Prints the port it listens on (one line), then serves until killed.
 * THREADS threads each accept() on the one listening socket and serve one
 * connection at a time, start to end, in that thread: no process or
 * thread hop. Per connection:
 *   - "220" at once; to each command line "250", to DATA "354", to QUIT
 *     "221": the least dialogue an SMTP client (smtp-source) needs. No
 *     parsing beyond finding line ends and the words DATA and QUIT; one
 *     send() per reply, one recv() per read (64 KiB);
 *   - the message: the bytes up to CRLF.CRLF, kept in memory as received
 *     (no dot-unstuffing, no header added, no line-end conversion);
 *   - the queue file: DIR/queue/t.N created (O_EXCL), the message in one
 *     write(), fsync(), rename() to DIR/queue/N, fsync(DIR/queue), then
 *     the "250" for the end of data;
 *   - the delivery, Maildir-style: the message read back from the queue
 *     file (one pread(), from the page cache), DIR/maildir/tmp/N created, one write(), fsync(), close, rename()
 *     to DIR/maildir/new/N, fsync(DIR/maildir/new); then the queue file
 *     unlinked (not synced: a redelivery after a crash is a duplicate,
 *     never a loss).
 * Four fsyncs per message. The directories' descriptors are opened once.
 *
 *   floor DIR THREADS shared
 *
 * The same steps with the syncs shared between the connections that
 * reach the same step at the same time (group commit, as Tern's smtpd
 * does with smtpd_commit_syncfs = yes): the queue file is renamed into place unsynced, then one
 * leader syncs for every waiter (its own file's fsync when alone, else
 * one syncfs(2)) and fsyncs queue/; the Maildir tmp/ files' data the
 * same way, then each is renamed into new/, then one fsync of new/ for
 * every waiter. At one client this is the same four syncs per message;
 * with more clients fewer. Note that syncfs(2) leaves the write-back of
 * other files to the kernel's flusher threads, whose CPU no cgroup of
 * the caller counts (the same holds for the MTAs that use it).
 *
 *   floor DIR THREADS beside
 *
 * The latency floor of an MTA that delivers while it accepts (as every
 * MTA does that does not hold deliveries back): the least durable steps,
 * with the delivery beside the next commit instead of before it. The
 * commit is Postfix's order, one flush: DIR/queue/N created under its
 * final name, one write(), fsync(), 250 (on ext4, XFS and btrfs the
 * fsync of a new file commits its entry too). The 250 sent, the message
 * goes to one delivery thread, which does what Postfix's local(8) does
 * for a Maildir, one flush: read back, DIR/maildir/tmp/N, write(),
 * fsync(), rename() into new/ (no fsync of new/), queue file unlinked.
 * Two flushes per message, fewer than Tern's or any MTA's that fsyncs
 * the Maildir's directory; no process hop, no log, no parsing. Where its
 * p99 from end of data to 250 is above an MTA's p50 on a machine, no MTA
 * that syncs before its 250 and delivers meanwhile can have a p99 below
 * that p50 there.
 *
 *   floor DIR THREADS apart
 *
 * "beside" split into processes as a privilege-separated MTA must be
 * (the SMTP server may not write mailboxes): the commit and the 250 as
 * there, then the message's id and length to a scheduling process over a
 * socket; it passes them on to a delivering process over another, waits
 * for its one-byte answer and unlinks the queue file; the delivering
 * process opens the queue file by name and does "beside"'s Maildir steps.
 * One message at a time, two hops there and one back, as Tern's smtpd ->
 * qmgr -> local (less its delivery process hop). Both children die with
 * the parent (PR_SET_PDEATHSIG).
 */
#define _GNU_SOURCE        /* syncfs */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/prctl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#define READ_SIZE 65536
#define MAX_MESSAGE (1024 * 1024)      /* per thread, twice */

static int listen_fd;
static int queue_dir, tmp_dir, new_dir;     /* directory descriptors, opened once */
static unsigned long next_id;
static int shared;                          /* group commit (argument "shared") */
static int beside;                          /* delivery in a thread of its own ("beside") */
static int apart = -1;                      /* "apart": socket to the scheduling process */

/* "beside": committed messages waiting for the delivery thread. */
struct handoff {
	int fd;                 /* the queue file, open */
	unsigned long id;
	size_t len;
	struct handoff *next;
};
static pthread_mutex_t handoff_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t handoff_cv = PTHREAD_COND_INITIALIZER;
static struct handoff *handoff_head, **handoff_tail = &handoff_head;

/* One shared sync: waiters take tickets, one leader at a time syncs for
 * every ticket taken before it started. */
struct group {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned long taken, done;
	int busy;
};
static struct group queue_group = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0};
static struct group data_group = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0};
static struct group new_group = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0};

static void die(const char *what)
{
	fprintf(stderr, "floor: %s: %s\n", what, strerror(errno));
	exit(1);
}

static int reply(int fd, const char *text)
{
	size_t n = strlen(text);
	return send(fd, text, n, MSG_NOSIGNAL) == (ssize_t)n ? 0 : -1;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Returns once a sync that started after the call has ended: the file
 * fd's data (fd >= 0: fsync when the leader is alone, else syncfs), then
 * the directory dir (>= 0). */
static void group_sync(struct group *g, int fd, int dir)
{
	pthread_mutex_lock(&g->mu);
	unsigned long ticket = ++g->taken;
	while (g->done < ticket) {
		if (g->busy) {
			pthread_cond_wait(&g->cv, &g->mu);
			continue;
		}
		unsigned long upto = g->taken;
		int alone = upto - g->done == 1;
		g->busy = 1;
		pthread_mutex_unlock(&g->mu);
		if (fd >= 0 && (alone ? fsync(fd) : syncfs(fd)) < 0)
			die("shared sync");
		if (dir >= 0 && fsync(dir) < 0)
			die("shared directory sync");
		pthread_mutex_lock(&g->mu);
		g->done = upto;
		g->busy = 0;
		pthread_cond_broadcast(&g->cv);
	}
	pthread_mutex_unlock(&g->mu);
}

/* A new file in dir (through its descriptor), the message in it, synced
 * (shared: not yet, the caller shares the sync). */
static int create_synced(int dir, const char *name, const char *msg, size_t len)
{
	int fd = openat(dir, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	if (write_all(fd, msg, len) < 0 || (!shared && fsync(fd) < 0)) {
		close(fd);
		return -1;
	}
	return fd;
}

/* "beside": the delivery thread, Postfix local's steps for a Maildir. */
static void *deliverer(void *arg)
{
	(void)arg;
	char *copy = malloc(MAX_MESSAGE);
	if (!copy)
		die("malloc");
	for (;;) {
		pthread_mutex_lock(&handoff_mu);
		while (!handoff_head)
			pthread_cond_wait(&handoff_cv, &handoff_mu);
		struct handoff *h = handoff_head;
		handoff_head = h->next;
		if (!handoff_head)
			handoff_tail = &handoff_head;
		pthread_mutex_unlock(&handoff_mu);

		char name[32];
		snprintf(name, sizeof name, "%lu", h->id);
		if (pread(h->fd, copy, h->len, 0) != (ssize_t)h->len)
			die("read back");
		int m = create_synced(tmp_dir, name, copy, h->len);
		if (m < 0 || close(m) < 0 || renameat(tmp_dir, name, new_dir, name) < 0)
			die("maildir file");
		if (unlinkat(queue_dir, name, 0) < 0)
			die("unlink queue file");
		close(h->fd);
		free(h);
	}
	return NULL;
}

/* "beside": the commit (a new file under its final name, one fsync), the
 * 250, and the message handed to the delivery thread. */
static int commit_beside(int client, const char *msg, size_t len)
{
	struct handoff *h = malloc(sizeof *h);
	if (!h)
		die("malloc");
	h->id = __atomic_add_fetch(&next_id, 1, __ATOMIC_RELAXED);
	h->len = len;
	h->next = NULL;
	char name[32];
	snprintf(name, sizeof name, "%lu", h->id);
	h->fd = create_synced(queue_dir, name, msg, len);
	if (h->fd < 0)
		die("queue file");
	int sent = reply(client, "250 queued\r\n");
	pthread_mutex_lock(&handoff_mu);
	*handoff_tail = h;
	handoff_tail = &h->next;
	pthread_cond_signal(&handoff_cv);
	pthread_mutex_unlock(&handoff_mu);
	return sent;
}

/* "apart": one request, the id and length of a committed message. */
struct request {
	unsigned long id;
	size_t len;
};

static void read_exact(int fd, void *p, size_t n)
{
	ssize_t r = read(fd, p, n);
	if (r == 0)
		_exit(0);       /* the process before it ended */
	if (r != (ssize_t)n)
		die("request");
}

/* "apart": the delivering process: Maildir steps as "beside", then one
 * byte back. */
static void deliver_process(int from)
{
	char *copy = malloc(MAX_MESSAGE);
	if (!copy)
		die("malloc");
	for (;;) {
		struct request r;
		read_exact(from, &r, sizeof r);
		char name[32];
		snprintf(name, sizeof name, "%lu", r.id);
		int q = openat(queue_dir, name, O_RDONLY | O_CLOEXEC);
		if (q < 0 || pread(q, copy, r.len, 0) != (ssize_t)r.len)
			die("read back");
		close(q);
		int m = create_synced(tmp_dir, name, copy, r.len);
		if (m < 0 || close(m) < 0 || renameat(tmp_dir, name, new_dir, name) < 0)
			die("maildir file");
		if (write(from, "", 1) != 1)
			die("answer");
	}
}

/* "apart": the scheduling process between them: passes each request on,
 * waits for the answer, removes the queue file. */
static void schedule_process(int from, int to)
{
	for (;;) {
		struct request r;
		read_exact(from, &r, sizeof r);
		if (write(to, &r, sizeof r) != (ssize_t)sizeof r)
			die("pass on");
		char b;
		read_exact(to, &b, 1);
		char name[32];
		snprintf(name, sizeof name, "%lu", r.id);
		if (unlinkat(queue_dir, name, 0) < 0)
			die("unlink queue file");
	}
}

static void start_apart(void)
{
	int a[2], b[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, a) < 0 ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, b) < 0)
		die("socketpair");
	pid_t pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(a[0]);
		close(b[1]);
		schedule_process(a[1], b[0]);
	}
	pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(a[0]);
		close(a[1]);
		close(b[0]);
		deliver_process(b[1]);
	}
	close(a[1]);
	close(b[0]);
	close(b[1]);
	apart = a[0];
}

/* "apart": the commit as "beside", the request to the scheduling process. */
static int commit_apart(int client, const char *msg, size_t len)
{
	struct request r = {__atomic_add_fetch(&next_id, 1, __ATOMIC_RELAXED), len};
	char name[32];
	snprintf(name, sizeof name, "%lu", r.id);
	int fd = create_synced(queue_dir, name, msg, len);
	if (fd < 0)
		die("queue file");
	close(fd);
	int sent = reply(client, "250 queued\r\n");
	if (write(apart, &r, sizeof r) != (ssize_t)sizeof r)
		die("request");
	return sent;
}

/* The durable steps for one message; 0 once it is in new/. The 250 goes
 * out once the queue file is committed, before the delivery. */
static int commit_and_deliver(int client, const char *msg, size_t len, char *copy)
{
	unsigned long id = __atomic_add_fetch(&next_id, 1, __ATOMIC_RELAXED);
	char tname[32], name[32];
	snprintf(tname, sizeof tname, "t.%lu", id);
	snprintf(name, sizeof name, "%lu", id);

	int q = create_synced(queue_dir, tname, msg, len);
	if (q < 0 || renameat(queue_dir, tname, queue_dir, name) < 0)
		die("queue file");
	if (shared)
		group_sync(&queue_group, q, queue_dir);
	else if (fsync(queue_dir) < 0)
		die("queue directory");
	if (reply(client, "250 queued\r\n") < 0) {
		close(q);
		return -1;
	}
	/* Delivery: read back what the queue holds, as a delivery agent would. */
	if (pread(q, copy, len, 0) != (ssize_t)len)
		die("read back");
	int m = create_synced(tmp_dir, name, copy, len);
	if (m < 0)
		die("maildir file");
	if (shared)
		group_sync(&data_group, m, -1);
	if (close(m) < 0 || renameat(tmp_dir, name, new_dir, name) < 0)
		die("maildir rename");
	if (shared)
		group_sync(&new_group, -1, new_dir);
	else if (fsync(new_dir) < 0)
		die("maildir new/");
	if (unlinkat(queue_dir, name, 0) < 0)
		die("unlink queue file");
	close(q);
	return 0;
}

/* One connection, start to end. */
static void serve(int fd, char *buf, char *copy)
{
	size_t have = 0, line = 0, scanned = 0;
	int data = 0;

	if (reply(fd, "220 floor\r\n") < 0)
		return;
	for (;;) {
		if (data) {
			/* End of data: CRLF.CRLF, or ".CRLF" right after the 354. */
			char *end = NULL;
			size_t from = scanned > 4 ? scanned - 4 : 0;
			if (have >= 3 && memcmp(buf, ".\r\n", 3) == 0) {
				end = buf;
			} else {
				for (size_t i = from; i + 5 <= have; i++) {
					if (memcmp(buf + i, "\r\n.\r\n", 5) == 0) {
						end = buf + i + 2;
						break;
					}
				}
			}
			scanned = have;
			if (end) {
				size_t len = (size_t)(end - buf);
				if ((apart >= 0 ? commit_apart(fd, buf, len)
				     : beside ? commit_beside(fd, buf, len)
					    : commit_and_deliver(fd, buf, len, copy)) < 0)
					return;
				size_t used = len + 3;
				memmove(buf, buf + used, have - used);
				have -= used;
				data = 0;
				scanned = 0;
				continue;
			}
		} else {
			char *nl = memchr(buf + line, '\n', have - line);
			if (nl) {
				size_t n = (size_t)(nl - buf) + 1;
				if (n >= 4 && strncasecmp(buf, "DATA", 4) == 0) {
					if (reply(fd, "354 go\r\n") < 0)
						return;
					data = 1;
				} else if (n >= 4 && strncasecmp(buf, "QUIT", 4) == 0) {
					reply(fd, "221 bye\r\n");
					return;
				} else if (reply(fd, "250 ok\r\n") < 0) {
					return;
				}
				memmove(buf, buf + n, have - n);
				have -= n;
				line = 0;
				scanned = 0;
				continue;
			}
			line = have;
		}
		if (have + READ_SIZE > MAX_MESSAGE)
			return;         /* larger than any benchmark message */
		ssize_t r = recv(fd, buf + have, READ_SIZE, 0);
		if (r <= 0)
			return;
		have += (size_t)r;
	}
}

static void *worker(void *arg)
{
	(void)arg;
	char *buf = malloc(MAX_MESSAGE);
	char *copy = malloc(MAX_MESSAGE);
	if (!buf || !copy)
		die("malloc");
	for (;;) {
		int fd = accept(listen_fd, NULL, NULL);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			die("accept");
		}
		serve(fd, buf, copy);
		close(fd);
	}
	return NULL;
}

static int open_dir(const char *top, const char *sub)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", top, sub);
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		die(path);
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		die(path);
	return fd;
}

int main(int argc, char **argv)
{
	if (argc < 3 || argc > 4 || atoi(argv[2]) < 1 ||
	    (argc == 4 && strcmp(argv[3], "shared") != 0 && strcmp(argv[3], "beside") != 0 &&
	     strcmp(argv[3], "apart") != 0)) {
		fprintf(stderr, "usage: floor DIR THREADS [shared|beside|apart]\n");
		return 64;
	}
	shared = argc == 4 && strcmp(argv[3], "shared") == 0;
	beside = argc == 4 && strcmp(argv[3], "beside") == 0;
	int threads = atoi(argv[2]);
	queue_dir = open_dir(argv[1], "queue");
	close(open_dir(argv[1], "maildir"));
	tmp_dir = open_dir(argv[1], "maildir/tmp");
	new_dir = open_dir(argv[1], "maildir/new");

	struct sockaddr_in sa;
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t salen = sizeof sa;
	listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
	    listen(listen_fd, 1024) < 0 || getsockname(listen_fd, (struct sockaddr *)&sa, &salen) < 0)
		die("listen");
	printf("%d\n", ntohs(sa.sin_port));
	fflush(stdout);

	if (argc == 4 && strcmp(argv[3], "apart") == 0)
		start_apart();
	if (beside) {
		pthread_t t;
		if (pthread_create(&t, NULL, deliverer, NULL) != 0)
			die("pthread_create");
	}
	for (int i = 1; i < threads; i++) {
		pthread_t t;
		if (pthread_create(&t, NULL, worker, NULL) != 0)
			die("pthread_create");
	}
	worker(NULL);
	return 0;
}
