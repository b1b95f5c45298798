/*
 * qspace.c - free space in the queue file system (see qspace.h).
 *
 * Mail layer, no privileges of its own; statvfs() only, with the
 * caller's rights. The answer of statvfs is kept for a second (one
 * value per process; a process has one queue_directory), so that a
 * busy smtpd does not ask the kernel at every MAIL FROM.
 */
#include "compat.h"

#include <errno.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>

#include "mail/qspace.h"

bool qspace_enough(unsigned long long avail, unsigned long long minfree,
    unsigned long long size_limit)
{
	if (avail <= minfree)
		return false;
	/* limit * 1.5 >= avail, without overflow: limit >= ceil(avail * 2 / 3). */
	if (size_limit > 0 && size_limit >= avail / 3 * 2 + ((avail % 3) * 2 + 2) / 3)
		return false;
	return true;
}

static long now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec;
}

int qspace_check(const char *queue_dir, unsigned long long minfree,
    unsigned long long size_limit, struct buf *why)
{
	static long cached_at = -1;
	static unsigned long long cached_avail;
	long now = now_seconds();

	if (cached_at < 0 || now != cached_at) {
		struct statvfs sv;
		if (statvfs(queue_dir, &sv) != 0) {
			buf_printf(why, "statvfs %s: %s", queue_dir, strerror(errno));
			cached_at = -1;
			return -1;
		}
		cached_avail = (unsigned long long)sv.f_bavail * (unsigned long long)sv.f_frsize;
		cached_at = now;
	}
	if (qspace_enough(cached_avail, minfree, size_limit))
		return 1;
	if (cached_avail <= minfree)
		buf_printf(why, "not enough free space in the queue file system %s: "
		    "%llu bytes, queue_minfree is %llu", queue_dir, cached_avail, minfree);
	else
		buf_printf(why, "not enough free space in the queue file system %s: "
		    "%llu bytes < 1.5 x message_size_limit (%llu)", queue_dir, cached_avail, size_limit);
	return 0;
}
