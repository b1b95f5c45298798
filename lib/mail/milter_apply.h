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
#include "mail/milter_chain.h"
#include "mail/milter_proto.h"
#include "util/buf.h"
#include "util/map.h"

/* One message's edits. */
struct milter_apply {
	struct cleanup *c;
	/*
	 * milter_header_checks (NULL: none): each header a milter adds or
	 * changes is looked up; REJECT and DISCARD are kept here for the
	 * driver (the message is refused or dropped once the milters are
	 * done), HOLD quarantines, IGNORE drops the edit, REPLACE replaces
	 * it, REDIRECT makes its address the only recipient, WARN and INFO
	 * are logged.
	 */
	struct maplist *header_checks;
	const char *log_id;	/* for log lines: the queue id or the maildrop file */
	bool discard;
	struct buf reject;	/* non-empty: the reply to refuse the message with */
};

void milter_apply_init(struct milter_apply *a, struct cleanup *c, struct maplist *header_checks,
		       const char *log_id);
void milter_apply_free(struct milter_apply *a);
/*
 * first: the first REPLBODY chunk of this milter (the body is replaced
 * from it on). 0 done, -1 with a reason in why (the message fails
 * temporarily).
 */
int milter_apply_mod(struct milter_apply *a, const struct milter_mod *m, bool first, struct buf *why);
/*
 * The message's outcome once the milters are done: a CONTINUE becomes
 * what milter_header_checks said (REJECT or TEMPFAIL with *reply set to
 * its reply, or DISCARD); any other outcome stands.
 */
enum milter_outcome milter_apply_verdict(const struct milter_apply *a, enum milter_outcome o,
					 const char **reply);

#endif
