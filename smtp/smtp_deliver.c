/*
 * smtp_deliver.c - placeholder for the SMTP client proper (next hop to
 * hosts, sessions, connection cache): it defers every recipient, so that
 * the smtp program and qmgr's routing to it can be built and tested.
 * Runs as mail_owner inside the smtp program (see smtp.c).
 */
#include "compat.h"

#include <string.h>

#include "smtp/smtp.h"

int smtp_deliver_init(struct buf *err)
{
	(void)err;
	return 0;
}

void smtp_deliver(struct smtp_message *m)
{
	for (size_t i = 0; i < m->n; i++) {
		struct smtp_rcpt *r = &m->rcpt[i];

		r->outcome = SMTP_DEFER;
		strlcpy(r->dsn, "4.3.0", sizeof(r->dsn));
		buf_reset(&r->text);
		buf_adds(&r->text, "smtp client not built");
		strlcpy(r->relay, "none", sizeof(r->relay));
	}
}

int smtp_cache_timeout_ms(void)
{
	return -1;
}

void smtp_cache_expire(bool all)
{
	(void)all;
}
