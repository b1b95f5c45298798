/*
 * qadmin.h - the queue administrator's operations on one message by
 * queue id: delete, put on hold, release from hold, requeue (postsuper
 * -d, -h, -H, -r, which ternqueue offers).
 *
 * Mail layer. Runs with the caller's privileges, which must let it
 * rename and unlink in the queue directories (root or mail_owner).
 */
#ifndef TERN_MAIL_QADMIN_H
#define TERN_MAIL_QADMIN_H

#include <stddef.h>

#include "mail/qfile.h"
#include "util/buf.h"

enum qadmin_op { QADMIN_DELETE = 'd', QADMIN_HOLD = 'h', QADMIN_RELEASE = 'H', QADMIN_REQUEUE = 'r' };

/*
 * Apply op to the message id under queue_dir: 1 done, 0 not applicable
 * (no such message, already on hold, already on its way). A message
 * qmgr moves between being found and being acted on is looked for again.
 */
int qadmin_apply(const char *queue_dir, enum qadmin_op op, const char *id);

/*
 * Open the message id for reading (*q, in the queue *qname): 1 opened,
 * 0 no such message, -1 it cannot be read (err says why).
 */
int qadmin_open(const char *queue_dir, const char *id, struct qfile **q, const char **qname,
    struct buf *err);

/* Apply op to every message in the queue; the number done. */
size_t qadmin_apply_all(const char *queue_dir, enum qadmin_op op);

#endif
