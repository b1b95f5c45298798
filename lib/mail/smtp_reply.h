/*
 * smtp_reply.h - reading SMTP replies as a client (RFC 5321 section 4.2).
 *
 * Mail layer, pure parsing, no I/O and no privileges: the SMTP client
 * (lib/mail/smtpc.c) feeds it what the server sent. A reply is one or
 * more lines "ddd-text" ending with "ddd text" (or "ddd"), all with the
 * same code; the text is collected on one line for logs and bounces.
 */
#ifndef TERN_MAIL_SMTP_REPLY_H
#define TERN_MAIL_SMTP_REPLY_H

#include <stddef.h>

#include "util/buf.h"

#define SMTP_REPLY_MAX	8192	/* longest reply text kept; longer lines are an error */

/*
 * Take one complete reply from the front of in (consuming it). Returns
 * the code (200..599) with text set to "ddd first line second line...",
 * 0 when in does not hold a complete reply yet, -1 when the input is not
 * an SMTP reply (bad code, codes that change within a reply, a line over
 * SMTP_REPLY_MAX) with the reason in text.
 */
int smtp_reply_take(struct buf *in, struct buf *text);

/*
 * The enhanced status code of a reply ("550 5.1.1 ..." gives "5.1.1"),
 * its class forced to agree with code, or "N.0.0" when there is none.
 */
void smtp_reply_status(int code, const char *text, char *dsn, size_t size);

#endif
