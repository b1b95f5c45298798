/*
 * qmgr.c - the queue manager: decides when each queued message is
 * delivered, and keeps retrying, expiring and reporting.
 *
 * NAME
 *	qmgr - Tern queue manager
 * SYNOPSIS
 *	qmgr [-c config_dir] [-v]   (started by ternd, service "qmgr")
 * DESCRIPTION
 *	qmgr moves each new queue file from incoming/ to active/ and hands
 *	it to a delivery process (qmgr_deliver.c), of which it keeps at
 *	most default_process_limit (at most 64), each reused for up to
 *	max_use hand-overs (a batch is one) and ended after max_idle
 *	seconds without work (qmgr_pool.c). Messages start in arrival
 *	order, but as in Postfix no more than
 *	local_destination_concurrency_limit deliveries to one local
 *	recipient and smtp_destination_concurrency_limit to one remote
 *	next hop run at once; mail for a full destination waits in a
 *	line of its own, so it never holds up other mail (qmgr_sched.c).
 *	It wakes on a datagram
 *	at queue_directory/private/qmgr (cleanup sends one after each commit,
 *	see lib/mail/qwake.h), on a "flush" line on public/qmgr (ternqueue -f,
 *	tern flush, sendmail -q; "flush I|R|S substr" makes only the
 *	matching deferred mail due, see qmgr_flush.c), and once a second in any case, so that
 *	delivery starts within a second of arrival. Mail in deferred/ is
 *	retried when its modification time (the next attempt, set by the
 *	delivery process with backoff) has passed, looked at every
 *	queue_run_delay or at once on a flush. Files left in active/ by a
 *	crash are delivered again at start-up: recipients already marked done
 *	in the file are skipped, so nothing is lost and only unmarked
 *	recipients can be delivered twice. Mail whose delivery process or
 *	local delivery agent was killed is retried at once, not after
 *	minimal_backoff_time (a second time in a row, with the backoff).
 *	Temporary files of killed writers are removed from incoming/ at
 *	start-up and each minute. A file in active/ still locked by a
 *	delivery process of an earlier qmgr (killed, or stopped for a
 *	reload) is left to it, and taken again if that process dies.
 * SECURITY
 *	Runs as mail_owner (daemon_init drops privileges). It reads queue
 *	files, but their content is only parsed by the validating reader
 *	(lib/mail/qfile.c); a file that does not parse goes to corrupt/.
 *	Recipients go where their transport says (transport_maps,
 *	default_transport, relay_transport): local ones to the local
 *	delivery agent (private/local), remote ones to the smtp program
 *	(private/smtp-client); error:, retry: and discard: are decided in
 *	the delivery process (qmgr_deliver.c).
 * CONFIGURATION PARAMETERS
 *	queue_directory, queue_run_delay, minimal_backoff_time,
 *	maximal_backoff_time, maximal_queue_lifetime, bounce_queue_lifetime,
 *	delay_warning_time, bounce_size_limit, notify_classes,
 *	2bounce_notice_recipient, bounce_notice_recipient,
 *	delay_notice_recipient, error_notice_recipient,
 *	double_bounce_sender, relayhost, myhostname, inet_protocols,
 *	command_time_limit, default_process_limit (parallel deliveries),
 *	max_use, max_idle, local_destination_concurrency_limit,
 *	default_destination_concurrency_limit,
 *	smtp_destination_concurrency_limit, soft_bounce; the resolution
 *	parameters of resolve.h (transport_maps, default_transport,
 *	relay_transport, relay_domains, relayhost, ...).
 */
#include "compat.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "mail/config.h"
#include "mail/daemon.h"
#include "mail/mailq.h"
#include "mail/qfile.h"
#include "mail/qrecycle.h"
#include "mail/qwake.h"
#include "queue/qmgr.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/mem.h"

static int dgram_fd = -1;

/*
 * SIGCHLD: the handler sets child_ended and writes a byte into
 * child_pipe, whose read end is in the poll set, so that a child that
 * ends at any moment (even between the look at the flag and the poll)
 * wakes the loop. Children are reaped only then, not with a waitpid per
 * turn of the loop.
 */
static int child_pipe[2] = {-1, -1};
static volatile sig_atomic_t child_ended;

/*
 * incoming/, kept open from the start: each look is a rewind and the
 * reads, not an open, an fstat and a close as well.
 */
static DIR *incoming_dir;
/* active/, kept open for its fsync after each look (-1: opened each time). */
static int active_fd = -1;
static bool active_atomic;	/* moves into active/ need no fsync (qfile_renames_atomic) */

/* deferred/ held due mail of a delivery process not yet reaped: 1 scan again, 2 take all. */
static int rescan_deferred;

/* Least time between two looks into incoming/ when woken (see main). */
#define INCOMING_GAP_MS	20

static long long monotonic_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Children serving public/qmgr connections (at most MAX_PUBLIC). */
#define MAX_PUBLIC	8
static int npublic;

time_t qmgr_backoff(time_t age)
{
	time_t lo = (time_t)cfg_int(P_minimal_backoff_time);
	time_t hi = (time_t)cfg_int(P_maximal_backoff_time);

	if (hi < lo)
		hi = lo;
	if (age < lo)
		return lo;
	return age > hi ? hi : age;
}

/*
 * Whether path, one link counted, is a name a crash left of a committed
 * message (1, id then set: the message's queue id; 0 not; -1 cannot
 * tell): the queue id it holds (written when the file was made) names
 * a file of this same inode in the queue. A commit into hold/ renames the
 * temporary file across directories, and its fsync writes hold/'s entry
 * only: after a crash on a file system without a journal, and no fsck,
 * the temporary name can be back with the count short. Unlinking it
 * would free the message's inode.
 */
static int temp_named_elsewhere(const char *path, const struct stat *st, char *id, size_t idlen)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	int found;

	if (fd < 0)
		return -1;	/* cannot tell: left alone */
	found = qfile_head_id(fd, id, idlen) && qfile_id_valid(id) && qrecycle_named_in_queue(id, st);
	close(fd);
	return found;
}

/*
 * Temporary files in dir (".tmp.PID.SERIAL.USEC", see qfile.c) whose
 * writer is gone: a process killed between create and commit (a crash of
 * smtpd or pickup, a kill -9) leaves its half-written file behind, and
 * nobody acknowledged it. Kept: files of a live writer (smtpd may be at
 * work while qmgr starts), and a file with a second name, which a system
 * crash without journal can leave as another name of a committed message;
 * parked (qrecycle_park): such a name whose link count is short.
 */
static void remove_stale_temps(const char *dir)
{
	DIR *dp = opendir(dir);
	struct dirent *de;
	struct buf path = BUF_INIT;
	if (dp == NULL)
		return;
	while ((de = readdir(dp)) != NULL) {
		char *end;
		struct stat st;
		if (strncmp(de->d_name, ".tmp.", 5) != 0)
			continue;
		long pid = strtol(de->d_name + 5, &end, 10);
		if (end == de->d_name + 5 || *end != '.' || pid <= 0 || pid > INT_MAX)
			continue;
		if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			continue;	/* alive (or not ours to signal: alive too) */
		buf_reset(&path);
		buf_printf(&path, "%s/%s", dir, de->d_name);
		if (lstat(buf_str(&path), &st) != 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1)
			continue;
		char id[QF_ID_MAX];
		int named = temp_named_elsewhere(buf_str(&path), &st, id, sizeof(id));
		if (named < 0)
			continue;
		if (named > 0) {
			if (qrecycle_park(buf_str(&path), id) >= 0)
				msg_warn("%s/%s: a second name of queue file %s with one link counted: a crash "
					 "without fsck left a short link count (run e2fsck); moved to "
					 "corrupt/links/: remove only after e2fsck", dir, de->d_name, id);
			continue;
		}
		if (unlink(buf_str(&path)) == 0)
			msg_info("removed %s/%s, left by process %ld that is gone (nothing was acknowledged)",
				 dir, de->d_name, pid);
	}
	closedir(dp);
	buf_free(&path);
}

/*
 * Reasons in defer/ of a message that no queue holds any more: left when
 * their removal failed (an I/O error) or a crash came between the
 * message's removal and theirs. Only mailq reads them, for that id;
 * removed at start (mailq_find looks twice, since ternqueue may move a
 * message from one directory to another while it is looked for), with
 * the temporary files (".ID.PID", deferlog_write) of writers now gone.
 */
static void remove_orphan_reasons(void)
{
	DIR *dp = opendir("defer");
	struct dirent *de;
	struct buf path = BUF_INIT;
	const char *qname;

	if (dp == NULL)
		return;
	while ((de = readdir(dp)) != NULL) {
		const char *dot = strrchr(de->d_name, '.');
		long pid = 0;
		if (de->d_name[0] == '.' && dot > de->d_name) {
			char *end;
			pid = strtol(dot + 1, &end, 10);
			if (*end != '\0')
				pid = 0;
		}
		bool temp = pid > 0 && pid <= INT_MAX;

		if (temp ? kill((pid_t)pid, 0) == 0 || errno != ESRCH
			 : !qfile_id_valid(de->d_name) || mailq_find(".", de->d_name, &qname) == 0)
			continue;
		buf_reset(&path);
		buf_printf(&path, "defer/%s", de->d_name);
		if (unlink(buf_str(&path)) == 0)
			msg_info("defer/%s: removed, %s", de->d_name,
				 temp ? "left by a writer that is gone" : "the delay reasons of a message no longer queued");
	}
	closedir(dp);
	buf_free(&path);
}

/* Move every committed file of dir into active/ (deferred: only those due, unless all). */
static void scan_dir(const char *dir, int only_due, int all)
{
	struct buf path = BUF_INIT, err = BUF_INIT;
	time_t now = time(NULL);
	struct dirent *de;
	bool kept = incoming_dir != NULL && strcmp(dir, "incoming") == 0;
	DIR *dp = kept ? incoming_dir : opendir(dir);
	char **moved = NULL;
	size_t nmoved = 0;

	if (kept)
		rewinddir(dp);	/* the directory as it is now, from its start */
	if (dp == NULL) {
		msg_warn("open directory %s: %m", dir);
		return;
	}
	while ((de = readdir(dp)) != NULL) {
		struct stat st;

		if (de->d_name[0] == '.' || !qfile_id_valid(de->d_name))
			continue;
		buf_reset(&path);
		buf_printf(&path, "%s/%s", dir, de->d_name);
		if (only_due && !all) {
			if (stat(buf_str(&path), &st) < 0 || st.st_mtime > now)
				continue;
		}
		/*
		 * Still known: its delivery process moved it to deferred/ but
		 * has not been reaped yet. Taking it now would leave it in
		 * active/ with no one to deliver it; look again next round.
		 */
		if (only_due && qmgr_sched_known(de->d_name)) {
			if (rescan_deferred < (all ? 2 : 1))
				rescan_deferred = all ? 2 : 1;
			continue;
		}
		if (strcmp(dir, "active") != 0) {
			buf_reset(&err);
			if (qfile_move_nosync(buf_str(&path), "active", &err) < 0) {
				msg_warn("%s: move to active: %s", de->d_name, buf_str(&err));
				continue;
			}
		}
		moved = xreallocarray(moved, nmoved + 1, sizeof(char *));
		moved[nmoved++] = xstrdup(de->d_name);
	}
	if (!kept)
		closedir(dp);
	/*
	 * One fsync of active/ for the whole batch, on a file system without
	 * a journal: there a crash between the rename and this fsync could
	 * keep neither entry, if a commit's fsync of incoming/ wrote the
	 * removal first. With a journal (qfile_renames_atomic) the rename is
	 * atomic and need not be durable: a crash that undoes it shows the
	 * file in dir again, which only means it is taken again, as a crash
	 * during its delivery would from active/ (delivered twice at worst).
	 * dir is never synced, for the same reason. Should the fsync fail,
	 * the files are where the renames put them for everyone but a
	 * system crash.
	 */
	if (nmoved > 0 && strcmp(dir, "active") != 0 && !active_atomic) {
		buf_reset(&err);
		if ((active_fd >= 0 ? qfile_sync_dir_fd(active_fd, "active", &err)
				    : qfile_sync_dir("active", &err)) < 0)
			msg_warn("moving %zu file(s) from %s to active: %s", nmoved, dir, buf_str(&err));
	}
	for (size_t i = 0; i < nmoved; i++) {
		qmgr_sched_add(moved[i]);
		free(moved[i]);
	}
	free(moved);
	buf_free(&path);
	buf_free(&err);
}

static void start_workers(void)
{
	qmgr_sched_finished();
	qmgr_sched_run();
}

/*
 * Messages whose delivery process died and that were retried at once: a
 * second death in a row backs off as usual, so a message that kills its
 * delivery process never spins (a ring: only recent deaths matter).
 */
#define RETRIED_MAX	256
static char *retried[RETRIED_MAX];
static size_t retried_next;

static bool retried_once(const char *id)
{
	for (size_t i = 0; i < RETRIED_MAX; i++)
		if (retried[i] != NULL && strcmp(retried[i], id) == 0)
			return true;
	free(retried[retried_next]);
	retried[retried_next] = xstrdup(id);
	retried_next = (retried_next + 1) % RETRIED_MAX;
	return false;
}

/*
 * Files in active/ still locked by a delivery process of an earlier qmgr
 * (qmgr_deliver.c locks each file it works on): that process removes or
 * defers them itself; should it die instead, they are taken again as
 * soon as the lock is free.
 */
static char **watched;
static size_t nwatched;

static bool held_elsewhere(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	bool held;

	if (fd < 0)
		return false;
	held = flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK;
	close(fd);
	return held;
}

static void watch_check(void)
{
	struct buf path = BUF_INIT;

	for (size_t i = 0; i < nwatched;) {
		buf_reset(&path);
		buf_printf(&path, "active/%s", watched[i]);
		if (qmgr_sched_known(watched[i]) || (access(buf_str(&path), F_OK) == 0
		    && held_elsewhere(buf_str(&path)))) {
			i++;
			continue;
		}
		if (access(buf_str(&path), F_OK) == 0) {
			msg_info("%s: released by the earlier delivery process; taken again", watched[i]);
			qmgr_sched_add(watched[i]);
		}
		free(watched[i]);
		watched[i] = watched[--nwatched];
	}
	buf_free(&path);
}

/*
 * A child ended; if it was a delivery process that left files in active/,
 * defer them: due at once the first time (a killed process is no reason
 * to wait minimal_backoff_time), with the backoff the next.
 */
static void reap(void)
{
	int status;
	pid_t pid;
	char *ids;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if (!qmgr_pool_reaped(pid, &ids)) {
			if (npublic > 0)
				npublic--;	/* a public/qmgr child */
			continue;
		}
		if (ids == NULL)
			continue;	/* it was between messages */
		char *save = NULL;
		for (char *id = strtok_r(ids, " ", &save); id != NULL; id = strtok_r(NULL, " ", &save)) {
			struct buf path = BUF_INIT, err = BUF_INIT;
			struct timeval tv[2];

			buf_printf(&path, "active/%s", id);
			if (access(buf_str(&path), F_OK) == 0 && held_elsewhere(buf_str(&path))) {
				msg_info("%s: in the hands of an earlier delivery process; watched", id);
				watched = xreallocarray(watched, nwatched + 1, sizeof(char *));
				watched[nwatched++] = xstrdup(id);
			} else if (access(buf_str(&path), F_OK) == 0) {
				bool again = retried_once(id);
				msg_warn("%s: delivery process %ld ended abnormally (status 0x%x); %s",
				    id, (long)pid, (unsigned)status, again ? "deferred" : "retried at once");
				gettimeofday(&tv[0], NULL);
				if (again)
					tv[0].tv_sec += qmgr_backoff(0);
				else if (rescan_deferred < 1)
					rescan_deferred = 1;
				tv[1] = tv[0];
				utimes(buf_str(&path), tv);
				if (qfile_move(buf_str(&path), "deferred", &err) < 0)
					msg_warn("%s: move to deferred: %s", id, buf_str(&err));
			}
			buf_free(&path);
			buf_free(&err);
		}
		free(ids);
	}
}

static int bind_dgram(void)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd;

	strlcpy(sun.sun_path, QWAKE_SOCKET, sizeof(sun.sun_path));
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		msg_fatal("socket: %m");
	unlink(sun.sun_path);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
		msg_fatal("bind %s: %m", sun.sun_path);
	chmod(sun.sun_path, 0600);
	return fd;
}

/*
 * One connection on public/qmgr, served by a child so that a client that
 * connects and says nothing never holds up scheduling: "flush" becomes a
 * datagram to private/qmgr, "flush X substr" is answered "ok N" or
 * "error" (qmgr_flush.c), "list STYLE" is answered with the queue
 * listing (how mailq works for users who cannot read the queue). At most
 * MAX_PUBLIC children at a time; more connections are closed at once.
 */
static void serve_public(int c)
{
	pid_t pid;

	if (npublic >= MAX_PUBLIC) {
		close(c);
		return;
	}
	pid = fork();
	if (pid == 0) {
		struct timeval tv = {.tv_sec = 10};

		signal(SIGCHLD, SIG_DFL);	/* before the pipe its handler writes is closed */
		qmgr_pool_close_in_child();
		char req[320];
		ssize_t n;
		bool whole;

		/* A client that stops reading or writing holds up a reload no longer. */
		setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		n = read(c, req, sizeof(req) - 1);
		if (n <= 0)
			_exit(0);
		req[n] = '\0';
		whole = strchr(req, '\n') != NULL;
		req[strcspn(req, "\r\n")] = '\0';
		if (strncmp(req, "flush ", 6) == 0) {
			/* A filtered flush: whole line, well formed, or refused. */
			struct qmgr_filter f;
			char reply[64];
			long count = -1;

			if (whole && qmgr_flush_parse(req, &f) == 0)
				count = qmgr_flush_matching(&f);
			else
				msg_warn("public/qmgr: malformed flush request refused");
			if (count > 0)
				qwake_send(".", QWAKE_DUE);
			snprintf(reply, sizeof(reply), count < 0 ? "error\n" : "ok %ld\n", count);
			if (write(c, reply, strlen(reply)) < 0)
				_exit(0);
		} else if (strncmp(req, "list ", 5) == 0) {
			struct mailq_list l;
			struct buf out = BUF_INIT, err = BUF_INIT;
			int style = mailq_style_parse(req + 5);
			size_t done = 0;

			mailq_list_init(&l);
			if (mailq_scan(".", &l, &err) == 0)
				mailq_format(style < 0 ? MAILQ_SENDMAIL : (enum mailq_style)style,
				    cfg_str(P_queue_directory), &l, &out);
			while (done < out.len) {
				ssize_t w = write(c, out.data + done, out.len - done);
				if (w <= 0)
					break;
				done += (size_t)w;
			}
		} else if (strcmp(req, "flush") == 0 || strcmp(req, "F") == 0) {
			qwake_send(".", QWAKE_FLUSH);
		} else {
			qwake_send(".", QWAKE_NEW);
		}
		_exit(0);
	}
	if (pid < 0)
		msg_warn("fork: %m");
	else
		npublic++;
	close(c);
}

/*
 * The datagrams waiting on private/qmgr, taken with one recvmmsg: fewer
 * than asked for means the socket is empty (what comes later makes the
 * next poll return), so the one wake-up of a message costs one call,
 * not a recv and a recv that fails with EAGAIN.
 */
#define DGRAM_BATCH	64
static void read_dgrams(int *want_incoming, int *flush, int *due)
{
	char req[DGRAM_BATCH][64];
	struct iovec iov[DGRAM_BATCH];
	struct mmsghdr mm[DGRAM_BATCH];
	int n;

	do {
		memset(mm, 0, sizeof(mm));
		for (int i = 0; i < DGRAM_BATCH; i++) {
			iov[i] = (struct iovec){.iov_base = req[i], .iov_len = sizeof(req[i])};
			mm[i].msg_hdr.msg_iov = &iov[i];
			mm[i].msg_hdr.msg_iovlen = 1;
		}
		n = recvmmsg(dgram_fd, mm, DGRAM_BATCH, MSG_DONTWAIT, NULL);
		for (int i = 0; i < n; i++) {
			if (mm[i].msg_len > 0 && req[i][0] == 'F')
				*flush = 1;
			else if (mm[i].msg_len > 0 && req[i][0] == 'D')
				*due = 1;
			*want_incoming = 1;
		}
	} while (n == DGRAM_BATCH);
}

/* Requests: datagrams on private/qmgr, connections on public/qmgr. */
static void read_requests(struct pollfd *pfd, int npfd, int *want_incoming, int *flush, int *due)
{
	if (pfd[0].revents & POLLIN)
		read_dgrams(want_incoming, flush, due);
	for (int i = 1; i < npfd; i++) {
		int c;

		if (!(pfd[i].revents & POLLIN))
			continue;
		while ((c = accept4(pfd[i].fd, NULL, NULL, SOCK_CLOEXEC)) >= 0)
			serve_public(c);
	}
}

/*
 * qmgr stops (a reload, or tern stop). The next qmgr starts only when
 * every process of this one has exited (ternd, waits_for_old), and at
 * its start it looks into incoming/ and takes the due mail of deferred/:
 * a wake-up ("W", "D") left unread in private/qmgr is not missed. A
 * flush ("F": sendmail -q, tern flush, ternqueue -f, through a child
 * that served public/qmgr) would be, and the mail it asked for would
 * wait for its next attempt, up to maximal_backoff_time: it is carried
 * out here, as far as a stopping qmgr may, by making every deferred
 * message due now, which the next qmgr's first look takes. On a reload,
 * the children serving public/qmgr finish first (each waits at most 10 s
 * for its client to read or write; they hold back the next qmgr anyway,
 * being of this one's process group), so that their requests are in the
 * socket; then the socket's name goes (a sender now fails, and ternqueue
 * falls back to public/qmgr, which waits in ternd for the next qmgr),
 * then what it holds is read.
 */
static void hand_on_requests(void)
{
	int want_incoming = 0, flush = 0, due = 0;
	long long until = monotonic_ms() + 12000;

	while (daemon_drain && npublic > 0 && monotonic_ms() < until) {
		struct pollfd p = {.fd = child_pipe[0], .events = POLLIN};
		char drain[64];

		if (poll(&p, 1, 100) > 0)
			while (read(child_pipe[0], drain, sizeof(drain)) > 0)
				;
		reap();
	}
	unlink(QWAKE_SOCKET);
	/*
	 * A sender that found the name just before it went could still queue
	 * a datagram after the read below: shut, the socket refuses it
	 * (EPIPE; ternqueue then goes to public/qmgr) and keeps what it holds.
	 */
	shutdown(dgram_fd, SHUT_RD);
	read_dgrams(&want_incoming, &flush, &due);
	if (flush) {
		long n = qmgr_flush_all();
		if (n > 0)
			msg_info("a flush came as qmgr stopped: %ld deferred message(s) made due for the next qmgr", n);
	}
}

static void on_child(int sig)
{
	int saved = errno;

	(void)sig;
	child_ended = 1;
	if (write(child_pipe[1], "", 1) < 0) {
		/* full: a byte already waits, which wakes the loop all the same */
	}
	errno = saved;
}

int main(int argc, char **argv)
{
	const struct daemon_info *di;
	struct pollfd pfd[1 + DAEMON_MAX_LISTEN + 1 + QMGR_POOL_MAX];
	time_t last_deferred = 0;
	int npfd;

	daemon_init(argc, argv, "qmgr", DAEMON_CATCH_TERM | DAEMON_DELIVERY);
	/* Tests make queue file reads fail to see what an unreadable file becomes (qfile.h). */
	if (qfile_fault_from_env() != 0)
		msg_fatal_status(EX_USAGE, "bad TERN_QFILE_FAULT");
	di = daemon_info();
	/* Spent queue files are reused (its delivery processes give, its notices take). */
	qrecycle_configure();
	qmgr_sched_check_config();	/* a bad limit is reported at start, not when first needed */
	time_t last_trim = 0;
	if (pipe2(child_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
		msg_fatal("pipe: %m");
	{
		struct sigaction sa;
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_child;
		sigaction(SIGCHLD, &sa, NULL);
	}
	dgram_fd = bind_dgram();
	pfd[0].fd = dgram_fd;
	pfd[0].events = POLLIN;
	npfd = 1;
	for (int i = 0; i < di->nlisten && npfd < 1 + DAEMON_MAX_LISTEN; i++) {
		pfd[npfd].fd = di->listen[i].fd;
		pfd[npfd].events = POLLIN;
		npfd++;
	}
	/* The pipe of SIGCHLD follows the listeners; the workers' sockets follow it. */
	pfd[npfd].fd = child_pipe[0];
	pfd[npfd].events = POLLIN;
	incoming_dir = opendir("incoming");	/* NULL: opened at each look instead */
	active_fd = open("active", O_RDONLY | O_DIRECTORY | O_CLOEXEC);	/* -1: the same */
	active_atomic = qfile_renames_atomic("active");
	{
		int own[1 + DAEMON_MAX_LISTEN + 4];
		int nown = 0;
		for (int i = 0; i <= npfd; i++)
			own[nown++] = pfd[i].fd;
		own[nown++] = child_pipe[1];
		if (incoming_dir != NULL)
			own[nown++] = dirfd(incoming_dir);
		if (active_fd >= 0)
			own[nown++] = active_fd;
		qmgr_pool_init((int)cfg_int(P_default_process_limit), (unsigned)cfg_int(P_max_use),
		    (time_t)cfg_int(P_max_idle), own, nown);
	}
	qmgr_deliver_init();
	/* What a crash left in active/ first, then anything new. */
	remove_stale_temps("incoming");
	remove_orphan_reasons();
	scan_dir("active", 0, 0);
	msg_info("started, %zu message(s) in active", qmgr_sched_waiting());
	long long last_incoming = 0;
	bool incoming_due = true;
	while (!daemon_stop) {
		int want_incoming = 0, flush = 0, due = 0;
		time_t now;

		start_workers();
		for (int i = 0; i < npfd; i++)
			pfd[i].revents = 0;
		pfd[npfd].revents = 0;
		int nwork = qmgr_pool_pollfds(pfd + npfd + 1, QMGR_POOL_MAX);
		long long wait = 1000 - (monotonic_ms() - last_incoming);
		if (incoming_due)
			wait -= 1000 - INCOMING_GAP_MS;
		if (child_ended)
			wait = 0;
		/*
		 * A look into incoming/ is already due at the end of the gap:
		 * more wake-ups would only say so again (a poll and a read per
		 * message under load), so they wait in the socket, and are read
		 * just before that look, which covers every message they announce
		 * (each was committed before its datagram was sent).
		 */
		bool muted = incoming_due;
		pfd[0].events = muted ? 0 : POLLIN;
		int ready = poll(pfd, (nfds_t)npfd + 1 + (nfds_t)nwork, wait < 0 ? 0 : (int)wait);
		/*
		 * Told to stop while it waited (poll reports ready descriptors
		 * before a signal that came with them): nothing more is taken.
		 * A connection waiting on public/qmgr stays in ternd's socket for
		 * the next qmgr; datagrams are dealt with by hand_on_requests().
		 */
		if (daemon_stop)
			break;
		if (ready > 0) {
			read_requests(pfd, npfd, &want_incoming, &flush, &due);
			qmgr_pool_events(pfd + npfd + 1, nwork);
		}
		qmgr_pool_events(NULL, 0);	/* idle workers past max_idle */
		if (child_ended) {
			char drain[64];

			/* Cleared first: a child that ends from here on sets it again. */
			child_ended = 0;
			while (read(child_pipe[0], drain, sizeof(drain)) > 0)
				;
			reap();
		}
		watch_check();
		/*
		 * incoming/ once a second, or on a wake-up but no sooner than
		 * INCOMING_GAP_MS after the last look: under load, one look (and
		 * one fsync of active/) takes in a whole batch of new mail.
		 */
		incoming_due = incoming_due || want_incoming || flush;
		long long since = monotonic_ms() - last_incoming;
		if (since >= 1000 || since < 0 || (incoming_due && since >= INCOMING_GAP_MS)) {
			if (muted)
				read_dgrams(&want_incoming, &flush, &due);
			scan_dir("incoming", 0, 0);
			last_incoming = monotonic_ms();
			incoming_due = false;
		}
		now = time(NULL);
		int again = rescan_deferred;
		rescan_deferred = 0;
		if (flush || due || again || now - last_deferred >= (time_t)cfg_int(P_queue_run_delay)
		    || now < last_deferred) {
			scan_dir("deferred", 1, flush || again == 2);
			last_deferred = now;
		}
		/*
		 * The pool of spare queue files (qrecycle.h) back to its size, and
		 * the temporary files of writers killed since the start (an smtpd
		 * or pickup that died alone) removed, each minute.
		 */
		if (now - last_trim >= 60 || now < last_trim) {
			if (last_trim != 0)
				remove_stale_temps("incoming");
			long n = qrecycle_trim((unsigned long)cfg_int(P_queue_recycle_limit), 60,
					       (unsigned long long)cfg_int(P_queue_minfree),
					       (unsigned long long)cfg_int(P_message_size_limit));
			if (n > 0)
				msg_info("removed %ld spare queue file(s)", n);
			last_trim = now;
		}
	}
	qmgr_pool_stop(daemon_drain);
	hand_on_requests();
	msg_info(daemon_drain ? "stopped for a reload; deliveries in progress finish" : "stopped");
	return 0;
}
