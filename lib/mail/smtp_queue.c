/*
 * smtp_queue.c - SMTP engine message callbacks that hand the message to
 * cleanup (see smtp_queue.h).
 *
 * Mail layer. Runs in smtpd as mail_owner and in sendmail -bs as the
 * user; content arrives in pieces and goes straight to cleanup_write(),
 * so nothing here holds a whole message.
 */
#include "compat.h"

#include <stdlib.h>

#include "mail/cleanup.h"
#include "mail/smtp_cmd.h"
#include "mail/smtp_queue.h"
#include "util/mem.h"

struct smtp_queue_msg {
	struct cleanup *c;
};

static void attr(struct cleanup *c, const char *name, const char *value)
{
	if (value != NULL && *value != '\0')
		cleanup_attr(c, name, value);
}

void *smtp_queue_open(void *ctx, const struct smtp_session_info *si,
		const struct smtp_envelope *env, struct buf *reply)
{
	return smtp_queue_open_edit(ctx, si, env, false, NULL, reply);
}

struct cleanup *smtp_queue_cleanup(void *msg)
{
	return ((struct smtp_queue_msg *)msg)->c;
}

void *smtp_queue_open_edit(void *ctx, const struct smtp_session_info *si,
		const struct smtp_envelope *env, bool edit, struct qfile_writer *w, struct buf *reply)
{
	(void)ctx;
	struct cleanup *c = cleanup_open_writer(CLEANUP_SMTP, edit ? CLEANUP_FLAG_EDIT : 0, w);
	if (c == NULL) {
		buf_reset(reply);
		buf_adds(reply, "451 4.3.0 Error: queue file write error");
		return NULL;
	}
	cleanup_sender(c, env->sender);
	attr(c, "client_name", si->client_name);
	attr(c, "client_addr", si->client_addr);
	attr(c, "helo_name", si->helo);
	attr(c, "protocol", env->protocol);
	attr(c, "sasl_username", si->sasl_username);
	attr(c, "sasl_method", si->sasl_method);
	attr(c, "tls_version", si->tls_version);
	attr(c, "tls_cipher", si->tls_cipher);
	if (env->ret == SMTP_RET_FULL)
		attr(c, "dsn_ret", "FULL");
	else if (env->ret == SMTP_RET_HDRS)
		attr(c, "dsn_ret", "HDRS");
	attr(c, "dsn_envid", env->envid);
	if (env->body == SMTP_BODY_8BITMIME)
		attr(c, "body_type", "8BITMIME");
	else if (env->body == SMTP_BODY_7BIT)
		attr(c, "body_type", "7BIT");
	if (env->smtputf8)
		attr(c, "smtputf8", "yes");
	for (size_t i = 0; i < env->nrcpt; i++)
		cleanup_recipient(c, env->rcpts[i].addr, env->rcpts[i].notify, env->rcpts[i].orcpt);
	struct smtp_queue_msg *m = xmalloc(sizeof(*m));
	m->c = c;
	return m;
}

int smtp_queue_write(void *msg, const char *data, size_t len)
{
	struct smtp_queue_msg *m = msg;
	return cleanup_write(m->c, data, len) < 0 ? -1 : 0;
}

int smtp_queue_close_headers(void *msg)
{
	struct smtp_queue_msg *m = msg;
	/* At most two: one to end a last line without LF, one empty line. */
	for (int i = 0; i < 2 && cleanup_in_headers(m->c); i++)
		if (cleanup_write(m->c, "\n", 1) < 0)
			return -1;
	return 0;
}

enum smtp_commit smtp_queue_commit(void *msg, char *queue_id, size_t idlen, struct buf *reason)
{
	struct smtp_queue_msg *m = msg;
	int r = cleanup_finish(m->c, queue_id, idlen, reason);
	free(m);
	switch (r) {
	case CLEANUP_OK:
		return SMTP_COMMIT_OK;
	case CLEANUP_REJECT:
		return SMTP_COMMIT_REJECT;
	default:
		return SMTP_COMMIT_TEMPFAIL;
	}
}

enum smtp_commit smtp_queue_finish(void *ctx, void *msg, char *queue_id, size_t idlen,
		struct buf *reason)
{
	(void)ctx;
	return smtp_queue_commit(msg, queue_id, idlen, reason);
}

void smtp_queue_abort(void *msg)
{
	struct smtp_queue_msg *m = msg;
	cleanup_abort(m->c);
	free(m);
}
