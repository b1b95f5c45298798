/*
 * qcorrupt.h - the queue's corrupt/ directory: what is in it, and
 * keeping it within corrupt_queue_limit files.
 *
 * Mail layer. The trim runs as mail_owner (pickup, the queue manager);
 * the scan as the caller of tern check.
 */
#ifndef TERN_MAIL_QCORRUPT_H
#define TERN_MAIL_QCORRUPT_H

#include <time.h>

struct qcorrupt_scan {
	long count;		/* regular files in corrupt/ */
	time_t oldest;		/* change time of the oldest (when it was set aside) */
	char oldest_name[256];
};

/*
 * Count the regular files of DIR (a corrupt/ directory). 0, or -1 with
 * errno when DIR cannot be read.
 */
int qcorrupt_scan(const char *dir, struct qcorrupt_scan *scan);

/*
 * Keep at most LIMIT regular files in DIR (LIMIT 0: no bound): remove
 * the oldest by change time, each with a log line. Returns how many
 * were removed, or -1 when DIR cannot be read (logged).
 */
int qcorrupt_trim(const char *dir, long limit);

#endif
