/*
 * sasl_dovecot.c - client side of Dovecot's authentication protocol
 * (major version 1), the "dovecot" SASL backend (sasl_backend.h).
 *
 * Mail layer. Runs inside smtpd as mail_owner and talks to Dovecot's
 * auth-client UNIX socket (smtpd_sasl_path). Dovecot does the mechanism
 * work; we relay the client's responses (base64 in the protocol) and
 * Dovecot's challenges, and read OK/CONT/FAIL:
 *
 *   C: VERSION 1 2 / CPID pid
 *   S: VERSION 1 x / MECH name flags... / SPID / CUID / COOKIE / DONE
 *   C: AUTH id mech service=smtp nologin no-penalty [secured] rip=ip resp=b64
 *   S: OK id user=name ... | CONT id b64 | FAIL id reason=... [temp]
 *   C: CONT id b64 | CANCEL id
 *
 * (fields separated by TAB). We pass no-penalty: smtpd slows failing
 * clients itself (sasl_penalty.h), so Dovecot's own delay would only
 * hold the shared connection. Dovecot refuses a second connection with
 * the same CPID, so the process keeps one connection for every exchange
 * and serializes round trips with a mutex (smtpd may step exchanges from
 * several threads). The connection is made on first use and remade
 * after fork (the pid is checked) or after any I/O error.
 */
#include "compat.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "mail/sasl.h"
#include "mail/sasl_backend.h"
#include "util/base64.h"
#include "util/mem.h"

#define MAX_LINE	65536	/* Dovecot expects lines to fit 16 KiB */
#define MAX_FIELDS	64

struct conn {
	int fd;
	pid_t pid;
	unsigned gen;		/* bumped at every new connection and at its end */
	bool dead;		/* shut down, waiting for its reader to close it */
	char *path;
	struct buf in;		/* bytes read, not yet split into lines */
	struct buf mechs;	/* from the handshake */
};

/* An answer (OK, CONT or FAIL line) read for some exchange. */
struct answer {
	unsigned id, gen;
	char *line;
	struct answer *next;
};
#define MAX_ANSWERS 1024	/* late answers to freed exchanges are dropped */

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t arrived = PTHREAD_COND_INITIALIZER;
static struct conn conn = {.fd = -1, .in = BUF_INIT, .mechs = BUF_INIT};
static unsigned next_id;
/* One thread at a time reads the socket (without the lock) and files
 * what it reads here for the others: a slow answer (Dovecot delays
 * failures) never holds up the other exchanges. */
static bool reading;
static struct answer *answers;
static unsigned nanswers;

struct dovecot_exchange {
	char *path;
	int timeout;
	unsigned id;		/* 0 until AUTH was sent */
	unsigned gen;		/* connection it was sent on */
	bool finished;		/* OK or FAIL seen */
};

int dovecot_split(char *line, char **fields, int max)
{
	int n = 0;
	bool nul = false;
	char *p = line;
	while (n < max) {
		fields[n++] = p;
		char *tab = strchr(p, '\t');
		if (tab)
			*tab = '\0';
		/* Undo \001 escapes: 0 NUL, 1 \001, t TAB, r CR, n or l LF. */
		char *w = p;
		for (char *r = p; *r; r++) {
			if (*r != '\001' || r[1] == '\0') {
				*w++ = *r;
				continue;
			}
			r++;
			switch (*r) {
			case '0': nul = true; break;	/* never wanted here */
			case '1': *w++ = '\001'; break;
			case 't': *w++ = '\t'; break;
			case 'r': *w++ = '\r'; break;
			case 'n': case 'l': *w++ = '\n'; break;
			default: *w++ = *r; break;
			}
		}
		*w = '\0';
		if (!tab)
			break;
		p = tab + 1;
	}
	return nul ? -1 : n;
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void conn_close(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->dead = false;
	buf_reset(&c->in);
}

/* With the lock held: end the shared connection. When another thread is
 * reading it, shut it down instead; that reader then closes it. */
static void shared_close(void)
{
	if (reading) {
		if (conn.fd >= 0)
			shutdown(conn.fd, SHUT_RDWR);
		conn.dead = true;
	} else {
		conn_close(&conn);
	}
	conn.gen++;	/* exchanges sent on it are lost */
	pthread_cond_broadcast(&arrived);
}

static void drop_answers(unsigned id, bool all)
{
	for (struct answer **ap = &answers; *ap;) {
		struct answer *a = *ap;
		if (all || a->id == id) {
			*ap = a->next;
			free(a->line);
			free(a);
			nanswers--;
		} else {
			ap = &a->next;
		}
	}
}

static int write_all(int fd, const char *p, size_t len, struct buf *err)
{
	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			buf_printf(err, "write to Dovecot: %m");
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* One line without its LF into line (NUL-terminated). 0 ok; -1 err. */
static int read_line(struct conn *c, long long deadline, struct buf *line, struct buf *err)
{
	for (;;) {
		char *lf = memchr(c->in.data ? c->in.data : "", '\n', c->in.len);
		if (lf) {
			size_t n = (size_t)(lf - c->in.data);
			buf_reset(line);
			buf_add(line, c->in.data, n);
			buf_consume(&c->in, n + 1);
			if (memchr(line->data, '\0', line->len)) {
				buf_adds(err, "NUL in a line from Dovecot");
				return -1;
			}
			return 0;
		}
		if (c->in.len > MAX_LINE) {
			buf_adds(err, "line from Dovecot too long");
			return -1;
		}
		long long left = deadline - now_ms();
		if (left <= 0) {
			buf_adds(err, "timeout waiting for Dovecot");
			return -1;
		}
		struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
		int r = poll(&pfd, 1, (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			buf_printf(err, "poll: %m");
			return -1;
		}
		if (r == 0)
			continue;
		buf_reserve(&c->in, 4096);
		ssize_t n = read(c->fd, c->in.data + c->in.len, 4096);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			buf_printf(err, "read from Dovecot: %m");
			return -1;
		}
		if (n == 0) {
			buf_adds(err, "Dovecot closed the connection");
			return -1;
		}
		c->in.len += (size_t)n;
		c->in.data[c->in.len] = '\0';
	}
}

/* Connect and read the handshake up to DONE. */
static int conn_open(struct conn *c, const char *path, int timeout, struct buf *err)
{
	conn_close(c);
	buf_reset(&c->mechs);
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	if (strlcpy(sun.sun_path, path, sizeof sun.sun_path) >= sizeof sun.sun_path) {
		buf_printf(err, "Dovecot socket path too long: %s", path);
		return -1;
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		buf_printf(err, "socket: %m");
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&sun, sizeof sun) < 0) {
		buf_printf(err, "connect to Dovecot at %s: %m", path);
		close(fd);
		return -1;
	}
	c->fd = fd;
	c->pid = getpid();
	c->gen++;
	free(c->path);
	c->path = xstrdup(path);

	struct buf out = BUF_INIT, line = BUF_INIT;
	buf_printf(&out, "VERSION\t1\t2\nCPID\t%ld\n", (long)c->pid);
	int rc = write_all(fd, out.data, out.len, err);
	long long deadline = now_ms() + (long long)timeout * 1000;
	bool version_seen = false;
	while (rc == 0) {
		if (read_line(c, deadline, &line, err) < 0) {
			rc = -1;
			break;
		}
		char *f[MAX_FIELDS];
		int n = dovecot_split(line.data, f, MAX_FIELDS);
		if (n < 0) {
			buf_adds(err, "escaped NUL from Dovecot");
			rc = -1;
		} else if (strcmp(f[0], "VERSION") == 0) {
			if (n < 3 || strcmp(f[1], "1") != 0) {
				buf_printf(err, "Dovecot speaks protocol version %s, not 1",
					   n > 1 ? f[1] : "?");
				rc = -1;
			}
			version_seen = true;
		} else if (!version_seen) {
			buf_adds(err, "Dovecot did not start with VERSION");
			rc = -1;
		} else if (strcmp(f[0], "MECH") == 0 && n >= 2) {
			bool offer = f[1][0] != '\0';
			for (int i = 2; i < n; i++)
				if (strcmp(f[i], "private") == 0 || strcmp(f[i], "anonymous") == 0)
					offer = false;
			for (const char *p = f[1]; *p; p++)
				if (!((*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
				      *p == '-' || *p == '_'))
					offer = false;	/* not an RFC 4422 mechanism name */
			if (offer) {
				if (c->mechs.len)
					buf_addc(&c->mechs, ' ');
				buf_adds(&c->mechs, f[1]);
			}
		} else if (strcmp(f[0], "DONE") == 0) {
			break;
		}
		/* SPID, CUID, COOKIE and anything newer: not needed. */
	}
	buf_free(&out);
	buf_free(&line);
	if (rc < 0)
		conn_close(c);
	return rc;
}

int dovecot_probe(const char *path, int timeout, struct buf *mechs, struct buf *err)
{
	struct conn c = {.fd = -1, .in = BUF_INIT, .mechs = BUF_INIT};
	int rc = conn_open(&c, path, timeout > 0 ? timeout : 30, err);
	if (rc == 0) {
		buf_reset(mechs);
		buf_add(mechs, c.mechs.data, c.mechs.len);
	}
	conn_close(&c);
	buf_free(&c.in);
	buf_free(&c.mechs);
	free(c.path);
	return rc;
}

struct dovecot_exchange *dovecot_exchange_new(const char *path, int timeout)
{
	struct dovecot_exchange *x = xcalloc(1, sizeof *x);
	x->path = xstrdup(path);
	x->timeout = timeout > 0 ? timeout : 30;
	return x;
}

static bool mech_offered(const char *mechs, const char *mech)
{
	size_t len = strlen(mech);
	for (const char *p = mechs; *p;) {
		size_t n = strcspn(p, " ");
		if (n == len && strncasecmp(p, mech, len) == 0)
			return true;
		p += n;
		p += strspn(p, " ");
	}
	return false;
}

/* An address we may put in the protocol: digits, hex, dots, colons. */
static bool addr_ok(const char *a)
{
	if (a == NULL || *a == '\0' || strlen(a) > 64)
		return false;
	return strspn(a, "0123456789abcdefABCDEF.:") == strlen(a);
}

/* With the lock held: the process's connection, (re)made as needed. */
static int conn_ready(const struct dovecot_exchange *x, struct buf *err)
{
	if (conn.fd >= 0 && conn.pid != getpid()) {
		close(conn.fd);		/* the parent's: never talk on it */
		conn.fd = -1;
		conn.dead = false;
		reading = false;	/* that was a thread of the parent */
		drop_answers(0, true);
		buf_reset(&conn.in);
	}
	if (conn.fd >= 0 && !conn.dead && conn.path && strcmp(conn.path, x->path) == 0)
		return 0;
	if (reading) {
		/* Never replace a socket another thread is reading. */
		buf_adds(err, "connection to Dovecot is being reset");
		return -1;
	}
	drop_answers(0, true);
	return conn_open(&conn, x->path, x->timeout, err);
}

/* With the lock held: file the complete lines in conn.in as answers. */
static int file_answers(struct buf *err)
{
	struct buf line = BUF_INIT;
	int rc = 0;
	char *lf;
	while (rc == 0 && conn.in.len && (lf = memchr(conn.in.data, '\n', conn.in.len))) {
		size_t n = (size_t)(lf - conn.in.data);
		buf_reset(&line);
		buf_add(&line, conn.in.data, n);
		buf_consume(&conn.in, n + 1);
		if (memchr(line.data, '\0', line.len)) {
			buf_adds(err, "NUL in a line from Dovecot");
			rc = -1;
			break;
		}
		/* Only the id is looked at here; the owner parses the rest. */
		char *tab = strchr(line.data, '\t');
		if (tab == NULL)
			continue;
		size_t cmdlen = (size_t)(tab - line.data);
		if (!(cmdlen == 2 && strncmp(line.data, "OK", 2) == 0) &&
		    !(cmdlen == 4 && strncmp(line.data, "CONT", 4) == 0) &&
		    !(cmdlen == 4 && strncmp(line.data, "FAIL", 4) == 0))
			continue;
		unsigned long id = strtoul(tab + 1, NULL, 10);
		if (id == 0 || nanswers >= MAX_ANSWERS)
			continue;
		struct answer *a = xcalloc(1, sizeof *a);
		a->id = (unsigned)id;
		a->gen = conn.gen;
		a->line = buf_steal(&line);
		a->next = answers;
		answers = a;
		nanswers++;
	}
	if (rc == 0 && conn.in.len > MAX_LINE) {
		buf_adds(err, "line from Dovecot too long");
		rc = -1;
	}
	buf_free(&line);
	return rc;
}

/* With the lock held: wait for the answer to x's request, reading the
 * socket ourselves when no other thread is. 0 ok with the line. */
static int wait_answer(const struct dovecot_exchange *x, long long deadline, struct buf *line,
		       struct buf *err)
{
	for (;;) {
		for (struct answer **ap = &answers; *ap; ap = &(*ap)->next) {
			struct answer *a = *ap;
			if (a->id == x->id && a->gen == x->gen) {
				*ap = a->next;
				buf_reset(line);
				buf_adds(line, a->line);
				free(a->line);
				free(a);
				nanswers--;
				return 0;
			}
		}
		if (conn.gen != x->gen || conn.fd < 0 || conn.dead) {
			buf_adds(err, "connection to Dovecot lost");
			return -1;
		}
		long long left = deadline - now_ms();
		if (left <= 0) {
			buf_adds(err, "timeout waiting for Dovecot");
			shared_close();
			return -1;
		}
		if (reading) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			long long wait = left < 200 ? left : 200;
			ts.tv_sec += wait / 1000;
			ts.tv_nsec += (wait % 1000) * 1000000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			pthread_cond_timedwait(&arrived, &lock, &ts);
			continue;
		}
		reading = true;
		int fd = conn.fd;
		unsigned gen = conn.gen;
		pthread_mutex_unlock(&lock);
		char chunk[4096];
		ssize_t got = -2;	/* -2: nothing read yet */
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		int r = poll(&pfd, 1, (int)(left < 200 ? left : 200));
		int saved = errno;
		if (r > 0) {
			got = read(fd, chunk, sizeof chunk);
			saved = errno;
		}
		pthread_mutex_lock(&lock);
		reading = false;
		bool broken = false;
		if (r < 0 && saved != EINTR) {
			errno = saved;
			buf_printf(err, "poll: %m");
			broken = true;
		} else if (got == 0) {
			buf_adds(err, "Dovecot closed the connection");
			broken = true;
		} else if (got == -1 && saved != EINTR && saved != EAGAIN) {
			errno = saved;
			buf_printf(err, "read from Dovecot: %m");
			broken = true;
		} else if (got > 0 && gen == conn.gen) {
			buf_add(&conn.in, chunk, (size_t)got);
			if (file_answers(err) < 0)
				broken = true;
		}
		if (broken) {
			if (gen == conn.gen)
				conn.gen++;
			conn_close(&conn);	/* still ours: no one opens while we read */
			pthread_cond_broadcast(&arrived);
			return -1;
		}
		if (conn.dead)
			conn_close(&conn);	/* shut down by another thread meanwhile */
		pthread_cond_broadcast(&arrived);
	}
}

static const char *param(char **f, int n, const char *name)
{
	size_t len = strlen(name);
	for (int i = 2; i < n; i++)
		if (strncmp(f[i], name, len) == 0 && f[i][len] == '=')
			return f[i] + len + 1;
	return NULL;
}

static bool flag(char **f, int n, const char *name)
{
	for (int i = 2; i < n; i++)
		if (strcmp(f[i], name) == 0)
			return true;
	return false;
}

int dovecot_exchange_step(struct dovecot_exchange *x, const char *mech,
		const char *client_addr, bool secured, const char *data, size_t len,
		struct buf *out, struct buf *user)
{
	buf_reset(out);
	buf_reset(user);
	if (x->finished) {
		buf_adds(out, "exchange already finished");
		return SASL_FAIL;
	}
	struct buf req = BUF_INIT, line = BUF_INIT;
	int status = SASL_TEMPFAIL;
	pthread_mutex_lock(&lock);
	if (conn_ready(x, out) < 0)
		goto done;
	if (x->id == 0) {
		if (!mech_offered(conn.mechs.data ? conn.mechs.data : "", mech)) {
			buf_printf(out, "mechanism %s not offered by Dovecot", mech);
			status = SASL_FAIL;
			x->finished = true;
			goto done;
		}
		x->id = ++next_id ? next_id : ++next_id;
		x->gen = conn.gen;
		buf_printf(&req, "AUTH\t%u\t%s\tservice=smtp\tnologin\tno-penalty", x->id, mech);
		if (secured)
			buf_adds(&req, "\tsecured");
		if (addr_ok(client_addr))
			buf_printf(&req, "\trip=%s", client_addr);
		if (data) {
			/* Must be the last parameter (Dovecot ignores what follows). */
			buf_adds(&req, "\tresp=");
			base64_encode(data, len, &req);
		}
	} else {
		if (x->gen != conn.gen) {
			buf_adds(out, "connection to Dovecot was lost during the exchange");
			x->finished = true;
			goto done;
		}
		buf_printf(&req, "CONT\t%u\t", x->id);
		base64_encode(data ? data : "", data ? len : 0, &req);
	}
	buf_addc(&req, '\n');
	if (write_all(conn.fd, req.data, req.len, out) < 0) {
		shared_close();
		x->finished = true;
		goto done;
	}
	if (wait_answer(x, now_ms() + (long long)x->timeout * 1000, &line, out) < 0) {
		x->finished = true;
		goto done;
	}
	char *f[MAX_FIELDS];
	int n = dovecot_split(line.data, f, MAX_FIELDS);
	if (n < 2) {
		buf_adds(out, "escaped NUL from Dovecot");
		shared_close();
		x->finished = true;
		goto done;
	}
	if (strcmp(f[0], "OK") == 0) {
		const char *u = param(f, n, "user");
		x->finished = true;
		if (u == NULL || *u == '\0' || sasl_login_field(u, strlen(u), true) < 0) {
			buf_adds(out, "Dovecot said OK without a usable user name");
			goto done;
		}
		buf_adds(user, u);
		status = SASL_DONE;
	} else if (strcmp(f[0], "CONT") == 0) {
		const char *c = n >= 3 ? f[2] : "";
		if (!base64_decode(c, strlen(c), out)) {
			buf_reset(out);
			buf_adds(out, "Dovecot sent a challenge that is not base64");
			x->finished = true;
			goto done;
		}
		status = SASL_CONTINUE;
	} else {
		const char *reason = param(f, n, "reason");
		x->finished = true;
		status = flag(f, n, "temp") ? SASL_TEMPFAIL : SASL_FAIL;
		buf_printf(out, "Dovecot: %s", reason ? reason : "authentication failed");
	}
done:
	pthread_mutex_unlock(&lock);
	buf_free(&req);
	buf_free(&line);
	return status;
}

void dovecot_exchange_free(struct dovecot_exchange *x)
{
	if (x == NULL)
		return;
	if (x->id != 0 && !x->finished) {
		pthread_mutex_lock(&lock);
		if (conn.fd >= 0 && !conn.dead && conn.pid == getpid() && conn.gen == x->gen) {
			struct buf req = BUF_INIT, err = BUF_INIT;
			buf_printf(&req, "CANCEL\t%u\n", x->id);
			if (write_all(conn.fd, req.data, req.len, &err) < 0)
				shared_close();
			buf_free(&req);
			buf_free(&err);
		}
		drop_answers(x->id, false);
		pthread_mutex_unlock(&lock);
	}
	free(x->path);
	free(x);
}

void dovecot_disconnect(void)
{
	pthread_mutex_lock(&lock);
	drop_answers(0, true);
	if (reading) {
		shared_close();		/* its reader closes it */
		pthread_mutex_unlock(&lock);
		return;
	}
	conn_close(&conn);
	buf_free(&conn.in);
	buf_free(&conn.mechs);
	free(conn.path);
	conn.path = NULL;
	pthread_mutex_unlock(&lock);
}
