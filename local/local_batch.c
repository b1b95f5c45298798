/*
 * local_batch.c - the replies of a batch of requests from qmgr and the
 * Maildir files that wait for the batch's end (lib/mail/lproto.h,
 * "Batches").
 *
 * Runs as root in local's process for one qmgr connection. The Maildir
 * files were written, not yet synced, into tmp/ by local_mailbox.c as
 * their recipients; every rename, unlink and directory sync here runs
 * with the recipient's file-system ids too (write_as), only the data sync
 * of already open descriptors and their close are done as root.
 *
 * The commit keeps the order of a single delivery: first the data of
 * every file is on disk (an fsync() each, whose write-back began when
 * the file was added; which reports that file's own write-back errors,
 * so one failing file defers only its recipient), then each file is
 * renamed into new/, then each new/ directory is synced once. So a
 * file in new/ is always complete, and one in new/ is reported
 * delivered only once its name is on disk as well. A file whose step
 * fails is removed again and the reply of its recipient becomes a
 * deferral, so qmgr tries again later. At most BATCH_MAX_FILES files
 * stay open: beyond that the open ones are synced and closed at once,
 * but they too stay in tmp/ until the batch ends, so a connection that
 * ends early still leaves nothing in new/.
 *
 * The last recipient of a request with hold 0 (what qmgr sends when it
 * does not batch), when no other file is pending, has its Maildir file
 * committed in the same order by batch_commit_solo, inside the switch of
 * ids that wrote it: one switch per message, not one for the write and
 * one for the commit.
 */
#include "compat.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "local/local.h"
#include "util/frame.h"
#include "util/log.h"
#include "util/mem.h"

/*
 * Most files kept open at once: when there are more, the open ones are
 * synced and closed early, but stay in tmp/ until the batch ends.
 */
#define BATCH_MAX_FILES	256

struct pending {
	struct ident id;	/* the recipient: whose ids the Maildir steps run with */
	int fd;			/* open from the write until the data sync, then -1 */
	int early_err;		/* errno of the write-back started when added, 0 none */
	char *tmp, *new;	/* its name in tmp/ and the one it gets in new/ */
	size_t dirlen;		/* new[0..dirlen) is the new/ directory */
	size_t slot;		/* the held reply it belongs to */
	int rename_err, dir_err;	/* errno of a failed rename, fsync of new/ */
	bool dir_done, in_new, failed;
	struct buf why;		/* why it failed */
};

struct held {
	long long index;
	struct lresult_text res;
};

static struct pending *pend;
static size_t npend, nopen;
static struct held *held;
static size_t nheld;

static void sync_files(void);

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

void batch_add_file(const struct ident *id, int fd, const char *tmp_path,
    const char *new_path)
{
	struct pending *p;

	if (nopen >= max_files()) {
		msg_info("%zu maildir files open: syncing them before the batch ends", nopen);
		sync_files();
	}
	pend = xreallocarray(pend, npend + 1, sizeof(*pend));
	p = &pend[npend++];
	memset(p, 0, sizeof(*p));
	p->id = *id;
	p->fd = fd;
	p->tmp = xstrdup(tmp_path);
	p->new = xstrdup(new_path);
	p->dirlen = (size_t)(strrchr(p->new, '/') - p->new);
	p->slot = nheld;	/* its recipient's reply is the next one held */
	buf_init(&p->why);
	nopen++;
	/*
	 * Start its write-back now, while the next request is read. A file
	 * system that cannot (EINVAL, ENOSYS) leaves it to the fsync; any
	 * other error fails the file then, should the fsync not report it
	 * again (write-back errors are reported once).
	 */
	if (sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE) < 0 && errno != EINVAL
	    && errno != ENOSYS)
		p->early_err = errno_or(EIO);
}

/* --- the steps, as the recipient ---------------------------------------- */

static void do_unlink(void *arg, struct lresult_text *res)
{
	if (unlink(arg) < 0 && errno != ENOENT)
		lres_set(res, LRESULT_DEFER, "4.2.0", "%s", strerror(errno));
}

/*
 * The rename is durable only once new/ is synced. Where the user may not
 * read new/, a syncfs through the file commits the entry too. 0 or errno.
 */
static int sync_dir(const char *new_path, size_t dirlen)
{
	char *dir = xstrdup(new_path);
	int dfd, e = 0;

	dir[dirlen] = '\0';
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		if (fsync(dfd) < 0)
			e = errno_or(EIO);
		close(dfd);
	} else if (errno == EACCES) {
		if ((dfd = open(new_path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0 || syncfs(dfd) < 0)
			e = errno_or(EIO);
		if (dfd >= 0)
			close(dfd);
	} else {
		e = errno_or(EIO);
	}
	free(dir);
	return e;
}

static bool same_dir(const struct pending *a, const struct pending *b)
{
	return a->dirlen == b->dirlen && memcmp(a->new, b->new, a->dirlen) == 0;
}

/* Consecutive files (from..to, exclusive) of one recipient: one switch of ids for all. */
struct run {
	size_t from, to;
};

/* As the recipient: the run's files into new/, then each of its new/ directories synced once. */
static void do_commit_run(void *arg, struct lresult_text *res)
{
	struct run *r = arg;

	(void)res;
	for (size_t k = r->from; k < r->to; k++) {
		struct pending *p = &pend[k];

		if (p->failed)
			continue;
		if (rename(p->tmp, p->new) < 0)
			p->rename_err = errno_or(EIO);
		else
			p->in_new = true;
	}
	for (size_t k = r->from; k < r->to; k++) {
		struct pending *p = &pend[k];
		int e;

		if (p->failed || !p->in_new || p->dir_done)
			continue;
		e = sync_dir(p->new, p->dirlen);
		for (size_t q = k; q < r->to; q++) {
			if (pend[q].failed || !pend[q].in_new || !same_dir(p, &pend[q]))
				continue;
			pend[q].dir_done = true;
			pend[q].dir_err = e;
		}
	}
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

/*
 * The data of every file still open on disk, each by its own fsync, then
 * the descriptors are closed. Not one syncfs(2) for all: that would also
 * write out every other program's dirty data on the file system (a
 * backup's, a database's), and the batch's replies would wait for it.
 * Their write-back began when they were added (batch_add_file), so the
 * fsyncs mostly find the data written and flush the disk's cache.
 */
static void sync_files(void)
{
	for (size_t i = 0; i < npend; i++) {
		struct pending *p = &pend[i];

		if (p->fd < 0)
			continue;
		if (fsync(p->fd) < 0)
			fail(p, "write %s: %s", p->tmp, strerror(errno_or(EIO)));
		else if (p->early_err != 0)
			fail(p, "write %s: %s", p->tmp, strerror(p->early_err));
		if (close(p->fd) < 0)
			fail(p, "write %s: %s", p->tmp, strerror(errno_or(EIO)));
		p->fd = -1;
		nopen--;
	}
}

/* Every file into new/ and every new/ on disk, as the recipients. */
static void commit_all(void)
{
	for (size_t i = 0; i < npend;) {
		struct run r = {.from = i, .to = i + 1};
		struct buf err = BUF_INIT;
		int ok;

		while (r.to < npend && pend[r.to].id.uid == pend[i].id.uid
		    && pend[r.to].id.gid == pend[i].id.gid)
			r.to++;
		ok = step_as(&pend[i], do_commit_run, &r, &err) == 0;
		for (size_t k = r.from; k < r.to; k++) {
			struct pending *p = &pend[k];

			if (p->failed)
				continue;
			if (!ok)
				fail(p, "rename into %s: %s", p->new, buf_str(&err));
			else if (!p->in_new)
				fail(p, "rename into %s: %s", p->new, strerror(p->rename_err));
			else if (p->dir_err != 0)
				fail(p, "cannot sync maildir %.*s: %s", (int)p->dirlen, p->new,
				    strerror(p->dir_err));
		}
		buf_free(&err);
		i = r.to;
	}
}

/* A failed file makes its recipient's reply a deferral (unless it already is one). */
static void defer_reply(struct lresult_text *res, const char *why)
{
	if (res->result != LRESULT_DEFER)
		lres_set(res, LRESULT_DEFER, "4.2.0", "%s", why);
}

static void batch_commit(void)
{
	size_t nfailed = 0;

	if (npend == 0)
		return;
	sync_files();
	commit_all();
	for (size_t i = 0; i < npend; i++) {
		struct pending *p = &pend[i];

		if (p->failed) {
			nfailed++;
			/* Committed after its request was handled: its reply is held. */
			if (p->slot < nheld)
				defer_reply(&held[p->slot].res, buf_str(&p->why));
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

/* --- a batch of one ----------------------------------------------------- */

static bool solo;

void batch_expect_solo(bool alone)
{
	solo = alone;
}

bool batch_take_solo(void)
{
	bool r = solo && npend == 0;

	solo = false;
	return r;
}

/*
 * Remove what a failed commit left (as the recipient): a failure to remove is
 * told in the reply's text, which qmgr logs, not logged here, since the
 * log may not be opened with the recipient's ids.
 */
static void solo_remove(const char *path, char *note, size_t size)
{
	note[0] = '\0';
	if (unlink(path) < 0 && errno != ENOENT)
		snprintf(note, size, " (cannot remove %s: %s)", path, strerror(errno));
}

/*
 * As the recipient, inside the write's switch: what sync_files and
 * do_commit_run do for a batch, for one file. The fsync needs no
 * permission; the rename, the unlink of a failed file and the sync of
 * new/ ran as the recipient in the batch too.
 */
void batch_commit_solo(int fd, const char *tmp_path, const char *new_path, struct lresult_text *res)
{
	size_t dirlen = (size_t)(strrchr(new_path, '/') - new_path);
	int e = fsync(fd) < 0 ? errno_or(EIO) : 0;
	char note[PATH_MAX + 64];

	if (close(fd) < 0 && e == 0)
		e = errno_or(EIO);
	if (e != 0) {
		solo_remove(tmp_path, note, sizeof(note));
		lres_set(res, LRESULT_DEFER, "4.2.0", "write %s: %s%s", tmp_path, strerror(e), note);
		return;
	}
	if (rename(tmp_path, new_path) < 0) {
		e = errno_or(EIO);
		solo_remove(tmp_path, note, sizeof(note));
		lres_set(res, LRESULT_DEFER, "4.2.0", "rename into %s: %s%s", new_path, strerror(e), note);
		return;
	}
	if ((e = sync_dir(new_path, dirlen)) != 0) {
		/* Not known to be on disk: not reported delivered, so not left in new/. */
		solo_remove(new_path, note, sizeof(note));
		lres_set(res, LRESULT_DEFER, "4.2.0", "cannot sync maildir %.*s: %s%s", (int)dirlen, new_path,
		    strerror(e), note);
	}
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
}

static void drop_replies(void)
{
	for (size_t i = 0; i < nheld; i++)
		buf_free(&held[i].res.text);
	free(held);
	held = NULL;
	nheld = 0;
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

		if (p->fd >= 0)
			close(p->fd);
		if (!p->failed && step_as(p, do_unlink, p->tmp, &err) < 0)
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
	npend = nopen = 0;
	drop_replies();
}
