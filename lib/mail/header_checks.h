/*
 * header_checks.h - what a header_checks(5) table says about one message
 * header: look the header up, and turn the table's result into an action.
 *
 * Mail layer; no I/O but the map lookup, no privileges. Made for
 * milter_header_checks (the headers a milter adds or changes), so the
 * actions are the ones Postfix applies there:
 *
 *   REJECT [text]        reject the message: "550 5.7.1 text", or the
 *                        enhanced code that starts text ("4.7.1 ..." gives 451)
 *   DISCARD [text]       accept and drop the message
 *   HOLD [text]          keep the message in the hold queue
 *   REDIRECT user@domain send the message to this address instead
 *   WARN [text]          log a warning, nothing else
 *   INFO [text]          log a note, nothing else
 *   IGNORE               drop this header (the milter's edit is not applied)
 *   REPLACE text         use text, a whole "Name: value" header, instead
 *   DUNNO, OK            as if no rule matched
 *
 * FILTER, PREPEND (which Postfix does not implement here either), BCC and
 * any unknown word are not acted on: the result is HC_DUNNO with a
 * warning for the caller to log, so a rule Tern cannot honour is visible
 * but never stops mail by surprise.
 *
 * Texts are made safe for an SMTP reply and a log line: control
 * characters (a folded header's newlines, which $N can copy) become
 * spaces, and a text is cut at HC_TEXT_MAX bytes.
 */
#ifndef TERN_MAIL_HEADER_CHECKS_H
#define TERN_MAIL_HEADER_CHECKS_H

#include "util/buf.h"
#include "util/map.h"

#define HC_TEXT_MAX	400	/* keeps "550 5.7.1 " + text within one 512-byte reply line */

enum hc_action {
	HC_DUNNO,		/* nothing to do (no match, DUNNO, OK, or see warning) */
	HC_IGNORE,		/* drop this header */
	HC_REPLACE,		/* text: the header to use instead */
	HC_INFO,		/* text: optional note to log */
	HC_WARN,		/* text: optional warning to log */
	HC_HOLD,		/* text: optional reason to log */
	HC_DISCARD,		/* text: optional reason to log */
	HC_REDIRECT,		/* text: the address */
	HC_REJECT,		/* code, dsn, text: the reply */
};

struct header_check {
	enum hc_action action;
	struct buf text;	/* see enum hc_action; "" when none was given */
	int code;		/* HC_REJECT: 550, or 451 for a 4.x.x code */
	char dsn[16];		/* HC_REJECT: "5.7.1" unless text started with one */
	struct buf warning;	/* non-empty: a rule Tern did not act on, and why */
	struct buf result;	/* the table's result as it was (for logs); "" without a match */
};

void header_check_init(struct header_check *hc);
void header_check_free(struct header_check *hc);

/* Turn a table result ("HOLD spam") into hc. Never fails (see warning). */
void header_check_parse(const char *result, struct header_check *hc);

/*
 * Look header up ("Name: value", folded lines joined with their line
 * breaks as in the message; a final line break is ignored) and parse the
 * result. Returns 1 when a rule matched, 0 when none did (HC_DUNNO), -1
 * when the table failed (reason in err): the caller defers the message,
 * as Postfix does.
 */
int header_checks_map(struct map *map, const char *header, struct header_check *hc,
		      struct buf *err);
/* The same over a list (milter_header_checks = regexp:/a, regexp:/b): first match wins. */
int header_checks_list(struct maplist *list, const char *header, struct header_check *hc,
		       struct buf *err);

/* Lower-case name for log lines: "reject", "hold", "warning", ... */
const char *header_check_action_name(enum hc_action action);

#endif
