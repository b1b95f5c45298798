/*
 * qdirs.h - the queue directory's layout: every subdirectory with its
 * mode and owner, in one table that tern init, tern check and ternd use
 * (conf/tern-files says the same for make install; a test compares them).
 *
 * Mail layer. Creating directories for another owner needs root; run as
 * the instance owner it creates them as that user.
 */
#ifndef TERN_MAIL_QDIRS_H
#define TERN_MAIL_QDIRS_H

#include <stdbool.h>
#include <sys/types.h>

#include "util/buf.h"

enum qdir_owner {
	QDIR_MAIL_OWNER,	/* mail_owner, its group */
	QDIR_MAIL_DROP,		/* mail_owner, group setgid_group */
	QDIR_TOP_OWNER,		/* whoever owns queue_directory (root when installed) */
};

struct qdir {
	const char *name;
	mode_t mode;
	enum qdir_owner owner;
};

extern const struct qdir qdir_table[];
extern const unsigned qdir_count;

struct qdir_ids {
	uid_t uid;		/* mail_owner */
	gid_t gid;		/* its group */
	gid_t drop_gid;		/* setgid_group, or gid when this process may not give it */
	bool have_group;	/* setgid_group exists: group_gid is its gid */
	gid_t group_gid;	/* a drop directory in this group is right, whoever checks */
};

/*
 * The ids for OWNER (mail_owner) and GROUP (setgid_group). The group is
 * used when it exists and this process may give it (root, or a member);
 * otherwise the owner's own group, as in an instance run without root.
 */
int qdirs_ids(const char *owner, const char *group, struct qdir_ids *ids, struct buf *err);

#define QDIRS_CREATE	0x01	/* create what is missing */
#define QDIRS_FIX	0x02	/* repair owner and mode of what exists */
#define QDIRS_FILE	0x04	/* qdirs_own: PATH is a plain file, not a directory */

/*
 * Check (and with flags create/repair) QUEUE_DIR's subdirectories. Each
 * problem found and not repaired adds one line to report. Returns the
 * number of such problems, or -1 when the queue directory is unusable.
 */
int qdirs_setup(const char *queue_dir, const struct qdir_ids *ids, int flags, struct buf *report);

/*
 * One more path of mail_owner's outside the queue (data_directory,
 * local_maildir_base, maillog_file): PATH must be a directory (a plain
 * file with QDIRS_FILE) owned by UID:GID with MODE (0: any mode; a file
 * is then created 0640). Links are never followed. With flags it is
 * created or repaired; otherwise a mismatch is reported. Returns 0, or 1
 * after adding a line to report.
 */
int qdirs_own(const char *path, uid_t uid, gid_t gid, mode_t mode, int flags, struct buf *report);

#endif
