/*
 * smtpd.h - what the files of smtpd share: the settings, the event loop
 * and the connection object.
 *
 * smtpd runs as mail_owner (never root): ternd binds the listening
 * sockets and passes them in; smtpd accepts connections, speaks SMTP
 * through the shared engine (lib/mail/smtp_engine.h), decides with
 * lib/mail/smtp_policy.h and queues through cleanup. One thread runs the
 * event loop for every session; a few commit threads make queue files
 * durable so that fsync never stalls the other sessions.
 */
#ifndef TERN_SMTPD_H
#define TERN_SMTPD_H

#include <stdbool.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "mail/smtp_engine.h"
#include "mail/smtp_policy.h"
#include "util/cidr.h"

struct smtpd_anvil_client;

struct smtpd_settings {
	struct smtp_engine_cfg engine;
	unsigned timeout_ms;			/* smtpd_timeout */
	unsigned greet_pause_ms;		/* smtpd_greet_pause (Tern) */
	unsigned conn_count_limit;		/* smtpd_client_connection_count_limit */
	unsigned conn_rate_limit;		/* per minute */
	unsigned msg_rate_limit;
	unsigned rcpt_rate_limit;
	unsigned rate_window_ms;		/* anvil_rate_time_unit */
	struct cidr_list limit_exceptions;	/* smtpd_client_event_limit_exceptions */
	unsigned commit_threads;		/* smtpd_commit_threads (Tern) */
	bool implicit_tls;			/* port 465 */
	SSL_CTX *tls;				/* NULL: no certificate */
	struct smtp_policy *policy;		/* NULL: configuration broken, refuse mail */
	const char *service;			/* for log lines */
	char *banner_text;
	char *auth_mechs;
	bool sasl_ready;
};

extern struct smtpd_settings smtpd;

/* Milliseconds on a monotonic clock. */
uint64_t smtpd_now(void);

/* Event loop (smtpd.c). */
struct smtpd_watch {
	void (*handler)(struct smtpd_watch *w, uint32_t events);
	int fd;
};
void smtpd_watch_add(struct smtpd_watch *w, uint32_t events);
void smtpd_watch_mod(struct smtpd_watch *w, uint32_t events);
void smtpd_watch_del(struct smtpd_watch *w);

/* Connections (smtpd_conn.c). */
/* Accept what is waiting; -1 when out of descriptors (pause the listeners). */
int smtpd_conn_accept(int listen_fd);
/* Time passed: timeouts and delayed replies; returns ms until the next event (-1: none). */
int smtpd_conn_timers(uint64_t now);
void smtpd_conn_commit_done(void *conn, enum smtp_commit result, const char *queue_id,
		const char *reason);
unsigned smtpd_conn_count(void);
/* Free the sessions closed during the last batch of events. */
void smtpd_conn_reap(void);
void smtpd_conn_close_all(void);

/* Commit threads (smtpd_commit.c). */
int smtpd_commit_init(unsigned threads);
/* Queue msg for commit; smtpd_conn_commit_done(conn, ...) follows on the loop thread. */
void smtpd_commit_submit(void *conn, void *msg);
bool smtpd_commit_busy(void);

/* TLS (smtpd_tls.c). */
SSL_CTX *smtpd_tls_init(struct buf *err);

/* Per-client limits (smtpd_anvil.c). 0 ok, else a reply was put in reply. */
struct smtpd_anvil_client *smtpd_anvil_connect(const char *addr, bool exempt, struct buf *reply);
void smtpd_anvil_disconnect(struct smtpd_anvil_client *c);
int smtpd_anvil_message(struct smtpd_anvil_client *c, struct buf *reply);
int smtpd_anvil_rcpt(struct smtpd_anvil_client *c, struct buf *reply);
void smtpd_anvil_sweep(uint64_t now);

#endif
