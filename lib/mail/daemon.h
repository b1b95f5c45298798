/*
 * daemon.h - the one start-up skeleton of every Tern daemon (smtpd,
 * pickup, qmgr, local, ...), and the one privilege drop.
 *
 * Mail layer. A daemon is started by ternd(8), as root on a real host or
 * as the instance owner; daemon_init() leaves it running as mail_owner
 * unless it asked to keep root (local delivery only). Use:
 *
 *	int main(int argc, char **argv)
 *	{
 *		int first = daemon_init(argc, argv, "smtpd", 0);
 *		const struct daemon_info *di = daemon_info();
 *		for (int i = 0; i < di->nlisten; i++)
 *			... accept on di->listen[i].fd ...
 *	}
 *
 * daemon_init(), in this order:
 *  1. log_init("tern/NAME"): syslog's mail facility; standard error too
 *     when ternd runs in the foreground or the daemon was started by hand.
 *  2. options: -c DIR (config directory; else $TERN_CONFIG_DIR, else the
 *     default), -o name=value (override a parameter), -v (verbose); any
 *     other option is a usage error (exit 64). Returns the index of the
 *     first argument after the options.
 *  3. config_load() (exit 78 on a bad main.cf), log_set_file(maillog_file),
 *     then the service's tls/auth columns and -o overrides via cfg_set().
 *  4. the inherited sockets (see "Conventions with ternd" below).
 *  5. the privilege drop to mail_owner (priv_drop()), verified, unless
 *     DAEMON_KEEP_ROOT; chdir(queue_directory); umask 077; with
 *     DAEMON_DELIVERY (qmgr, local), the scheduling priority lowered by
 *     delivery_nice.
 *  6. signals: SIGPIPE ignored; SIGTERM terminates, or sets daemon_stop
 *     with DAEMON_CATCH_TERM so that an event loop can finish its current
 *     step. SIGHUP is ternd's reload: with DAEMON_CATCH_TERM it sets
 *     daemon_stop and daemon_drain ("stop taking new work, finish what is
 *     in hand, exit": an SMTP session in progress, a delivery); without,
 *     the daemon ends at once. ternd sends it to the daemon itself, never
 *     to its process group, so that helpers (a pipe delivery's command,
 *     a delivery child) are not disturbed.
 *
 * Conventions with ternd (the master side is master/ternd_spawn.c):
 *  - argv: the service table's command words, with "-c DIR" inserted
 *    after the program name.
 *  - listening sockets are descriptors 3, 4, ... (TERN_LISTEN_FDS says how
 *    many), non-blocking, already listening; TERN_LISTEN_ADDRS names them
 *    in the same order, separated by spaces ("127.0.0.1:25 [::1]:25", or
 *    a socket path). unix/public services get their one socket at 3 too.
 *  - TERN_SERVICE, TERN_SERVICE_TYPE, TERN_TLS, TERN_AUTH: the service's
 *    name, type and tls/auth columns (see services.h);
 *  - TERN_LOG_STDERR=1: log to standard error as well (tern start -f).
 *  - TERN_FILES: files ternd opened for the service before it dropped
 *    privileges (an inet service's TLS certificate and key files, which
 *    may be readable by root only): one "FD:PATH" per line; the daemon
 *    gets each with daemon_file(PATH).
 * daemon_init() removes these variables so that programs the daemon runs
 * (pipe deliveries) never see them.
 */
#ifndef TERN_MAIL_DAEMON_H
#define TERN_MAIL_DAEMON_H

#include <signal.h>
#include <stdbool.h>
#include <sys/types.h>

#include "mail/services.h"
#include "util/buf.h"

#define DAEMON_KEEP_ROOT	0x01	/* stay root if started as root (local) */
#define DAEMON_CATCH_TERM	0x02	/* SIGTERM sets daemon_stop */
#define DAEMON_NO_CHDIR		0x04	/* stay in the current directory */
#define DAEMON_DELIVERY		0x08	/* a delivery daemon: nice(delivery_nice) */

#define DAEMON_LISTEN_FD	3	/* first inherited listening socket */
#define DAEMON_MAX_LISTEN	64
#define DAEMON_ENV_SERVICE	"TERN_SERVICE"
#define DAEMON_ENV_TYPE		"TERN_SERVICE_TYPE"
#define DAEMON_ENV_FDS		"TERN_LISTEN_FDS"
#define DAEMON_ENV_ADDRS	"TERN_LISTEN_ADDRS"
#define DAEMON_ENV_TLS		"TERN_TLS"
#define DAEMON_ENV_AUTH		"TERN_AUTH"
#define DAEMON_ENV_STDERR	"TERN_LOG_STDERR"
#define DAEMON_ENV_FILES	"TERN_FILES"
#define DAEMON_MAX_FILES	16

struct daemon_listener {
	int fd;
	char *addr;		/* "127.0.0.1:25", "[::1]:587" or a socket path */
};

struct daemon_info {
	const char *name;	/* program name given to daemon_init */
	const char *service;	/* service table name (= name when run by hand) */
	enum svc_type type;
	enum svc_tls tls;	/* SVC_TLS_DEFAULT when run by hand */
	enum svc_auth auth;
	int nlisten;
	struct daemon_listener *listen;
	bool by_master;		/* started by ternd */
};

/* Set by SIGTERM (with DAEMON_CATCH_TERM), SIGINT or SIGHUP. */
extern volatile sig_atomic_t daemon_stop;
/* Set with daemon_stop by SIGHUP (a reload): finish the work in hand first. */
extern volatile sig_atomic_t daemon_drain;

int daemon_init(int argc, char **argv, const char *name, int flags);
const struct daemon_info *daemon_info(void);

/*
 * The accept loop of a daemon that serves each connection in a process
 * of its own (smtp, local): polls every listening socket until
 * daemon_stop, reaps finished children, and for each connection forks a
 * child that closes the listening sockets, calls serve(fd) and exits 0.
 * With DAEMON_SERVE_KEEP_TERM the child keeps the caught SIGTERM (it sets
 * daemon_stop, so the child can finish its step: smtp sends QUIT on
 * cached connections); without, SIGTERM ends the child at once. Returns
 * when daemon_stop is set; exits 78 when ternd passed no socket.
 */
#define DAEMON_SERVE_KEEP_TERM	0x01
void daemon_serve_forked(void (*serve)(int fd), int flags);

/*
 * A file ternd opened for this daemon (TERN_FILES): a read-only
 * descriptor for PATH, or -1 when ternd passed none (started by hand, or
 * ternd could not open it); read it with pread() from offset 0, since
 * the same file may be asked for twice. daemon_files_close() closes
 * them all once the daemon has read what it needs.
 */
int daemon_file(const char *path);
void daemon_files_close(void);

/*
 * The privilege drop: setgroups (only the user's group), setresgid,
 * setresuid, then verify that real, effective and saved ids all changed
 * and, for a non-root user, that root cannot be regained. Returns 0, or
 * -1 with one line in err; callers exit (EX_NOPERM / EX_SOFTWARE).
 */
int priv_lookup(const char *user, uid_t *uid, gid_t *gid, struct buf *err);
int priv_drop_ids(uid_t uid, gid_t gid, struct buf *err);
int priv_drop(const char *user, struct buf *err);

/*
 * Send a one-line request (e.g. "flush") to the service listening on
 * QUEUE_DIR/SUBDIR/SERVICE (SUBDIR "public" or "private"). Returns 0, or
 * -1 with a reason (the service is not running, ...).
 */
int daemon_trigger(const char *queue_dir, const char *subdir, const char *service,
		   const char *request, struct buf *err);

#endif
