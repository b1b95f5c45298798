/*
 * log.c - one line per event to syslog, a log file or standard error.
 * Generic utility layer; no privileges of its own. A log file is opened
 * per line with O_APPEND so that rotation needs no signal.
 */
#include "compat.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "util/log.h"

static char log_name[64] = "tern";
static int log_dest = LOG_TO_STDERR;
static char log_file[4096];
static int log_verbose;
static int syslog_open;

void log_init(const char *progname, int dest)
{
	strlcpy(log_name, progname, sizeof(log_name));
	log_dest = dest;
}

void log_set_file(const char *path)
{
	if (path == NULL || *path == '\0') {
		log_file[0] = '\0';
		return;
	}
	strlcpy(log_file, path, sizeof(log_file));
	if (log_dest & LOG_TO_SYSLOG)
		log_dest = (log_dest & ~LOG_TO_SYSLOG) | LOG_TO_FILE;
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

static void log_file_line(const char *text)
{
	char stamp[64], host[256];
	time_t now = time(NULL);
	struct tm tm;
	char line[8192];

	localtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%b %e %H:%M:%S", &tm);
	if (gethostname(host, sizeof(host)) != 0)
		strlcpy(host, "localhost", sizeof(host));
	host[sizeof(host) - 1] = '\0';
	char *dot = strchr(host, '.');
	if (dot)
		*dot = '\0';
	int n = snprintf(line, sizeof(line), "%s %s %s[%ld]: %s\n", stamp, host,
			 log_name, (long)getpid(), text);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line)) {
		n = sizeof(line) - 1;
		line[n - 1] = '\n';
	}
	int fd = open(log_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
	if (fd < 0)
		return;
	ssize_t ignored = write(fd, line, (size_t)n);
	(void)ignored;
	close(fd);
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
			openlog(log_name, LOG_PID | LOG_NDELAY, LOG_MAIL);
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
