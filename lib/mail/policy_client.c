/*
 * policy_client.c - Postfix's policy delegation protocol, client side
 * (see policy_client.h).
 *
 * Mail layer. Runs in smtpd as mail_owner, on worker threads: every
 * wait (connect, send, receive) is bounded by the target's timeout, and
 * the only state shared between threads is the cache of idle
 * connections, behind one mutex. A connection is taken out of the cache
 * for a round trip, so two threads never talk on one socket.
 */
#include "compat.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "mail/config.h"
#include "mail/policy_client.h"
#include "util/mem.h"

/* A policy answer longer than this is not a policy answer. */
#define REPLY_MAX	(64 * 1024)

struct pconn {
	struct pconn *next;
	char endpoint[256];
	int fd;
	uint64_t created, last_used;	/* ms, monotonic */
	unsigned requests;
};

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pconn *idle;

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int parse_seconds(const char *v, unsigned *out)
{
	long long s;
	if (param_parse_time(v, 's', &s) < 0 || s < 0 || s > 100LL * 86400)
		return -1;
	*out = (unsigned)s;
	return 0;
}

/* Check and store the endpoint part: inet:host:port or unix:path. */
static int parse_endpoint(const char *ep, const char *queue_dir, struct policy_target *t,
		struct buf *err)
{
	if (strncmp(ep, "inet:", 5) == 0) {
		const char *hp = ep + 5;
		const char *colon = strrchr(hp, ':');
		/* At most 5 digits: a longer number would overflow the conversion. */
		size_t digits = colon != NULL ? strspn(colon + 1, "0123456789") : 0;
		if (colon == NULL || colon == hp || digits == 0 || digits > 5 || colon[1 + digits] != '\0'
		    || strtol(colon + 1, NULL, 10) <= 0 || strtol(colon + 1, NULL, 10) > 65535) {
			buf_printf(err, "\"%s\": expected inet:host:port", ep);
			return -1;
		}
		if (strlcpy(t->endpoint, ep, sizeof(t->endpoint)) >= sizeof(t->endpoint)) {
			buf_printf(err, "\"%s\": too long", ep);
			return -1;
		}
		return 0;
	}
	if (strncmp(ep, "unix:", 5) == 0 && ep[5] != '\0') {
		const char *path = ep + 5;
		char full[sizeof(t->endpoint)];
		int n = path[0] == '/' ? snprintf(full, sizeof(full), "unix:%s", path)
				       : snprintf(full, sizeof(full), "unix:%s/%s", queue_dir, path);
		/* sun_path is 108 bytes on Linux. */
		if (n < 0 || (size_t)n >= sizeof(full) || strlen(full) - 5 >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
			buf_printf(err, "\"%s\": socket path too long", ep);
			return -1;
		}
		memcpy(t->endpoint, full, (size_t)n + 1);
		return 0;
	}
	buf_printf(err, "\"%s\": expected inet:host:port or unix:pathname", ep);
	return -1;
}

int policy_target_parse(const char *arg, const char *queue_dir, struct policy_target *t,
		struct buf *err)
{
	if (arg[0] != '{')
		return parse_endpoint(arg, queue_dir, t, err);
	/* "{ inet:host:port, timeout=10s, default_action=DUNNO }" */
	size_t len = strlen(arg);
	if (len < 2 || arg[len - 1] != '}') {
		buf_printf(err, "\"%s\": unbalanced { }", arg);
		return -1;
	}
	char *inner = xstrndup(arg + 1, len - 2);
	int rc = 0;
	bool have_endpoint = false;
	char *save = NULL;
	for (char *item = strtok_r(inner, ",", &save); item != NULL && rc == 0;
	     item = strtok_r(NULL, ",", &save)) {
		while (*item == ' ' || *item == '\t' || *item == '\n')
			item++;
		size_t il = strlen(item);
		while (il > 0 && (item[il - 1] == ' ' || item[il - 1] == '\t' || item[il - 1] == '\n'))
			item[--il] = '\0';
		if (il == 0)
			continue;
		if (!have_endpoint) {
			rc = parse_endpoint(item, queue_dir, t, err);
			have_endpoint = true;
			continue;
		}
		char *eq = strchr(item, '=');
		if (eq == NULL) {
			buf_printf(err, "\"%s\": expected name=value", item);
			rc = -1;
			break;
		}
		*eq = '\0';
		char *name = item, *value = eq + 1;
		size_t nl = strlen(name);
		while (nl > 0 && (name[nl - 1] == ' ' || name[nl - 1] == '\t'))
			name[--nl] = '\0';
		while (*value == ' ' || *value == '\t')
			value++;
		unsigned n = 0;
		if (strcmp(name, "default_action") == 0) {
			if (strlcpy(t->default_action, value, sizeof(t->default_action))
			    >= sizeof(t->default_action))
				rc = -1;
		} else if (strcmp(name, "policy_context") == 0) {
			if (strlcpy(t->context, value, sizeof(t->context)) >= sizeof(t->context))
				rc = -1;
		} else if (strcmp(name, "try_limit") == 0 || strcmp(name, "request_limit") == 0) {
			long long v;
			if (param_parse_int(value, &v) < 0 || v < 0 || v > 1000000
			    || (v == 0 && name[0] == 't'))
				rc = -1;
			else if (name[0] == 't')
				t->try_limit = (unsigned)v;
			else
				t->request_limit = (unsigned)v;
		} else if (strcmp(name, "timeout") == 0 || strcmp(name, P_max_idle) == 0
			   || strcmp(name, "max_ttl") == 0 || strcmp(name, "retry_delay") == 0) {
			if (parse_seconds(value, &n) < 0 || (n == 0 && strcmp(name, "retry_delay") != 0))
				rc = -1;
			else if (strcmp(name, "timeout") == 0)
				t->timeout_s = n;
			else if (strcmp(name, P_max_idle) == 0)
				t->max_idle_s = n;
			else if (strcmp(name, "max_ttl") == 0)
				t->max_ttl_s = n;
			else
				t->retry_delay_s = n;
		} else {
			buf_printf(err, "\"%s\": unknown setting (known: timeout, default_action, max_idle, "
					"max_ttl, try_limit, retry_delay, request_limit, policy_context)", name);
			rc = -1;
			break;
		}
		if (rc < 0 && err->len == 0)
			buf_printf(err, "%s: bad value \"%s\"", name, value);
	}
	if (rc == 0 && !have_endpoint) {
		buf_printf(err, "\"%s\": no inet:host:port or unix:pathname", arg);
		rc = -1;
	}
	free(inner);
	return rc;
}

void policy_request_add(struct buf *req, const char *name, const char *value)
{
	buf_adds(req, name);
	buf_addc(req, '=');
	for (const char *v = value ? value : ""; *v != '\0'; v++)
		buf_addc(req, (*v == '\n' || *v == '\r') ? ' ' : *v);
	buf_addc(req, '\n');
}

int policy_reply_parse(const char *data, size_t len, struct buf *action)
{
	size_t pos = 0;
	buf_reset(action);
	while (pos < len) {
		const char *line = data + pos;
		const char *nl = memchr(line, '\n', len - pos);
		if (nl == NULL)
			return 0;
		size_t ll = (size_t)(nl - line);
		if (ll > 0 && line[ll - 1] == '\r')
			ll--;
		pos = (size_t)(nl - data) + 1;
		if (ll == 0)
			return 1;
		const char *eq = memchr(line, '=', ll);
		if (eq == NULL || eq == line)
			return -1;
		if ((size_t)(eq - line) == 6 && strncasecmp(line, "action", 6) == 0) {
			buf_reset(action);
			buf_add(action, eq + 1, ll - (size_t)(eq - line) - 1);
		}
	}
	return 0;
}

/* Wait for events on fd until deadline; -1 on timeout or error. */
static int wait_fd(int fd, short events, uint64_t deadline)
{
	for (;;) {
		uint64_t now = now_ms();
		if (now >= deadline) {
			errno = ETIMEDOUT;
			return -1;
		}
		struct pollfd pfd = {.fd = fd, .events = events};
		int n = poll(&pfd, 1, (int)(deadline - now > 60000 ? 60000 : deadline - now));
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return -1;
	}
}

static int connect_deadline(int fd, const struct sockaddr *sa, socklen_t salen, uint64_t deadline)
{
	if (connect(fd, sa, salen) == 0)
		return 0;
	if (errno != EINPROGRESS && errno != EAGAIN)
		return -1;
	if (wait_fd(fd, POLLOUT, deadline) < 0)
		return -1;
	int soerr = 0;
	socklen_t sl = sizeof(soerr);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
		return -1;
	if (soerr != 0) {
		errno = soerr;
		return -1;
	}
	return 0;
}

static int open_endpoint(const char *endpoint, uint64_t deadline, struct buf *err)
{
	if (strncmp(endpoint, "unix:", 5) == 0) {
		struct sockaddr_un sun;
		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		strlcpy(sun.sun_path, endpoint + 5, sizeof(sun.sun_path));
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0 || connect_deadline(fd, (struct sockaddr *)&sun, sizeof(sun), deadline) < 0) {
			buf_printf(err, "connect to %s: %s", endpoint, strerror(errno));
			if (fd >= 0)
				close(fd);
			return -1;
		}
		return fd;
	}
	/* inet:host:port, host possibly [v6]. */
	char host[256];
	const char *hp = endpoint + 5;
	const char *colon = strrchr(hp, ':');
	size_t hl = (size_t)(colon - hp);
	if (hl >= 2 && hp[0] == '[' && hp[hl - 1] == ']') {
		hp++;
		hl -= 2;
	}
	if (hl >= sizeof(host))
		hl = sizeof(host) - 1;
	memcpy(host, hp, hl);
	host[hl] = '\0';
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
	int gai = getaddrinfo(host, colon + 1, &hints, &res);
	if (gai != 0) {
		buf_printf(err, "%s: %s", endpoint, gai_strerror(gai));
		return -1;
	}
	int fd = -1;
	for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0)
			continue;
		if (connect_deadline(fd, ai->ai_addr, ai->ai_addrlen, deadline) == 0)
			break;
		close(fd);
		fd = -1;
	}
	if (fd < 0)
		buf_printf(err, "connect to %s: %s", endpoint, strerror(errno));
	freeaddrinfo(res);
	return fd;
}

/* An idle connection to endpoint that may still be used, or NULL. */
static struct pconn *take_idle(const struct policy_target *t, uint64_t now)
{
	struct pconn *found = NULL, *stale = NULL;
	pthread_mutex_lock(&cache_lock);
	for (struct pconn **pp = &idle; *pp != NULL;) {
		struct pconn *c = *pp;
		bool expired = now - c->last_used >= (uint64_t)t->max_idle_s * 1000
			       || now - c->created >= (uint64_t)t->max_ttl_s * 1000;
		if (strcmp(c->endpoint, t->endpoint) == 0 && (expired || found == NULL)) {
			*pp = c->next;
			if (expired) {
				c->next = stale;
				stale = c;
			} else {
				found = c;
			}
			continue;
		}
		pp = &c->next;
	}
	pthread_mutex_unlock(&cache_lock);
	while (stale != NULL) {
		struct pconn *n = stale->next;
		close(stale->fd);
		free(stale);
		stale = n;
	}
	return found;
}

static void give_back(struct pconn *c)
{
	pthread_mutex_lock(&cache_lock);
	c->next = idle;
	idle = c;
	pthread_mutex_unlock(&cache_lock);
}

void policy_client_flush(void)
{
	pthread_mutex_lock(&cache_lock);
	struct pconn *list = idle;
	idle = NULL;
	pthread_mutex_unlock(&cache_lock);
	while (list != NULL) {
		struct pconn *n = list->next;
		close(list->fd);
		free(list);
		list = n;
	}
}

/*
 * One request and answer on c; -1 with why in err. *dead: the peer had
 * closed the connection before answering anything (not a timeout).
 */
static int round_trip(struct pconn *c, const char *request, uint64_t deadline, struct buf *action,
		struct buf *err, bool *dead, bool *extra)
{
	size_t len = strlen(request), off = 0;
	bool answered = false;
	*dead = false;
	while (off < len) {
		ssize_t n = send(c->fd, request + off, len - off, MSG_NOSIGNAL);
		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			if (wait_fd(c->fd, POLLOUT, deadline) == 0)
				continue;
		}
		*dead = errno == EPIPE || errno == ECONNRESET;
		buf_printf(err, "write to %s: %s", c->endpoint, strerror(errno));
		return -1;
	}
	struct buf in = BUF_INIT;
	int rc = -1;
	for (;;) {
		char chunk[4096];
		ssize_t n = recv(c->fd, chunk, sizeof(chunk), 0);
		if (n > 0) {
			answered = true;
			buf_add(&in, chunk, (size_t)n);
			int p = policy_reply_parse(in.data, in.len, action);
			if (p > 0) {
				/* Bytes after the empty line answer nothing we asked: do not reuse the stream. */
				const char *lf = strstr(buf_str(&in), "\n\n");
				const char *crlf = strstr(buf_str(&in), "\n\r\n");
				size_t end = lf && (!crlf || lf < crlf) ? (size_t)(lf - in.data) + 2
					     : crlf ? (size_t)(crlf - in.data) + 3 : in.len;
				*extra = end < in.len;
				rc = 0;
				break;
			}
			if (p < 0 || in.len > REPLY_MAX) {
				buf_printf(err, "malformed answer from %s", c->endpoint);
				break;
			}
			continue;
		}
		if (n == 0) {
			*dead = !answered;
			buf_printf(err, "%s closed the connection", c->endpoint);
			break;
		}
		if ((errno == EAGAIN || errno == EINTR) && wait_fd(c->fd, POLLIN, deadline) == 0)
			continue;
		*dead = !answered && errno == ECONNRESET;
		buf_printf(err, "read from %s: %s", c->endpoint,
				errno == ETIMEDOUT ? "timed out" : strerror(errno));
		break;
	}
	buf_free(&in);
	return rc;
}

int policy_query(const struct policy_target *t, const char *request, struct buf *action,
		struct buf *err)
{
	unsigned tries = t->try_limit ? t->try_limit : 1;
	bool stale_retry = false;
	for (unsigned attempt = 0; attempt < tries; attempt++) {
		if (attempt > 0 && !stale_retry && t->retry_delay_s > 0)
			sleep(t->retry_delay_s);
		uint64_t start = now_ms();
		uint64_t deadline = start + (uint64_t)(t->timeout_s ? t->timeout_s : 1) * 1000;
		struct pconn *c = stale_retry ? NULL : take_idle(t, start);
		bool reused = c != NULL;
		stale_retry = false;
		if (c == NULL) {
			buf_reset(err);
			int fd = open_endpoint(t->endpoint, deadline, err);
			if (fd < 0)
				continue;
			c = xcalloc(1, sizeof(*c));
			strlcpy(c->endpoint, t->endpoint, sizeof(c->endpoint));
			c->fd = fd;
			c->created = start;
		}
		bool dead, extra = false;
		buf_reset(err);
		if (round_trip(c, request, deadline, action, err, &dead, &extra) < 0) {
			close(c->fd);
			free(c);
			/*
			 * A server closes connections it finds idle for too long:
			 * a cached one that died before answering is tried again
			 * at once on a new connection, without using up a try.
			 */
			if (reused && dead) {
				stale_retry = true;
				attempt--;
			}
			continue;
		}
		c->requests++;
		c->last_used = now_ms();
		if (extra || (t->request_limit > 0 && c->requests >= t->request_limit)
		    || c->last_used - c->created >= (uint64_t)t->max_ttl_s * 1000) {
			close(c->fd);
			free(c);
		} else {
			give_back(c);
		}
		return 0;
	}
	return -1;
}
