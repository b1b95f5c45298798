/*
 * param_maps.h - the tables a parameter names (alias_maps,
 * virtual_alias_maps, canonical_maps, ...), kept open by a process that
 * looks them up often.
 *
 * Mail layer. Runs in the calling process (smtpd, pickup, qmgr's
 * delivery processes, local) with its privileges. The list is opened on
 * first use and kept. It is opened again when the parameter's value
 * changed (after a reload) and when one of its files was rebuilt or
 * modified since (ternmap, newaliases, makemap): Berkeley DB handles do
 * not see a table renamed over theirs. The files are looked at no more
 * than once a second (map_changed() is a stat() per table), so a rebuilt
 * table is used from the next lookup a second or so later, without a
 * reload. Every list is closed at exit, so Berkeley DB's memory is
 * released (it holds offsets, not pointers, which leak checkers cannot
 * follow).
 *
 *	static struct param_maps aliases = PARAM_MAPS_INIT(P_alias_maps);
 *	int rc = param_maps_lookup(&aliases, key, &value);
 */
#ifndef TERN_MAIL_PARAM_MAPS_H
#define TERN_MAIL_PARAM_MAPS_H

#include <stdbool.h>

#include "util/buf.h"

struct maplist;

struct param_maps {
	const char *param;	/* the parameter, set by PARAM_MAPS_INIT */
	/* the rest is private */
	char *spec;		/* value the list was opened with */
	struct maplist *list;	/* NULL: the value is empty, or broken */
	bool broken;		/* could not be opened: lookups fail */
	bool registered;	/* on the list closed at exit */
	long checked;		/* second (monotonic) the files were last looked at */
	struct param_maps *next;
};

#define PARAM_MAPS_INIT(name) { .param = (name) }

/*
 * Look key up in the parameter's tables: 1 found (value set), 0 not
 * found (also when the parameter is empty), -1 the tables cannot be
 * opened or a lookup failed (logged once per failure, with the reason).
 */
int param_maps_lookup(struct param_maps *pm, const char *key, struct buf *value);
/* Close the list now (it is opened again on the next lookup). */
void param_maps_close(struct param_maps *pm);
/*
 * Make the next lookup of every list look at its files, however recent
 * the last look: a process that serves one request after another (local,
 * qmgr's delivery processes) calls it before each, so that mail sent
 * after newaliases or ternmap returned sees the new table.
 */
void param_maps_recheck(void);

#endif
