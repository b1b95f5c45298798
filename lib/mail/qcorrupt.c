/*
 * qcorrupt.c - count the files in the queue's corrupt/ directory and
 * keep their number within a bound (see qcorrupt.h).
 *
 * Mail layer. qcorrupt_trim runs as mail_owner in pickup and the queue
 * manager, right after they set a file aside; qcorrupt_scan runs as the
 * caller of tern check. The age of a file is its change time, which the
 * rename into corrupt/ sets: the file set aside longest ago goes first,
 * whatever its content's age.
 */
#include "compat.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mail/qcorrupt.h"
#include "util/log.h"
#include "util/mem.h"

struct entry {
	char *name;
	struct timespec when;
};

static int by_age(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	if (x->when.tv_sec != y->when.tv_sec)
		return x->when.tv_sec < y->when.tv_sec ? -1 : 1;
	if (x->when.tv_nsec != y->when.tv_nsec)
		return x->when.tv_nsec < y->when.tv_nsec ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* The regular files of the open directory D, oldest first. */
static struct entry *list_files(DIR *d, size_t *count)
{
	struct entry *list = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	struct stat st;

	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		/* Never follow a link: only what is really in corrupt/ counts. */
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			list = xreallocarray(list, cap, sizeof(*list));
		}
		list[n].name = xstrdup(de->d_name);
		list[n].when = st.st_ctim;
		n++;
	}
	if (n > 1)
		qsort(list, n, sizeof(*list), by_age);
	*count = n;
	return list;
}

static void free_list(struct entry *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(list[i].name);
	free(list);
}

int qcorrupt_scan(const char *dir, struct qcorrupt_scan *scan)
{
	size_t n;
	DIR *d = opendir(dir);

	memset(scan, 0, sizeof(*scan));
	if (d == NULL)
		return -1;
	struct entry *list = list_files(d, &n);
	closedir(d);
	scan->count = (long)n;
	if (n > 0) {
		scan->oldest = list[0].when.tv_sec;
		strlcpy(scan->oldest_name, list[0].name, sizeof(scan->oldest_name));
	}
	free_list(list, n);
	return 0;
}

int qcorrupt_trim(const char *dir, long limit)
{
	size_t n;
	int removed = 0;
	DIR *d;

	if (limit <= 0)
		return 0;
	if ((d = opendir(dir)) == NULL) {
		msg_warn("cannot read %s to keep it within corrupt_queue_limit: %m", dir);
		return -1;
	}
	struct entry *list = list_files(d, &n);
	for (size_t i = 0; n - i > (size_t)limit; i++) {
		if (unlinkat(dirfd(d), list[i].name, 0) == 0) {
			msg_warn("%s/%s: removed: more than corrupt_queue_limit (%ld) files in %s", dir,
				 list[i].name, limit, dir);
			removed++;
		} else if (errno != ENOENT) {
			msg_warn("%s/%s: cannot remove it (corrupt_queue_limit): %m", dir, list[i].name);
		}
	}
	closedir(d);
	free_list(list, n);
	return removed;
}
