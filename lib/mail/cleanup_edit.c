/*
 * cleanup_edit.c - the editable content path of cleanup
 * (CLEANUP_FLAG_EDIT, the EDITING block of cleanup.h): what milters
 * change at end of data.
 *
 * Mail layer. Runs in the submitting process (smtpd, pickup) with its
 * privileges, normally mail_owner. With the flag, cleanup_core.c does
 * its header work at the end of the header block as always, but hands
 * the resulting header fields here instead of writing them, and the
 * body comes here as it arrives: into memory up to SPOOL_MEM_MAX, then
 * into an unlinked temporary file in incoming/ (never synced: it is not
 * the message, the queue file is). cleanup_edit_flush() then writes the
 * envelope, headers and body as edited into the queue file writer, and
 * cleanup_finish commits it with the one safe queue-write: the message
 * is never on disk half edited, and there is no fsync more than without
 * the flag. Edits are stored as given (the caller, the milter driver,
 * speaks for the milter); they are checked only so that they cannot
 * break the file: no CR, no line that would end or leave the header
 * block, a valid field name, no control characters in an address.
 */
#include "compat.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "mail/cleanup.h"
#include "mail/cleanup_int.h"
#include "mail/header.h"
#include "mail/qfile.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/mem.h"

#define SPOOL_MEM_MAX	(256 * 1024)	/* body bytes held in memory before a file */

/* A header field as held: raw is "Name:value" with its folds, without the final LF. */
struct ehdr {
	char *name;
	char *raw;
	size_t value_off;	/* just after the colon */
};

/* A body: in memory, or (fd >= 0) in an unlinked file. */
struct spool {
	struct buf mem;
	int fd;
	unsigned long long len;
	char last;		/* last byte, for the final newline */
};

struct cleanup_edit {
	bool ready;		/* the header block ended and its fields are here */
	struct ehdr *h;
	size_t n;
	bool sep;		/* an empty line follows the headers (original message) */
	struct spool body;	/* the original body */
	struct spool repl;	/* the replacement (cleanup_body_replace) */
	bool replaced;
	bool edited;		/* the content changed: message_size_limit applies again */
	unsigned long long rpos;	/* cleanup_body_read's position */
};

static void spool_init(struct spool *sp)
{
	buf_init(&sp->mem);
	sp->fd = -1;
	sp->len = 0;
	sp->last = '\n';
}

static void spool_free(struct spool *sp)
{
	buf_free(&sp->mem);
	if (sp->fd >= 0)
		close(sp->fd);
	spool_init(sp);
}

/* An unlinked file in dir: O_TMPFILE, or a dot name (skipped by every scan) unlinked at once. */
static int spool_file(const char *dir)
{
	int fd = -1;
#ifdef O_TMPFILE
	fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL))
		return fd;
#endif
	char *path = xasprintf("%s/.spool.XXXXXX", dir);
	fd = mkostemp(path, O_CLOEXEC);
	if (fd >= 0)
		unlink(path);
	free(path);
	return fd;
}

static int write_all(int fd, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, data, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

static void spool_write(struct cleanup *c, struct spool *sp, const char *data, size_t len)
{
	if (len == 0 || c->status != CLEANUP_OK)
		return;
	if (sp->fd < 0 && sp->mem.len + len > SPOOL_MEM_MAX) {
		sp->fd = spool_file(c->s.incoming_dir);
		if (sp->fd < 0 || write_all(sp->fd, sp->mem.data, sp->mem.len) != 0) {
			cleanup_fail(c, CLEANUP_TEMPFAIL, "cannot spool message body in %s: %s",
				     c->s.incoming_dir, strerror(errno));
			return;
		}
		buf_free(&sp->mem);
	}
	if (sp->fd >= 0) {
		if (write_all(sp->fd, data, len) != 0) {
			cleanup_fail(c, CLEANUP_TEMPFAIL, "cannot spool message body in %s: %s",
				     c->s.incoming_dir, strerror(errno));
			return;
		}
	} else {
		buf_add(&sp->mem, data, len);
	}
	sp->len += len;
	sp->last = data[len - 1];
}

static ssize_t spool_read(const struct spool *sp, unsigned long long pos, char *data, size_t len)
{
	if (pos >= sp->len)
		return 0;
	if (len > sp->len - pos)
		len = (size_t)(sp->len - pos);
	if (sp->fd < 0) {
		memcpy(data, sp->mem.data + pos, len);
		return (ssize_t)len;
	}
	ssize_t n;
	do
		n = pread(sp->fd, data, len, (off_t)pos);
	while (n < 0 && errno == EINTR);
	return n;
}

struct cleanup_edit *cleanup_edit_new(void)
{
	struct cleanup_edit *e = xcalloc(1, sizeof(*e));
	spool_init(&e->body);
	spool_init(&e->repl);
	return e;
}

static void ehdr_free(struct ehdr *h)
{
	free(h->name);
	free(h->raw);
}

void cleanup_edit_free(struct cleanup_edit *e)
{
	if (e == NULL)
		return;
	for (size_t i = 0; i < e->n; i++)
		ehdr_free(&e->h[i]);
	free(e->h);
	spool_free(&e->body);
	spool_free(&e->repl);
	free(e);
}

void cleanup_edit_keep(struct cleanup *c, struct headers *hs, bool sep)
{
	struct cleanup_edit *e = c->edit;

	e->h = xreallocarray(NULL, hs->n ? hs->n : 1, sizeof(*e->h));
	for (size_t i = 0; i < hs->n; i++) {
		struct header *f = &hs->v[i];
		size_t len = strlen(f->raw);
		if (len > 0 && f->raw[len - 1] == '\n')
			f->raw[len - 1] = '\0';
		e->h[i] = (struct ehdr){.name = f->name, .raw = f->raw, .value_off = f->value_off};
	}
	e->n = hs->n;
	free(hs->v);
	headers_init(hs);
	e->sep = sep;
	e->ready = true;
}

void cleanup_edit_body(struct cleanup *c, const char *data, size_t len)
{
	spool_write(c, &c->edit->body, data, len);
}

static struct spool *current_body(struct cleanup_edit *e)
{
	return e->replaced ? &e->repl : &e->body;
}

void cleanup_edit_flush(struct cleanup *c)
{
	struct cleanup_edit *e = c->edit;
	struct spool *b = current_body(e);
	struct buf out = BUF_INIT, err = BUF_INIT;

	if (c->nrcpt == 0) {
		cleanup_fail(c, CLEANUP_REJECT, "no recipients left after the message was edited");
		return;
	}
	for (size_t i = 0; i < e->n; i++) {
		buf_adds(&out, e->h[i].raw);
		buf_addc(&out, '\n');
	}
	if (e->sep || b->len > 0)
		buf_addc(&out, '\n');
	bool add_nl = b->len > 0 && b->last != '\n';
	unsigned long long size = out.len + b->len + add_nl;
	if (e->edited && c->s.message_size_limit && size > c->s.message_size_limit) {
		cleanup_fail(c, CLEANUP_REJECT, "message file too big after changes (limit %llu bytes)",
			     c->s.message_size_limit);
		goto out;
	}
	if (cleanup_write_envelope(c) != 0)
		goto out;
	int rc = qfile_write(c->w, out.data, out.len, &err);
	if (rc == 0 && b->len > 0)
		rc = b->fd >= 0 ? qfile_write_fd(c->w, b->fd, 0, b->len, &err)
				: qfile_write(c->w, b->mem.data, b->mem.len, &err);
	if (rc == 0 && add_nl)
		rc = qfile_write(c->w, "\n", 1, &err);
	if (rc != 0)
		cleanup_fail(c, CLEANUP_TEMPFAIL, "%s", buf_str(&err));
	c->size = qfile_content_written(c->w);
out:
	buf_free(&out);
	buf_free(&err);
}

/* ------------------------------------------------------------------ */
/* The EDITING API of cleanup.h.                                       */

static bool editable(const struct cleanup *c)
{
	return c != NULL && c->edit != NULL && c->edit->ready && c->status == CLEANUP_OK;
}

const char *cleanup_queue_id(const struct cleanup *c)
{
	return c != NULL && c->w != NULL ? qfile_writer_id(c->w) : "";
}

size_t cleanup_header_count(const struct cleanup *c)
{
	return editable(c) ? c->edit->n : 0;
}

void cleanup_header_get(const struct cleanup *c, size_t i, const char **name, const char **value)
{
	if (!editable(c) || i >= c->edit->n) {
		*name = NULL;
		*value = NULL;
		return;
	}
	*name = c->edit->h[i].name;
	*value = c->edit->h[i].raw + c->edit->h[i].value_off;
}

/* A field name RFC 5322 allows: printable ASCII other than ':' and space, 1-998 bytes. */
static bool name_valid(const char *name)
{
	size_t n = 0;
	for (const unsigned char *p = (const unsigned char *)name; *p; p++, n++)
		if (*p <= ' ' || *p >= 0x7f || *p == ':')
			return false;
	return n > 0 && n <= 998;
}

/*
 * A value that keeps the header block whole: no CR, and every line
 * break followed by white space (a continuation), so that nothing can
 * start a new field or end the block.
 */
static bool value_valid(const char *value)
{
	for (const char *p = value; *p; p++) {
		if (*p == '\r')
			return false;
		if (*p == '\n' && p[1] != ' ' && p[1] != '\t')
			return false;
	}
	return true;
}

static int header_put(struct cleanup *c, size_t index, const char *name, const char *value)
{
	struct cleanup_edit *e = c->edit;

	if (!editable(c) || !name_valid(name) || value == NULL || !value_valid(value))
		return -1;
	if (index > e->n)
		index = e->n;
	e->h = xreallocarray(e->h, e->n + 1, sizeof(*e->h));
	memmove(&e->h[index + 1], &e->h[index], (e->n - index) * sizeof(*e->h));
	e->h[index] = (struct ehdr){
		.name = xstrdup(name),
		.raw = xasprintf("%s:%s", name, value),
		.value_off = strlen(name) + 1,
	};
	e->n++;
	e->edited = true;
	return 0;
}

int cleanup_header_add(struct cleanup *c, const char *name, const char *value)
{
	return header_put(c, (size_t)-1, name, value);
}

int cleanup_header_insert(struct cleanup *c, size_t index, const char *name, const char *value)
{
	return header_put(c, index, name, value);
}

int cleanup_header_change(struct cleanup *c, const char *name, size_t nth, const char *value)
{
	struct cleanup_edit *e = c->edit;

	if (!editable(c) || !name_valid(name) || (value != NULL && !value_valid(value)))
		return -1;
	if (nth == 0)
		nth = 1;	/* as sendmail's milter code: index 0 is the first */
	for (size_t i = 0; i < e->n; i++) {
		if (strcasecmp(e->h[i].name, name) != 0 || --nth > 0)
			continue;
		if (value == NULL || *value == '\0') {
			ehdr_free(&e->h[i]);
			memmove(&e->h[i], &e->h[i + 1], (e->n - i - 1) * sizeof(*e->h));
			e->n--;
		} else {
			/* The name keeps its spelling as it was. */
			char *raw = xasprintf("%s:%s", e->h[i].name, value);
			free(e->h[i].raw);
			e->h[i].raw = raw;
			e->h[i].value_off = strlen(e->h[i].name) + 1;
		}
		e->edited = true;
		return 0;
	}
	return 0;
}

int cleanup_body_rewind(struct cleanup *c)
{
	if (!editable(c))
		return -1;
	c->edit->rpos = 0;
	return 0;
}

ssize_t cleanup_body_read(struct cleanup *c, char *data, size_t len)
{
	if (!editable(c))
		return -1;
	ssize_t n = spool_read(current_body(c->edit), c->edit->rpos, data, len);
	if (n > 0)
		c->edit->rpos += (unsigned long long)n;
	return n;
}

int cleanup_body_replace(struct cleanup *c)
{
	if (!editable(c))
		return -1;
	/* A later milter's replacement replaces an earlier one's. */
	spool_free(&c->edit->repl);
	c->edit->replaced = true;
	c->edit->edited = true;
	c->edit->rpos = 0;
	return 0;
}

int cleanup_body_replace_write(struct cleanup *c, const char *data, size_t len)
{
	if (!editable(c) || !c->edit->replaced)
		return -1;
	struct spool *r = &c->edit->repl;
	if (c->s.message_size_limit && r->len + len > c->s.message_size_limit) {
		/* Too big whatever else happens: cleanup_finish rejects it. */
		cleanup_fail(c, CLEANUP_REJECT, "message file too big after changes (limit %llu bytes)",
			     c->s.message_size_limit);
		spool_free(r);
		return 0;
	}
	spool_write(c, r, data, len);
	return c->status == CLEANUP_TEMPFAIL ? -1 : 0;
}

int cleanup_set_sender(struct cleanup *c, const char *addr)
{
	struct buf out = BUF_INIT;

	if (!editable(c) || !qfile_field_valid(addr))
		return -1;
	/* The same rewriting as the original sender (sender_canonical_maps, canonical_maps). */
	int rc = cleanup_rewrite_addr(c, addr, true, &out);
	if (rc == 0) {
		buf_reset(&c->sender);
		buf_add(&c->sender, out.data, out.len);
	}
	buf_free(&out);
	return rc;
}

int cleanup_add_rcpt(struct cleanup *c, const char *addr, int notify, const char *orcpt)
{
	if (!editable(c) || *addr == '\0' || !qfile_field_valid(addr) ||
	    (orcpt != NULL && !qfile_field_valid(orcpt)) || notify < 0 || notify > 15)
		return -1;
	return cleanup_expand_rcpt(c, addr, notify, orcpt, addr);
}

int cleanup_del_rcpt(struct cleanup *c, const char *addr)
{
	struct buf rw = BUF_INIT;
	int found = 0;

	if (!editable(c))
		return -1;
	if (cleanup_rewrite_addr(c, addr, false, &rw) != 0) {
		buf_free(&rw);
		return -1;
	}
	size_t k = 0;
	for (size_t i = 0; i < c->nrcpt; i++) {
		struct crcpt *r = &c->rcpts[i];
		if (strcasecmp(r->addr, addr) == 0 || strcasecmp(r->addr, buf_str(&rw)) == 0 ||
		    (r->given != NULL && strcasecmp(r->given, addr) == 0)) {
			free(r->addr);
			free(r->orcpt);
			free(r->given);
			found = 1;
			continue;
		}
		c->rcpts[k++] = *r;
	}
	c->nrcpt = k;
	buf_free(&rw);
	return found;
}

size_t cleanup_rcpt_count(const struct cleanup *c)
{
	return c != NULL ? c->nrcpt : 0;
}

const char *cleanup_rcpt_addr(const struct cleanup *c, size_t i)
{
	return c != NULL && i < c->nrcpt ? c->rcpts[i].addr : NULL;
}

const char *cleanup_sender_addr(const struct cleanup *c)
{
	return buf_str(&c->sender);
}

void cleanup_hold_dir(struct cleanup *c)
{
	/* hold/ is the sibling of incoming/ unless the settings name it. */
	if (c->hold_dir == NULL)
		c->hold_dir = c->s.hold_dir ? xstrdup(c->s.hold_dir)
					    : xasprintf("%s/../hold", c->s.incoming_dir);
	c->s.hold_dir = c->hold_dir;
}

void cleanup_hold(struct cleanup *c, const char *reason)
{
	if (c == NULL)
		return;
	cleanup_hold_dir(c);
	c->hold = true;
	buf_reset(&c->hold_reason);
	/* One log line: no control characters from a milter's reason. */
	for (const char *p = reason ? reason : ""; *p; p++)
		buf_addc(&c->hold_reason, (unsigned char)*p < ' ' ? ' ' : *p);
	if (c->hold_reason.len == 0)
		buf_adds(&c->hold_reason, "quarantined");
}
