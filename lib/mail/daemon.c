/*
 * daemon.c - the start-up skeleton every Tern daemon calls, and the one
 * privilege drop (see daemon.h for the order of steps and the
 * conventions with ternd).
 *
 * Mail layer. Runs in a daemon that may start as root (ternd runs local
 * as root); everything here that needs root happens before
 * priv_drop(), and the drop is verified before daemon_init() returns.
 */
#include "compat.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

#include "mail/config.h"
#include "mail/daemon.h"
#include "mail/qfile.h"
#include "util/log.h"
#include "util/mem.h"

volatile sig_atomic_t daemon_stop;
volatile sig_atomic_t daemon_drain;

static struct daemon_info info;

const struct daemon_info *daemon_info(void)
{
	return &info;
}

int priv_lookup(const char *user, uid_t *uid, gid_t *gid, struct buf *err)
{
	errno = 0;
	struct passwd *pw = getpwnam(user);
	if (pw == NULL) {
		buf_printf(err, "user %s: %s", user, errno ? strerror(errno) : "no such user");
		return -1;
	}
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	return 0;
}

int priv_drop_ids(uid_t uid, gid_t gid, struct buf *err)
{
	uid_t ru, eu, su;
	gid_t rg, eg, sg;
	bool was_root = geteuid() == 0;

	if (was_root && setgroups(1, &gid) < 0) {
		buf_printf(err, "setgroups(%ld): %s", (long)gid, strerror(errno));
		return -1;
	}
	if (setresgid(gid, gid, gid) < 0) {
		buf_printf(err, "setresgid(%ld): %s", (long)gid, strerror(errno));
		return -1;
	}
	if (setresuid(uid, uid, uid) < 0) {
		buf_printf(err, "setresuid(%ld): %s", (long)uid, strerror(errno));
		return -1;
	}
	/* Trust nothing: read the ids back. */
	if (getresuid(&ru, &eu, &su) < 0 || getresgid(&rg, &eg, &sg) < 0 ||
	    ru != uid || eu != uid || su != uid || rg != gid || eg != gid || sg != gid) {
		buf_printf(err, "privilege drop to uid %ld gid %ld did not take effect", (long)uid, (long)gid);
		return -1;
	}
	if (uid != 0 && (setuid(0) == 0 || seteuid(0) == 0)) {
		buf_printf(err, "privilege drop to uid %ld could be undone", (long)uid);
		return -1;
	}
	if (was_root) {
		gid_t groups[2];
		int n = getgroups(2, groups);
		if (n != 1 || groups[0] != gid) {
			buf_printf(err, "supplementary groups were not reset to %ld", (long)gid);
			return -1;
		}
	}
	return 0;
}

int priv_drop(const char *user, struct buf *err)
{
	uid_t uid;
	gid_t gid;
	if (priv_lookup(user, &uid, &gid, err) < 0)
		return -1;
	if (geteuid() != 0 && getuid() == uid && geteuid() == uid)
		return 0;	/* already that user (an instance run by its owner) */
	return priv_drop_ids(uid, gid, err);
}

int daemon_trigger(const char *queue_dir, const char *subdir, const char *service,
		   const char *request, struct buf *err)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int n = snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/%s/%s", queue_dir, subdir, service);
	if (n < 0 || (size_t)n >= sizeof(sun.sun_path)) {
		buf_printf(err, "%s/%s/%s: path too long", queue_dir, subdir, service);
		return -1;
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		buf_printf(err, "socket: %s", strerror(errno));
		return -1;
	}
	struct timeval tv = { .tv_sec = 10 };
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		buf_printf(err, "connect %s: %s", sun.sun_path, strerror(errno));
		close(fd);
		return -1;
	}
	struct buf line = BUF_INIT;
	buf_printf(&line, "%s\n", request);
	ssize_t w = send(fd, line.data, line.len, MSG_NOSIGNAL);
	int rc = (w == (ssize_t)line.len) ? 0 : -1;
	if (rc < 0)
		buf_printf(err, "write %s: %s", sun.sun_path, w < 0 ? strerror(errno) : "short write");
	buf_free(&line);
	close(fd);
	return rc;
}

static void usage(const char *name)
{
	msg_fatal_status(EX_USAGE, "usage: %s [-c config_dir] [-o name=value] [-v]", name);
}

/* Files ternd opened for us (TERN_FILES: "FD:PATH" lines). */
static struct {
	int fd;
	char *path;
} files[DAEMON_MAX_FILES];
static int nfiles;

static void read_files(void)
{
	const char *v = getenv(DAEMON_ENV_FILES);
	char *copy = xstrdup(v ? v : ""), *save = NULL;

	for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *colon = strchr(line, ':'), *end;
		long fd = strtol(line, &end, 10);
		struct stat st;
		if (colon == NULL || end != colon || fd <= 2 || fd > 65535 || nfiles == DAEMON_MAX_FILES
		    || fstat((int)fd, &st) < 0 || !S_ISREG(st.st_mode)) {
			msg_warn("ignoring %s entry \"%s\"", DAEMON_ENV_FILES, line);
			continue;
		}
		fcntl((int)fd, F_SETFD, FD_CLOEXEC);
		files[nfiles].fd = (int)fd;
		files[nfiles].path = xstrdup(colon + 1);
		nfiles++;
	}
	free(copy);
}

int daemon_file(const char *path)
{
	for (int i = 0; i < nfiles; i++)
		if (files[i].fd >= 0 && strcmp(files[i].path, path) == 0)
			return files[i].fd;
	return -1;
}

void daemon_files_close(void)
{
	for (int i = 0; i < nfiles; i++) {
		if (files[i].fd >= 0)
			close(files[i].fd);
		free(files[i].path);
	}
	nfiles = 0;
}

/* The sockets ternd passed, described by the environment. */
static void read_listeners(void)
{
	const char *fds = getenv(DAEMON_ENV_FDS);
	const char *addrs = getenv(DAEMON_ENV_ADDRS);
	int n = fds ? atoi(fds) : 0;	/* NOLINT(cert-err34-c): ternd wrote it */

	if (n < 0 || n > DAEMON_MAX_LISTEN)
		msg_fatal("bad %s=%s", DAEMON_ENV_FDS, fds);
	info.listen = xcalloc((size_t)n + 1, sizeof(*info.listen));
	char *copy = xstrdup(addrs ? addrs : "");
	char *save = NULL, *word = strtok_r(copy, " ", &save);
	for (int i = 0; i < n; i++) {
		int fd = DAEMON_LISTEN_FD + i;
		struct stat st;
		if (fstat(fd, &st) < 0 || !S_ISSOCK(st.st_mode))
			msg_fatal("descriptor %d from the master is not a socket", fd);
		fcntl(fd, F_SETFD, FD_CLOEXEC);
		info.listen[i].fd = fd;
		info.listen[i].addr = xstrdup(word ? word : "?");
		word = word ? strtok_r(NULL, " ", &save) : NULL;
	}
	info.nlisten = n;
	free(copy);
}

static void read_service(const char *name)
{
	const char *svc = getenv(DAEMON_ENV_SERVICE);
	const char *v;
	int x;

	info.name = name;
	info.by_master = svc != NULL;
	info.service = xstrdup(svc ? svc : name);
	info.type = SVC_PROC;
	if ((v = getenv(DAEMON_ENV_TYPE)) && (x = svc_type_parse(v)) >= 0)
		info.type = (enum svc_type)x;
	if ((v = getenv(DAEMON_ENV_TLS)) && (x = svc_tls_parse(v)) >= 0)
		info.tls = (enum svc_tls)x;
	if ((v = getenv(DAEMON_ENV_AUTH)) && (x = svc_auth_parse(v)) >= 0)
		info.auth = (enum svc_auth)x;
	read_listeners();
	if (info.by_master)
		read_files();
	static const char *const vars[] = { DAEMON_ENV_SERVICE, DAEMON_ENV_TYPE, DAEMON_ENV_FDS,
		DAEMON_ENV_ADDRS, DAEMON_ENV_TLS, DAEMON_ENV_AUTH, DAEMON_ENV_STDERR, DAEMON_ENV_FILES };
	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
		unsetenv(vars[i]);
}

/* Set a parameter if the table has it: a bad value is a config error. */
static void override(const char *name, const char *value, const char *why)
{
	struct buf err = BUF_INIT;
	if (param_find(name) == NULL) {
		msg_warn("%s: unknown parameter %s ignored", why, name);
		return;
	}
	if (cfg_set(name, value, &err) < 0) {
		if (strcmp(why, "-o") == 0)	/* cfg_set names the -o itself */
			msg_fatal_status(EX_CONFIG, "%s", buf_str(&err));
		msg_fatal_status(EX_CONFIG, "%s: %s", why, buf_str(&err));
	}
	buf_free(&err);
}

/* The service table's tls and auth columns, as parameter values. */
static void apply_columns(void)
{
	static const char *const tls_level[] = {
		[SVC_TLS_NONE] = "none", [SVC_TLS_STARTTLS] = "may",
		[SVC_TLS_REQUIRED] = "encrypt", [SVC_TLS_IMPLICIT] = "encrypt",
	};
	if (info.type != SVC_INET)
		return;
	if (info.tls != SVC_TLS_DEFAULT)
		override(P_smtpd_tls_security_level, tls_level[info.tls], "service table tls column");
	if (info.tls == SVC_TLS_IMPLICIT)
		override(P_smtpd_tls_wrappermode, "yes", "service table tls column");
	if (info.auth != SVC_AUTH_DEFAULT)
		override(P_smtpd_sasl_auth_enable, info.auth == SVC_AUTH_NO ? "no" : "yes",
			 "service table auth column");
}

/*
 * SIGTERM (tern stop): stop now. SIGHUP (tern reload): ternd has started,
 * or will start, a new generation on the same sockets; finish what is in
 * hand, then exit. A SIGTERM after a SIGHUP wins.
 */
static void on_term(int sig)
{
	if (sig == SIGHUP) {
		if (!daemon_stop)
			daemon_drain = 1;
	} else {
		daemon_drain = 0;
	}
	daemon_stop = 1;
}

static void set_signals(int flags)
{
	struct sigaction sa = { .sa_handler = SIG_IGN };
	sigset_t all;

	sigemptyset(&sa.sa_mask);
	sigaction(SIGPIPE, &sa, NULL);
	/* Without DAEMON_CATCH_TERM, a reload's SIGHUP ends the daemon at once. */
	sa.sa_handler = (flags & DAEMON_CATCH_TERM) ? on_term : SIG_DFL;
	sigaddset(&sa.sa_mask, SIGHUP);
	sigaddset(&sa.sa_mask, SIGTERM);
	sigaddset(&sa.sa_mask, SIGINT);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
}

int daemon_init(int argc, char **argv, const char *name, int flags)
{
	const char *dir = NULL;
	char **overrides = xcalloc((size_t)argc + 1, sizeof(char *));
	int noverride = 0, verbose = 0, opt;
	char progname[64];
	struct buf err = BUF_INIT;

	snprintf(progname, sizeof(progname), "tern/%s", name);
	bool by_hand = getenv(DAEMON_ENV_SERVICE) == NULL;
	bool to_stderr = by_hand || getenv(DAEMON_ENV_STDERR) != NULL;
	log_init(progname, LOG_TO_SYSLOG | (to_stderr ? LOG_TO_STDERR : 0));

	opterr = 0;
	optind = 1;
	while ((opt = getopt(argc, argv, "+c:o:v")) != -1) {
		switch (opt) {
		case 'c':
			dir = optarg;
			break;
		case 'o':
			if (strchr(optarg, '=') == NULL || optarg[0] == '=')
				usage(name);
			overrides[noverride++] = optarg;
			break;
		case 'v':
			verbose++;
			break;
		default:
			usage(name);
		}
	}
	log_set_verbose(verbose);

	if (config_load(dir, false, &err) < 0)
		msg_fatal_status(EX_CONFIG, "%s", buf_str(&err));
	config_apply_logging();

	read_service(name);
	apply_columns();
	for (int i = 0; i < noverride; i++) {
		char *eq = strchr(overrides[i], '=');
		char *pname = xstrndup(overrides[i], (size_t)(eq - overrides[i]));
		while (eq[1] == ' ')
			eq++;
		override(pname, eq + 1, "-o");
		free(pname);
	}
	free(overrides);
	if (noverride > 0)
		config_apply_logging();	/* -o maillog_file=, syslog_name=, ... */
	qfile_configure();	/* queue_directory_sync, before any thread commits */

	if (geteuid() == 0 && !(flags & DAEMON_KEEP_ROOT)) {
		if (priv_drop(cfg_str(P_mail_owner), &err) < 0)
			msg_fatal_status(EX_NOPERM, "cannot run as mail_owner: %s", buf_str(&err));
	}
	if (!(flags & DAEMON_NO_CHDIR) && chdir(cfg_str(P_queue_directory)) < 0)
		msg_fatal_status(EX_CONFIG, "chdir %s: %m", cfg_str(P_queue_directory));
	umask(077);
	/*
	 * Deliveries are background work; SMTP sessions have a client
	 * waiting on every reply. When the CPU is short, sessions go first
	 * and the queue catches up when it is not (tern-params(5)).
	 */
	if ((flags & DAEMON_DELIVERY) && cfg_int(P_delivery_nice) > 0) {
		errno = 0;
		if (nice((int)cfg_int(P_delivery_nice)) == -1 && errno != 0)
			msg_warn("nice %lld: %m", cfg_int(P_delivery_nice));
	}
	set_signals(flags);
	msg_debug("started as service %s (%s), %d listening socket(s)", info.service,
		  svc_type_name(info.type), info.nlisten);
	buf_free(&err);
	return optind;
}

static void on_child(int sig)
{
	(void)sig;	/* only interrupts poll(), so that children are reaped soon */
}

void daemon_serve_forked(void (*serve)(int fd), int flags)
{
	struct pollfd pfd[DAEMON_MAX_LISTEN];
	struct sigaction sa;
	int n = 0;

	if (info.nlisten < 1)
		msg_fatal_status(EX_CONFIG, "no listening socket: %s is started by ternd", info.name);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_child;
	sigaction(SIGCHLD, &sa, NULL);
	for (int i = 0; i < info.nlisten && i < DAEMON_MAX_LISTEN; i++) {
		pfd[n].fd = info.listen[i].fd;
		pfd[n].events = POLLIN;
		n++;
	}
	while (!daemon_stop) {
		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
		if (poll(pfd, (nfds_t)n, 1000) <= 0)
			continue;
		for (int i = 0; i < n; i++) {
			int c;

			if (!(pfd[i].revents & POLLIN))
				continue;
			while ((c = accept4(pfd[i].fd, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
				pid_t pid = fork();
				if (pid == 0) {
					for (int k = 0; k < n; k++)
						close(pfd[k].fd);
					if (!(flags & DAEMON_SERVE_KEEP_TERM))
						signal(SIGTERM, SIG_DFL);
					signal(SIGCHLD, SIG_DFL);
					serve(c);
					_exit(0);
				}
				if (pid < 0)
					msg_warn("fork: %m");
				close(c);
			}
		}
	}
}
