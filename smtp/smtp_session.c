/*
 * smtp_session.c - one SMTP client session over a socket: the I/O around
 * the protocol engine (lib/mail/smtpc.c), TLS (smtp_tls.c) and the
 * content encoder (lib/mail/smtpc_body.c).
 *
 * Runs in the smtp program as mail_owner. The socket is non-blocking and
 * every wait is a poll() with the deadline of the stage the engine is in
 * (smtp_helo_timeout, smtp_mail_timeout, smtp_rcpt_timeout,
 * smtp_data_init_timeout, smtp_data_xfer_timeout for each write of the
 * content, smtp_data_done_timeout, smtp_quit_timeout), so a server that
 * stalls costs at most that and never more. Write errors end the session
 * at once (the engine sees EOF).
 */
#include "compat.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>

#include "mail/config.h"
#include "mail/qfile.h"
#include "mail/smtp_reply.h"
#include "mail/smtpc_body.h"
#include "smtp/smtp_int.h"
#include "util/log.h"
#include "util/mem.h"

#define IO_CHUNK	65536

long long smtp_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long long stage_timeout_ms(enum smtpc_stage st)
{
	const char *p;

	switch (st) {
	case SMTPC_ST_MAIL:
		p = P_smtp_mail_timeout;
		break;
	case SMTPC_ST_RCPT:
		p = P_smtp_rcpt_timeout;
		break;
	case SMTPC_ST_DATA:
		p = P_smtp_data_init_timeout;
		break;
	case SMTPC_ST_BODY:
	case SMTPC_ST_BDAT:
		p = P_smtp_data_xfer_timeout;
		break;
	case SMTPC_ST_DOT:
		p = P_smtp_data_done_timeout;
		break;
	case SMTPC_ST_QUIT:
		p = P_smtp_quit_timeout;
		break;
	case SMTPC_ST_STARTTLS:
		p = P_smtp_starttls_timeout;
		break;
	default:
		p = P_smtp_helo_timeout;
		break;
	}
	return cfg_int(p) * 1000;
}

/* Wait for events on fd until deadline: 1 ready, 0 timed out, -1 error. */
static int wait_fd(int fd, short events, long long deadline)
{
	for (;;) {
		long long left = deadline - smtp_now_ms();
		struct pollfd p = {.fd = fd, .events = events};
		int rc;

		if (left <= 0)
			return 0;
		rc = poll(&p, 1, left > 1000000 ? 1000000 : (int)left);
		if (rc > 0)
			return 1;
		if (rc < 0 && errno != EINTR)
			return -1;
	}
}

/* Write all of data before deadline: 0, or -1 (timeout, error). */
static int sess_write(struct smtp_sess *s, const char *data, size_t len, long long deadline)
{
	while (len > 0) {
		ssize_t n;
		short ev = POLLOUT;
		int rc;

		if (s->ssl != NULL) {
			int w = SSL_write(s->ssl, data, len > INT32_MAX ? INT32_MAX : (int)len);
			if (w > 0) {
				n = w;
			} else {
				int e = SSL_get_error(s->ssl, w);
				if (e == SSL_ERROR_WANT_READ)
					ev = POLLIN;
				else if (e != SSL_ERROR_WANT_WRITE)
					return -1;
				n = -1;
				errno = EAGAIN;
			}
		} else {
			n = send(s->fd, data, len, MSG_NOSIGNAL);
		}
		if (n > 0) {
			data += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			return -1;
		if ((rc = wait_fd(s->fd, ev, deadline)) <= 0) {
			s->timed_out = rc == 0;
			return -1;
		}
	}
	return 0;
}

/* Read what is there (waiting until deadline): >0 bytes, 0 EOF, -1 error/timeout. */
static ssize_t sess_read(struct smtp_sess *s, char *data, size_t size, long long deadline)
{
	for (;;) {
		ssize_t n;
		short ev = POLLIN;
		int rc;

		if (s->ssl != NULL) {
			int r = SSL_read(s->ssl, data, size > INT32_MAX ? INT32_MAX : (int)size);
			if (r > 0)
				return r;
			int e = SSL_get_error(s->ssl, r);
			if (e == SSL_ERROR_ZERO_RETURN)
				return 0;
			if (e == SSL_ERROR_WANT_WRITE)
				ev = POLLOUT;
			else if (e != SSL_ERROR_WANT_READ)
				return e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0 ? 0 : -1;
		} else {
			n = recv(s->fd, data, size, 0);
			if (n >= 0)
				return n;
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				return -1;
		}
		if ((rc = wait_fd(s->fd, ev, deadline)) <= 0) {
			s->timed_out = rc == 0;
			return -1;
		}
	}
}

/* Give the engine the server's next bytes; false when the session is over. */
static bool pump_read(struct smtp_sess *s)
{
	char in[8192];
	ssize_t n = sess_read(s, in, sizeof(in), smtp_now_ms() + stage_timeout_ms(smtpc_stage(s->pc)));

	if (n <= 0) {
		s->broken = true;
		smtpc_eof(s->pc);
		return false;
	}
	smtpc_input(s->pc, in, (size_t)n);
	return true;
}

static bool pump_write(struct smtp_sess *s)
{
	struct buf *out = smtpc_output(s->pc);

	if (out->len > 0 && sess_write(s, out->data, out->len,
	    smtp_now_ms() + stage_timeout_ms(smtpc_stage(s->pc))) < 0) {
		s->broken = true;
		smtpc_output_sent(s->pc);
		smtpc_eof(s->pc);
		return false;
	}
	smtpc_output_sent(s->pc);
	return true;
}

/*
 * Stream the content: DATA (dot-stuffed, then ".") or BDAT chunks. The
 * encoder converts 8-bit MIME to quoted-printable when the server lacks
 * 8BITMIME and breaks over-long lines (smtp_line_length_limit).
 */
static bool send_content(struct smtp_sess *s, struct qfile *q, const struct buf *content,
    bool content_8bit)
{
	const struct smtpc_caps *caps = smtpc_caps(s->pc);
	bool bdat = smtpc_chunking(s->pc);
	unsigned flags = bdat ? 0 : SMTPC_BODY_DOTS;
	struct smtpc_body enc;
	/*
	 * Kept from one message to the next (one delivery at a time in this
	 * process): a 64 KiB buffer freed per message let malloc give its
	 * pages back and fault them in again for the next.
	 */
	static struct buf out = BUF_INIT;
	static char *in;
	ssize_t n;
	bool ok = true, dotted = false;
	long long xfer = stage_timeout_ms(SMTPC_ST_BODY);

	if (content_8bit && !caps->eightbitmime && !cfg_bool(P_disable_mime_output_conversion))
		flags |= SMTPC_BODY_TO_QP;
	if (in == NULL)
		in = xmalloc(IO_CHUNK);
	buf_reset(&out);
	smtpc_body_init(&enc, flags, (size_t)cfg_int(P_smtp_line_length_limit));
	qfile_rewind(q);
	for (size_t pos = 0;;) {
		const char *chunk = in;
		if (content != NULL) {
			/* Already read whole (smtp_deliver.c): from memory. */
			n = (ssize_t)(content->len - pos > IO_CHUNK ? IO_CHUNK : content->len - pos);
			chunk = content->data + pos;
			pos += (size_t)n;
		} else {
			n = qfile_read(q, in, IO_CHUNK);
		}
		/*
		 * Each piece, before it goes out, and before the end of data:
		 * the file must still be this message's. Read without its lock,
		 * it may have left active/ meanwhile (its delivery process died,
		 * another delivered it and gave it to the pool, and a writer
		 * wrote a new message over it): then what was read may be
		 * another message's, and the transfer is abandoned short of its
		 * end (the server takes nothing without it).
		 */
		if (n >= 0 && !qfile_still_there(q)) {
			msg_warn("%s: the queue file left active/ while it was sent; transfer abandoned "
				 "before its end", qfile_id(q));
			s->content_gone = true;
			n = -1;
		}
		if (n < 0) {
			ok = false;
			break;
		}
		if (n > 0)
			smtpc_body_feed(&enc, chunk, (size_t)n, &out);
		else
			smtpc_body_finish(&enc, &out);
		if (n > 0 && out.len < IO_CHUNK)
			continue;
		if (bdat) {
			smtpc_bdat(s->pc, out.len, n == 0);
			if (!pump_write(s))
				ok = false;
		} else if (n == 0) {
			/*
			 * The final "." goes in the same write as the end of the
			 * content: one segment and one system call fewer per message
			 * (with PIPELINING the server reads it all the same).
			 */
			const struct buf *dot;
			smtpc_body_done(s->pc);
			dot = smtpc_output(s->pc);
			buf_add(&out, dot->data, dot->len);
			dotted = true;
		}
		if (ok && out.len > 0 && sess_write(s, out.data, out.len, smtp_now_ms() + xfer) < 0) {
			if (dotted)
				smtpc_output_sent(s->pc);
			dotted = false;
			s->broken = true;
			smtpc_eof(s->pc);
			ok = false;
		}
		if (dotted)
			smtpc_output_sent(s->pc);
		buf_reset(&out);
		if (!ok || n == 0)
			break;
		if (bdat) {
			/* Each chunk's reply comes before the next (no BDAT pipelining here). */
			while (ok && smtpc_next(s->pc) == SMTPC_WRITE)
				ok = pump_write(s);
			while (ok && smtpc_next(s->pc) == SMTPC_READ)
				ok = pump_read(s);
			if (!ok || smtpc_next(s->pc) != SMTPC_BODY)
				break;
		}
	}
	if (ok && !bdat && !dotted)
		smtpc_body_done(s->pc);
	if (n < 0) {
		/* The queue file cannot be read: end the session, defer. */
		s->broken = true;
		smtpc_eof(s->pc);
	}
	smtpc_body_free(&enc);
	buf_reset(&out);
	return ok;
}

/*
 * Run the engine until it is READY or CLOSED. tls_* are for a STARTTLS
 * on the way (NULL when none can happen). Returns the engine's state.
 */
struct tls_args {
	const char *nexthop_domain;
	const struct smtp_tls_policy *pol;
	const struct dns_tlsa *tlsa;
	size_t ntlsa;
	struct buf *why;
	bool auth_plaintext_tls;	/* PLAIN/LOGIN allowed once TLS is on */
};

static enum smtpc_next run(struct smtp_sess *s, struct tls_args *ta, struct qfile *q,
    const struct buf *content, bool content_8bit)
{
	for (;;) {
		enum smtpc_next nx = smtpc_next(s->pc);

		switch (nx) {
		case SMTPC_WRITE:
			pump_write(s);
			break;
		case SMTPC_READ:
			pump_read(s);
			break;
		case SMTPC_TLS: {
			struct buf tmp = BUF_INIT;
			struct buf *why = ta != NULL ? ta->why : &tmp;
			long long deadline = smtp_now_ms() + stage_timeout_ms(SMTPC_ST_STARTTLS);

			s->ssl = ta == NULL ? NULL
			    : smtp_tls_connect_port(s->fd, s->host, s->port, ta->nexthop_domain, ta->pol,
				  ta->tlsa, ta->ntlsa, deadline, &s->tls, why);
			if (s->ssl == NULL) {
				s->tls_failed = true;
				s->broken = true;
			}
			if (s->ssl != NULL && ta != NULL)
				smtpc_set_auth_plaintext_ok(s->pc, ta->auth_plaintext_tls);
			smtpc_tls_done(s->pc, s->ssl != NULL);
			if (s->ssl != NULL)
				smtp_tls_log_established(&s->tls, s->relay);
			buf_free(&tmp);
			break;
		}
		case SMTPC_BODY:
			if (q == NULL) {
				s->broken = true;
				smtpc_eof(s->pc);
				break;
			}
			send_content(s, q, content, content_8bit);
			break;
		case SMTPC_READY:
		case SMTPC_CLOSED:
			return nx;
		}
	}
}

unsigned smtp_relay_name(const struct smtp_target *t, char *out, size_t size)
{
	char a[INET6_ADDRSTRLEN] = "?";
	unsigned port;

	if (t->addr.ss_family == AF_INET6) {
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)&t->addr)->sin6_addr, a, sizeof(a));
		port = ntohs(((const struct sockaddr_in6 *)&t->addr)->sin6_port);
	} else {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)&t->addr)->sin_addr, a, sizeof(a));
		port = ntohs(((const struct sockaddr_in *)&t->addr)->sin_port);
	}
	snprintf(out, size, "%s[%s]:%u", t->host, a, port);
	return port;
}

/* A non-blocking TCP connection from smtp_bind_address(6) within smtp_connect_timeout. */
static int connect_to(const struct smtp_target *t, struct buf *why, const char *relay)
{
	const char *bind_to = t->addr.ss_family == AF_INET6 ? cfg_str(P_smtp_bind_address6)
	    : cfg_str(P_smtp_bind_address);
	int fd = socket(t->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), err = 0, one = 1;
	socklen_t elen = sizeof(err);

	if (fd < 0) {
		buf_printf(why, "connect to %s: %s", relay, strerror(errno));
		return -1;
	}
	if (*bind_to) {
		struct sockaddr_storage local;
		memset(&local, 0, sizeof(local));
		local.ss_family = t->addr.ss_family;
		if ((t->addr.ss_family == AF_INET6
			    ? inet_pton(AF_INET6, bind_to, &((struct sockaddr_in6 *)&local)->sin6_addr)
			    : inet_pton(AF_INET, bind_to, &((struct sockaddr_in *)&local)->sin_addr)) != 1
		    || bind(fd, (struct sockaddr *)&local, t->alen) < 0) {
			buf_printf(why, "cannot bind to %s (smtp_bind_address): %s", bind_to,
			    strerror(errno_or(EINVAL)));
			close(fd);
			return -1;
		}
	}
	if (connect(fd, (const struct sockaddr *)&t->addr, t->alen) < 0) {
		if (errno != EINPROGRESS) {
			buf_printf(why, "connect to %s: %s", relay, strerror(errno));
			close(fd);
			return -1;
		}
		if (wait_fd(fd, POLLOUT, smtp_now_ms() + cfg_int(P_smtp_connect_timeout) * 1000) <= 0) {
			buf_printf(why, "connect to %s: Connection timed out", relay);
			close(fd);
			return -1;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0 || err != 0) {
			buf_printf(why, "connect to %s: %s", relay, strerror(err ? err : errno));
			close(fd);
			return -1;
		}
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

/* PLAIN and LOGIN are plaintext mechanisms: allowed unless the options say noplaintext. */
static bool plaintext_ok(const char *param)
{
	char **o = cfg_list(param);

	for (size_t i = 0; o != NULL && o[i] != NULL; i++)
		if (strcmp(o[i], "noplaintext") == 0)
			return false;
	return true;
}

struct smtp_sess *smtp_session_open(const struct smtp_target *t, const char *nexthop_domain,
    const struct smtp_tls_policy *pol, bool tls_off, const struct dns_tlsa *tlsa, size_t ntlsa,
    const char *user, const char *pass, struct smtp_open_fail *fail, struct buf *why)
{
	int *code = &fail->code;
	char *dsn = fail->dsn;
	size_t dsnsize = sizeof(fail->dsn);
	struct smtp_sess *s = xcalloc(1, sizeof(*s));
	bool want_tls = !tls_off && pol->level != SMTP_TLS_NONE;
	bool need_tls = smtp_tls_effective_level(pol->level, tlsa, ntlsa) >= SMTP_TLS_ENCRYPT;
	struct smtpc_conf conf = {
		.helo_name = cfg_str(P_smtp_helo_name),
		.starttls = want_tls,
		.require_tls = need_tls,
		.auth_user = user,
		.auth_pass = pass,
		.auth_plaintext_ok = false,
		.auth_mechs = cfg_str(P_smtp_sasl_mechanism_filter),
	};
	struct tls_args ta = {nexthop_domain, pol, tlsa, ntlsa, why, false};
	const char *text = "";
	enum smtpc_stage st;
	int c;

	fail->stage = SMTPC_ST_GREETING;
	fail->relay[0] = '\0';
	*code = 0;
	strlcpy(dsn, "4.4.1", dsnsize);
	buf_reset(why);
	strlcpy(s->host, t->host, sizeof(s->host));
	s->port = smtp_relay_name(t, s->relay, sizeof(s->relay));
	s->fd = connect_to(t, why, s->relay);
	if (s->fd < 0) {
		free(s);
		return NULL;
	}
	s->opened_ms = s->idle_ms = smtp_now_ms();
	conf.auth_plaintext_ok = plaintext_ok(P_smtp_sasl_security_options);
	ta.auth_plaintext_tls = plaintext_ok(P_smtp_sasl_tls_security_options);
	s->pc = smtpc_new(&conf);
	if (run(s, &ta, NULL, NULL, false) == SMTPC_READY)
		return s;
	c = smtpc_failure(s->pc, &st, &text);
	*code = c;
	fail->stage = st;
	strlcpy(fail->relay, s->relay, sizeof(fail->relay));
	if (s->tls_failed) {
		/* why already says what TLS found. */
		strlcpy(dsn, "4.7.5", dsnsize);
		if (why->len == 0)
			buf_printf(why, "Cannot start TLS: handshake failure with %s", s->relay);
	} else if (c > 0 && text != NULL && !isdigit((unsigned char)text[0])) {
		/* Tern's own refusal (TLS required and not offered, no usable AUTH): not the server's words. */
		size_t tl = strlen(text);
		buf_reset(why);
		if (tl >= 5 && strcmp(text + tl - 5, " host") == 0)
			buf_printf(why, "%s %s", text, s->relay);	/* "...not offered by host h[a]:25" */
		else
			buf_printf(why, "%s (host %s)", text, s->relay);
		strlcpy(dsn, smtpc_failure_dsn(s->pc), dsnsize);
	} else if (c > 0) {
		buf_reset(why);
		buf_printf(why, "host %s said: %s (in reply to %s command)", s->relay, text,
		    smtpc_stage_command(st));
		smtp_reply_status(c, text, dsn, dsnsize);
	} else {
		buf_reset(why);
		if (text != NULL && *text)
			buf_printf(why, "%s with %s while receiving the %s", text, s->relay,
			    smtpc_stage_command(st));
		else
			buf_printf(why, s->timed_out ? "conversation with %s timed out while receiving the %s" :
			    "lost connection with %s while receiving the %s", s->relay, smtpc_stage_command(st));
	}
	smtp_session_close(s, false);
	return NULL;
}

int smtp_session_send(struct smtp_sess *s, struct smtpc_txn *txn, struct qfile *q,
    const struct buf *content, bool content_8bit)
{
	if (smtpc_begin(s->pc, txn) < 0)
		return 0;	/* refused before sending: results are in txn */
	if (run(s, NULL, q, content, content_8bit) == SMTPC_CLOSED) {
		s->broken = true;
		return -1;
	}
	s->idle_ms = smtp_now_ms();
	return 0;
}

bool smtp_session_alive(struct smtp_sess *s)
{
	struct pollfd p = {.fd = s->fd, .events = POLLIN};

	if (s->broken)
		return false;
	/* Anything readable on an idle session is EOF or a 421: not reusable. */
	if (poll(&p, 1, 0) == 0 && (s->ssl == NULL || SSL_pending(s->ssl) == 0))
		return true;
	/* The server's own words, when it said why it is closing. */
	char in[512];
	ssize_t n = sess_read(s, in, sizeof(in), smtp_now_ms());
	enum smtpc_stage st;
	const char *text = NULL;

	if (n > 0)
		smtpc_input(s->pc, in, (size_t)n);
	if (smtpc_failure(s->pc, &st, &text) == 421 && text != NULL)
		msg_info("host %s said: %s (while the cached connection was idle)", s->relay, text);
	s->broken = true;
	return false;
}

void smtp_session_close(struct smtp_sess *s, bool quit)
{
	if (s == NULL)
		return;
	if (quit && !s->broken && smtpc_next(s->pc) == SMTPC_READY) {
		smtpc_quit(s->pc);
		run(s, NULL, NULL, NULL, false);
	}
	if (s->ssl != NULL)
		smtp_tls_close(s->ssl);
	if (s->fd >= 0)
		close(s->fd);
	if (s->pc != NULL)
		smtpc_free(s->pc);
	free(s);
}
