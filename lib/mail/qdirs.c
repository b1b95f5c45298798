/*
 * qdirs.c - the queue directory's subdirectories, their modes and
 * owners (see qdirs.h), created and checked in one place.
 *
 * Mail layer. Called by tern init (as the instance owner), tern check
 * and ternd (as root or the instance owner).
 */
#include "compat.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mail/qdirs.h"

const struct qdir qdir_table[] = {
	{ .name = "maildrop", .mode = 01730, .owner = QDIR_MAIL_DROP },
	{ .name = "public", .mode = 02710, .owner = QDIR_MAIL_DROP },
	{ .name = "private", .mode = 0700, .owner = QDIR_MAIL_OWNER },
	{ .name = "incoming", .mode = 0700, .owner = QDIR_MAIL_OWNER },
	{ .name = "active", .mode = 0700, .owner = QDIR_MAIL_OWNER },
	{ .name = "deferred", .mode = 0700, .owner = QDIR_MAIL_OWNER },
	{ .name = "hold", .mode = 0700, .owner = QDIR_MAIL_OWNER },
	{ .name = "corrupt", .mode = 0700, .owner = QDIR_MAIL_OWNER },
	{ .name = "defer", .mode = 0700, .owner = QDIR_MAIL_OWNER },
	{ .name = "recycle", .mode = 0700, .owner = QDIR_MAIL_OWNER },
	{ .name = "pid", .mode = 0755, .owner = QDIR_TOP_OWNER },
};
const unsigned qdir_count = sizeof(qdir_table) / sizeof(qdir_table[0]);

int qdirs_ids(const char *owner, const char *group, struct qdir_ids *ids, struct buf *err)
{
	struct passwd *pw = getpwnam(owner);
	if (pw == NULL) {
		buf_printf(err, "mail_owner %s: no such user\n", owner);
		return -1;
	}
	ids->uid = pw->pw_uid;
	ids->gid = ids->drop_gid = pw->pw_gid;
	ids->have_group = false;
	struct group *gr = group && *group ? getgrnam(group) : NULL;
	if (gr == NULL)
		return 0;
	ids->have_group = true;
	ids->group_gid = gr->gr_gid;
	if (geteuid() == 0 || getegid() == gr->gr_gid) {
		ids->drop_gid = gr->gr_gid;
		return 0;
	}
	gid_t groups[256];
	int n = getgroups(256, groups);
	for (int i = 0; i < n; i++)
		if (groups[i] == gr->gr_gid)
			ids->drop_gid = gr->gr_gid;
	return 0;
}

/* The owner and group a row asks for. */
static void want_ids(const struct qdir *q, const struct qdir_ids *ids, const struct stat *top,
		     uid_t *uid, gid_t *gid)
{
	switch (q->owner) {
	case QDIR_MAIL_OWNER:
		*uid = ids->uid, *gid = ids->gid;
		break;
	case QDIR_MAIL_DROP:
		*uid = ids->uid, *gid = ids->drop_gid;
		break;
	case QDIR_TOP_OWNER:
		*uid = top->st_uid, *gid = top->st_gid;
		break;
	}
}

/*
 * chown and chmod through a descriptor opened without following links, so
 * that root repairing an instance owned by a user can never be pointed
 * at another directory. chmod after chown: chown clears set-group-ID.
 */
static int set_owner_mode_of(const char *path, int oflags, uid_t uid, gid_t gid, mode_t mode)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | oflags);
	if (fd < 0)
		return -1;
	struct stat st;
	int rc = (fstat(fd, &st) == 0 && ((oflags & O_DIRECTORY) || S_ISREG(st.st_mode)) &&
		  fchown(fd, uid, gid) == 0 && (mode == 0 || fchmod(fd, mode) == 0)) ? 0 : -1;
	int saved = errno;
	close(fd);
	errno = saved;
	return rc;
}

static int set_owner_mode(const char *path, uid_t uid, gid_t gid, mode_t mode)
{
	return set_owner_mode_of(path, O_DIRECTORY, uid, gid, mode);
}

int qdirs_setup(const char *queue_dir, const struct qdir_ids *ids, int flags, struct buf *report)
{
	struct stat top, st;
	char path[4096];
	int problems = 0;

	if (stat(queue_dir, &top) < 0 || !S_ISDIR(top.st_mode)) {
		buf_printf(report, "queue_directory %s: %s\n", queue_dir,
			   errno ? strerror(errno) : "not a directory");
		return -1;
	}
	for (unsigned i = 0; i < qdir_count; i++) {
		const struct qdir *q = &qdir_table[i];
		uid_t uid = 0;
		gid_t gid = 0;
		want_ids(q, ids, &top, &uid, &gid);
		snprintf(path, sizeof(path), "%s/%s", queue_dir, q->name);
		if (lstat(path, &st) < 0) {
			if (errno == ENOENT && (flags & QDIRS_CREATE)) {
				if (mkdir(path, 0700) == 0 && set_owner_mode(path, uid, gid, q->mode) == 0)
					continue;
			}
			buf_printf(report, "%s: %s\n", path, strerror(errno));
			problems++;
			continue;
		}
		if (!S_ISDIR(st.st_mode)) {
			buf_printf(report, "%s: not a directory\n", path);
			problems++;
			continue;
		}
		/*
		 * A drop directory already in setgid_group is right even when this
		 * process (a user outside the group running tern check) could
		 * not have given it that group.
		 */
		if (q->owner == QDIR_MAIL_DROP && ids->have_group && st.st_gid == ids->group_gid)
			gid = st.st_gid;
		if (st.st_uid == uid && st.st_gid == gid && (st.st_mode & 07777) == q->mode)
			continue;
		if ((flags & QDIRS_FIX) && set_owner_mode(path, uid, gid, q->mode) == 0)
			continue;
		buf_printf(report, "%s: owner %ld:%ld mode %04o, want %ld:%ld mode %04o\n", path,
			   (long)st.st_uid, (long)st.st_gid, (unsigned)(st.st_mode & 07777),
			   (long)uid, (long)gid, (unsigned)q->mode);
		problems++;
	}
	return problems;
}

int qdirs_own(const char *path, uid_t uid, gid_t gid, mode_t mode, int flags, struct buf *report)
{
	bool file = flags & QDIRS_FILE;
	int oflags = file ? 0 : O_DIRECTORY;
	struct stat st;

	if (lstat(path, &st) < 0) {
		if (errno == ENOENT && (flags & QDIRS_CREATE)) {
			int made;
			if (file) {
				int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
					      mode ? mode : 0640);
				made = fd >= 0 && close(fd) == 0;
			} else {
				made = mkdir(path, 0700) == 0;
			}
			if (made && set_owner_mode_of(path, oflags, uid, gid, mode) == 0)
				return 0;
		}
		buf_printf(report, "%s: %s\n", path, strerror(errno));
		return 1;
	}
	if (file ? !S_ISREG(st.st_mode) : !S_ISDIR(st.st_mode)) {
		buf_printf(report, "%s: not a %s\n", path, file ? "plain file" : "directory");
		return 1;
	}
	if (st.st_uid == uid && st.st_gid == gid && (mode == 0 || (st.st_mode & 07777) == mode))
		return 0;
	if ((flags & QDIRS_FIX) && set_owner_mode_of(path, oflags, uid, gid, mode) == 0)
		return 0;
	buf_printf(report, "%s: owner %ld:%ld mode %04o, want %ld:%ld", path, (long)st.st_uid,
		   (long)st.st_gid, (unsigned)(st.st_mode & 07777), (long)uid, (long)gid);
	if (mode)
		buf_printf(report, " mode %04o", (unsigned)mode);
	buf_adds(report, "\n");
	return 1;
}
