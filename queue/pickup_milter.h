/*
 * pickup_milter.h - non_smtpd_milters in pickup (see pickup_milter.c).
 *
 * Part of pickup, runs as mail_owner.
 */
#ifndef TERN_QUEUE_PICKUP_MILTER_H
#define TERN_QUEUE_PICKUP_MILTER_H

#include <stdbool.h>
#include <stddef.h>

#include "mail/cleanup.h"
#include "util/buf.h"

enum pickup_milter_result {
	PICKUP_MILTER_OK,	/* commit (maybe without refused recipients) */
	PICKUP_MILTER_REJECT,	/* return the message to its sender */
	PICKUP_MILTER_TEMPFAIL,	/* leave it in maildrop/ */
	PICKUP_MILTER_DISCARD,	/* drop it */
};

/* Recipients a milter refused, each with the milter's reply. */
struct pickup_milter_refused {
	struct {
		char *addr, *reply;
	} *v;
	size_t n;
};

/* Read non_smtpd_milters; -1 (logged) when it does not parse: then every message waits. */
int pickup_milter_init(void);
/* Do messages go through milters (or wait for a broken setting to be fixed)? */
bool pickup_milter_active(void);
/*
 * c was opened with CLEANUP_FLAG_EDIT and has all the content (header
 * block closed). name: the maildrop file, for logs; login: the submitter.
 * The milters see the sender and recipients as cleanup has rewritten them.
 * reply: the milter's reply for REJECT/TEMPFAIL.
 */
enum pickup_milter_result pickup_milter_run(struct cleanup *c, const char *name, const char *login,
		struct pickup_milter_refused *refused, struct buf *reply);
void pickup_milter_refused_free(struct pickup_milter_refused *refused);

#endif
