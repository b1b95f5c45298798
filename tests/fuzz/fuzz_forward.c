/*
 * fuzz_forward.c - libFuzzer target for what the root local delivery
 * agent reads from users' files: the aliases(5) table, ~/.forward and
 * :include: files, as expanded by alias_expand (lib/mail/alias_expand.c).
 * The input is NUL-separated: a flags byte, the recipient, an aliases
 * file, then files as "NAME\nTEXT", where NAME is an absolute path (an
 * :include: file) or a user or user+ext (a .forward). Expansion must end
 * (a budget of lookups stands for a slow disk), every destination must
 * be well formed, and nothing may crash or leak.
 * Runs as any user; opens no files.
 */
#include "compat.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mail/alias_expand.h"
#include "mail/aliases.h"
#include "util/buf.h"
#include "util/mem.h"

#define MAX_FILES	16
#define BUDGET		400	/* lookups per input; then they fail (defer) */

struct table {
	size_t n;
	char *key[64];
	char *value[64];
	const char *file_name[MAX_FILES];
	const char *file_text[MAX_FILES];
	size_t nfiles;
	int budget;
};

static int on_entry(void *ctx, const struct alias_entry *e)
{
	struct table *t = ctx;
	if (t->n >= 64)
		return -1;
	t->key[t->n] = xstrdup(e->name);
	t->value[t->n++] = xstrdup(e->value);
	return 0;
}

static void on_warn(void *ctx, const char *file, unsigned line, const char *text)
{
	(void)ctx;
	(void)file;
	(void)line;
	(void)text;
}

static int spend(struct table *t)
{
	return t->budget-- > 0;
}

static int cb_alias(void *ctx, const char *name, struct buf *value)
{
	struct table *t = ctx;
	if (!spend(t))
		return -1;
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->key[i], name) == 0) {
			buf_reset(value);
			buf_adds(value, t->value[i]);
			return 1;
		}
	return 0;
}

static const char *file_of(struct table *t, const char *name)
{
	for (size_t i = 0; i < t->nfiles; i++)
		if (strcmp(t->file_name[i], name) == 0)
			return t->file_text[i];
	return NULL;
}

static int cb_forward(void *ctx, const char *user, const char *ext, struct buf *value,
    int *unmatched)
{
	struct table *t = ctx;
	const char *text = NULL;
	*unmatched = 0;
	if (!spend(t))
		return -1;
	if (*ext) {
		struct buf key = BUF_INIT;
		buf_printf(&key, "%s+%s", user, ext);
		text = file_of(t, buf_str(&key));
		buf_free(&key);
	}
	if (text == NULL && (text = file_of(t, user)) != NULL)
		*unmatched = *ext != '\0';
	if (text == NULL)
		return 0;
	buf_reset(value);
	buf_adds(value, text);
	return 1;
}

static int cb_include(void *ctx, const char *path, const char *user, struct buf *value)
{
	struct table *t = ctx;
	(void)user;
	const char *text = spend(t) ? file_of(t, path) : NULL;
	buf_reset(value);
	if (text == NULL) {
		buf_adds(value, "no such file");
		return -1;
	}
	buf_adds(value, text);
	return 1;
}

/* Local: no domain or @localhost; '+' is the delimiter; an empty local part is bad. */
static int cb_local(void *ctx, const char *addr, struct buf *full, struct buf *base,
    struct buf *ext)
{
	const char *at = strchr(addr, '@');
	size_t n = at ? (size_t)(at - addr) : strlen(addr);
	(void)ctx;
	if (n == 0 || addr[0] == '+')
		return -1;
	if (at && strcasecmp(at + 1, "localhost") != 0)
		return 0;
	buf_reset(full);
	buf_reset(base);
	buf_reset(ext);
	for (size_t i = 0; i < n; i++)
		buf_addc(full, (char)tolower((unsigned char)addr[i]));
	const char *plus = memchr(buf_str(full), '+', full->len);
	buf_add(base, full->data, plus ? (size_t)(plus - full->data) : full->len);
	if (plus)
		buf_adds(ext, plus + 1);
	return 1;
}

static void check(const struct dest_list *l)
{
	for (size_t i = 0; i < l->count; i++) {
		const struct dest *d = &l->d[i];
		if (d->target == NULL || d->via == NULL)
			abort();
		switch (d->kind) {
		case DEST_MAILBOX:
			if (d->target[0] == '\0' || strchr(d->target, '@') != NULL)
				abort();
			break;
		case DEST_FILE:
			if (d->target[0] != '/')
				abort();
			break;
		case DEST_ERROR:
			if (d->dsn == NULL || d->dsn[0] != '5' || d->target[0] == '\0')
				abort();
			break;
		case DEST_PIPE:
		case DEST_REMOTE:
			break;
		default:
			abort();
		}
		if (d->kind != DEST_ERROR && d->dsn != NULL)
			abort();
		for (size_t j = 0; j < i; j++)
			if (l->d[j].kind == d->kind && strcmp(l->d[j].target, d->target) == 0)
				abort();	/* the same destination once */
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	int flags = data[0];
	char *copy = xmalloc(size);	/* the sections, each NUL-terminated */
	memcpy(copy, data + 1, size - 1);
	copy[size - 1] = '\0';

	const char *sec[2 + MAX_FILES];
	size_t nsec = 0;
	for (char *p = copy; nsec < 2 + MAX_FILES;) {
		sec[nsec++] = p;
		char *z = memchr(p, '\0', (size_t)(copy + size - 1 - p));
		if (z == NULL || z == copy + size - 1)
			break;
		p = z + 1;
	}
	struct table t = {.budget = BUDGET};
	struct aliases_opts o = {.entry = on_entry, .warn = on_warn, .ctx = &t};
	if (nsec > 1)
		aliases_parse(sec[1], strlen(sec[1]), "fuzz", &o);
	for (size_t i = 2; i < nsec; i++) {
		char *nl = strchr(sec[i], '\n');
		if (nl == NULL)
			continue;
		*nl = '\0';
		t.file_name[t.nfiles] = sec[i];
		t.file_text[t.nfiles++] = nl + 1;
	}

	struct expand_ops ops = {
		.ctx = &t,
		.alias = cb_alias,
		.forward = cb_forward,
		.include = cb_include,
		.local = cb_local,
		.allow_commands = flags & 7,
		.allow_files = (flags >> 3) & 7,
		.max_depth = flags & 0x80 ? 3 : 0,
		.expand_owner = (flags >> 6) & 1,
		.propagate = flags & 0x80 ? 7 : 0,
	};
	struct buf full = BUF_INIT, base = BUF_INIT, ext = BUF_INIT, err = BUF_INIT;
	if (cb_local(NULL, sec[0], &full, &base, &ext) == 1) {
		struct dest_list out;
		dest_list_init(&out);
		if (alias_expand(&ops, buf_str(&full), buf_str(&base), buf_str(&ext), &out, &err) == 0)
			check(&out);
		else if (err.len == 0)
			abort();	/* a deferral says why */
		dest_list_free(&out);
	}
	buf_free(&full);
	buf_free(&base);
	buf_free(&ext);
	buf_free(&err);
	for (size_t i = 0; i < t.n; i++) {
		free(t.key[i]);
		free(t.value[i]);
	}
	free(copy);
	return 0;
}
