/*
 * milter_apply.h - apply one end-of-message edit of a milter to a message
 * that cleanup holds (CLEANUP_FLAG_EDIT); the one place that turns the
 * milter protocol's modifications into cleanup edits, for smtpd and for
 * pickup alike.
 *
 * Mail layer; runs as mail_owner in the driver of the milter chain. The
 * edit comes from a milter and is untrusted: an address or ESMTP
 * argument that does not parse, or a header cleanup cannot store, makes
 * the message fail temporarily (the milter is broken, the mail is not
 * lost), with the reason in why.
 */
#ifndef TERN_MAIL_MILTER_APPLY_H
#define TERN_MAIL_MILTER_APPLY_H

#include <stdbool.h>

#include "mail/cleanup.h"
#include "mail/milter_proto.h"
#include "util/buf.h"

/*
 * first: the first REPLBODY chunk of this milter (the body is replaced
 * from it on). 0 done, -1 with a reason in why.
 */
int milter_apply_mod(struct cleanup *c, const struct milter_mod *m, bool first, struct buf *why);

#endif
