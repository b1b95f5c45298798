/*
 * smtp_engine_fd.c - a simple blocking driver for the SMTP engine:
 * one session on a pair of descriptors, as sendmail -bs needs.
 *
 * Mail layer. Runs with the caller's privileges (sendmail -bs runs as the
 * user who started it). Commits happen synchronously here: msg_finish is
 * expected to return a final result, though a pending one is tolerated
 * (the driver then just stops).
 */
#include "compat.h"

#include <errno.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>

#include "mail/smtp_engine.h"

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Send what the engine queued; false when the peer is gone. */
static bool flush_output(struct smtp_engine *e, int out_fd)
{
	size_t len;
	const char *p;
	unsigned delay = smtp_engine_take_delay(e);
	if (delay > 0)
		sleep_ms(delay);
	while ((p = smtp_engine_output(e, &len)) != NULL && len > 0) {
		ssize_t n = write(out_fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return false;
		}
		smtp_engine_output_done(e, (size_t)n);
	}
	return true;
}

int smtp_engine_run_fd(struct smtp_engine *e, int in_fd, int out_fd, unsigned timeout_sec)
{
	char data[16384];
	bool quit = false;

	smtp_engine_start(e);
	for (;;) {
		if (!flush_output(e, out_fd)) {
			smtp_engine_eof(e);
			return 1;
		}
		int flags = smtp_engine_flags(e);
		if (flags & SMTP_WANT_CLOSE)
			return quit ? 0 : 1;
		if (flags & (SMTP_WANT_STARTTLS | SMTP_WAIT_COMMIT)) {
			/* Not offered on this driver: nothing can make progress. */
			smtp_engine_eof(e);
			return 1;
		}
		if (timeout_sec > 0) {
			struct pollfd pfd = {.fd = in_fd, .events = POLLIN};
			int r = poll(&pfd, 1, (int)(timeout_sec > 86400 ? 86400 : timeout_sec) * 1000);
			if (r < 0 && errno == EINTR)
				continue;
			if (r == 0) {
				smtp_engine_timeout(e);
				continue;
			}
		}
		ssize_t n = read(in_fd, data, sizeof(data));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			smtp_engine_eof(e);
			return 1;
		}
		smtp_engine_input(e, data, (size_t)n);
		/* QUIT is the only way the engine closes with a 221. */
		size_t len;
		const char *p = smtp_engine_output(e, &len);
		if ((smtp_engine_flags(e) & SMTP_WANT_CLOSE) && p != NULL && len >= 5) {
			const char *last = p + len - 2;
			while (last > p && last[-1] != '\n')
				last--;
			quit = last[0] == '2' && last[1] == '2' && last[2] == '1';
		}
	}
}

int smtp_engine_run_stdio(struct smtp_engine *e, unsigned timeout_sec)
{
	return smtp_engine_run_fd(e, STDIN_FILENO, STDOUT_FILENO, timeout_sec);
}
