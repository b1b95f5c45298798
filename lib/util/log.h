/*
 * log.h - warnings, errors and events, one line each.
 *
 * Generic utility layer. Lines go to syslog (the mail facility unless
 * log_set_syslog() says otherwise), or appended
 * to a log file (maillog_file) with one write(2) per line so that the
 * processes of an instance never interleave, and/or to standard error.
 * Library code logs and returns a status; only programs call msg_fatal.
 * Format strings may use %m (glibc).
 */
#ifndef TERN_UTIL_LOG_H
#define TERN_UTIL_LOG_H

#include <errno.h>
#include <stdarg.h>

#define LOG_TO_STDERR	1
#define LOG_TO_SYSLOG	2
#define LOG_TO_FILE	4

/* Name shown in every line, e.g. "tern/smtpd"; where lines go. */
void log_init(const char *progname, int dest);
/* Send lines to FILE (maillog_file) instead of syslog; NULL or "" means syslog. */
void log_set_file(const char *path);
/*
 * syslog_name and syslog_facility: a program name "tern/smtpd" becomes
 * "NAME/smtpd" (names without a slash stay); facility is a LOG_* value
 * (-1 keeps the current one, LOG_MAIL at first).
 */
void log_set_syslog(const char *name, int facility);
/* LOG_MAIL for "mail", LOG_LOCAL3 for "local3", ...; -1 when unknown. */
int log_facility_code(const char *name);
void log_set_dest(int dest);
int log_get_dest(void);
const char *log_progname(void);
/*
 * errno, read once, or FALLBACK when a failed call left it 0: a failure
 * always has a reason to report (errno ? errno : X reads errno twice).
 */
static inline int errno_or(int fallback)
{
	int e = errno;

	return e != 0 ? e : fallback;
}

/* Verbose lines (msg_debug) on or off. */
void log_set_verbose(int level);

void msg_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void msg_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void msg_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void msg_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Log "fatal: ..." and exit with status (a sysexits.h value). */
void msg_fatal_status(int status, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), noreturn));
/* Same with EX_SOFTWARE (70). */
void msg_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
