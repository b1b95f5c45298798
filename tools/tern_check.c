/*
 * tern_check.c - what `tern check` (and, for the parts that must hold
 * before the master runs, `tern start` and `tern reload`) finds wrong
 * with a configuration that loads: the tables main.cf names, the TLS
 * certificate and key, the addresses the listeners would bind; and the
 * running master's own account of its services (pid/master.status).
 *
 * Runs as the caller of tern (root, or an instance's owner). Root tries
 * whether mail_owner can read a table from a child that drops to
 * mail_owner first, so the answer is the kernel's, not a guess from mode
 * bits. The queue's corrupt/ directory is counted: each file there is a
 * message that did not parse and waits for the administrator. Every finding names the file and line it comes from: the main.cf
 * line of the parameter, or the master.cf line of the service.
 */
#include "compat.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "mail/config.h"
#include "mail/daemon.h"
#include "mail/qcorrupt.h"
#include "mail/services.h"
#include "mail/tls_identity.h"
#include "tools/tern.h"
#include "util/buf.h"
#include "util/map.h"
#include "util/mem.h"

__attribute__((format(printf, 5, 6)))
static void report(struct findings *f, bool error, const char *file, unsigned line, const char *fmt, ...)
{
	va_list ap;
	if (f->as_warnings)
		error = false;
	if (error)
		f->errors++;
	else
		f->warnings++;
	if (f->quiet)
		return;
	fprintf(stderr, "tern: %s: ", error ? "error" : "warning");
	if (line > 0)
		fprintf(stderr, "%s, line %u: ", file, line);
	else
		fprintf(stderr, "%s: ", file);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* "NAME" when main.cf sets it, "NAME (its default)" when it does not. */
static const char *param_label(const char *name, char *text, size_t size)
{
	snprintf(text, size, cfg_line(name) > 0 ? "%s" : "%s (its default)", name);
	return text;
}

/* ---- tables ---- */

/*
 * 0 when uid/gid can open PATH for reading, else the errno. Root asks a
 * child that has become uid/gid; another caller can only answer for
 * itself (0 = not known otherwise).
 */
static int readable_as(uid_t uid, gid_t gid, const char *path)
{
	if (geteuid() == uid) {
		int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0)
			return errno;
		close(fd);
		return 0;
	}
	if (geteuid() != 0)
		return 0;
	pid_t pid = fork();
	if (pid < 0)
		return 0;
	if (pid == 0) {
		struct buf err = BUF_INIT;
		if (priv_drop_ids(uid, gid, &err) < 0)
			_exit(0);	/* cannot tell: say nothing */
		int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
		_exit(fd < 0 ? (errno > 0 && errno < 256 ? errno : EACCES) : 0);
	}
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 0;
}

struct map_check {
	struct findings *f;
	uid_t uid;
	gid_t gid;
	const char *owner;
	bool have_owner;
	char **seen;		/* specs checked already */
	size_t nseen;
};

static void check_map(struct map_check *mc, const char *param, const char *spec, bool daemons_read)
{
	char where[128], *type = NULL, *name = NULL;
	const char *file = config_file();
	unsigned line = cfg_line(param);

	for (size_t i = 0; i < mc->nseen; i++)
		if (strcmp(mc->seen[i], spec) == 0)
			return;
	mc->seen = xreallocarray(mc->seen, mc->nseen + 1, sizeof(*mc->seen));
	mc->seen[mc->nseen++] = xstrdup(spec);
	param_label(param, where, sizeof(where));
	if (map_spec_parse(spec, &type, &name) < 0 || *name == '\0')
		goto out;
	char *db = NULL;
	const char *source = NULL;
	if (strcmp(type, "hash") == 0 || strcmp(type, "btree") == 0) {
		db = xasprintf("%s.db", name);
		source = name;
	} else if (strcmp(type, "regexp") == 0 && *name == '{') {
		/* Rules written in main.cf: no file, but they must compile. */
		struct buf err = BUF_INIT;
		struct map *m = map_open(spec, MAP_RDONLY, &err);
		if (m == NULL)
			report(mc->f, true, file, line, "%s: %s", where, buf_str(&err));
		map_close(m);
		buf_free(&err);
		goto out;
	} else if (strcmp(type, "texthash") == 0 || strcmp(type, "regexp") == 0) {
		db = xstrdup(name);
	} else {
		goto out;	/* inline:, static: have no file */
	}
	bool aliases = strncmp(param, "alias_", 6) == 0;
	struct stat dst, sst;
	if (stat(db, &dst) < 0) {
		if (source != NULL && errno == ENOENT)
			report(mc->f, true, file, line, "%s: %s: database %s does not exist (make it with %s %s)",
			       where, spec, db, aliases ? "newaliases, or ternmap" : "ternmap", name);
		else
			report(mc->f, true, file, line, "%s: %s: %s: %s", where, spec, db, strerror(errno));
		free(db);
		goto out;
	}
	if (source != NULL && stat(source, &sst) == 0 && dst.st_mtime < sst.st_mtime)
		report(mc->f, false, file, line, "%s: database %s is older than source file %s (run %s %s)",
		       where, db, source, aliases ? "newaliases" : "ternmap", name);
	int e = daemons_read && mc->have_owner ? readable_as(mc->uid, mc->gid, db) : 0;
	if (e != 0) {
		report(mc->f, true, file, line, "%s: %s: mail_owner %s cannot read %s: %s",
		       where, spec, mc->owner, db, strerror(e));
	} else {
		struct buf err = BUF_INIT;
		struct map *m = map_open(spec, MAP_RDONLY, &err);
		if (m == NULL && access(db, R_OK) == 0)
			report(mc->f, true, file, line, "%s: %s: %s", where, spec, buf_str(&err));
		if (m != NULL)
			map_close(m);
		buf_free(&err);
	}
	free(db);
out:
	free(type);
	free(name);
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && strcmp(s + n - m, suffix) == 0;
}

void check_maps(struct findings *f)
{
	struct map_check mc = { .f = f, .owner = cfg_str(P_mail_owner) };
	struct buf err = BUF_INIT;
	mc.have_owner = priv_lookup(mc.owner, &mc.uid, &mc.gid, &err) == 0;
	buf_free(&err);
	for (unsigned i = 0; i < param_count; i++) {
		const struct param_def *p = &param_table[i];
		const char *name = param_name(p);
		if (param_unimplemented(p) != NULL)
			continue;	/* no daemon reads it; check_config() has warned */
		/* alias_database is what newaliases writes; the daemons read alias_maps. */
		if (p->type == PARAM_MAPS && strcmp(name, P_alias_database) != 0) {
			for (char **it = cfg_list(name); *it; it++)
				check_map(&mc, name, *it, true);
		} else if (p->type == PARAM_LIST && ends_with(name, "_restrictions")) {
			char **it = cfg_list(name);
			for (; *it && it[1]; it++)
				if (strncasecmp(*it, "check_", 6) == 0 && ends_with(*it, "_access"))
					check_map(&mc, name, *++it, true);
		}
	}
	for (char **it = cfg_list(P_alias_database); *it; it++)
		check_map(&mc, P_alias_database, *it, false);
	for (size_t i = 0; i < mc.nseen; i++)
		free(mc.seen[i]);
	free(mc.seen);
}

/* ---- the sendmail-compatible commands ---- */

void check_commands(struct findings *f)
{
	static const char *const params[] = { P_sendmail_path, P_mailq_path, P_newaliases_path };
	bool system = strcmp(config_dir(), config_builtin_dir()) == 0;
	char *ours_path = xasprintf("%s/sendmail", cfg_str(P_command_directory));
	char *ours = realpath(ours_path, NULL);

	for (size_t i = 0; i < sizeof(params) / sizeof(params[0]); i++) {
		const char *name = params[i], *path = cfg_str(name);
		char label[128];
		if (!system && cfg_line(name) == 0)
			continue;	/* an instance that does not say: nothing to compare */
		param_label(name, label, sizeof(label));
		char *real = realpath(path, NULL);
		if (real == NULL)
			report(f, false, config_file(), cfg_line(name), "%s: %s: %s", label, path, strerror(errno));
		else if (ours == NULL || strcmp(real, ours) != 0)
			report(f, false, config_file(), cfg_line(name),
			       "%s: %s%s%s is not Tern's sendmail %s: mail submitted through it bypasses Tern",
			       label, path, strcmp(real, path) != 0 ? " -> " : "",
			       strcmp(real, path) != 0 ? real : "", ours_path);
		free(real);
	}
	free(ours);
	free(ours_path);
}

/* ---- TLS certificate and key ---- */

/* A service's value of NAME: its own -o, else main.cf's. */
static const char *svc_value(const struct service *s, const char *name)
{
	const char *v = s ? service_param(s, name) : NULL;
	return v != NULL ? v : cfg_str(name);
}

/*
 * One certificate setting, as main.cf gives it (S NULL) or as service S
 * overrides it with -o. Findings point at FILE, LINE.
 */
static void check_identity(struct findings *f, const struct service *s, const char *file, unsigned line,
			   const char *label)
{
	const char *cert = svc_value(s, P_smtpd_tls_cert_file);
	const char *key = svc_value(s, P_smtpd_tls_key_file);
	/* smtpd_tls_key_file defaults to $smtpd_tls_cert_file: follow a -o certificate. */
	if (s && service_param(s, P_smtpd_tls_key_file) == NULL && !cfg_is_set(P_smtpd_tls_key_file))
		key = cert;
	char **chain = config_split_list(svc_value(s, P_smtpd_tls_chain_files));
	if (*cert == '\0' && chain[0] == NULL) {
		config_free_list(chain);
		return;
	}
	bool readable = true;
	const char *files[3] = { NULL, NULL, NULL };
	if (chain[0] == NULL) {
		files[0] = cert;
		files[1] = *key ? key : NULL;
	}
	for (size_t i = 0; readable && i < 3 && (chain[0] ? chain[i] != NULL : files[i] != NULL); i++) {
		const char *path = chain[0] ? chain[i] : files[i];
		int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0) {
			report(f, false, file, line, "%s: cannot read %s: %s (no TLS until it can be read)",
			       label, path, strerror(errno));
			readable = false;
		} else {
			close(fd);
		}
	}
	SSL_CTX *ctx = readable ? SSL_CTX_new(TLS_server_method()) : NULL;
	struct buf err = BUF_INIT;
	if (ctx != NULL && tls_identity_load(ctx, cert, key, chain, &err) < 0) {
		report(f, true, file, line, "%s: %s", label, buf_str(&err));
	} else if (ctx != NULL) {
		/* Every certificate loaded (one per key type with chain files). */
		for (long ok = SSL_CTX_set_current_cert(ctx, SSL_CERT_SET_FIRST); ok == 1;
		     ok = SSL_CTX_set_current_cert(ctx, SSL_CERT_SET_NEXT)) {
			X509 *x = SSL_CTX_get0_certificate(ctx);
			if (x != NULL && X509_cmp_current_time(X509_get0_notAfter(x)) < 0) {
				char subject[256];
				X509_NAME_oneline(X509_get_subject_name(x), subject, sizeof(subject));
				report(f, false, file, line, "%s: the certificate %s has expired", label, subject);
			}
		}
	}
	ERR_clear_error();
	SSL_CTX_free(ctx);
	buf_free(&err);
	config_free_list(chain);
}

void check_tls(const struct service_table *t, const char *master_cf, struct findings *f)
{
	static const char *const names[] = { P_smtpd_tls_chain_files, P_smtpd_tls_key_file,
					      P_smtpd_tls_cert_file };
	/* Point at the line that most likely holds the mistake: the last one set. */
	const char *param = names[2];
	for (size_t i = 0; i < 3; i++)
		if (cfg_line(names[i]) > 0) {
			param = names[i];
			break;
		}
	if (cfg_line(P_smtpd_tls_key_file) > cfg_line(param))
		param = P_smtpd_tls_key_file;
	check_identity(f, NULL, config_file(), cfg_line(param), param);
	for (size_t i = 0; i < t->count; i++) {
		const struct service *s = &t->svc[i];
		if (s->type != SVC_INET || s->procs == 0)
			continue;
		if (service_param(s, P_smtpd_tls_cert_file) == NULL && service_param(s, P_smtpd_tls_key_file) == NULL
		    && service_param(s, P_smtpd_tls_chain_files) == NULL)
			continue;
		char label[128];
		snprintf(label, sizeof(label), "service %s", s->name);
		check_identity(f, s, master_cf, (unsigned)s->line, label);
	}
}

/* ---- listening addresses ---- */

struct listen_check {
	struct findings *f;
	const struct service *svc;
	const char *master_cf;
	const struct master_status *running;	/* NULL: no master runs */
};

/* Does the running master hold ADDR ("127.0.0.1:25", "[::1]:25")? */
static bool master_holds(const struct master_status *st, const char *addr)
{
	for (size_t i = 0; st && i < st->count; i++) {
		const char *a = st->svc[i].addrs;
		if (!st->svc[i].on)
			continue;	/* an off service's address is the one it wanted */
		size_t n = strlen(addr);
		for (const char *p = a; (p = strstr(p, addr)) != NULL; p += n)
			if ((p == a || p[-1] == ' ') && (p[n] == '\0' || p[n] == ' '))
				return true;
	}
	return false;
}

static int try_addr(void *ctx, const char *host, int family, bool optional, bool from_main_cf)
{
	struct listen_check *lc = ctx;
	const struct service *s = lc->svc;
	struct addrinfo hints = { .ai_family = family, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *res;
	char port[16], *bare = NULL, where[160];
	/* Below 1024 only root may bind: another caller asks whether the address is ours. */
	bool own_port = s->port >= 1024 || geteuid() == 0;

	if (from_main_cf && cfg_line(P_inet_interfaces) > 0)
		snprintf(where, sizeof(where), "service %s (inet_interfaces, %s line %u)", s->name,
			 config_file(), cfg_line(P_inet_interfaces));
	else
		snprintf(where, sizeof(where), "service %s", s->name);
	snprintf(port, sizeof(port), "%d", own_port ? s->port : 0);
	if (host && host[0] == '[' && host[strlen(host) - 1] == ']')
		host = bare = xstrndup(host + 1, strlen(host) - 2);
	int e = getaddrinfo(host, port, &hints, &res);
	if (e != 0) {
		if (!(family != AF_UNSPEC && (e == EAI_ADDRFAMILY || e == EAI_NONAME || e == EAI_FAMILY)))
			report(lc->f, true, lc->master_cf, (unsigned)s->line, "%s: address %s: %s", where,
			       host ? host : "*", gai_strerror(e));
		free(bare);
		return 0;
	}
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		char h[NI_MAXHOST], addr[NI_MAXHOST + 16];
		int on = 1;
		if (getnameinfo(ai->ai_addr, ai->ai_addrlen, h, sizeof(h), NULL, 0, NI_NUMERICHOST) != 0)
			continue;
		snprintf(addr, sizeof(addr), ai->ai_family == AF_INET6 ? "[%s]:%d" : "%s:%d", h, s->port);
		int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			if (!(optional && errno == EAFNOSUPPORT))
				report(lc->f, true, lc->master_cf, (unsigned)s->line, "%s: socket for %s: %s",
				       where, addr, strerror(errno));
			continue;
		}
		/* As ternd binds: an old connection in TIME_WAIT is no obstacle. */
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
		if (ai->ai_family == AF_INET6)
			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
			int err = errno;
			if (err == EADDRNOTAVAIL && !optional)
				report(lc->f, true, lc->master_cf, (unsigned)s->line,
				       "%s: cannot listen on %s: not an address of this host", where, addr);
			else if (err == EADDRINUSE && !master_holds(lc->running, addr))
				report(lc->f, true, lc->master_cf, (unsigned)s->line,
				       "%s: cannot listen on %s: another program is listening there", where, addr);
			else if (err != EADDRNOTAVAIL && err != EADDRINUSE)
				report(lc->f, true, lc->master_cf, (unsigned)s->line, "%s: cannot listen on %s: %s",
				       where, addr, strerror(err));
		}
		close(fd);
	}
	freeaddrinfo(res);
	free(bare);
	return 0;
}

void check_listen(const struct service_table *t, const char *master_cf, const char *queue_dir,
		  struct findings *f)
{
	struct master_status st;
	bool running = master_running(queue_dir) != 0 && master_status_read(queue_dir, &st) == 0;
	for (size_t i = 0; i < t->count; i++) {
		const struct service *s = &t->svc[i];
		if (s->type != SVC_INET || s->procs == 0)
			continue;
		struct listen_check lc = { .f = f, .svc = s, .master_cf = master_cf,
					   .running = running ? &st : NULL };
		if (service_inet_each(s, cfg_list(P_inet_protocols), cfg_list(P_inet_interfaces),
				      try_addr, &lc) == -2)
			report(f, true, config_file(), cfg_line(P_inet_protocols),
			       "inet_protocols names no protocol");
	}
	if (running)
		master_status_free(&st);
}

/* ---- the running master's pid/master.status ---- */

int master_status_read(const char *queue_dir, struct master_status *st)
{
	char *path = xasprintf("%s/pid/master.status", queue_dir);
	FILE *fp = fopen(path, "re");
	free(path);
	st->svc = NULL;
	st->count = 0;
	if (fp == NULL)
		return -1;
	char *line = NULL;
	size_t cap = 0;
	while (getline(&line, &cap, fp) > 0) {
		if (line[0] == '#')
			continue;
		line[strcspn(line, "\n")] = '\0';
		char *field[6] = { 0 }, *p = line;
		for (int k = 0; k < 6; k++) {
			field[k] = p;
			p = strchr(p, '\t');
			if (p == NULL) {
				if (k < 5)
					field[k + 1] = NULL;
				break;
			}
			*p++ = '\0';
		}
		if (field[4] == NULL)
			continue;	/* not a line of ours */
		st->svc = xreallocarray(st->svc, st->count + 1, sizeof(*st->svc));
		struct master_status_svc *s = &st->svc[st->count++];
		s->name = xstrdup(field[0]);
		s->type = xstrdup(field[1]);
		s->on = strcmp(field[2], "on") == 0;
		s->line = atoi(field[3]);	/* NOLINT(cert-err34-c): ternd's status line */
		s->addrs = xstrdup(field[4]);
		s->why = xstrdup(field[5] ? field[5] : "");
	}
	free(line);
	fclose(fp);
	return 0;
}

void master_status_free(struct master_status *st)
{
	for (size_t i = 0; i < st->count; i++) {
		free(st->svc[i].name);
		free(st->svc[i].type);
		free(st->svc[i].addrs);
		free(st->svc[i].why);
	}
	free(st->svc);
	st->svc = NULL;
	st->count = 0;
}

void check_corrupt(const char *queue_dir, struct findings *f)
{
	struct qcorrupt_scan scan;
	char *dir = xasprintf("%s/corrupt", queue_dir);
	char when[64];

	/* A caller that may not read it (corrupt/ is mail_owner's, 0700) learns nothing. */
	if (qcorrupt_scan(dir, &scan) == 0 && scan.count > 0) {
		struct tm tm;
		localtime_r(&scan.oldest, &tm);
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
		long limit = (long)cfg_int(P_corrupt_queue_limit);
		char bound[64] = "no limit";
		if (limit > 0)
			snprintf(bound, sizeof(bound), "corrupt_queue_limit %ld", limit);
		report(f, false, dir, 0,
		       "%ld queue file%s that did not parse, set aside (oldest %s, since %s; %s): "
		       "inspect them, then remove them", scan.count, scan.count == 1 ? "" : "s",
		       scan.oldest_name, when, bound);
	}
	free(dir);
	/* Names parked because their link count is short (qrecycle_park): never trimmed. */
	dir = xasprintf("%s/corrupt/links", queue_dir);
	if (qcorrupt_scan(dir, &scan) == 0 && scan.count > 0)
		report(f, false, dir, 0,
		       "%ld name%s of queue files whose link count a crash left short (no fsck on a file "
		       "system without a journal): run e2fsck on the queue's file system, then remove them",
		       scan.count, scan.count == 1 ? "" : "s");
	free(dir);
}
