/*
 * bounce.c - queue a delivery status notification through cleanup.
 *
 * Mail layer; runs in the queue manager as mail_owner. Who gets the
 * notice: the envelope sender, with the null sender <> so that a notice
 * never causes another; a failed message that itself had the null sender
 * (a bounce of a bounce) goes to 2bounce_notice_recipient with the
 * sender $double_bounce_sender@$myorigin, and a failure of such a notice is only
 * logged, which ends every loop. Parameters: myhostname, myorigin,
 * 2bounce_notice_recipient, bounce_size_limit, double_bounce_sender.
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

int bounce_send(const struct bounce_msg *orig, char *queue_id, size_t idlen, struct buf *err)
{
	struct bounce_msg m = *orig;
	struct buf dbl = BUF_INIT, from = BUF_INIT, boundary = BUF_INIT, text = BUF_INIT;
	const char *env_sender = "";
	struct cleanup *c;
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
		m.to = cfg_str(P_2bounce_notice_recipient);
		env_sender = buf_str(&dbl);
	} else if (m.to == NULL) {
		m.to = m.sender;
	}
	if (m.reporting_mta == NULL)
		m.reporting_mta = cfg_str(P_myhostname);
	if (m.from == NULL) {
		buf_printf(&from, "MAILER-DAEMON@%s", cfg_str(P_myhostname));
		m.from = buf_str(&from);
	}
	if (m.now == 0)
		m.now = time(NULL);
	if (m.boundary == NULL) {
		buf_printf(&boundary, "%s.%lld.%ld/%s", m.queue_id, (long long)m.now,
		    (long)getpid(), m.reporting_mta);
		m.boundary = buf_str(&boundary);
	}
	if (m.size_limit == 0)
		m.size_limit = (size_t)cfg_int(P_bounce_size_limit);
	bounce_compose(&m, &text);

	c = cleanup_open(CLEANUP_BOUNCE, 0);
	cleanup_sender(c, env_sender);
	cleanup_recipient(c, m.to, 0, NULL);
	cleanup_attr(c, "protocol", "local");
	if (cleanup_write(c, text.data, text.len) != 0) {
		cleanup_abort(c);
		buf_adds(err, "cannot write the notice");
		ret = -1;
		goto out;
	}
	if (cleanup_finish(c, queue_id, idlen, err) != CLEANUP_OK) {
		ret = -1;
		goto out;
	}
	msg_info("%s: sender %s notification: %s", m.queue_id,
	    m.kind == BOUNCE_FAILED ? "non-delivery" : m.kind == BOUNCE_DELAYED ? "delay"
	    : "delivery status", queue_id);
	ret = 0;
out:
	buf_free(&dbl);
	buf_free(&from);
	buf_free(&boundary);
	buf_free(&text);
	return ret;
}
