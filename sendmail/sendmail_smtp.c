/*
 * sendmail_smtp.c - sendmail -bs: an SMTP session on standard input and
 * output, run by the shared protocol engine (lib/mail/smtp_engine.h).
 *
 * Part of the sendmail program; runs with the caller's privileges. Each
 * message is handed to terndrop exactly as -bm does (sendmail_submit.c
 * builds the same records), so the 250 after DATA means the message is
 * durable in maildrop/. MAIL FROM gets 452 4.3.1 while the queue file
 * system has no more than queue_minfree bytes free (lib/mail/qspace.h),
 * as in smtpd. No relay checks apply: the caller could run
 * sendmail -bm just as well.
 */
#include "compat.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

#include "mail/config.h"
#include "mail/droprec.h"
#include "mail/qspace.h"
#include "sendmail/sendmail.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/mem.h"

#if __has_include("mail/smtp_engine.h")
#include "mail/smtp_cmd.h"
#include "mail/smtp_engine.h"

struct bs_msg {
	int fd;			/* records to terndrop */
	int idfd;		/* terndrop reports the queue id here */
	pid_t pid;
	struct buf out;
	bool broken;
};

static void msg_flush(struct bs_msg *m)
{
	size_t off = 0;
	while (off < m->out.len && !m->broken) {
		ssize_t n = write(m->fd, m->out.data + off, m->out.len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			m->broken = true;
		else
			off += (size_t)n;
	}
	buf_reset(&m->out);
}

static void put(struct bs_msg *m, char type, const void *data, size_t len)
{
	droprec_put(&m->out, type, data, len);
	if (m->out.len >= 65536)
		msg_flush(m);
}

static void *bs_open(void *ctx, const struct smtp_session_info *si, const struct smtp_envelope *env,
		     struct buf *reply)
{
	const struct sm_opts *o = ctx;
	struct buf prog = BUF_INIT, rec = BUF_INIT;
	int p[2], q[2];
	buf_printf(&prog, "%s/terndrop", cfg_str(P_command_directory));
	if (pipe(p) != 0 || pipe(q) != 0) {
		buf_adds(reply, "451 4.3.0 Error: cannot start the queue writer");
		return NULL;
	}
	pid_t pid = fork();
	if (pid < 0) {
		buf_adds(reply, "451 4.3.0 Error: cannot start the queue writer");
		return NULL;
	}
	if (pid == 0) {
		/* Standard output is the SMTP channel: terndrop never writes there. */
		dup2(p[0], 0);
		dup2(q[1], 1);
		close(p[0]); close(p[1]); close(q[0]); close(q[1]);
		if (sm_config_arg(o))
			execl(buf_str(&prog), "terndrop", "-r", "-C", sm_config_arg(o), (char *)NULL);
		else
			execl(buf_str(&prog), "terndrop", "-r", (char *)NULL);
		_exit(EX_UNAVAILABLE);
	}
	close(p[0]);
	close(q[1]);
	struct bs_msg *m = xcalloc(1, sizeof(*m));
	m->fd = p[1];
	m->idfd = q[0];
	m->pid = pid;
	put(m, 'V', "1", 1);
	put(m, 'S', env->sender, strlen(env->sender));
	buf_printf(&rec, "protocol=%s", env->protocol ? env->protocol : "SMTP");
	put(m, 'A', rec.data, rec.len);
	if (si->helo) {
		buf_reset(&rec);
		buf_printf(&rec, "helo_name=%s", si->helo);
		put(m, 'A', rec.data, rec.len);
	}
	if (env->envid) {
		buf_reset(&rec);
		buf_printf(&rec, "dsn_envid=%s", env->envid);
		put(m, 'A', rec.data, rec.len);
	}
	if (env->ret == SMTP_RET_FULL || env->ret == SMTP_RET_HDRS) {
		buf_reset(&rec);
		buf_printf(&rec, "dsn_ret=%s", env->ret == SMTP_RET_FULL ? "FULL" : "HDRS");
		put(m, 'A', rec.data, rec.len);
	}
	if (env->smtputf8)
		put(m, 'A', "smtputf8=yes", 12);
	for (size_t i = 0; i < env->nrcpt; i++) {
		buf_reset(&rec);
		buf_printf(&rec, "%X\t%s\t%s", env->rcpts[i].notify & 0xf,
			   env->rcpts[i].orcpt ? env->rcpts[i].orcpt : "", env->rcpts[i].addr);
		put(m, 'R', rec.data, rec.len);
	}
	put(m, 'M', "", 0);
	buf_free(&prog);
	buf_free(&rec);
	return m;
}

static int bs_write(void *msg, const char *data, size_t len)
{
	struct bs_msg *m = msg;
	while (len > 0) {
		size_t n = len > 65536 ? 65536 : len;
		put(m, 'C', data, n);
		data += n;
		len -= n;
	}
	return m->broken ? -1 : 0;
}

static int bs_wait(struct bs_msg *m)
{
	int status;
	close(m->fd);
	while (waitpid(m->pid, &status, 0) < 0)
		if (errno != EINTR)
			return EX_OSERR;
	return WIFEXITED(status) ? WEXITSTATUS(status) : EX_TEMPFAIL;
}

static enum smtp_commit bs_finish(void *ctx, void *msg, char *queue_id, size_t idlen, struct buf *reason)
{
	(void)ctx;
	struct bs_msg *m = msg;
	char id[64] = "";
	put(m, 'E', "", 0);
	msg_flush(m);
	int status = bs_wait(m);
	ssize_t n = read(m->idfd, id, sizeof(id) - 1);
	close(m->idfd);
	id[n > 0 ? n : 0] = '\0';
	id[strcspn(id, "\n")] = '\0';
	buf_free(&m->out);
	free(m);
	if (status == EX_OK) {
		strlcpy(queue_id, id[0] ? id : "maildrop", idlen);
		return SMTP_COMMIT_OK;
	}
	if (status == EX_TEMPFAIL || status == EX_OSERR || status == EX_IOERR || status == EX_UNAVAILABLE) {
		buf_adds(reason, "Error: queue file write error");
		return SMTP_COMMIT_TEMPFAIL;
	}
	buf_printf(reason, "Error: message not accepted (terndrop exit status %d)", status);
	return SMTP_COMMIT_REJECT;
}

/* queue_minfree at MAIL FROM, as smtpd (terndrop would refuse the message later anyway). */
static enum smtp_verdict bs_space(void *ctx, const struct smtp_session_info *si, struct buf *reply)
{
	(void)ctx;
	(void)si;
	unsigned long long minfree = (unsigned long long)cfg_int(P_queue_minfree);
	struct buf why = BUF_INIT;
	int room = minfree > 0 ? qspace_check(cfg_str(P_queue_directory), minfree, 0, &why) : 1;
	buf_free(&why);
	if (room != 0)
		return SMTP_ACCEPT;
	buf_adds(reply, "452 4.3.1 Insufficient system storage");
	return SMTP_REJECT;
}

static void bs_abort(void *msg)
{
	struct bs_msg *m = msg;
	kill(m->pid, SIGTERM);
	bs_wait(m);
	close(m->idfd);
	buf_free(&m->out);
	free(m);
}

int sm_smtp(const struct sm_opts *o)
{
	struct buf banner = BUF_INIT;
	config_expand(cfg_str(P_smtpd_banner), &banner);
	struct smtp_engine_cfg cfg = {
		.myhostname = cfg_str(P_myhostname),
		.banner = buf_str(&banner),
		.recipient_limit = (unsigned)cfg_int(P_smtpd_recipient_limit),
		.message_size_limit = cfg_int(P_message_size_limit),
		.line_limit = 2048,
		.soft_error_limit = 10,
		.hard_error_limit = 20,
		.junk_command_limit = 100,
		.forbid_bare_newline = false,
		.strict_envelopes = cfg_bool(P_strict_rfc821_envelopes),
		.lf_line_ends = true,	/* LF-only scripts: a lone "." ends the message, as in sendmail */
		.vrfy_enabled = false,
		.reject_min_user = !cfg_bool(P_allow_min_user),
		.pipelining = true,
		.dsn = true,
		.smtputf8 = true,
		.eightbitmime = true,
	};
	struct smtp_engine_ops ops = {
		.msg_open = bs_open,
		.msg_write = bs_write,
		.msg_finish = bs_finish,
		.msg_abort = bs_abort,
		.check_rate = bs_space,
	};
	signal(SIGPIPE, SIG_IGN);
	struct smtp_engine *e = smtp_engine_new(&cfg, &ops, (void *)o, "localhost", "");
	int rc = smtp_engine_run_stdio(e, (unsigned)cfg_int(P_smtpd_timeout));
	smtp_engine_free(e);
	buf_free(&banner);
	return rc == 0 ? EX_OK : EX_TEMPFAIL;
}

#else

int sm_smtp(const struct sm_opts *o)
{
	(void)o;
	msg_fatal_status(EX_UNAVAILABLE, "-bs: this build has no SMTP engine");
}

#endif
