/*
 * smtpd.h - what the files of smtpd share: the settings, the event loop
 * and the connection object.
 *
 * smtpd runs as mail_owner (never root): ternd binds the listening
 * sockets and passes them in; smtpd accepts connections, speaks SMTP
 * through the shared engine (lib/mail/smtp_engine.h), decides with
 * lib/mail/smtp_policy.h and queues through cleanup. One thread runs the
 * event loop for every session; worker pools make queue files durable,
 * run AUTH exchanges with the SASL backend and do the DNS lookups of the
 * restrictions, so that neither an fsync, a slow password check nor a
 * slow name server ever stalls the other sessions.
 */
#ifndef TERN_SMTPD_H
#define TERN_SMTPD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "mail/milter_cfg.h"
#include "mail/milter_chain.h"
#include "mail/smtp_engine.h"
#include "mail/smtp_policy.h"
#include "util/cidr.h"
#include "util/map.h"

struct smtpd_anvil_client;

struct smtpd_settings {
	struct smtp_engine_cfg engine;
	unsigned timeout_ms;			/* smtpd_timeout */
	unsigned min_data_rate;			/* smtpd_min_data_rate: bytes per second */
	uint64_t session_limit_ms;		/* smtpd_session_time_limit (Tern), 0: none */
	unsigned starttls_timeout_ms;		/* smtpd_starttls_timeout: a whole TLS handshake */
	int tls_loglevel;			/* smtpd_tls_loglevel */
	unsigned greet_pause_ms;		/* smtpd_greet_pause (Tern) */
	unsigned conn_count_limit;		/* smtpd_client_connection_count_limit */
	unsigned conn_rate_limit;		/* per minute */
	unsigned msg_rate_limit;
	unsigned rcpt_rate_limit;
	unsigned auth_rate_limit;		/* smtpd_client_auth_rate_limit */
	unsigned rate_window_ms;		/* anvil_rate_time_unit */
	char *queue_dir;			/* queue_directory: its free space decides MAIL */
	unsigned long long queue_minfree;	/* queue_minfree */
	unsigned long long message_size_limit;	/* for the 1.5 x rule */
	struct cidr_list limit_exceptions;	/* smtpd_client_event_limit_exceptions */
	unsigned commit_threads;		/* smtpd_commit_threads (Tern) */
	unsigned sasl_threads;			/* smtpd_sasl_threads (Tern) */
	unsigned dns_threads;			/* smtpd_dns_threads (Tern) */
	unsigned sasl_failure_delay_ms;		/* smtpd_sasl_failure_delay (Tern) */
	unsigned sasl_failure_max_delay_ms;	/* smtpd_sasl_failure_max_delay (Tern) */
	bool implicit_tls;			/* port 465 */
	SSL_CTX *tls;				/* NULL: no certificate */
	struct smtp_policy *policy;		/* NULL: configuration broken, refuse mail */
	const char *service;			/* for log lines */
	char *banner_text;
	char *auth_mechs;			/* without TLS (smtpd_sasl_security_options) */
	char *auth_mechs_tls;			/* with TLS (smtpd_sasl_tls_security_options) */
	bool sasl_ready;
	struct milter_cfg milters;		/* smtpd_milters; n == 0: none */
	struct maplist *milter_header_checks;	/* NULL: none */
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
/* Accept what is waiting (alone: the listener was the only event, accept one); -1 when out of descriptors (pause the listeners). */
int smtpd_conn_accept(int listen_fd, bool alone);
/* Time passed: timeouts and delayed replies; returns ms until the next event (-1: none). */
int smtpd_conn_timers(uint64_t now);
void smtpd_conn_commit_done(void *conn, enum smtp_commit result, const char *queue_id,
		const char *reason);
/*
 * A milter stage the session waited for was decided (smtpd_milter.c):
 * answer the command (v, reply as for smtp_engine_policy_done), or, for
 * the message, commit it or refuse it.
 */
void smtpd_conn_milter_done(void *conn, enum smtp_verdict v, const char *reply);
void smtpd_conn_milter_message_done(void *conn, enum milter_outcome o, const char *reply);
/* Worker jobs that refer to a session: it is freed only once none is left. */
void smtpd_conn_job_start(void *conn);
void smtpd_conn_job_done(void *conn);
/* A pending AUTH step finished (ends one job). */
void smtpd_conn_auth_done(void *conn, enum smtp_auth_status st, const char *data, size_t len);
/* The session's info while it waits for a policy verdict; NULL once it has ended. */
const struct smtp_session_info *smtpd_conn_waiting_info(void *conn);
/* A pending policy check was decided (ends one job; the session must not have ended). */
void smtpd_conn_policy_done(void *conn, enum smtp_verdict v, const char *reply);
/*
 * The session's DNS answers so far (NULL before its first lookup), so
 * that a sender domain is looked up once per session, not once per
 * recipient; smtpd_conn_dns_keep() stores them (copied).
 */
const struct smtp_policy_dns *smtpd_conn_dns_known(void *conn);
void smtpd_conn_dns_keep(void *conn, const struct smtp_policy_dns *dns);
unsigned smtpd_conn_count(void);
/* Free the sessions closed during the last batch of events. */
void smtpd_conn_reap(void);
void smtpd_conn_close_all(void);

/*
 * Worker pools (smtpd_work.c): run() on a worker thread, then done() on
 * the loop thread. Embed struct smtpd_job first in a job of your own.
 */
struct smtpd_job {
	struct smtpd_job *next;
	void (*run)(struct smtpd_job *j);	/* worker thread: touches no session */
	void (*done)(struct smtpd_job *j);	/* loop thread, afterwards; may free j */
};
struct smtpd_pool;
/* A pool of threads (>= 1) watched by the event loop; NULL with errno on failure. */
struct smtpd_pool *smtpd_pool_new(unsigned threads);
void smtpd_pool_submit(struct smtpd_pool *p, struct smtpd_job *j);
/* Jobs submitted whose done() has not run yet (false for NULL). */
bool smtpd_pool_busy(const struct smtpd_pool *p);
/*
 * The loop, just before epoll_wait: from now on workers wake it; true
 * when finished jobs wait already (then it must not block).
 */
bool smtpd_pool_sleep(void);
/* The loop, after epoll_wait: runs done() of the jobs finished meanwhile. */
void smtpd_pool_awake(void);

/* Commits on their own pool (smtpd_commit.c). */
int smtpd_commit_init(unsigned threads);
/* Queue msg for commit; smtpd_conn_commit_done(conn, ...) follows on the loop thread. */
void smtpd_commit_submit(void *conn, void *msg);
bool smtpd_commit_busy(void);

/*
 * AUTH (smtpd_auth.c): engine callbacks whose steps run on a pool of
 * threads (0: on the loop thread), and the per-address failure delay
 * (delay_ms 0: off).
 */
int smtpd_auth_init(unsigned threads, unsigned delay_ms, unsigned max_delay_ms);
bool smtpd_auth_busy(void);
void smtpd_auth_shutdown(void);
void *smtpd_auth_new(void *conn, const char *mech, const struct smtp_session_info *si);
enum smtp_auth_status smtpd_auth_step(void *auth, const char *data, size_t len,
		struct buf *challenge);
const char *smtpd_auth_username(void *auth);
void smtpd_auth_free(void *auth);
unsigned smtpd_auth_outcome(void *conn, const struct smtp_session_info *si, bool success);

/*
 * Policy checks that may need the DNS (smtpd_dns.c): the verdict now, or
 * SMTP_PENDING with a lookup on the DNS pool (threads 0: lookups on the
 * loop thread) and smtpd_conn_policy_done() later. smtpd.policy must
 * be set.
 */
enum smtpd_dns_stage { SMTPD_DNS_HELO, SMTPD_DNS_MAIL, SMTPD_DNS_RCPT };
int smtpd_dns_init(unsigned threads);
bool smtpd_dns_busy(void);
enum smtp_verdict smtpd_dns_check(void *conn, enum smtpd_dns_stage stage,
		const struct smtp_session_info *si, const char *rcpt, struct buf *reply);

/*
 * Milters (smtpd_milter.c): one chain per session when smtpd_milters is
 * set (smtpd_milter_new returns NULL otherwise). Events answer at once or
 * SMTP_PENDING, and then smtpd_conn_milter_done() follows.
 */
enum smtpd_milter_stage {
	SMTPD_M_NONE, SMTPD_M_CONNECT, SMTPD_M_HELO, SMTPD_M_MAIL, SMTPD_M_RCPT,
	SMTPD_M_DATA, SMTPD_M_UNKNOWN, SMTPD_M_MESSAGE,
};
struct smtpd_milter;
/* fd: the client's socket (for {daemon_addr}); si: the engine's, for the whole session. */
struct smtpd_milter *smtpd_milter_new(void *conn, int fd, const struct smtp_session_info *si,
		unsigned client_port);
/* The chain and m are released by smtpd_milter_reap, after the current batch of events. */
void smtpd_milter_free(struct smtpd_milter *m);
void smtpd_milter_reap(void);
/*
 * One command's event. arg: the recipient (RCPT) or the command line
 * (UNKNOWN). rejected (RCPT only): smtpd refused the recipient with the
 * reply already in reply; milters that asked to see refused recipients
 * see it, and the refusal stands.
 */
enum smtp_verdict smtpd_milter_event(struct smtpd_milter *m, enum smtpd_milter_stage st,
		const char *arg, bool rejected, struct buf *reply);
/*
 * The queue file made at MAIL FROM (the milters know its id), for the
 * message's cleanup; NULL when there is none. The caller owns it.
 */
struct qfile_writer *smtpd_milter_take_writer(struct smtpd_milter *m);
/* The transaction ended without a message (RSET, QUIT, a refusal). */
void smtpd_milter_abort(struct smtpd_milter *m);
/* A milter discarded the message: it is answered 250 and dropped. */
bool smtpd_milter_discarding(const struct smtpd_milter *m);
/*
 * The message msg (smtp_queue, opened for edits) is complete: the milters
 * see it and edit it; PENDING, then smtpd_conn_milter_message_done().
 */
enum milter_outcome smtpd_milter_message(struct smtpd_milter *m, void *msg, const char **reply);
/* The message was committed or dropped. */
void smtpd_milter_message_end(struct smtpd_milter *m);
/* Deadlines of the milters sessions wait for; ms until the next (-1: none). */
int smtpd_milter_timers(uint64_t now);

/* TLS (smtpd_tls.c); mandatory: TLS is required on this service (encrypt, wrapper mode). */
SSL_CTX *smtpd_tls_init(bool mandatory, struct buf *err);
/*
 * Instead of SSL_set_fd: the client's socket, read through a guard that
 * refuses a ClientHello declaring more than SMTPD_TLS_HELLO_MAX bytes
 * before OpenSSL sets memory aside for it. 0 ok, -1 out of memory.
 */
#define SMTPD_TLS_HELLO_MAX	16384
int smtpd_tls_attach(SSL *ssl, int fd);
/* Why the guard stopped the handshake; NULL when it did not. */
const char *smtpd_tls_refused(SSL *ssl);

/* Per-client limits (smtpd_anvil.c). 0 ok, else a reply was put in reply. */
struct smtpd_anvil_client *smtpd_anvil_connect(const char *addr, bool exempt, struct buf *reply);
void smtpd_anvil_disconnect(struct smtpd_anvil_client *c);
int smtpd_anvil_message(struct smtpd_anvil_client *c, struct buf *reply);
int smtpd_anvil_rcpt(struct smtpd_anvil_client *c, struct buf *reply);
int smtpd_anvil_auth(struct smtpd_anvil_client *c, struct buf *reply);
void smtpd_anvil_sweep(uint64_t now);

#endif
