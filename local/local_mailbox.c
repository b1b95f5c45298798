/*
 * local_mailbox.c - mailbox, Maildir and file deliveries of the local
 * delivery agent, each with the recipient's (or the file owner's)
 * privileges (switched to in local_as.c).
 *
 * Runs as root only for what needs it: a missing mbox in
 * mail_spool_directory is created (O_EXCL, then chown) and its dot-lock
 * taken before the switch to the recipient (any other mbox is locked as
 * its user). Writes to mailboxes, Maildirs
 * and files switch only the file-system and supplementary ids (write_as:
 * the kernel then checks every file access as the recipient; the real,
 * effective and saved uid stay 0, so the recipient can neither signal,
 * trace nor renice the process) and switch back afterwards: no fork per
 * delivery. Commands and .forward files run in a child that drops
 * every id for good (run_as). The write opens the mailbox
 * without following symbolic links, checks that it is a plain file with
 * one link owned by the recipient, takes the fcntl lock, appends
 * ("From " line, Return-Path:, Delivered-To:, ">From " quoting, an
 * empty line), fsyncs, and on any error truncates the file back to its
 * old size. Maildir: tmp/ and new/ must be directories, not symbolic
 * links; the message is written into tmp/ here; the sync,
 * the rename into new/ and the fsync of new/ are done for a whole batch
 * of requests at once (local_batch.c), or for a request alone right
 * after the write, in the same switch of ids (batch_commit_solo).
 * mailbox_size_limit bounds an mbox file and each Maildir message.
 * With biff = yes, a mailbox (mbox) delivery that is on disk is
 * announced to comsat (biff_notify).
 */
#include "compat.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <pthread.h>
#include <netinet/in.h>
#include <time.h>
#include <unistd.h>

#include "mail/config.h"
#include "mail/resolve.h"
#include "local/local.h"
#include "util/dotlock.h"
#include "util/log.h"
#include "util/mem.h"

/* --- what is written ---------------------------------------------------- */

bool local_delivered_header(const char *kind)
{
	for (char **w = cfg_list(P_prepend_delivered_header); w && *w; w++)
		if (strcmp(*w, kind) == 0)
			return true;
	return false;
}

void local_prepend(const struct lmsg *m, const struct lrcpt *rc, const char *kind, bool from_line,
    struct buf *out)
{
	if (from_line) {
		time_t t = time(NULL);
		struct tm tm;
		char when[64];

		localtime_r(&t, &tm);
		strftime(when, sizeof(when), "%a %b %e %H:%M:%S %Y", &tm);
		buf_printf(out, "From %s  %s\n", *m->sender ? m->sender : "MAILER-DAEMON", when);
	}
	buf_printf(out, "Return-Path: <%s>\n", m->sender);
	if (rc != NULL && rc->delivered_to[0] != '\0' && local_delivered_header(kind))
		buf_printf(out, "Delivered-To: %s\n", rc->delivered_to);
}

/* The message as it goes into an mbox: ">From " quoting and a final empty line. */
static void mbox_text(const struct lmsg *m, const struct lrcpt *rc, struct buf *out)
{
	const char *p = m->content, *end = m->content + m->content_len;

	local_prepend(m, rc, "file", true, out);
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		size_t len = eol ? (size_t)(eol - p) + 1 : (size_t)(end - p);

		if (len >= 5 && strncmp(p, "From ", 5) == 0)
			buf_addc(out, '>');
		buf_add(out, p, len);
		p += len;
	}
	if (out->len > 0 && out->data[out->len - 1] != '\n')
		buf_addc(out, '\n');
	buf_addc(out, '\n');
}

/* --- mbox ---------------------------------------------------------------- */

struct mbox_job {
	const struct lmsg *m;
	const struct lrcpt *rc;
	const char *path;
	const char *what;	/* "mailbox" or "file" */
	bool create;		/* may create the file (home mailbox, /file) */
	bool check_owner;	/* the file must belong to us */
	long long offset;	/* set when written: where the message starts */
};

static int fcntl_lock(int fd)
{
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
	long attempts = (long)cfg_int(P_deliver_lock_attempts);
	long delay = (long)cfg_int(P_deliver_lock_delay);

	for (long i = 0; i < (attempts > 0 ? attempts : 1); i++) {
		if (fcntl(fd, F_SETLK, &fl) == 0)
			return 0;
		if (errno != EAGAIN && errno != EACCES)
			return -1;
		sleep((unsigned)(delay > 0 ? delay : 1));
	}
	errno = EAGAIN;
	return -1;
}

static bool lock_method(const char *name)
{
	for (char **w = cfg_list(P_mailbox_delivery_lock); w && *w; w++)
		if (strcmp(*w, name) == 0)
			return true;
	return false;
}

static void mbox_append(void *arg, struct lresult_text *res)
{
	struct mbox_job *j = arg;
	struct buf text = BUF_INIT;
	long long limit = cfg_int(P_mailbox_size_limit);
	struct stat st;
	/*
	 * O_NONBLOCK: a FIFO (or a file under a lease) put where the mailbox
	 * or file should be must not hold this process, which serves the
	 * next messages too; it is refused below, and the flag dropped.
	 */
	int flags = O_WRONLY | O_APPEND | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC | O_NONBLOCK;
	int fd;

	fd = open(j->path, flags | (j->create ? O_CREAT : 0), 0600);
	if (fd < 0) {
		lres_set(res, errno == ELOOP ? LRESULT_BOUNCE : LRESULT_DEFER,
		    errno == ELOOP ? "5.2.0" : "4.2.0", "cannot open %s %s: %s", j->what, j->path,
		    strerror(errno));
		goto out;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1
	    || (j->check_owner && st.st_uid != local_fs_uid())) {
		lres_set(res, LRESULT_DEFER, "4.2.0", "%s %s is not a regular file owned by the recipient",
		    j->what, j->path);
		goto out;
	}
	/* F_SETFL changes only the status flags (O_APPEND stays): no F_GETFL first. */
	if (fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0) {
		lres_set(res, LRESULT_DEFER, "4.2.0", "%s %s: %s", j->what, j->path, strerror(errno));
		goto out;
	}
	if (lock_method("fcntl") && fcntl_lock(fd) < 0) {
		lres_set(res, LRESULT_DEFER, "4.2.0", "cannot lock %s %s: %s", j->what, j->path,
		    strerror(errno));
		goto out;
	}
	if (fstat(fd, &st) < 0) {
		lres_set(res, LRESULT_DEFER, "4.2.0", "stat %s: %s", j->path, strerror(errno));
		goto out;
	}
	mbox_text(j->m, j->rc, &text);
	if (limit > 0 && (long long)st.st_size + (long long)text.len > limit) {
		lres_set(res, LRESULT_BOUNCE, "5.2.2",
		    "cannot update %s %s: mailbox_size_limit (%lld bytes) exceeded", j->what, j->path,
		    limit);
		goto out;
	}
	{
		if (!local_write_all(fd, text.data, text.len) || fsync(fd) < 0) {
			int e = errno;
			/* Leave the mailbox as it was: no half message for the reader. */
			if (ftruncate(fd, st.st_size) < 0)
				msg_warn("cannot truncate %s back to %lld bytes: %m", j->path,
				    (long long)st.st_size);
			lres_set(res, e == EFBIG ? LRESULT_BOUNCE : LRESULT_DEFER, e == EFBIG ? "5.2.2" : "4.2.0",
			    "cannot update %s %s: %s", j->what, j->path, strerror(e ? e : EIO));
			goto out;
		}
	}
	j->offset = (long long)st.st_size;
	lres_set(res, LRESULT_SENT, "2.0.0", "delivered to %s", j->what);
out:
	if (fd >= 0)
		close(fd);
	buf_free(&text);
}

/* A dot-lock PATH.lock (lib/util/dotlock.h); 1 taken, 0 not wanted or impossible to create here, -1 busy. */
static int mbox_dotlock(const char *path, struct buf *lock)
{
	return dotlock_take(path, (long)cfg_int(P_deliver_lock_attempts), (long)cfg_int(P_deliver_lock_delay),
			    cfg_int(P_stale_lock_time), lock);
}

/* mbox_append under a dot-lock, if mailbox_delivery_lock asks for one. */
static void mbox_append_locked(void *arg, struct lresult_text *res)
{
	struct mbox_job *j = arg;
	struct buf lock = BUF_INIT;
	int locked = 0;

	if (lock_method("dotlock")) {
		locked = mbox_dotlock(j->path, &lock);
		if (locked < 0) {
			lres_set(res, LRESULT_DEFER, "4.2.0", "cannot lock %s %s: %s exists", j->what,
			    j->path, buf_str(&lock));
			buf_free(&lock);
			return;
		}
	}
	mbox_append(j, res);
	if (locked > 0)
		dotlock_release(&lock);
	buf_free(&lock);
}

/*
 * biff = yes: tell the comsat service on this host (UDP, the port of the biff
 * service in /etc/services, looked up by its alias comsat) that
 * USER's mailbox has a new message at OFFSET, in the "user@offset" form
 * comsat reads, as Postfix's local does. Sent after the message is on
 * disk and the mailbox unlocked; a lost datagram or a missing comsat
 * costs nothing, so no error here ever touches the delivery.
 */
static void biff_notify(const char *user, long long offset)
{
	static bool warned;
	struct servent *sp = getservbyname("comsat", "udp");
	struct sockaddr_in sin = {.sin_family = AF_INET};
	char text[300];
	int fd, n;

	if (sp == NULL) {
		if (!warned)
			msg_warn("biff: no biff/udp service in /etc/services: no notices sent");
		warned = true;
		return;
	}
	n = snprintf(text, sizeof(text), "%s@%lld", user, offset);
	if (n < 0 || (size_t)n >= sizeof(text))
		return;
	sin.sin_port = (in_port_t)sp->s_port;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		msg_warn("biff: socket: %m");
		return;
	}
	if (sendto(fd, text, (size_t)n + 1, MSG_DONTWAIT, (struct sockaddr *)&sin, sizeof(sin)) < 0)
		msg_warn("biff: sendto 127.0.0.1 port %d: %m", ntohs((in_port_t)sp->s_port));
	close(fd);
}

/*
 * The dot-lock of a mailbox in mail_spool_directory is taken as root
 * (the spool belongs to root); that of any other mbox as its user, like
 * the append itself: its directory is the user's, who could otherwise
 * point root at files elsewhere through a symbolic link.
 */
static void deliver_mbox(const struct lmsg *m, const struct lrcpt *rc, const char *path,
    const struct ident *id, bool in_spool, const char *what, struct lresult_text *res)
{
	struct mbox_job j = {.m = m, .rc = rc, .path = path, .what = what, .create = !in_spool,
			     .check_owner = cfg_bool(P_strict_mailbox_ownership)};
	struct buf lock = BUF_INIT;
	int locked = 0;

	if (!in_spool) {
		write_as(id, mbox_append_locked, &j, res);
		goto out;
	}
	if (local_is_root()) {
		/* Create a missing spool mailbox as root, then hand it to its user. */
		int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd >= 0) {
			if (fchown(fd, id->uid, id->gid) < 0)
				msg_warn("chown %s: %m", path);
			close(fd);
		}
	} else {
		j.create = true;
	}
	if (lock_method("dotlock")) {
		locked = mbox_dotlock(path, &lock);
		if (locked < 0) {
			lres_set(res, LRESULT_DEFER, "4.2.0", "cannot lock %s %s: %s exists", what, path,
			    buf_str(&lock));
			goto out;
		}
	}
	write_as(id, mbox_append, &j, res);
	if (locked > 0)
		dotlock_release(&lock);
out:
	if (res->result == LRESULT_SENT && cfg_bool(P_biff))
		biff_notify(id->user, j.offset);
	buf_free(&lock);
}

/* --- Maildir ------------------------------------------------------------- */

struct maildir_job {
	const struct lmsg *m;
	const struct lrcpt *rc;
	const char *dir;	/* ends in '/' or not */
	bool make_parent;	/* create the directory above (local_maildir_base) */
	bool solo;		/* commit it here (batch_take_solo), not in the batch */
	/* Set by maildir_prepare when the file is written and left to the batch: */
	int fd;
	struct buf tmp, new;	/* its name in tmp/ and the one it gets in new/ */
};

static int mkdir_ok(const char *path)
{
	return mkdir(path, 0700) == 0 || errno == EEXIST ? 0 : -1;
}

/*
 * A directory that is not a symbolic link (st from lstat, lstat_errno its
 * errno or 0); else a deferral that says so.
 */
static bool plain_dir(const char *path, const struct stat *st, int lstat_errno,
    struct lresult_text *res)
{
	if (lstat_errno != 0) {
		lres_set(res, LRESULT_DEFER, "4.2.0", "cannot deliver to maildir: %s: %s", path,
		    strerror(lstat_errno));
		return false;
	}
	if (!S_ISDIR(st->st_mode)) {
		lres_set(res, LRESULT_DEFER, "4.2.0", "cannot deliver to maildir: %s: not a directory%s",
		    path, S_ISLNK(st->st_mode) ? " (a symbolic link)" : "");
		return false;
	}
	return true;
}

static int lstat_errno(const char *path, struct stat *st)
{
	return lstat(path, st) < 0 ? errno : 0;
}

/*
 * This process's pid for Maildir names, asked of the kernel once (a
 * system call per delivery otherwise); a forked child (run_as) forgets
 * it, so that its names never repeat its parent's.
 */
static pid_t cached_pid;

static void forget_pid(void)
{
	cached_pid = 0;
}

static pid_t maildir_pid(void)
{
	static bool registered;

	if (!registered) {
		pthread_atfork(NULL, NULL, forget_pid);
		registered = true;
	}
	if (cached_pid == 0)
		cached_pid = getpid();
	return cached_pid;
}

/*
 * As the recipient: create the Maildir if needed and write the message
 * into tmp/, not yet synced. The descriptor stays open in j->fd; the
 * batch (local_batch.c) syncs the file, renames it into new/ and syncs
 * new/, so a file appears in new/ only once it is complete on disk. A
 * request alone (j->solo) has the same done here, in this switch.
 */
static void maildir_prepare(void *arg, struct lresult_text *res)
{
	struct maildir_job *j = arg;
	struct buf base = BUF_INIT, text = BUF_INIT, host = BUF_INIT;
	static unsigned counter;
	long long limit = cfg_int(P_mailbox_size_limit);
	struct timeval tv;
	int fd = -1;

	buf_adds(&base, j->dir);
	while (base.len > 1 && base.data[base.len - 1] == '/')
		buf_truncate(&base, base.len - 1);
	buf_printf(&j->tmp, "%s/tmp", buf_str(&base));
	buf_printf(&j->new, "%s/new", buf_str(&base));
	/*
	 * The Maildir is made only when tmp/ or new/ is missing: an existing
	 * one costs two lstat() calls per delivery, not five mkdir() calls
	 * that fail with EEXIST besides.
	 */
	struct stat tmp_st, new_st;
	int tmp_e = lstat_errno(buf_str(&j->tmp), &tmp_st);
	int new_e = tmp_e == 0 ? lstat_errno(buf_str(&j->new), &new_st) : ENOENT;
	if (tmp_e == ENOENT || new_e == ENOENT) {
		if (j->make_parent) {
			char *slash = strrchr(base.data, '/');
			if (slash != NULL && slash != base.data) {
				*slash = '\0';
				mkdir_ok(base.data);
				*slash = '/';
			}
		}
		if (mkdir_ok(buf_str(&base)) < 0 || mkdir_ok(buf_str(&j->tmp)) < 0
		    || mkdir_ok(buf_str(&j->new)) < 0) {
			lres_set(res, LRESULT_DEFER, "4.2.0", "cannot create maildir %s: %s",
			    buf_str(&base), strerror(errno));
			goto out;
		}
		buf_printf(&text, "%s/cur", buf_str(&base));
		mkdir_ok(buf_str(&text));
		buf_reset(&text);
		tmp_e = lstat_errno(buf_str(&j->tmp), &tmp_st);
		new_e = lstat_errno(buf_str(&j->new), &new_st);
	}
	/*
	 * tmp/ and new/ must be directories of their own, not symbolic links
	 * into someone else's Maildir (or anywhere else): such a Maildir is
	 * refused, not written through. The write runs as the recipient, so a
	 * link swapped in after this check gains them nothing they could not
	 * do themselves; the check is there so Tern never follows one it sees.
	 */
	if (!plain_dir(buf_str(&j->tmp), &tmp_st, tmp_e, res)
	    || !plain_dir(buf_str(&j->new), &new_st, new_e, res))
		goto out;
	/* Unique name: time, microseconds, pid, counter, host ('/' and ':' escaped). */
	for (const char *h = cfg_str(P_myhostname); *h; h++) {
		if (*h == '/')
			buf_adds(&host, "\\057");
		else if (*h == ':')
			buf_adds(&host, "\\072");
		else
			buf_addc(&host, *h);
	}
	gettimeofday(&tv, NULL);
	buf_printf(&j->tmp, "/%ld.M%ldP%ldQ%u.%s", (long)tv.tv_sec, (long)tv.tv_usec, (long)maildir_pid(),
	    ++counter, buf_str(&host));
	buf_printf(&j->new, "%s", strrchr(buf_str(&j->tmp), '/'));
	/* The added header lines, then the content from where it is: no copy of it here. */
	local_prepend(j->m, j->rc, "file", false, &text);
	if (limit > 0 && (long long)text.len + (long long)j->m->content_len > limit) {
		lres_set(res, LRESULT_BOUNCE, "5.2.2",
		    "cannot deliver to maildir %s: mailbox_size_limit (%lld bytes) exceeded",
		    buf_str(&base), limit);
		goto out;
	}
	fd = open(buf_str(&j->tmp), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		lres_set(res, LRESULT_DEFER, "4.2.0", "create %s: %s", buf_str(&j->tmp), strerror(errno));
		goto out;
	}
	{
		int e = 0;

		if (!local_write2(fd, text.data, text.len, j->m->content, j->m->content_len)) {
			int err = errno;	/* read once: each read of errno may differ */
			e = err != 0 ? err : EIO;
		}
		if (e != 0) {
			close(fd);
			fd = -1;
			unlink(buf_str(&j->tmp));
			lres_set(res, e == EFBIG ? LRESULT_BOUNCE : LRESULT_DEFER, e == EFBIG ? "5.2.2" : "4.2.0",
			    "write %s: %s", buf_str(&j->tmp), strerror(e));
			goto out;
		}
	}
	/* Until the batch is committed: it may still turn into a deferral. */
	lres_set(res, LRESULT_SENT, "2.0.0", "delivered to maildir");
	if (j->solo) {
		batch_commit_solo(fd, buf_str(&j->tmp), buf_str(&j->new), res);
	} else {
		j->fd = fd;
	}
	fd = -1;
out:
	if (fd >= 0)
		close(fd);
	buf_free(&base);
	buf_free(&text);
	buf_free(&host);
}

/* Write the message into dir as id and leave it to the batch. */
static void deliver_maildir(const struct lmsg *m, const struct lrcpt *rc, const char *dir,
    bool make_parent, const struct ident *id, struct lresult_text *res)
{
	struct maildir_job j = {.m = m, .rc = rc, .dir = dir, .make_parent = make_parent, .fd = -1,
				.tmp = BUF_INIT, .new = BUF_INIT};

	j.solo = batch_take_solo();
	write_as(id, maildir_prepare, &j, res);
	if (j.fd >= 0)
		batch_add_file(id, j.fd, buf_str(&j.tmp), buf_str(&j.new));
	buf_free(&j.tmp);
	buf_free(&j.new);
}

/* --- the three entry points ------------------------------------------------ */

void deliver_mailbox(const struct lmsg *m, const struct lrcpt *rc, const char *user,
    struct lresult_text *res)
{
	const char *base = cfg_str(P_local_maildir_base);
	struct ident id;
	struct buf path = BUF_INIT;

	if (*base != '\0') {
		/* smtpd refuses these at RCPT with the same test (resolve.h). */
		if (!resolve_mailbox_name_ok(user)) {
			lres_set(res, LRESULT_BOUNCE, "5.1.3", "bad local part: \"%s\"", user);
			return;
		}
		ident_self(&id);
		buf_printf(&path, "%s/%s/", base, user);
		deliver_maildir(m, rc, buf_str(&path), true, &id, res);
	} else if (ident_of_user(user, &id) < 0) {
		lres_set(res, LRESULT_BOUNCE, "5.1.1", "unknown user: \"%s\"", user);
	} else if (*cfg_str(P_mailbox_command) != '\0') {
		/*
		 * mailbox_command writes the mailbox instead, as the recipient
		 * with the recipient's HOME, USER, SHELL, EXTENSION, ... in its
		 * environment. The text is the administrator's and is not
		 * expanded here: "$EXTENSION" is the shell's, from the
		 * environment, so no envelope text ever reaches a command line.
		 * Root's mail runs it with default_privs, as Postfix does.
		 */
		if (id.uid == 0) {
			struct ident np;
			ident_default_privs(&np);
			id.uid = np.uid;
			id.gid = np.gid;
		}
		deliver_pipe(m, rc, cfg_str(P_mailbox_command), &id, res);
	} else {
		const char *home_mailbox = cfg_str(P_home_mailbox);
		const char *spool = cfg_str(P_mail_spool_directory);
		size_t hl = strlen(home_mailbox), sl = strlen(spool);

		if (hl > 0) {
			buf_printf(&path, "%s/%s", id.home, home_mailbox);
			if (home_mailbox[hl - 1] == '/')
				deliver_maildir(m, rc, buf_str(&path), false, &id, res);
			else
				deliver_mbox(m, rc, buf_str(&path), &id, false, "mailbox", res);
		} else if (sl > 0 && spool[sl - 1] == '/') {
			buf_printf(&path, "%s%s/", spool, id.user);
			deliver_maildir(m, rc, buf_str(&path), false, &id, res);
		} else {
			buf_printf(&path, "%s/%s", spool, id.user);
			deliver_mbox(m, rc, buf_str(&path), &id, true, "mailbox", res);
		}
	}
	buf_free(&path);
}

void deliver_file(const struct lmsg *m, const struct lrcpt *rc, const char *path,
    const struct ident *id, struct lresult_text *res)
{
	size_t n = strlen(path);

	if (n > 0 && path[n - 1] == '/') {
		deliver_maildir(m, rc, path, false, id, res);
	} else {
		struct mbox_job j = {.m = m, .rc = rc, .path = path, .what = "file", .create = true};
		write_as(id, mbox_append, &j, res);
	}
	if (res->result == LRESULT_SENT)
		lres_set(res, LRESULT_SENT, "2.0.0", "delivered to file: %s", path);
}
