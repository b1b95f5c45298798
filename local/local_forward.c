/*
 * local_forward.c - forward a copy of the message to the addresses an
 * alias or .forward names outside this host, as one new message through
 * cleanup (which qualifies, rewrites and queues it like any other).
 *
 * Runs in a child with mail_owner's privileges (the queue belongs to
 * mail_owner), never as root. The copy keeps the original sender (or the
 * list owner, see owner_request_special) and carries a Delivered-To:
 * header, so that a forwarding loop is seen when it comes back.
 */
#include "compat.h"

#include <string.h>

#include "mail/cleanup.h"
#include "mail/qfile.h"
#include "local/local.h"

struct fwd_job {
	const struct lmsg *m;
	const struct lrcpt *rc;
	const char *sender;
	char **addrs;
	size_t n;
};

static void forward_run(void *arg, struct lresult_text *res)
{
	struct fwd_job *j = arg;
	struct buf head = BUF_INIT, err = BUF_INIT;
	char id[QF_ID_MAX];
	struct cleanup *c = cleanup_open(CLEANUP_LOCAL, 0);
	int r;

	cleanup_sender(c, j->sender);
	for (size_t i = 0; i < j->n; i++)
		cleanup_recipient(c, j->addrs[i], 0, NULL);
	cleanup_attr(c, "protocol", "local");
	cleanup_attr(c, "forwarded_by", j->m->queue_id);
	if (j->rc != NULL && j->rc->delivered_to[0] != '\0' && local_delivered_header("forward"))
		buf_printf(&head, "Delivered-To: %s\n", j->rc->delivered_to);
	if ((head.len > 0 && cleanup_write(c, head.data, head.len) != 0)
	    || cleanup_write(c, j->m->content, j->m->content_len) != 0) {
		cleanup_abort(c);
		lres_set(res, LRESULT_DEFER, "4.3.0", "cannot forward: write error");
		goto out;
	}
	r = cleanup_finish(c, id, sizeof(id), &err);
	if (r == CLEANUP_OK)
		lres_set(res, LRESULT_SENT, "2.0.0", "forwarded as %s", id);
	else if (r == CLEANUP_REJECT)
		lres_set(res, LRESULT_BOUNCE, "5.3.0", "cannot forward: %s", buf_str(&err));
	else
		lres_set(res, LRESULT_DEFER, "4.3.0", "cannot forward: %s", buf_str(&err));
out:
	buf_free(&head);
	buf_free(&err);
}

void deliver_forward(const struct lmsg *m, const struct lrcpt *rc, const char *sender,
    char **addrs, size_t n, struct lresult_text *res)
{
	struct fwd_job j = {.m = m, .rc = rc, .sender = sender, .addrs = addrs, .n = n};
	struct ident id;

	ident_self(&id);
	run_as(&id, forward_run, &j, res);
}
