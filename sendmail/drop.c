/*
 * drop.c - the maildrop writer (drop.h): terndrop's whole work, the
 * privileged child of a set-group-ID sendmail, and the one-process
 * sendmail's maildrop file.
 *
 * Runs with the group setgid_group (set-group-ID terndrop, or the child
 * a set-group-ID sendmail forks at entry), except drop_direct_feed and
 * drop_direct_finish: a plain sendmail opens its file with the group
 * (drop_direct_open) and has dropped it before it calls those, so they
 * write through that descriptor only, with the same checks; that file
 * is emptied, never unlinked, on any failure. It trusts nothing but the
 * real uid the kernel gives it: it stamps the arrival time itself,
 * records the real uid (pickup derives the login and the default sender
 * from the file's owner), accepts only the record
 * types it expects in order (droprec.c), and enforces message_size_limit
 * while reading. Its signal handlers only unlink the temporary file (or
 * empty the one-process sendmail's file) and _exit. The configuration
 * is the default main.cf, or a directory that
 * file lists in alternate_config_directories (any directory for root,
 * or when the process is not set-id and so can write only where its
 * caller may).
 */
#include "compat.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/prctl.h>
#include <sys/un.h>
#include <sysexits.h>
#include <unistd.h>

#include "mail/config.h"
#include "mail/droprec.h"
#include "mail/login_sender.h"
#include "mail/mailq.h"
#include "mail/qfile.h"
#include "mail/qspace.h"
#include "sendmail/drop.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/map.h"
#include "util/mem.h"

/*
 * Sanitizer builds: LeakSanitizer refuses to run in a set-id process
 * and options from the environment are not read there, so the options
 * are compiled in. Only present when built with -fsanitize=address.
 */
#if defined(__SANITIZE_ADDRESS__)
const char *__asan_default_options(void);
const char *__lsan_default_options(void);
const char *__asan_default_options(void)
{
	return "detect_leaks=0";
}
const char *__lsan_default_options(void)
{
	return "detect_leaks=0";
}
#endif

/* Which program must be set-group-ID (messages), and TERN_CONFIG_DIR as it was at entry. */
static const char *prog_name = "terndrop";
static char *env_config;

/* The temporary file, for the signal handler; written before the handlers can see it. */
static char temp_path[4096];
static volatile sig_atomic_t temp_set;
/* One-process sendmail: its maildrop file, truncated (never unlinked) by the handler. */
static volatile sig_atomic_t direct_fd = -1;

/*
 * Remove the temporary file and say so on standard error, which sendmail
 * passes on to its caller: the one line a user whose terndrop was stopped
 * sees. Only async-signal-safe calls (unlink, write, _exit).
 */
static void on_signal(int sig)
{
	static const char head[] = "tern/terndrop: fatal: stopped by signal ";
	static const char tail[] = ": nothing was queued\n";
	char num[12];
	size_t n = sizeof(num);
	unsigned v = (unsigned)sig;

	if (temp_set)
		unlink(temp_path);
	if (direct_fd >= 0 && fchmod(direct_fd, 0200) == 0)
		(void)!ftruncate(direct_fd, 0);
	do
		num[--n] = (char)('0' + v % 10);
	while ((v /= 10) != 0 && n > 0);
	/* Nothing to do if stderr is gone: the exit status says it all. */
	if (write(2, head, sizeof(head) - 1) < 0 || write(2, num + n, sizeof(num) - n) < 0
	    || write(2, tail, sizeof(tail) - 1) < 0)
		_exit(EX_TEMPFAIL);
	_exit(EX_TEMPFAIL);
}

static void fix_descriptors(void)
{
	for (int fd = 0; fd <= 2; fd++) {
		if (fcntl(fd, F_GETFD) != -1)
			continue;
		int nfd = open("/dev/null", O_RDWR);
		if (nfd != fd)
			_exit(EX_OSERR);	/* cannot happen: fd was the lowest free */
	}
}

static void catch_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigfillset(&sa.sa_mask);
	int sigs[] = {SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGXFSZ, SIGALRM};
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/* Trailing slashes do not make a directory different. */
static void normalize_dir(const char *in, struct buf *out)
{
	buf_reset(out);
	buf_adds(out, in);
	while (out->len > 1 && out->data[out->len - 1] == '/')
		buf_truncate(out, out->len - 1);
}

/*
 * Which configuration directory: the default, or another one when the
 * caller is root, or terndrop is not set-id, or the default main.cf
 * lists it in alternate_config_directories.
 */
static const char *choose_config(const char *wanted, uid_t uid)
{
	static struct buf dir = BUF_INIT;
	struct buf want = BUF_INIT, item = BUF_INIT, err = BUF_INIT;
	const char *builtin = config_builtin_dir();
	bool setid = getegid() != getgid() || geteuid() != getuid();

	if (wanted == NULL || *wanted == '\0')
		return builtin;
	normalize_dir(wanted, &want);
	normalize_dir(builtin, &dir);
	if (strcmp(buf_str(&want), buf_str(&dir)) == 0 || uid == 0 || !setid) {
		buf_reset(&dir);
		buf_add(&dir, want.data, want.len);
		buf_free(&want);
		return buf_str(&dir);
	}
	if (config_load(builtin, false, &err) != 0)
		msg_fatal_status(EX_CONFIG, "%s", buf_str(&err));
	char **alts = cfg_list(P_alternate_config_directories);
	for (; alts && *alts; alts++) {
		normalize_dir(*alts, &item);
		if (strcmp(buf_str(&item), buf_str(&want)) == 0) {
			buf_reset(&dir);
			buf_add(&dir, want.data, want.len);
			buf_free(&want);
			buf_free(&item);
			return buf_str(&dir);
		}
	}
	msg_fatal_status(EX_NOPERM, "uid %ld is not allowed to use configuration directory %s "
			 "(not in alternate_config_directories of %s/main.cf)",
			 (long)uid, buf_str(&want), builtin);
}

/*
 * local_login_sender_maps' tables, opened by drop_direct_open while the
 * group is still held (a table may be readable only by it, as it was by
 * the forked writer); NULL: opened at the lookup.
 */
static struct maplist *login_sender_tables;
static struct buf login_sender_open_err = BUF_INIT;
static bool login_sender_open_failed;

/* local_login_sender_maps (login_sender.h); a table that fails is a temporary failure. */
static bool sender_allowed(const char *login, const char *sender)
{
	struct buf err = BUF_INIT;
	if (login_sender_open_failed)
		msg_fatal_status(EX_TEMPFAIL, "local_login_sender_maps: %s", buf_str(&login_sender_open_err));
	int rc = login_sender_tables != NULL
		? login_sender_allowed_in(login_sender_tables, login, sender, cfg_str(P_myorigin), &err)
		: login_sender_allowed(cfg_str(P_local_login_sender_maps), login, sender,
				       cfg_str(P_myorigin), &err);
	if (rc < 0)
		msg_fatal_status(EX_TEMPFAIL, "local_login_sender_maps: %s", buf_str(&err));
	buf_free(&err);
	return rc == 1;
}

/*
 * Wake pickup: connect to public/pickup (a stream socket bound by ternd),
 * without blocking. The connection is the wake-up (pickup reads nothing
 * from it; it stays in the socket's queue after the close), so nothing
 * is sent. A failure is not an error: pickup also scans maildrop/.
 */
static void wake_pickup(const char *queue_dir)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int n = snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/public/pickup", queue_dir);
	if (n < 0 || (size_t)n >= sizeof(sun.sun_path))
		return;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	/* Refused (pickup not running, its queue full): its next scan finds the file. */
	(void)connect(fd, (struct sockaddr *)&sun, sizeof(sun));
	close(fd);
}

/*
 * queue_minfree: too little room in the queue file system is a
 * temporary failure (75) before a byte is written. Only queue_minfree
 * counts here, not smtpd's 1.5 x message_size_limit: local mail that
 * fits is not refused for a limit meant for strangers' mail.
 */
static void check_space(void)
{
	unsigned long long minfree = (unsigned long long)cfg_int(P_queue_minfree);
	struct buf why = BUF_INIT;
	if (minfree == 0)
		return;
	if (qspace_check(cfg_str(P_queue_directory), minfree, 0, &why) == 0)
		msg_fatal_status(EX_TEMPFAIL, "%s: mail not queued, try again later", buf_str(&why));
	buf_free(&why);
}

/*
 * Without its set-group-ID bit (the build tree's copy, or a copy that
 * lost it) terndrop writes to maildrop/ only as root or as the owner of
 * the queue. Anyone else is told so plainly, before any input is read,
 * instead of with the permission error of the first write.
 */
static void check_privilege(uid_t uid)
{
	struct buf dir = BUF_INIT;
	if (uid == 0 || getegid() != getgid() || geteuid() != getuid())
		return;
	buf_printf(&dir, "%s/maildrop", cfg_str(P_queue_directory));
	if (access(buf_str(&dir), W_OK | X_OK) == 0 || (errno != EACCES && errno != EPERM)) {
		buf_free(&dir);
		return;
	}
	msg_fatal_status(EX_TEMPFAIL, "%s/%s is not set-gid %s, and uid %ld may not write to %s; "
			 "install Tern (make install) or run as root or as the instance owner %s",
			 cfg_str(P_command_directory), prog_name, cfg_str(P_setgid_group), (long)uid, buf_str(&dir),
			 cfg_str(P_mail_owner));
}


/* The one-process sendmail's file (drop_direct_open), until committed or given up. */
static struct qfile_writer *direct_w;

static void abort_writer(struct qfile_writer *w)
{
	temp_set = 0;
	if (w != NULL && w == direct_w) {
		direct_w = NULL;
		direct_fd = -1;
	}
	qfile_abort(w);
}

static void give_up(struct qfile_writer *w, int status, const char *why)
{
	abort_writer(w);
	msg_fatal_status(status, "%s", why);
}

/* One message's writing: who submits it, the record checks, its file. */
struct drop_job {
	uid_t uid;
	char login[256];	/* login_of_uid's, or "" until something needs it (job_login) */
	struct droprec_state st;
	struct qfile_writer *w;	/* NULL until the envelope is complete (but see drop_direct_open) */
	bool done;		/* the end record came */
};

/*
 * The submitter's login name, looked up at the first need only: a
 * refusal's message, authorized_submit_users other than a static: table,
 * a -f sender to check. The file records only the uid (its owner, which
 * pickup checks): pickup derives the login, the default sender and the
 * full name from it.
 */
static const char *job_login(struct drop_job *j)
{
	/* A failed look-up (an NSS source down) is no answer: "#UID" would be refused for good. */
	if (j->login[0] == '\0' && login_of_uid(j->uid, j->login, sizeof(j->login), NULL) != 0)
		msg_fatal_status(EX_TEMPFAIL, "cannot look up the user of uid %ld; try again later",
				 (long)j->uid);
	return j->login;
}

/*
 * The login for a refusal's text: "#UID" when the look-up fails, since
 * the refusal stands either way (a temporary failure instead would have
 * the user try again for nothing). The process ends with the refusal.
 */
static const char *job_login_text(struct drop_job *j)
{
	if (j->login[0] == '\0')
		login_of_uid(j->uid, j->login, sizeof(j->login), NULL);
	return j->login;
}

/*
 * May this submitter use -f sender? Its own login always; otherwise what
 * local_login_sender_maps says. The default static:* says yes for every
 * login without the login: no look-up then, which an NSS source being
 * down would fail (a temporary failure that cron and PHP do not retry).
 */
static bool job_sender_allowed(struct drop_job *j, const char *sender)
{
	if (!login_sender_needs_login(cfg_str(P_local_login_sender_maps)) && sender_allowed("", sender))
		return true;
	return strcmp(sender, job_login(j)) == 0 || sender_allowed(j->login, sender);
}

/* The envelope is complete: start the maildrop file. */
static struct qfile_writer *start_file(struct drop_job *j, struct qfile_writer *w)
{
	struct buf err = BUF_INIT, dir = BUF_INIT;
	struct droprec_state *st = &j->st;
	char uidtext[32];
	/* No -f: an empty sender with sender_given=no, which pickup replaces by the owner's login. */
	const char *sender = st->sender_given ? buf_str(&st->sender) : "";

	if (st->sender_given && !job_sender_allowed(j, sender))
		msg_fatal_status(EX_NOPERM, "user %s (uid %ld) is not allowed to send mail as <%s> "
				 "(local_login_sender_maps)", j->login, (long)j->uid, sender);
	bool extract = false;
	for (size_t i = 0; i < st->nattr; i++)
		if (strcmp(st->attr_names[i], "extract") == 0 && strcmp(st->attr_values[i], "yes") == 0)
			extract = true;
	if (st->nrcpt == 0 && !extract)
		msg_fatal_status(EX_USAGE, "no recipients specified");

	if (w == NULL) {
		buf_printf(&dir, "%s/maildrop", cfg_str(P_queue_directory));
		w = qfile_create_mode(buf_str(&dir), 0644, &err);
		if (w == NULL)
			msg_fatal_status(EX_TEMPFAIL, "%s", buf_str(&err));
		strlcpy(temp_path, qfile_writer_temp_path(w), sizeof(temp_path));
		temp_set = 1;
	}
	qfile_allow_no_rcpt(w);

	snprintf(uidtext, sizeof(uidtext), "%ld", (long)j->uid);
	bool bad = qfile_set_sender(w, sender) != 0 || qfile_add_attr(w, "uid", uidtext) != 0 ||
		   qfile_add_attr(w, "sender_given", st->sender_given ? "yes" : "no") != 0;
	for (size_t i = 0; i < st->nattr && !bad; i++)
		bad = qfile_add_attr(w, st->attr_names[i], st->attr_values[i]) != 0;
	for (size_t i = 0; i < st->nrcpt && !bad; i++)
		bad = qfile_add_rcpt(w, st->rcpts[i].address, st->rcpts[i].notify, st->rcpts[i].orcpt) != 0;
	if (bad)
		give_up(w, EX_DATAERR, "malformed envelope");
	buf_free(&err);
	buf_free(&dir);
	return w;
}


void drop_harden(const char *prog)
{
	fix_descriptors();
	catch_signals();
	umask(077);
	prog_name = prog;
	log_init("tern/terndrop", LOG_TO_STDERR);
	/* The environment: keep what we may use, drop the rest. */
	env_config = getenv("TERN_CONFIG_DIR") ? xstrdup(getenv("TERN_CONFIG_DIR")) : NULL;
	if (qfile_fault_from_env() != 0)
		msg_fatal_status(EX_USAGE, "bad TERN_QFILE_FAULT");
	clearenv();
	setenv("PATH", "/usr/bin:/bin", 1);
}

void drop_config(const char *wanted)
{
	struct buf err = BUF_INIT;
	const char *dir = choose_config(wanted && *wanted ? wanted : env_config, getuid());
	if (config_load(dir, false, &err) != 0)
		msg_fatal_status(EX_CONFIG, "%s", buf_str(&err));
	qfile_configure();	/* queue_directory_sync */
	config_apply_logging();
	if (cfg_str(P_maillog_file)[0] == '\0')
		log_set_dest(LOG_TO_STDERR | LOG_TO_SYSLOG);
	else
		log_set_dest(LOG_TO_STDERR | LOG_TO_FILE);
	buf_free(&err);
}

/* Who submits, and may they: before any record is read and any file made. */
static void job_start(struct drop_job *j)
{
	struct buf err = BUF_INIT;
	char *const *users = cfg_list(P_authorized_submit_users);
	j->uid = getuid();
	j->login[0] = '\0';
	/* A static: table first (the default static:anyone) answers alike for every login. */
	int may = submit_user_allowed(users, submit_user_needs_login(users) ? job_login(j) : "", &err);
	if (may < 0)
		msg_fatal_status(EX_TEMPFAIL, "%s", buf_str(&err));
	if (may == 0 && j->uid != 0)
		msg_fatal_status(EX_NOPERM, "user %s (uid %ld) is not allowed to submit mail "
				 "(authorized_submit_users)", job_login_text(j), (long)j->uid);
	check_space();
	check_privilege(j->uid);
	droprec_init(&j->st, (unsigned long long)cfg_int(P_message_size_limit));
	j->w = NULL;
	j->done = false;
	buf_free(&err);
}

/* One record, checked as droprec.c says; exits on a bad one. */
static void job_record(struct drop_job *j, char type, const char *rec, size_t reclen)
{
	struct buf err = BUF_INIT;
	if (j->done)
		give_up(j->w, EX_DATAERR, "input after the end record");
	switch (droprec_accept(&j->st, type, rec, reclen)) {
	case DROPREC_BAD:
		give_up(j->w, EX_DATAERR, buf_str(&j->st.error));
		break;
	case DROPREC_CONTENT:
		j->w = start_file(j, j->w);
		break;
	case DROPREC_DATA:
		if (!j->st.too_big && qfile_write(j->w, rec, reclen, &err) != 0)
			give_up(j->w, EX_TEMPFAIL, buf_str(&err));
		break;
	case DROPREC_END:
		j->done = true;
		break;
	default:
		break;
	}
	buf_free(&err);
}

/*
 * The end record came: commit, wake pickup. Nothing is logged for a
 * queued message (as Postfix's postdrop): pickup logs it with the uid
 * and the sender when it takes it, and every refusal is logged here.
 */
static int job_finish(struct drop_job *j, char *id, size_t idlen)
{
	struct buf err = BUF_INIT;
	if (j->st.too_big) {
		char why[128];
		snprintf(why, sizeof(why), "message file too big (message_size_limit is %llu bytes)", j->st.limit);
		give_up(j->w, EX_DATAERR, why);
	}
	int rc;
	if (j->w == direct_w) {
		/*
		 * From here the commit owns the file: once it is 0644 pickup may
		 * be reading it, and nothing may empty it (a signal now leaves a
		 * 0200 file whole, which pickup removes after a day).
		 */
		direct_w = NULL;
		direct_fd = -1;
		rc = qfile_commit_final(j->w, 0644, id, idlen, &err);
	} else {
		rc = qfile_commit(j->w, id, idlen, &err);
	}
	j->w = NULL;
	temp_set = 0;
	if (rc != 0)
		msg_fatal_status(EX_TEMPFAIL, "%s", buf_str(&err));
	wake_pickup(cfg_str(P_queue_directory));
	buf_free(&err);
	droprec_free(&j->st);
	return EX_OK;
}

int drop_message(int fd, struct buf *in, size_t off, char *id, size_t idlen)
{
	struct drop_job j;
	bool eof = false;

	job_start(&j);
	while (!j.done) {
		char type;
		const char *rec;
		size_t reclen;
		long used = droprec_parse(in->data + off, in->len - off, &type, &rec, &reclen);
		if (used < 0)
			give_up(j.w, EX_DATAERR, "malformed input from sendmail");
		if (used == 0) {
			if (eof)
				give_up(j.w, EX_DATAERR, "premature end of input");
			/* Compact, then read more. */
			if (off > 0) {
				buf_consume(in, off);
				off = 0;
			}
			buf_reserve(in, 65536);
			ssize_t n = read(fd, in->data + in->len, 65536);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				give_up(j.w, EX_IOERR, "cannot read input");
			if (n == 0)
				eof = true;
			in->len += (size_t)n;
			continue;
		}
		off += (size_t)used;
		job_record(&j, type, rec, (size_t)reclen);
	}
	if (off != in->len)
		give_up(j.w, EX_DATAERR, "input after the end record");
	return job_finish(&j, id, idlen);
}

/* ------------------------------------------------------------------ */
/* One-process submission (drop.h).                                    */

static struct drop_job direct_job;
static int direct_log_dest;

/* Any exit before the commit: nothing of the file is to be delivered. */
static void direct_at_exit(void)
{
	if (direct_w != NULL)
		abort_writer(direct_w);
}

void drop_direct_open(const char *wanted)
{
	struct buf dir = BUF_INIT, err = BUF_INIT;

	fix_descriptors();
	catch_signals();
	umask(077);
	prog_name = "sendmail";
	log_init("tern/terndrop", LOG_TO_STDERR);
	/* One thread, a few parameters read, a start per message: constant defaults checked on use. */
	config_set_lazy_defaults(true);
	drop_config(wanted);
	direct_log_dest = log_get_dest();
	const char *maps = cfg_str(P_local_login_sender_maps);
	if (*maps != '\0') {
		login_sender_tables = maplist_open(maps, 0, &login_sender_open_err);
		login_sender_open_failed = login_sender_tables == NULL;
	}
	job_start(&direct_job);
	buf_printf(&dir, "%s/maildrop", cfg_str(P_queue_directory));
	struct qfile_writer *w = qfile_create_final(buf_str(&dir), &err);
	if (w == NULL)
		msg_fatal_status(EX_TEMPFAIL, "%s", buf_str(&err));
	direct_w = direct_job.w = w;
	direct_fd = qfile_writer_fd(w);
	atexit(direct_at_exit);
	buf_free(&dir);
	buf_free(&err);
}

void drop_direct_feed(const char *data, size_t len)
{
	size_t off = 0;
	while (off < len) {
		char type;
		const char *rec;
		size_t reclen;
		long used = droprec_parse(data + off, len - off, &type, &rec, &reclen);
		if (used <= 0)	/* sendmail_submit.c hands over whole records only */
			give_up(direct_job.w, EX_SOFTWARE, "malformed record from sendmail");
		off += (size_t)used;
		job_record(&direct_job, type, rec, reclen);
	}
}

int drop_direct_finish(char *id, size_t idlen)
{
	if (!direct_job.done)
		give_up(direct_job.w, EX_SOFTWARE, "no end record from sendmail");
	/* The logging main.cf asked for (sendmail's main() set its own since). */
	log_init("tern/terndrop", direct_log_dest);
	return job_finish(&direct_job, id, idlen);
}

/*
 * The queue listing for a user outside setgid_group: the group lets this
 * process reach public/qmgr (queue files stay unreadable to it), and the
 * listing is what qmgr gives anyone who may connect, as Postfix's
 * set-group-ID postqueue gets showq's. Nothing of the caller's is read.
 */
static int list_queue(void)
{
	struct buf out = BUF_INIT, err = BUF_INIT;
	int style = mailq_style_parse(cfg_str(P_mailq_format));
	int rc = EX_OK;
	if (mailq_listing(cfg_str(P_queue_directory), style < 0 ? MAILQ_SENDMAIL : (enum mailq_style)style,
			  &out, &err) < 0) {
		fprintf(stderr, "mailq: %s\n", buf_str(&err));
		rc = EX_UNAVAILABLE;
	} else {
		for (size_t off = 0; off < out.len;) {
			ssize_t n = write(1, out.data + off, out.len - off);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				rc = EX_IOERR;
				break;
			}
			off += (size_t)n;
		}
	}
	buf_free(&out);
	buf_free(&err);
	return rc;
}

void drop_serve(int fd)
{
	struct buf in = BUF_INIT;
	char type, id[QF_ID_MAX];
	const char *rec;
	size_t reclen;
	long used;

	/* What ps and pgrep show: the maildrop role, not the caller's command. */
	prctl(PR_SET_NAME, "terndrop", 0, 0, 0);
	drop_harden("sendmail");
	/* The caller's standard input is the parent's to read, never ours. */
	int nul = open("/dev/null", O_RDONLY);
	if (nul < 0 || dup2(nul, 0) < 0)	/* out of descriptors, say: nothing queued, try again */
		msg_fatal_status(EX_TEMPFAIL, "cannot put /dev/null on standard input: %m");
	if (nul != 0)
		close(nul);
	/* The request record. */
	while ((used = droprec_parse(in.data, in.len, &type, &rec, &reclen)) == 0) {
		buf_reserve(&in, 4096);
		ssize_t n = read(fd, in.data + in.len, 4096);
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0 && in.len == 0)
			_exit(EX_OK);	/* the caller needed no maildrop work */
		if (n <= 0)
			msg_fatal_status(EX_DATAERR, "premature end of input");
		in.len += (size_t)n;
	}
	if (used < 0 || type != 'Q' || reclen < 1 || memchr(rec, '\0', reclen) != NULL)
		msg_fatal_status(EX_DATAERR, "malformed input from sendmail");
	char op = rec[0];
	char *dir = xstrndup(rec + 1, reclen - 1);
	drop_config(dir);
	free(dir);
	switch (op) {
	case DROP_REQ_DROP:
		exit(drop_message(fd, &in, (size_t)used, id, sizeof(id)));
	case DROP_REQ_LIST:
		exit(list_queue());
	default:
		msg_fatal_status(EX_DATAERR, "malformed input from sendmail");
	}
}
