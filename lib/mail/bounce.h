/*
 * bounce.h - delivery status notifications (RFC 3464): bounces, delay
 * warnings and success notices.
 *
 * Mail layer. bounce_compose() is pure text generation; bounce_send()
 * hands the notice to cleanup (CLEANUP_BOUNCE) with the null sender, so
 * it is queued like any other message. Runs in the queue manager
 * (mail_owner). Parameters read by bounce_send(): myhostname, myorigin,
 * 2bounce_notice_recipient, bounce_size_limit.
 */
#ifndef TERN_MAIL_BOUNCE_H
#define TERN_MAIL_BOUNCE_H

#include <stddef.h>
#include <time.h>

#include "util/buf.h"

enum bounce_kind {
	BOUNCE_FAILED,		/* Action: failed, "Undelivered Mail Returned to Sender" */
	BOUNCE_DELAYED,		/* Action: delayed, a delay warning */
	BOUNCE_DELIVERED,	/* Action: delivered, NOTIFY=SUCCESS */
};

struct bounce_rcpt {
	const char *address;	/* final recipient */
	const char *orcpt;	/* ORCPT ("rfc822;addr") or NULL */
	const char *status;	/* enhanced status code, e.g. "5.1.1" */
	const char *diag;	/* one line, e.g. "unknown user: \"x\"" */
	const char *action;	/* NULL: the kind's; "relayed" for a DELIVERED notice of
				   mail handed to a next hop that does not do DSN */
	const char *remote_mta;	/* host that answered (Remote-MTA: dns; HOST), NULL/"" none */
	const char *smtp_diag;	/* its reply, "550 5.1.1 <x@y>: unknown": Diagnostic-Code:
				   smtp; ... instead of X-Tern; diag. NULL/"" none */
};

struct bounce_msg {
	enum bounce_kind kind;
	const char *reporting_mta;	/* myhostname */
	const char *queue_id;		/* of the original message */
	const char *sender;		/* envelope sender of the original ("" = <>) */
	const char *to;			/* who receives this notice */
	const char *from;		/* From: address, e.g. MAILER-DAEMON@host */
	const char *envid;		/* ENVID or NULL */
	const char *boundary;		/* MIME boundary, unique per notice */
	time_t arrival;			/* arrival of the original */
	time_t now;			/* Date: of the notice */
	time_t retry_until;		/* DELAYED: when the message expires (0: omit) */
	int ret_full;			/* RET=FULL: return the whole message */
	const char *message;		/* original message (headers and body, LF lines) */
	size_t message_len;
	size_t size_limit;		/* bounce_size_limit: larger bodies give headers only */
	const struct bounce_rcpt *rcpts;
	size_t nrcpt;
	int postmaster_copy;		/* notify_classes copy: "Postmaster Copy: ..." subject */
};

/* The whole notice (headers and body, LF line ends) appended to out. */
void bounce_compose(const struct bounce_msg *m, struct buf *out);

/* RFC 5322 date in the local time zone, e.g. "Wed, 25 Nov 2026 14:49:50 +0000". */
void bounce_date(time_t when, struct buf *out);

/*
 * Queue a notice for the original message. m->to, m->from,
 * m->reporting_mta, m->boundary and m->now may be left NULL/0: they are
 * filled in from main.cf (a bounce of a bounce goes to
 * 2bounce_notice_recipient when notify_classes lists 2bounce or bounce
 * and is discarded otherwise, with sender double-bounce@$myorigin, and a
 * failure of that is only logged). After a bounce or a delay warning to
 * the sender, the postmaster gets a copy with the headers only when
 * notify_classes lists bounce (bounce_notice_recipient) or delay
 * (delay_notice_recipient); a failure of the copy is only logged.
 * Returns 0 and the new queue id, 1 when the notice was intentionally
 * dropped, -1 with a reason on failure.
 */
int bounce_send(const struct bounce_msg *m, char *queue_id, size_t idlen, struct buf *err);

/* Does notify_classes list CLASS ("bounce", "delay", "resource", ...)? */
int bounce_notify_class(const char *cls);

/*
 * notify_classes resource and software: a short notice to
 * error_notice_recipient, from double-bounce@, that the message QUEUE_ID
 * (a queue id or a maildrop file name) was not delivered, and WHAT
 * happened. Nothing when CLS is not listed; at most one notice per class
 * a minute from each process (a full disk must not flood the
 * postmaster); a failure is only logged. 1 when a notice was queued.
 * Not thread-safe.
 */
int bounce_error_notice(const char *cls, const char *queue_id, const char *what);

/* The sender that marks a bounce of a bounce: "double-bounce@$myorigin". */
void bounce_double_sender(struct buf *out);

#endif
