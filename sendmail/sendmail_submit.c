/*
 * sendmail_submit.c - sendmail -bm: read the message, hand it to the
 * maildrop writer.
 *
 * Part of the sendmail program; runs with the caller's privileges (the
 * group is gone before main() reads anything). The record stream of
 * lib/mail/droprec.h goes, for a plain submission, straight into drop.c's
 * checks and the maildrop file this process opened at entry
 * (drop_direct_feed; sendmail_priv.c), otherwise on a socket to the
 * maildrop writer forked at entry; either way "exit 0" means the
 * message is durable in maildrop/.
 *
 * Input rules (as sendmail's): CR before LF is removed; without -i/-oi a
 * line holding a lone "." ends the message; with -t the header block is
 * read first so that a message without any recipient fails at once.
 */
#include "compat.h"

#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

#include "mail/addr.h"
#include "mail/config.h"
#include "mail/droprec.h"
#include "mail/header.h"
#include "mail/qfile.h"
#include "mail/resolve.h"
#include "sendmail/drop.h"
#include "sendmail/sendmail.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/mem.h"

#define CHUNK 65536

struct drop {
	int fd;			/* pipe to terndrop */
	pid_t pid;
	struct buf out;		/* records not yet written */
	bool broken;		/* terndrop went away */
	bool direct;		/* no writer: the file is ours (drop_direct_*) */
};

static void drop_flush(struct drop *d)
{
	size_t off = 0;
	if (d->direct) {
		/* The maildrop file is this process's own (sendmail_priv.c): drop.c's checks, in place. */
		drop_direct_feed(d->out.data, d->out.len);
		buf_reset(&d->out);
		return;
	}
	while (off < d->out.len && !d->broken) {
		ssize_t n = write(d->fd, d->out.data + off, d->out.len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			d->broken = true;	/* terndrop said why on stderr; its status decides */
			break;
		}
		off += (size_t)n;
	}
	buf_reset(&d->out);
}

static void drop_put(struct drop *d, char type, const void *data, size_t len)
{
	droprec_put(&d->out, type, data, len);
	if (d->out.len >= CHUNK)
		drop_flush(d);
}

static void drop_attr(struct drop *d, const char *name, const char *value)
{
	struct buf a = BUF_INIT;
	if (value == NULL)
		return;
	buf_printf(&a, "%s=%s", name, value);
	drop_put(d, 'A', a.data, a.len);
	buf_free(&a);
}

/* The maildrop writer forked at entry (sendmail_priv.c): the request, then the records. */
static void drop_start(struct drop *d, const struct sm_opts *o)
{
	d->direct = sm_priv_direct(NULL);
	if (d->direct)
		return;
	d->fd = sm_priv_request(DROP_REQ_DROP, o, &d->out);
	d->pid = sm_priv_pid();
	signal(SIGPIPE, SIG_IGN);
}

static int drop_finish(struct drop *d)
{
	drop_flush(d);
	if (d->direct) {
		char id[QF_ID_MAX];
		return drop_direct_finish(id, sizeof(id));
	}
	return sm_priv_wait();
}

/* Input reading with line rules: CRLF -> LF, a lone "." ends input without -i. */
struct input {
	size_t len, pos;
	bool eof;
	bool ignore_dots;
	bool at_bol;		/* next byte starts a line */
	bool ended;		/* lone dot seen */
	char buf[CHUNK];	/* last and never cleared: read() touches only what it fills */
};

/* One line (with its LF if any) into line; false at the end of input. */
static bool read_line(struct input *in, struct buf *line)
{
	buf_reset(line);
	if (in->ended)
		return false;
	for (;;) {
		if (in->pos == in->len) {
			if (in->eof)
				break;
			ssize_t n = read(0, in->buf, sizeof(in->buf));
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				msg_fatal_status(EX_IOERR, "cannot read the message: %m");
			if (n == 0) {
				in->eof = true;
				break;
			}
			in->len = (size_t)n;
			in->pos = 0;
		}
		char *nl = memchr(in->buf + in->pos, '\n', in->len - in->pos);
		size_t take = nl ? (size_t)(nl - (in->buf + in->pos)) + 1 : in->len - in->pos;
		buf_add(line, in->buf + in->pos, take);
		in->pos += take;
		if (nl)
			break;
	}
	if (line->len == 0)
		return false;
	/* CRLF -> LF */
	if (line->len >= 2 && line->data[line->len - 1] == '\n' && line->data[line->len - 2] == '\r') {
		line->data[line->len - 2] = '\n';
		buf_truncate(line, line->len - 1);
	}
	if (!in->ignore_dots && (strcmp(buf_str(line), ".\n") == 0 || strcmp(buf_str(line), ".") == 0)) {
		in->ended = true;
		return false;
	}
	return true;
}

/* -t: how many recipients the To/Cc/Bcc (or Resent-) fields name. */
static size_t header_rcpts(const struct buf *hdr)
{
	struct headers hs;
	enum header_end how;
	struct buf v = BUF_INIT;
	size_t count = 0;
	bool resent = false;
	headers_init(&hs);
	headers_parse(hdr->data ? hdr->data : "", hdr->len, &hs, &how);
	for (size_t i = 0; i < hs.n; i++)
		if (strncasecmp(hs.v[i].name, "Resent-", 7) == 0)
			resent = true;
	for (size_t i = 0; i < hs.n; i++) {
		const char *n = hs.v[i].name + (resent ? 7 : 0);
		if ((resent && strncasecmp(hs.v[i].name, "Resent-", 7) != 0) ||
		    (strcasecmp(n, "To") != 0 && strcasecmp(n, "Cc") != 0 && strcasecmp(n, "Bcc") != 0))
			continue;
		struct addr_list l;
		addr_list_init(&l);
		header_value(&hs.v[i], &v);
		addr_parse_list(buf_str(&v), v.len, &l);
		count += l.n;
		addr_list_free(&l);
	}
	buf_free(&v);
	headers_free(&hs);
	return count;
}

/*
 * A recipient that the resolver reads but cannot route (a domain that is
 * not ASCII, not ours, and not sent to an ASCII relayhost): refused now,
 * as smtpd refuses it at RCPT, rather than accepted to bounce. Header
 * recipients (-t) are cleanup's to read:
 * those are returned to the (local) sender by the queue manager.
 */
static void unroutable_fatal(const char *mailbox)
{
	char dsn[16];
	struct buf text = BUF_INIT;

	if (resolve_unroutable(mailbox, dsn, sizeof(dsn), &text))
		msg_fatal_status(EX_DATAERR, "recipient address rejected: %s: %s", mailbox, buf_str(&text));
	buf_free(&text);
}

/* Recipients from the command line: each argument may hold a list. */
static void put_recipients(struct drop *d, const struct sm_opts *o)
{
	struct buf rec = BUF_INIT;
	for (int i = 0; i < o->nrcpt; i++) {
		struct addr_list l;
		addr_list_init(&l);
		if (addr_parse_list(o->rcpts[i], strlen(o->rcpts[i]), &l) != 0 || l.n == 0)
			msg_fatal_status(EX_USAGE, "bad recipient address: %s%s%s", o->rcpts[i],
					 l.error.len ? ": " : "", buf_str(&l.error));
		for (size_t k = 0; k < l.n; k++) {
			if (!addr_envelope_valid(l.v[k].mailbox))
				msg_fatal_status(EX_USAGE, "bad recipient address: %s", l.v[k].mailbox);
			if (l.v[k].mailbox[0] == '-' && !cfg_bool(P_allow_min_user))
				msg_fatal_status(EX_USAGE, "bad recipient address syntax: %s "
				    "(an address that starts with '-'; see allow_min_user)", l.v[k].mailbox);
			unroutable_fatal(l.v[k].mailbox);
			buf_reset(&rec);
			buf_printf(&rec, "%X\t\t%s", o->notify, l.v[k].mailbox);
			drop_put(d, 'R', rec.data, rec.len);
		}
		addr_list_free(&l);
	}
	buf_free(&rec);
}

int sm_submit(const struct sm_opts *o)
{
	struct drop d = {.fd = -1};
	struct input *in = xmalloc(sizeof(*in));
	memset(in, 0, offsetof(struct input, buf));
	struct buf line = BUF_INIT, hdr = BUF_INIT;
	unsigned long long limit = (unsigned long long)cfg_int(P_message_size_limit), size = 0;
	bool more;

	in->ignore_dots = o->ignore_dots;
	if (o->nrcpt == 0 && !o->extract)
		msg_fatal_status(EX_USAGE, "no recipients specified (give addresses, or -t to read them from the headers)");

	/* With -t, read the header block first: no recipients at all is an error now, not a bounce. */
	more = true;
	if (o->extract) {
		while ((more = read_line(in, &line))) {
			buf_add(&hdr, line.data, line.len);
			if (strcmp(buf_str(&line), "\n") == 0 || hdr.len > 1024 * 1024)
				break;
		}
		if (o->nrcpt == 0 && header_rcpts(&hdr) == 0)
			msg_fatal_status(EX_USAGE, "no recipient addresses found in message header");
	}

	/* allow_min_user = no: a sender "-x" could pass for an option of a command. */
	if (o->sender_given && o->sender[0] == '-' && !cfg_bool(P_allow_min_user))
		msg_fatal_status(EX_USAGE, "bad sender address syntax: %s "
		    "(an address that starts with '-'; see allow_min_user)", o->sender);
	drop_start(&d, o);
	drop_put(&d, 'V', "1", 1);
	if (o->sender_given)
		drop_put(&d, 'S', o->sender, strlen(o->sender));
	drop_attr(&d, "full_name", o->full_name);
	drop_attr(&d, "extract", o->extract ? "yes" : NULL);
	drop_attr(&d, "dsn_ret", o->dsn_ret);
	drop_attr(&d, "dsn_envid", o->dsn_envid);
	char notify[8];
	snprintf(notify, sizeof(notify), "%X", o->notify & 0xf);
	drop_attr(&d, "dsn_notify", o->extract && o->notify ? notify : NULL);
	drop_attr(&d, "body_type", o->body_type);
	drop_attr(&d, "smtputf8", o->smtputf8 ? "yes" : NULL);
	drop_attr(&d, "protocol", o->protocol);
	put_recipients(&d, o);
	drop_put(&d, 'M', "", 0);

	/* The content in records of up to CHUNK bytes. */
	struct buf chunk = BUF_INIT;
	buf_add(&chunk, hdr.data, hdr.len);
	size += hdr.len;
	while (chunk.len >= CHUNK) {
		drop_put(&d, 'C', chunk.data, CHUNK);
		buf_consume(&chunk, CHUNK);
	}
	while (more && !d.broken && (more = read_line(in, &line))) {
		size += line.len;
		if (limit && size > limit) {
			/* Stop early; terndrop would refuse it too. Keep reading so the writer is not killed by SIGPIPE. */
			while (read_line(in, &line))
				;
			if (!d.direct) {
				kill(d.pid, SIGTERM);
				drop_finish(&d);
			}
			msg_fatal_status(EX_DATAERR, "message file too big (message_size_limit is %llu bytes)", limit);
		}
		buf_add(&chunk, line.data, line.len);
		while (chunk.len >= CHUNK) {
			drop_put(&d, 'C', chunk.data, CHUNK);
			buf_consume(&chunk, CHUNK);
		}
	}
	if (chunk.len > 0)
		drop_put(&d, 'C', chunk.data, chunk.len);
	drop_put(&d, 'E', "", 0);
	int status = drop_finish(&d);
	buf_free(&chunk);
	buf_free(&line);
	buf_free(&hdr);
	buf_free(&d.out);
	free(in);
	return status;
}
