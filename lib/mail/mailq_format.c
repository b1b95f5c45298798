/*
 * mailq_format.c - the text of the queue listing in sendmail's, Postfix's
 * and postqueue -j's layouts, and the defer/ID text format.
 *
 * Mail layer, pure text, no privileges. Monitoring scripts parse these
 * listings, so the layouts follow the originals column for column:
 * sendmail's printqueue ("%-14s" id, status char, "%8ld" size, 16
 * characters of ctime, <sender>, "(reason)", tab-indented <recipients>,
 * "Total requests: N") and Postfix's showq ("%-11s %7ld %20.20s",
 * reasons right-aligned in column 78, "-- N Kbytes in M Requests.").
 */
#include "compat.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mail/mailq.h"
#include "util/mem.h"

int mailq_style_parse(const char *word)
{
	if (strcmp(word, "sendmail") == 0)
		return MAILQ_SENDMAIL;
	if (strcmp(word, "postfix") == 0)
		return MAILQ_POSTFIX;
	if (strcmp(word, "json") == 0)
		return MAILQ_JSON;
	return -1;
}

const char *mailq_style_name(enum mailq_style style)
{
	return style == MAILQ_POSTFIX ? "postfix" : style == MAILQ_JSON ? "json" : "sendmail";
}

void mailq_list_init(struct mailq_list *l)
{
	l->count = 0;
	l->e = NULL;
}

void mailq_entry_free(struct mailq_entry *e)
{
	for (size_t k = 0; k < e->nrcpt; k++) {
		free(e->rcpt[k].address);
		free(e->rcpt[k].reason);
	}
	free(e->rcpt);
	free(e->queue_name);
	free(e->queue_id);
	free(e->sender);
}

void mailq_list_free(struct mailq_list *l)
{
	for (size_t i = 0; i < l->count; i++)
		mailq_entry_free(&l->e[i]);
	free(l->e);
	mailq_list_init(l);
}

struct mailq_entry *mailq_add(struct mailq_list *l, const char *queue_name, const char *id,
    long long arrival, long long size, const char *sender)
{
	struct mailq_entry *e;

	l->e = xreallocarray(l->e, l->count + 1, sizeof(*l->e));
	e = &l->e[l->count++];
	memset(e, 0, sizeof(*e));
	e->queue_name = xstrdup(queue_name);
	e->queue_id = xstrdup(id);
	e->arrival = arrival;
	e->size = size;
	e->sender = xstrdup(sender);
	return e;
}

void mailq_add_rcpt(struct mailq_entry *e, const char *address, const char *reason)
{
	e->rcpt = xreallocarray(e->rcpt, e->nrcpt + 1, sizeof(*e->rcpt));
	e->rcpt[e->nrcpt].address = xstrdup(address);
	e->rcpt[e->nrcpt].reason = xstrdup(reason ? reason : "");
	e->nrcpt++;
}

/* The empty sender as Postfix's showq shows it. */
static const char *shown_sender(const char *s)
{
	return *s ? s : "MAILER-DAEMON";
}

static void ctime_text(long long when, char *out, size_t size)
{
	time_t t = (time_t)when;
	struct tm tm;

	localtime_r(&t, &tm);
	/* asctime's layout without the trailing newline: "Wed Nov 25 14:49:50 2026" */
	if (strftime(out, size, "%a %b %e %H:%M:%S %Y", &tm) == 0)
		out[0] = '\0';
}

/*
 * '*' active and '!' hold as in both originals; '^' marks mail still in
 * maildrop/ (submitted, not yet picked up into the queue), which Postfix
 * lists without a mark and sendmail keeps in a queue of its own.
 */
static char status_char(const struct mailq_entry *e)
{
	if (strcmp(e->queue_name, "active") == 0)
		return '*';
	if (strcmp(e->queue_name, "hold") == 0)
		return '!';
	if (strcmp(e->queue_name, "maildrop") == 0)
		return '^';
	return ' ';
}

static void format_sendmail(const char *queue_dir, const struct mailq_list *l, struct buf *out)
{
	if (l->count == 0) {
		buf_printf(out, "%s is empty\n\t\tTotal requests: 0\n", queue_dir);
		return;
	}
	buf_printf(out, "\t\t%s (%zu request%s)\n", queue_dir, l->count, l->count == 1 ? "" : "s");
	buf_adds(out, "-----Q-ID----- --Size-- -----Q-Time----- "
	    "------------Sender/Recipient-----------\n");
	for (size_t i = 0; i < l->count; i++) {
		const struct mailq_entry *e = &l->e[i];
		const char *shown = NULL;
		char when[64];

		ctime_text(e->arrival, when, sizeof(when));
		buf_printf(out, "%-14s%c%8lld %.16s <%s>\n", e->queue_id, status_char(e), e->size,
		    when, e->sender);
		for (size_t k = 0; k < e->nrcpt; k++) {
			const char *why = e->rcpt[k].reason;
			if (*why && (shown == NULL || strcmp(shown, why) != 0)) {
				buf_printf(out, "                 (%s)\n", why);
				shown = why;
			}
			buf_printf(out, "\t\t\t\t\t <%s>\n", e->rcpt[k].address);
		}
	}
	buf_printf(out, "\t\tTotal requests: %zu\n", l->count);
}

static void format_postfix(const struct mailq_list *l, struct buf *out)
{
	unsigned long long total = 0;

	if (l->count == 0) {
		buf_adds(out, "Mail queue is empty\n");
		return;
	}
	for (size_t i = 0; i < l->count; i++) {
		const struct mailq_entry *e = &l->e[i];
		const char *saved = "";
		struct buf id = BUF_INIT;
		char when[64];
		int pad;

		if (i == 0)
			buf_printf(out, "%-11s %7s %-20s %s\n", "-Queue ID-", "--Size--",
			    "----Arrival Time----", "-Sender/Recipient-------");
		else
			buf_addc(out, '\n');
		buf_adds(&id, e->queue_id);
		buf_addc(&id, status_char(e));
		if (id.data[id.len - 1] == ' ')
			buf_truncate(&id, id.len - 1);
		if (e->forced_expire)
			buf_addc(&id, '#');
		ctime_text(e->arrival, when, sizeof(when));
		buf_printf(out, "%-11s %7lld %20.20s %s\n", buf_str(&id), e->size, when,
		    shown_sender(e->sender));
		for (size_t k = 0; k < e->nrcpt; k++) {
			const char *why = e->rcpt[k].reason;
			/* A reason line when it differs from the previous recipient's. */
			if (strcmp(saved, why) != 0) {
				const char *show = *why ? why : "reason unavailable";
				saved = why;
				if ((pad = 76 - (int)strlen(show)) < 0)
					pad = 0;
				buf_printf(out, "%*s(%s)\n", pad, "", show);
			}
			buf_printf(out, "%-11s %7s %-20s %s\n", "", "", "", e->rcpt[k].address);
		}
		total += (unsigned long long)e->size;
		buf_free(&id);
	}
	buf_printf(out, "\n-- %llu Kbytes in %zu Request%s.\n", total / 1024, l->count,
	    l->count == 1 ? "" : "s");
}

static void json_string(struct buf *out, const char *s)
{
	buf_addc(out, '"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		switch (c) {
		case '"':
		case '\\':
			buf_addc(out, '\\');
			buf_addc(out, (char)c);
			break;
		case '\n':
			buf_adds(out, "\\n");
			break;
		case '\r':
			buf_adds(out, "\\r");
			break;
		case '\t':
			buf_adds(out, "\\t");
			break;
		default:
			if (c < 0x20 || c == 0x7f)
				buf_printf(out, "\\u%04X", c);
			else
				buf_addc(out, (char)c);
		}
	}
	buf_addc(out, '"');
}

static void format_json(const struct mailq_list *l, struct buf *out)
{
	for (size_t i = 0; i < l->count; i++) {
		const struct mailq_entry *e = &l->e[i];

		buf_adds(out, "{\"queue_name\": ");
		json_string(out, e->queue_name);
		buf_adds(out, ", \"queue_id\": ");
		json_string(out, e->queue_id);
		buf_printf(out, ", \"arrival_time\": %lld, \"message_size\": %lld, "
		    "\"forced_expire\": %s, \"sender\": ", e->arrival, e->size,
		    e->forced_expire ? "true" : "false");
		json_string(out, shown_sender(e->sender));
		buf_adds(out, ", \"recipients\": [");
		for (size_t k = 0; k < e->nrcpt; k++) {
			if (k > 0)
				buf_adds(out, ", ");
			buf_adds(out, "{\"address\": ");
			json_string(out, e->rcpt[k].address);
			if (*e->rcpt[k].reason) {
				buf_adds(out, ", \"delay_reason\": ");
				json_string(out, e->rcpt[k].reason);
			}
			buf_addc(out, '}');
		}
		buf_adds(out, "]}\n");
	}
}

void mailq_format(enum mailq_style style, const char *queue_dir, const struct mailq_list *l,
    struct buf *out)
{
	switch (style) {
	case MAILQ_POSTFIX:
		format_postfix(l, out);
		break;
	case MAILQ_JSON:
		format_json(l, out);
		break;
	default:
		format_sendmail(queue_dir, l, out);
		break;
	}
}

/* --- defer/ID text: "W <time>" (delay warning sent), "R <address>\t<reason>" --- */

void deferlog_init(struct deferlog *d)
{
	memset(d, 0, sizeof(*d));
}

void deferlog_free(struct deferlog *d)
{
	for (size_t i = 0; i < d->count; i++) {
		free(d->address[i]);
		free(d->reason[i]);
	}
	free(d->address);
	free(d->reason);
	deferlog_init(d);
}

void deferlog_add(struct deferlog *d, const char *address, const char *reason)
{
	for (size_t i = 0; i < d->count; i++) {
		if (strcmp(d->address[i], address) == 0) {
			free(d->reason[i]);
			d->reason[i] = xstrdup(reason);
			return;
		}
	}
	d->address = xreallocarray(d->address, d->count + 1, sizeof(char *));
	d->reason = xreallocarray(d->reason, d->count + 1, sizeof(char *));
	d->address[d->count] = xstrdup(address);
	d->reason[d->count] = xstrdup(reason);
	/* Reasons are one line: a newline would start a record of its own. */
	for (char *p = d->reason[d->count]; *p; p++)
		if ((unsigned char)*p < 0x20)
			*p = ' ';
	d->count++;
}

const char *deferlog_reason(const struct deferlog *d, const char *address)
{
	for (size_t i = 0; i < d->count; i++)
		if (strcmp(d->address[i], address) == 0)
			return d->reason[i];
	return "";
}

void deferlog_parse(const char *text, struct deferlog *d)
{
	const char *line = text;

	while (*line) {
		const char *end = strchr(line, '\n');
		size_t len = end ? (size_t)(end - line) : strlen(line);
		char *copy = xstrndup(line, len);

		if (copy[0] == 'W' && copy[1] == ' ') {
			d->warned = strtoll(copy + 2, NULL, 10);
		} else if (copy[0] == 'U' && copy[1] == ' ') {
			char *rest;
			d->unreadable_since = strtoll(copy + 2, &rest, 10);
			d->unreadable_told = strtoll(rest, NULL, 10);
		} else if (copy[0] == 'R' && copy[1] == ' ') {
			char *tab = strchr(copy + 2, '\t');
			if (tab != NULL) {
				*tab = '\0';
				if (copy[2] != '\0')
					deferlog_add(d, copy + 2, tab + 1);
			}
		}
		free(copy);
		line += len + (end ? 1 : 0);
	}
}

void deferlog_format(const struct deferlog *d, struct buf *out)
{
	if (d->warned)
		buf_printf(out, "W %lld\n", d->warned);
	if (d->unreadable_since)
		buf_printf(out, "U %lld %lld\n", d->unreadable_since, d->unreadable_told);
	for (size_t i = 0; i < d->count; i++)
		buf_printf(out, "R %s\t%s\n", d->address[i], d->reason[i]);
}
