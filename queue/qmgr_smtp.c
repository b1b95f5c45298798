/*
 * qmgr_smtp.c - deliver remote recipients over SMTP: the relayhost, or
 * the domain's MX hosts (its address records when it has no MX).
 * No longer called: qmgr hands remote recipients to the smtp program
 * (smtp/, qmgr_agent.c); this file goes once smtp/smtp_deliver.c
 * replaces it.
 *
 * Runs in a delivery process of qmgr, as mail_owner (never root): it
 * only reads the queue file and talks to the network. One SMTP session
 * per next hop and message, all of its recipients in one transaction.
 * Every reply line is bounded and every wait has a deadline. The
 * message goes out with CRLF line ends and dot-stuffing; the final "."
 * is written together with the data, so no Nagle delay. STARTTLS is
 * used when the server offers it (opportunistic, like Postfix's
 * smtp_tls_security_level = may: no certificate check; a failed
 * handshake is retried once in plaintext); "encrypt" (when the
 * parameter table has smtp_tls_security_level) requires it, "none"
 * turns it off.
 *
 * Results per recipient: 2xx sent, 4xx (or no usable host) deferred,
 * 5xx bounced, with the server's reply as the reason, as Postfix logs:
 * "host mx.example[192.0.2.1] said: 550 5.1.1 ... (in reply to RCPT TO
 * command)". An NXDOMAIN for the domain bounces (5.1.2); other DNS
 * failures defer. Parameters: relayhost (via resolve), myhostname,
 * inet_protocols, smtp_connect_timeout, smtp_tls_security_level; each
 * reply is waited for at most 300 s (Postfix's smtp_*_timeout default).
 */
#include "compat.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <resolv.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "mail/cleanup.h"
#include "mail/config.h"
#include "mail/qfile.h"
#include "mail/resolve.h"
#include "mail/smtp_cmd.h"
#include "mail/smtp_reply.h"
#include "queue/qmgr.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/mem.h"

#define MAX_MX		16

struct mx {
	int pref;
	char name[256];
};

struct conn {
	int fd;
	SSL *ssl;		/* after STARTTLS */
	char relay[300];	/* host[addr]:port for logs */
	struct buf in;		/* bytes read, not yet consumed */
	int timeout;		/* seconds per reply */
	int esmtp_size, esmtp_8bit, esmtp_dsn;
	int no_tls;		/* second try after a failed handshake (may level) */
	int tls_failed;		/* the handshake failed */
};

/* --- DNS ------------------------------------------------------------------- */

static int by_pref(const void *a, const void *b)
{
	return ((const struct mx *)a)->pref - ((const struct mx *)b)->pref;
}

/* MX hosts of domain: count (0 = none, use the domain), -1 NXDOMAIN, -2 temporary. */
static int mx_lookup(const char *domain, struct mx *mx, int max)
{
	unsigned char ans[8192];
	const unsigned char *p, *end;
	int n, qd, an, count = 0;
	char name[NS_MAXDNAME];

	n = res_search(domain, ns_c_in, ns_t_mx, ans, sizeof(ans));
	if (n < 0)
		return h_errno == HOST_NOT_FOUND ? -1 : h_errno == NO_DATA ? 0 : -2;
	if (n < NS_HFIXEDSZ || n > (int)sizeof(ans))
		return -2;
	qd = ans[4] << 8 | ans[5];
	an = ans[6] << 8 | ans[7];
	p = ans + NS_HFIXEDSZ;
	end = ans + n;
	for (int i = 0; i < qd; i++) {
		int len = dn_expand(ans, end, p, name, sizeof(name));
		if (len < 0 || p + len + 4 > end)
			return -2;
		p += len + 4;
	}
	for (int i = 0; i < an && count < max; i++) {
		int len = dn_expand(ans, end, p, name, sizeof(name)), type, rdlen;
		if (len < 0 || p + len + 10 > end)
			break;
		p += len;
		type = p[0] << 8 | p[1];
		rdlen = p[8] << 8 | p[9];
		p += 10;
		if (p + rdlen > end)
			break;
		if (type == ns_t_mx && rdlen > 2) {
			mx[count].pref = p[0] << 8 | p[1];
			if (dn_expand(ans, end, p + 2, mx[count].name, sizeof(mx[count].name)) > 0)
				count++;
		}
		p += rdlen;
	}
	qsort(mx, (size_t)count, sizeof(*mx), by_pref);
	return count;
}

/* --- the connection --------------------------------------------------------- */

static int connect_timeout(const struct addrinfo *ai, int seconds)
{
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
	struct pollfd pf;
	int err = 0, one = 1;
	socklen_t len = sizeof(err);

	if (fd < 0)
		return -1;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS)
		goto fail;
	pf.fd = fd;
	pf.events = POLLOUT;
	if (poll(&pf, 1, seconds * 1000) != 1) {
		errno = ETIMEDOUT;
		goto fail;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err != 0) {
		errno = err ? err : EIO;
		goto fail;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
fail:
	err = errno;
	close(fd);
	errno = err;
	return -1;
}

static int send_all(struct conn *c, const char *data, size_t len)
{
	while (len > 0) {
		struct pollfd pf = {.fd = c->fd, .events = POLLOUT};
		ssize_t n;

		if (poll(&pf, 1, c->timeout * 1000) != 1)
			return -1;
		n = c->ssl ? SSL_write(c->ssl, data, (int)(len > 65536 ? 65536 : len))
		    : send(c->fd, data, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

static int command(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int command(struct conn *c, const char *fmt, ...)
{
	struct buf line = BUF_INIT;
	va_list ap;
	int ret;

	va_start(ap, fmt);
	buf_vprintf(&line, fmt, ap);
	va_end(ap);
	buf_adds(&line, "\r\n");
	ret = send_all(c, line.data, line.len);
	buf_free(&line);
	return ret;
}

/* One reply: its code (-1 on a broken connection, a timeout or garbage) and its text in one line. */
static int reply(struct conn *c, struct buf *text)
{
	time_t deadline = time(NULL) + c->timeout;

	for (;;) {
		char chunk[4096];
		struct pollfd pf = {.fd = c->fd, .events = POLLIN};
		int code = smtp_reply_take(&c->in, text), left;
		ssize_t n;

		if (code != 0)
			return code;
		left = (int)(deadline - time(NULL));
		if ((c->ssl == NULL || SSL_pending(c->ssl) == 0)
		    && (left <= 0 || poll(&pf, 1, left * 1000) != 1)) {
			buf_adds(text, "conversation timed out");
			return -1;
		}
		n = c->ssl ? SSL_read(c->ssl, chunk, sizeof(chunk)) : recv(c->fd, chunk, sizeof(chunk), 0);
		if (n <= 0) {
			buf_adds(text, "lost connection");
			return -1;
		}
		buf_add(&c->in, chunk, (size_t)n);
	}
}

/* --- TLS ------------------------------------------------------------------------ */

/* smtp_tls_security_level: none, may (default), encrypt. */
static const char *tls_level(void)
{
	const char *v = cfg_str(P_smtp_tls_security_level);
	return *v ? v : "may";
}

/*
 * STARTTLS was accepted: the handshake, on the blocking socket with the
 * reply timeout. Opportunistic ("may") TLS does not check the server's
 * certificate, as Postfix's may level does not. 0 ok, -1 failed.
 */
static int start_tls(struct conn *c, struct buf *why)
{
	static SSL_CTX *ctx;
	struct timeval tv = {.tv_sec = c->timeout};

	if (ctx == NULL) {
		ctx = SSL_CTX_new(TLS_client_method());
		if (ctx == NULL) {
			buf_printf(why, "cannot make a TLS context");
			return -1;
		}
		SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	}
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	c->ssl = SSL_new(ctx);
	if (c->ssl == NULL || SSL_set_fd(c->ssl, c->fd) != 1 || SSL_connect(c->ssl) != 1) {
		unsigned long e = ERR_get_error();
		buf_reset(why);
		buf_printf(why, "TLS handshake with %s failed: %s", c->relay,
		    e ? ERR_reason_error_string(e) : "connection closed");
		ERR_clear_error();
		if (c->ssl)
			SSL_free(c->ssl);
		c->ssl = NULL;
		return -1;
	}
	msg_info("Anonymous TLS connection established to %s: %s with cipher %s", c->relay,
	    SSL_get_version(c->ssl), SSL_get_cipher_name(c->ssl));
	return 0;
}

static void parse_ehlo(struct conn *c, const char *t, int *starttls)
{
	c->esmtp_size = strstr(t, " SIZE") != NULL;
	c->esmtp_8bit = strstr(t, " 8BITMIME") != NULL;
	c->esmtp_dsn = strstr(t, " DSN") != NULL;
	*starttls = strstr(t, " STARTTLS") != NULL;
}

/* --- one transaction -------------------------------------------------------- */

struct job {
	struct qfile *q;
	const char *id;
	const size_t *idx;
	size_t n;
	smtp_result_fn result;
	void *ctx;
};

static void all(struct job *j, const int *skip, int outcome, const char *relay, const char *dsn,
    const char *text)
{
	for (size_t k = 0; k < j->n; k++)
		if (skip == NULL || !skip[k])
			j->result(j->ctx, j->idx[k], outcome, relay, dsn, text);
}

static void said(struct buf *why, const struct conn *c, const char *text, const char *cmd)
{
	buf_reset(why);
	buf_printf(why, "host %s said: %s (in reply to %s command)", c->relay, text, cmd);
}

static const char *notify_words(int bits, char *out, size_t size)
{
	out[0] = '\0';
	if (bits & DSN_NOTIFY_NEVER) {
		strlcpy(out, "NEVER", size);
		return out;
	}
	if (bits & DSN_NOTIFY_SUCCESS)
		strlcat(out, "SUCCESS,", size);
	if (bits & DSN_NOTIFY_FAILURE)
		strlcat(out, "FAILURE,", size);
	if (bits & DSN_NOTIFY_DELAY)
		strlcat(out, "DELAY,", size);
	if (out[0])
		out[strlen(out) - 1] = '\0';
	return out;
}

/*
 * " ORCPT=type;xtext": the queue keeps "type;address" decoded (or, from
 * sendmail and alias expansion, a bare address, which is rfc822).
 */
static void add_orcpt(struct buf *out, const char *orcpt)
{
	const char *semi = strchr(orcpt, ';');
	const char *addr = orcpt;

	buf_adds(out, " ORCPT=");
	if (semi != NULL && semi > orcpt) {
		buf_add(out, orcpt, (size_t)(semi - orcpt) + 1);
		addr = semi + 1;
	} else {
		buf_adds(out, "rfc822;");
	}
	smtp_xtext_encode(addr, strlen(addr), out);
}

/* The content with CRLF and dot-stuffing, ending in CRLF.CRLF. */
static int send_content(struct conn *c, struct qfile *q)
{
	struct buf out = BUF_INIT;
	char chunk[16384];
	ssize_t n;
	int bol = 1, ret = 0;

	qfile_rewind(q);
	while ((n = qfile_read(q, chunk, sizeof(chunk))) > 0) {
		for (ssize_t i = 0; i < n; i++) {
			if (bol && chunk[i] == '.')
				buf_addc(&out, '.');
			if (chunk[i] == '\n')
				buf_addc(&out, '\r');
			buf_addc(&out, chunk[i]);
			bol = chunk[i] == '\n';
		}
		if (out.len > 65536) {
			if (send_all(c, out.data, out.len) < 0) {
				ret = -1;
				break;
			}
			buf_reset(&out);
		}
	}
	if (n < 0)
		ret = -1;
	if (ret == 0) {
		if (!bol)
			buf_adds(&out, "\r\n");
		buf_adds(&out, ".\r\n");
		ret = send_all(c, out.data, out.len);
	}
	buf_free(&out);
	return ret;
}

/*
 * The SMTP conversation on a connected socket. Returns 0 when it ended
 * with an answer for every recipient, 1 when the next host should be
 * tried (greeting or EHLO refused temporarily, connection lost before
 * MAIL), with the reason in why.
 */
static int session(struct conn *c, struct job *j, struct buf *why)
{
	struct buf text = BUF_INIT;
	int *done = xcalloc(j->n + 1, sizeof(int)), *accepted = xcalloc(j->n + 1, sizeof(int));
	const char *sender = qfile_sender(j->q);
	const char *body = qfile_attr(j->q, "body_type");
	const char *ret_attr = qfile_attr(j->q, "dsn_ret"), *envid = qfile_attr(j->q, "dsn_envid");
	char dsn[16];
	size_t naccepted = 0;
	int code, retval = 0;

	code = reply(c, &text);
	if (code != 220) {
		said(why, c, buf_str(&text), "initial greeting");
		retval = code >= 500 ? 0 : 1;
		if (code >= 500) {
			smtp_reply_status(code, buf_str(&text), dsn, sizeof(dsn));
			all(j, NULL, 2, c->relay, dsn, buf_str(why));
		}
		goto out;
	}
	command(c, "EHLO %s", cfg_str(P_myhostname));
	code = reply(c, &text);
	if (code == 250) {
		/* Extensions: one per line after the first. */
		int starttls;
		const char *level = tls_level();

		parse_ehlo(c, buf_str(&text), &starttls);
		if (strcmp(level, "encrypt") == 0 && !starttls) {
			buf_reset(why);
			buf_printf(why, "TLS is required, but was not offered by host %s", c->relay);
			retval = 1;
			goto out;
		}
		if (starttls && strcmp(level, "none") != 0 && !c->no_tls) {
			command(c, "STARTTLS");
			code = reply(c, &text);
			if (code == 220) {
				if (start_tls(c, why) < 0 || c->in.len > 0) {
					/* Try this host again in plaintext (may), or the next one. */
					c->tls_failed = 1;
					retval = 1;
					goto out;
				}
				command(c, "EHLO %s", cfg_str(P_myhostname));
				code = reply(c, &text);
				if (code == 250)
					parse_ehlo(c, buf_str(&text), &starttls);
			} else if (strcmp(level, "encrypt") == 0) {
				said(why, c, buf_str(&text), "STARTTLS");
				retval = 1;
				goto out;
			} else {
				code = 250;	/* STARTTLS refused: go on in plaintext */
			}
		}
	} else if (code >= 500) {
		command(c, "HELO %s", cfg_str(P_myhostname));
		code = reply(c, &text);
	}
	if (code != 250) {
		said(why, c, buf_str(&text), "EHLO");
		retval = 1;
		goto out;
	}
	{
		struct buf mail = BUF_INIT;
		buf_printf(&mail, "MAIL FROM:<%s>", sender);
		if (c->esmtp_size)
			buf_printf(&mail, " SIZE=%llu", qfile_content_size(j->q));
		if (c->esmtp_8bit && body && strcasecmp(body, "8BITMIME") == 0)
			buf_adds(&mail, " BODY=8BITMIME");
		if (c->esmtp_dsn && ret_attr && *ret_attr)
			buf_printf(&mail, " RET=%s", ret_attr);
		if (c->esmtp_dsn && envid && *envid) {
			/* Stored decoded; on the wire it is xtext again (RFC 3461 4.4). */
			buf_adds(&mail, " ENVID=");
			smtp_xtext_encode(envid, strlen(envid), &mail);
		}
		command(c, "%s", buf_str(&mail));
		buf_free(&mail);
	}
	code = reply(c, &text);
	if (code != 250) {
		if (code < 0) {
			said(why, c, buf_str(&text), "MAIL FROM");
			retval = 1;
			goto out;
		}
		said(why, c, buf_str(&text), "MAIL FROM");
		smtp_reply_status(code, buf_str(&text), dsn, sizeof(dsn));
		all(j, NULL, code >= 500 ? 2 : 1, c->relay, dsn, buf_str(why));
		goto quit;
	}
	for (size_t k = 0; k < j->n; k++) {
		const struct qfile_rcpt *rc = qfile_rcpt(j->q, j->idx[k]);
		struct buf rcpt = BUF_INIT;
		char words[64];
		struct resolved rv;

		/*
		 * The address as resolved: user%other@here and site!user@here
		 * go out as user@other and user@site (allow_percent_hack,
		 * swap_bangpath), as Postfix's queue manager sends them.
		 */
		resolved_init(&rv);
		if (resolve_address(rc->address, &rv) == 0 && rv.class == RESOLVE_RELAY
		    && strcasecmp(buf_str(&rv.address), rc->address) != 0)
			buf_printf(&rcpt, "RCPT TO:<%s>", buf_str(&rv.address));
		else
			buf_printf(&rcpt, "RCPT TO:<%s>", rc->address);
		resolved_free(&rv);
		if (c->esmtp_dsn && rc->notify)
			buf_printf(&rcpt, " NOTIFY=%s", notify_words(rc->notify, words, sizeof(words)));
		if (c->esmtp_dsn && *rc->orcpt)
			add_orcpt(&rcpt, rc->orcpt);
		command(c, "%s", buf_str(&rcpt));
		buf_free(&rcpt);
		code = reply(c, &text);
		if (code == 250 || code == 251) {
			accepted[k] = 1;
			naccepted++;
		} else {
			said(why, c, buf_str(&text), "RCPT TO");
			smtp_reply_status(code < 0 ? 400 : code, buf_str(&text), dsn, sizeof(dsn));
			j->result(j->ctx, j->idx[k], code >= 500 ? 2 : 1, c->relay, dsn, buf_str(why));
			done[k] = 1;
			if (code < 0) {
				/* The connection is gone: the rest are deferred. */
				all(j, done, 1, c->relay, "4.4.2", buf_str(why));
				goto out;
			}
		}
	}
	if (naccepted == 0)
		goto quit;
	command(c, "DATA");
	code = reply(c, &text);
	if (code != 354) {
		said(why, c, buf_str(&text), "DATA");
		smtp_reply_status(code < 0 ? 400 : code, buf_str(&text), dsn, sizeof(dsn));
		all(j, done, code >= 500 ? 2 : 1, c->relay, dsn, buf_str(why));
		goto quit;
	}
	if (send_content(c, j->q) < 0) {
		buf_reset(why);
		buf_printf(why, "lost connection with %s while sending message body", c->relay);
		all(j, done, 1, c->relay, "4.4.2", buf_str(why));
		goto out;
	}
	code = reply(c, &text);
	if (code == 250) {
		smtp_reply_status(code, buf_str(&text), dsn, sizeof(dsn));
		/* A server that does DSN got each NOTIFY and reports success itself. */
		all(j, done, c->esmtp_dsn ? QMGR_SMTP_SENT_DSN : 0, c->relay, dsn, buf_str(&text));
	} else {
		said(why, c, buf_str(&text), "end of DATA");
		smtp_reply_status(code < 0 ? 400 : code, buf_str(&text), dsn, sizeof(dsn));
		all(j, done, code >= 500 ? 2 : 1, c->relay, dsn, buf_str(why));
	}
quit:
	command(c, "QUIT");
	reply(c, &text);
out:
	free(done);
	free(accepted);
	buf_free(&text);
	return retval;
}

/* --- the next hop ------------------------------------------------------------- */

void qmgr_smtp(struct qfile *q, const char *id, const char *nexthop, const size_t *idx, size_t n,
    smtp_result_fn result, void *ctx)
{
	struct job j = {.q = q, .id = id, .idx = idx, .n = n, .result = result, .ctx = ctx};
	struct mx mx[MAX_MX];
	char host[300], port[16] = "25";
	struct buf why = BUF_INIT;
	int nmx = 0, connect_timeout_s = (int)cfg_int(P_smtp_connect_timeout);
	const char *protocols = cfg_str(P_inet_protocols);
	int family = strcmp(protocols, "ipv4") == 0 ? AF_INET
	    : strcmp(protocols, "ipv6") == 0 ? AF_INET6 : AF_UNSPEC;

	/* [host]:port or [addr]: no MX lookup; host[:port]: MX lookup. */
	if (nexthop[0] == '[') {
		const char *close = strchr(nexthop, ']');
		size_t len = close ? (size_t)(close - nexthop - 1) : 0;
		if (close == NULL || len == 0 || len >= sizeof(host)) {
			all(&j, NULL, 1, "none", "4.3.5", "bad next hop (relayhost)");
			return;
		}
		memcpy(host, nexthop + 1, len);
		host[len] = '\0';
		if (close[1] == ':')
			strlcpy(port, close + 2, sizeof(port));
		strlcpy(mx[0].name, host, sizeof(mx[0].name));
		nmx = 1;
	} else {
		const char *colon = strrchr(nexthop, ':');
		size_t len = colon ? (size_t)(colon - nexthop) : strlen(nexthop);
		if (len >= sizeof(host))
			len = sizeof(host) - 1;
		memcpy(host, nexthop, len);
		host[len] = '\0';
		if (colon)
			strlcpy(port, colon + 1, sizeof(port));
		nmx = mx_lookup(host, mx, MAX_MX);
		if (nmx == -1) {
			buf_printf(&why, "Host or domain name not found. Name service error for name=%s "
			    "type=MX: Host not found", host);
			all(&j, NULL, 2, "none", "5.1.2", buf_str(&why));
			goto out;
		}
		if (nmx < 0) {
			buf_printf(&why, "Host or domain name not found. Name service error for name=%s "
			    "type=MX: Host not found, try again", host);
			all(&j, NULL, 1, "none", "4.4.3", buf_str(&why));
			goto out;
		}
		if (nmx == 0) {
			strlcpy(mx[0].name, host, sizeof(mx[0].name));
			nmx = 1;
		}
	}
	buf_printf(&why, "no usable address for %s", host);
	for (int m = 0; m < nmx; m++) {
		struct addrinfo hints = {.ai_family = family, .ai_socktype = SOCK_STREAM}, *res = NULL;
		int gai = getaddrinfo(mx[m].name, port, &hints, &res);

		if (gai != 0) {
			buf_reset(&why);
			buf_printf(&why, "Host or domain name not found. Name service error for name=%s "
			    "type=A: %s", mx[m].name, gai_strerror(gai));
			continue;
		}
		for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
			char addr[INET6_ADDRSTRLEN] = "?";
			struct conn c = {.timeout = 300};

			getnameinfo(ai->ai_addr, ai->ai_addrlen, addr, sizeof(addr), NULL, 0, NI_NUMERICHOST);
			snprintf(c.relay, sizeof(c.relay), "%s[%s]:%s", mx[m].name, addr, port);
			c.fd = connect_timeout(ai, connect_timeout_s);
			if (c.fd < 0) {
				buf_reset(&why);
				buf_printf(&why, "connect to %s: %s", c.relay, strerror(errno));
				continue;
			}
			buf_init(&c.in);
			int r = session(&c, &j, &why);
			if (c.ssl) {
				SSL_shutdown(c.ssl);
				SSL_free(c.ssl);
				c.ssl = NULL;
			}
			close(c.fd);
			buf_free(&c.in);
			if (r != 0 && c.tls_failed && strcmp(tls_level(), "may") == 0) {
				/* Opportunistic TLS failed: the same address once more without it. */
				struct conn p = {.timeout = c.timeout, .no_tls = 1};
				strlcpy(p.relay, c.relay, sizeof(p.relay));
				p.fd = connect_timeout(ai, connect_timeout_s);
				if (p.fd >= 0) {
					buf_init(&p.in);
					r = session(&p, &j, &why);
					close(p.fd);
					buf_free(&p.in);
				}
			}
			if (r == 0) {
				freeaddrinfo(res);
				goto out;
			}
		}
		freeaddrinfo(res);
	}
	all(&j, NULL, 1, "none", "4.4.1", buf_str(&why));
out:
	buf_free(&why);
}
