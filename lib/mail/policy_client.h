/*
 * policy_client.h - the client side of Postfix's policy delegation
 * protocol (check_policy_service): a request is "name=value" lines ended
 * by an empty line, the answer "action=..." (and perhaps other
 * attributes) ended the same way.
 *
 * Mail layer. Runs in smtpd as mail_owner. policy_query() blocks (with a
 * deadline), so smtpd calls it on a worker thread; it needs nothing but
 * its arguments and keeps idle connections in a cache of its own behind
 * a mutex, so that any thread may call it.
 */
#ifndef TERN_MAIL_POLICY_CLIENT_H
#define TERN_MAIL_POLICY_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"

/* Where a policy server listens, and how it is asked. */
struct policy_target {
	char endpoint[256];	/* "inet:host:port" or "unix:/absolute/path" */
	unsigned timeout_s;	/* smtpd_policy_service_timeout: the whole round trip */
	unsigned max_idle_s;	/* smtpd_policy_service_max_idle */
	unsigned max_ttl_s;	/* smtpd_policy_service_max_ttl */
	unsigned try_limit;	/* smtpd_policy_service_try_limit (>= 1) */
	unsigned retry_delay_s;	/* smtpd_policy_service_retry_delay */
	unsigned request_limit;	/* smtpd_policy_service_request_limit (0: none) */
	char default_action[256];	/* smtpd_policy_service_default_action */
	char context[128];	/* smtpd_policy_service_policy_context ("" : not sent) */
};

/*
 * Parse a check_policy_service argument: "inet:host:port",
 * "unix:path" (a relative path is relative to queue_dir, as in
 * Postfix), or Postfix 3's "{ target, name=value, ... }" with the
 * per-service settings timeout, default_action, max_idle, max_ttl,
 * try_limit, retry_delay, request_limit and policy_context. t must hold
 * the main.cf defaults already. 0, or -1 with one line in err.
 */
int policy_target_parse(const char *arg, const char *queue_dir, struct policy_target *t,
		struct buf *err);

/* Append "name=value\n", with CR and LF in value (never in SMTP input) turned into spaces. */
void policy_request_add(struct buf *req, const char *name, const char *value);

/*
 * Parse an answer: 1 when data holds a complete one (lines up to an
 * empty line), with the action in action ("" if the server sent none);
 * 0 when more is needed; -1 when malformed (a line without '=').
 */
int policy_reply_parse(const char *data, size_t len, struct buf *action);

/*
 * Send request (ended by its empty line) and read the answer, within
 * t->timeout_s, reusing an idle connection to the same endpoint when
 * one is fresh enough and trying t->try_limit times. 0 with the action
 * in action, or -1 with why in err (the caller then uses the default
 * action). Thread-safe.
 */
int policy_query(const struct policy_target *t, const char *request, struct buf *action,
		struct buf *err);

/* Close every cached connection (tests; process exit does it anyway). */
void policy_client_flush(void);

#endif
