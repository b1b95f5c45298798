/*
 * tern_ctl.c - tern start, stop, reload, status, flush and check.
 *
 * Runs as the caller (root, or an instance's owner). The running master
 * is found from the kernel's lock on queue_directory/pid/master.pid,
 * never from the file's contents, so a stale or forged pid file cannot
 * make `tern stop` signal another process.
 */
#include "compat.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "mail/config.h"
#include "mail/daemon.h"
#include "mail/instance.h"
#include "mail/milter_cfg.h"
#include "mail/qdirs.h"
#include "mail/services.h"
#include "mail/smtp_policy.h"
#include "tools/tern.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/mem.h"

#define STOP_DEADLINE_SECS 120
#define RELOAD_DEADLINE_SECS 120

static void load(const char *dir)
{
	struct buf err = BUF_INIT;
	if (config_load(dir, false, &err) < 0) {
		fprintf(stderr, "tern: %s\n", buf_str(&err));
		exit(EX_CONFIG);
	}
	buf_free(&err);
}

pid_t master_running(const char *queue_dir)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/pid/master.pid", queue_dir);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	pid_t pid = 0;
	if (fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK)
		pid = fl.l_pid;
	close(fd);
	return pid;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static unsigned read_generation(const char *queue_dir)
{
	char path[PATH_MAX], text[32] = "";
	snprintf(path, sizeof(path), "%s/pid/master.generation", queue_dir);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, text, sizeof(text) - 1);
	close(fd);
	text[n > 0 ? n : 0] = '\0';
	return (unsigned)strtoul(text, NULL, 10);
}

/*
 * The restriction lists, main.cf's and master.cf's -o overrides: an
 * unknown restriction, table type or policy server target is an error
 * with the file and line (smtpd would refuse every recipient with 451
 * 4.3.5). The tables themselves are check_maps()'s (with the main.cf
 * line, and as mail_owner). -1 after printing every error, else 0.
 */
static int check_restrictions(const struct service_table *t, const char *master_cf)
{
	static const char *const lists[] = {
		P_smtpd_client_restrictions, P_smtpd_helo_restrictions, P_smtpd_sender_restrictions,
		P_smtpd_relay_restrictions, P_smtpd_recipient_restrictions, P_smtpd_data_restrictions,
		P_smtpd_end_of_data_restrictions,
	};
	struct buf err = BUF_INIT, value = BUF_INIT;
	int rc = 0;
	for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
		buf_reset(&err);
		if (smtp_policy_list_check(lists[i], cfg_str(lists[i]), &err) < 0) {
			if (cfg_line(lists[i]) > 0)
				fprintf(stderr, "tern: %s:%u: %s\n", config_file(), cfg_line(lists[i]), buf_str(&err));
			else
				fprintf(stderr, "tern: %s\n", buf_str(&err));
			rc = -1;
		}
	}
	for (size_t i = 0; i < t->count; i++) {
		const struct service *s = &t->svc[i];
		for (int k = 1; k + 1 < s->argc; k++) {
			if (strcmp(s->argv[k], "-o") != 0)
				continue;
			const char *o = s->argv[k + 1];
			char *name = xstrndup(o, strcspn(o, "="));
			if (smtp_policy_is_list(name) && o[strlen(name)] == '=') {
				buf_reset(&value);
				buf_reset(&err);
				config_expand(o + strlen(name) + 1, &value);
				if (smtp_policy_list_check(name, buf_str(&value), &err) < 0) {
					fprintf(stderr, "tern: %s:%d: service %s: %s\n", master_cf, s->line, s->name,
						buf_str(&err));
					rc = -1;
				}
			}
			free(name);
		}
	}
	buf_free(&err);
	buf_free(&value);
	return rc;
}

/*
 * smtpd_milters and non_smtpd_milters with the milter_* settings in
 * effect (main.cf's, or with a service's -o): a list that does not parse
 * would leave mail unfiltered, so it is an error. in: "" for main.cf
 * (the message has its line), else "master.cf, line N: service S: -o: ".
 * -1 after printing each error once, else 0.
 */
static int check_milters(const char *in)
{
	const char *const lists[] = { P_smtpd_milters, P_non_smtpd_milters };
	struct buf err = BUF_INIT, first = BUF_INIT;
	int rc = 0;
	for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
		struct milter_cfg m;
		buf_reset(&err);
		if (milter_cfg_load(lists[i], &m, &err) == 0) {
			milter_cfg_free(&m);
			continue;
		}
		/* A bad macro list fails both the same way: say it once. */
		if (rc < 0 && strcmp(buf_str(&err), buf_str(&first)) == 0)
			continue;
		fprintf(stderr, "tern: error: %s%s\n", in, buf_str(&err));
		buf_reset(&first);
		buf_adds(&first, buf_str(&err));
		rc = -1;
	}
	buf_free(&err);
	buf_free(&first);
	return rc;
}

/* Does a service's -o name touch what check_milters() checks? */
static bool is_milter_param(const char *name)
{
	return strcmp(name, P_smtpd_milters) == 0 || strcmp(name, P_non_smtpd_milters) == 0 ||
	       strncmp(name, "milter_", 7) == 0;
}

/* main.cf and master.cf parse; -o names exist and their values are good
 * (-1 when not: the service would not start); programs exist. */
static int check_config(bool quiet)
{
	char path[PATH_MAX];
	struct service_table t;
	struct buf err = BUF_INIT;
	int problems = 0;
	bool overridden = false, bad_value = false, milter_override = false;

	snprintf(path, sizeof(path), "%s/master.cf", config_dir());
	if (services_load(path, &t, &err) < 0) {
		fprintf(stderr, "tern: %s\n", buf_str(&err));
		buf_free(&err);
		return -1;
	}
	if (check_milters("") < 0)
		bad_value = true;
	for (size_t i = 0; i < t.count; i++) {
		const struct service *s = &t.svc[i];
		for (int k = 1; k + 1 < s->argc; k++) {
			if (strcmp(s->argv[k], "-o") != 0)
				continue;
			size_t len = strcspn(s->argv[k + 1], "=");
			char *name = xstrndup(s->argv[k + 1], len);
			if (param_find(name) == NULL && !quiet) {
				fprintf(stderr, "tern: warning: %s, line %d: unknown parameter %s\n",
					path, s->line, name);
				problems++;
			} else if (param_find(name) != NULL && s->argv[k + 1][len] == '=') {
				/* The service would refuse it at start (a relative table, a bad number). */
				struct buf why = BUF_INIT;
				if (cfg_set(name, s->argv[k + 1] + len + 1, &why) < 0) {
					fprintf(stderr, "tern: error: %s, line %d: service %s: %s\n",
						path, s->line, s->name, buf_str(&why));
					bad_value = true;
				}
				buf_free(&why);
				overridden = true;
				milter_override |= is_milter_param(name);
			}
			free(name);
		}
		if (milter_override) {
			char *in = xasprintf("%s, line %d: service %s: -o: ", path, s->line, s->name);
			if (check_milters(in) < 0)
				bad_value = true;
			free(in);
			milter_override = false;
		}
		if (overridden) {
			/* Back to main.cf alone for the next service and what follows. */
			char dir[PATH_MAX];
			strlcpy(dir, config_dir(), sizeof(dir));
			int dest = log_get_dest();
			log_set_dest(0);	/* its warnings were shown at the first load */
			load(dir);
			log_set_dest(dest);
			overridden = false;
		}
		char *prog = s->argv[0][0] == '/' ? xstrdup(s->argv[0])
			: xasprintf("%s/%s", cfg_str(P_daemon_directory), s->argv[0]);
		if (s->procs > 0 && access(prog, X_OK) < 0 && !quiet) {
			fprintf(stderr, "tern: warning: %s, line %d: service %s: cannot execute %s: %s\n",
				path, s->line, s->name, prog, strerror(errno));
			problems++;
		}
		free(prog);
	}
	if (!quiet) {
		problems += (int)config_warn_unimplemented();
		problems += (int)services_warn_unimplemented(path, &t);
	}
	if (check_restrictions(&t, path) < 0)
		bad_value = true;
	services_free(&t);
	buf_free(&err);
	return bad_value ? -1 : problems;
}

/*
 * Tables, certificate and listening addresses (tern_check.c). MODE
 * 'c' (tern check): everything, errors as errors; 's' (start): the
 * certificate must be right, the rest is told as warnings (ternd itself
 * refuses to start when it cannot bind); 'r' (reload): the same, plus the
 * addresses, as warnings. Returns the errors found.
 */
static int check_deep(char mode)
{
	char path[PATH_MAX];
	struct service_table t;
	struct buf err = BUF_INIT;
	struct findings strict = { 0 }, soft = { .as_warnings = mode != 'c' };

	snprintf(path, sizeof(path), "%s/master.cf", config_dir());
	if (services_load(path, &t, &err) < 0) {
		buf_free(&err);
		return 0;	/* check_config() has said why */
	}
	check_maps(&soft);
	if (mode == 'c') {
		check_commands(&soft);
		check_corrupt(cfg_str(P_queue_directory), &soft);
	}
	check_tls(&t, path, &strict);
	if (mode != 's')
		check_listen(&t, path, cfg_str(P_queue_directory), &soft);
	services_free(&t);
	buf_free(&err);
	if (mode == 'c')
		return strict.errors + strict.warnings + soft.errors + soft.warnings;
	return strict.errors;
}

/*
 * Create missing queue directories; with fix, repair owners and modes,
 * and those of mail_owner's other parts: data_directory,
 * local_maildir_base and maillog_file (created when missing in an
 * existing directory: an owner-started master cannot create the log in a
 * root-made instance).
 */
static int check_queue(bool fix)
{
	struct qdir_ids ids;
	struct buf report = BUF_INIT;
	int flags = QDIRS_CREATE | (fix ? QDIRS_FIX : 0);
	int n = -1;
	if (qdirs_ids(cfg_str(P_mail_owner), cfg_str(P_setgid_group), &ids, &report) == 0)
		n = qdirs_setup(cfg_str(P_queue_directory), &ids, flags, &report);
	if (n >= 0 && fix) {
		static const struct { const char *param; mode_t mode; int flags; } own[] = {
			{ .param = P_data_directory, .mode = 0700 },
			{ .param = P_local_maildir_base, .mode = 0700 },
			{ .param = P_maillog_file, .mode = 0, .flags = QDIRS_FILE },
		};
		for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++) {
			const char *path = cfg_str(own[i].param);
			char *parent = xstrdup(path), *slash = strrchr(parent, '/');
			struct stat st;
			if (slash)
				*slash = '\0';
			bool there = slash && (*parent == '\0' || stat(parent, &st) == 0);
			free(parent);
			if (*path && there)
				n += qdirs_own(path, ids.uid, ids.gid, own[i].mode, flags | own[i].flags, &report);
		}
	}
	if (report.len)
		fprintf(stderr, "tern: %s", buf_str(&report));
	buf_free(&report);
	return n;
}

static void print_banner(const char *dir)
{
	const char *base = cfg_str(P_local_maildir_base);
	int port = instance_smtp_port(dir);
	printf("tern: starting the mail system of %s in the foreground (Ctrl-C stops it)\n", dir);
	printf("  send a message:  %s/sendmail -C %s you@localhost < message.txt\n",
	       cfg_str(P_command_directory), dir);
	if (port > 0)
		printf("  or by SMTP:      swaks --server 127.0.0.1:%d --to you@localhost\n", port);
	if (*base)
		printf("  read it in:      %s/you/new/\n", base);
	fflush(stdout);
}

int cmd_start(const char *dir, bool foreground)
{
	load(dir);
	const char *qdir = cfg_str(P_queue_directory);
	pid_t pid = master_running(qdir);
	if (pid) {
		fprintf(stderr, "tern: the mail system is already running (pid %ld)\n", (long)pid);
		return foreground ? EX_UNAVAILABLE : 0;
	}
	if (check_config(true) < 0)
		return EX_CONFIG;
	if (check_deep('s') > 0) {
		fprintf(stderr, "tern: not starting: fix the errors above\n");
		return EX_CONFIG;
	}
	if (check_queue(false) < 0)
		return EX_CONFIG;
	char *ternd = xasprintf("%s/ternd", cfg_str(P_daemon_directory));
	char *cdir = realpath(config_dir(), NULL);
	if (cdir == NULL)
		cdir = xstrdup(config_dir());
	char *argv[] = { "ternd", "-c", cdir, foreground ? "-f" : NULL, NULL };
	if (foreground) {
		print_banner(cdir);
		execv(ternd, argv);
		fprintf(stderr, "tern: cannot run %s: %s\n", ternd, strerror(errno));
		return EX_UNAVAILABLE;
	}
	pid_t child = fork();
	if (child < 0) {
		fprintf(stderr, "tern: fork: %s\n", strerror(errno));
		return EX_OSERR;
	}
	if (child == 0) {
		execv(ternd, argv);
		fprintf(stderr, "tern: cannot run %s: %s\n", ternd, strerror(errno));
		_exit(EX_UNAVAILABLE);
	}
	int status;
	while (waitpid(child, &status, 0) < 0 && errno == EINTR)
		;
	free(ternd);
	free(cdir);
	/* ternd's first process exits once the master is ready. */
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return WIFEXITED(status) ? WEXITSTATUS(status) : EX_SOFTWARE;
	/* check_config() may have read main.cf again: qdir is stale. */
	pid = master_running(cfg_str(P_queue_directory));
	printf("tern: the mail system is running (pid %ld)\n", (long)pid);
	return 0;
}

int cmd_stop(const char *dir)
{
	load(dir);
	const char *qdir = cfg_str(P_queue_directory);
	pid_t pid = master_running(qdir);
	if (pid == 0) {
		fprintf(stderr, "tern: the mail system is not running\n");
		return 0;
	}
	if (kill(pid, SIGTERM) < 0) {
		fprintf(stderr, "tern: cannot signal the master (pid %ld): %s\n", (long)pid, strerror(errno));
		return errno == EPERM ? EX_NOPERM : EX_OSERR;
	}
	/* The lock goes only when the master exits, after all its processes. */
	for (long waited = 0; waited < STOP_DEADLINE_SECS * 1000L; waited += 50) {
		if (master_running(qdir) == 0) {
			printf("tern: the mail system is stopped\n");
			return 0;
		}
		sleep_ms(50);
	}
	fprintf(stderr, "tern: the master (pid %ld) did not stop within %ds\n", (long)pid, STOP_DEADLINE_SECS);
	return EX_TEMPFAIL;
}

int cmd_reload(const char *dir)
{
	load(dir);
	if (check_config(true) < 0)
		return EX_CONFIG;
	/* A copy: the checks below may read main.cf again, which frees values. */
	char qdir[PATH_MAX];
	strlcpy(qdir, cfg_str(P_queue_directory), sizeof(qdir));
	pid_t pid = master_running(qdir);
	if (pid == 0) {
		fprintf(stderr, "tern: the mail system is not running\n");
		return EX_UNAVAILABLE;
	}
	if (check_deep('r') > 0) {
		fprintf(stderr, "tern: not reloading, the running configuration stays: fix the errors above\n");
		return EX_CONFIG;
	}
	unsigned before = read_generation(qdir);
	if (kill(pid, SIGHUP) < 0) {
		fprintf(stderr, "tern: cannot signal the master (pid %ld): %s\n", (long)pid, strerror(errno));
		return errno == EPERM ? EX_NOPERM : EX_OSERR;
	}
	for (long waited = 0; waited < RELOAD_DEADLINE_SECS * 1000L; waited += 50) {
		if (read_generation(qdir) != before) {
			printf("tern: the mail system is reloaded\n");
			return 0;
		}
		if (master_running(qdir) != pid) {
			fprintf(stderr, "tern: the master exited during the reload; see the log\n");
			return EX_SOFTWARE;
		}
		sleep_ms(50);
	}
	fprintf(stderr, "tern: the master did not confirm the reload within %ds\n", RELOAD_DEADLINE_SECS);
	return EX_TEMPFAIL;
}

/*
 * Each service as the running master set it up (pid/master.status,
 * rewritten at each start and reload): on with its addresses, or off
 * and why. Returns -1 when the master wrote none.
 */
static int print_listeners(const char *queue_dir)
{
	struct master_status st;
	if (master_status_read(queue_dir, &st) < 0)
		return -1;
	for (size_t i = 0; i < st.count; i++) {
		const struct master_status_svc *s = &st.svc[i];
		if (strcmp(s->type, "proc") == 0)
			continue;	/* no socket: nothing to listen on */
		if (s->on)
			printf("  %-12s %-6s on  %s\n", s->name, s->type, s->addrs);
		else
			printf("  %-12s %-6s off %s: %s (master.cf, line %d)\n", s->name, s->type, s->addrs,
			       s->why, s->line);
	}
	master_status_free(&st);
	return 0;
}

int cmd_status(const char *dir)
{
	load(dir);
	pid_t pid = master_running(cfg_str(P_queue_directory));
	if (pid == 0) {
		printf("tern: the mail system is not running\n");
		return 1;
	}
	printf("tern: the mail system is running: pid %ld\n", (long)pid);
	print_listeners(cfg_str(P_queue_directory));
	return 0;
}

int cmd_flush(const char *dir)
{
	struct buf err = BUF_INIT;
	load(dir);
	const char *qdir = cfg_str(P_queue_directory);
	if (master_running(qdir) == 0) {
		fprintf(stderr, "tern: the mail system is not running\n");
		return EX_UNAVAILABLE;
	}
	if (daemon_trigger(qdir, "public", "qmgr", "flush", &err) < 0) {
		fprintf(stderr, "tern: cannot reach the queue manager: %s\n", buf_str(&err));
		buf_free(&err);
		return EX_UNAVAILABLE;
	}
	return 0;
}

int cmd_check(const char *dir)
{
	load(dir);
	int c = check_config(false);
	if (c < 0)
		return EX_CONFIG;
	c += check_deep('c');
	/* Repairs need the rights to make them: root, or the owner on an instance. */
	int q = check_queue(true);
	if (q < 0)
		return EX_CONFIG;
	return (c || q) ? 1 : 0;
}
