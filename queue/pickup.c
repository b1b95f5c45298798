/*
 * pickup - move mail from maildrop/ into the queue
 *
 * SYNOPSIS
 *	pickup [-c config_dir] [-o name=value] [-v]   (run by ternd)
 *
 * DESCRIPTION
 *	pickup reads the files terndrop(8) and sendmail(8) write into
 *	queue_directory/maildrop, checks each one again (nothing in them is
 *	trusted: the format, every address and attribute are validated, and
 *	the submitter is the owner of the file read, not what the file
 *	says), and feeds it through cleanup, which writes the queue file
 *	into incoming/. The maildrop file is removed only after
 *	cleanup_finish() succeeded. A file that does not parse is moved to
 *	corrupt/ with a log line naming its owner's uid (and the sender once
 *	known); one that cleanup refuses for good (too big, no recipients)
 *	goes back to its sender as a bounce (to corrupt/ if even that
 *	fails); a temporary failure, such as a failed look-up of the owner's
 *	login (an NSS source down), leaves it for the next scan.
 *
 *	Only files of mode 0644 are read. A file of mode 0200 is one a
 *	sendmail is still writing under its final name (or one it emptied
 *	after a failure, or left half written when it was killed): it is
 *	skipped, and removed with a log line once it is empty and over a
 *	minute old, or not written for a day. Any other mode: corrupt/.
 *
 *	It scans at start (mail submitted while Tern was stopped), whenever
 *	a connection on queue_directory/public/pickup (terndrop's wake-up)
 *	says so, and every few seconds in any case.
 *
 *	An envelope sender set with -f by a user who is not trusted (root,
 *	daemon, uucp and trusted_users are) gets an X-Authentication-Warning:
 *	header, as sendmail adds; local_login_sender_maps is checked again.
 *
 * SECURITY
 *	Runs as mail_owner (the daemon skeleton drops privileges). Reads
 *	files written by terndrop on behalf of any local user.
 *
 * CONFIGURATION PARAMETERS
 *	queue_directory, trusted_users, local_login_sender_maps, myhostname,
 *	myorigin, and those of cleanup.
 */
#include "compat.h"

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "mail/bounce.h"
#include "mail/cleanup.h"
#include "mail/config.h"
#include "mail/droprec.h"
#include "mail/header.h"
#include "mail/login_sender.h"
#include "mail/qcorrupt.h"
#include "mail/qfile.h"
#include "mail/qrecycle.h"
#include "queue/pickup_milter.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/mem.h"

#if __has_include("mail/daemon.h")
#include "mail/daemon.h"
#define HAVE_DAEMON_SKELETON 1
#endif

#define SCAN_INTERVAL_MS 5000
#define STALE_TEMP_SECONDS (24 * 3600)	/* no submission takes a day */
#define STALE_EMPTY_SECONDS 60		/* a failed one-process sendmail's emptied file */
#define MAILDROP_MODE 0644		/* a complete maildrop file */
#define WRITING_MODE 0200		/* a one-process sendmail still writing (or dead) */

static const char *queue_dir;

/* Trusted users may set any sender without a warning (sendmail's class t). */
static bool trusted(uid_t uid, const char *login)
{
	if (uid == 0 || strcmp(login, "root") == 0 || strcmp(login, "daemon") == 0 ||
	    strcmp(login, "uucp") == 0)
		return true;
	for (char **t = cfg_list(P_trusted_users); t && *t; t++)
		if (strcmp(*t, login) == 0)
			return true;
	return false;
}

/* The sender is the user's own address (login, or login@myorigin). */
static bool own_address(const char *sender, const char *login)
{
	struct buf q = BUF_INIT;
	buf_printf(&q, "%s@%s", login, cfg_str(P_myorigin));
	bool own = strcasecmp(sender, login) == 0 || strcasecmp(sender, buf_str(&q)) == 0;
	buf_free(&q);
	return own;
}

/*
 * Set a maildrop file aside. Its submitter (the owner) and, once known,
 * its sender are logged: the writer logs nothing for a queued message,
 * so this line is the only record of who submitted what went here.
 */
static void to_corrupt(const char *path, const char *name, uid_t uid, const char *sender,
		       const char *why)
{
	struct buf dir = BUF_INIT, err = BUF_INIT;
	buf_printf(&dir, "%s/corrupt", queue_dir);
	if (sender != NULL)
		msg_warn("%s: uid=%ld from=<%s>: moved to corrupt/: %s", name, (long)uid, sender, why);
	else
		msg_warn("%s: uid=%ld: moved to corrupt/: %s", name, (long)uid, why);
	bounce_error_notice("software", name, why);
	if (qfile_move(path, buf_str(&dir), &err) != 0) {
		msg_error("%s: %s; removing it", name, buf_str(&err));
		unlink(path);
	}
	qcorrupt_trim(buf_str(&dir), cfg_int(P_corrupt_queue_limit));
	buf_free(&dir);
	buf_free(&err);
}

/*
 * cleanup refused the message for good (too big, no recipients, ...):
 * return it to the sender with the reason. 0 when the notice is queued
 * (or intentionally dropped, e.g. for the null sender), -1 if not.
 */
static int bounce_refused(struct qfile *q, const char *sender, const char *reason,
			  const struct pickup_milter_refused *only)
{
	struct buf text = BUF_INIT, err = BUF_INIT;
	char chunk[65536];
	ssize_t n;
	qfile_rewind(q);
	while ((n = qfile_read(q, chunk, sizeof(chunk))) > 0)
		buf_add(&text, chunk, (size_t)n);
	size_t nr = only ? only->n : qfile_rcpt_count(q);
	struct bounce_rcpt *rcpts = xcalloc(nr ? nr : 1, sizeof(*rcpts));
	for (size_t i = 0; i < nr && only != NULL; i++) {
		/* Recipients a milter refused: each with the milter's reply. */
		rcpts[i].address = only->v[i].addr;
		rcpts[i].status = "5.7.1";
		rcpts[i].diag = only->v[i].reply;
	}
	for (size_t i = 0; i < nr && only == NULL; i++) {
		rcpts[i].address = qfile_rcpt(q, i)->address;
		rcpts[i].orcpt = *qfile_rcpt(q, i)->orcpt ? qfile_rcpt(q, i)->orcpt : NULL;
		rcpts[i].status = "5.0.0";
		rcpts[i].diag = reason;
	}
	if (nr == 0) {
		rcpts[0].address = "undisclosed-recipients";
		rcpts[0].status = "5.1.3";
		rcpts[0].diag = reason;
		nr = 1;
	}
	const char *ret = qfile_attr(q, "dsn_ret");
	/* A message refused for its size comes back as headers only, or it would be refused again. */
	unsigned long long limit = (unsigned long long)cfg_int(P_message_size_limit);
	bool full = (ret == NULL || strcmp(ret, "HDRS") != 0) && (limit == 0 || text.len < limit / 2);
	if (!full) {
		/* Only the header block, however the body starts. */
		struct headers hs;
		enum header_end how;
		headers_init(&hs);
		size_t hlen = headers_parse(text.data ? text.data : "", text.len, &hs, &how);
		headers_free(&hs);
		buf_truncate(&text, hlen);
		if (how != HEADER_END_BLANK)
			buf_addc(&text, '\n');
	}
	struct bounce_msg m = {
		.kind = BOUNCE_FAILED,
		.queue_id = qfile_id(q),
		.sender = sender,
		.envid = qfile_attr(q, "dsn_envid"),
		.arrival = qfile_arrival(q).tv_sec,
		.ret_full = full,
		.message = text.data ? text.data : "",
		.message_len = text.len,
		.size_limit = (size_t)cfg_int(P_bounce_size_limit),
		.rcpts = rcpts,
		.nrcpt = nr,
	};
	/* An unqualified sender is the local user's address. */
	struct buf to = BUF_INIT;
	if (*m.sender != '\0' && strchr(m.sender, '@') == NULL) {
		buf_printf(&to, "%s@%s", m.sender, cfg_str(P_myorigin));
		m.to = buf_str(&to);
	}
	char id[QF_ID_MAX];
	int rc = bounce_send(&m, id, sizeof(id), &err);
	if (rc == 0)
		msg_info("%s: sender non-delivery notification: %s", qfile_id(q), id);
	else if (rc < 0)
		msg_warn("%s: cannot return the message to its sender: %s", qfile_id(q), buf_str(&err));
	free(rcpts);
	buf_free(&text);
	buf_free(&err);
	buf_free(&to);
	return rc < 0 ? -1 : 0;
}

/* 0 done (queued or moved aside), -1 try again later. */
static int pickup_file(const char *name)
{
	struct buf path = BUF_INIT, err = BUF_INIT, gecos_name = BUF_INIT;
	struct qfile *q = NULL;
	struct stat st;
	int rc = 0;

	buf_printf(&path, "%s/maildrop/%s", queue_dir, name);
	if (lstat(buf_str(&path), &st) != 0)
		goto out;		/* gone already */
	if (!S_ISREG(st.st_mode)) {
		to_corrupt(buf_str(&path), name, st.st_uid, NULL, "not a regular file");
		goto out;
	}
	/*
	 * Mode 0200: a one-process sendmail is writing it under its final
	 * name (it makes it 0644 after the last record), or it failed and
	 * emptied it, or it was killed half way. Nothing in it is ever
	 * read. Empty and a minute old, or not written for a day: removed.
	 */
	if ((st.st_mode & 07777) == WRITING_MODE) {
		time_t age = time(NULL) - st.st_mtime;
		if (st.st_size == 0 && age > STALE_EMPTY_SECONDS) {
			msg_info("%s: removing the empty file of a failed submission (uid %ld)", name,
				 (long)st.st_uid);
			unlink(buf_str(&path));
		} else if (st.st_size > 0 && age > STALE_TEMP_SECONDS) {
			msg_warn("%s: removing an unfinished submission not written for a day (uid %ld, "
				 "%lld bytes)", name, (long)st.st_uid, (long long)st.st_size);
			unlink(buf_str(&path));
		}
		goto out;
	}
	/* Any other mode is no writer's: the submitter changed it (it holds the descriptor). */
	if ((st.st_mode & 07777) != MAILDROP_MODE) {
		char why[64];
		snprintf(why, sizeof(why), "unexpected mode %04o", (unsigned)(st.st_mode & 07777));
		to_corrupt(buf_str(&path), name, st.st_uid, NULL, why);
		goto out;
	}
	int r = qfile_open(buf_str(&path), false, &q, &err);
	if (r == QF_IOERR) {
		msg_warn("%s: %s", name, buf_str(&err));
		rc = -1;
		goto out;
	}
	if (r != QF_OK) {	/* QF_CORRUPT; QF_STALE or QF_LINKS: maildrop/ never holds reused files */
		to_corrupt(buf_str(&path), name, st.st_uid, NULL, buf_str(&err));
		goto out;
	}
	/*
	 * The owner and mode of the file read, from its descriptor: what the
	 * lstat above saw may be another file's if the name was replaced.
	 * A mode changed since is the next scan's to judge.
	 */
	if (fstat(qfile_fd(q), &st) != 0) {
		msg_warn("%s: cannot fstat: %m", name);
		rc = -1;
		goto out;
	}
	if (!S_ISREG(st.st_mode) || (st.st_mode & 07777) != MAILDROP_MODE) {
		rc = -1;
		goto out;
	}

	/* Who submitted it: the owner of the file, which the kernel set. */
	const char *uidattr = qfile_attr(q, "uid");
	char uidtext[32];
	snprintf(uidtext, sizeof(uidtext), "%ld", (long)st.st_uid);
	if (uidattr == NULL || strcmp(uidattr, uidtext) != 0) {
		to_corrupt(buf_str(&path), name, st.st_uid, NULL, "uid attribute does not match the file owner");
		goto out;
	}
	/*
	 * A failed look-up (an LDAP or SSSD source down, or not up yet at
	 * boot) is a temporary failure: "#UID" would become the sender, the
	 * From: and the key of local_login_sender_maps. For an hour: a source
	 * that stays broken must not hold the mail for ever, so "#UID" then,
	 * as before failures were told from answers.
	 */
	char login[256];
	if (login_of_uid(st.st_uid, login, sizeof(login), &gecos_name) != 0) {
		time_t now = time(NULL);
		if (login_lookup_patience_over(st.st_ctime, now)) {
			msg_warn("%s: cannot look up the user of uid %ld (the file's owner), and the file "
				 "has waited %d minutes or more; taking %s as its login", name,
				 (long)st.st_uid, LOGIN_LOOKUP_PATIENCE / 60, login);
		} else {
			if (login_lookup_warn_due(st.st_uid, now))
				msg_warn("%s: cannot look up the user of uid %ld (the file's owner); "
					 "trying again later (warned once a minute)", name, (long)st.st_uid);
			rc = -1;
			goto out;
		}
	}

	/*
	 * Without -f the sender is the owner's login, whatever the file says
	 * (the writers leave it empty): a file cannot name a sender that
	 * escapes the checks below by claiming it was not given.
	 */
	const char *given = qfile_attr(q, "sender_given");
	bool sender_given = given && strcmp(given, "yes") == 0;
	const char *sender = sender_given ? qfile_sender(q) : login;
	/* The same tests as terndrop's (droprec.h): a file from terndrop passes them. */
	if (!droprec_sender_valid(sender)) {
		to_corrupt(buf_str(&path), name, st.st_uid, NULL, "malformed sender");
		goto out;
	}
	for (size_t i = 0; i < qfile_rcpt_count(q); i++)
		if (!droprec_rcpt_valid(qfile_rcpt(q, i)->address)) {
			to_corrupt(buf_str(&path), name, st.st_uid, sender, "malformed recipient");
			goto out;
		}
	/* local_login_sender_maps again: the file is not trusted. */
	if (sender_given && strcmp(sender, login) != 0) {
		int ok = login_sender_allowed(cfg_str(P_local_login_sender_maps), login, sender,
					      cfg_str(P_myorigin), &err);
		if (ok < 0) {
			msg_warn("%s: %s", name, buf_str(&err));
			rc = -1;
			goto out;
		}
		if (ok == 0) {
			to_corrupt(buf_str(&path), name, st.st_uid, sender,
				   "sender not allowed by local_login_sender_maps");
			goto out;
		}
	}
	const char *extract = qfile_attr(q, "extract");
	bool milters = pickup_milter_active();
	struct cleanup *c = cleanup_open(CLEANUP_LOCAL, (extract && strcmp(extract, "yes") == 0
							     ? CLEANUP_FLAG_EXTRACT : 0) |
					 (milters ? CLEANUP_FLAG_EDIT : 0));
	cleanup_sender(c, sender);
	for (size_t i = 0; i < qfile_rcpt_count(q); i++) {
		const struct qfile_rcpt *rc_ = qfile_rcpt(q, i);
		cleanup_recipient(c, rc_->address, rc_->notify, rc_->orcpt);
	}
	/* Only the attributes a caller may set, plus who they are. */
	for (size_t i = 0; i < qfile_attr_count(q); i++) {
		const char *an, *av;
		qfile_attr_get(q, i, &an, &av);
		if (droprec_attr_allowed(an) && strcmp(an, "extract") != 0)
			cleanup_attr(c, an, av);
	}
	/* The full name from the password entry when -F gave none. */
	if (qfile_attr(q, "full_name") == NULL && gecos_name.len > 0)
		cleanup_attr(c, "full_name", buf_str(&gecos_name));
	cleanup_attr(c, "uid", uidtext);
	cleanup_attr(c, "login", login);
	if (qfile_attr(q, "protocol") == NULL)
		cleanup_attr(c, "protocol", "local");

	if (sender_given && !trusted(st.st_uid, login) && !own_address(sender, login)) {
		struct buf warn = BUF_INIT;
		buf_printf(&warn, "%s: %s set sender to %s%s%s using -f", cfg_str(P_myhostname), login,
			   *sender ? "" : "<", *sender ? sender : "", *sender ? "" : ">");
		cleanup_first_header(c, "X-Authentication-Warning", buf_str(&warn));
		buf_free(&warn);
	}
	char chunk[65536];
	ssize_t n;
	while ((n = qfile_read(q, chunk, sizeof(chunk))) > 0)
		if (cleanup_write(c, chunk, (size_t)n) != 0)
			break;
	if (n < 0) {
		cleanup_abort(c);
		msg_warn("%s: read error: %m", name);
		rc = -1;
		goto out;
	}
	char id[QF_ID_MAX];
	struct buf reason = BUF_INIT;
	struct pickup_milter_refused refused = {0};
	if (milters) {
		/* A message that is all header: its header block ends here. */
		for (int i = 0; i < 2 && cleanup_in_headers(c); i++)
			cleanup_write(c, "\n", 1);
		switch (pickup_milter_run(c, name, login, &refused, &reason)) {
		case PICKUP_MILTER_OK:
			break;
		case PICKUP_MILTER_TEMPFAIL:
			cleanup_abort(c);
			msg_warn("%s: deferred by milter: %s", name, buf_str(&reason));
			rc = -1;
			goto milter_out;
		case PICKUP_MILTER_DISCARD:
			cleanup_abort(c);
			msg_info("%s: uid=%s from=<%s>: discarded by milter", name, uidtext, sender);
			unlink(buf_str(&path));
			goto milter_out;
		case PICKUP_MILTER_REJECT:
			cleanup_abort(c);
			msg_info("%s: uid=%s from=<%s>: rejected by milter: %s", name, uidtext, sender,
				 buf_str(&reason));
			if (bounce_refused(q, sender, buf_str(&reason), NULL) == 0)
				unlink(buf_str(&path));
			else
				rc = -1;
			goto milter_out;
		}
	}
	/*
	 * Postfix's pickup line, before cleanup's message-id= and the queue
	 * manager's from= (log tools count a received message from it).
	 */
	msg_info("%s: uid=%s from=<%s> (maildrop %s)", cleanup_queue_id(c), uidtext, sender, name);
	switch (cleanup_finish(c, id, sizeof(id), &reason)) {
	case CLEANUP_OK:
		if (unlink(buf_str(&path)) != 0)
			msg_warn("%s: cannot remove maildrop file: %m", name);
		/* The recipients a milter refused go back to the sender; the others are queued. */
		if (refused.n > 0 && bounce_refused(q, sender, NULL, &refused) != 0)
			msg_warn("%s: %zu recipients refused by a milter were not returned to the sender",
				 id, refused.n);
		break;
	case CLEANUP_TEMPFAIL:
		msg_warn("%s: deferred: %s", name, buf_str(&reason));
		bounce_error_notice("resource", name, buf_str(&reason));
		rc = -1;
		break;
	default:
		/* Refused for good: the sender gets it back; corrupt/ only if that fails. */
		msg_info("%s: uid=%s from=<%s>: refused: %s", name, uidtext, sender, buf_str(&reason));
		if (bounce_refused(q, sender, buf_str(&reason), NULL) == 0)
			unlink(buf_str(&path));
		else
			to_corrupt(buf_str(&path), name, st.st_uid, sender, buf_str(&reason));
		break;
	}
milter_out:
	pickup_milter_refused_free(&refused);
	buf_free(&reason);
out:
	qfile_close(q);
	buf_free(&path);
	buf_free(&err);
	buf_free(&gecos_name);
	return rc;
}

/* One pass over maildrop/. Returns the number of files left for later. */
static int scan(void)
{
	struct buf dir = BUF_INIT;
	buf_printf(&dir, "%s/maildrop", queue_dir);
	DIR *d = opendir(buf_str(&dir));
	int left = 0;
	if (d == NULL) {
		msg_warn("cannot open %s: %m", buf_str(&dir));
		buf_free(&dir);
		return 0;
	}
	struct dirent *e;
	time_t now = time(NULL);
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.') {
			/* ., .. and files being written; a writer killed with SIGKILL leaves one behind. */
			struct stat st;
			struct buf tmp = BUF_INIT;
			buf_printf(&tmp, "%s/%s", buf_str(&dir), e->d_name);
			if (strncmp(e->d_name, ".tmp.", 5) == 0 && lstat(buf_str(&tmp), &st) == 0 &&
			    S_ISREG(st.st_mode) && now - st.st_mtime > STALE_TEMP_SECONDS) {
				msg_warn("removing stale temporary file maildrop/%s", e->d_name);
				unlink(buf_str(&tmp));
			}
			buf_free(&tmp);
			continue;
		}
		if (pickup_file(e->d_name) != 0)
			left++;
	}
	closedir(d);
	buf_free(&dir);
	return left;
}

/* Wait for a wake-up connection or the scan interval; drain what came. */
static void wait_for_work(int listen_fd)
{
	struct pollfd p = {.fd = listen_fd, .events = POLLIN};
	int timeout = listen_fd >= 0 ? SCAN_INTERVAL_MS : 1000;
	if (poll(&p, listen_fd >= 0 ? 1 : 0, timeout) <= 0 || listen_fd < 0)
		return;
	/* Accept every pending wake-up; the content does not matter. */
	int fd;
	while ((fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		char ignored[64];
		ssize_t r = read(fd, ignored, sizeof(ignored));
		(void)r;
		close(fd);
	}
}

static volatile sig_atomic_t stop;
static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

int main(int argc, char **argv)
{
	int listen_fd = -1;
#ifdef HAVE_DAEMON_SKELETON
	daemon_init(argc, argv, "pickup", DAEMON_CATCH_TERM);
	const struct daemon_info *di = daemon_info();
	if (di->nlisten > 0)
		listen_fd = di->listen[0].fd;
#else
	/* Until the daemon skeleton lands: -c DIR, then config and logging. */
	const char *dir = NULL;
	int c;
	log_init("tern/pickup", LOG_TO_SYSLOG | LOG_TO_STDERR);
	while ((c = getopt(argc, argv, "c:v")) != -1) {
		if (c == 'c')
			dir = optarg;
		else if (c == 'v')
			log_set_verbose(1);
		else
			msg_fatal_status(EX_USAGE, "usage: pickup [-c config_dir] [-v]");
	}
	struct buf err = BUF_INIT;
	if (config_load(dir, false, &err) != 0)
		msg_fatal_status(EX_CONFIG, "%s", buf_str(&err));
	config_apply_logging();
	umask(077);
	signal(SIGPIPE, SIG_IGN);
#endif
	qfile_configure();
	if (qfile_fault_from_env() != 0)
		msg_fatal_status(EX_USAGE, "bad TERN_QFILE_FAULT");
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	queue_dir = cfg_str(P_queue_directory);
	qrecycle_configure();
	pickup_milter_init();
	while (!stop) {
#ifdef HAVE_DAEMON_SKELETON
		if (daemon_stop)	/* a reload's SIGHUP too: nothing is in hand between scans */
			break;
#endif
		scan();
#ifdef HAVE_DAEMON_SKELETON
		if (daemon_stop)
			break;
#endif
		wait_for_work(listen_fd);
	}
	return EX_OK;
}
