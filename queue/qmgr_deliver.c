/*
 * qmgr_deliver.c - one delivery attempt of one message (or of a batch),
 * in one of qmgr's delivery processes (qmgr_pool.c; mail_owner).
 *
 * Each queue file is locked (flock) while it is worked on, so that it
 * never has two delivery processes at once (qmgr.c).
 *
 * Order of events, which is what makes a crash safe: each recipient the
 * local delivery agent reports delivered is marked done in the queue
 * file (pwrite of its status byte, qfile_mark_done) before the next
 * reply is even read; a failed recipient is marked only after its bounce
 * is queued. The file is removed when nothing is pending (into the pool
 * of spare queue files, qrecycle.h; unsynced: a system crash before the
 * removal reaches the disk delivers it again, as Postfix would),
 * otherwise its marks are synced (qfile_sync) and it goes to deferred/
 * with its modification time set to the next attempt and the reasons
 * kept in defer/ID for mailq.
 *
 * Each pending recipient goes where its transport says (resolve.h:
 * transport_maps, default_transport, relay_transport): local to the
 * local delivery agent, smtp and relay to the smtp program (one request
 * per transport and next hop, private/smtp-client), both spoken to in
 * qmgr_agent.c and marked as they answer; error: bounces, retry: defers,
 * discard: counts as delivered (status=sent), all three decided here
 * without an agent; any other transport name defers. The end of the
 * attempt (notices, expiry, log lines) is qmgr_settle.c.
 *
 * A batch (qmgr_deliver_batch: messages for one local recipient, see
 * qmgr_sched.c) opens every file first, sends every request, all but the
 * last with hold (lproto.h), and only then reads the answers, message by
 * message in the same order; each file is then settled as alone. Should
 * the connection fail, what got no answer is deferred, as for one message.
 */
#include "compat.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "mail/bounce.h"
#include "mail/config.h"
#include "mail/mailq.h"
#include "mail/qcorrupt.h"
#include "mail/qfile.h"
#include "mail/qrecycle.h"
#include "mail/qwake.h"
#include "mail/resolve.h"
#include "queue/qmgr.h"
#include "queue/qmgr_attempt.h"
#include "util/log.h"
#include "util/mem.h"

/*
 * Where an attempt's pending recipients go: the local delivery agent,
 * the smtp program (one request per transport and next hop), or nowhere
 * (error:, retry:, discard: and bad addresses are decided here).
 */
struct plan {
	size_t *local_idx, nlocal;
	size_t *remote_idx, nremote;
	char **remote_transport, **remote_hop;
	size_t *discard_idx, ndiscard;
};

/* Classify each pending recipient by its transport (resolve.h). */
static void plan_make(struct attempt *a, struct plan *p)
{
	struct resolved res;
	struct buf text = BUF_INIT;
	char dsn[16];

	p->local_idx = xcalloc(a->n + 1, sizeof(size_t));
	p->remote_idx = xcalloc(a->n + 1, sizeof(size_t));
	p->remote_transport = xcalloc(a->n + 1, sizeof(char *));
	p->remote_hop = xcalloc(a->n + 1, sizeof(char *));
	p->discard_idx = xcalloc(a->n + 1, sizeof(size_t));
	p->nlocal = p->nremote = p->ndiscard = 0;
	resolved_init(&res);
	for (size_t i = 0; i < a->n; i++) {
		const struct qfile_rcpt *rc = qfile_rcpt(a->q, i);
		const char *t;

		if (rc->status != QF_RCPT_PENDING)
			continue;
		if (resolve_address(rc->address, &res) < 0 || res.class == RESOLVE_ERROR) {
			/* The resolver may say why (a domain it cannot route): its words, else syntax. */
			if (res.nexthop.len > 0) {
				resolve_error_text(buf_str(&res.nexthop), '5', dsn, sizeof(dsn), &text);
				attempt_set(a, i, OUT_BOUNCE, "none", dsn, buf_str(&text));
			} else {
				attempt_set(a, i, OUT_BOUNCE, "none", "5.1.3", "bad address syntax");
			}
			continue;
		}
		t = buf_str(&res.transport);
		if (strcmp(t, "local") == 0) {
			p->local_idx[p->nlocal++] = i;
		} else if (strcmp(t, "smtp") == 0 || strcmp(t, "relay") == 0) {
			p->remote_idx[p->nremote] = i;
			p->remote_transport[p->nremote] = xstrdup(t);
			p->remote_hop[p->nremote++] = xstrdup(buf_str(&res.nexthop));
		} else if (strcmp(t, "error") == 0) {
			resolve_error_text(buf_str(&res.nexthop), '5', dsn, sizeof(dsn), &text);
			attempt_set(a, i, OUT_BOUNCE, "none", dsn, buf_str(&text));
		} else if (strcmp(t, "retry") == 0) {
			resolve_error_text(buf_str(&res.nexthop), '4', dsn, sizeof(dsn), &text);
			attempt_set(a, i, OUT_DEFER, "none", dsn, buf_str(&text));
		} else if (strcmp(t, "discard") == 0) {
			resolve_error_text(buf_str(&res.nexthop), '2', dsn, sizeof(dsn), &text);
			attempt_set(a, i, OUT_SENT, "none", dsn, buf_str(&text));
			p->discard_idx[p->ndiscard++] = i;
		} else {
			/* A transport_maps entry for a transport Tern does not have: kept, as Postfix does. */
			buf_reset(&text);
			buf_printf(&text, "mail transport unavailable: %s", t);
			attempt_set(a, i, OUT_DEFER, "none", "4.3.0", buf_str(&text));
		}
	}
	resolved_free(&res);
	buf_free(&text);
}

/* discard: delivered as far as the sender is concerned; marked first, as any delivery. */
static int plan_discard(struct attempt *a, struct plan *p)
{
	for (size_t k = 0; k < p->ndiscard; k++) {
		if (attempt_mark(a, p->discard_idx[k], QF_RCPT_DELIVERED) < 0)
			return -1;
		attempt_log(a, p->discard_idx[k], "sent");
	}
	return 0;
}

/* Remote recipients: one request to the smtp program per transport and next hop. -1 when a mark failed. */
static int plan_remote(struct attempt *a, struct plan *p)
{
	size_t *group = xcalloc(p->nremote + 1, sizeof(size_t));
	int ret = 0;

	for (size_t k = 0; k < p->nremote && ret == 0; k++) {
		size_t ng = 0;

		if (p->remote_hop[k] == NULL)
			continue;
		for (size_t m = k; m < p->nremote; m++) {
			if (p->remote_hop[m] != NULL && strcasecmp(p->remote_hop[m], p->remote_hop[k]) == 0
			    && strcmp(p->remote_transport[m], p->remote_transport[k]) == 0) {
				group[ng++] = p->remote_idx[m];
				if (m != k) {
					free(p->remote_hop[m]);
					p->remote_hop[m] = NULL;
				}
			}
		}
		if (agent_send(&agent_smtp, a, group, ng, false, true, p->remote_transport[k],
			p->remote_hop[k]) == 0 && agent_read(&agent_smtp, a, group, ng) < 0)
			ret = -1;
	}
	free(group);
	return ret;
}

static void plan_free(struct plan *p)
{
	for (size_t k = 0; k < p->nremote; k++) {
		free(p->remote_hop[k]);
		free(p->remote_transport[k]);
	}
	free(p->remote_hop);
	free(p->remote_transport);
	free(p->remote_idx);
	free(p->local_idx);
	free(p->discard_idx);
}

/*
 * The deferral reasons of a delivery agent that went away in the middle
 * (killed, crashed, restarted: qmgr_agent.c's "lost connection with the
 * local delivery agent", "... unavailable"), or of local's helper process
 * for one delivery (run_as: "delivery process died"): not the mailbox's
 * fault, so the first such deferral is retried at once (a crash must not
 * hold a whole batch for minimal_backoff_time); a second one in a row
 * backs off as usual, so an agent that dies on a message never spins.
 */
static bool agent_lost(const char *why)
{
	size_t n = strlen(why);

	return (strncmp(why, "lost connection with the ", 25) == 0 && n > 15
		   && strcmp(why + n - 15, " delivery agent") == 0)
	    || (n > 27 && strcmp(why + n - 27, " delivery agent unavailable") == 0)
	    || strncmp(why, "delivery process died", 21) == 0;
}

/* One message's attempt, from opening its file to removing or deferring it. */
struct job {
	struct attempt a;
	struct deferlog dl;
	struct buf path;
	struct plan plan;
	bool ready;		/* opened: the attempt goes on */
	bool sent;		/* its local request went out */
	bool lost_before;	/* its last attempt too ended with the agent gone */
	/*
	 * defer/ID may exist: the read at the start found it or could not
	 * tell. Only this process writes it while it holds the file's lock,
	 * so when the read found none, none is there to remove at the end.
	 */
	bool dl_maybe;
	bool gone;		/* the file is known to have left active/ */
};

/*
 * A file qfile_open found corrupt may be an empty one: what the give of
 * an earlier version (which emptied the file before renaming it into the
 * pool) left under the message's name when it was cut short between its
 * truncation and its rename (by a crash, or by the end of the process),
 * and then the message was delivered. Such a file is given to the pool
 * (qrecycle_adopt_empty, which checks it under its lock) rather than set
 * aside in corrupt/ with a notice. Not only a give leaves one: with the
 * defaults a commit renames its file to the queue id before the fsync
 * that makes it durable (wherever that fsync also commits the rename, as
 * on ext4 with a journal or XFS, and under shared sync: qfile.c,
 * durable_commit), so a system crash in between can leave an empty file
 * under its id, which qmgr moves into active/ like any other; that
 * message was never acknowledged. Storage that ignores flushes can leave
 * one of an acknowledged message too: that message is lost whatever is
 * done here (corrupt/ would keep an empty file), hence the warning, the
 * one trace of it. True when the
 * file was dealt with (recycled, left to the process that holds it, or
 * gone meanwhile); false when it is corrupt after all.
 */
static bool spent(struct job *j, const char *id)
{
	switch (qrecycle_adopt_empty(buf_str(&j->path))) {
	case QR_ADOPTED:
		msg_warn("%s: empty queue file (an interrupted removal, or mail lost by a crash); recycled",
		    id);
		/* The last attempt of a deferred message may have kept its reasons. */
		deferlog_remove(".", id);
		j->gone = true;
		return true;
	case QR_HELD:
		msg_info("%s: in the hands of another delivery process; left to it", id);
		return true;
	case QR_GONE:
		/* Removed or deferred by the process that held it, after the open. */
		j->gone = true;
		return true;
	case QR_FAILED:
		msg_error("%s: recycle empty queue file: %m", id);
		return true;
	default:
		return false;
	}
}

/*
 * True when active/ID left while it was being delivered: ternqueue -h
 * moved it to hold/ (and -H or -r maybe on to incoming/) or -d removed
 * it (an administrator acts on a message when it is slow, which is when
 * it is being delivered). Not an error: the log says where it went; a
 * held message with nothing left to deliver leaves hold/ too (releasing
 * it would only remove it), and a removed one keeps no reasons in defer/.
 * One moved on keeps its done marks: its next attempt goes on from them.
 */
static bool left_active(struct job *j, const char *id, bool delivered)
{
	const char *qname;
	struct buf held = BUF_INIT;

	if (access(buf_str(&j->path), F_OK) == 0 || errno != ENOENT)
		return false;
	j->gone = true;
	if (mailq_find(".", id, &qname) < 0) {
		deferlog_remove(".", id);
		msg_info("%s: removed from the queue while being delivered", id);
		return true;
	}
	if (strcmp(qname, "hold") != 0) {
		msg_info("%s: moved to %s/ while being delivered", id, qname);
		return true;
	}
	buf_printf(&held, "hold/%s", id);
	if (!delivered) {
		msg_info("%s: placed on hold while being delivered; stays there", id);
	} else if (unlink(buf_str(&held)) == 0) {
		deferlog_remove(".", id);
		msg_info("%s: placed on hold while being delivered, and delivered: removed", id);
	} else {
		msg_error("%s: remove delivered message from hold: %m", id);
	}
	buf_free(&held);
	return true;
}

/*
 * Lock fd, the open active/ID, for this attempt: false (logged, j->gone
 * set when the name is gone) when it is not this process's to work on.
 * Held while this process works on it: a delivery process of an earlier
 * qmgr (killed, or stopped for a reload) may still be at work on it, and
 * two at once would repeat its deliveries and mark a file the other has
 * recycled. Left to that one (qmgr.c watches it). Only a lock held
 * elsewhere stops the attempt.
 */
static bool job_hold(struct job *j, const char *id, int fd)
{
	struct stat st;

	if (flock(fd, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK) {
		msg_info("%s: in the hands of another delivery process; left to it", id);
		return false;
	}
	/*
	 * That process may have finished between the open and the lock: its
	 * file deferred, or given to the pool, where a writer may have
	 * taken it for a new message already. Not this message any more:
	 * delivering it again, or marking or removing that file, would
	 * repeat mail and lose the new message. What is under the name now,
	 * if anything, is left for the next attempt.
	 */
	if (!qfile_still_named(fd, buf_str(&j->path))) {
		msg_info("%s: moved away by another delivery process while opened; left to it", id);
		j->gone = lstat(buf_str(&j->path), &st) != 0 && errno == ENOENT;
		return false;
	}
	return true;
}

/*
 * When the last notice of an unreadable queue file went out, in a page
 * qmgr maps before it forks its first delivery process, so that all of
 * them share it: at most one such notice an hour for the queue. A notice
 * written on the failing disk may be unreadable too, and would bring a
 * notice of its own; the hour keeps that to a trickle. NULL (no shared
 * page): each process keeps its own.
 */
#define UNREADABLE_NOTICE_GAP	3600
static long long *unreadable_notice_at;

void qmgr_deliver_init(void)
{
	void *p = mmap(NULL, sizeof(long long), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		msg_warn("shared page for the notices of unreadable queue files: %m");
	else
		unreadable_notice_at = p;
}

static long long *unreadable_notice_slot(void)
{
	static long long own;
	return unreadable_notice_at != NULL ? unreadable_notice_at : &own;
}

/* Whether a notice of an unreadable file may go out now: taking the hour if so (*last: what it held). */
static bool unreadable_notice_due(time_t now, long long *last)
{
	long long *at = unreadable_notice_slot();

	*last = __atomic_load_n(at, __ATOMIC_ACQUIRE);
	if (*last != 0 && now >= *last && now - *last < UNREADABLE_NOTICE_GAP)
		return false;
	return __atomic_compare_exchange_n(at, last, (long long)now, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}

/* No notice went out after all: the hour taken at now goes back to last (unless taken since). */
static void unreadable_notice_undo(time_t now, long long last)
{
	long long taken = (long long)now;
	(void)__atomic_compare_exchange_n(unreadable_notice_slot(), &taken, last, false, __ATOMIC_ACQ_REL,
					  __ATOMIC_ACQUIRE);
}

/*
 * A queue file that cannot be read (an I/O error: a failing disk) is
 * never set aside nor removed: it may read again (a retried sector, a
 * disk replaced under RAID), and then it is delivered, or bounced if its
 * time is up, as any other. It is deferred here, under its lock as any
 * attempt, with the backoff of its age (its id's second: nothing else of
 * it can be read); defer/ID notes since when it has failed. From the
 * second attempt in a row that fails, error_notice_recipient is told
 * (notify_classes resource), once for the message, as no sender can be;
 * with at most one such notice an hour, a message left untold is told at
 * a later attempt. Left in active/ for qmgr's reaper when it cannot even
 * be opened or locked.
 */
static void unreadable_defer(struct job *j, const char *id, const char *why)
{
	struct buf merr = BUF_INIT;
	struct deferlog dl;
	struct timeval tv[2];
	time_t now = time(NULL), made;
	int fd = open(buf_str(&j->path), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0) {
		msg_warn("%s: %s; left in active/", id, why);
		return;
	}
	if (!job_hold(j, id, fd)) {
		close(fd);
		return;
	}
	deferlog_init(&dl);
	/* defer/ID unreadable as well: left as it is, the file deferred all the same. */
	bool noted = deferlog_read(".", id, &dl) >= 0;
	if (noted && (dl.unreadable_since <= 0 || dl.unreadable_since > now)) {
		dl.unreadable_since = now;
		dl.unreadable_told = 0;
	} else if (noted && dl.unreadable_told == 0) {
		long long last;
		msg_warn("%s: queue file unreadable at two attempts in a row; left in the queue", id);
		if (!bounce_notify_class("resource")) {
			dl.unreadable_told = now;	/* nobody to tell */
		} else if (unreadable_notice_due(now, &last)) {
			if (bounce_error_notice("resource", id, "queue file unreadable (I/O error) at two "
						"attempts in a row; left in the queue, tried again with the backoff"))
				dl.unreadable_told = now;
			else
				unreadable_notice_undo(now, last);
		}
	}
	if (noted && deferlog_write(".", id, &dl) < 0)
		msg_warn("%s: cannot write defer/%s: %m", id, id);
	deferlog_free(&dl);
	gettimeofday(&tv[0], NULL);
	tv[0].tv_sec += qmgr_backoff(qfile_id_time(id, &made) && made <= now ? now - made : 0);
	tv[1] = tv[0];
	if (utimes(buf_str(&j->path), tv) < 0 || qfile_move(buf_str(&j->path), "deferred", &merr) < 0) {
		if (merr.len == 0)
			buf_adds(&merr, strerror(errno));	/* utimes's, before left_active's own calls */
		if (!left_active(j, id, false))
			msg_warn("%s: %s; cannot defer it: %s", id, why, buf_str(&merr));
	} else {
		msg_warn("%s: %s; deferred", id, why);
		j->gone = true;
	}
	close(fd);	/* the lock held until it left active/ */
	buf_free(&merr);
}

/* Open active/ID and get the attempt ready (j->ready), or deal with a file that cannot be. */
static void job_begin(struct job *j, const char *id)
{
	struct buf err = BUF_INIT;
	struct attempt *a = &j->a;
	long long life;
	const char *fx;
	int r;

	memset(j, 0, sizeof(*j));
	a->id = id;
	buf_init(&j->path);
	buf_printf(&j->path, "active/%s", id);
	r = qfile_open(buf_str(&j->path), true, &a->q, &err);
	int open_errno = errno;
	if (r == QF_CORRUPT && spent(j, id))
		goto out;
	if (r == QF_CORRUPT) {
		struct buf merr = BUF_INIT;
		msg_warn("%s: corrupt queue file (%s); moved to corrupt/", id, buf_str(&err));
		bounce_error_notice("software", id, "corrupt queue file; moved to corrupt/");
		if (qfile_move(buf_str(&j->path), "corrupt", &merr) < 0)
			msg_error("%s: move to corrupt: %s", id, buf_str(&merr));
		else
			j->gone = true;
		qcorrupt_trim("corrupt", cfg_int(P_corrupt_queue_limit));
		buf_free(&merr);
		goto out;
	}
	if (r == QF_LINKS) {
		/* Neither name may go: parked where nothing takes or trims them (qrecycle.h). */
		int parked = qrecycle_park(buf_str(&j->path), id);
		int park_errno = errno;
		if (parked < 0 && access(buf_str(&j->path), F_OK) != 0 && errno == ENOENT) {
			/* Removed or moved by another delivery process since the open: its to tell. */
			msg_info("%s: moved away by another delivery process while opened; left to it", id);
			j->gone = true;
			goto out;
		}
		if (parked < 0) {
			msg_error("%s: %s; cannot move it to corrupt/links/: %s; left in active/",
				  id, buf_str(&err), strerror(park_errno));
			goto out;
		}
		msg_warn("%s: %s; moved to corrupt/links/%s: remove only after e2fsck", id,
			 buf_str(&err), parked ? " with the pool's name of it" : "");
		bounce_error_notice("software", id, "queue file with a short link count; moved to "
				    "corrupt/links/: run e2fsck on the queue's file system");
		j->gone = true;
		goto out;
	}
	if (r == QF_STALE) {
		/* A crash left a name pointing at a reused file: only the name goes. */
		msg_warn("%s: stale name of a reused queue file (%s); removed", id, buf_str(&err));
		if (unlink(buf_str(&j->path)) < 0)
			msg_error("%s: remove stale name: %m", id);
		else
			j->gone = true;
		goto out;
	}
	if (r == QF_IOERR && qfile_errno_unreadable(open_errno)) {
		unreadable_defer(j, id, buf_str(&err));
		goto out;
	}
	if (r != QF_OK) {
		msg_warn("%s: cannot open queue file: %s", id, buf_str(&err));
		goto out;	/* qmgr defers what is left in active/ */
	}
	if (!job_hold(j, id, qfile_fd(a->q))) {
		qfile_close(a->q);
		a->q = NULL;
		goto out;
	}
	qfile_mark_checked(a->q);	/* held and still named: its boot may be set */
	a->n = qfile_rcpt_count(a->q);
	a->r = xcalloc(a->n, sizeof(*a->r));
	a->start = attempt_now();
	a->arrival = qfile_arrival(a->q);
	life = *qfile_sender(a->q) ? cfg_int(P_maximal_queue_lifetime) : cfg_int(P_bounce_queue_lifetime);
	fx = qfile_attr(a->q, "forced_expire");
	a->expired = time(NULL) - a->arrival.tv_sec >= (time_t)life || (fx && strcmp(fx, "yes") == 0);
	msg_info("%s: from=<%s>, size=%llu, nrcpt=%zu (queue active)", id, qfile_sender(a->q),
	    qfile_content_size(a->q), a->n);
	deferlog_init(&j->dl);
	j->dl_maybe = deferlog_read(".", id, &j->dl) != 0;
	for (size_t k = 0; k < j->dl.count; k++)
		if (agent_lost(j->dl.reason[k]))
			j->lost_before = true;
	{
		/* Reasons are recomputed on every attempt; keep only the warning mark. */
		long long warned = j->dl.warned;
		deferlog_free(&j->dl);
		j->dl.warned = warned;
	}
	plan_make(a, &j->plan);
	j->ready = true;
out:
	buf_free(&err);
}

/*
 * The attempt is over (ok: every mark was written): remove the file when
 * nothing is pending, else sync its marks and defer it. When a mark could
 * not be written the file stays in active/ for qmgr to retry.
 */
static void job_end(struct job *j, bool ok)
{
	struct attempt *a = &j->a;
	const char *id = a->id;

	if (j->ready && !ok) {
		/* The file could not be marked: stop here, qmgr will retry it. */
		qfile_close(a->q);
		a->q = NULL;
	} else if (j->ready) {
		size_t pending = attempt_settle(a, &j->dl);
		if (pending == 0) {
			int rc = qfile_remove(a->q);
			a->q = NULL;
			if (rc == 1 && left_active(j, id, true))
				goto settled;
			if (rc < 0)
				msg_error("%s: remove queue file: %m", id);
			else
				j->gone = true;
			/* Kept from an earlier attempt (deferred before): it goes now. */
			if (j->dl_maybe)
				deferlog_remove(".", id);
			msg_info("%s: removed", id);
		} else {
			struct timeval tv[2];
			struct buf merr = BUF_INIT;
			bool lost = false;

			for (size_t i = 0; i < a->n; i++)
				if (a->r[i].outcome == OUT_DEFER && agent_lost(buf_str(&a->r[i].text)))
					lost = true;
			/* Its done marks must outlive a system crash, or the retry repeats them. */
			if (qfile_sync(a->q, &merr) < 0) {
				msg_warn("%s: %s", id, buf_str(&merr));
				buf_reset(&merr);
			}
			deferlog_write(".", id, &j->dl);
			gettimeofday(&tv[0], NULL);
			if (lost && !j->lost_before)
				msg_info("%s: a delivery agent went away; retried at once", id);
			else
				tv[0].tv_sec += qmgr_backoff(tv[0].tv_sec - a->arrival.tv_sec);
			tv[1] = tv[0];
			if (utimes(buf_str(&j->path), tv) < 0 && !left_active(j, id, false))
				msg_warn("%s: set next attempt time: %m", id);
			if (j->gone) {
				/* held or removed meanwhile */
			} else if (qfile_move(buf_str(&j->path), "deferred", &merr) < 0) {
				if (!left_active(j, id, false))
					msg_error("%s: move to deferred: %s", id, buf_str(&merr));
			} else {
				j->gone = true;
				if (lost && !j->lost_before)
					qwake_send(".", QWAKE_DUE);	/* qmgr looks into deferred/ now */
			}
			buf_free(&merr);
		}
	}
settled:
	if (j->ready) {
		deferlog_free(&j->dl);
		plan_free(&j->plan);
	}
	if (a->q != NULL)
		qfile_close(a->q);
	for (size_t i = 0; i < a->n; i++) {
		buf_free(&a->r[i].text);
		buf_free(&a->r[i].diag);
	}
	free(a->r);
	buf_free(&j->path);
}

/* The rest of an attempt after its local recipients: discards, then remote ones. */
static int job_rest(struct job *j)
{
	if (!j->ready)
		return 0;
	if (plan_discard(&j->a, &j->plan) < 0)
		return -1;
	return plan_remote(&j->a, &j->plan);
}

bool qmgr_deliver(const char *id)
{
	struct job j;
	int ret = 0;

	job_begin(&j, id);
	if (j.ready && j.plan.nlocal > 0
	    && agent_send(&agent_local, &j.a, j.plan.local_idx, j.plan.nlocal, false, true, "", "") == 0) {
		/* A batch before may have left a longer one (set only when it changes). */
		agent_set_timeout(&agent_local, 1);
		ret = agent_read(&agent_local, &j.a, j.plan.local_idx, j.plan.nlocal);
	}
	if (ret == 0)
		ret = job_rest(&j);
	job_end(&j, ret == 0);
	return j.gone;
}

void qmgr_deliver_batch(const char *const *ids, size_t n, bool *gone)
{
	struct job *jobs = xcalloc(n, sizeof(*jobs));
	size_t last = n, first = n;

	for (size_t k = 0; k < n; k++) {
		job_begin(&jobs[k], ids[k]);
		if (jobs[k].ready && jobs[k].plan.nlocal > 0) {
			if (first == n)
				first = k;
			last = k;
		}
	}
	/* Every request before any reply: all but the last with hold. */
	for (size_t k = first; k < n && k <= last; k++) {
		struct job *j = &jobs[k];
		if (!j->ready || j->plan.nlocal == 0)
			continue;
		if (k != first && !agent_connected(&agent_local))
			attempt_defer_rest(&j->a, j->plan.local_idx, j->plan.nlocal, "local",
			    "local delivery agent unavailable");
		else
			j->sent = agent_send(&agent_local, &j->a, j->plan.local_idx, j->plan.nlocal,
			    k != last, k == first, "", "") == 0;
	}
	/* Then the answers, in the same order (a lost connection defers the rest). */
	size_t nsent = 0;
	for (size_t k = 0; k < n; k++)
		nsent += jobs[k].sent;
	agent_set_timeout(&agent_local, nsent);
	for (size_t k = 0; k < n; k++) {
		struct job *j = &jobs[k];
		int ret = 0;
		if (j->sent)
			ret = agent_read(&agent_local, &j->a, j->plan.local_idx, j->plan.nlocal);
		if (ret == 0)
			ret = job_rest(j);
		job_end(j, ret == 0);
		gone[k] = j->gone;
	}
	free(jobs);
}
