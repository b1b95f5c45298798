/*
 * lproto.h - the queue manager <-> delivery agent protocol (local, smtp).
 *
 * Mail layer, no privileges. qmgr connects to queue_directory/private/local
 * (a UNIX stream socket the master binds and hands to local, which runs
 * as root) or private/smtp-client (the smtp program, as mail_owner) and
 * sends one request per message (per next hop for smtp); the agent answers with exactly
 * one reply per recipient of the request, in any order, then qmgr may
 * send the next request on the same connection. Every message is a
 * length-checked frame of typed fields (util/frame.h):
 *
 *   request: "deliver", queue id, queue file path relative to
 *            queue_directory ("active/ID"), envelope sender, recipient
 *            count N, then N times (index in the queue file, address,
 *            ORCPT or ""), then hold (0 or 1), next hop ("" for
 *            local; "example.com", "[host]:port", "host:port"), transport
 *            ("" for local; "smtp" or "relay")
 *   reply:   "status", index, result (0 sent, 1 defer, 2 bounce),
 *            enhanced status code ("2.0.0"), one-line text for the log
 *            and for bounces ("delivered to maildir"), relay (what the
 *            log's relay= says: "mx.example.com[192.0.2.1]:25", "none",
 *            or "" for local), diagnostic (the remote server's reply for
 *            Diagnostic-Code:, "" none), remote MTA (host name for
 *            Remote-MTA:, "" none), flags (LREPLY_NOTIFY_PASSED), TLS
 *            ("TLSv1.3 Verified", "TLSv1.2 Untrusted", "" for none)
 *
 * Batches: a request with hold 1 says that another request follows on
 * the connection before qmgr reads any reply. local then delivers its
 * recipients but keeps their replies, and may keep its Maildir files
 * unsynced and out of new/; at the next request with hold 0 it makes
 * every delivery it kept durable at once (an fsync per file and one
 * fsync per Maildir's new/), then answers all the requests, in the
 * order they came. A connection that ends before that delivered none of
 * the kept Maildir files (local removes them); qmgr, which got no reply,
 * retries.
 *
 * local re-reads the recipient at each index from the queue file and
 * refuses a request whose addresses do not match, so qmgr cannot make it
 * deliver anything that is not in the queue.
 */
#ifndef TERN_MAIL_LPROTO_H
#define TERN_MAIL_LPROTO_H

#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"

#define LPROTO_MAX_RCPT	10000

enum lresult { LRESULT_SENT = 0, LRESULT_DEFER = 1, LRESULT_BOUNCE = 2 };

struct lreq_rcpt {
	long long index;
	struct buf address;
	struct buf orcpt;
};

struct lreq {
	struct buf queue_id;
	struct buf path;
	struct buf sender;
	size_t nrcpt;
	struct lreq_rcpt *rcpt;
	bool hold;		/* more requests follow before qmgr reads a reply */
	struct buf nexthop;	/* "" for local */
	struct buf transport;	/* "" for local; "smtp" or "relay" */
};

/* The next hop took NOTIFY with the recipient: it reports success, not us (RFC 3461 6.2.1). */
#define LREPLY_NOTIFY_PASSED	0x01
#define LREPLY_FLAGS_KNOWN	LREPLY_NOTIFY_PASSED

struct lreply {
	long long index;
	enum lresult result;
	struct buf dsn;
	struct buf text;
	struct buf relay;	/* "" for local */
	struct buf diag;	/* remote reply, "" none */
	struct buf remote_mta;	/* "" none */
	int flags;		/* LREPLY_* */
	struct buf tls;		/* TLS of the delivery for the log: "TLSv1.3 Verified", "" none */
};

void lreq_init(struct lreq *q);
void lreq_free(struct lreq *q);
void lreq_add_rcpt(struct lreq *q, long long index, const char *address, const char *orcpt);
void lreq_encode(const struct lreq *q, struct buf *frame);
/* 0 ok, -1 malformed (wrong tag or types, too many recipients, leftover bytes). */
int lreq_decode(const void *payload, size_t len, struct lreq *q);

void lreply_init(struct lreply *r);
void lreply_free(struct lreply *r);
void lreply_encode(const struct lreply *r, struct buf *frame);
int lreply_decode(const void *payload, size_t len, struct lreply *r);

#endif
