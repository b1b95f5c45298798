/*
 * qspace.h - is there room in the queue file system for new mail?
 * (queue_minfree, and Postfix's 1.5 x message_size_limit rule).
 *
 * Mail layer, no privileges of its own: statvfs() on queue_directory
 * with the caller's (smtpd's mail_owner, terndrop's submitting user),
 * counting the blocks available to an unprivileged user, as the writes
 * that follow will. smtpd asks at every MAIL FROM and answers 452 4.3.1
 * "Insufficient system storage"; terndrop asks once and exits 75. The
 * file system is looked at no more than once a second per process.
 */
#ifndef TERN_MAIL_QSPACE_H
#define TERN_MAIL_QSPACE_H

#include <stdbool.h>

#include "util/buf.h"

/*
 * The rule, without I/O: is avail bytes enough? Not when avail is at or
 * below minfree; not when size_limit (message_size_limit, 0 = none) is
 * at least two thirds of avail (Postfix's smtpd wants 1.5 x the limit
 * free).
 */
bool qspace_enough(unsigned long long avail, unsigned long long minfree,
    unsigned long long size_limit);

/*
 * Is there room in queue_dir? 1 yes, 0 no (one line in why, for the
 * log), -1 statvfs failed (why says so; callers then accept the mail:
 * the queue write itself fails safely on a full disk). The free space is
 * cached for a second per process.
 */
int qspace_check(const char *queue_dir, unsigned long long minfree,
    unsigned long long size_limit, struct buf *why);

#endif
