/*
 * ternd_nofile.c - the open-file limit (RLIMIT_NOFILE) the services get.
 *
 * Runs in ternd (root on a real host, or the owner of an instance). An
 * SMTP server holds one descriptor per session, and the usual limits
 * (soft 1024, hard 4096 to 524288 depending on the system) would cap
 * smtpd far below what its memory allows: it answers "421 4.3.2" at the
 * limit. So the limit is ternd's business, not the administrator's:
 *   - at start, as root, the hard limit goes up to NOFILE_WANT (no higher
 *     than the kernel's fs.nr_open); never down;
 *   - when the hard limit stays below NOFILE_WANT (not root, or the raise
 *     refused), one warning says what it allows and what to raise;
 *   - an inet service (smtpd) gets soft = hard in its child, before exec;
 *     every other service keeps the soft limit ternd started with, so a
 *     library that still uses select() never sees a descriptor above
 *     FD_SETSIZE there.
 */
#include "compat.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

#include "master/ternd.h"
#include "util/log.h"

/* fs.nr_open: no process may have a limit above it. */
static rlim_t nr_open(void)
{
	FILE *f = fopen("/proc/sys/fs/nr_open", "re");
	char line[32];
	char *end;
	if (f == NULL)
		return NOFILE_WANT;
	bool ok = fgets(line, sizeof(line), f) != NULL;
	fclose(f);
	if (!ok)
		return NOFILE_WANT;
	errno = 0;
	unsigned long v = strtoul(line, &end, 10);
	if (errno != 0 || end == line || v == 0)
		return NOFILE_WANT;
	return (rlim_t)v;
}

void nofile_init(struct master *m)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0) {
		msg_warn("getrlimit RLIMIT_NOFILE: %m");
		return;
	}
	rlim_t want = NOFILE_WANT, max = nr_open();
	if (want > max)
		want = max;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want) {
		int err = EPERM;
		if (m->root) {
			struct rlimit up = { .rlim_cur = rl.rlim_cur, .rlim_max = want };
			if (setrlimit(RLIMIT_NOFILE, &up) == 0) {
				msg_info("open-file hard limit raised from %lu to %lu for smtpd's sessions",
					 (unsigned long)rl.rlim_max, (unsigned long)want);
				return;
			}
			err = errno;
		}
		errno = err;
		/* A few descriptors go to listeners, logs, queue files and lookups. */
		msg_warn("open-file hard limit is %lu and cannot be raised (%m): smtpd holds at "
			 "most about %lu sessions, then answers 421; raise the hard limit to %lu "
			 "(ulimit -Hn, systemd LimitNOFILE=, limits.conf nofile)",
			 (unsigned long)rl.rlim_max,
			 rl.rlim_max > 64 ? (unsigned long)rl.rlim_max - 64 : 0UL, (unsigned long)want);
	}
}

void nofile_for_service(const struct run *r)
{
	struct rlimit rl;
	if (r->svc->type != SVC_INET || getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	if (rl.rlim_max == RLIM_INFINITY)
		rl.rlim_max = nr_open();	/* soft may not exceed fs.nr_open */
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);	/* cannot fail: soft <= hard */
	}
}
