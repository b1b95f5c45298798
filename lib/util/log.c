/*
 * log.c - one line per event to syslog, a log file or standard error.
 * Generic utility layer; no privileges of its own. A log file stays open
 * (O_APPEND) between lines; at most once a second a stat() of its name
 * shows whether it was rotated or removed, and then it is opened anew, so
 * rotation still needs no signal (lines of the second after a rename go
 * to the renamed file, where they are kept). A forked child forgets the
 * descriptor (pthread_atfork) and opens the file anew for its first line,
 * so a child that closed or reused descriptors before exec never writes
 * into whatever now has that number. The process id, the host name and
 * the time stamp are looked up once (the stamp once a second), not per
 * line: a line costs one write() and no other system call, where it used
 * to cost a stat(), an fstat() and a getpid() besides. Threads (smtpd's
 * loop and commit threads) write without a lock: each formats its line
 * in its own buffer (the stamp kept per thread) and writes it with one
 * write() on the O_APPEND descriptor, which the kernel appends whole, so
 * lines never interleave; the lock is taken only once a second to look
 * at the name, and a rotated file is opened and put in place under the
 * same descriptor number (dup2), so a thread that took the number just
 * before writes into the old file or the new one, never into a file that
 * reused a closed number. Syslog
 * lines go through syslog(3) with the facility and the ident
 * ("tern/smtpd", the first part from syslog_name) that log_set_syslog()
 * was given.
 */
#include "compat.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "util/log.h"

static char log_name[64] = "tern";
static int log_dest = LOG_TO_STDERR;
static char log_file[4096];
static int log_verbose;
static int syslog_open;
static int syslog_facility = LOG_MAIL;
static pthread_mutex_t file_lock = PTHREAD_MUTEX_INITIALIZER;
static int file_fd = -1;		/* log_file, open; -1 when not */
static dev_t file_dev;
static ino_t file_ino;
static char host_name[256];		/* short host name, looked up once */
static long my_pid;			/* getpid(), once per process (reset by fork) */
static time_t checked_at;		/* when file_get() last looked at the name */
static pthread_once_t fork_once = PTHREAD_ONCE_INIT;

/*
 * In a forked child the descriptor number may soon mean something else
 * (close_range, dup2 before exec): forget it without closing (the parent
 * still uses it) and look the process id up again.
 */
static void lock_for_fork(void)
{
	pthread_mutex_lock(&file_lock);
}

static void unlock_in_parent(void)
{
	pthread_mutex_unlock(&file_lock);
}

static void forget_in_child(void)
{
	__atomic_store_n(&file_fd, -1, __ATOMIC_RELEASE);
	__atomic_store_n(&my_pid, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&checked_at, 0, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&file_lock);
}

static void host_name_init(void);

static void fork_handler_init(void)
{
	host_name_init();
	pthread_atfork(lock_for_fork, unlock_in_parent, forget_in_child);
}

static void file_close(void)
{
	if (file_fd >= 0)
		close(file_fd);
	file_fd = -1;
}

void log_init(const char *progname, int dest)
{
	strlcpy(log_name, progname, sizeof(log_name));
	log_dest = dest;
}

/*
 * Called while the configuration is read, before a daemon starts its
 * threads: the only place the descriptor is closed (file_get never does).
 */
void log_set_file(const char *path)
{
	pthread_mutex_lock(&file_lock);
	file_close();
	checked_at = 0;
	if (path == NULL || *path == '\0')
		log_file[0] = '\0';
	else
		strlcpy(log_file, path, sizeof(log_file));
	pthread_mutex_unlock(&file_lock);
	if (path == NULL || *path == '\0') {
		/* A file set earlier (main.cf) and cleared now (-o maillog_file=): syslog again. */
		if (log_dest & LOG_TO_FILE)
			log_dest = (log_dest & ~LOG_TO_FILE) | LOG_TO_SYSLOG;
		return;
	}
	if (log_dest & LOG_TO_SYSLOG)
		log_dest = (log_dest & ~LOG_TO_SYSLOG) | LOG_TO_FILE;
}

static const struct {
	const char *name;
	int code;
} facilities[] = {
	{"auth", LOG_AUTH}, {"authpriv", LOG_AUTHPRIV}, {"cron", LOG_CRON},
	{"daemon", LOG_DAEMON}, {"ftp", LOG_FTP}, {"kern", LOG_KERN}, {"lpr", LOG_LPR},
	{"mail", LOG_MAIL}, {"news", LOG_NEWS}, {"syslog", LOG_SYSLOG}, {"user", LOG_USER},
	{"uucp", LOG_UUCP}, {"local0", LOG_LOCAL0}, {"local1", LOG_LOCAL1},
	{"local2", LOG_LOCAL2}, {"local3", LOG_LOCAL3}, {"local4", LOG_LOCAL4},
	{"local5", LOG_LOCAL5}, {"local6", LOG_LOCAL6}, {"local7", LOG_LOCAL7},
};

int log_facility_code(const char *name)
{
	for (size_t i = 0; i < sizeof(facilities) / sizeof(facilities[0]); i++)
		if (strcasecmp(facilities[i].name, name) == 0)
			return facilities[i].code;
	return -1;
}

void log_set_syslog(const char *name, int facility)
{
	char next[sizeof(log_name)];
	const char *slash = strrchr(log_name, '/');
	if (name != NULL && *name != '\0' && slash != NULL)
		snprintf(next, sizeof(next), "%s%s", name, slash);
	else
		strlcpy(next, log_name, sizeof(next));
	if (facility < 0)
		facility = syslog_facility;
	if (strcmp(next, log_name) == 0 && facility == syslog_facility)
		return;
	/* openlog() keeps the pointer to log_name: close before it changes. */
	if (syslog_open) {
		closelog();
		syslog_open = 0;
	}
	strlcpy(log_name, next, sizeof(log_name));
	syslog_facility = facility;
}

void log_set_dest(int dest)
{
	log_dest = dest;
}

int log_get_dest(void)
{
	return log_dest;
}

const char *log_progname(void)
{
	return log_name;
}

void log_set_verbose(int level)
{
	log_verbose = level;
}

/*
 * The open log file for a line, reopened when its name now means another
 * file; the name is looked at once a second at most (now is the line's
 * time). A forked child starts without a descriptor (forget_in_child).
 * Lock held. Other threads read file_fd and checked_at without the lock
 * (atomically), so the descriptor number, once open, is never closed
 * here: a file opened anew replaces the old one under the same number
 * (dup2, atomic for a concurrent write()).
 */
static int file_get(time_t now)
{
	struct stat st;
	int fd = file_fd;
	bool reopen = fd < 0;
	if (fd >= 0 && now != checked_at) {
		if (fstat(fd, &st) != 0 || st.st_dev != file_dev || st.st_ino != file_ino) {
			fd = -1;	/* not ours any more: forget, never close */
			__atomic_store_n(&file_fd, -1, __ATOMIC_RELEASE);
			reopen = true;
		} else if (stat(log_file, &st) != 0 || st.st_dev != file_dev || st.st_ino != file_ino) {
			reopen = true;
		}
	}
	if (reopen) {
		int nfd = open(log_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
		if (nfd >= 0 && fstat(nfd, &st) == 0) {
			file_dev = st.st_dev;
			file_ino = st.st_ino;
		}
		if (nfd >= 0 && fd >= 0) {
			if (dup3(nfd, fd, O_CLOEXEC) < 0)
				fd = -1;	/* keep writing to the old file */
			close(nfd);
		} else {
			fd = nfd;
			__atomic_store_n(&file_fd, fd, __ATOMIC_RELEASE);
		}
	}
	__atomic_store_n(&checked_at, now, __ATOMIC_RELEASE);
	return fd < 0 ? file_fd : fd;
}

/* The host name, short, once per process (forked children inherit it). */
static void host_name_init(void)
{
	if (gethostname(host_name, sizeof(host_name)) != 0)
		strlcpy(host_name, "localhost", sizeof(host_name));
	host_name[sizeof(host_name) - 1] = '\0';
	char *dot = strchr(host_name, '.');
	if (dot)
		*dot = '\0';
}

/*
 * One line to the log file. No lock on the way of a line: the stamp is
 * per thread, the pid and the descriptor are read atomically, and one
 * write() of the whole line on the O_APPEND descriptor keeps lines of
 * concurrent threads apart. The lock is taken when the second changed
 * (the name looked at, file_get) or the file is not open yet.
 */
/* Append s to line (size bytes, *n used), leaving room for a NUL: cut if it does not fit. */
static void line_add(char *line, size_t size, size_t *n, const char *s)
{
	size_t len = strlen(s);
	if (len > size - 1 - *n)
		len = size - 1 - *n;
	memcpy(line + *n, s, len);
	line[*n + len] = '\0';	/* always room: the line is written by length, this only keeps it a string */
	*n += len;
}

static void log_file_line(const char *text)
{
	static __thread time_t my_stamp_at;
	static __thread char my_stamp[64];
	time_t now = time(NULL);	/* the vDSO: no system call */
	char line[8192];

	pthread_once(&fork_once, fork_handler_init);
	if (now != my_stamp_at || my_stamp[0] == '\0') {
		struct tm tm;
		localtime_r(&now, &tm);
		strftime(my_stamp, sizeof(my_stamp), "%b %e %H:%M:%S", &tm);
		my_stamp_at = now;
	}
	long pid = __atomic_load_n(&my_pid, __ATOMIC_RELAXED);
	if (pid == 0) {
		pid = (long)getpid();
		__atomic_store_n(&my_pid, pid, __ATOMIC_RELAXED);
	}
	/*
	 * "%s %s %s[%ld]: %s\n" put together by hand: a few lines a message
	 * in each daemon, and snprintf cost about 2,000 instructions a line.
	 * A line too long ends cut, with its newline.
	 */
	char digits[24];
	size_t nd = 0;
	unsigned long long v = pid > 0 ? (unsigned long long)pid : 0;
	do {
		digits[nd++] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	size_t n = 0;
	line_add(line, sizeof(line), &n, my_stamp);
	line_add(line, sizeof(line), &n, " ");
	line_add(line, sizeof(line), &n, host_name);
	line_add(line, sizeof(line), &n, " ");
	line_add(line, sizeof(line), &n, log_name);
	line_add(line, sizeof(line), &n, "[");
	while (nd > 0 && n < sizeof(line) - 1)
		line[n++] = digits[--nd];
	line_add(line, sizeof(line), &n, "]: ");
	line_add(line, sizeof(line), &n, text);
	if (n < sizeof(line) - 1)
		line[n++] = '\n';
	else
		line[n - 1] = '\n';
	int fd = __atomic_load_n(&file_fd, __ATOMIC_ACQUIRE);
	if (fd < 0 || __atomic_load_n(&checked_at, __ATOMIC_ACQUIRE) != now) {
		pthread_mutex_lock(&file_lock);
		fd = file_get(now);
		pthread_mutex_unlock(&file_lock);
	}
	if (fd >= 0) {
		ssize_t ignored = write(fd, line, n);
		(void)ignored;
	}
}

static void log_vline(int priority, const char *prefix, const char *fmt, va_list ap)
{
	int saved_errno = errno;
	char text[4096];
	size_t off = strlcpy(text, prefix, sizeof(text));

	errno = saved_errno;	/* for %m */
	vsnprintf(text + off, sizeof(text) - off, fmt, ap);
	/* Never let a control character from untrusted input split a line. */
	for (char *p = text; *p; p++)
		if ((unsigned char)*p < ' ' && *p != '\t')
			*p = '?';

	if (log_dest & LOG_TO_STDERR) {
		fprintf(stderr, "%s: %s\n", log_name, text);
		fflush(stderr);
	}
	if ((log_dest & LOG_TO_FILE) && log_file[0])
		log_file_line(text);
	else if (log_dest & LOG_TO_SYSLOG) {
		if (!syslog_open) {
			openlog(log_name, LOG_PID | LOG_NDELAY, syslog_facility);
			syslog_open = 1;
		}
		syslog(priority, "%s", text);
	}
	errno = saved_errno;
}

void msg_info(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vline(LOG_INFO, "", fmt, ap);
	va_end(ap);
}

void msg_warn(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vline(LOG_WARNING, "warning: ", fmt, ap);
	va_end(ap);
}

void msg_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vline(LOG_ERR, "error: ", fmt, ap);
	va_end(ap);
}

void msg_debug(const char *fmt, ...)
{
	if (!log_verbose)
		return;
	va_list ap;
	va_start(ap, fmt);
	log_vline(LOG_DEBUG, "debug: ", fmt, ap);
	va_end(ap);
}

void msg_fatal_status(int status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vline(LOG_CRIT, "fatal: ", fmt, ap);
	va_end(ap);
	exit(status);
}

void msg_fatal(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vline(LOG_CRIT, "fatal: ", fmt, ap);
	va_end(ap);
	exit(EX_SOFTWARE);
}
