/*
 * qmgr_flush.c - a flush limited to matching mail ("flush I|R|S substr"
 * on public/qmgr, sent by ternqueue -f -I/-R/-S and sendmail -qI/-qR/-qS),
 * and a flush of all of it by a qmgr that stops (qmgr_flush_all).
 *
 * Runs as mail_owner, in the child of qmgr that serves one public/qmgr
 * connection (qmgr_flush_all: in qmgr itself as it stops), with the
 * queue directory as working directory. The request
 * comes from anyone who can reach the public socket, so it is checked
 * strictly (one known letter, bounded length, printable characters
 * only); it can only make matching deferred mail due now, which is what
 * an unfiltered flush does to all of it. A matching file gets the
 * current time as its modification time (the next attempt time, see
 * qmgr_deliver.c); the caller then wakes the main loop, which moves
 * every due file of deferred/ to active/ as on any queue run.
 */
#include "compat.h"

#include <dirent.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>

#include "mail/mailq.h"
#include "mail/qfile.h"
#include "queue/qmgr.h"
#include "util/buf.h"
#include "util/log.h"

/* Case-insensitive strstr for addresses (sendmail matches them so). */
static bool contains(const char *hay, const char *needle, bool fold)
{
	size_t n = strlen(needle);

	if (!fold)
		return strstr(hay, needle) != NULL;
	for (; *hay; hay++)
		if (strncasecmp(hay, needle, n) == 0)
			return true;
	return n == 0;
}

int qmgr_flush_parse(const char *req, struct qmgr_filter *f)
{
	const char *p = req;

	if (strncmp(p, "flush ", 6) != 0)
		return -1;
	p += 6;
	f->negate = *p == '!';
	if (f->negate)
		p++;
	if (*p != 'I' && *p != 'R' && *p != 'S')
		return -1;
	f->what = *p++;
	if (*p++ != ' ' || *p == '\0' || strlen(p) > QMGR_FILTER_MAX)
		return -1;
	for (const char *c = p; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			return -1;
	strlcpy(f->substr, p, sizeof(f->substr));
	return 0;
}

bool qmgr_filter_match(const struct qmgr_filter *f, const struct mailq_entry *e)
{
	bool hit = false;

	switch (f->what) {
	case 'I':
		hit = contains(e->queue_id, f->substr, false);
		break;
	case 'S':
		hit = contains(e->sender, f->substr, true);
		break;
	case 'R':
		for (size_t i = 0; i < e->nrcpt && !hit; i++)
			hit = contains(e->rcpt[i].address, f->substr, true);
		break;
	}
	return hit != f->negate;
}

long qmgr_flush_matching(const struct qmgr_filter *f)
{
	struct mailq_list l;
	struct buf err = BUF_INIT, path = BUF_INIT;
	long count = 0;

	mailq_list_init(&l);
	if (mailq_scan(".", &l, &err) < 0) {
		msg_warn("flush: %s", buf_str(&err));
		buf_free(&err);
		return -1;
	}
	for (size_t i = 0; i < l.count; i++) {
		const struct mailq_entry *e = &l.e[i];
		if (strcmp(e->queue_name, "deferred") != 0 || !qmgr_filter_match(f, e))
			continue;
		buf_reset(&path);
		buf_printf(&path, "deferred/%s", e->queue_id);
		if (utimes(buf_str(&path), NULL) == 0) {
			msg_info("%s: flush requested (%s%c %s)", e->queue_id, f->negate ? "!" : "",
			    f->what, f->substr);
			count++;
		}
	}
	mailq_list_free(&l);
	buf_free(&err);
	buf_free(&path);
	return count;
}

long qmgr_flush_all(void)
{
	DIR *dp = opendir("deferred");
	struct dirent *de;
	struct buf path = BUF_INIT;
	long count = 0;

	if (dp == NULL) {
		msg_warn("flush: open directory deferred: %m");
		return -1;
	}
	/* No file is read: the name says it is a message, the time is all that changes. */
	while ((de = readdir(dp)) != NULL) {
		if (!qfile_id_valid(de->d_name))
			continue;
		buf_reset(&path);
		buf_printf(&path, "deferred/%s", de->d_name);
		if (utimes(buf_str(&path), NULL) == 0)
			count++;
	}
	closedir(dp);
	buf_free(&path);
	return count;
}
