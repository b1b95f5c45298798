/*
 * local_expand.c - the lookups behind alias expansion in the local
 * delivery agent: alias_maps, ~/.forward (forward_path), :include:
 * files, and "is this address local" (resolve.h).
 *
 * Runs as root in the local delivery agent: only files are read here,
 * nothing is written or run. .forward files must be regular files owned
 * by their user or root and not writable by group or others, as sendmail
 * requires; :include: files must be regular files not writable by group
 * or others (else they are ignored with a warning, as are such .forward
 * files). A .forward, and an :include: file named in one, is opened with
 * that user's file-system ids (write_as), so a user cannot make root read
 * a file only root may read (and get its lines back in a bounce).
 */
#include "compat.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mail/alias_expand.h"
#include "mail/config.h"
#include "mail/param_maps.h"
#include "mail/resolve.h"
#include "local/local.h"
#include "util/log.h"
#include "util/mem.h"

#define FILE_MAX	(1024 * 1024)

static struct param_maps aliases = PARAM_MAPS_INIT(P_alias_maps);

static int cb_alias(void *ctx, const char *name, struct buf *value)
{
	(void)ctx;
	return param_maps_lookup(&aliases, name, value);
}

enum file_kind { FILE_FORWARD, FILE_INCLUDE };

/*
 * Read a small file that passes the checks for its kind; 1 ok, 0 missing,
 * -1 error (reason in out), -2 the file is there but cannot be read now
 * (a temporary error opening it, or any error reading it: reason in out),
 * -3 ignored (it fails the checks: the warning in out, for the caller to
 * log once it has root's ids back: a log file not open yet cannot be
 * opened with the user's). owner: the .forward's user.
 */
/*
 * An error that may be gone at the next attempt (the file is there, the
 * disk or the server holding it is not): the recipient waits for it.
 * Others (EACCES, ELOOP, ...) are the file's own state: warned about and
 * the file ignored, as before, rather than deferring the mail until it
 * bounces.
 */
static bool temporary(int e)
{
	return e == EIO || e == EINTR || e == ENOMEM || e == ENFILE || e == EMFILE ||
	       e == ESTALE || e == ETIMEDOUT || e == ENOSPC || e == EDQUOT || e == EAGAIN;
}

static int read_file(const char *path, uid_t owner, enum file_kind kind, struct buf *out)
{
	struct stat st;
	char chunk[8192];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

	buf_reset(out);
	if (fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return 0;
		int e = errno;
		buf_printf(out, "%s: %s", path, strerror(e));
		return temporary(e) ? -2 : -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		buf_printf(out, "%s: not a regular file", path);
		return -1;
	}
	if (kind == FILE_FORWARD && ((st.st_uid != owner && st.st_uid != 0) || (st.st_mode & 022))) {
		close(fd);
		buf_printf(out, "%s: ignored: not owned by its user or writable by others", path);
		return -3;
	}
	if (kind == FILE_INCLUDE && (st.st_mode & 022)) {
		close(fd);
		buf_printf(out, "%s: ignored: writable by group or others", path);
		return -3;
	}
	while ((n = read(fd, chunk, sizeof(chunk))) > 0 && out->len < FILE_MAX)
		buf_add(out, chunk, (size_t)n);
	if (n < 0) {
		/* Half a file would forward to part of its list, or to the mailbox. */
		int e = errno;
		close(fd);
		buf_reset(out);
		buf_printf(out, "%s: %s", path, strerror(e));
		return -2;
	}
	close(fd);
	return 1;
}

/* forward_path's $names: home, user, local, extension, recipient_delimiter, domain. */
static const char *var(const char *name, size_t len, const struct ident *id, const char *ext,
    char delim[2])
{
	if (len == 4 && strncmp(name, "home", 4) == 0)
		return id->home;
	if ((len == 4 && strncmp(name, "user", 4) == 0) || (len == 5 && strncmp(name, "local", 5) == 0))
		return id->user;
	if (len == 9 && strncmp(name, "extension", 9) == 0)
		return ext;
	if (len == 19 && strncmp(name, P_recipient_delimiter, 19) == 0)
		return *ext ? delim : "";
	if (len == 6 && strncmp(name, "domain", 6) == 0)
		return cfg_str(P_myhostname);
	return "";
}

static void expand_path(const char *tmpl, const struct ident *id, const char *ext, char delim[2],
    struct buf *out)
{
	for (const char *p = tmpl; *p;) {
		if (*p != '$') {
			buf_addc(out, *p++);
			continue;
		}
		p++;
		if (*p == '{' || *p == '(') {
			char close = *p == '{' ? '}' : ')';
			const char *end = strchr(p, close);
			if (end == NULL)
				return;
			const char *name = p + 1;
			size_t nlen = strcspn(name, "?:}");
			if (nlen > (size_t)(end - name))
				nlen = (size_t)(end - name);
			const char *v = var(name, nlen, id, ext, delim);
			if (name[nlen] == '?')
				buf_add(out, name + nlen + 1, *v ? (size_t)(end - name - nlen - 1) : 0);
			else if (name[nlen] == ':')
				buf_add(out, name + nlen + 1, *v ? 0 : (size_t)(end - name - nlen - 1));
			else
				buf_adds(out, v);
			p = end + 1;
		} else {
			size_t nlen = 0;
			while (isalnum((unsigned char)p[nlen]) || p[nlen] == '_')
				nlen++;
			buf_adds(out, var(p, nlen, id, ext, delim));
			p += nlen;
		}
	}
}

struct forward_job {
	const char *path;
	uid_t owner;
	struct buf *value;
	int r;
};

static void forward_read(void *arg, struct lresult_text *res)
{
	struct forward_job *j = arg;

	(void)res;
	j->r = read_file(j->path, j->owner, FILE_FORWARD, j->value);
}

/*
 * read_file of a .forward with its user's file-system ids (write_as), as
 * Postfix's local reads it: root's would follow a link the user made
 * (~/.forward -> /etc/shadow, root's and not writable by others, passes
 * the owner check) and hand its lines back in a bounce to a sender the
 * user picks. As the user, such a file cannot be opened: warned about and
 * ignored like any unreadable one. -2 when the switch itself failed.
 */
static int forward_read_as(const struct ident *id, const char *path, struct buf *value)
{
	struct forward_job j = {.path = path, .owner = id->uid, .value = value, .r = -1};
	struct lresult_text res = {.text = BUF_INIT};

	write_as(id, forward_read, &j, &res);
	if (res.result == LRESULT_DEFER) {
		buf_reset(value);
		buf_adds(value, buf_str(&res.text));
		j.r = -2;
	}
	buf_free(&res.text);
	return j.r;
}

static int cb_forward(void *ctx, const char *user, const char *ext, struct buf *value,
    int *unmatched)
{
	const char *delims = cfg_str(P_recipient_delimiter);
	char delim[2] = {delims[0], '\0'};
	struct ident id;
	struct buf path = BUF_INIT, plain = BUF_INIT, tried = BUF_INIT;
	char **items;
	size_t n;
	int found = 0;

	(void)ctx;
	*unmatched = 0;
	if (*cfg_str(P_local_maildir_base) != '\0' || ident_of_user(user, &id) < 0)
		return 0;	/* no account, no .forward */
	n = alias_split(cfg_raw(P_forward_path), &items);
	for (size_t i = 0; i < n && found == 0; i++) {
		buf_reset(&path);
		expand_path(items[i], &id, ext, delim, &path);
		if (path.len == 0 || path.data[0] != '/')
			continue;
		/*
		 * Without an extension the default forward_path names
		 * $home/.forward twice: a file already tried is not opened
		 * again (it was missing, or unreadable and warned about).
		 */
		if (i > 0 && strcmp(buf_str(&path), buf_str(&tried)) == 0)
			continue;
		buf_reset(&tried);
		buf_adds(&tried, buf_str(&path));
		found = forward_read_as(&id, buf_str(&path), value);
		/*
		 * A .forward that is there but cannot be read now (an I/O
		 * error) defers the recipient: taken for a missing one, the
		 * mail would go to the mailbox instead of where it says.
		 */
		if (found == -2) {
			msg_warn("%s", buf_str(value));
			break;
		}
		if (found == -3) {
			msg_warn("%s", buf_str(value));
			buf_reset(value);
			found = 0;
		}
		if (found < 0) {
			msg_warn("%s", buf_str(value));
			found = 0;
		}
		if (found > 0 && *ext != '\0') {
			/* The same file without the extension: it did not match it. */
			buf_reset(&plain);
			expand_path(items[i], &id, "", delim, &plain);
			*unmatched = strcmp(buf_str(&plain), buf_str(&path)) == 0;
		}
	}
	alias_items_free(items, n);
	buf_free(&path);
	buf_free(&plain);
	buf_free(&tried);
	return found < 0 ? -1 : found;
}

struct include_job {
	const char *path;
	struct buf *value;
	int r;
};

static void include_read(void *arg, struct lresult_text *res)
{
	struct include_job *j = arg;

	(void)res;
	j->r = read_file(j->path, 0, FILE_INCLUDE, j->value);
}

/* An ignored file (writable by others) counts as an empty one; a missing one is an error. */
static int cb_include(void *ctx, const char *path, const char *user, struct buf *value)
{
	struct include_job j = {.path = path, .value = value, .r = -1};
	struct lresult_text res = {.text = BUF_INIT};
	struct stat st;
	struct ident id;

	(void)ctx;
	if (user != NULL && ident_of_user(user, &id) == 0) {
		write_as(&id, include_read, &j, &res);
		if (res.result == LRESULT_DEFER) {
			buf_reset(value);
			buf_adds(value, buf_str(&res.text));
			j.r = -1;
		}
	} else {
		include_read(&j, &res);
	}
	buf_free(&res.text);
	if (j.r == -3) {
		msg_warn("%s", buf_str(value));
		buf_reset(value);
		j.r = 0;
	}
	if (j.r == 0) {
		if (lstat(path, &st) == 0) {
			buf_reset(value);	/* ignored with a warning: no addresses */
			return 1;
		}
		buf_printf(value, "%s: no such file", path);
	}
	return j.r > 0 ? 1 : -1;
}

static int cb_local(void *ctx, const char *addr, struct buf *full, struct buf *base, struct buf *ext)
{
	struct resolved r;
	int ret;

	(void)ctx;
	resolved_init(&r);
	if (resolve_address(addr, &r) < 0) {
		ret = -1;
	} else if (r.class != RESOLVE_LOCAL) {
		ret = 0;
	} else {
		const char *at = strrchr(buf_str(&r.address), '@');
		size_t n = at ? (size_t)(at - r.address.data) : r.address.len;
		buf_reset(full);
		for (size_t i = 0; i < n; i++)
			buf_addc(full, (char)tolower((unsigned char)r.address.data[i]));
		buf_reset(base);
		buf_adds(base, buf_str(&r.localpart));
		buf_reset(ext);
		buf_adds(ext, buf_str(&r.extension));
		ret = 1;
	}
	resolved_free(&r);
	return ret;
}

static int sources(const char *param)
{
	int bits = 0;

	for (char **w = cfg_list(param); w && *w; w++) {
		if (strcmp(*w, "alias") == 0)
			bits |= EXPAND_FROM_ALIAS;
		else if (strcmp(*w, "forward") == 0)
			bits |= EXPAND_FROM_FORWARD;
		else if (strcmp(*w, "include") == 0)
			bits |= EXPAND_FROM_INCLUDE;
	}
	return bits;
}

int local_expand(const struct lrcpt *rc, struct dest_list *out, struct buf *err)
{
	struct expand_ops ops = {
		.alias = cb_alias,
		.forward = cb_forward,
		.include = cb_include,
		.local = cb_local,
		.allow_commands = sources(P_allow_mail_to_commands),
		.allow_files = sources(P_allow_mail_to_files),
		.expand_owner = cfg_bool(P_expand_owner_alias),
		.propagate = sources(P_propagate_unmatched_extensions),
	};
	struct buf full = BUF_INIT;
	/* The resolved address: user%localhost@localhost is looked up as user. */
	const char *addr = rc->delivered_to[0] != '\0' ? rc->delivered_to : rc->address;
	const char *at = strrchr(addr, '@');
	size_t n = at ? (size_t)(at - addr) : strlen(addr);
	int ret;

	for (size_t i = 0; i < n; i++)
		buf_addc(&full, (char)tolower((unsigned char)addr[i]));
	ret = alias_expand(&ops, buf_str(&full), rc->local, rc->ext, out, err);
	buf_free(&full);
	return ret;
}
