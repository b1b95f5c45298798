/*
 * cleanup_core.c - the one path from a submitted message to a queue file
 * (contract in cleanup.h), working from explicit settings
 * (cleanup_impl.h) so that it can be tested without main.cf.
 *
 * Mail layer. Runs in the process that submits (pickup, smtpd, the bounce
 * generator) with its privileges, normally mail_owner. The content is
 * untrusted: headers are parsed with the bounded parsers of header.c and
 * addr.c; the header block is held in memory, each header up to
 * header_size_limit and the whole block up to header_block_size_limit:
 * beyond either the message is refused (Postfix cuts a header over
 * header_size_limit instead; a cut header can change what a signature or
 * a filter sees, so Tern, like sendmail, refuses), and never are headers
 * pushed into the body; the body is streamed to the queue file and never
 * held.
 *
 * What it does, in order, when the header block is complete:
 *  1. with CLEANUP_FLAG_EXTRACT (sendmail -t): recipients from To:, Cc:
 *     and Bcc: (Resent-To:/Cc:/Bcc: when any Resent- field is present)
 *     are added to the envelope, and the Bcc: fields are removed;
 *  2. for local submissions, addresses in From:, Sender:, Reply-To:, To:,
 *     Cc: (and Resent- forms) are qualified with myorigin and rewritten
 *     by canonical_maps, in place (display names and comments kept);
 *  3. the envelope sender goes through sender_canonical_maps and
 *     canonical_maps; each recipient through recipient_canonical_maps,
 *     canonical_maps and virtual_alias_maps (recursively), duplicates
 *     dropped;
 *  4. Received: is prepended; From:, Date: and Message-ID: are added when
 *     missing;
 *  5. envelope and headers are written, then the body as it arrives;
 *     with CLEANUP_FLAG_EDIT they are kept instead, the body goes to a
 *     spool, and cleanup_edit.c writes it all at cleanup_finish.
 */
#include "compat.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "mail/addr.h"
#include "mail/cleanup.h"
#include "mail/cleanup_impl.h"
#include "mail/cleanup_int.h"
#include "mail/qwake.h"
#include "mail/header.h"
#include "mail/qfile.h"
#include "mail/resolve.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/mem.h"

void cleanup_fail(struct cleanup *c, int status, const char *fmt, ...)
{
	if (c->status != CLEANUP_OK)
		return;
	va_list ap;
	c->status = status;
	buf_reset(&c->reason);
	va_start(ap, fmt);
	buf_vprintf(&c->reason, fmt, ap);
	va_end(ap);
}

struct cleanup *cleanup_open_with(const struct cleanup_settings *s, enum cleanup_source source,
				  int flags)
{
	struct cleanup *c = xcalloc(1, sizeof(*c));
	struct buf err = BUF_INIT;
	c->s = *s;
	c->incoming_dir = xstrdup(s->incoming_dir);
	c->s.incoming_dir = c->incoming_dir;
	if (s->wake_socket) {
		c->wake_socket = xstrdup(s->wake_socket);
		c->s.wake_socket = c->wake_socket;
	}
	c->source = source;
	c->flags = flags;
	if (flags & CLEANUP_FLAG_EDIT) {
		c->edit = cleanup_edit_new();
		cleanup_hold_dir(c);	/* copied now: s's strings may not outlive this call */
	}
	c->in_headers = true;
	c->line_start = true;
	c->last = '\n';
	c->w = s->writer ? s->writer : qfile_create(s->incoming_dir, &err);
	c->s.writer = NULL;
	if (c->w == NULL)
		cleanup_fail(c, CLEANUP_TEMPFAIL, "%s", buf_str(&err));
	buf_free(&err);
	return c;
}

void cleanup_sender(struct cleanup *c, const char *addr)
{
	buf_reset(&c->sender);
	buf_adds(&c->sender, addr);
}

static bool have_rcpt(const struct cleanup *c, const char *addr)
{
	for (size_t i = 0; i < c->nrcpt; i++)
		if (strcasecmp(c->rcpts[i].addr, addr) == 0)
			return true;
	return false;
}

static void add_rcpt(struct cleanup *c, const char *addr, int notify, const char *orcpt)
{
	c->rcpts = xreallocarray(c->rcpts, c->nrcpt + 1, sizeof(*c->rcpts));
	c->rcpts[c->nrcpt].addr = xstrdup(addr);
	c->rcpts[c->nrcpt].notify = notify;
	c->rcpts[c->nrcpt].orcpt = xstrdup(orcpt ? orcpt : "");
	c->rcpts[c->nrcpt].given = NULL;
	c->nrcpt++;
}

void cleanup_recipient(struct cleanup *c, const char *addr, int notify, const char *orcpt)
{
	add_rcpt(c, addr, notify, orcpt);
}

void cleanup_attr(struct cleanup *c, const char *name, const char *value)
{
	for (size_t i = 0; i < c->nattr; i++)
		if (strcmp(c->attrs[i].name, name) == 0) {
			free(c->attrs[i].value);
			c->attrs[i].value = xstrdup(value);
			return;
		}
	c->attrs = xreallocarray(c->attrs, c->nattr + 1, sizeof(*c->attrs));
	c->attrs[c->nattr].name = xstrdup(name);
	c->attrs[c->nattr].value = xstrdup(value);
	c->nattr++;
}

void cleanup_first_header(struct cleanup *c, const char *name, const char *value)
{
	free(c->first_name);
	free(c->first_value);
	c->first_name = xstrdup(name);
	c->first_value = xstrdup(value);
}

static const char *attr(const struct cleanup *c, const char *name)
{
	for (size_t i = 0; i < c->nattr; i++)
		if (strcmp(c->attrs[i].name, name) == 0)
			return c->attrs[i].value;
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Address rewriting.                                                  */

static bool local_domain(const struct cleanup *c, const char *domain)
{
	if (strcasecmp(domain, c->s.myorigin) == 0 || strcasecmp(domain, c->s.myhostname) == 0)
		return true;
	for (char *const *d = c->s.local_domains; d && *d; d++)
		if (strcasecmp(domain, *d) == 0)
			return true;
	return false;
}

/*
 * Postfix's "local" rewriting context, which Postfix applies to every
 * envelope address whatever its source (and to the headers of local
 * mail, see below): site!user, user%domain, @myorigin, .mydomain. The
 * resolver (resolve.h) applies the same rewriting, so smtpd's relay
 * decision sees the address this makes.
 */
static void qualify(const struct cleanup *c, const char *addr, struct buf *out)
{
	struct addr_rewrite rw = {
		.swap_bangpath = c->s.swap_bangpath,
		.percent_hack = c->s.percent_hack,
		.origin = c->s.append_at_myorigin ? c->s.myorigin : NULL,
		.mydomain = c->s.append_dot_mydomain,
	};

	addr_rewrite_local(addr, &rw, out);
}

/*
 * Look addr up in one table the way Postfix does: user+ext@domain, then
 * user@domain (recipient_delimiter set and an extension present), then
 * user+ext and user when the domain is ours, then @domain. 1 found
 * (value, and *by_domain when the @domain key matched), 0 not, -1 error.
 * When only a key without the extension matched, ext gets the delimiter
 * and the extension ("+ext") for propagate_unmatched_extensions.
 */
static int lookup_addr(struct cleanup *c, enum cleanup_table t, const char *addr,
		       struct buf *value, bool *by_domain, struct buf *ext)
{
	struct buf local = BUF_INIT, domain = BUF_INIT, key = BUF_INIT;
	struct buf base = BUF_INIT, extension = BUF_INIT;
	bool has_ext = false;
	int rc;

	*by_domain = false;
	buf_reset(ext);
	if (c->s.lookup == NULL)
		return 0;
	rc = c->s.lookup(c->s.lookup_ctx, t, addr, value);
	if (rc == 0 && addr_split(addr, &local, &domain)) {
		const char *delims = c->s.recipient_delimiter ? c->s.recipient_delimiter : "";

		has_ext = *delims != '\0' && resolve_split_extension(buf_str(&local), delims, &base,
		    &extension) == 1;
		if (has_ext) {
			buf_adds(&key, buf_str(&base));
			buf_addc(&key, '@');
			buf_adds(&key, buf_str(&domain));
			rc = c->s.lookup(c->s.lookup_ctx, t, buf_str(&key), value);
			if (rc == 1)
				buf_printf(ext, "%c%s", local.data[base.len], buf_str(&extension));
		}
		if (rc == 0 && local_domain(c, buf_str(&domain))) {
			rc = c->s.lookup(c->s.lookup_ctx, t, buf_str(&local), value);
			if (rc == 0 && has_ext) {
				rc = c->s.lookup(c->s.lookup_ctx, t, buf_str(&base), value);
				if (rc == 1)
					buf_printf(ext, "%c%s", local.data[base.len], buf_str(&extension));
			}
		}
		if (rc == 0) {
			buf_reset(&key);
			buf_addc(&key, '@');	/* not buf_printf: a few of these a message */
			buf_adds(&key, buf_str(&domain));
			rc = c->s.lookup(c->s.lookup_ctx, t, buf_str(&key), value);
			*by_domain = rc == 1;
		}
	}
	if (rc != 1)
		buf_reset(ext);
	buf_free(&local);
	buf_free(&domain);
	buf_free(&key);
	buf_free(&base);
	buf_free(&extension);
	return rc;
}

/* propagate_unmatched_extensions: "joe@host" and "+ext" give "joe+ext@host". */
static void add_extension(struct buf *addr, const struct buf *ext)
{
	struct buf out = BUF_INIT;
	const char *a = buf_str(addr);
	const char *at = strrchr(a, '@');
	size_t n = at ? (size_t)(at - a) : addr->len;

	if (ext->len == 0 || n == 0)
		return;
	buf_add(&out, a, n);
	buf_add(&out, ext->data, ext->len);
	buf_adds(&out, a + n);
	buf_reset(addr);
	buf_add(addr, out.data, out.len);
	buf_free(&out);
}

/* One canonical table: 0 unchanged/rewritten in out, -1 lookup error. */
static int canonical_one(struct cleanup *c, enum cleanup_table t, struct buf *addr)
{
	struct buf value = BUF_INIT, local = BUF_INIT, ext = BUF_INIT;
	bool by_domain;
	int rc = lookup_addr(c, t, buf_str(addr), &value, &by_domain, &ext);
	if (rc == 1) {
		/* The first address of the result; "@other" replaces the domain only. */
		char *v = value.data;
		v[strcspn(v, ", \t")] = '\0';
		if (*v == '@') {
			addr_split(buf_str(addr), &local, NULL);
			buf_reset(addr);
			buf_printf(addr, "%s%s", buf_str(&local), v);
		} else if (*v != '\0') {
			struct buf q = BUF_INIT;
			qualify(c, v, &q);
			if (c->s.propagate_canonical)
				add_extension(&q, &ext);
			buf_reset(addr);
			buf_add(addr, q.data, q.len);
			buf_free(&q);
		}
	}
	buf_free(&value);
	buf_free(&local);
	buf_free(&ext);
	return rc < 0 ? -1 : 0;
}

/* qualify + canonical rewriting of one address (is_sender selects the tables). */
int cleanup_rewrite_addr(struct cleanup *c, const char *in, bool is_sender, struct buf *out)
{
	qualify(c, in, out);
	if (out->len == 0)
		return 0;
	enum cleanup_table first = is_sender ? CLEANUP_TABLE_SENDER_CANONICAL
					     : CLEANUP_TABLE_RECIPIENT_CANONICAL;
	if (canonical_one(c, first, out) != 0 || canonical_one(c, CLEANUP_TABLE_CANONICAL, out) != 0) {
		cleanup_fail(c, CLEANUP_TEMPFAIL, "canonical map lookup failed for %s", in);
		return -1;
	}
	return 0;
}

struct expansion {
	struct crcpt *v;
	size_t n;
};

static int expansion_add(struct cleanup *c, struct expansion *ex, const char *addr)
{
	for (size_t i = 0; i < ex->n; i++)
		if (strcasecmp(ex->v[i].addr, addr) == 0)
			return 0;	/* duplicate */
	if ((int)ex->n >= c->s.virtual_expansion_limit) {
		cleanup_fail(c, CLEANUP_REJECT, "virtual alias expansion limit exceeded");
		return -1;
	}
	ex->v = xreallocarray(ex->v, ex->n + 1, sizeof(*ex->v));
	ex->v[ex->n++].addr = xstrdup(addr);
	return 0;
}

/* Split a table result into addresses (commas and/or white space). */
static char **split_targets(const char *value, size_t *count)
{
	char **v = NULL;
	size_t n = 0;
	const char *p = value;
	while (*p) {
		p += strspn(p, ", \t\r\n");
		size_t len = strcspn(p, ", \t\r\n");
		if (len == 0)
			break;
		v = xreallocarray(v, n + 1, sizeof(*v));
		v[n++] = xstrndup(p, len);
		p += len;
	}
	*count = n;
	return v;
}

static int virtual_expand(struct cleanup *c, const char *addr, int depth, struct expansion *ex)
{
	struct buf value = BUF_INIT, q = BUF_INIT, ext = BUF_INIT;
	bool by_domain;
	int rc = lookup_addr(c, CLEANUP_TABLE_VIRTUAL, addr, &value, &by_domain, &ext);
	if (rc < 0) {
		cleanup_fail(c, CLEANUP_TEMPFAIL, "virtual_alias_maps lookup failed for %s", addr);
		rc = -1;
	} else if (rc == 0) {
		rc = expansion_add(c, ex, addr);
	} else if (depth >= c->s.virtual_recursion_limit) {
		msg_warn("virtual alias recursion limit exceeded for %s", addr);
		rc = expansion_add(c, ex, addr);
	} else {
		size_t n;
		char **targets = split_targets(buf_str(&value), &n);
		rc = 0;
		for (size_t i = 0; i < n; i++) {
			if (rc == 0) {
				qualify(c, targets[i], &q);
				if (c->s.propagate_virtual)
					add_extension(&q, &ext);
				/* An address that maps to itself ends the recursion. */
				if (strcasecmp(buf_str(&q), addr) == 0)
					rc = expansion_add(c, ex, buf_str(&q));
				else
					rc = virtual_expand(c, buf_str(&q), depth + 1, ex);
			}
			free(targets[i]);
		}
		free(targets);
	}
	buf_free(&value);
	buf_free(&q);
	buf_free(&ext);
	return rc;
}

/*
 * One recipient: rewritten, expanded through virtual_alias_maps, each
 * result added unless it is there already. given (CLEANUP_FLAG_EDIT) is
 * kept for cleanup_del_rcpt.
 */
int cleanup_expand_rcpt(struct cleanup *c, const char *addr, int notify, const char *orcpt,
			const char *given)
{
	struct buf out = BUF_INIT, q = BUF_INIT;
	struct expansion ex = {0};
	int rc = -1;

	if (cleanup_rewrite_addr(c, addr, false, &out) == 0 &&
	    virtual_expand(c, buf_str(&out), 0, &ex) == 0) {
		qualify(c, addr, &q);
		for (size_t k = 0; k < ex.n; k++) {
			const char *o = orcpt ? orcpt : "";
			struct buf ob = BUF_INIT;
			/* Keep the original recipient for DSN when rewriting changed it. */
			if (*o == '\0' && strcasecmp(ex.v[k].addr, buf_str(&q)) != 0) {
				buf_printf(&ob, "rfc822;%s", buf_str(&q));
				o = buf_str(&ob);
			}
			if (!have_rcpt(c, ex.v[k].addr)) {
				add_rcpt(c, ex.v[k].addr, notify, o);
				if (given != NULL)
					c->rcpts[c->nrcpt - 1].given = xstrdup(given);
			}
			buf_free(&ob);
		}
		rc = 0;
	}
	for (size_t k = 0; k < ex.n; k++)
		free(ex.v[k].addr);
	free(ex.v);
	buf_free(&out);
	buf_free(&q);
	return rc;
}

/* Envelope: sender and recipients rewritten, expanded, de-duplicated. */
static int finish_envelope(struct cleanup *c)
{
	struct buf out = BUF_INIT;
	int rc = cleanup_rewrite_addr(c, buf_str(&c->sender), true, &out);
	if (rc == 0) {
		buf_reset(&c->sender);
		buf_add(&c->sender, out.data, out.len);
	}
	buf_free(&out);
	if (rc != 0)
		return -1;

	struct crcpt *old = c->rcpts;
	size_t nold = c->nrcpt;
	c->rcpts = NULL;
	c->nrcpt = 0;
	for (size_t i = 0; i < nold; i++) {
		if (rc == 0 && cleanup_expand_rcpt(c, old[i].addr, old[i].notify, old[i].orcpt,
						   c->edit ? old[i].addr : NULL) != 0)
			rc = -1;
		free(old[i].addr);
		free(old[i].orcpt);
		free(old[i].given);
	}
	free(old);
	if (rc != 0)
		return -1;
	if (c->nrcpt == 0) {
		cleanup_fail(c, CLEANUP_REJECT, "no recipients specified");
		return -1;
	}
	return 0;
}

int cleanup_write_envelope(struct cleanup *c)
{
	bool bad = qfile_set_sender(c->w, buf_str(&c->sender)) != 0;
	for (size_t i = 0; i < c->nattr && !bad; i++)
		bad = qfile_add_attr(c->w, c->attrs[i].name, c->attrs[i].value) != 0;
	for (size_t i = 0; i < c->nrcpt && !bad; i++)
		bad = qfile_add_rcpt(c->w, c->rcpts[i].addr, c->rcpts[i].notify, c->rcpts[i].orcpt) != 0;
	if (bad)
		cleanup_fail(c, CLEANUP_REJECT, "malformed envelope (control characters in an address or attribute)");
	return bad ? -1 : 0;
}

/* ------------------------------------------------------------------ */
/* Headers.                                                            */

static const char *const extract_plain[] = {"To", "Cc", "Bcc", NULL};
static const char *const extract_resent[] = {"Resent-To", "Resent-Cc", "Resent-Bcc", NULL};
static const char *const rewrite_fields[] = {
	"From", "Sender", "Reply-To", "To", "Cc", "Resent-From", "Resent-Sender",
	"Resent-Reply-To", "Resent-To", "Resent-Cc", NULL,
};
static const char *const sender_fields[] = {"From", "Sender", "Reply-To", "Resent-From",
					    "Resent-Sender", "Resent-Reply-To", NULL};

static bool in_list(const char *const *list, const char *name)
{
	for (; *list; list++)
		if (strcasecmp(*list, name) == 0)
			return true;
	return false;
}

static void extract_recipients(struct cleanup *c, struct headers *hs)
{
	bool resent = false;
	for (size_t i = 0; i < hs->n; i++)
		if (strncasecmp(hs->v[i].name, "Resent-", 7) == 0)
			resent = true;
	const char *const *fields = resent ? extract_resent : extract_plain;
	struct buf v = BUF_INIT;
	/* sendmail -N applies to the recipients found here too. */
	const char *dn = attr(c, "dsn_notify");
	int notify = dn && dn[0] && !dn[1] ? (int)strtol(dn, NULL, 16) : 0;
	for (size_t i = 0; i < hs->n; i++) {
		if (!in_list(fields, hs->v[i].name))
			continue;
		struct addr_list l;
		addr_list_init(&l);
		header_value(&hs->v[i], &v);
		if (addr_parse_list(buf_str(&v), v.len, &l) != 0)
			msg_warn("%s: malformed address in %s: %s", qfile_writer_id(c->w), hs->v[i].name,
				 buf_str(&l.error));
		for (size_t k = 0; k < l.n; k++)
			if (!have_rcpt(c, l.v[k].mailbox))
				add_rcpt(c, l.v[k].mailbox, notify, "");
		addr_list_free(&l);
	}
	buf_free(&v);
	headers_remove_all(hs, resent ? "Resent-Bcc" : "Bcc");
}

/* Rewrite the addresses of one field in place; keeps everything else. */
static void rewrite_field(struct cleanup *c, struct headers *hs, size_t i)
{
	struct header *h = &hs->v[i];
	const char *value = h->raw + h->value_off;
	size_t vlen = strlen(value);
	struct addr_list l;
	struct buf out = BUF_INIT, na = BUF_INIT;
	size_t copied = 0;
	bool changed = false;
	bool sender = in_list(sender_fields, h->name);

	addr_list_init(&l);
	addr_parse_list(value, vlen, &l);
	for (size_t k = 0; k < l.n; k++) {
		if (cleanup_rewrite_addr(c, l.v[k].mailbox, sender, &na) != 0)
			break;
		if (strcmp(buf_str(&na), l.v[k].mailbox) == 0)
			continue;
		buf_add(&out, value + copied, l.v[k].spec_start - copied);
		buf_add(&out, na.data, na.len);
		copied = l.v[k].spec_end;
		changed = true;
	}
	if (changed) {
		buf_add(&out, value + copied, vlen - copied);
		/* Keep the raw layout: name and colon as written, then the new value. */
		struct buf raw = BUF_INIT;
		buf_add(&raw, h->raw, h->value_off);
		buf_add(&raw, out.data, out.len);
		free(h->raw);
		h->raw = buf_steal(&raw);
	}
	addr_list_free(&l);
	buf_free(&out);
	buf_free(&na);
}

/* Two digits of v (0..99) at p; returns the end. */
static char *put2(char *p, int v)
{
	*p++ = (char)('0' + v / 10);
	*p++ = (char)('0' + v % 10);
	return p;
}

void cleanup_rfc5322_date(time_t t, struct buf *out)
{
	struct tm tm;
	char text[64];
	static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
	static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
					   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	localtime_r(&t, &tm);
	long off = tm.tm_gmtoff / 60;
	char sign = off < 0 ? '-' : '+';
	if (off < 0)
		off = -off;
	/*
	 * "%s, %d %s %d %02d:%02d:%02d %c%02ld%02ld" by hand: once or twice a
	 * message, and snprintf cost about 4,000 instructions. Fields outside
	 * their usual range (a year past 9999) take the snprintf.
	 */
	if (tm.tm_mday >= 1 && tm.tm_mday <= 31 && tm.tm_year >= 0 && tm.tm_year <= 9999 - 1900 &&
	    tm.tm_hour >= 0 && tm.tm_hour <= 23 && tm.tm_min >= 0 && tm.tm_min <= 59 &&
	    tm.tm_sec >= 0 && tm.tm_sec <= 60 && off / 60 <= 99) {
		char *p = text;
		int year = tm.tm_year + 1900;
		memcpy(p, days[tm.tm_wday % 7], 3);
		p += 3;
		*p++ = ',';
		*p++ = ' ';
		if (tm.tm_mday >= 10)
			*p++ = (char)('0' + tm.tm_mday / 10);
		*p++ = (char)('0' + tm.tm_mday % 10);
		*p++ = ' ';
		memcpy(p, months[tm.tm_mon % 12], 3);
		p += 3;
		*p++ = ' ';
		p = put2(p, year / 100);	/* 1900..9999: four digits */
		p = put2(p, year % 100);
		*p++ = ' ';
		p = put2(p, tm.tm_hour);
		*p++ = ':';
		p = put2(p, tm.tm_min);
		*p++ = ':';
		p = put2(p, tm.tm_sec);
		*p++ = ' ';
		*p++ = sign;
		p = put2(p, (int)(off / 60));
		p = put2(p, (int)(off % 60));
		buf_add(out, text, (size_t)(p - text));
		return;
	}
	snprintf(text, sizeof(text), "%s, %d %s %d %02d:%02d:%02d %c%02ld%02ld",
		 days[tm.tm_wday % 7], tm.tm_mday, months[tm.tm_mon % 12], tm.tm_year + 1900,
		 tm.tm_hour, tm.tm_min, tm.tm_sec, sign, off / 60, off % 60);
	buf_adds(out, text);
}

/* A display name as a phrase: quoted when it holds anything but atoms. */
static void add_phrase(struct buf *out, const char *name)
{
	bool plain = *name != '\0';
	for (const char *p = name; *p && plain; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		      strchr(" !#$%&'*+-/=?^_`{|}~", *p) != NULL || (unsigned char)*p >= 0x80))
			plain = false;
	if (plain) {
		buf_adds(out, name);
		return;
	}
	buf_addc(out, '"');
	for (const char *p = name; *p; p++) {
		if ((unsigned char)*p < ' ')
			continue;
		if (*p == '"' || *p == '\\')
			buf_addc(out, '\\');
		buf_addc(out, *p);
	}
	buf_addc(out, '"');
}

static void add_received(struct cleanup *c, struct headers *hs, time_t now)
{
	struct buf v = BUF_INIT;
	const char *id = qfile_writer_id(c->w);
	if (c->source == CLEANUP_SMTP) {
		const char *helo = attr(c, "helo_name");
		const char *name = attr(c, "client_name");
		const char *addr = attr(c, "client_addr");
		const char *proto = attr(c, "protocol");
		/*
		 * "from %s (%s [%s])", "\n\tby %s (%s) with %s id %s", "\n\tfor <%s>":
		 * appended piece by piece, as every message has this header
		 * (vsnprintf was about 2,600 instructions a call).
		 */
		buf_add(&v, "from ", 5);
		buf_adds(&v, helo && *helo ? helo : (name ? name : "unknown"));
		buf_add(&v, " (", 2);
		buf_adds(&v, name && *name ? name : "unknown");
		buf_add(&v, " [", 2);
		buf_adds(&v, addr && *addr ? addr : "unknown");
		buf_add(&v, "])", 2);
		const char *tv = attr(c, "tls_version"), *tc = attr(c, "tls_cipher");
		if (tv && *tv)
			buf_printf(&v, "\n\t(using %s with cipher %s)", tv, tc ? tc : "unknown");
		/* As Postfix does; off by default, since it tells the world a login name. */
		const char *user = attr(c, "sasl_username");
		if (c->s.sasl_authenticated_header && user != NULL && *user != '\0') {
			buf_adds(&v, "\n\t(Authenticated sender: ");
			for (const char *p = user; *p; p++)	/* no line breaks or parentheses games */
				buf_addc(&v, (unsigned char)*p < ' ' || *p == '(' || *p == ')' ? '?' : *p);
			buf_addc(&v, ')');
		}
		buf_add(&v, "\n\tby ", 5);
		buf_adds(&v, c->s.myhostname);
		buf_add(&v, " (", 2);
		buf_adds(&v, c->s.mail_name);
		buf_add(&v, ") with ", 7);
		buf_adds(&v, proto && *proto ? proto : "SMTP");
		buf_add(&v, " id ", 4);
		buf_adds(&v, id);
		if (c->nrcpt == 1) {
			buf_add(&v, "\n\tfor <", 7);
			buf_adds(&v, c->rcpts[0].addr);
			buf_addc(&v, '>');
		}
	} else if (c->source == CLEANUP_LOCAL && attr(c, "uid") != NULL) {
		buf_printf(&v, "by %s (%s, from userid %s)\n\tid %s", c->s.myhostname, c->s.mail_name,
			   attr(c, "uid"), id);
	} else {
		buf_printf(&v, "by %s (%s)\n\tid %s", c->s.myhostname, c->s.mail_name, id);
	}
	buf_adds(&v, "; ");
	cleanup_rfc5322_date(now, &v);
	headers_insert(hs, 0, "Received", buf_str(&v));
	buf_free(&v);
}

static void add_missing(struct cleanup *c, struct headers *hs, time_t now)
{
	struct buf v = BUF_INIT;
	if (headers_find(hs, "From", 0) < 0) {
		const char *full = attr(c, "full_name");
		if (c->sender.len == 0) {
			buf_adds(&v, "MAILER-DAEMON");
		} else if (full && *full) {
			add_phrase(&v, full);
			buf_printf(&v, " <%s>", buf_str(&c->sender));
		} else {
			buf_adds(&v, buf_str(&c->sender));
		}
		headers_append(hs, "From", buf_str(&v));
	}
	if (headers_find(hs, "Date", 0) < 0) {
		buf_reset(&v);
		cleanup_rfc5322_date(now, &v);
		headers_append(hs, "Date", buf_str(&v));
	}
	if (headers_find(hs, "Message-ID", 0) < 0) {
		struct tm tm;
		char stamp[32];
		gmtime_r(&now, &tm);
		strftime(stamp, sizeof(stamp), "%Y%m%d%H%M%S", &tm);
		buf_reset(&v);
		buf_printf(&v, "<%s.%s@%s>", stamp, qfile_writer_id(c->w), c->s.myhostname);
		headers_append(hs, "Message-ID", buf_str(&v));
	}
	buf_free(&v);
}

/* The Message-ID: value for the log line, printable and bounded. */
static void remember_message_id(struct cleanup *c, const struct headers *hs)
{
	long i = headers_find(hs, "Message-ID", 0);
	struct buf v = BUF_INIT;
	buf_reset(&c->message_id);
	if (i >= 0)
		header_value(&hs->v[i], &v);
	for (size_t k = 0; k < v.len && c->message_id.len < 256; k++)
		buf_addc(&c->message_id, (unsigned char)v.data[k] < ' ' ? ' ' : v.data[k]);
	buf_free(&v);
}

static void content_out(struct cleanup *c, const char *data, size_t len)
{
	struct buf err = BUF_INIT;
	if (len == 0 || c->status != CLEANUP_OK)
		return;
	if (c->edit != NULL) {
		cleanup_edit_body(c, data, len);
		return;
	}
	if (qfile_write(c->w, data, len, &err) != 0)
		cleanup_fail(c, CLEANUP_TEMPFAIL, "%s", buf_str(&err));
	c->size += len;
	c->last = data[len - 1];
	buf_free(&err);
}

/*
 * The header block hdr[hstart, hend) is complete; the body starts at
 * body (with a separating empty line added when blank is false).
 */
static void end_headers(struct cleanup *c, size_t hend, size_t body, bool blank)
{
	const char *hdr = c->hdr.data ? c->hdr.data : "";	/* (none for an empty message) */
	struct headers hs;
	enum header_end how;
	struct buf out = BUF_INIT;
	time_t now = c->s.fixed_time ? c->s.fixed_time : time(NULL);

	c->in_headers = false;
	if (c->status != CLEANUP_OK)
		return;
	headers_init(&hs);
	headers_parse(hdr + c->hstart, hend - c->hstart, &hs, &how);
	/* A message that went round too often is in a mail loop. */
	if (c->s.hopcount_limit > 0) {
		int hops = 0;
		for (size_t i = 0; i < hs.n; i++)
			hops += strcasecmp(hs.v[i].name, "Received") == 0;
		if (hops >= c->s.hopcount_limit)
			cleanup_fail(c, CLEANUP_REJECT, "too many hops (%d Received: headers): mail forwarding loop", hops);
	}
	if (c->flags & CLEANUP_FLAG_EXTRACT)
		extract_recipients(c, &hs);
	if (c->source == CLEANUP_LOCAL)
		for (size_t i = 0; i < hs.n; i++)
			if (in_list(rewrite_fields, hs.v[i].name))
				rewrite_field(c, &hs, i);
	if (c->status == CLEANUP_OK && finish_envelope(c) == 0) {
		if (c->first_name != NULL)
			headers_insert(&hs, 0, c->first_name, c->first_value);
		add_received(c, &hs, now);
		add_missing(c, &hs, now);
		remember_message_id(c, &hs);
		if (c->edit != NULL) {
			/* Held for the milters: written by cleanup_edit_flush. */
			cleanup_edit_keep(c, &hs, c->hdr.len > body || blank);
			content_out(c, hdr + body, c->hdr.len - body);
			goto out;
		}
		/* The envelope, then the headers and the body. */
		cleanup_write_envelope(c);
		headers_write(&hs, &out);
		content_out(c, out.data, out.len);
		if (c->hdr.len > body || blank)
			content_out(c, "\n", 1);
		content_out(c, hdr + body, c->hdr.len - body);
	}
out:
	headers_free(&hs);
	buf_free(&out);
	buf_free(&c->hdr);
}

/* Look at the new complete lines of the header block. */
static void scan_headers(struct cleanup *c)
{
	while (c->in_headers && c->scan < c->hdr.len) {	/* (an empty message has no buffer) */
		const char *line = c->hdr.data + c->scan;
		const char *nl = memchr(line, '\n', c->hdr.len - c->scan);
		if (nl == NULL)
			break;
		size_t start = c->scan, n = (size_t)(nl - line);
		size_t content = n > 0 && line[n - 1] == '\r' ? n - 1 : n;
		c->scan += n + 1;
		if (!c->first_line_done) {
			c->first_line_done = true;
			/* A UNIX "From " line from a local program is dropped, as sendmail does. */
			if (c->source == CLEANUP_LOCAL && n >= 5 && memcmp(line, "From ", 5) == 0) {
				c->hstart = c->fstart = c->scan;	/* no header, nor counted as one */
				continue;
			}
		}
		if (content == 0) {
			end_headers(c, start, c->scan, true);
			return;
		}
		if ((line[0] == ' ' || line[0] == '\t') && start > c->hstart)
			continue;
		if (!header_line_is_field(line, content, NULL)) {
			end_headers(c, start, start, false);
			return;
		}
	}
}

/*
 * The header block in hand is over one of its limits. What happens must
 * not depend on how the input was cut into pieces, so it is decided as
 * if the line being received (from c->scan; complete ones have been
 * scanned) had come whole:
 *  - a first line "From " of a local message is dropped whole by
 *    scan_headers: what came of it goes, and the rest as it comes;
 *  - a line that cannot be a header is the first line of a body that
 *    came without an empty line before it: the block ends there;
 *  - a line that may still turn out to be either (header_line_kind:
 *    at most 998 bytes of a name and white space) waits for more;
 *  - else (complete headers, a header line or a continuation in hand)
 *    the message is refused, whole: a header is never cut and no header
 *    is pushed into the body.
 */
enum limit_outcome { LIMIT_WAIT, LIMIT_BODY, LIMIT_REJECT };

static enum limit_outcome over_limit(struct cleanup *c, bool block)
{
	const char *line = c->hdr.data + c->scan;
	size_t len = c->hdr.len - c->scan, namelen = 0;

	if (len > 0 && !c->first_line_done && c->source == CLEANUP_LOCAL
	    && memcmp(line, "From ", len < 5 ? len : 5) == 0) {
		if (len < 5)
			return LIMIT_WAIT;
		buf_truncate(&c->hdr, c->scan);
		c->drop_line = true;
		return LIMIT_WAIT;
	}
	if (len == 1 && line[0] == '\r')
		return LIMIT_WAIT;	/* an empty line, maybe, whose LF is to come */
	bool continuation = len > 0 && (line[0] == ' ' || line[0] == '\t') && c->scan > c->hstart;
	if (len > 0 && !continuation) {
		enum header_line kind = header_line_kind(line, len, &namelen);
		if (kind == HEADER_LINE_OTHER) {
			end_headers(c, c->scan, c->scan, false);
			return LIMIT_BODY;
		}
		if (kind == HEADER_LINE_UNKNOWN)
			return LIMIT_WAIT;
	}
	if (block) {
		cleanup_fail(c, CLEANUP_REJECT, "message header block too large (more than %llu bytes)",
			     c->s.header_block_size_limit);
	} else {
		/* Name the header when it is one (its name is printable ASCII). */
		line = c->hdr.data + c->fstart;
		if (header_line_kind(line, c->hdr.len - c->fstart, &namelen) != HEADER_LINE_FIELD || namelen > 64)
			namelen = 0;
		cleanup_fail(c, CLEANUP_REJECT, "message header %.*s%stoo long (more than %llu bytes)",
			     (int)namelen, line, namelen ? " " : "", c->s.header_size_limit);
	}
	buf_free(&c->hdr);
	return LIMIT_REJECT;
}

/* The rest of a dropped "From " line (over_limit): returns the bytes it used. */
static size_t drop_from_line(struct cleanup *c, const char *data, size_t len)
{
	const char *nl = memchr(data, '\n', len);
	if (nl == NULL)
		return len;
	c->drop_line = false;
	c->first_line_done = true;
	c->line_start = true;
	c->scan = c->hstart = c->fstart = c->hdr.len;
	return (size_t)(nl - data) + 1;
}

/*
 * Header input, one line (or the part of one that has come) at a time,
 * so that the limits apply to the header in hand. Whatever follows the
 * header block goes to the content.
 */
static void header_input(struct cleanup *c, const char *data, size_t len)
{
	while (len > 0 && c->status == CLEANUP_OK) {
		if (!c->in_headers) {
			content_out(c, data, len);
			return;
		}
		if (c->drop_line) {
			size_t used = drop_from_line(c, data, len);
			data += used;
			len -= used;
			continue;
		}
		const char *nl = memchr(data, '\n', len);
		size_t n = nl ? (size_t)(nl - data) + 1 : len;
		if (c->line_start && data[0] != ' ' && data[0] != '\t')
			c->fstart = c->hdr.len;	/* a new header (or the end of them) */
		buf_add(&c->hdr, data, n);
		c->line_start = nl != NULL;
		data += n;
		len -= n;
		scan_headers(c);
		if (!c->in_headers)
			continue;
		/* Over which limit: the one whose last byte came first, however the input was cut. */
		unsigned long long block_end = c->hstart + c->s.header_block_size_limit;
		unsigned long long one_end = c->fstart + c->s.header_size_limit;
		bool block = c->s.header_block_size_limit && c->hdr.len > block_end;
		bool one = c->s.header_size_limit && c->hdr.len > one_end;
		if ((block || one) && over_limit(c, block && (!one || block_end <= one_end)) == LIMIT_REJECT)
			return;
	}
}

int cleanup_write(struct cleanup *c, const char *data, size_t len)
{
	if (c->status == CLEANUP_TEMPFAIL)
		return -1;
	c->total += len;
	if (c->s.message_size_limit && c->total > c->s.message_size_limit) {
		c->too_big = true;
		buf_free(&c->hdr);
		return 0;	/* keep reading; cleanup_finish reports it */
	}
	if (c->too_big || c->status != CLEANUP_OK)
		return 0;
	if (c->in_headers) {
		header_input(c, data, len);
		return c->status == CLEANUP_TEMPFAIL ? -1 : 0;
	}
	content_out(c, data, len);
	return c->status == CLEANUP_TEMPFAIL ? -1 : 0;
}

int cleanup_finish(struct cleanup *c, char *queue_id, size_t idlen, struct buf *reason)
{
	int status;
	if (queue_id && idlen)
		queue_id[0] = '\0';
	if (c->too_big) {
		/* Whatever the pieces let cleanup see before the size passed the limit. */
		if (c->status == CLEANUP_REJECT)
			c->status = CLEANUP_OK;
		cleanup_fail(c, CLEANUP_REJECT, "message file too big (limit %llu bytes)", c->s.message_size_limit);
	}
	if (c->in_headers && c->status == CLEANUP_OK) {
		if (c->hdr.len > 0 && c->hdr.data[c->hdr.len - 1] != '\n')
			buf_addc(&c->hdr, '\n');
		scan_headers(c);
		if (c->in_headers)
			end_headers(c, c->hdr.len, c->hdr.len, false);
	}
	if (c->edit != NULL && c->status == CLEANUP_OK)
		cleanup_edit_flush(c);
	else if (c->status == CLEANUP_OK && c->size > 0 && c->last != '\n')
		content_out(c, "\n", 1);
	if (c->status == CLEANUP_OK) {
		struct buf err = BUF_INIT;
		char id[QF_ID_MAX];
		strlcpy(id, qfile_writer_id(c->w), sizeof(id));
		if (c->hold)
			qfile_set_commit_dir(c->w, c->hold_dir);
		int rc = qfile_commit(c->w, id, sizeof(id), &err);
		c->w = NULL;
		if (rc != 0)
			cleanup_fail(c, CLEANUP_TEMPFAIL, "%s", buf_str(&err));
		else {
			if (queue_id && idlen)
				strlcpy(queue_id, id, idlen);
			/*
			 * Postfix's cleanup line. The sender, size and recipient
			 * count are the queue manager's "(queue active)" line: log
			 * tools (pflogsumm) count a message's sender from that one,
			 * after the receiving program's client= or uid= line.
			 */
			if (c->message_id.len > 0)
				msg_info("%s: message-id=%s", id, buf_str(&c->message_id));
			if (c->hold) {
				/* Quarantined: the queue manager has nothing to do until a release. */
				msg_info("%s: hold: %s; from=<%s>, size=%llu, nrcpt=%zu", id,
					 buf_str(&c->hold_reason), buf_str(&c->sender), c->size, c->nrcpt);
			} else {
				qwake_send_path(c->s.wake_socket, QWAKE_NEW);
			}
		}
		buf_free(&err);
	}
	status = c->status;
	if (status != CLEANUP_OK && reason) {
		buf_reset(reason);
		buf_add(reason, c->reason.data, c->reason.len);
	}
	cleanup_abort(c);
	return status;
}

bool cleanup_in_headers(const struct cleanup *c)
{
	return c != NULL && c->status == CLEANUP_OK && !c->too_big && c->in_headers;
}

void cleanup_abort(struct cleanup *c)
{
	if (c == NULL)
		return;
	qfile_abort(c->w);
	for (size_t i = 0; i < c->nrcpt; i++) {
		free(c->rcpts[i].addr);
		free(c->rcpts[i].orcpt);
		free(c->rcpts[i].given);
	}
	free(c->rcpts);
	for (size_t i = 0; i < c->nattr; i++) {
		free(c->attrs[i].name);
		free(c->attrs[i].value);
	}
	free(c->attrs);
	free(c->first_name);
	free(c->first_value);
	free(c->incoming_dir);
	free(c->wake_socket);
	free(c->hold_dir);
	cleanup_edit_free(c->edit);
	buf_free(&c->hold_reason);
	buf_free(&c->message_id);
	buf_free(&c->sender);
	buf_free(&c->hdr);
	buf_free(&c->reason);
	free(c);
}
