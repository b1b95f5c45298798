/*
 * qadmin.c - delete, hold, release or requeue one message by queue id
 * (qadmin.h), for ternqueue -d, -h, -H, -r.
 *
 * Mail layer; runs with the caller's privileges (root or mail_owner).
 * qmgr moves a message being retried between deferred/ and active/ at
 * any time, so a file found by id may be gone when it is acted on: the
 * operation then looks for it again (a few times), and a move that
 * failed for another reason is reported, not retried.
 */
#include "compat.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "mail/mailq.h"
#include "mail/qadmin.h"
#include "mail/qfile.h"
#include "util/buf.h"
#include "util/log.h"

/* True when the file was no longer there: qmgr moved it since it was found. */
static bool gone(const struct buf *path)
{
	return access(buf_str(path), F_OK) < 0 && errno == ENOENT;
}

/*
 * Move qdir/from/id into qdir/to/: 1 moved, -1 gone before the rename
 * (qmgr moved it since it was found), 0 not moved (err says why). The
 * rename is synced in both directories; should that fail, the message
 * has moved all the same and err says it may not outlive a crash.
 */
static int move(const char *qdir, const char *from, const char *to, const char *id, struct buf *err)
{
	struct buf path = BUF_INIT, fromdir = BUF_INIT, todir = BUF_INIT;
	int ret = 1;

	buf_printf(&fromdir, "%s/%s", qdir, from);
	buf_printf(&todir, "%s/%s", qdir, to);
	buf_printf(&path, "%s/%s", buf_str(&fromdir), id);
	if (qfile_move_nosync(buf_str(&path), buf_str(&todir), err) < 0)
		ret = gone(&path) ? -1 : 0;
	else if (qfile_sync_dir(buf_str(&todir), err) == 0)
		qfile_sync_dir(buf_str(&fromdir), err);
	buf_free(&path);
	buf_free(&fromdir);
	buf_free(&todir);
	return ret;
}

/* Apply op once: 1 done, 0 not applicable or failed, -1 the file was gone when acted on. */
static int apply_once(const char *qdir, enum qadmin_op op, const char *id)
{
	struct buf path = BUF_INIT, err = BUF_INIT;
	const char *qname;
	int ret = 0;

	if (mailq_find(qdir, id, &qname) < 0)
		return 0;
	switch (op) {
	case QADMIN_DELETE:
		buf_printf(&path, "%s/%s/%s", qdir, qname, id);
		if (unlink(buf_str(&path)) == 0) {
			deferlog_remove(qdir, id);
			msg_info("%s: removed (by ternqueue -d)", id);
			ret = 1;
		} else if (gone(&path)) {
			ret = -1;
		} else {
			buf_printf(&err, "cannot remove %s: %s", buf_str(&path), strerror(errno));
		}
		break;
	case QADMIN_HOLD:
		if (strcmp(qname, "hold") != 0 && (ret = move(qdir, qname, "hold", id, &err)) > 0)
			msg_info("%s: placed on hold", id);
		break;
	case QADMIN_RELEASE:
	case QADMIN_REQUEUE:
		if (op == QADMIN_RELEASE && strcmp(qname, "hold") != 0)
			break;
		if (strcmp(qname, "incoming") == 0 || strcmp(qname, "active") == 0)
			break;	/* already on its way */
		/* incoming/ is scanned every second: delivery starts at once. */
		if ((ret = move(qdir, qname, "incoming", id, &err)) > 0)
			msg_info("%s: %s", id, op == QADMIN_RELEASE ? "released from hold" : "requeued");
		break;
	}
	if (err.len && ret >= 0)
		fprintf(stderr, "ternqueue: %s: %s\n", id, buf_str(&err));
	buf_free(&path);
	buf_free(&err);
	return ret;
}

int qadmin_open(const char *qdir, const char *id, struct qfile **q, const char **qname, struct buf *err)
{
	struct buf path = BUF_INIT;
	int ret = -1;

	for (int tries = 0; ret < 0; tries++) {
		if (!qfile_id_valid(id) || mailq_find(qdir, id, qname) < 0) {
			ret = 0;
			break;
		}
		buf_reset(&path);
		buf_printf(&path, "%s/%s/%s", qdir, *qname, id);
		buf_reset(err);
		if (qfile_open(buf_str(&path), false, q, err) == QF_OK)
			ret = 1;
		else if (tries == 2 || !gone(&path))
			break;
	}
	buf_free(&path);
	return ret;
}

int qadmin_apply(const char *qdir, enum qadmin_op op, const char *id)
{
	int ret = -1;

	if (!qfile_id_valid(id))
		return 0;
	for (int tries = 0; tries < 3 && ret < 0; tries++)
		ret = apply_once(qdir, op, id);
	return ret < 0 ? 0 : ret;
}

size_t qadmin_apply_all(const char *qdir, enum qadmin_op op)
{
	size_t count = 0;

	for (const char *const *q = mailq_id_queues; *q; q++) {
		struct buf dir = BUF_INIT;
		struct dirent *de;
		DIR *dp;

		buf_printf(&dir, "%s/%s", qdir, *q);
		if ((dp = opendir(buf_str(&dir))) != NULL) {
			while ((de = readdir(dp)) != NULL)
				if (de->d_name[0] != '.' && qfile_id_valid(de->d_name))
					count += (size_t)qadmin_apply(qdir, op, de->d_name);
			closedir(dp);
		}
		buf_free(&dir);
	}
	return count;
}
