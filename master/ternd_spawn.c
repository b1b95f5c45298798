/*
 * ternd_spawn.c - start one process of a service with the right user,
 * its listening sockets at descriptors 3, 4, ... and the environment
 * that lib/mail/daemon.c reads (the convention is documented in
 * lib/mail/daemon.h).
 *
 * Runs in ternd (root or the instance owner). Between fork and exec the
 * child drops to mail_owner unless the service table says root, with
 * the same verified priv_drop_ids() every daemon uses (an inet service
 * first gets its TLS certificate and key files opened, so that a key
 * only root may read works for smtpd, which never runs as root); it asks for
 * SIGTERM if the master dies, after the drop because a credential change
 * clears that setting.
 */
#include "compat.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "mail/config.h"
#include "mail/daemon.h"
#include "master/ternd.h"
#include "util/log.h"
#include "util/mem.h"

double now_mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* In the child: complain on the inherited stderr and the log, then die. */
static void child_fail(const char *what, const char *detail)
{
	msg_error("%s: %s", what, detail);
	_exit(127);
}

/* Put the service's sockets at 3, 4, ... and close everything else. */
static void place_fds(const struct run *r)
{
	int tmp[DAEMON_MAX_LISTEN];
	int first_free = DAEMON_LISTEN_FD + r->nfd;

	if (r->nfd > DAEMON_MAX_LISTEN)
		child_fail(r->svc->name, "too many listening sockets");
	for (int i = 0; i < r->nfd; i++)
		if ((tmp[i] = fcntl(r->fds[i], F_DUPFD, first_free)) < 0)
			child_fail("dup", strerror(errno));
	for (int i = 0; i < r->nfd; i++)
		if (dup2(tmp[i], DAEMON_LISTEN_FD + i) < 0)	/* dup2 clears close-on-exec */
			child_fail("dup2", strerror(errno));
	if (syscall(SYS_close_range, (unsigned)first_free, ~0U, 0) < 0)
		for (int fd = first_free; fd < 1024; fd++)
			close(fd);
}

/*
 * The TLS files of an inet service: main.cf's smtpd_tls_cert_file,
 * smtpd_tls_key_file and smtpd_tls_chain_files, or the service's own
 * "-o name=value". Absolute paths of regular files only.
 */
static const char *const tls_params[] = { P_smtpd_tls_cert_file, P_smtpd_tls_key_file,
	P_smtpd_tls_chain_files };

static void open_file(const char *path, struct buf *env, int *n)
{
	if (path[0] != '/' || strchr(path, '\n') != NULL || *n >= DAEMON_MAX_FILES)
		return;
	/* O_NONBLOCK: a FIFO put there must not hang the master's child. */
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY);
	struct stat st;
	if (fd < 0)
		return;		/* smtpd tries itself and says why */
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || fd > 65535) {
		close(fd);
		return;
	}
	buf_printf(env, "%d:%s\n", fd, path);
	(*n)++;
}

static void open_words(const char *value, struct buf *env, int *n)
{
	char *copy = xstrdup(value), *save = NULL;
	for (char *w = strtok_r(copy, ", \t", &save); w; w = strtok_r(NULL, ", \t", &save))
		open_file(w, env, n);
	free(copy);
}

/* In the child, after place_fds() and before the privilege drop. */
static void pass_tls_files(const struct run *r)
{
	struct buf env = BUF_INIT;
	int n = 0;

	unsetenv(DAEMON_ENV_FILES);
	if (r->svc->type != SVC_INET || r->svc->tls == SVC_TLS_NONE)
		return;
	for (size_t p = 0; p < sizeof(tls_params) / sizeof(tls_params[0]); p++) {
		const char *name = tls_params[p];
		/* The service's -o wins, as daemon_init() applies it last. */
		const char *value = service_param(r->svc, name);
		if (value == NULL && param_find(name) != NULL)
			value = cfg_str(name);
		if (value != NULL)
			open_words(value, &env, &n);
	}
	if (n > 0)
		setenv(DAEMON_ENV_FILES, buf_str(&env), 1);
	buf_free(&env);
}

static void set_env(struct master *m, const struct run *r)
{
	char n[16];
	snprintf(n, sizeof(n), "%d", r->nfd);
	setenv(DAEMON_ENV_SERVICE, r->svc->name, 1);
	setenv(DAEMON_ENV_TYPE, svc_type_name(r->svc->type), 1);
	setenv(DAEMON_ENV_FDS, n, 1);
	setenv(DAEMON_ENV_ADDRS, r->addrs ? r->addrs : "", 1);
	setenv(DAEMON_ENV_TLS, svc_tls_name(r->svc->tls), 1);
	setenv(DAEMON_ENV_AUTH, svc_auth_name(r->svc->auth), 1);
	if (m->foreground)
		setenv(DAEMON_ENV_STDERR, "1", 1);
	else
		unsetenv(DAEMON_ENV_STDERR);
	setenv("TERN_CONFIG_DIR", m->config_dir, 1);
}

static void reset_signals(void)
{
	struct sigaction sa = { .sa_handler = SIG_DFL };
	sigset_t none;
	sigemptyset(&sa.sa_mask);
	for (int sig = 1; sig < NSIG; sig++)
		sigaction(sig, &sa, NULL);	/* fails harmlessly for KILL, STOP, ... */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

pid_t spawn_service(struct master *m, struct run *r)
{
	pid_t pid = fork();
	if (pid < 0) {
		msg_error("service %s: fork: %m", r->svc->name);
		return -1;
	}
	if (pid > 0)
		return pid;

	/* Child. Its own process group, so a stop reaches its helpers too. */
	setpgid(0, 0);
	reset_signals();
	place_fds(r);
	set_env(m, r);
	pass_tls_files(r);
	nofile_for_service(r);
	if (m->root && !r->svc->root) {
		struct buf err = BUF_INIT;
		if (priv_drop_ids(m->owner_uid, m->owner_gid, &err) < 0)
			child_fail(r->svc->name, buf_str(&err));
	}
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != m->pid)
		_exit(0);	/* the master died before the line above */

	char **argv = xcalloc((size_t)r->svc->argc + 3, sizeof(char *));
	argv[0] = r->svc->argv[0];
	argv[1] = "-c";
	argv[2] = (char *)m->config_dir;
	for (int i = 1; i < r->svc->argc; i++)
		argv[i + 2] = r->svc->argv[i];
	execv(r->path, argv);
	child_fail(r->path, strerror(errno));
	return -1;
}

/* Processes re-parented to us (we are a child subreaper). */
void kill_orphans(pid_t parent, int sig)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		char path[300], text[512];
		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		ssize_t n = read(fd, text, sizeof(text) - 1);
		close(fd);
		if (n <= 0)
			continue;
		text[n] = '\0';
		/* pid (comm) state ppid ...; comm may hold anything, so use the last ')'. */
		char *p = strrchr(text, ')');
		long ppid;
		char state;
		/* NOLINTBEGIN(cert-err34-c): the kernel's numbers */
		if (p && sscanf(p + 1, " %c %ld", &state, &ppid) == 2 && ppid == (long)parent)
			kill((pid_t)atol(e->d_name), sig);
		/* NOLINTEND(cert-err34-c) */
	}
	closedir(d);
}
