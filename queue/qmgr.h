/*
 * qmgr.h - shared declarations of the queue manager's files.
 * Runs as mail_owner (see qmgr.c).
 */
#ifndef TERN_QUEUE_QMGR_H
#define TERN_QUEUE_QMGR_H

#include <time.h>

/*
 * Deliver what is pending in queue_directory/active/ID, then remove the
 * file (nothing pending) or move it to deferred/ with its modification
 * time set to the next attempt. Runs in a child process of qmgr.
 * Returns the exit status for that child (0).
 */
int qmgr_deliver(const char *id);

/* Next attempt for a message of this age (queue_run_delay ... maximal_backoff_time). */
time_t qmgr_backoff(time_t age);

/* A configuration integer, or dflt when the parameter is not in the table. */
long long qmgr_cfg_int(const char *name, long long dflt);

#endif
