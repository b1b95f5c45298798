/*
 * bounce.c - queue a delivery status notification through cleanup.
 *
 * Mail layer; runs in the queue manager as mail_owner. Who gets the
 * notice: the envelope sender, with the null sender <> so that a notice
 * never causes another; a failed message that itself had the null sender
 * (a bounce of a bounce) goes to 2bounce_notice_recipient when
 * notify_classes lists 2bounce (or bounce), as in Postfix, and is
 * discarded otherwise. Postmaster copies (headers only) of bounces and
 * delay warnings go to bounce_notice_recipient / delay_notice_recipient
 * when notify_classes lists bounce / delay. Every notice to the
 * postmaster has the sender $double_bounce_sender@$myorigin, and a
 * failure of such a notice is only logged, which ends every loop.
 * Parameters: myhostname, myorigin, notify_classes,
 * 2bounce_notice_recipient, bounce_notice_recipient,
 * delay_notice_recipient, bounce_size_limit, double_bounce_sender.
 */
#include "compat.h"

#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "mail/bounce.h"
#include "mail/cleanup.h"
#include "mail/config.h"
#include "util/log.h"

void bounce_double_sender(struct buf *out)
{
	const char *lp = cfg_str(P_double_bounce_sender);

	buf_printf(out, "%s@%s", *lp ? lp : "double-bounce", cfg_str(P_myorigin));
}

int bounce_notify_class(const char *cls)
{
	for (char **w = cfg_list(P_notify_classes); w != NULL && *w != NULL; w++)
		if (strcasecmp(*w, cls) == 0)
			return 1;
	return 0;
}

/* Fill in what m leaves open, compose, and queue it from env_sender. */
static int queue_notice(struct bounce_msg *m, const char *env_sender, char *queue_id,
    size_t idlen, struct buf *err)
{
	struct buf from = BUF_INIT, boundary = BUF_INIT, text = BUF_INIT;
	struct cleanup *c;
	int ret = -1;

	if (m->reporting_mta == NULL)
		m->reporting_mta = cfg_str(P_myhostname);
	if (m->from == NULL) {
		buf_printf(&from, "MAILER-DAEMON@%s", cfg_str(P_myhostname));
		m->from = buf_str(&from);
	}
	if (m->now == 0)
		m->now = time(NULL);
	if (m->boundary == NULL) {
		buf_printf(&boundary, "%s.%lld.%ld%s/%s", m->queue_id, (long long)m->now,
		    (long)getpid(), m->postmaster_copy ? ".pm" : "", m->reporting_mta);
		m->boundary = buf_str(&boundary);
	}
	if (m->size_limit == 0)
		m->size_limit = (size_t)cfg_int(P_bounce_size_limit);
	bounce_compose(m, &text);

	c = cleanup_open(CLEANUP_BOUNCE, 0);
	cleanup_sender(c, env_sender);
	cleanup_recipient(c, m->to, 0, NULL);
	cleanup_attr(c, "protocol", "local");
	if (cleanup_write(c, text.data, text.len) != 0) {
		cleanup_abort(c);
		buf_adds(err, "cannot write the notice");
		goto out;
	}
	if (cleanup_finish(c, queue_id, idlen, err) != CLEANUP_OK)
		goto out;
	msg_info("%s: %s %s notification: %s", m->queue_id,
	    m->postmaster_copy || *env_sender ? "postmaster" : "sender",
	    m->kind == BOUNCE_FAILED ? "non-delivery" : m->kind == BOUNCE_DELAYED ? "delay"
	    : "delivery status", queue_id);
	ret = 0;
out:
	buf_free(&from);
	buf_free(&boundary);
	buf_free(&text);
	return ret;
}

int bounce_error_notice(const char *cls, const char *queue_id, const char *what)
{
	static time_t last_resource, last_software;
	time_t *last = strcmp(cls, "resource") == 0 ? &last_resource : &last_software;
	time_t now = time(NULL);
	struct buf dbl = BUF_INIT, text = BUF_INIT, err = BUF_INIT;
	char id[64];
	struct cleanup *c;
	int sent = 0;

	if (!bounce_notify_class(cls) || (*last != 0 && now - *last < 60 && now >= *last))
		return 0;
	*last = now;
	bounce_double_sender(&dbl);
	buf_printf(&text, "From: MAILER-DAEMON@%s (Mail Delivery System)\nTo: %s\n"
	    "Subject: Postmaster Warning: %s\nDate: ", cfg_str(P_myhostname),
	    cfg_str(P_error_notice_recipient),
	    strcmp(cls, "resource") == 0 ? "resource problem" : "software error");
	bounce_date(now, &text);
	buf_printf(&text, "\nAuto-Submitted: auto-generated\n"
	    "Content-Type: text/plain; charset=us-ascii\n\n"
	    "This is the mail system at host %s.\n\n"
	    "A message could not be handled because of a %s (notify_classes %s):\n\n"
	    "  %s: %s\n\n"
	    "The mail log has the details. Further notices of this kind from the\n"
	    "same process are held back for a minute.\n",
	    cfg_str(P_myhostname), strcmp(cls, "resource") == 0 ? "resource problem"
	    : "software error", cls, queue_id, what);
	for (size_t i = 0; i < text.len; i++)
		if ((unsigned char)text.data[i] >= 0x80 || (text.data[i] < 0x20 && text.data[i] != '\n'))
			text.data[i] = '?';	/* the reason may quote anything */
	c = cleanup_open(CLEANUP_BOUNCE, 0);
	cleanup_sender(c, buf_str(&dbl));
	cleanup_recipient(c, cfg_str(P_error_notice_recipient), 0, NULL);
	cleanup_attr(c, "protocol", "local");
	if (cleanup_write(c, text.data, text.len) != 0) {
		cleanup_abort(c);
		msg_warn("%s: cannot queue the %s notice to the postmaster", queue_id, cls);
	} else if (cleanup_finish(c, id, sizeof(id), &err) != CLEANUP_OK) {
		msg_warn("%s: cannot queue the %s notice to the postmaster: %s", queue_id, cls,
		    buf_str(&err));
	} else {
		msg_info("%s: postmaster %s notification: %s", queue_id, cls, id);
		sent = 1;
	}
	buf_free(&dbl);
	buf_free(&text);
	buf_free(&err);
	return sent;
}

int bounce_send(const struct bounce_msg *orig, char *queue_id, size_t idlen, struct buf *err)
{
	struct bounce_msg m = *orig;
	struct buf dbl = BUF_INIT;
	const char *env_sender = "";
	int ret;

	bounce_double_sender(&dbl);
	if (strcasecmp(m.sender, buf_str(&dbl)) == 0) {
		msg_warn("%s: undeliverable postmaster notification discarded", m.queue_id);
		ret = 1;
		goto out;
	}
	if (*m.sender == '\0') {
		if (m.kind != BOUNCE_FAILED) {
			ret = 1;	/* no warnings or success notices for <> */
			goto out;
		}
		if (!bounce_notify_class("2bounce") && !bounce_notify_class("bounce")) {
			/* Postfix's default too: an undeliverable bounce is dropped. */
			msg_info("%s: undeliverable bounce discarded (notify_classes lists no 2bounce)",
			    m.queue_id);
			ret = 1;
			goto out;
		}
		m.to = cfg_str(P_2bounce_notice_recipient);
		env_sender = buf_str(&dbl);
	} else if (m.to == NULL) {
		m.to = m.sender;
	}
	ret = queue_notice(&m, env_sender, queue_id, idlen, err);
	/* The postmaster's copy: headers only, from double-bounce@, never fatal. */
	if (ret == 0 && *orig->sender != '\0' && ((m.kind == BOUNCE_FAILED
	    && bounce_notify_class("bounce")) || (m.kind == BOUNCE_DELAYED
	    && bounce_notify_class("delay")))) {
		struct bounce_msg pm = *orig;
		struct buf perr = BUF_INIT;
		char pid[64];

		pm.to = cfg_str(m.kind == BOUNCE_FAILED ? P_bounce_notice_recipient
		    : P_delay_notice_recipient);
		pm.ret_full = 0;
		pm.postmaster_copy = 1;
		if (queue_notice(&pm, buf_str(&dbl), pid, sizeof(pid), &perr) < 0)
			msg_warn("%s: cannot queue the postmaster copy: %s", m.queue_id, buf_str(&perr));
		buf_free(&perr);
	}
out:
	buf_free(&dbl);
	return ret;
}
