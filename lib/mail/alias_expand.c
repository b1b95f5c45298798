/*
 * alias_expand.c - the expansion rules of local delivery (see
 * alias_expand.h). Mail layer, pure logic, no privileges: every file or
 * map access is a callback supplied by the local delivery agent.
 */
#include "compat.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mail/alias_expand.h"
#include "util/mem.h"

#define DEFAULT_DEPTH	20

void dest_list_init(struct dest_list *l)
{
	l->count = 0;
	l->d = NULL;
}

void dest_list_free(struct dest_list *l)
{
	for (size_t i = 0; i < l->count; i++) {
		free(l->d[i].target);
		free(l->d[i].via);
		free(l->d[i].owner);
		free(l->d[i].owner_sender);
		free(l->d[i].dsn);
	}
	free(l->d);
	dest_list_init(l);
}

void alias_items_free(char **items, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(items[i]);
	free(items);
}

static void push_item(char ***items, size_t *n, struct buf *b)
{
	size_t len = b->len;

	while (len > 0 && isspace((unsigned char)b->data[len - 1]))
		len--;
	if (len > 0) {
		*items = xreallocarray(*items, *n + 1, sizeof(char *));
		(*items)[(*n)++] = xstrndup(b->data, len);
	}
	buf_reset(b);
}

size_t alias_split(const char *value, char ***items)
{
	struct buf cur = BUF_INIT;
	size_t n = 0;
	const char *p = value;

	*items = NULL;
	while (*p) {
		if (*p == ',' || isspace((unsigned char)*p)) {
			p++;
			continue;
		}
		if (*p == '#') {	/* comment to the end of the line (.forward, includes) */
			while (*p && *p != '\n')
				p++;
			continue;
		}
		if (*p == '"') {
			for (p++; *p && *p != '"'; p++) {
				if (*p == '\\' && p[1])
					p++;
				buf_addc(&cur, *p);
			}
			if (*p == '"')
				p++;
			/* "name"@domain: the rest of the address follows the quotes. */
			if (*p == '@') {
				struct buf q = BUF_INIT;
				buf_printf(&q, "\"%s\"", buf_str(&cur));
				buf_reset(&cur);
				buf_add(&cur, q.data, q.len);
				buf_free(&q);
				while (*p && *p != ',' && !isspace((unsigned char)*p))
					buf_addc(&cur, *p++);
			}
		} else if (*p == '|') {
			/* An unquoted command runs to the next comma or line end. */
			while (*p && *p != ',' && *p != '\n')
				buf_addc(&cur, *p++);
		} else {
			while (*p && *p != ',' && !isspace((unsigned char)*p))
				buf_addc(&cur, *p++);
		}
		push_item(items, &n, &cur);
	}
	buf_free(&cur);
	return n;
}

/* The state of one expansion. */
struct expansion {
	const struct expand_ops *ops;
	struct dest_list *out;
	struct buf *err;
	char *chain[64];	/* names being expanded, outermost first */
	int depth;
	int max_depth;
	const char *owner_sender;	/* dest.owner_sender of the current owner */
	const char *unmatched;		/* "+ext" the current value did not match, or NULL */
	const char *forward_user;	/* whose .forward is being expanded, or NULL (alias) */
};

static void add_dest(struct expansion *x, enum dest_kind kind, int source, const char *target,
    const char *via, const char *owner, const char *dsn)
{
	struct dest *d;

	for (size_t i = 0; i < x->out->count; i++)
		if (x->out->d[i].kind == kind && strcmp(x->out->d[i].target, target) == 0)
			return;		/* the same destination once */
	x->out->d = xreallocarray(x->out->d, x->out->count + 1, sizeof(*x->out->d));
	d = &x->out->d[x->out->count++];
	d->kind = kind;
	d->source = source;
	d->target = xstrdup(target);
	d->via = xstrdup(via ? via : "");
	d->owner = owner ? xstrdup(owner) : NULL;
	d->owner_sender = owner && x->owner_sender ? xstrdup(x->owner_sender) : NULL;
	d->dsn = dsn ? xstrdup(dsn) : NULL;
}

static int in_chain(const struct expansion *x, const char *name)
{
	for (int i = 0; i < x->depth; i++)
		if (strcmp(x->chain[i], name) == 0)
			return 1;
	return 0;
}

/*
 * The name whose value (alias, .forward) is being expanded right now:
 * the innermost chain entry that is not an :include: file, since a list
 * file that names its alias belongs to that alias.
 */
static const char *innermost_name(const struct expansion *x)
{
	for (int i = x->depth - 1; i >= 0; i--)
		if (strncasecmp(x->chain[i], ":include:", 9) != 0)
			return x->chain[i];
	return NULL;
}

static int expand_name(struct expansion *x, const char *full, const char *base, const char *ext,
    const char *owner);

static const char *source_name(int source)
{
	switch (source) {
	case EXPAND_FROM_ALIAS:
		return "alias";
	case EXPAND_FROM_FORWARD:
		return "forward";
	case EXPAND_FROM_INCLUDE:
		return "include";
	default:
		return "recipient";
	}
}

/* Expand the items of an alias value, a .forward or an include file. */
static int expand_items(struct expansion *x, const char *text, int source, const char *via,
    const char *owner)
{
	char **items;
	size_t n = alias_split(text, &items);
	int ret = 0;

	for (size_t i = 0; i < n && ret == 0; i++) {
		const char *it = items[i];

		if (it[0] == '|') {
			if (x->ops->allow_commands & source) {
				add_dest(x, DEST_PIPE, source, it + 1, via, owner, NULL);
			} else {
				struct buf why = BUF_INIT;
				buf_printf(&why, "mail to command is restricted (from %s %s)",
				    source_name(source), via);
				add_dest(x, DEST_ERROR, source, buf_str(&why), via, owner, "5.7.1");
				buf_free(&why);
			}
		} else if (it[0] == '/') {
			if (x->ops->allow_files & source) {
				add_dest(x, DEST_FILE, source, it, via, owner, NULL);
			} else {
				struct buf why = BUF_INIT;
				buf_printf(&why, "mail to file is restricted (from %s %s)",
				    source_name(source), via);
				add_dest(x, DEST_ERROR, source, buf_str(&why), via, owner, "5.7.1");
				buf_free(&why);
			}
		} else if (strncasecmp(it, ":include:", 9) == 0) {
			struct buf inc = BUF_INIT;
			const char *path = it + 9;

			if (path[0] != '/') {
				add_dest(x, DEST_ERROR, source, ":include: needs an absolute path", via,
				    owner, "5.3.5");
			} else if (x->depth >= x->max_depth || x->depth >= 63) {
				add_dest(x, DEST_ERROR, source, "mail forwarding loop (include depth)", via,
				    owner, "5.4.6");
			} else if (x->ops->include(x->ops->ctx, path, x->forward_user, &inc) < 0) {
				buf_printf(x->err, "cannot read include file %s: %s", path, buf_str(&inc));
				ret = -1;
			} else {
				x->chain[x->depth++] = xstrdup(it);
				ret = expand_items(x, buf_str(&inc), EXPAND_FROM_INCLUDE, path, owner);
				free(x->chain[--x->depth]);
			}
			buf_free(&inc);
		} else if (it[0] == '\\') {
			struct buf user = BUF_INIT;
			/* \user: the mailbox, no aliases, no .forward; only the local part counts. */
			buf_add(&user, it + 1, strcspn(it + 1, "@"));
			for (size_t k = 0; k < user.len; k++)
				user.data[k] = (char)tolower((unsigned char)user.data[k]);
			if (user.len > 0)
				add_dest(x, DEST_MAILBOX, source, buf_str(&user), via, owner, NULL);
			buf_free(&user);
		} else {
			struct buf full = BUF_INIT, base = BUF_INIT, ext = BUF_INIT, prop = BUF_INIT;
			int local;

			if (x->unmatched != NULL && (x->ops->propagate & source)) {
				/* propagate_unmatched_extensions: joe -> joe+ext, joe@h -> joe+ext@h. */
				const char *at = strrchr(it, '@');
				size_t len = at ? (size_t)(at - it) : strlen(it);
				if (len > 0) {
					buf_add(&prop, it, len);
					buf_adds(&prop, x->unmatched);
					buf_adds(&prop, it + len);
					it = buf_str(&prop);
				}
			}
			local = x->ops->local(x->ops->ctx, it, &full, &base, &ext);

			if (local < 0) {
				struct buf why = BUF_INIT;
				buf_printf(&why, "bad address syntax: %s (from %s %s)", it,
				    source_name(source), via);
				add_dest(x, DEST_ERROR, source, buf_str(&why), via, owner, "5.1.3");
				buf_free(&why);
			} else if (local == 0) {
				add_dest(x, DEST_REMOTE, source, it, via, owner, NULL);
			} else if (in_chain(x, buf_str(&full)) || in_chain(x, buf_str(&base))) {
				const char *self = innermost_name(x);

				/*
				 * "a: a, b" (or a's .forward naming a) means a's own
				 * mailbox, as in sendmail and Postfix; a name further up
				 * (a: b, b: a) comes round again for ever: a loop, which
				 * bounces this branch with 5.4.6.
				 */
				if (self != NULL && (strcmp(self, buf_str(&full)) == 0
				    || strcmp(self, buf_str(&base)) == 0)) {
					add_dest(x, DEST_MAILBOX, source, buf_str(&base), via, owner, NULL);
				} else {
					struct buf why = BUF_INIT;
					buf_printf(&why, "mail forwarding loop for %s (from %s %s)",
					    buf_str(&full), source_name(source), via);
					add_dest(x, DEST_ERROR, source, buf_str(&why), via, owner, "5.4.6");
					buf_free(&why);
				}
			} else {
				ret = expand_name(x, buf_str(&full), buf_str(&base), buf_str(&ext), owner);
			}
			buf_free(&full);
			buf_free(&base);
			buf_free(&ext);
			buf_free(&prop);
		}
	}
	alias_items_free(items, n);
	return ret;
}

/*
 * expand_owner_alias: the value of owner-NAME, put in place as the
 * sender, when it is one plain address (a list, |command, /file or
 * :include: cannot be a sender, and owner-NAME itself stays). The value
 * is rewritten in place (quotes removed); NULL when unusable.
 */
static const char *owner_address(struct buf *value)
{
	char **items;
	size_t n = alias_split(buf_str(value), &items);
	const char *ret = NULL;
	const char *it = n == 1 ? items[0] : "";

	if (n == 1 && it[0] != '|' && it[0] != '/' && it[0] != '\\'
	    && strncasecmp(it, ":include:", 9) != 0 && strpbrk(it, " \t<>,") == NULL) {
		buf_reset(value);
		buf_adds(value, it);
		ret = buf_str(value);
	}
	alias_items_free(items, n);
	return ret;
}

static int expand_name(struct expansion *x, const char *full, const char *base, const char *ext,
    const char *owner)
{
	struct buf value = BUF_INIT, owner_name = BUF_INIT, owner_value = BUF_INIT;
	const char *name = full;
	const char *outer_sender = x->owner_sender;
	const char *outer_unmatched = x->unmatched;
	const char *outer_forward_user = x->forward_user;
	/* full is base, the delimiter and the extension: the part a base match leaves. */
	const char *rest = strlen(full) > strlen(base) ? full + strlen(base) : NULL;
	int unmatched = 0;
	int found, ret = 0;

	if (x->depth >= x->max_depth || x->depth >= 63) {
		add_dest(x, DEST_ERROR, EXPAND_FROM_ALIAS, "mail forwarding loop (alias depth)",
		    full, owner, "5.4.6");
		goto out;
	}
	found = x->ops->alias(x->ops->ctx, full, &value);
	if (found == 0 && strcmp(full, base) != 0) {
		name = base;
		found = x->ops->alias(x->ops->ctx, base, &value);
	}
	if (found < 0) {
		buf_printf(x->err, "alias lookup of %s failed", full);
		ret = -1;
		goto out;
	}
	x->chain[x->depth++] = xstrdup(full);
	if (found > 0) {
		x->unmatched = name == base ? rest : NULL;
		/* owner-NAME gets the errors of NAME's members. */
		if (strncmp(name, "owner-", 6) != 0) {
			buf_printf(&owner_name, "owner-%s", name);
			if (x->ops->alias(x->ops->ctx, buf_str(&owner_name), &owner_value) > 0) {
				owner = buf_str(&owner_name);
				x->owner_sender = x->ops->expand_owner ?
				    owner_address(&owner_value) : NULL;
			}
		}
		x->forward_user = NULL;	/* the administrator's text */
		ret = expand_items(x, buf_str(&value), EXPAND_FROM_ALIAS, name, owner);
	} else {
		buf_reset(&value);
		found = x->ops->forward(x->ops->ctx, base, ext, &value, &unmatched);
		x->unmatched = unmatched ? rest : NULL;
		if (found < 0) {
			buf_printf(x->err, "cannot read .forward of %s", base);
			ret = -1;
		} else if (found > 0 && value.len > 0) {
			size_t before = x->out->count;
			x->forward_user = base;	/* the user's text: their :include: files are read as them */
			ret = expand_items(x, buf_str(&value), EXPAND_FROM_FORWARD, base, owner);
			/* A .forward with nothing in it (only comments) means the mailbox. */
			if (ret == 0 && x->out->count == before)
				add_dest(x, DEST_MAILBOX, EXPAND_FROM_RECIPIENT, base, base, owner, NULL);
		} else {
			add_dest(x, DEST_MAILBOX, x->depth > 1 ? EXPAND_FROM_ALIAS : EXPAND_FROM_RECIPIENT,
			    base, base, owner, NULL);
		}
	}
	free(x->chain[--x->depth]);
out:
	x->owner_sender = outer_sender;
	x->unmatched = outer_unmatched;
	x->forward_user = outer_forward_user;
	buf_free(&value);
	buf_free(&owner_name);
	buf_free(&owner_value);
	return ret;
}

int alias_expand(const struct expand_ops *ops, const char *full, const char *base,
    const char *ext, struct dest_list *out, struct buf *err)
{
	struct expansion x = {
		.ops = ops,
		.out = out,
		.err = err,
		.max_depth = ops->max_depth > 0 ? ops->max_depth : DEFAULT_DEPTH,
	};

	return expand_name(&x, full, base, ext, NULL);
}
