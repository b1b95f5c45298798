/*
 * ternd - the Tern master.
 *
 * SYNOPSIS
 *	ternd [-f] [-v] [-c config_dir]
 *
 * DESCRIPTION
 *	ternd reads main.cf and the service table master.cf, takes the lock
 *	on queue_directory/pid/master.pid (a second master refuses to start),
 *	binds every listening socket itself, starts each service's processes
 *	with the right user, restarts those that die (throttled, so that a
 *	crashing one does not spin), reloads on SIGHUP and stops cleanly on
 *	SIGTERM: it signals every process and returns only when all of them,
 *	and anything they started, have exited. A reload keeps the sockets
 *	and lets each old process finish what it has in hand (SIGHUP to the
 *	process alone) while the new generation starts. It is started by
 *	`tern start`; without -f it returns once the instance accepts mail
 *	(sockets bound, services started) and runs on in the background.
 *	Under systemd (Type=notify, $NOTIFY_SOCKET set) it says READY=1 at
 *	that same point, RELOADING=1 then READY=1 around a reload and
 *	STOPPING=1 at stop; without $NOTIFY_SOCKET nothing of this happens.
 *
 *	-f  stay in the foreground, logs also on standard error
 *	-v  verbose logging
 *	-c  configuration directory (also $TERN_CONFIG_DIR)
 *
 * SECURITY
 *	Runs as root on a real host, or as the instance's mail_owner. Every
 *	service process drops to mail_owner before exec unless the service
 *	table says root (local delivery). The master parses only its own
 *	configuration, never network input.
 *
 * CONFIGURATION PARAMETERS
 *	queue_directory, daemon_directory, mail_owner, maillog_file,
 *	inet_interfaces, inet_protocols, smtpd_tls_cert_file,
 *	smtpd_tls_chain_files, smtpd_tls_key_file.
 *
 * SEE ALSO
 *	tern(8), master.cf in conf/, lib/mail/daemon.h.
 */
#include "compat.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "mail/config.h"
#include "mail/daemon.h"
#include "mail/qdirs.h"
#include "mail/services.h"
#include "master/ternd.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/mem.h"

#define QUICK_EXIT_SECS 5.0	/* an exit this soon after start counts as a crash */
#define MAX_THROTTLE_SECS 60	/* longest wait before restarting a crashing service */
#define STOP_GRACE_SECS 10.0	/* SIGTERM, then SIGKILL after this long */

static struct master M;

static void usage(void)
{
	fprintf(stderr, "usage: ternd [-f] [-v] [-c config_dir]\n");
	exit(EX_USAGE);
}

/* ---- configuration ---- */

static void free_runs(struct master *m)
{
	for (size_t i = 0; i < m->nruns; i++) {
		free(m->runs[i].path);
		free(m->runs[i].fds);
		free(m->runs[i].addrs);
		free(m->runs[i].why);
		free(m->runs[i].slots);
	}
	free(m->runs);
	m->runs = NULL;
	m->nruns = 0;
	services_free(&m->table);
}

/* Read main.cf and master.cf into a new table; nothing changes on error. */
static int read_config(struct master *m, struct service_table *t, struct buf *err)
{
	char path[4096];
	if (config_load(m->config_dir, false, err) < 0)
		return -1;
	config_apply_logging();
	snprintf(path, sizeof(path), "%s/master.cf", m->config_dir);
	if (services_load(path, t, err) < 0)
		return -1;
	/* Loud at every start and reload: a setting that does nothing. */
	config_warn_unimplemented();
	services_warn_unimplemented(path, t);
	return 0;
}

/* A parameter as the service sees it: its own -o, else main.cf. */
static const char *service_value(const struct service *s, const char *name)
{
	const char *v = service_param(s, name);
	if (v == NULL)
		v = param_find(name) != NULL ? cfg_str(name) : "";
	return v;
}

/* A certificate is configured for S, in main.cf or by its own -o (either form). */
static bool has_certificate(const struct service *s)
{
	const char *chain = service_value(s, P_smtpd_tls_chain_files);
	return *service_value(s, P_smtpd_tls_cert_file) != '\0' || chain[strspn(chain, ", \t")] != '\0';
}

/* Decide which services run, and bind their sockets. */
static int build_runs(struct master *m, bool fatal_bind)
{
	int rc = 0;

	m->runs = xcalloc(m->table.count ? m->table.count : 1, sizeof(*m->runs));
	m->nruns = m->table.count;
	listen_mark_unwanted(m);
	for (size_t i = 0; i < m->table.count; i++) {
		struct run *r = &m->runs[i];
		const struct service *s = &m->table.svc[i];
		r->svc = s;
		r->slots = xcalloc((size_t)s->procs + 1, sizeof(*r->slots));
		r->path = s->argv[0][0] == '/' ? xstrdup(s->argv[0])
			: xasprintf("%s/%s", cfg_str(P_daemon_directory), s->argv[0]);
		if (s->procs == 0) {
			r->off = true;
			r->why = xstrdup("procs is 0");
			msg_info("service %s is off (procs 0)", s->name);
		} else if (service_needs_cert(s) && !has_certificate(s)) {
			r->off = true;
			r->why = xasprintf("tls %s needs a certificate, and neither smtpd_tls_cert_file "
					   "nor smtpd_tls_chain_files is set", svc_tls_name(s->tls));
			msg_info("service %s (port %d) is off: %s", s->name, s->port, r->why);
		} else if (access(r->path, X_OK) < 0) {
			r->off = true;
			r->why = xasprintf("cannot execute %s: %s", r->path, strerror(errno));
			msg_warn("service %s is off: %s", s->name, r->why);
		} else if (listen_setup(m, r) < 0) {
			r->off = true;
			rc = -1;
			if (r->why == NULL)
				r->why = xstrdup("its sockets could not be set up");
			if (!fatal_bind)
				msg_error("service %s is off: %s", s->name, r->why);
		} else if (s->type == SVC_INET && r->nfd == 0) {
			r->off = true;
			r->why = xstrdup("no address to listen on");
			msg_warn("service %s is off: %s", s->name, r->why);
		}
	}
	listen_release_unwanted(m);
	return fatal_bind ? rc : 0;
}

/* ---- earlier generations ---- */

/* The group still has a process (a zombie not yet reaped counts). */
static bool group_alive(pid_t pgid)
{
	return kill(-pgid, 0) == 0 || errno == EPERM;
}

/*
 * Forget the earlier generations whose processes have all exited. Called
 * after every reap, so a group is forgotten before its number can be
 * reused by a new process group.
 */
static void prune_drains(struct master *m)
{
	size_t keep = 0;
	for (size_t i = 0; i < m->ndrain; i++) {
		struct drain *d = &m->drains[i];
		if (group_alive(d->pgid)) {
			m->drains[keep++] = *d;
			continue;
		}
		msg_debug("service %s: process %ld of the earlier generation has finished", d->service,
			  (long)d->pgid);
		free(d->service);
	}
	m->ndrain = keep;
}

/*
 * inet and unix services serve requests that do not depend on each other
 * (SMTP sessions, local deliveries): the new generation starts at once,
 * next to the old one finishing. Others (pickup, qmgr) scan the queue,
 * and two at once could take the same message: the new one starts when
 * every process of the old one, and all that it started, has exited.
 */
static bool waits_for_old(const struct master *m, const struct run *r)
{
	if (r->svc->type == SVC_INET || r->svc->type == SVC_UNIX)
		return false;
	for (size_t i = 0; i < m->ndrain; i++)
		if (strcmp(m->drains[i].service, r->svc->name) == 0)
			return true;
	return false;
}

/* ---- processes ---- */

static void start_due(struct master *m, double now)
{
	prune_drains(m);
	for (size_t i = 0; i < m->nruns; i++) {
		struct run *r = &m->runs[i];
		if (r->off || waits_for_old(m, r))
			continue;
		for (int k = 0; k < r->svc->procs; k++) {
			struct slot *sl = &r->slots[k];
			if (sl->pid != 0 || sl->next_start > now)
				continue;
			pid_t pid = spawn_service(m, r);
			if (pid > 0) {
				sl->pid = pid;
				sl->started = now;
				msg_debug("service %s: started process %ld", r->svc->name, (long)pid);
			} else {
				sl->next_start = now + 1;
			}
		}
	}
}

/* Seconds until the next slot is due, or -1 when none waits. */
static double next_due(struct master *m, double now)
{
	double best = -1;
	for (size_t i = 0; i < m->nruns; i++) {
		struct run *r = &m->runs[i];
		/* One waiting for its old generation: the exit's SIGCHLD wakes
		 * us, or a look each second, for a last process not our child. */
		if (!r->off && waits_for_old(m, r)) {
			if (best < 0 || best > 1)
				best = 1;
			continue;
		}
		for (int k = 0; !r->off && k < r->svc->procs; k++) {
			struct slot *sl = &r->slots[k];
			if (sl->pid != 0)
				continue;
			double d = sl->next_start > now ? sl->next_start - now : 0;
			if (best < 0 || d < best)
				best = d;
		}
	}
	return best;
}

static struct slot *find_slot(struct master *m, pid_t pid, struct run **rp)
{
	for (size_t i = 0; i < m->nruns; i++)
		for (int k = 0; k < m->runs[i].svc->procs; k++)
			if (m->runs[i].slots[k].pid == pid) {
				*rp = &m->runs[i];
				return &m->runs[i].slots[k];
			}
	return NULL;
}

static void describe_status(int status, char *text, size_t size)
{
	if (WIFSIGNALED(status))
		snprintf(text, size, "killed by signal %d", WTERMSIG(status));
	else
		snprintf(text, size, "exited with status %d", WEXITSTATUS(status));
}

/* Reap every child that has exited; schedule restarts unless stopping. */
static int reap(struct master *m, bool restart)
{
	int status, n = 0;
	pid_t pid;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		struct run *r;
		struct slot *sl = find_slot(m, pid, &r);
		n++;
		if (sl == NULL)
			continue;	/* an orphan we adopted */
		double now = now_mono();
		char how[64];
		describe_status(status, how, sizeof(how));
		sl->pid = 0;
		if (!restart)
			continue;
		if (now - sl->started < QUICK_EXIT_SECS)
			sl->quick_exits++;
		else
			sl->quick_exits = 0;
		int delay = 0;
		if (sl->quick_exits > 0) {
			int shift = sl->quick_exits - 1 < 6 ? sl->quick_exits - 1 : 6;
			delay = 1 << shift;
			if (delay > MAX_THROTTLE_SECS)
				delay = MAX_THROTTLE_SECS;
		}
		sl->next_start = now + delay;
		if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && delay == 0)
			msg_debug("service %s: process %ld exited; restarting", r->svc->name, (long)pid);
		else
			msg_warn("service %s: process %ld %s; restarting in %ds", r->svc->name,
				 (long)pid, how, delay);
	}
	prune_drains(m);
	return n;
}

static bool have_children(void)
{
	/* waitid with WNOWAIT tells whether any child exists without reaping it. */
	siginfo_t si = {0};
	return waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) == 0;
}

static void signal_services(struct master *m, int sig)
{
	for (size_t i = 0; i < m->nruns; i++)
		for (int k = 0; k < m->runs[i].svc->procs; k++) {
			pid_t pid = m->runs[i].slots[k].pid;
			if (pid > 0) {
				kill(-pid, sig);	/* its process group: helpers too */
				kill(pid, sig);
			}
		}
	for (size_t i = 0; i < m->ndrain; i++)
		kill(-m->drains[i].pgid, sig);
	kill_orphans(m->pid, sig);
}

/*
 * A reload: each running process is told (SIGHUP, to it alone, never to
 * its helpers) to take no new work, finish what it has in hand and exit;
 * it is remembered until its process group is empty. The sockets stay
 * with the master, so no client is refused in between.
 */
static void drain_all(struct master *m)
{
	for (size_t i = 0; i < m->nruns; i++)
		for (int k = 0; k < m->runs[i].svc->procs; k++) {
			struct slot *sl = &m->runs[i].slots[k];
			if (sl->pid <= 0)
				continue;
			kill(sl->pid, SIGHUP);
			m->drains = xreallocarray(m->drains, m->ndrain + 1, sizeof(*m->drains));
			m->drains[m->ndrain++] = (struct drain){ .pgid = sl->pid,
				.service = xstrdup(m->runs[i].svc->name) };
			sl->pid = 0;
		}
}

/* Stop every process and wait until none is left. */
static void stop_all(struct master *m)
{
	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	signal_services(m, SIGTERM);
	double deadline = now_mono() + STOP_GRACE_SECS;
	bool killed = false;
	for (;;) {
		reap(m, false);
		if (!have_children())
			break;
		double left = deadline - now_mono();
		if (left <= 0 && !killed) {
			msg_warn("processes still running after %.0fs; killing them", STOP_GRACE_SECS);
			signal_services(m, SIGKILL);
			killed = true;
			deadline = now_mono() + STOP_GRACE_SECS;
			continue;
		}
		if (left <= 0) {
			signal_services(m, SIGKILL);
			left = 0.2;
		}
		/* Helpers orphaned since the first signal were re-parented to us. */
		kill_orphans(m->pid, killed ? SIGKILL : SIGTERM);
		struct timespec ts = { .tv_sec = (time_t)left, .tv_nsec = (long)((left - (double)(time_t)left) * 1e9) };
		if (ts.tv_sec > 1)
			ts = (struct timespec){ .tv_sec = 1 };
		sigtimedwait(&chld, NULL, &ts);
	}
}

/* ---- pid file, generation file ---- */

static int pid_fd = -1;
static int pid_dir_fd = -1;	/* pid/, opened once without following a link */

static void lock_pid_file(struct master *m)
{
	char path[4096];
	/* Relative: ternd runs in queue_directory, whatever a reload reads. */
	snprintf(path, sizeof(path), "pid/master.pid");
	/* pid/ and the queue directory may belong to an instance's owner, who
	 * could swap pid/ for a link to elsewhere: work below one descriptor. */
	pid_dir_fd = open("pid", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (pid_dir_fd < 0)
		msg_fatal_status(EX_CANTCREAT, "open pid/: %m");
	pid_fd = openat(pid_dir_fd, "master.pid", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (pid_fd < 0)
		msg_fatal_status(EX_CANTCREAT, "open %s: %m", path);
	/* Accept only a plain file with one link before writing to it as
	 * root, and give it to the directory's owner, so that the owner can
	 * start the instance too. */
	struct stat st, dir;
	if (fstat(pid_fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1)
		msg_fatal_status(EX_CANTCREAT, "%s is not a plain file with one link; remove it", path);
	if (m->root && fstat(pid_dir_fd, &dir) == 0 && st.st_uid != dir.st_uid &&
	    fchown(pid_fd, dir.st_uid, dir.st_gid) < 0)
		msg_warn("chown %s: %m", path);
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	if (fcntl(pid_fd, F_SETLK, &fl) < 0) {
		if (errno == EAGAIN || errno == EACCES) {
			fl.l_type = F_WRLCK;
			fcntl(pid_fd, F_GETLK, &fl);
			msg_fatal_status(EX_UNAVAILABLE, "the mail system is already running (pid %ld)",
					 (long)fl.l_pid);
		}
		msg_fatal_status(EX_OSERR, "lock %s: %m", path);
	}
	char text[32];
	int n = snprintf(text, sizeof(text), "%ld\n", (long)m->pid);
	if (ftruncate(pid_fd, 0) < 0 || pwrite(pid_fd, text, (size_t)n, 0) != n)
		msg_fatal_status(EX_CANTCREAT, "write %s: %m", path);
}

/* Replace pid/NAME with TEXT: a reader sees the old file or the new one. */
static void write_pid_file(const char *name, const char *text, size_t len)
{
	char tmp[64];
	int dfd = pid_dir_fd >= 0 ? pid_dir_fd : AT_FDCWD;
	snprintf(tmp, sizeof(tmp), "%s.tmp", name);
	unlinkat(dfd, tmp, 0);
	int fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0 || write(fd, text, len) != (ssize_t)len || close(fd) < 0 ||
	    renameat(dfd, tmp, dfd, name) < 0)
		msg_warn("write pid/%s: %m", name);
}

/* tern reload waits for this number to grow. */
static void write_generation(unsigned gen)
{
	char text[32];
	int n = snprintf(text, sizeof(text), "%u\n", gen);
	write_pid_file("master.generation", text, (size_t)n);
}

/*
 * pid/master.status: each service as this load set it up, for tern
 * status and tern check (which skips the addresses the master holds).
 * One line per service, tab-separated: name, type, on or off, master.cf
 * line, addresses (space-separated; "-" when none is bound), and why an
 * off service is off. Written before the generation, so that a reload
 * tern waits for has its status in place.
 */
static void write_status(struct master *m)
{
	struct buf b = BUF_INIT;
	buf_adds(&b, "# name\ttype\tstate\tline\taddresses\twhy (written by ternd)\n");
	for (size_t i = 0; i < m->nruns; i++) {
		const struct run *r = &m->runs[i];
		buf_printf(&b, "%s\t%s\t%s\t%d\t", r->svc->name, svc_type_name(r->svc->type),
			   r->off ? "off" : "on", r->svc->line);
		/* An inet service bound nowhere: the address master.cf gives it. */
		if (r->addrs && *r->addrs)
			buf_adds(&b, r->addrs);
		else if (r->svc->type == SVC_INET && r->svc->host)
			buf_printf(&b, "%s:%d", r->svc->host, r->svc->port);
		else if (r->svc->type == SVC_INET)
			buf_printf(&b, "port %d", r->svc->port);
		else
			buf_addc(&b, '-');
		buf_addc(&b, '\t');
		/* One line each: a reason never holds a tab or a newline. */
		for (const char *w = r->why ? r->why : ""; *w; w++)
			buf_addc(&b, *w == '\t' || *w == '\n' ? ' ' : *w);
		buf_addc(&b, '\n');
	}
	write_pid_file("master.status", b.data ? b.data : "", b.len);
	buf_free(&b);
}

/* ---- readiness notification ---- */

/*
 * The service manager's notification socket ($NOTIFY_SOCKET: a path, or
 * "@name" in the abstract namespace), taken out of the environment at
 * start so that no service process, nor a command local delivery runs
 * for a user, inherits it. Empty when there is none.
 */
static struct sockaddr_un notify_addr;
static socklen_t notify_len;

static void notify_init(void)
{
	const char *e = getenv("NOTIFY_SOCKET");
	size_t n = e ? strlen(e) : 0;
	if (n == 0)
		return;
	if ((e[0] != '/' && e[0] != '@') || n >= sizeof(notify_addr.sun_path)) {
		msg_warn("NOTIFY_SOCKET \"%s\" is not a socket path; not notifying", e);
	} else {
		notify_addr.sun_family = AF_UNIX;
		memcpy(notify_addr.sun_path, e, n);
		if (e[0] == '@')
			notify_addr.sun_path[0] = '\0';	/* abstract: no terminating NUL */
		notify_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (e[0] == '/'));
	}
	unsetenv("NOTIFY_SOCKET");
}

/* Send STATE ("READY=1", ...) as one datagram; a failure is only logged. */
static void notify(const char *state)
{
	if (notify_len == 0)
		return;
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || sendto(fd, state, strlen(state), MSG_NOSIGNAL,
			     (struct sockaddr *)&notify_addr, notify_len) < 0)
		msg_warn("cannot notify the service manager (%s): %m", state);
	if (fd >= 0)
		close(fd);
}

/* ---- start-up ---- */

static void check_user(struct master *m)
{
	struct buf err = BUF_INIT;
	const char *owner = cfg_str(P_mail_owner);
	if (priv_lookup(owner, &m->owner_uid, &m->owner_gid, &err) < 0)
		msg_fatal_status(EX_CONFIG, "mail_owner: %s", buf_str(&err));
	m->root = geteuid() == 0;
	if (!m->root && geteuid() != m->owner_uid)
		msg_fatal_status(EX_NOPERM, "ternd must run as root or as mail_owner (%s)", owner);
	buf_free(&err);
}

static void make_queue_dirs(void)
{
	struct buf report = BUF_INIT;
	struct qdir_ids ids;
	if (qdirs_ids(cfg_str(P_mail_owner), cfg_str(P_setgid_group), &ids, &report) < 0 ||
	    qdirs_setup(cfg_str(P_queue_directory), &ids, QDIRS_CREATE, &report) < 0)
		msg_fatal_status(EX_CONFIG, "%s", buf_str(&report));
	if (report.len)
		msg_warn("queue directory: %s", buf_str(&report));
	buf_free(&report);
}

/*
 * A maillog_file that root creates would shut out the services that run
 * as mail_owner: make it theirs, but only a file made here and now, so
 * that no link planted in its place can be given away.
 */
static void prepare_maillog(struct master *m)
{
	const char *path = cfg_str(P_maillog_file);
	if (!m->root || *path == '\0')
		return;
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0640);
	if (fd < 0)
		return;
	if (fchown(fd, m->owner_uid, m->owner_gid) < 0)
		msg_warn("chown %s: %m", path);
	close(fd);
}

/* Background: fork; the parent returns once the child says it is ready. */
static int daemonize(int *ready_fd)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		msg_fatal_status(EX_OSERR, "pipe: %m");
	pid_t pid = fork();
	if (pid < 0)
		msg_fatal_status(EX_OSERR, "fork: %m");
	if (pid > 0) {
		char c;
		int status;
		close(p[1]);
		if (read(p[0], &c, 1) == 1)
			_exit(0);
		if (waitpid(pid, &status, 0) == pid && WIFEXITED(status))
			_exit(WEXITSTATUS(status) ? WEXITSTATUS(status) : EX_SOFTWARE);
		_exit(EX_SOFTWARE);
	}
	close(p[0]);
	setsid();
	*ready_fd = p[1];
	return 0;
}

static void detach_stdio(void)
{
	int fd = open("/dev/null", O_RDWR);
	if (fd < 0)
		return;
	dup2(fd, 0);
	dup2(fd, 1);
	dup2(fd, 2);
	if (fd > 2)
		close(fd);
}

/* ---- the loop ---- */

static void reload(struct master *m, unsigned *gen)
{
	struct service_table t;
	struct buf err = BUF_INIT;

	msg_info("reload -- configuration %s", m->config_dir);
	/* systemd (253 and later) wants the clock reading with RELOADING=1. */
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	char state[80];
	snprintf(state, sizeof(state), "RELOADING=1\nMONOTONIC_USEC=%llu",
		 (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000);
	notify(state);
	if (read_config(m, &t, &err) < 0) {
		msg_error("reload failed, keeping the running configuration: %s", buf_str(&err));
		buf_free(&err);
		/* Still running, with the old configuration. */
		notify("READY=1\nSTATUS=reload failed, running the previous configuration");
		/* main.cf may have been read half-way: read the old one again. */
		return;
	}
	drain_all(m);
	free_runs(m);
	m->table = t;
	check_user(m);
	prepare_maillog(m);
	build_runs(m, false);
	start_due(m, now_mono());
	write_status(m);
	write_generation(++*gen);
	notify("READY=1\nSTATUS=");
	buf_free(&err);
}

static int run_loop(struct master *m, unsigned gen)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	for (;;) {
		double now = now_mono();
		start_due(m, now);
		double wait = next_due(m, now_mono());
		siginfo_t si;
		int sig;
		if (wait < 0) {
			sig = sigwaitinfo(&set, &si);
		} else {
			struct timespec ts = { .tv_sec = (time_t)wait,
					       .tv_nsec = (long)((wait - (double)(time_t)wait) * 1e9) + 1000000 };
			if (ts.tv_nsec >= 1000000000L)
				ts.tv_sec++, ts.tv_nsec -= 1000000000L;
			sig = sigtimedwait(&set, &si, &ts);
		}
		switch (sig) {
		case SIGCHLD:
			reap(m, true);
			break;
		case SIGHUP:
			reload(m, &gen);
			break;
		case SIGTERM:
		case SIGINT:
			msg_info("terminating on signal %d", sig);
			notify("STOPPING=1");
			stop_all(m);
			return 0;
		default:
			break;	/* timeout or EINTR */
		}
	}
}

int main(int argc, char **argv)
{
	int opt, verbose = 0, ready_fd = -1;
	struct buf err = BUF_INIT;

	/* Descriptors the caller left open are not ours to pass to services. */
	close_range(3, ~0U, 0);
	log_init("tern/ternd", LOG_TO_SYSLOG | LOG_TO_STDERR);
	while ((opt = getopt(argc, argv, "c:fv")) != -1) {
		switch (opt) {
		case 'c':
			M.config_dir = optarg;
			break;
		case 'f':
			M.foreground = true;
			break;
		case 'v':
			verbose++;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	log_set_verbose(verbose);
	if (M.config_dir == NULL)
		M.config_dir = config_default_dir();
	notify_init();
	/* Absolute: ternd and its services run in queue_directory. */
	char *abs = realpath(M.config_dir, NULL);
	if (abs == NULL)
		msg_fatal_status(EX_CONFIG, "configuration directory %s: %m", M.config_dir);
	M.config_dir = abs;

	/* Signals arrive through sigtimedwait only; children reset the mask. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	umask(022);

	if (read_config(&M, &M.table, &err) < 0)
		msg_fatal_status(EX_CONFIG, "%s", buf_str(&err));
	check_user(&M);
	prepare_maillog(&M);
	nofile_init(&M);
	if (chdir(cfg_str(P_queue_directory)) < 0)
		msg_fatal_status(EX_CONFIG, "queue_directory %s: %m", cfg_str(P_queue_directory));
	make_queue_dirs();

	if (!M.foreground)
		daemonize(&ready_fd);
	M.pid = getpid();
	lock_pid_file(&M);
	/* Processes our services leave behind become ours, so stop waits for them. */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	if (build_runs(&M, true) < 0)
		msg_fatal_status(EX_UNAVAILABLE, "cannot bind the listening sockets");
	msg_info("daemon started -- version %s, configuration %s", cfg_str(P_mail_version), M.config_dir);
	write_status(&M);
	write_generation(0);
	/*
	 * In the background, neither the master nor its services may keep the
	 * caller's terminal or pipe: x=$(tern start) would never return.
	 */
	if (!M.foreground) {
		log_set_dest(log_get_dest() & ~LOG_TO_STDERR);
		detach_stdio();
	}
	start_due(&M, now_mono());
	/* The same moment tern start returns at: sockets bound, services started. */
	notify("READY=1");
	if (!M.foreground) {
		if (write(ready_fd, "R", 1) != 1)
			msg_warn("cannot tell tern start that the master is ready: %m");
		close(ready_fd);
	}
	int rc = run_loop(&M, 0);
	free_runs(&M);
	prune_drains(&M);	/* all gone: stop_all waited for them */
	free(M.drains);
	listen_mark_unwanted(&M);
	listen_release_unwanted(&M);
	/* The pid file stays: its lock, which goes with this process, is what
	 * tells tern stop that everything has exited. */
	msg_info("stopped");
	buf_free(&err);
	return rc;
}
