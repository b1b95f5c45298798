/*
 * conf_edit.c - in-place edits of main.cf that keep comments and order
 * (see conf_edit.h).
 *
 * Mail layer; runs as the administrator who edits the file (ternconf)
 * or the user running tern init. The file is replaced atomically
 * (temporary file, fsync, rename, fsync of the directory), so a crash
 * leaves either the old or the new main.cf, never half of one.
 */
#include "compat.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mail/conf_edit.h"
#include "mail/config_impl.h"
#include "util/mem.h"

#define MAIN_CF_MAX (16u << 20)

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

int conf_edit_parse(const char *arg, char **name, char **value, struct buf *err)
{
	const char *eq = strchr(arg, '=');
	const char *n0 = arg, *n1;

	if (eq == NULL) {
		buf_printf(err, "missing '=' after parameter name: \"%s\"", arg);
		return -1;
	}
	while (n0 < eq && is_space(*n0))
		n0++;
	n1 = eq;
	while (n1 > n0 && is_space(n1[-1]))
		n1--;
	if (n1 == n0) {
		buf_printf(err, "missing parameter name: \"%s\"", arg);
		return -1;
	}
	/* The reader's own rule, so that an edit never writes a line main.cf refuses. */
	if (!config_valid_name(n0, (size_t)(n1 - n0))) {
		buf_printf(err, "bad parameter name (letters, digits and _ only, at most %d): \"%.*s\"",
			   CONFIG_NAME_MAX, (int)(n1 - n0), n0);
		return -1;
	}
	const char *v0 = eq + 1, *v1 = eq + strlen(eq);
	while (v0 < v1 && is_space(*v0))
		v0++;
	while (v1 > v0 && is_space(v1[-1]))
		v1--;
	if (memchr(v0, '\n', (size_t)(v1 - v0)) != NULL) {
		buf_printf(err, "parameter %.*s: value must be one line", (int)(n1 - n0), n0);
		return -1;
	}
	*name = xstrndup(n0, (size_t)(n1 - n0));
	*value = xstrndup(v0, (size_t)(v1 - v0));
	return 0;
}

/* The edit that applies to the entry named by the line, if any. */
static const struct conf_edit *edit_for(const char *line, size_t len,
					const struct conf_edit *edits, size_t n)
{
	size_t nlen = 0;
	while (nlen < len && !is_space(line[nlen]) && line[nlen] != '=')
		nlen++;
	for (size_t i = n; i-- > 0;)
		if (strlen(edits[i].name) == nlen && memcmp(edits[i].name, line, nlen) == 0)
			return &edits[i];
	return NULL;
}

void conf_edit_text(const char *text, size_t len, const struct conf_edit *edits, size_t n,
		    struct buf *out)
{
	const struct conf_edit *cur = NULL;	/* edit of the entry being read */
	bool *done = xcalloc(n + 1, sizeof(*done));
	size_t pos = 0;

	while (pos < len) {
		const char *l = text + pos;
		const char *nl = memchr(l, '\n', len - pos);
		size_t llen = nl != NULL ? (size_t)(nl - l) : len - pos;
		pos += llen + (nl != NULL);

		size_t i = 0;
		while (i < llen && is_space(l[i]))
			i++;
		bool blank_or_comment = i == llen || l[i] == '#';
		bool continuation = !blank_or_comment && i > 0;

		if (!blank_or_comment && !continuation) {
			cur = edit_for(l, llen, edits, n);
			if (cur != NULL) {
				switch (cur->op) {
				case CONF_SET:
					buf_printf(out, "%s = %s\n", cur->name, cur->value);
					done[cur - edits] = true;
					continue;
				case CONF_REMOVE:
					continue;
				case CONF_COMMENT:
					buf_addc(out, '#');
					break;
				}
			}
		} else if (continuation && cur != NULL) {
			if (cur->op != CONF_COMMENT)
				continue;
			buf_addc(out, '#');
		}
		buf_add(out, l, llen);
		buf_addc(out, '\n');
	}
	for (size_t k = 0; k < n; k++) {
		if (edits[k].op != CONF_SET || done[k])
			continue;
		/* Only the last edit of a name counts. */
		bool later = false;
		for (size_t j = k + 1; j < n; j++)
			if (strcmp(edits[j].name, edits[k].name) == 0)
				later = true;
		if (!later)
			buf_printf(out, "%s = %s\n", edits[k].name, edits[k].value);
	}
	free(done);
}

static int read_file(const char *path, struct buf *data, struct stat *st, bool *exists,
		     struct buf *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	*exists = false;
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		buf_printf(err, "open %s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode)) {
		buf_printf(err, "%s: not a regular file", path);
		close(fd);
		return -1;
	}
	*exists = true;
	if (buf_read_fd(data, fd, MAIN_CF_MAX) < 0) {
		if (errno == EFBIG)
			buf_printf(err, "%s: larger than %u bytes", path, MAIN_CF_MAX);
		else
			buf_printf(err, "read %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

static int write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

int conf_edit_file(const char *path, const struct conf_edit *edits, size_t n, struct buf *err)
{
	struct buf data = BUF_INIT, out = BUF_INIT;
	struct stat st;
	bool exists;
	int rc = -1;

	if (read_file(path, &data, &st, &exists, err) == 0) {
		conf_edit_text(buf_str(&data), data.len, edits, n, &out);
		rc = conf_file_replace(path, out.data ? out.data : "", out.len, err);
	}
	buf_free(&data);
	buf_free(&out);
	return rc;
}

int conf_file_replace(const char *path, const char *text, size_t len, struct buf *err)
{
	struct stat st;
	bool exists = stat(path, &st) == 0;
	char *tmp = NULL, *dcopy = NULL;
	int fd = -1, rc = -1;

	tmp = xasprintf("%s.XXXXXX", path);
	fd = mkstemp(tmp);
	if (fd < 0) {
		buf_printf(err, "create %s: %s", tmp, strerror(errno));
		free(tmp);
		tmp = NULL;
		goto done;
	}
	/* Keep the old file's mode and owner; a new file is 0644. */
	if (fchmod(fd, exists ? (st.st_mode & 07777) : 0644) < 0) {
		buf_printf(err, "chmod %s: %s", tmp, strerror(errno));
		goto done;
	}
	if (exists && (st.st_uid != geteuid() || st.st_gid != getegid())) {
		if (fchown(fd, st.st_uid, st.st_gid) < 0) {
			/* Only root may give a file away; the admin's own file stays theirs. */
		}
	}
	if (write_all(fd, text, len) < 0 || fsync(fd) < 0) {
		buf_printf(err, "write %s: %s", tmp, strerror(errno));
		goto done;
	}
	if (close(fd) < 0) {
		fd = -1;
		buf_printf(err, "close %s: %s", tmp, strerror(errno));
		goto done;
	}
	fd = -1;
	if (rename(tmp, path) < 0) {
		buf_printf(err, "rename %s to %s: %s", tmp, path, strerror(errno));
		goto done;
	}
	free(tmp);
	tmp = NULL;
	/* The rename is durable only once the directory is on disk. */
	dcopy = xstrdup(path);
	int dfd = open(dirname(dcopy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		if (fsync(dfd) < 0 && errno != EINVAL) {
			buf_printf(err, "fsync directory of %s: %s", path, strerror(errno));
			close(dfd);
			goto done;
		}
		close(dfd);
	}
	rc = 0;
done:
	if (fd >= 0)
		close(fd);
	if (tmp != NULL) {
		unlink(tmp);
		free(tmp);
	}
	free(dcopy);
	return rc;
}
