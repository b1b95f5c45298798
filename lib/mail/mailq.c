/*
 * mailq.c - read the queue for a listing, and keep defer/ID files.
 *
 * Mail layer. Runs with the caller's privileges: ternqueue and
 * sendmail -bp as root or mail_owner (who can read the queue, maildrop/
 * included, even while Tern is stopped), the
 * queue manager as mail_owner (which writes defer/). Files that vanish
 * or do not parse while the queue is being listed are skipped: the
 * listing is a snapshot, as Postfix's is. A file the file system cannot
 * give back (EIO: a failing disk) is listed all the same, "(unreadable)"
 * for its sender and its one recipient, with the error for the reason,
 * its id's second for its arrival: it is still queued (qmgr defers it),
 * and a count of the queue must count it (Postfix's showq skips it).
 */
#include "compat.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "mail/login_sender.h"
#include "mail/mailq.h"
#include "mail/qfile.h"
#include "util/mem.h"

/*
 * maildrop/ first: mail submitted but not yet picked up (Tern stopped,
 * or pickup behind) is shown too, as Postfix's showq does.
 */
static const char *const queues[] = {"maildrop", "incoming", "active", "deferred", "hold", NULL};

static void list_unreadable(const char *qname, const char *id, const char *path, struct mailq_list *l)
{
	const char *why = strerror(errno);
	struct buf reason = BUF_INIT;
	struct stat st;
	time_t made;
	long long when = qfile_id_time(id, &made) ? (long long)made : 0, size = 0;

	if (stat(path, &st) == 0) {
		size = (long long)st.st_size;
		if (when == 0)
			when = (long long)st.st_mtime;
	}
	buf_printf(&reason, "queue file unreadable: %s", why);
	mailq_add_rcpt(mailq_add(l, qname, id, when, size, "(unreadable)"), "(unreadable)", buf_str(&reason));
	buf_free(&reason);
}

static void scan_one(const char *queue_dir, const char *qname, const char *id,
    struct mailq_list *l)
{
	struct buf path = BUF_INIT, err = BUF_INIT;
	struct qfile *q = NULL;
	struct deferlog d;

	buf_printf(&path, "%s/%s/%s", queue_dir, qname, id);
	deferlog_init(&d);
	int opened = qfile_open(buf_str(&path), false, &q, &err);
	if (opened == QF_IOERR && qfile_errno_unreadable(errno))
		list_unreadable(qname, id, buf_str(&path), l);
	if (opened == QF_OK) {
		const char *sender = qfile_sender(q), *given = qfile_attr(q, "sender_given");
		char login[256];
		struct stat st;

		/*
		 * A maildrop file without -f: its sender is the owner's login, as
		 * pickup makes it (the owner of the file read, and "#UID" when the
		 * look-up fails). Its empty sender is not the null sender.
		 */
		if (strcmp(qname, "maildrop") == 0 && (given == NULL || strcmp(given, "yes") != 0)) {
			if (fstat(qfile_fd(q), &st) == 0) {
				(void)login_of_uid(st.st_uid, login, sizeof(login), NULL);
				sender = login;
			} else {
				sender = "#unknown";
			}
		}
		struct mailq_entry *e = mailq_add(l, qname, id, (long long)qfile_arrival(q).tv_sec,
		    (long long)qfile_content_size(q), sender);
		const char *fx = qfile_attr(q, "forced_expire");

		e->forced_expire = fx != NULL && strcmp(fx, "yes") == 0;
		deferlog_read(queue_dir, id, &d);
		for (size_t i = 0; i < qfile_rcpt_count(q); i++) {
			const struct qfile_rcpt *r = qfile_rcpt(q, i);
			if (r->status == QF_RCPT_PENDING)
				mailq_add_rcpt(e, r->address, deferlog_reason(&d, r->address));
		}
		qfile_close(q);
	}
	deferlog_free(&d);
	buf_free(&path);
	buf_free(&err);
}

static int by_arrival(const void *a, const void *b)
{
	const struct mailq_entry *x = a, *y = b;

	if (x->arrival != y->arrival)
		return x->arrival < y->arrival ? -1 : 1;
	return strcmp(x->queue_id, y->queue_id);
}

static int by_id(const void *a, const void *b)
{
	const struct mailq_entry *x = a, *y = b;

	return strcmp(x->queue_id, y->queue_id);
}

/* Where a queue comes in the reading order (queues[]); -1 for none. */
static int queue_rank(const char *name)
{
	for (int i = 0; queues[i] != NULL; i++)
		if (strcmp(queues[i], name) == 0)
			return i;
	return -1;
}

/*
 * Of two sightings of one message the one read last is kept: the file
 * was there later (active/ then deferred/ when an attempt ended during
 * the listing), so that is the message's state now.
 */
static int by_id_latest_first(const void *a, const void *b)
{
	const struct mailq_entry *x = a, *y = b;
	int c = strcmp(x->queue_id, y->queue_id);

	return c != 0 ? c : queue_rank(y->queue_name) - queue_rank(x->queue_name);
}

/* Sort by queue id and keep one entry per id, the one read last. */
static void drop_repeats(struct mailq_list *l)
{
	size_t kept = 0;

	if (l->count > 1)
		qsort(l->e, l->count, sizeof(*l->e), by_id_latest_first);
	for (size_t i = 0; i < l->count; i++) {
		if (kept > 0 && strcmp(l->e[kept - 1].queue_id, l->e[i].queue_id) == 0) {
			mailq_entry_free(&l->e[i]);
			continue;
		}
		l->e[kept++] = l->e[i];
	}
	l->count = kept;
}

/*
 * List one queue directory into l, skipping the ids among the first
 * nseen entries (sorted by id). 1 read, 0 missing (an empty queue), -1
 * unreadable with a reason.
 */
static int scan_queue(const char *queue_dir, const char *qname, struct mailq_list *l,
    size_t nseen, struct buf *err)
{
	struct buf dir = BUF_INIT;
	struct dirent *de;
	DIR *dp;

	buf_printf(&dir, "%s/%s", queue_dir, qname);
	dp = opendir(buf_str(&dir));
	if (dp == NULL) {
		int e = errno;

		/*
		 * A missing directory is an empty queue. maildrop/ (mode
		 * 1730) is listable by root and mail_owner only: should
		 * its owner be wrong, the rest of the listing still counts.
		 */
		buf_free(&dir);
		if (e == ENOENT || (e == EACCES && strcmp(qname, "maildrop") == 0))
			return 0;
		buf_printf(err, "%s/%s: %s", queue_dir, qname, strerror(e));
		return -1;
	}
	while ((de = readdir(dp)) != NULL) {
		struct mailq_entry key = {.queue_id = de->d_name};

		if (de->d_name[0] == '.' || !qfile_id_valid(de->d_name))
			continue;
		if (nseen > 0 && bsearch(&key, l->e, nseen, sizeof(*l->e), by_id) != NULL)
			continue;
		scan_one(queue_dir, qname, de->d_name, l);
	}
	closedir(dp);
	buf_free(&dir);
	return 1;
}

/*
 * A message moves while the queue is listed: from deferred/ to active/
 * when its retry comes, back when the attempt ends, to and from hold/.
 * Read once, directory after directory, a message that moves against
 * the reading order between two readdirs is in neither listing (deferred/
 * to active/) and one that moves with it is in both (active/ to
 * deferred/). So every id is listed once, and active/ and deferred/ are
 * read a second time for messages the first reading missed: one that
 * moves once while the queue is listed is listed once. (One that moves
 * twice within those few readdirs may still be missed: the listing is a
 * snapshot, as Postfix's is.)
 */
int mailq_scan(const char *queue_dir, struct mailq_list *l, struct buf *err)
{
	static const char *const again[] = {"active", "deferred", NULL};
	int opened = 0;

	for (const char *const *qn = queues; *qn; qn++) {
		int rc = scan_queue(queue_dir, *qn, l, 0, err);

		if (rc < 0)
			return -1;
		opened += rc;
	}
	if (opened == 0) {
		buf_printf(err, "%s: no queue directories", queue_dir);
		return -1;
	}
	drop_repeats(l);
	size_t seen = l->count;
	for (const char *const *qn = again; *qn; qn++)
		if (scan_queue(queue_dir, *qn, l, seen, err) < 0)
			return -1;
	if (l->count > seen)
		drop_repeats(l);
	if (l->count > 1)
		qsort(l->e, l->count, sizeof(*l->e), by_arrival);
	return 0;
}

int deferlog_read(const char *queue_dir, const char *id, struct deferlog *d)
{
	struct buf path = BUF_INIT, text = BUF_INIT;
	char chunk[4096];
	ssize_t n;
	int fd;

	buf_printf(&path, "%s/defer/%s", queue_dir, id);
	fd = open(buf_str(&path), O_RDONLY | O_CLOEXEC);
	buf_free(&path);
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	while ((n = read(fd, chunk, sizeof(chunk))) > 0 && text.len < 1024 * 1024)
		buf_add(&text, chunk, (size_t)n);
	close(fd);
	if (n < 0) {	/* part of it at most: none of it, as for one not opened */
		buf_free(&text);
		return -1;
	}
	deferlog_parse(buf_str(&text), d);
	buf_free(&text);
	return 1;
}

int deferlog_write(const char *queue_dir, const char *id, const struct deferlog *d)
{
	struct buf path = BUF_INIT, tmp = BUF_INIT, text = BUF_INIT;
	int fd, ret = -1;

	buf_printf(&path, "%s/defer/%s", queue_dir, id);
	buf_printf(&tmp, "%s/defer/.%s.%ld", queue_dir, id, (long)getpid());
	deferlog_format(d, &text);
	fd = open(buf_str(&tmp), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd >= 0) {
		ssize_t n = write(fd, text.data ? text.data : "", text.len);
		if (close(fd) == 0 && n == (ssize_t)text.len
		    && rename(buf_str(&tmp), buf_str(&path)) == 0)
			ret = 0;
		else
			unlink(buf_str(&tmp));
	}
	buf_free(&path);
	buf_free(&tmp);
	buf_free(&text);
	return ret;
}

void deferlog_remove(const char *queue_dir, const char *id)
{
	struct buf path = BUF_INIT;

	buf_printf(&path, "%s/defer/%s", queue_dir, id);
	unlink(buf_str(&path));
	buf_free(&path);
}

/* Ask qmgr for the listing over public/qmgr. */
static int listing_from_qmgr(const char *queue_dir, enum mailq_style style, struct buf *out,
    struct buf *err)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct timeval tv = {.tv_sec = 60};
	struct buf req = BUF_INIT;
	char chunk[8192];
	ssize_t n;
	int fd, len;

	len = snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/public/qmgr", queue_dir);
	if (len < 0 || (size_t)len >= sizeof(sun.sun_path)) {
		buf_printf(err, "%s/public/qmgr: path too long", queue_dir);
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		/*
		 * Stopped: the queue and maildrop/ hold other users' mail and
		 * are not readable by this user; root and mail_owner read them
		 * directly, so they can list while Tern is stopped.
		 */
		if (errno == EACCES)	/* running, but public/ is for setgid_group */
			buf_printf(err, "Queue report unavailable - %s: permission denied; only root, "
			    "mail_owner and members of setgid_group can list the queue", sun.sun_path);
		else
			buf_printf(err, "Queue report unavailable - mail system is down; while it is "
			    "stopped only root and mail_owner can list the queue (%s: %s)",
			    sun.sun_path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	buf_printf(&req, "list %s\n", mailq_style_name(style));
	if (write(fd, req.data, req.len) != (ssize_t)req.len) {
		buf_printf(err, "write %s: %s", sun.sun_path, strerror(errno));
		close(fd);
		buf_free(&req);
		return -1;
	}
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		buf_add(out, chunk, (size_t)n);
	close(fd);
	buf_free(&req);
	if (n < 0) {
		buf_printf(err, "read %s: %s", sun.sun_path, strerror(errno));
		return -1;
	}
	return 0;
}

/* queues[] without maildrop/, which names its files otherwise. */
const char *const *const mailq_id_queues = queues + 1;

/*
 * Asked twice over: a message that moves once while it is looked for
 * (deferred/ to active/ when its retry starts, after active/ was asked)
 * is found on the second round.
 */
int mailq_find(const char *queue_dir, const char *id, const char **qname)
{
	struct buf path = BUF_INIT;
	int ret = -1;

	for (int round = 0; round < 2 && ret < 0; round++)
		for (const char *const *q = mailq_id_queues; *q && ret < 0; q++) {
			buf_reset(&path);
			buf_printf(&path, "%s/%s/%s", queue_dir, *q, id);
			/* An error other than ENOENT cannot tell it is not there. */
			if (access(buf_str(&path), F_OK) == 0 || errno != ENOENT) {
				*qname = *q;
				ret = 0;
			}
		}
	buf_free(&path);
	return ret;
}

int mailq_listing(const char *queue_dir, enum mailq_style style, struct buf *out, struct buf *err)
{
	struct mailq_list l;
	struct buf dir = BUF_INIT;
	int ret;

	struct stat st;

	/* Queue files belong to mail_owner: only root and mail_owner read them. */
	buf_printf(&dir, "%s/deferred", queue_dir);
	if (stat(buf_str(&dir), &st) < 0 || (geteuid() != 0 && geteuid() != st.st_uid)) {
		buf_free(&dir);
		return listing_from_qmgr(queue_dir, style, out, err);
	}
	buf_free(&dir);
	mailq_list_init(&l);
	ret = mailq_scan(queue_dir, &l, err);
	if (ret == 0)
		mailq_format(style, queue_dir, &l, out);
	mailq_list_free(&l);
	return ret;
}
