/*
 * param_maps.c - a parameter's tables kept open, reopened after a reload
 * or a rebuild of their files, closed at exit (see param_maps.h).
 *
 * Mail layer. Runs in the calling process with its privileges; opens
 * only the tables the parameter names.
 */
#include "compat.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mail/config.h"
#include "mail/param_maps.h"
#include "util/log.h"
#include "util/map.h"
#include "util/mem.h"

/* Every list opened so far, closed by one exit handler. */
static struct param_maps *opened;

static void close_all(void)
{
	for (struct param_maps *pm = opened; pm != NULL; pm = pm->next)
		param_maps_close(pm);
}

static long now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec;
}

void param_maps_close(struct param_maps *pm)
{
	maplist_close(pm->list);
	pm->list = NULL;
	free(pm->spec);
	pm->spec = NULL;
	pm->broken = false;
}

static void reopen(struct param_maps *pm, const char *spec)
{
	param_maps_close(pm);
	pm->spec = xstrdup(spec);
	pm->checked = now_seconds();
	if (!pm->registered) {
		if (opened == NULL)
			atexit(close_all);
		pm->next = opened;
		opened = pm;
		pm->registered = true;
	}
	if (*spec == '\0')
		return;
	struct buf err = BUF_INIT;
	pm->list = maplist_open(spec, 0, &err);
	if (pm->list == NULL) {
		msg_warn("%s: %s", pm->param, buf_str(&err));
		pm->broken = true;
	}
	buf_free(&err);
}

/* Rebuilt since opened (or still broken)? Looked at once a second at most. */
static bool stale(struct param_maps *pm)
{
	long now = now_seconds();
	if (now == pm->checked)
		return false;
	pm->checked = now;
	return pm->broken || (pm->list != NULL && maplist_changed(pm->list));
}

void param_maps_recheck(void)
{
	for (struct param_maps *pm = opened; pm != NULL; pm = pm->next)
		pm->checked = -1;
}

int param_maps_lookup(struct param_maps *pm, const char *key, struct buf *value)
{
	const char *spec = cfg_str(pm->param);
	if (pm->spec == NULL || strcmp(pm->spec, spec) != 0 || stale(pm))
		reopen(pm, spec);
	if (pm->broken)
		return -1;
	if (pm->list == NULL)
		return 0;
	int rc = maplist_lookup(pm->list, key, value);
	if (rc < 0)
		msg_warn("%s lookup of %s failed: %s", pm->param, key, maplist_error(pm->list));
	return rc;
}
