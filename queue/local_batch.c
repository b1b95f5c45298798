/*
 * local_batch.c - the replies of a batch of requests from qmgr and the
 * Maildir files that wait for one sync (lib/mail/lproto.h, "Batches").
 *
 * Runs as root in local's process for one qmgr connection. The Maildir
 * files were written, not yet synced, into tmp/ by local_mailbox.c as
 * their recipients; every rename, unlink and directory sync here runs
 * with the recipient's effective ids too (write_as), only the data sync
 * of already open descriptors and their close are done as root.
 *
 * The commit keeps the order of a single delivery: first the data of
 * every file is on disk (per file system one syncfs() through the
 * oldest file's descriptor, which reports every write-back error since
 * that descriptor was opened, so also those of the newer files; a file
 * alone on its file system gets an fsync() of its own), then each file
 * is renamed into new/, then each new/ directory is synced once. So a
 * file in new/ is always complete, and one in new/ is reported
 * delivered only once its name is on disk as well. A file whose step
 * fails is removed again and the reply of its recipient becomes a
 * deferral, so qmgr tries again later.
 */
#include "compat.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "queue/local.h"
#include "util/frame.h"
#include "util/log.h"
#include "util/mem.h"

/* Most files kept open at once; more commit early (their replies stay held). */
#define BATCH_MAX_FILES	256

struct pending {
	struct ident id;	/* the recipient: whose ids the Maildir steps run with */
	int fd;			/* open from the write until the data sync */
	dev_t dev;
	char *tmp, *new;	/* its name in tmp/ and the one it gets in new/ */
	size_t dirlen;		/* new[0..dirlen) is the new/ directory */
	size_t slot;		/* the held reply it belongs to */
	bool dev_done, dir_done, in_new, failed;
	struct buf why;		/* why it failed */
};

struct held {
	long long index;
	struct lresult_text res;
};

static struct pending *pend;
static size_t npend;
static struct held *held;
static size_t nheld;
/* A failure of a file whose reply is not held yet (a commit between two of its destinations). */
static struct lresult_text early = {.text = BUF_INIT};
static bool have_early;

static size_t max_files(void)
{
	static size_t max;
	struct rlimit rl;

	if (max == 0) {
		max = BATCH_MAX_FILES;
		/* Half the descriptors at most: the deliveries need some of their own. */
		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY
		    && rl.rlim_cur / 2 < max)
			max = rl.rlim_cur / 2 > 0 ? (size_t)(rl.rlim_cur / 2) : 1;
	}
	return max;
}

void batch_add_file(const struct ident *id, int fd, dev_t dev, const char *tmp_path,
    const char *new_path)
{
	struct pending *p;

	if (npend >= max_files())
		batch_commit();
	pend = xreallocarray(pend, npend + 1, sizeof(*pend));
	p = &pend[npend++];
	memset(p, 0, sizeof(*p));
	p->id = *id;
	p->fd = fd;
	p->dev = dev;
	p->tmp = xstrdup(tmp_path);
	p->new = xstrdup(new_path);
	p->dirlen = (size_t)(strrchr(p->new, '/') - p->new);
	p->slot = nheld;	/* its recipient's reply is the next one held */
	buf_init(&p->why);
}

/* --- the steps, as the recipient ---------------------------------------- */

static void do_unlink(void *arg, struct lresult_text *res)
{
	if (unlink(arg) < 0 && errno != ENOENT)
		lres_set(res, LRESULT_DEFER, "4.2.0", "%s", strerror(errno));
}

static void do_rename(void *arg, struct lresult_text *res)
{
	struct pending *p = arg;

	if (rename(p->tmp, p->new) < 0)
		lres_set(res, LRESULT_DEFER, "4.2.0", "%s", strerror(errno));
}

/*
 * The rename is durable only once new/ is synced. Where the user may not
 * read new/, a syncfs through the file commits the entry too.
 */
static void do_sync_dir(void *arg, struct lresult_text *res)
{
	struct pending *p = arg;
	char *dir = xstrdup(p->new);
	int dfd, e = 0;

	dir[p->dirlen] = '\0';
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		if (fsync(dfd) < 0)
			e = errno ? errno : EIO;
		close(dfd);
	} else if (errno == EACCES) {
		if ((dfd = open(p->new, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0 || syncfs(dfd) < 0)
			e = errno ? errno : EIO;
		if (dfd >= 0)
			close(dfd);
	} else {
		e = errno ? errno : EIO;
	}
	if (e != 0)
		lres_set(res, LRESULT_DEFER, "4.2.0", "%s", strerror(e));
	free(dir);
}

/* Run one step as p's recipient; 0 done, -1 failed with the reason in why. */
static int step_as(struct pending *p, as_user_fn fn, void *arg, struct buf *why)
{
	struct lresult_text r = {.result = LRESULT_SENT, .text = BUF_INIT};
	int ok;

	write_as(&p->id, fn, arg, &r);
	ok = r.result == LRESULT_SENT;
	if (!ok)
		buf_adds(why, buf_str(&r.text));
	buf_free(&r.text);
	return ok ? 0 : -1;
}

/* p is not delivered: remove what was written, remember why. */
static void fail(struct pending *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(struct pending *p, const char *fmt, ...)
{
	struct buf err = BUF_INIT;
	const char *name = p->in_new ? p->new : p->tmp;
	va_list ap;

	if (p->failed)
		return;
	p->failed = true;
	va_start(ap, fmt);
	buf_vprintf(&p->why, fmt, ap);
	va_end(ap);
	if (step_as(p, do_unlink, (void *)name, &err) < 0)
		msg_warn("cannot remove %s: %s", name, buf_str(&err));
	buf_free(&err);
}

/* --- the commit --------------------------------------------------------- */

/* The data of every file on disk: one sync per file system. */
static void sync_files(void)
{
	for (size_t i = 0; i < npend; i++) {
		struct pending *p = &pend[i];
		size_t same = 0;
		int r, e;

		if (p->dev_done)
			continue;
		for (size_t k = i; k < npend; k++)
			if (pend[k].dev == p->dev)
				same++;
		/* p is the oldest file of its file system: its syncfs reports for all. */
		r = same == 1 ? fsync(p->fd) : syncfs(p->fd);
		e = r < 0 ? (errno ? errno : EIO) : 0;
		for (size_t k = i; k < npend; k++) {
			if (pend[k].dev != p->dev)
				continue;
			pend[k].dev_done = true;
			if (r < 0)
				fail(&pend[k], "write %s: %s", pend[k].tmp, strerror(e));
		}
	}
	for (size_t i = 0; i < npend; i++) {
		struct pending *p = &pend[i];

		if (close(p->fd) < 0)
			fail(p, "write %s: %s", p->tmp, strerror(errno ? errno : EIO));
		p->fd = -1;
	}
}

static bool same_dir(const struct pending *a, const struct pending *b)
{
	return a->id.uid == b->id.uid && a->dirlen == b->dirlen
	    && memcmp(a->new, b->new, a->dirlen) == 0;
}

/* The names in new/ on disk: one fsync per directory. */
static void sync_dirs(void)
{
	for (size_t i = 0; i < npend; i++) {
		struct pending *p = &pend[i];
		struct buf err = BUF_INIT;
		int r;

		if (p->failed || !p->in_new || p->dir_done)
			continue;
		r = step_as(p, do_sync_dir, p, &err);
		for (size_t k = i; k < npend; k++) {
			struct pending *q = &pend[k];

			if (q->failed || !q->in_new || !same_dir(p, q))
				continue;
			q->dir_done = true;
			if (r < 0)
				fail(q, "cannot sync maildir %.*s: %s", (int)q->dirlen, q->new,
				    buf_str(&err));
		}
		buf_free(&err);
	}
}

/* A failed file makes its recipient's reply a deferral (unless it already is one). */
static void defer_reply(struct lresult_text *res, const char *why)
{
	if (res->result != LRESULT_DEFER)
		lres_set(res, LRESULT_DEFER, "4.2.0", "%s", why);
}

void batch_commit(void)
{
	size_t nfailed = 0;

	if (npend == 0)
		return;
	sync_files();
	for (size_t i = 0; i < npend; i++) {
		struct pending *p = &pend[i];
		struct buf err = BUF_INIT;

		if (p->failed)
			continue;
		if (step_as(p, do_rename, p, &err) < 0)
			fail(p, "rename into %s: %s", p->new, buf_str(&err));
		else
			p->in_new = true;
		buf_free(&err);
	}
	sync_dirs();
	for (size_t i = 0; i < npend; i++) {
		struct pending *p = &pend[i];

		if (p->failed) {
			nfailed++;
			if (p->slot < nheld) {
				defer_reply(&held[p->slot].res, buf_str(&p->why));
			} else {
				if (!have_early)
					lres_set(&early, LRESULT_SENT, "2.0.0", "%s", "");
				have_early = true;
				defer_reply(&early, buf_str(&p->why));
			}
		}
		free(p->tmp);
		free(p->new);
		buf_free(&p->why);
	}
	if (npend > 1)
		msg_info("synced %zu maildir deliveries at once%s", npend,
		    nfailed > 0 ? " (some failed)" : "");
	free(pend);
	pend = NULL;
	npend = 0;
}

/* --- the replies -------------------------------------------------------- */

void batch_hold(long long index, const struct lresult_text *r)
{
	struct held *h;

	held = xreallocarray(held, nheld + 1, sizeof(*held));
	h = &held[nheld++];
	h->index = index;
	h->res.result = r->result;
	strlcpy(h->res.dsn, r->dsn, sizeof(h->res.dsn));
	buf_init(&h->res.text);
	buf_adds(&h->res.text, buf_str(&r->text));
	if (have_early) {
		defer_reply(&h->res, buf_str(&early.text));
		have_early = false;
	}
}

static void drop_replies(void)
{
	for (size_t i = 0; i < nheld; i++)
		buf_free(&held[i].res.text);
	free(held);
	held = NULL;
	nheld = 0;
	have_early = false;
	buf_free(&early.text);
}

static int send_reply(int fd, const struct held *h)
{
	struct lreply rep;
	struct buf frame = BUF_INIT;
	int r;

	lreply_init(&rep);
	rep.index = h->index;
	rep.result = h->res.result;
	buf_adds(&rep.dsn, h->res.dsn);
	buf_adds(&rep.text, buf_str(&h->res.text));
	lreply_encode(&rep, &frame);
	r = frame_write(fd, &frame);
	lreply_free(&rep);
	buf_free(&frame);
	return r;
}

void batch_flush(int fd)
{
	batch_commit();
	for (size_t i = 0; i < nheld; i++) {
		if (send_reply(fd, &held[i]) < 0) {
			msg_warn("write reply to qmgr: %m");
			break;
		}
	}
	drop_replies();
}

void batch_discard(void)
{
	for (size_t i = 0; i < npend; i++) {
		struct pending *p = &pend[i];
		struct buf err = BUF_INIT;

		close(p->fd);
		if (step_as(p, do_unlink, p->tmp, &err) < 0)
			msg_warn("cannot remove %s: %s", p->tmp, buf_str(&err));
		buf_free(&err);
		free(p->tmp);
		free(p->new);
		buf_free(&p->why);
	}
	if (npend > 0)
		msg_info("connection ended before its batch: %zu maildir deliveries removed", npend);
	free(pend);
	pend = NULL;
	npend = 0;
	drop_replies();
}
