/*
 * services.c - parser of the service table (master.cf), see services.h.
 *
 * Mail layer, no privileges of its own. Pure: text in, table out, one
 * line of error naming file and line, so that ternd (as root), tern check
 * and the unit tests share it.
 */
#include "compat.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mail/config.h"
#include "mail/services.h"
#include "util/log.h"
#include "util/mem.h"

#define SVC_COLUMNS 7		/* before the command */
#define SVC_MAX_PROCS 1000

static const char *const type_names[] = {
	[SVC_INET] = "inet", [SVC_UNIX] = "unix", [SVC_PUBLIC] = "public", [SVC_PROC] = "proc",
};
static const char *const tls_names[] = {
	[SVC_TLS_DEFAULT] = "-", [SVC_TLS_NONE] = "none", [SVC_TLS_STARTTLS] = "starttls",
	[SVC_TLS_REQUIRED] = "required", [SVC_TLS_IMPLICIT] = "implicit",
};
static const char *const auth_names[] = {
	[SVC_AUTH_DEFAULT] = "-", [SVC_AUTH_NO] = "no", [SVC_AUTH_YES] = "yes",
	[SVC_AUTH_REQUIRED] = "required",
};

static int lookup(const char *const *names, size_t n, const char *word)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(names[i], word) == 0)
			return (int)i;
	return -1;
}

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

const char *svc_type_name(enum svc_type type) { return type_names[type]; }
const char *svc_tls_name(enum svc_tls tls) { return tls_names[tls]; }
const char *svc_auth_name(enum svc_auth auth) { return auth_names[auth]; }
int svc_type_parse(const char *w) { return lookup(type_names, NELEM(type_names), w); }
int svc_tls_parse(const char *w) { return lookup(tls_names, NELEM(tls_names), w); }
int svc_auth_parse(const char *w) { return lookup(auth_names, NELEM(auth_names), w); }

int service_inet_each(const struct service *s, char **protocols, char **interfaces,
		      service_addr_fn fn, void *ctx)
{
	bool v4 = false, v6 = false;
	for (char **p = protocols; *p; p++) {
		if (strcmp(*p, "all") == 0)
			v4 = v6 = true;
		else if (strcmp(*p, "ipv4") == 0)
			v4 = true;
		else if (strcmp(*p, "ipv6") == 0)
			v6 = true;
	}
	if (!v4 && !v6)
		return -2;
	int family = v4 && v6 ? AF_UNSPEC : v4 ? AF_INET : AF_INET6;
	if (s->host)
		return fn(ctx, s->host, family, false, false);

	int rc = 0;
	for (char **p = interfaces; *p; p++) {
		if (strcmp(*p, "all") == 0) {
			if (v4 && fn(ctx, NULL, AF_INET, v6, true) < 0)
				rc = -1;
			if (v6 && fn(ctx, NULL, AF_INET6, v4, true) < 0)
				rc = -1;
		} else if (strcmp(*p, "loopback-only") == 0) {
			if (v4 && fn(ctx, "127.0.0.1", AF_INET, v6, true) < 0)
				rc = -1;
			if (v6 && fn(ctx, "::1", AF_INET6, v4, true) < 0)
				rc = -1;
		} else if (fn(ctx, *p, family, false, true) < 0) {
			rc = -1;
		}
	}
	return rc;
}

bool service_needs_cert(const struct service *s)
{
	return s->type == SVC_INET && (s->tls == SVC_TLS_REQUIRED || s->tls == SVC_TLS_IMPLICIT);
}

const char *service_param(const struct service *s, const char *name)
{
	size_t len = strlen(name);
	const char *value = NULL;

	for (int i = 1; i + 1 < s->argc; i++)
		if (strcmp(s->argv[i], "-o") == 0 && strncmp(s->argv[i + 1], name, len) == 0
		    && s->argv[i + 1][len] == '=')
			value = s->argv[i + 1] + len + 1;
	return value;
}

unsigned services_warn_unimplemented(const char *file, const struct service_table *t)
{
	unsigned n = 0;
	for (size_t k = 0; k < t->count; k++) {
		const struct service *s = &t->svc[k];
		for (int i = 1; i + 1 < s->argc; i++) {
			if (strcmp(s->argv[i], "-o") != 0)
				continue;
			const char *arg = s->argv[i + 1];
			char *name = xstrndup(arg, strcspn(arg, "="));
			const struct param_def *p = param_find(name);
			if (p != NULL && param_unimplemented(p) != NULL) {
				msg_warn("%s, line %d: service %s sets %s, but Tern does not implement it: %s",
					 file, s->line, s->name, name, param_unimplemented(p));
				n++;
			}
			free(name);
		}
	}
	return n;
}

static void service_clear(struct service *s)
{
	free(s->name);
	free(s->host);
	for (int i = 0; i < s->argc; i++)
		free(s->argv[i]);
	free(s->argv);
	memset(s, 0, sizeof(*s));
}

void services_free(struct service_table *t)
{
	for (size_t i = 0; i < t->count; i++)
		service_clear(&t->svc[i]);
	free(t->svc);
	t->svc = NULL;
	t->count = 0;
}

const struct service *services_find(const struct service_table *t, const char *name)
{
	for (size_t i = 0; i < t->count; i++)
		if (strcmp(t->svc[i].name, name) == 0)
			return &t->svc[i];
	return NULL;
}

/* Split a logical line into white-space separated words. */
static char **split_words(const char *line, int *count)
{
	char **words = NULL;
	int n = 0;
	const char *p = line;

	for (;;) {
		while (isspace((unsigned char)*p))
			p++;
		if (*p == '\0')
			break;
		const char *start = p;
		while (*p && !isspace((unsigned char)*p))
			p++;
		words = xreallocarray(words, (size_t)n + 2, sizeof(*words));
		words[n++] = xstrndup(start, (size_t)(p - start));
	}
	if (words)
		words[n] = NULL;
	*count = n;
	return words;
}

static bool valid_name(const char *s)
{
	if (*s == '\0' || strlen(s) > 64)
		return false;
	for (; *s; s++)
		if (!islower((unsigned char)*s) && !isdigit((unsigned char)*s) && !strchr("_.-", *s))
			return false;
	return true;
}

static int parse_port(const char *s)
{
	char *end;
	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || *end || v < 1 || v > 65535)
		return -1;
	return (int)v;
}

/* inet listen column: PORT, HOST:PORT or [IPV6]:PORT. */
static int parse_listen(struct service *s, const char *w)
{
	const char *colon;
	if (w[0] == '[') {
		const char *close = strchr(w, ']');
		if (close == NULL || close == w + 1 || close[1] != ':')
			return -1;
		s->host = xstrndup(w + 1, (size_t)(close - w - 1));
		colon = close + 1;
	} else if ((colon = strrchr(w, ':')) != NULL) {
		if (colon == w || memchr(w, ':', (size_t)(colon - w)))
			return -1;	/* a bare IPv6 address needs brackets */
		s->host = xstrndup(w, (size_t)(colon - w));
	} else {
		colon = w - 1;
	}
	s->port = parse_port(colon + 1);
	return s->port > 0 ? 0 : -1;
}

static int parse_procs(const char *w)
{
	char *end;
	if (strcmp(w, "-") == 0)
		return 1;
	if (!isdigit((unsigned char)*w))
		return -1;
	long v = strtol(w, &end, 10);
	if (*end || v < 0 || v > SVC_MAX_PROCS)
		return -1;
	return (int)v;
}

/*
 * Check the command's arguments. Tern's own daemons (a name relative to
 * daemon_directory) take only -o name=value, -c DIR and -v (daemon_init):
 * anything else is an error here rather than a daemon that exits at
 * every start. Another program (an absolute path) gets its arguments as
 * written, apart from the -o pairs, which must be well formed.
 */
static int check_args(const char *name, char **argv, int argc, struct buf *why)
{
	bool ours = argv[0][0] != '/';
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-o") == 0) {
			if (i + 1 >= argc)
				goto bad_o;
			const char *eq = strchr(argv[i + 1], '=');
			if (eq == NULL || eq == argv[i + 1])
				goto bad_o;
			i++;
		} else if (!ours || (argv[i][0] == '-' && argv[i][1] == 'v'
				     && argv[i][strspn(argv[i] + 1, "v") + 1] == '\0')) {
			continue;
		} else if (strcmp(argv[i], "-c") == 0) {
			if (i + 1 >= argc) {
				buf_printf(why, "service %s: -c needs a directory", name);
				return -1;
			}
			i++;
		} else {
			buf_printf(why, "service %s: unknown argument \"%s\" (Tern's daemons take -o name=value, -c DIR and -v)",
				   name, argv[i]);
			return -1;
		}
	}
	return 0;
bad_o:
	buf_printf(why, "service %s: -o needs name=value", name);
	return -1;
}

static int parse_service(struct service *s, char **w, int n, struct buf *why)
{
	int v;

	if (n < SVC_COLUMNS + 1) {
		buf_printf(why, "expected 8 columns (service type listen tls auth user procs command), found %d", n);
		return -1;
	}
	if (!valid_name(w[0])) {
		buf_printf(why, "bad service name \"%s\" (lower-case letters, digits, _ . -)", w[0]);
		return -1;
	}
	s->name = xstrdup(w[0]);
	if ((v = svc_type_parse(w[1])) < 0) {
		buf_printf(why, "service %s: bad type \"%s\" (inet, unix, public or proc)", w[0], w[1]);
		return -1;
	}
	s->type = (enum svc_type)v;
	bool inet = s->type == SVC_INET;
	if (inet ? parse_listen(s, w[2]) < 0 : strcmp(w[2], "-") != 0) {
		buf_printf(why, inet ? "service %s: bad listen address \"%s\" (PORT, HOST:PORT or [IPV6]:PORT)"
				: "service %s: listen must be \"-\" for this type, not \"%s\"", w[0], w[2]);
		return -1;
	}
	if ((v = svc_tls_parse(w[3])) < 0 || (!inet && v != SVC_TLS_DEFAULT)) {
		buf_printf(why, inet ? "service %s: bad tls \"%s\" (none, starttls, required, implicit or -)"
				: "service %s: tls must be \"-\" for this type, not \"%s\"", w[0], w[3]);
		return -1;
	}
	s->tls = (enum svc_tls)v;
	if ((v = svc_auth_parse(w[4])) < 0 || (!inet && v != SVC_AUTH_DEFAULT)) {
		buf_printf(why, inet ? "service %s: bad auth \"%s\" (no, yes, required or -)"
				: "service %s: auth must be \"-\" for this type, not \"%s\"", w[0], w[4]);
		return -1;
	}
	s->auth = (enum svc_auth)v;
	if (strcmp(w[5], "root") == 0)
		s->root = true;
	else if (strcmp(w[5], "-") != 0) {
		buf_printf(why, "service %s: bad user \"%s\" (- for mail_owner, or root)", w[0], w[5]);
		return -1;
	}
	if ((s->procs = parse_procs(w[6])) < 0) {
		buf_printf(why, "service %s: bad procs \"%s\" (0 to %d, or -)", w[0], w[6], SVC_MAX_PROCS);
		return -1;
	}
	s->argc = n - SVC_COLUMNS;
	s->argv = xcalloc((size_t)s->argc + 1, sizeof(char *));
	for (int i = 0; i < s->argc; i++)
		s->argv[i] = xstrdup(w[SVC_COLUMNS + i]);
	const char *cmd = s->argv[0];
	if (strchr(cmd, '/') && cmd[0] != '/') {
		buf_printf(why, "service %s: command \"%s\" must be a name in daemon_directory or an absolute path", w[0], cmd);
		return -1;
	}
	return check_args(w[0], s->argv, s->argc, why);
}

static bool blank_or_comment(const char *p, const char *end)
{
	while (p < end && isspace((unsigned char)*p))
		p++;
	return p == end || *p == '#';
}

static int add_logical(struct service_table *t, const char *file, int lineno,
		       const char *text, struct buf *err)
{
	int n;
	char **w = split_words(text, &n);
	struct buf why = BUF_INIT;
	struct service s = {0};
	int rc = parse_service(&s, w, n, &why);

	if (rc == 0 && services_find(t, s.name)) {
		buf_printf(&why, "service %s is declared twice", s.name);
		rc = -1;
	}
	if (rc == 0) {
		s.line = lineno;
		t->svc = xreallocarray(t->svc, t->count + 1, sizeof(*t->svc));
		t->svc[t->count++] = s;
	} else {
		service_clear(&s);
		buf_reset(err);
		buf_printf(err, "%s, line %d: %s", file, lineno, buf_str(&why));
	}
	for (int i = 0; i < n; i++)
		free(w[i]);
	free(w);
	buf_free(&why);
	return rc;
}

int services_parse(const char *text, const char *file, struct service_table *t, struct buf *err)
{
	struct buf logical = BUF_INIT;
	int lineno = 0, start = 0, rc = 0;
	const char *p = text;

	t->svc = NULL;
	t->count = 0;
	while (rc == 0 && *p) {
		const char *end = strchr(p, '\n');
		if (end == NULL)
			end = p + strlen(p);
		lineno++;
		if (!blank_or_comment(p, end)) {
			if (isspace((unsigned char)*p)) {
				if (start == 0) {
					buf_printf(err, "%s, line %d: continuation line without a service before it",
						   file, lineno);
					rc = -1;
					break;
				}
				buf_addc(&logical, ' ');
				buf_add(&logical, p, (size_t)(end - p));
			} else {
				if (start)
					rc = add_logical(t, file, start, buf_str(&logical), err);
				buf_reset(&logical);
				buf_add(&logical, p, (size_t)(end - p));
				start = lineno;
			}
		}
		p = *end ? end + 1 : end;
	}
	if (rc == 0 && start)
		rc = add_logical(t, file, start, buf_str(&logical), err);
	buf_free(&logical);
	if (rc < 0)
		services_free(t);
	return rc;
}

int services_load(const char *path, struct service_table *t, struct buf *err)
{
	struct buf text = BUF_INIT;
	char chunk[8192];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	t->svc = NULL;
	t->count = 0;
	if (fd < 0) {
		buf_printf(err, "open %s: %s", path, strerror(errno));
		return -1;
	}
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		buf_add(&text, chunk, (size_t)n);
	int saved = errno;
	close(fd);
	if (n < 0) {
		buf_printf(err, "read %s: %s", path, strerror(saved));
		buf_free(&text);
		return -1;
	}
	if (memchr(text.data ? text.data : "", '\0', text.len)) {
		buf_printf(err, "%s: contains a NUL byte", path);
		buf_free(&text);
		return -1;
	}
	int rc = services_parse(buf_str(&text), path, t, err);
	buf_free(&text);
	return rc;
}
