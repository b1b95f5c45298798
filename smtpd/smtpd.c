/*
 * smtpd.c - Tern's SMTP server.
 *
 * SYNOPSIS
 *	smtpd [-v] [-c config_dir] [-o name=value ...] [-l host:port ...]
 *
 * DESCRIPTION
 *	smtpd accepts mail over SMTP (RFC 5321 with PIPELINING, SIZE,
 *	8BITMIME, SMTPUTF8, DSN, ENHANCEDSTATUSCODES, CHUNKING, STARTTLS
 *	and AUTH) and queues it through cleanup, answering 250 only once
 *	the queue file is durable. One process serves every session of a
 *	service with an epoll event loop; a small pool of commit threads
 *	runs the fsyncs, another the AUTH exchanges with the SASL backend,
 *	and a third the DNS lookups of reject_unknown_sender_domain and
 *	reject_unknown_recipient_domain, so that sessions never wait for
 *	each other.
 *
 *	Normally ternd(8) starts smtpd with its listening sockets as
 *	descriptors 3, 4, ... (TERN_LISTEN_FDS says how many) and the
 *	service's TLS and AUTH columns in TERN_TLS and TERN_AUTH. For tests
 *	-l host:port binds a listener itself.
 *
 * SECURITY
 *	smtpd talks to the network and runs as mail_owner. ternd starts it
 *	as mail_owner, with the listening sockets and the TLS certificate
 *	and key files already open (a key may be readable by root only).
 *	Started as root by hand, it loads the TLS key and then drops to
 *	mail_owner (all ids, verified) before it accepts a connection.
 *
 * CONFIGURATION PARAMETERS
 *	See smtpd(8) in man/smtpd.8: every parameter read here and in the
 *	library modules it uses is listed there.
 */
#include "compat.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netdb.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "mail/config.h"
#include "mail/daemon.h"
#include "mail/qfile.h"
#include "mail/qrecycle.h"
#include "mail/sasl.h"
#include "mail/sasl_backend.h"
#include "smtpd/smtpd.h"
#include "util/log.h"
#include "util/mem.h"

struct smtpd_settings smtpd;
static int epfd = -1;

uint64_t smtpd_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void smtpd_watch_add(struct smtpd_watch *w, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.ptr = w};
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, w->fd, &ev) < 0)
		msg_fatal("epoll_ctl add: %m");
}

void smtpd_watch_mod(struct smtpd_watch *w, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.ptr = w};
	if (epoll_ctl(epfd, EPOLL_CTL_MOD, w->fd, &ev) < 0)
		msg_warn("epoll_ctl mod: %m");
}

void smtpd_watch_del(struct smtpd_watch *w)
{
	epoll_ctl(epfd, EPOLL_CTL_DEL, w->fd, NULL);
}

/* ---- configuration ---- */

static void settings(void)
{
	struct smtp_engine_cfg *e = &smtpd.engine;
	struct buf err = BUF_INIT;
	const struct daemon_info *di = daemon_info();

	smtpd.service = xstrdup(di->service ? di->service : "smtp");
	e->myhostname = xstrdup(cfg_str(P_myhostname));
	smtpd.banner_text = xstrdup(cfg_str(P_smtpd_banner));
	e->banner = smtpd.banner_text;
	e->helo_required = cfg_bool(P_smtpd_helo_required);
	e->recipient_limit = (unsigned)cfg_int(P_smtpd_recipient_limit);
	e->recipient_overshoot_limit = (unsigned)cfg_int(P_smtpd_recipient_overshoot_limit);
	e->message_size_limit = cfg_int(P_message_size_limit);
	e->line_limit = (unsigned)cfg_int(P_line_length_limit);
	e->soft_error_limit = (unsigned)cfg_int(P_smtpd_soft_error_limit);
	e->hard_error_limit = (unsigned)cfg_int(P_smtpd_hard_error_limit);
	e->error_sleep_ms = (unsigned)cfg_int(P_smtpd_error_sleep_time) * 1000;
	e->junk_command_limit = (unsigned)cfg_int(P_smtpd_junk_command_limit);
	e->forbid_bare_newline = cfg_bool(P_smtpd_forbid_bare_newline);
	e->forbid_unauth_pipelining = cfg_bool(P_smtpd_forbid_unauth_pipelining);
	e->strict_envelopes = cfg_bool(P_strict_rfc821_envelopes);
	e->vrfy_enabled = !cfg_bool(P_disable_vrfy_command);
	e->reject_min_user = !cfg_bool(P_allow_min_user);
	e->pipelining = true;
	e->chunking = true;
	e->dsn = true;
	e->smtputf8 = cfg_bool(P_smtputf8_enable);
	e->eightbitmime = true;

	smtpd.timeout_ms = (unsigned)cfg_int(P_smtpd_timeout) * 1000;
	smtpd.min_data_rate = (unsigned)cfg_int(P_smtpd_min_data_rate);
	smtpd.session_limit_ms = (uint64_t)cfg_int(P_smtpd_session_time_limit) * 1000;
	smtpd.starttls_timeout_ms = (unsigned)cfg_int(P_smtpd_starttls_timeout) * 1000;
	smtpd.tls_loglevel = (int)cfg_int(P_smtpd_tls_loglevel);
	smtpd.greet_pause_ms = (unsigned)cfg_int(P_smtpd_greet_pause) * 1000;
	smtpd.conn_count_limit = (unsigned)cfg_int(P_smtpd_client_connection_count_limit);
	smtpd.conn_rate_limit = (unsigned)cfg_int(P_smtpd_client_connection_rate_limit);
	smtpd.msg_rate_limit = (unsigned)cfg_int(P_smtpd_client_message_rate_limit);
	smtpd.rcpt_rate_limit = (unsigned)cfg_int(P_smtpd_client_recipient_rate_limit);
	smtpd.auth_rate_limit = (unsigned)cfg_int(P_smtpd_client_auth_rate_limit);
	smtpd.rate_window_ms = (unsigned)cfg_int(P_anvil_rate_time_unit) * 1000;
	smtpd.commit_threads = (unsigned)cfg_int(P_smtpd_commit_threads);
	smtpd.queue_dir = xstrdup(cfg_str(P_queue_directory));
	smtpd.queue_minfree = (unsigned long long)cfg_int(P_queue_minfree);
	smtpd.message_size_limit = (unsigned long long)cfg_int(P_message_size_limit);
	qfile_set_shared_sync(cfg_bool(P_smtpd_commit_syncfs));
	qrecycle_configure();
	if (cidr_list_add(&smtpd.limit_exceptions, cfg_list(P_smtpd_client_event_limit_exceptions), &err) > 0)
		msg_warn("smtpd_client_event_limit_exceptions: %s", buf_str(&err));
	buf_reset(&err);

	/*
	 * TLS. daemon_init() turned the service's tls column into
	 * smtpd_tls_security_level / smtpd_tls_wrappermode. An empty level
	 * (the default) offers STARTTLS once a certificate is configured.
	 */
	const char *level = cfg_str(P_smtpd_tls_security_level);
	smtpd.implicit_tls = cfg_bool(P_smtpd_tls_wrappermode);
	if (strcmp(level, "none") != 0 || smtpd.implicit_tls) {
		smtpd.tls = smtpd_tls_init(smtpd.implicit_tls || strcmp(level, "encrypt") == 0, &err);
		if (err.len > 0)
			msg_warn("TLS is off: %s", buf_str(&err));
	}
	buf_reset(&err);
	if (smtpd.tls == NULL && (smtpd.implicit_tls || strcmp(level, "encrypt") == 0))
		msg_fatal_status(EX_CONFIG, "TLS is required on this service but no certificate is usable "
				"(smtpd_tls_cert_file)");
	e->starttls = smtpd.tls != NULL && !smtpd.implicit_tls;
	e->tls_required = strcmp(level, "encrypt") == 0;

	/* AUTH (the service's auth column arrives as smtpd_sasl_auth_enable). */
	bool auth = cfg_bool(P_smtpd_sasl_auth_enable);
	if (auth) {
		if (sasl_server_init(&err) == 0) {
			/* What the backend has, less what the security options forbid. */
			struct buf m = BUF_INIT;
			sasl_mechanisms_allowed(sasl_server_mechanisms(false),
						cfg_list(P_smtpd_sasl_security_options), &m);
			smtpd.auth_mechs = xstrdup(buf_str(&m));
			sasl_mechanisms_allowed(sasl_server_mechanisms(true),
						cfg_list(P_smtpd_sasl_tls_security_options), &m);
			smtpd.auth_mechs_tls = xstrdup(buf_str(&m));
			buf_free(&m);
			e->auth = true;
			e->auth_mechanisms = smtpd.auth_mechs;
			e->auth_mechanisms_tls = smtpd.auth_mechs_tls;
			if (*smtpd.auth_mechs_tls == '\0' && (*smtpd.auth_mechs == '\0' || e->tls_required
									|| cfg_bool(P_smtpd_tls_auth_only)))
				msg_warn("AUTH is never offered: smtpd_sasl_security_options and "
					 "smtpd_sasl_tls_security_options leave none of: %s",
					 sasl_server_mechanisms(true));
		} else {
			msg_warn("AUTH is off: %s", buf_str(&err));
		}
	}
	e->auth_required = di->auth == SVC_AUTH_REQUIRED;
	if (e->auth_required && !e->auth)
		msg_warn("service %s requires AUTH but AUTH is off: all mail will be refused", smtpd.service);
	e->tls_auth_only = cfg_bool(P_smtpd_tls_auth_only);
	e->broken_sasl_auth_clients = cfg_bool(P_broken_sasl_auth_clients);
	smtpd.sasl_threads = (unsigned)cfg_int(P_smtpd_sasl_threads);
	smtpd.dns_threads = (unsigned)cfg_int(P_smtpd_dns_threads);
	smtpd.sasl_failure_delay_ms = (unsigned)cfg_int(P_smtpd_sasl_failure_delay) * 1000;
	smtpd.sasl_failure_max_delay_ms = (unsigned)cfg_int(P_smtpd_sasl_failure_max_delay) * 1000;
	buf_reset(&err);

	smtpd.policy = smtp_policy_new(&err);
	if (smtpd.policy == NULL)
		msg_error("configuration error, all mail will be refused with 451 4.3.5: %s", buf_str(&err));
	buf_reset(&err);
	/* Mail that the milters cannot see is refused, never let through unfiltered. */
	if (milter_cfg_load(P_smtpd_milters, &smtpd.milters, &err) != 0 ||
	    milter_cfg_resolve(&smtpd.milters, &err) != 0 ||
	    (smtpd.milters.n > 0 && *smtpd.milters.header_checks != '\0' &&
	     (smtpd.milter_header_checks = maplist_open(smtpd.milters.header_checks, 0, &err)) == NULL)) {
		msg_error("configuration error, all mail will be refused with 451 4.3.5: %s", buf_str(&err));
		smtp_policy_free(smtpd.policy);
		smtpd.policy = NULL;
	}
	buf_free(&err);
}

/* ---- listeners ---- */

struct listener {
	struct smtpd_watch w;
	char *addr;
};

static struct listener *listeners;
static int nlisteners;
static uint64_t paused_until;	/* out of descriptors: listeners off until then */
static int batch_events;		/* events of the loop's last epoll_wait */

static void listeners_events(uint32_t ev)
{
	for (int i = 0; i < nlisteners; i++)
		smtpd_watch_mod(&listeners[i].w, ev);
}

/*
 * No new sessions: at a stop, and at a reload, where ternd keeps the
 * sockets open for the next generation (a client waits in the backlog,
 * never sees a refusal) while this one finishes the sessions it has.
 */
static void close_listeners(void)
{
	for (int i = 0; i < nlisteners; i++) {
		smtpd_watch_del(&listeners[i].w);
		close(listeners[i].w.fd);
	}
	nlisteners = 0;
	paused_until = 0;
}

static void on_accept(struct smtpd_watch *w, uint32_t events)
{
	(void)events;
	/* Told to stop or reload since this batch of events came: the client
	 * waits in the backlog for the next smtpd, with the new settings. */
	if (daemon_stop)
		return;
	if (smtpd_conn_accept(w->fd, batch_events == 1) < 0 && paused_until == 0) {
		/* A level-triggered listener would wake us for nothing until a session ends. */
		listeners_events(0);
		paused_until = smtpd_now() + 250;
	}
}

static void add_listener(int fd, const char *addr)
{
	listeners = xreallocarray(listeners, (size_t)nlisteners + 1, sizeof(*listeners));
	struct listener *l = &listeners[nlisteners++];
	l->w.fd = fd;
	l->w.handler = on_accept;
	l->addr = xstrdup(addr);
}

/* -l host:port or [v6]:port: bind a listener ourselves (tests, manual runs). */
static int bind_listener(const char *spec)
{
	char host[256];
	const char *port;
	if (spec[0] == '[') {
		const char *end = strchr(spec, ']');
		if (end == NULL || end[1] != ':' || (size_t)(end - spec - 1) >= sizeof(host))
			return -1;
		memcpy(host, spec + 1, (size_t)(end - spec - 1));
		host[end - spec - 1] = '\0';
		port = end + 2;
	} else {
		const char *colon = strrchr(spec, ':');
		if (colon == NULL || (size_t)(colon - spec) >= sizeof(host))
			return -1;
		memcpy(host, spec, (size_t)(colon - spec));
		host[colon - spec] = '\0';
		port = colon + 1;
	}
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICHOST};
	struct addrinfo *res;
	if (getaddrinfo(host, port, &hints, &res) != 0)
		return -1;
	int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;
	if (fd >= 0)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (fd < 0 || bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 4096) < 0) {
		freeaddrinfo(res);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	freeaddrinfo(res);
	add_listener(fd, spec);
	return 0;
}

/* The sockets ternd bound for this service (descriptors 3, 4, ...). */
static void inherited_listeners(void)
{
	const struct daemon_info *di = daemon_info();
	for (int i = 0; i < di->nlisten; i++) {
		int fl = fcntl(di->listen[i].fd, F_GETFL);
		if (fl >= 0)
			fcntl(di->listen[i].fd, F_SETFL, fl | O_NONBLOCK);
		add_listener(di->listen[i].fd, di->listen[i].addr);
	}
}

/* ---- privileges ---- */

/* After the TLS key is loaded: the one privilege drop of every daemon. */
static void drop_privileges(void)
{
	struct buf err = BUF_INIT;
	if (geteuid() != 0)
		return;
	if (getpwnam(cfg_str(P_mail_owner)) != NULL
	    && getpwnam(cfg_str(P_mail_owner))->pw_uid == 0) {
		/* Only a hand-written main.cf names root: tern init run by root
		 * gives the instance the unprivileged tern account. */
		msg_warn("mail_owner is %s (uid 0): running with root privileges", cfg_str(P_mail_owner));
		return;
	}
	if (priv_drop(cfg_str(P_mail_owner), &err) < 0)
		msg_fatal_status(EX_NOPERM, "cannot run as mail_owner: %s", buf_str(&err));
	buf_free(&err);
}

/*
 * A table the policy reads (access maps, virtual_alias_maps) was rebuilt
 * by ternmap: build the policy again, so the new contents count without
 * a reload. Looked at once a second at most.
 */
static void refresh_policy(uint64_t now)
{
	static uint64_t last;
	if (smtpd.policy == NULL || now - last < 1000)
		return;
	last = now;
	if (!smtp_policy_changed(smtpd.policy))
		return;
	struct buf err = BUF_INIT;
	struct smtp_policy *p = smtp_policy_new(&err);
	if (p == NULL) {
		msg_warn("a table was rebuilt but cannot be used, the old one stays: %s", buf_str(&err));
	} else {
		smtp_policy_free(smtpd.policy);
		smtpd.policy = p;
	}
	buf_free(&err);
}

static void usage(void)
{
	fprintf(stderr, "usage: smtpd [-v] [-c config_dir] [-o name=value] [-l host:port]\n");
	exit(EX_USAGE);
}


int main(int argc, char **argv)
{
	/* The -l values; in a static so that an exit from deep inside still sees it in use. */
	static char **binds;
	size_t nbind = 0;
	int nargs = 0;

	/*
	 * -l host:port is ours (manual runs and tests); the rest is
	 * daemon_init()'s, moved down in argv itself (nargs <= i).
	 */
	for (int i = 0; i < argc; i++) {
		if (i > 0 && strcmp(argv[i], "-l") == 0) {
			if (i + 1 >= argc)
				usage();
			binds = xreallocarray(binds, nbind + 1, sizeof(*binds));
			binds[nbind++] = argv[++i];
		} else if (i > 0 && strncmp(argv[i], "-l", 2) == 0) {
			binds = xreallocarray(binds, nbind + 1, sizeof(*binds));
			binds[nbind++] = argv[i] + 2;
		} else {
			argv[nargs++] = argv[i];
		}
	}
	argv[nargs] = NULL;
	if (daemon_init(nargs, argv, "smtpd", DAEMON_KEEP_ROOT | DAEMON_CATCH_TERM) != nargs)
		usage();
	/* Tests make queue writes fail to see that no 250 goes out (qfile.h). */
	if (qfile_fault_from_env() != 0)
		msg_fatal_status(EX_USAGE, "bad TERN_QFILE_FAULT");

	/* Many sessions need many descriptors. */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0)
		msg_fatal("epoll_create1: %m");
	inherited_listeners();
	for (size_t i = 0; i < nbind; i++)
		if (bind_listener(binds[i]) < 0)
			msg_fatal_status(EX_UNAVAILABLE, "cannot listen on %s: %m", binds[i]);
	if (nlisteners == 0)
		msg_fatal_status(EX_USAGE, "no listening socket (not started by ternd and no -l)");

	settings();		/* loads the TLS key: before the privilege drop */
	daemon_files_close();	/* the key and certificate files ternd opened */
	drop_privileges();
	if (smtpd_commit_init(smtpd.commit_threads) < 0)
		msg_fatal("cannot start commit threads: %m");
	if (smtpd.engine.auth && smtpd_auth_init(smtpd.sasl_threads, smtpd.sasl_failure_delay_ms,
						 smtpd.sasl_failure_max_delay_ms) < 0)
		msg_fatal("cannot start AUTH threads: %m");
	if (smtpd_dns_init(smtpd.dns_threads) < 0)
		msg_fatal("cannot start DNS threads: %m");
	for (int i = 0; i < nlisteners; i++)
		smtpd_watch_add(&listeners[i].w, EPOLLIN);
	msg_info("daemon started: service %s, %d listener%s%s%s", smtpd.service, nlisteners,
			nlisteners == 1 ? "" : "s", smtpd.tls ? ", TLS" : "",
			smtpd.engine.auth ? ", AUTH" : "");

	struct epoll_event evs[256];
	uint64_t last_sweep = smtpd_now();
	bool draining = false;
	for (;;) {
		if (daemon_stop && !daemon_drain)
			break;
		if (daemon_drain && !draining) {
			close_listeners();
			draining = true;
			msg_info("reload: no new sessions; finishing %u in progress", smtpd_conn_count());
		}
		/* Each session ends by itself: QUIT, or its own timeouts (smtpd_timeout, ...). */
		if (draining && smtpd_conn_count() == 0 && !smtpd_commit_busy() && !smtpd_auth_busy()
		    && !smtpd_dns_busy())
			break;
		uint64_t now0 = smtpd_now();
		int timeout = smtpd_conn_timers(now0);
		smtpd_conn_reap();
		if (paused_until != 0) {
			if (now0 >= paused_until) {
				paused_until = 0;
				listeners_events(EPOLLIN);
			} else if (timeout < 0 || (uint64_t)timeout > paused_until - now0) {
				timeout = (int)(paused_until - now0);
			}
		}
		if (smtpd_pool_sleep())
			timeout = 0;	/* a worker finished while the loop was busy */
		int n = epoll_wait(epfd, evs, 256, timeout);
		if (n < 0 && errno != EINTR)
			msg_fatal("epoll_wait: %m");
		smtpd_pool_awake();
		refresh_policy(smtpd_now());
		batch_events = n;
		for (int i = 0; i < n; i++) {
			struct smtpd_watch *w = evs[i].data.ptr;
			w->handler(w, evs[i].events);
		}
		smtpd_conn_reap();
		uint64_t now = smtpd_now();
		if (now - last_sweep > 60000) {
			smtpd_anvil_sweep(now);
			last_sweep = now;
		}
	}
	/* Stop accepting; let commits, AUTH steps and lookups in flight finish so their clients get answers. */
	close_listeners();
	uint64_t deadline = smtpd_now() + 10000;
	while ((smtpd_commit_busy() || smtpd_auth_busy() || smtpd_dns_busy()) && smtpd_now() < deadline) {
		int n = epoll_wait(epfd, evs, 256, smtpd_pool_sleep() ? 0 : 100);
		smtpd_pool_awake();
		for (int i = 0; i < n; i++) {
			struct smtpd_watch *w = evs[i].data.ptr;
			w->handler(w, evs[i].events);
		}
		smtpd_conn_reap();
	}
	smtpd_conn_close_all();
	smtpd_conn_reap();
	msg_info("daemon stopped");
	smtp_policy_free(smtpd.policy);
	if (!smtpd_auth_busy())
		sasl_server_shutdown();	/* closes smtpd_sasl_password_maps */
	smtpd_auth_shutdown();
	free(binds);
	return 0;
}
