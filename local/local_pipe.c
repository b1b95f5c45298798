/*
 * local_pipe.c - delivery to a |command from an alias, .forward or
 * :include: file, and to mailbox_command.
 *
 * Runs in a child that already switched to the privileges the command
 * gets (run_as, local_ident.c); the command runs in its own process
 * group with a clean environment, in the user's home directory, with the
 * message ("From " line, Return-Path:, Delivered-To: as
 * prepend_delivered_header says, the message) on standard input. The
 * command text comes from the alias or .forward owner or from main.cf,
 * never from the message or the envelope (these reach the command only
 * through its environment): it is run directly
 * when it has no shell metacharacters, else by local_command_shell or
 * /bin/sh -c. Exit codes map as sysexits.h says (75 and the other
 * temporary ones defer, the rest bounce); command_time_limit kills it.
 */
#include "compat.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "mail/alias_expand.h"
#include "mail/config.h"
#include "local/local.h"
#include "util/mem.h"

struct pipe_job {
	const struct lmsg *m;
	const struct lrcpt *rc;
	const char *command;
	const struct ident *id;
};

/* sysexits.h -> result and enhanced status code, as Postfix's sys_exits table. */
static const struct {
	int code;
	enum lresult result;
	const char *dsn;
	const char *text;
} exits[] = {
	{EX_USAGE, LRESULT_BOUNCE, "5.3.0", "command line usage error"},
	{EX_DATAERR, LRESULT_BOUNCE, "5.6.0", "data format error"},
	{EX_NOINPUT, LRESULT_BOUNCE, "5.3.0", "cannot open input"},
	{EX_NOUSER, LRESULT_BOUNCE, "5.1.1", "user unknown"},
	{EX_NOHOST, LRESULT_BOUNCE, "5.1.2", "host name unknown"},
	{EX_UNAVAILABLE, LRESULT_BOUNCE, "5.3.0", "service unavailable"},
	{EX_SOFTWARE, LRESULT_BOUNCE, "5.3.0", "internal software error"},
	{EX_OSERR, LRESULT_DEFER, "4.3.0", "system resource problem"},
	{EX_OSFILE, LRESULT_BOUNCE, "5.3.0", "critical OS file missing"},
	{EX_CANTCREAT, LRESULT_BOUNCE, "5.2.0", "cannot create output file"},
	{EX_IOERR, LRESULT_DEFER, "4.3.0", "input/output error"},
	{EX_TEMPFAIL, LRESULT_DEFER, "4.3.0", "temporary failure"},
	{EX_PROTOCOL, LRESULT_BOUNCE, "5.5.0", "remote error in protocol"},
	{EX_NOPERM, LRESULT_BOUNCE, "5.7.0", "permission denied"},
	{EX_CONFIG, LRESULT_DEFER, "4.3.5", "local configuration error"},
};

static void setenv_safe(const char *name, const char *value)
{
	setenv(name, value ? value : "", 1);
}

static void child_env(const struct pipe_job *j)
{
	char **names = cfg_list(P_export_environment);
	size_t n = 0;
	char **keep;
	const char *at;

	/* Only what export_environment names survives (TZ, LANG, ...). */
	for (char **w = names; w && *w; w++)
		n++;
	keep = xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++) {
		const char *v = getenv(names[i]);
		keep[i] = v ? xasprintf("%s=%s", names[i], v) : NULL;
	}
	clearenv();
	for (size_t i = 0; i < n; i++)
		if (keep[i] != NULL)
			putenv(keep[i]);
	setenv_safe("PATH", "/usr/bin:/bin");
	setenv_safe("SHELL", j->id->shell);
	setenv_safe("HOME", j->id->home);
	setenv_safe("USER", j->id->user);
	setenv_safe("LOGNAME", j->id->user);
	setenv_safe("SENDER", j->m->sender);
	setenv_safe("RECIPIENT", j->rc->address);
	{
		/* ORCPT is "rfc822;addr": the variable holds the address only. */
		const char *o = j->rc->orcpt, *semi = strchr(o, ';');
		if (*o && semi != NULL && strncasecmp(o, "rfc822;", 7) == 0)
			o = semi + 1;
		setenv_safe("ORIGINAL_RECIPIENT", *o ? o : j->rc->address);
	}
	setenv_safe("EXTENSION", j->rc->ext);
	setenv_safe("DOMAIN", j->rc->domain);
	at = strrchr(j->rc->address, '@');
	{
		char *local = xstrndup(j->rc->address, at ? (size_t)(at - j->rc->address)
		    : strlen(j->rc->address));
		setenv_safe("LOCAL", local);
		free(local);
	}
	setenv_safe("QUEUE_ID", j->m->queue_id);
}

static bool needs_shell(const char *cmd)
{
	return strpbrk(cmd, "|&;<>()$`\\\"'*?[#~=%{}\n") != NULL;
}

static void exec_command(const struct pipe_job *j)
{
	const char *shell = cfg_str(P_local_command_shell);

	if (*shell != '\0') {
		execl(shell, shell, "-c", j->command, (char *)NULL);
	} else if (needs_shell(j->command)) {
		execl("/bin/sh", "sh", "-c", j->command, (char *)NULL);
	} else {
		char **argv;
		size_t n = alias_split(j->command, &argv);	/* whitespace-separated words */
		argv = xreallocarray(argv, n + 1, sizeof(char *));
		argv[n] = NULL;
		if (n > 0)
			execvp(argv[0], argv);
		/* Not a program: a shell builtin such as "exit 67" (aliases(5)). */
		if (errno == ENOENT)
			execl("/bin/sh", "sh", "-c", j->command, (char *)NULL);
	}
	fprintf(stderr, "cannot execute %s: %s", j->command, strerror(errno));
	_exit(EX_TEMPFAIL);
}

static void pipe_run(void *arg, struct lresult_text *res)
{
	struct pipe_job *j = arg;
	struct buf in = BUF_INIT, out = BUF_INIT;
	int pin[2], pout[2], status = 0;
	size_t sent = 0;
	long long limit = cfg_int(P_command_time_limit);
	time_t deadline = time(NULL) + (time_t)(limit > 0 ? limit : 1000);
	int timed_out = 0;
	pid_t pid;

	local_prepend(j->m, j->rc, "command", true, &in);
	buf_add(&in, j->m->content, j->m->content_len);
	if (pipe2(pin, O_CLOEXEC) < 0 || pipe2(pout, O_CLOEXEC) < 0) {
		lres_set(res, LRESULT_DEFER, "4.3.0", "pipe: %s", strerror(errno));
		return;
	}
	pid = fork();
	if (pid < 0) {
		lres_set(res, LRESULT_DEFER, "4.3.0", "fork: %s", strerror(errno));
		return;
	}
	if (pid == 0) {
		setpgid(0, 0);
		dup2(pin[0], 0);
		dup2(pout[1], 1);
		dup2(pout[1], 2);
		/* Nothing of the delivery agent's (queue file, maps, sockets) reaches the command. */
		close_range(3, ~0U, 0);
		signal(SIGPIPE, SIG_DFL);
		if (chdir(j->id->home) < 0 && chdir("/") < 0)
			_exit(EX_OSERR);
		child_env(j);
		exec_command(j);
	}
	close(pin[0]);
	close(pout[1]);
	fcntl(pin[1], F_SETFL, O_NONBLOCK);
	signal(SIGPIPE, SIG_IGN);
	/* Feed standard input and collect output at once, so neither side blocks. */
	for (;;) {
		struct pollfd pf[2] = {{.fd = pout[0], .events = POLLIN},
				       {.fd = sent < in.len ? pin[1] : -1, .events = POLLOUT}};
		time_t left = deadline - time(NULL);
		int r;

		if (sent >= in.len && pin[1] >= 0) {
			close(pin[1]);
			pin[1] = -1;
			pf[1].fd = -1;
		}
		if (left <= 0) {
			timed_out = 1;
			break;
		}
		r = poll(pf, 2, (int)(left > 60 ? 60000 : left * 1000));
		if (r < 0 && errno != EINTR)
			break;
		if (pf[1].revents & (POLLOUT | POLLERR | POLLHUP)) {
			ssize_t w = write(pin[1], in.data + sent, in.len - sent);
			if (w > 0)
				sent += (size_t)w;
			else if (w < 0 && errno != EAGAIN && errno != EINTR)
				sent = in.len;	/* the command stopped reading */
		}
		if (pf[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			char chunk[1024];
			ssize_t n = read(pout[0], chunk, sizeof(chunk));
			if (n <= 0)
				break;
			if (out.len < 1000)
				buf_add(&out, chunk, (size_t)n);
		}
	}
	if (pin[1] >= 0)
		close(pin[1]);
	close(pout[0]);
	if (timed_out)
		kill(-pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	while (out.len > 0 && (out.data[out.len - 1] == '\n' || out.data[out.len - 1] == ' '))
		buf_truncate(&out, out.len - 1);
	if (out.len > 300)
		buf_truncate(&out, 300);
	if (timed_out) {
		lres_set(res, LRESULT_DEFER, "4.3.0", "command time limit exceeded: \"%s\"", j->command);
	} else if (WIFSIGNALED(status)) {
		lres_set(res, LRESULT_DEFER, "4.3.0", "command killed by signal %d: \"%s\"",
		    WTERMSIG(status), j->command);
	} else if (WEXITSTATUS(status) == 0) {
		lres_set(res, LRESULT_SENT, "2.0.0", "delivered to command: %s", j->command);
	} else {
		int code = WEXITSTATUS(status);
		enum lresult r = LRESULT_BOUNCE;
		const char *dsn = "5.3.0", *what = "command died";

		for (size_t i = 0; i < sizeof(exits) / sizeof(exits[0]); i++) {
			if (exits[i].code == code) {
				r = exits[i].result;
				dsn = exits[i].dsn;
				what = exits[i].text;
			}
		}
		lres_set(res, r, dsn, "Command died with status %d: \"%s\" (%s)%s%s", code, j->command,
		    what, out.len ? ". Command output: " : "", buf_str(&out));
	}
	buf_free(&in);
	buf_free(&out);
}

void deliver_pipe(const struct lmsg *m, const struct lrcpt *rc, const char *command,
    const struct ident *id, struct lresult_text *res)
{
	struct pipe_job j = {.m = m, .rc = rc, .command = command, .id = id};

	run_as(id, pipe_run, &j, res);
}
