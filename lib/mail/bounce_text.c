/*
 * bounce_text.c - the text of a delivery status notification (RFC 3464,
 * multipart/report; report-type=delivery-status, RFC 6522).
 *
 * Mail layer, pure text generation, no privileges and no I/O. Three
 * parts: a human-readable explanation, the machine-readable
 * message/delivery-status, and the original message's headers
 * (text/rfc822-headers) or, with RET=FULL and within bounce_size_limit,
 * the whole message (message/rfc822). Every value that comes from
 * outside (addresses, diagnostics) is cleaned of control characters so
 * that it cannot start a header or a MIME part of its own.
 */
#include "compat.h"

#include <string.h>
#include <time.h>

#include "mail/bounce.h"

void bounce_date(time_t when, struct buf *out)
{
	struct tm tm;
	char text[64];

	localtime_r(&when, &tm);
	if (strftime(text, sizeof(text), "%a, %d %b %Y %H:%M:%S %z", &tm) == 0)
		text[0] = '\0';
	buf_adds(out, text);
}

/* Append s with control characters (CR, LF, ...) replaced by spaces. */
static void add_clean(struct buf *out, const char *s)
{
	for (; s != NULL && *s; s++) {
		unsigned char c = (unsigned char)*s;
		buf_addc(out, (c < 0x20 || c == 0x7f) ? ' ' : (char)c);
	}
}

static void add_addr(struct buf *out, const char *addr)
{
	buf_addc(out, '<');
	add_clean(out, addr);
	buf_addc(out, '>');
}

static const char *subject(enum bounce_kind kind, int postmaster_copy)
{
	if (postmaster_copy)
		return kind == BOUNCE_DELAYED ? "Postmaster Warning: Delayed Mail"
		    : "Postmaster Copy: Undelivered Mail";
	switch (kind) {
	case BOUNCE_DELAYED:
		return "Delayed Mail (still being retried)";
	case BOUNCE_DELIVERED:
		return "Successful Mail Delivery Report";
	default:
		return "Undelivered Mail Returned to Sender";
	}
}

static const char *action(enum bounce_kind kind)
{
	switch (kind) {
	case BOUNCE_DELAYED:
		return "delayed";
	case BOUNCE_DELIVERED:
		return "delivered";
	default:
		return "failed";
	}
}

static void human_part(const struct bounce_msg *m, struct buf *out)
{
	buf_printf(out, "--%s\n", m->boundary);
	buf_adds(out, "Content-Description: Notification\n"
	    "Content-Type: text/plain; charset=us-ascii\n\n");
	buf_adds(out, "This is the mail system at host ");
	add_clean(out, m->reporting_mta);
	buf_adds(out, ".\n\n");
	switch (m->kind) {
	case BOUNCE_FAILED:
		buf_adds(out, "I'm sorry to have to inform you that your message could not\n"
		    "be delivered to one or more recipients. It's attached below.\n\n"
		    "For further assistance, please send mail to postmaster.\n\n"
		    "If you do so, please include this problem report. You can\n"
		    "delete your own text from the attached returned message.\n\n");
		break;
	case BOUNCE_DELAYED:
		buf_adds(out, "####################################################################\n"
		    "# THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND YOUR MESSAGE. #\n"
		    "####################################################################\n\n"
		    "Your message could not be delivered for more than ");
		{
			long hours = (long)((m->now - m->arrival) / 3600);
			long mins = (long)((m->now - m->arrival) / 60);
			if (hours > 0)
				buf_printf(out, "%ld hour(s)", hours);
			else
				buf_printf(out, "%ld minute(s)", mins);
		}
		buf_adds(out, ".\nIt will be retried until it is ");
		if (m->retry_until > m->arrival) {
			long days = (long)((m->retry_until - m->arrival) / 86400);
			long hours = (long)((m->retry_until - m->arrival) / 3600);
			if (days > 0)
				buf_printf(out, "%ld day(s)", days);
			else
				buf_printf(out, "%ld hour(s)", hours);
		} else {
			buf_adds(out, "too old");
		}
		buf_adds(out, " old.\n\n");
		break;
	case BOUNCE_DELIVERED:
		buf_adds(out, "Your message was successfully delivered to the destination(s)\n"
		    "listed below. If the message was delivered to mailbox you will\n"
		    "receive no further notifications. Otherwise you may still receive\n"
		    "notifications of mail delivery errors from other systems.\n\n");
		break;
	}
	buf_adds(out, "                   The mail system\n");
	for (size_t i = 0; i < m->nrcpt; i++) {
		buf_addc(out, '\n');
		add_addr(out, m->rcpts[i].address);
		buf_adds(out, ": ");
		add_clean(out, m->rcpts[i].diag);
		buf_addc(out, '\n');
	}
	buf_addc(out, '\n');
}

static void status_part(const struct bounce_msg *m, struct buf *out)
{
	buf_printf(out, "--%s\n", m->boundary);
	buf_adds(out, "Content-Description: Delivery report\n"
	    "Content-Type: message/delivery-status\n\n");
	buf_adds(out, "Reporting-MTA: dns; ");
	add_clean(out, m->reporting_mta);
	buf_adds(out, "\nX-Tern-Queue-ID: ");
	add_clean(out, m->queue_id);
	buf_adds(out, "\nX-Tern-Sender: rfc822; ");
	add_clean(out, m->sender);
	buf_addc(out, '\n');
	if (m->envid != NULL && *m->envid != '\0') {
		buf_adds(out, "Original-Envelope-Id: ");
		add_clean(out, m->envid);
		buf_addc(out, '\n');
	}
	buf_adds(out, "Arrival-Date: ");
	bounce_date(m->arrival, out);
	buf_addc(out, '\n');
	for (size_t i = 0; i < m->nrcpt; i++) {
		const struct bounce_rcpt *r = &m->rcpts[i];

		buf_adds(out, "\nFinal-Recipient: rfc822; ");
		add_clean(out, r->address);
		buf_addc(out, '\n');
		if (r->orcpt != NULL && *r->orcpt != '\0') {
			buf_adds(out, "Original-Recipient: ");
			if (strchr(r->orcpt, ';') == NULL)
				buf_adds(out, "rfc822; ");
			add_clean(out, r->orcpt);
			buf_addc(out, '\n');
		}
		buf_printf(out, "Action: %s\n", r->action != NULL ? r->action : action(m->kind));
		buf_adds(out, "Status: ");
		add_clean(out, r->status);
		buf_addc(out, '\n');
		if (r->remote_mta != NULL && *r->remote_mta != '\0') {
			buf_adds(out, "Remote-MTA: dns; ");
			add_clean(out, r->remote_mta);
			buf_addc(out, '\n');
		}
		if (r->smtp_diag != NULL && *r->smtp_diag != '\0') {
			/* RFC 3464 2.3.6: the server's own reply, typed smtp. */
			buf_adds(out, "Diagnostic-Code: smtp; ");
			add_clean(out, r->smtp_diag);
			buf_addc(out, '\n');
		} else if (r->diag != NULL && *r->diag != '\0') {
			buf_adds(out, "Diagnostic-Code: X-Tern; ");
			add_clean(out, r->diag);
			buf_addc(out, '\n');
		}
		if (m->kind == BOUNCE_DELAYED && m->retry_until > 0) {
			buf_adds(out, "Will-Retry-Until: ");
			bounce_date(m->retry_until, out);
			buf_addc(out, '\n');
		}
	}
	buf_addc(out, '\n');
}

/* Length of the header block of the message, without the empty line. */
static size_t header_length(const char *msg, size_t len)
{
	if (len > 0 && msg[0] == '\n')
		return 0;
	for (size_t i = 0; i + 1 < len; i++)
		if (msg[i] == '\n' && msg[i + 1] == '\n')
			return i + 1;
	return len;
}

static int returns_full(const struct bounce_msg *m)
{
	return m->ret_full && (m->size_limit == 0 || m->message_len <= m->size_limit);
}

/* Does the part returned to the sender hold 8-bit bytes? */
static int returned_8bit(const struct bounce_msg *m)
{
	size_t n = returns_full(m) ? m->message_len : header_length(m->message, m->message_len);

	for (size_t i = 0; i < n; i++)
		if ((unsigned char)m->message[i] & 0x80)
			return 1;
	return 0;
}

static void original_part(const struct bounce_msg *m, struct buf *out)
{
	size_t hlen = header_length(m->message, m->message_len);
	int full = returns_full(m);

	buf_printf(out, "--%s\n", m->boundary);
	if (full) {
		buf_printf(out, "Content-Description: %s\n"
		    "Content-Type: message/rfc822\n%s\n",
		    m->kind == BOUNCE_FAILED ? "Undelivered Message" : "Message",
		    returned_8bit(m) ? "Content-Transfer-Encoding: 8bit\n" : "");
		buf_add(out, m->message, m->message_len);
	} else {
		buf_printf(out, "Content-Description: %s\n"
		    "Content-Type: text/rfc822-headers\n%s\n",
		    m->kind == BOUNCE_FAILED ? "Undelivered Message Headers" : "Message Headers",
		    returned_8bit(m) ? "Content-Transfer-Encoding: 8bit\n" : "");
		buf_add(out, m->message, hlen);
	}
	if (out->len > 0 && out->data[out->len - 1] != '\n')
		buf_addc(out, '\n');
	buf_printf(out, "\n--%s--\n", m->boundary);
}

void bounce_compose(const struct bounce_msg *m, struct buf *out)
{
	buf_adds(out, "From: ");
	add_clean(out, m->from);
	buf_adds(out, " (Mail Delivery System)\nTo: ");
	add_clean(out, m->to);
	buf_printf(out, "\nSubject: %s\nDate: ", subject(m->kind, m->postmaster_copy));
	bounce_date(m->now, out);
	buf_adds(out, "\nAuto-Submitted: auto-replied\n"
	    "MIME-Version: 1.0\n"
	    "Content-Type: multipart/report; report-type=delivery-status;\n");
	buf_printf(out, "\tboundary=\"%s\"\n", m->boundary);
	if (returned_8bit(m))
		buf_adds(out, "Content-Transfer-Encoding: 8bit\n");
	buf_addc(out, '\n');
	buf_adds(out, "This is a MIME-encapsulated message.\n\n");
	human_part(m, out);
	status_part(m, out);
	original_part(m, out);
}
