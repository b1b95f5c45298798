/*
 * qmgr_attempt.h - one delivery attempt of one message, shared by the
 * files of qmgr's delivery processes: qmgr_deliver.c (routing, the
 * attempt from opening the file to settling it), qmgr_agent.c (the
 * delivery agents: local, smtp) and qmgr_settle.c (notices, expiry,
 * log lines). Runs as mail_owner in a delivery process (qmgr_pool.c).
 */
#ifndef TERN_QUEUE_QMGR_ATTEMPT_H
#define TERN_QUEUE_QMGR_ATTEMPT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/time.h>

#include "util/buf.h"

struct qfile;
struct deferlog;

enum outcome { OUT_NONE, OUT_SENT, OUT_DEFER, OUT_BOUNCE };

struct rstate {
	enum outcome outcome;
	char relay[300];
	char dsn[16];
	struct buf text;
	struct buf diag;	/* the remote server's reply (Diagnostic-Code: smtp;), "" none */
	char remote_mta[256];	/* its host name (Remote-MTA:), "" none */
	int remote;		/* sent over SMTP: a success notice says "relayed" */
	int dsn_passed;		/* the next hop took NOTIFY: it reports success */
	char tls[64];		/* TLS of the SMTP delivery for the log, "" none */
	double t_agent;		/* when its request went to a delivery agent (0: none) */
	double t_done;		/* when the agent answered */
};

struct attempt {
	const char *id;
	struct qfile *q;
	size_t n;
	struct rstate *r;
	struct timeval arrival;
	double start;		/* when this attempt began */
	int expired;
	int mark_failed;	/* a done mark could not be written */
};

/* Seconds since the epoch, with microseconds. */
double attempt_now(void);
/* Set recipient i's outcome (relay, status code, text); clears the remote fields. */
void attempt_set(struct attempt *a, size_t i, enum outcome o, const char *relay, const char *dsn,
    const char *text);
/* Mark recipient i done in the file; -1 (logged) when it could not be: the attempt must stop. */
int attempt_mark(struct attempt *a, size_t i, char status);
/*
 * The log line of recipient i, in Postfix's shape:
 * "ID: to=<addr>, relay=R, delay=T, delays=a/b/c/d, dsn=X.Y.Z, status=S (text)".
 */
void attempt_log(const struct attempt *a, size_t i, const char *status);

/*
 * qmgr_agent.c: the delivery agents, each over one lproto connection
 * kept from message to message of the delivery process.
 */
struct agent;
extern struct agent agent_local, agent_smtp;
/*
 * Send one request for recipients idx[0..count) (hold: another request
 * follows before any reply is read; transport/nexthop: "" for local).
 * may_reconnect: a kept connection that the agent closed since is
 * replaced once. -1 when it could not be sent; its recipients are then
 * deferred.
 */
int agent_send(struct agent *ag, struct attempt *a, const size_t *idx, size_t count, bool hold,
    bool may_reconnect, const char *transport, const char *nexthop);
/*
 * Record each answer as it comes (a delivered recipient is marked before
 * the next answer is read); what got no answer is deferred. -1 when a
 * mark failed (the rest of the answers are read all the same).
 */
int agent_read(struct agent *ag, struct attempt *a, const size_t *idx, size_t count);
/* Is the connection open (a batch's later requests must go on it)? */
bool agent_connected(const struct agent *ag);
/*
 * How long to wait for the first answer when n requests were sent
 * together (a setsockopt only when it differs from the one last set).
 */
void agent_set_timeout(struct agent *ag, size_t n);
/* Defer every recipient of idx[] that has no outcome yet. */
void attempt_defer_rest(struct attempt *a, const size_t *idx, size_t count, const char *relay,
    const char *why);

/*
 * qmgr_settle.c: after the attempt: expiry, bounces (then their marks),
 * success notices, delay warnings, the deferral reasons for mailq in dl.
 * Returns how many recipients are still pending.
 */
size_t attempt_settle(struct attempt *a, struct deferlog *dl);

#endif
