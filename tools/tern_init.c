/*
 * tern_init.c - `tern init [--port N] DIR`: make a self-contained
 * instance that runs without root.
 *
 * Runs as the caller, who becomes the instance's mail_owner. Writes
 * DIR/main.cf, the service table DIR/master.cf and DIR/aliases (with
 * DIR/aliases.db built from it, as newaliases does), and
 * creates DIR/queue (with its subdirectories and their modes), DIR/data
 * and DIR/mail. SMTP listens on 127.0.0.1 at port N or at a free port
 * picked here; the last line of output is that address, 127.0.0.1:PORT.
 * Run again on an instance it made, it changes nothing and exits 0; a
 * directory that is neither empty nor such an instance is refused with
 * exit 73 (EX_CANTCREAT).
 *
 * From the build tree (this program lives under TERN_BUILD_DIR) the
 * instance's daemon_directory and command_directory are the build tree's
 * stage/, so nothing needs installing; an installed tern leaves the
 * compiled-in defaults.
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
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "mail/newaliases.h"
#include "mail/qdirs.h"
#include "mail/services.h"
#include "tools/tern.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/mem.h"

#define PATHBUF (PATH_MAX + 64)
#define PORT_LOW 20000		/* below Linux's ephemeral range (32768-60999) */
#define PORT_HIGH 32767

static void init_usage(void)
{
	fprintf(stderr, "usage: tern init [--port N] DIR\n");
	exit(EX_USAGE);
}

/* mkdir -p */
static int make_path(const char *path, mode_t mode)
{
	char tmp[PATH_MAX];
	if (strlcpy(tmp, path, sizeof(tmp)) >= sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(tmp, mode) < 0 && errno != EEXIST)
		return -1;
	return 0;
}

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

static char *read_file(const char *path)
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

static bool is_instance(const char *dir)
{
	char path[PATHBUF];
	snprintf(path, sizeof(path), "%s/main.cf", dir);
	char *text = read_file(path);
	bool yes = text && strstr(text, TERN_INSTANCE_MARK);
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

/* A loopback port nobody listens on now. */
static int pick_port(void)
{
	srandom((unsigned)time(NULL) ^ (unsigned)getpid() << 8);
	for (int tries = 0; tries < 200; tries++) {
		int port = PORT_LOW + (int)(random() % (PORT_HIGH - PORT_LOW + 1));
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

/* The build tree's stage/ when this tern is the build tree's, else NULL. */
static const char *stage_dir(void)
{
	static char stage[PATH_MAX + 8];
	char self[PATH_MAX], top[PATH_MAX];
	if (realpath("/proc/self/exe", self) == NULL || realpath(TERN_BUILD_DIR, top) == NULL)
		return NULL;
	size_t n = strlen(top);
	if (strncmp(self, top, n) != 0 || self[n] != '/')
		return NULL;
	snprintf(stage, sizeof(stage), "%s/stage", top);
	return stage;
}

static void main_cf(struct buf *b, const char *dir, const char *user, const char *group)
{
	const char *stage = stage_dir();
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
		   TERN_INSTANCE_MARK, dir, dir, dir, user, group, dir, dir, dir, dir, dir, dir);
	if (stage)
		buf_printf(b,
			   "# Programs from the build tree (%s).\n"
			   "daemon_directory = %s\n"
			   "command_directory = %s\n", TERN_BUILD_DIR, stage, stage);
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
		   "local         unix    -       -         -         root  1      local\n", port);
}

/* DIR/aliases.db, as newaliases builds it (its summary line is not printed). */
static int build_aliases(const char *dir)
{
	struct buf spec = BUF_INIT, out = BUF_INIT, diag = BUF_INIT;
	buf_printf(&spec, "hash:%s/aliases", dir);
	int rc = newaliases_build(buf_str(&spec), &out, &diag);
	if (rc != 0)
		fprintf(stderr, "tern: %s.db: %s", buf_str(&spec) + 5,
			diag.len > 0 ? buf_str(&diag) : "cannot be built\n");
	buf_free(&spec);
	buf_free(&out);
	buf_free(&diag);
	return rc == 0 ? 0 : -1;
}

static void print_summary(const char *dir, int port, bool made)
{
	char path[PATHBUF];
	snprintf(path, sizeof(path), "%s/main.cf", dir);
	char *text = read_file(path);
	if (made)
		printf("tern: made the instance %s\n", dir);
	else
		printf("tern: %s is already a Tern instance; nothing changed\n", dir);
	printf("Its settings (%s):\n", path);
	for (char *line = text ? strtok(text, "\n") : NULL; line; line = strtok(NULL, "\n"))
		if (line[0] != '#' && line[0] != ' ' && line[0] != '\t')
			printf("    %s\n", line);
	free(text);
	printf("Start it: tern -c %s start     Mail arrives in %s/mail/LOCALPART/new/\n", dir, dir);
	if (port > 0)
		printf("127.0.0.1:%d\n", port);
	else
		printf("(no smtp service in %s/master.cf)\n", dir);
}

int cmd_init(int argc, char **argv)
{
	int port = 0;
	const char *arg_dir = NULL;
	char dir[PATH_MAX];
	char path[PATHBUF];

	for (int i = 1; i < argc; i++) {
		const char *v = NULL;
		if (strcmp(argv[i], "--port") == 0 || strcmp(argv[i], "-p") == 0) {
			if (i + 1 >= argc)
				init_usage();
			v = argv[++i];
		} else if (strncmp(argv[i], "--port=", 7) == 0) {
			v = argv[i] + 7;
		} else if (argv[i][0] == '-' || arg_dir) {
			init_usage();
		} else {
			arg_dir = argv[i];
		}
		if (v) {
			char *end;
			long p = strtol(v, &end, 10);
			if (*v == '\0' || *end || p < 1 || p > 65535) {
				fprintf(stderr, "tern: bad port \"%s\" (1 to 65535)\n", v);
				return EX_USAGE;
			}
			port = (int)p;
		}
	}
	if (arg_dir == NULL)
		init_usage();
	if (make_path(arg_dir, 0755) < 0 || realpath(arg_dir, dir) == NULL) {
		fprintf(stderr, "tern: cannot create %s: %s\n", arg_dir, strerror(errno));
		return EX_CANTCREAT;
	}

	if (is_instance(dir)) {
		int have = instance_smtp_port(dir);
		if (port && have != port)
			fprintf(stderr, "tern: %s already listens on port %d; --port %d ignored\n",
				dir, have, port);
		print_summary(dir, have, false);
		return 0;
	}
	if (!dir_is_empty(dir)) {
		fprintf(stderr, "tern: %s is not empty and not a Tern instance; not touching it\n", dir);
		return EX_CANTCREAT;
	}

	struct passwd *pw = getpwuid(geteuid());
	if (pw == NULL) {
		fprintf(stderr, "tern: who am I? uid %ld has no passwd entry\n", (long)geteuid());
		return EX_NOUSER;
	}
	char *user = xstrdup(pw->pw_name);
	struct qdir_ids ids;
	struct buf report = BUF_INIT;
	if (qdirs_ids(user, TERN_DROP_GROUP, &ids, &report) < 0) {
		fprintf(stderr, "tern: %s", buf_str(&report));
		return EX_NOUSER;
	}
	struct group *gr = getgrgid(ids.drop_gid);
	char *group = gr ? xstrdup(gr->gr_name) : xasprintf("%ld", (long)ids.drop_gid);

	if (port == 0 && (port = pick_port()) < 0) {
		fprintf(stderr, "tern: no free port on 127.0.0.1\n");
		return EX_UNAVAILABLE;
	}

	/* Directories first, main.cf (the mark) last: a half-made one is refused. */
	static const char *const subdirs[] = { "queue", "data", "mail" };
	static const mode_t modes[] = { 0755, 0700, 0700 };
	for (size_t i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, subdirs[i]);
		if (mkdir(path, modes[i]) < 0 || chmod(path, modes[i]) < 0) {
			fprintf(stderr, "tern: mkdir %s: %s\n", path, strerror(errno));
			return EX_CANTCREAT;
		}
	}
	snprintf(path, sizeof(path), "%s/queue", dir);
	if (qdirs_setup(path, &ids, QDIRS_CREATE, &report) != 0) {
		fprintf(stderr, "tern: %s", buf_str(&report));
		return EX_CANTCREAT;
	}

	struct buf text = BUF_INIT;
	int rc = 0;
	snprintf(path, sizeof(path), "%s/aliases", dir);
	buf_printf(&text, "# aliases - this instance's aliases(5), e.g. \"postmaster: root\".\n"
		   "# After a change run `newaliases -C %s` to rebuild aliases.db\n"
		   "# (alias_maps = hash:%s/aliases).\n"
		   "# Every local recipient without an alias gets its own Maildir in %s/mail/.\n",
		   dir, dir, dir);
	rc |= write_file(path, buf_str(&text), 0644);
	buf_reset(&text);
	if (rc == 0 && build_aliases(dir) < 0)
		return EX_CANTCREAT;
	master_cf(&text, port);
	snprintf(path, sizeof(path), "%s/master.cf", dir);
	rc |= write_file(path, buf_str(&text), 0644);
	buf_reset(&text);
	main_cf(&text, dir, user, group);
	snprintf(path, sizeof(path), "%s/main.cf", dir);
	if (rc == 0)
		rc = write_file(path, buf_str(&text), 0644);
	if (rc < 0) {
		fprintf(stderr, "tern: write %s: %s\n", path, strerror(errno));
		return EX_CANTCREAT;
	}
	print_summary(dir, port, true);
	buf_free(&text);
	buf_free(&report);
	free(user);
	free(group);
	return 0;
}
