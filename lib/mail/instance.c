/*
 * instance.c - make a self-contained instance (see instance.h); the
 * work behind `tern init DIR`.
 *
 * Mail layer; runs as the caller, no privileges needed. Run by root for
 * an unprivileged owner, it hands that owner the parts its processes
 * write (give_parts) through descriptors opened without following links.
 */
#include "compat.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mail/instance.h"
#include "mail/newaliases.h"
#include "mail/qdirs.h"
#include "mail/services.h"
#include "util/mem.h"

#define PATHBUF (PATH_MAX + 64)
#define PORT_LOW 20000		/* below Linux's ephemeral range (32768-60999) */
#define PORT_HIGH 32767

static bool dir_is_empty(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	bool empty = true;
	if (d == NULL)
		return false;
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			empty = false;
	closedir(d);
	return empty;
}

static char *read_path(const char *path)
{
	struct buf b = BUF_INIT;
	char chunk[4096];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		buf_add(&b, chunk, (size_t)n);
	close(fd);
	buf_adds(&b, "");
	return buf_steal(&b);
}

char *instance_read(const char *dir, const char *name)
{
	char path[PATHBUF];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return read_path(path);
}

bool instance_is(const char *dir)
{
	char path[PATHBUF];
	snprintf(path, sizeof(path), "%s/main.cf", dir);
	char *text = read_path(path);
	bool yes = text && strstr(text, INSTANCE_MARK);
	free(text);
	return yes;
}

int instance_smtp_port(const char *config_dir)
{
	char path[PATHBUF];
	struct service_table t;
	struct buf err = BUF_INIT;
	int port = -1;
	snprintf(path, sizeof(path), "%s/master.cf", config_dir);
	if (services_load(path, &t, &err) == 0) {
		const struct service *s = services_find(&t, "smtp");
		if (s && s->type == SVC_INET)
			port = s->port;
		services_free(&t);
	}
	buf_free(&err);
	return port;
}

int instance_pick_port(void)
{
	/* Our own generator state: a library must not reseed the caller's. */
	unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid() << 8;
	for (int tries = 0; tries < 200; tries++) {
		int port = PORT_LOW + rand_r(&seed) % (PORT_HIGH - PORT_LOW + 1);
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
					   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		if (fd < 0)
			return -1;
		int ok = bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0;
		close(fd);
		if (ok)
			return port;
	}
	return -1;
}

/* Write PATH through a temporary file and a rename. */
static int write_file(const char *path, const char *text, mode_t mode)
{
	char tmp[PATHBUF + 8];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
		return -1;
	size_t len = strlen(text);
	if (write(fd, text, len) != (ssize_t)len || fsync(fd) < 0) {
		close(fd);
		unlink(tmp);
		return -1;
	}
	if (close(fd) < 0 || rename(tmp, path) < 0) {
		unlink(tmp);
		return -1;
	}
	return 0;
}

static void main_cf(struct buf *b, const char *dir, const char *user, const char *group,
		    const char *stage)
{
	buf_printf(b,
		   "# main.cf - %s\n"
		   "# It runs without root, as mail_owner; mail for every local recipient\n"
		   "# goes to the Maildir %s/mail/LOCALPART/ (local_maildir_base).\n"
		   "# Start it with `tern -c %s start` (add -f to stay in the foreground),\n"
		   "# change settings with `ternconf -c %s -e 'name = value'`. See tern(8).\n"
		   "mail_owner = %s\n"
		   "setgid_group = %s\n"
		   "queue_directory = %s/queue\n"
		   "data_directory = %s/data\n"
		   "maillog_file = %s/maillog\n"
		   "inet_interfaces = 127.0.0.1\n"
		   "inet_protocols = ipv4\n"
		   "local_maildir_base = %s/mail\n"
		   "alias_maps = hash:%s/aliases\n"
		   "alias_database = hash:%s/aliases\n",
		   INSTANCE_MARK, dir, dir, dir, user, group, dir, dir, dir, dir, dir, dir);
	if (stage)
		buf_printf(b,
			   "# Programs from the build tree.\n"
			   "daemon_directory = %s\n"
			   "command_directory = %s\n", stage, stage);
}

static void master_cf(struct buf *b, int port)
{
	buf_printf(b,
		   "# master.cf - the service table of this instance: the processes ternd\n"
		   "# runs, the sockets it binds for them and as which user. \"-\" means the\n"
		   "# default; the columns are explained in tern(8). The smtp listener uses\n"
		   "# inet_interfaces (127.0.0.1) from main.cf.\n"
		   "#\n"
		   "# service     type    listen  tls       auth      user  procs  command\n"
		   "smtp          inet    %-7d starttls  -         -     1      smtpd\n"
		   "pickup        public  -       -         -         -     1      pickup\n"
		   "qmgr          public  -       -         -         -     1      qmgr\n"
		   "local         unix    -       -         -         root  1      local\n"
		   "smtp-client   unix    -       -         -         -     1      smtp\n", port);
}

/*
 * What the owner's processes write becomes the owner's: queue/ (so that
 * the owner, too, can start the instance: pid/ follows queue/), data/,
 * mail/ and the maillog, made now because the owner cannot create files
 * in DIR. DIR itself, main.cf, master.cf and aliases stay root's; DIR is
 * opened to everyone's search (0755) so the owner can reach its parts.
 */
static int give_parts(const char *dir, uid_t uid, gid_t gid, struct buf *err)
{
	static const struct { const char *name; mode_t mode; int flags; } parts[] = {
		{ .name = "queue", .mode = 0755 },
		{ .name = "data", .mode = 0700 },
		{ .name = "mail", .mode = 0700 },
		{ .name = "maillog", .mode = 0640, .flags = QDIRS_FILE },
	};
	char path[PATHBUF];
	int problems = 0;

	if (chmod(dir, 0755) < 0) {
		buf_printf(err, "chmod %s: %s", dir, strerror(errno));
		return 1;
	}
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, parts[i].name);
		problems += qdirs_own(path, uid, gid, parts[i].mode,
				      QDIRS_CREATE | QDIRS_FIX | parts[i].flags, err);
	}
	return problems;
}

/* DIR/aliases.db, as newaliases builds it (its summary line is not wanted here). */
static int build_aliases(const char *dir, struct buf *err)
{
	struct buf spec = BUF_INIT, out = BUF_INIT, diag = BUF_INIT;
	buf_printf(&spec, "hash:%s/aliases", dir);
	int rc = newaliases_build(buf_str(&spec), &out, &diag);
	while (diag.len > 0 && diag.data[diag.len - 1] == '\n')
		buf_truncate(&diag, diag.len - 1);
	if (rc != 0)
		buf_printf(err, "%s/aliases.db: %s", dir, diag.len > 0 ? buf_str(&diag) : "cannot be built");
	buf_free(&spec);
	buf_free(&out);
	buf_free(&diag);
	return rc == 0 ? 0 : -1;
}

enum instance_status instance_init(const char *dir, const struct instance_opts *opts,
				   int *port_out, struct buf *err)
{
	char path[PATHBUF];
	int port = opts->port;

	if (instance_is(dir)) {
		*port_out = instance_smtp_port(dir);
		return INSTANCE_EXISTS;
	}
	if (!dir_is_empty(dir))
		return INSTANCE_FOREIGN;

	struct passwd *pw = opts->owner ? getpwnam(opts->owner) : getpwuid(geteuid());
	if (pw == NULL) {
		if (opts->owner)
			buf_printf(err, "mail_owner %s: no such user", opts->owner);
		else
			buf_printf(err, "uid %ld has no passwd entry", (long)geteuid());
		return INSTANCE_ERROR;
	}
	/* Root making an instance for an unprivileged owner gives it its parts. */
	bool give = pw->pw_uid != geteuid();
	uid_t owner_uid = pw->pw_uid;
	gid_t owner_gid = pw->pw_gid;
	if (give && (geteuid() != 0 || owner_uid == 0)) {
		buf_printf(err, "only root can make an instance for %s", pw->pw_name);
		return INSTANCE_ERROR;
	}
	char *user = xstrdup(pw->pw_name);
	struct qdir_ids ids;
	enum instance_status rc = INSTANCE_ERROR;
	char *group = NULL;
	struct buf text = BUF_INIT;
	if (qdirs_ids(user, opts->drop_group, &ids, err) < 0)
		goto out;
	struct group *gr = getgrgid(ids.drop_gid);
	group = gr ? xstrdup(gr->gr_name) : xasprintf("%ld", (long)ids.drop_gid);
	if (port == 0 && (port = instance_pick_port()) < 0) {
		buf_printf(err, "no free port on 127.0.0.1");
		goto out;
	}

	/* Directories first, main.cf (the mark) last: a half-made one is refused. */
	static const char *const subdirs[] = { "queue", "data", "mail" };
	static const mode_t modes[] = { 0755, 0700, 0700 };
	for (size_t i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, subdirs[i]);
		if (mkdir(path, modes[i]) < 0 || chmod(path, modes[i]) < 0) {
			buf_printf(err, "mkdir %s: %s", path, strerror(errno));
			goto out;
		}
	}
	if (give && give_parts(dir, owner_uid, owner_gid, err) != 0)
		goto out;
	snprintf(path, sizeof(path), "%s/queue", dir);
	if (qdirs_setup(path, &ids, QDIRS_CREATE, err) != 0)
		goto out;

	static const char *const names[] = { "aliases", "master.cf", "main.cf" };
	for (size_t i = 0; i < 3; i++) {
		buf_reset(&text);
		if (i == 0)
			buf_printf(&text, "# aliases - this instance's aliases(5), e.g. \"postmaster: root\".\n"
				   "# After a change run `newaliases -C %s` to rebuild aliases.db\n"
				   "# (alias_maps = hash:%s/aliases).\n"
				   "# Every local recipient without an alias gets its own Maildir in %s/mail/.\n",
				   dir, dir, dir);
		else if (i == 1)
			master_cf(&text, port);
		else
			main_cf(&text, dir, user, group, opts->stage);
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (write_file(path, buf_str(&text), 0644) < 0) {
			buf_printf(err, "write %s: %s", path, strerror(errno));
			goto out;
		}
		if (i == 0 && build_aliases(dir, err) < 0)
			goto out;
	}
	*port_out = port;
	rc = INSTANCE_MADE;
out:
	buf_free(&text);
	free(user);
	free(group);
	return rc;
}
