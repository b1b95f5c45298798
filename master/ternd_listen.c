/*
 * ternd_listen.c - the master binds every listening socket itself: TCP
 * listeners for inet services (inet_interfaces x inet_protocols, or the
 * address the service table names) and UNIX sockets in private/ and
 * public/ for Tern's own processes and tools.
 *
 * Runs in ternd, as root on a real host (ports below 1024) or as the
 * instance owner. Sockets are created close-on-exec and non-blocking;
 * the spawner moves them to descriptors 3, 4, ... of each process.
 * A socket whose address is unchanged survives a reload, so clients
 * never see a refused connection while services restart.
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
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "mail/config.h"
#include "master/ternd.h"
#include "util/log.h"
#include "util/mem.h"

/* Large: a short backlog costs each client seconds under load. */
#define LISTEN_BACKLOG 4096

/*
 * A socket of R could not be set up: log it with the service's master.cf
 * line, and keep the first reason for the status file (tern status).
 * errno is formatted here, before anything can change it.
 */
__attribute__((format(printf, 3, 4)))
static void listen_fail(struct master *m, struct run *r, const char *fmt, ...)
{
	char text[512];
	int saved = errno;
	va_list ap;
	va_start(ap, fmt);
	errno = saved;
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	msg_error("%s/master.cf, line %d: service %s: %s", m->config_dir, r->svc->line, r->svc->name, text);
	if (r->why == NULL)
		r->why = xstrdup(text);
}

static struct listener *find_key(struct master *m, const char *key)
{
	for (size_t i = 0; i < m->nls; i++)
		if (strcmp(m->ls[i].key, key) == 0)
			return &m->ls[i];
	return NULL;
}

static struct listener *add_listener(struct master *m, const char *key, const char *addr, int fd)
{
	m->ls = xreallocarray(m->ls, m->nls + 1, sizeof(*m->ls));
	struct listener *l = &m->ls[m->nls++];
	l->key = xstrdup(key);
	l->addr = xstrdup(addr);
	l->fd = fd;
	l->wanted = true;
	return l;
}

static void attach(struct run *r, struct listener *l)
{
	r->fds = xreallocarray(r->fds, (size_t)r->nfd + 1, sizeof(int));
	r->fds[r->nfd++] = l->fd;
	size_t old = r->addrs ? strlen(r->addrs) : 0;
	size_t add = strlen(l->addr) + 2;
	r->addrs = xrealloc(r->addrs, old + add);
	snprintf(r->addrs + old, add, "%s%s", old ? " " : "", l->addr);
}

/* Claim an existing socket for this load; a second claim is a conflict. */
static int claim(struct master *m, struct run *r, const char *key, struct listener **out)
{
	struct listener *l = find_key(m, key);
	*out = l;
	if (l == NULL)
		return 0;
	if (l->wanted) {
		listen_fail(m, r, "address %s is already used by another service", l->addr);
		return -1;
	}
	l->wanted = true;
	attach(r, l);
	return 1;
}

/* OPTIONAL: an address that inet_interfaces' "all" or "loopback-only"
 * implies, skipped with a warning where the kernel lacks the family. */
static int bind_inet(struct master *m, struct run *r, const struct addrinfo *ai, bool optional)
{
	char host[NI_MAXHOST], port[NI_MAXSERV], key[NI_MAXHOST + 64], addr[NI_MAXHOST + 16];
	struct listener *l;
	int on = 1;

	if (getnameinfo(ai->ai_addr, ai->ai_addrlen, host, sizeof(host), port, sizeof(port),
			NI_NUMERICHOST | NI_NUMERICSERV) != 0)
		return -1;
	snprintf(key, sizeof(key), "inet %s %s", host, port);
	snprintf(addr, sizeof(addr), ai->ai_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host, port);
	int c = claim(m, r, key, &l);
	if (c != 0)
		return c < 0 ? -1 : 0;

	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 && optional && errno == EAFNOSUPPORT) {
		msg_warn("service %s: %s skipped: address family not supported here", r->svc->name, addr);
		return 0;
	}
	if (fd < 0) {
		listen_fail(m, r, "socket for %s: %s", addr, strerror(errno));
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	if (ai->ai_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		if (optional && errno == EADDRNOTAVAIL) {
			msg_warn("service %s: %s skipped: %m", r->svc->name, addr);
			close(fd);
			return 0;
		}
		listen_fail(m, r, "bind %s: %s", addr, strerror(errno));
		close(fd);
		return -1;
	}
	if (listen(fd, LISTEN_BACKLOG) < 0) {
		listen_fail(m, r, "bind %s: %s", addr, strerror(errno));
		close(fd);
		return -1;
	}
	attach(r, add_listener(m, key, addr, fd));
	msg_debug("service %s: listening on %s", r->svc->name, addr);
	return 0;
}

/* HOST (NULL = wildcard) in FAMILY (AF_UNSPEC = both) on the service's port. */
static int bind_host(struct master *m, struct run *r, const char *host, int family, bool optional)
{
	struct addrinfo hints = { .ai_family = family, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *res;
	char port[16], *bare = NULL;
	int rc = 0;

	snprintf(port, sizeof(port), "%d", r->svc->port);
	if (host && host[0] == '[' && host[strlen(host) - 1] == ']')
		host = bare = xstrndup(host + 1, strlen(host) - 2);
	int e = getaddrinfo(host, port, &hints, &res);
	if (e != 0) {
		if (family != AF_UNSPEC && (e == EAI_ADDRFAMILY || e == EAI_NONAME || e == EAI_FAMILY)) {
			msg_info("service %s: %s skipped: not an address of the enabled inet_protocols",
				 r->svc->name, host ? host : "*");
			free(bare);
			return 0;
		}
		listen_fail(m, r, "address %s: %s", host ? host : "*", gai_strerror(e));
		free(bare);
		return -1;
	}
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next)
		if (bind_inet(m, r, ai, optional) < 0)
			rc = -1;
	freeaddrinfo(res);
	free(bare);
	return rc;
}

struct inet_ctx {
	struct master *m;
	struct run *r;
};

static int inet_addr(void *ctx, const char *host, int family, bool optional, bool from_main_cf)
{
	struct inet_ctx *c = ctx;
	(void)from_main_cf;
	return bind_host(c->m, c->r, host, family, optional);
}

static int setup_inet(struct master *m, struct run *r)
{
	struct inet_ctx c = { m, r };
	int rc = service_inet_each(r->svc, cfg_list(P_inet_protocols), cfg_list(P_inet_interfaces),
				   inet_addr, &c);
	if (rc == -2)
		listen_fail(m, r, "inet_protocols names no protocol");
	return rc < 0 ? -1 : 0;
}

/* chown PATH, a socket, without following a link put in its place. */
static int give_socket(const char *path, uid_t uid, gid_t gid)
{
	int pfd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;
	if (pfd < 0)
		return -1;
	int rc = -1;
	if (fstat(pfd, &st) == 0 && S_ISSOCK(st.st_mode))
		rc = fchownat(pfd, "", uid, gid, AT_EMPTY_PATH);
	else
		errno = EPERM;
	int saved = errno;
	close(pfd);
	errno = saved;
	return rc;
}

static int setup_unix(struct master *m, struct run *r)
{
	bool pub = r->svc->type == SVC_PUBLIC;
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char key[sizeof(sun.sun_path) + 8];
	struct listener *l;

	int n = snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/%s/%s", cfg_str(P_queue_directory),
			 pub ? "public" : "private", r->svc->name);
	if (n < 0 || (size_t)n >= sizeof(sun.sun_path)) {
		listen_fail(m, r, "socket path too long");
		return -1;
	}
	snprintf(key, sizeof(key), "unix %s", sun.sun_path);
	int c = claim(m, r, key, &l);
	if (c != 0)
		return c < 0 ? -1 : 0;

	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		listen_fail(m, r, "socket: %s", strerror(errno));
		return -1;
	}
	unlink(sun.sun_path);
	/*
	 * public/ and private/ belong to mail_owner, who could put a link in
	 * the socket's place: never chmod or chown by name. The mode comes
	 * from the umask at bind time, the owner through a descriptor of
	 * what is there now, and only if that is a socket.
	 */
	mode_t old_mask = umask(pub ? 0111 : 0177);
	int bound = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(old_mask);
	if (bound < 0 || listen(fd, LISTEN_BACKLOG) < 0 ||
	    (m->root && give_socket(sun.sun_path, m->owner_uid, m->owner_gid) < 0)) {
		listen_fail(m, r, "socket %s: %s", sun.sun_path, strerror(errno));
		close(fd);
		return -1;
	}
	attach(r, add_listener(m, key, sun.sun_path, fd));
	return 0;
}

int listen_setup(struct master *m, struct run *r)
{
	switch (r->svc->type) {
	case SVC_INET:
		return setup_inet(m, r);
	case SVC_UNIX:
	case SVC_PUBLIC:
		return setup_unix(m, r);
	case SVC_PROC:
		break;
	}
	return 0;
}

void listen_mark_unwanted(struct master *m)
{
	for (size_t i = 0; i < m->nls; i++)
		m->ls[i].wanted = false;
}

void listen_release_unwanted(struct master *m)
{
	size_t keep = 0;
	for (size_t i = 0; i < m->nls; i++) {
		struct listener *l = &m->ls[i];
		if (l->wanted) {
			m->ls[keep++] = *l;
			continue;
		}
		msg_debug("closing %s", l->addr);
		close(l->fd);
		if (strncmp(l->key, "unix ", 5) == 0)
			unlink(l->addr);
		free(l->key);
		free(l->addr);
	}
	m->nls = keep;
}
