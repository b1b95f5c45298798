/*
 * smtp.h - the interface between the smtp delivery program's main loop
 * (smtp.c: requests from qmgr over lproto, replies) and the delivery
 * itself (smtp_deliver.c: next hop to hosts, sessions, connection cache).
 *
 * Runs as mail_owner, one process per qmgr connection; see smtp.c.
 */
#ifndef TERN_SMTP_SMTP_H
#define TERN_SMTP_SMTP_H

#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"

struct qfile;

enum smtp_outcome { SMTP_PENDING, SMTP_SENT, SMTP_DEFER, SMTP_BOUNCE };

struct smtp_rcpt {
	long long index;		/* in the queue file */
	const char *address;
	const char *orcpt;		/* "" when none */
	int notify;			/* DSN_NOTIFY_* bits (mail/cleanup.h), 0 = not given */
	enum smtp_outcome outcome;
	char dsn[16];			/* enhanced status code, "2.0.0" */
	struct buf text;		/* for the log and bounces */
	char relay[300];		/* "mx.example.com[192.0.2.1]:25" or "none" */
	struct buf diag;		/* the remote reply, "550 5.1.1 <x@y>: unknown"; empty: none */
	char remote_mta[256];		/* host name for Remote-MTA; "" none */
	bool notify_passed;
	char tls[64];			/* "TLSv1.3 Verified" for the log line, "" without TLS */		/* the next hop accepted NOTIFY: no success notice from us */
};

struct smtp_message {
	const char *queue_id;
	struct qfile *q;		/* opened read-only */
	const char *sender;		/* "" = <> */
	const char *nexthop;		/* "example.com", "[host]:port", "host:port" */
	const char *transport;		/* "smtp" or "relay" */
	struct smtp_rcpt *rcpt;
	size_t n;
};

/* Once per process after the configuration is loaded (DNS, TLS). 0, or -1 with a reason. */
int smtp_deliver_init(struct buf *err);
/* Sets every recipient's outcome (never leaves SMTP_PENDING). */
void smtp_deliver(struct smtp_message *m);
/* Milliseconds until a cached idle connection must be closed; -1 none. */
int smtp_cache_timeout_ms(void);
/* Close the expired (all: every) cached connection. */
void smtp_cache_expire(bool all);

#endif
