/*
 * smtp_tls.c - the SMTP client's TLS handshake on OpenSSL 3: the one
 * client context (trusted CAs from smtp_tls_CAfile / smtp_tls_CApath or
 * the system store), per-connection protocols and ciphers, certificate
 * verification with the match names of the level (verify, secure), DANE
 * authentication by TLSA records (dane, dane-only), a cache of sessions
 * per server and policy so that the next connection resumes, and the
 * trust words Postfix logs (Anonymous, Untrusted, Trusted, Verified).
 *
 * Part of smtp/smtp, runs as mail_owner. Everything the peer sends is
 * untrusted: names from its certificate are logged only after control
 * characters are replaced.
 */
#include "compat.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "mail/config.h"
#include "mail/tls_proto.h"
#include "smtp/smtp_tls.h"
#include "smtp/smtp_tls_int.h"
#include "util/log.h"
#include "util/mem.h"

static SSL_CTX *ctx;
/* Where the cache key of a connection hangs on its SSL (for the new-session callback). */
static int key_index = -1;

/* --- the session cache ------------------------------------------------------ */

/*
 * A session is offered again only to the same server under the same
 * policy: the key holds host, port, level, the names a certificate had
 * to match and a digest of the TLSA records, so that a session verified
 * for one set of requirements never stands in for another (a resumed
 * session is not verified again).
 */
#define CACHE_SIZE 64
static struct cache_entry {
	char *key;
	SSL_SESSION *sess;
	unsigned long long used;	/* for evicting the least recently stored */
} cache[CACHE_SIZE];
static unsigned long long cache_clock;

static struct cache_entry *cache_find(const char *key)
{
	for (size_t i = 0; i < CACHE_SIZE; i++)
		if (cache[i].key != NULL && strcmp(cache[i].key, key) == 0)
			return &cache[i];
	return NULL;
}

static void cache_drop(struct cache_entry *e)
{
	free(e->key);
	SSL_SESSION_free(e->sess);
	*e = (struct cache_entry){0};
}

/* OpenSSL calls this when a session (or a TLS 1.3 ticket) arrives: 1 = we keep it. */
static int new_session(SSL *ssl, SSL_SESSION *sess)
{
	const char *key = SSL_get_ex_data(ssl, key_index);
	if (key == NULL || !SSL_SESSION_is_resumable(sess))
		return 0;
	struct cache_entry *e = cache_find(key);
	if (e == NULL) {
		e = &cache[0];
		for (size_t i = 0; i < CACHE_SIZE && e->key != NULL; i++)
			if (cache[i].key == NULL || cache[i].used < e->used)
				e = &cache[i];
		if (e->key != NULL)
			cache_drop(e);
		e->key = xstrdup(key);
	} else {
		SSL_SESSION_free(e->sess);
	}
	e->sess = sess;
	e->used = ++cache_clock;
	return 1;
}

static void free_key(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	(void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
	free(ptr);
}

/* --- the context ------------------------------------------------------------ */

static void ssl_error(struct buf *b, const char *what)
{
	unsigned long e = ERR_get_error();
	char text[256];
	if (e != 0) {
		ERR_error_string_n(e, text, sizeof(text));
		buf_printf(b, "%s: %s", what, text);
	} else {
		buf_adds(b, what);
	}
	ERR_clear_error();
}

int smtp_tls_init(struct buf *err)
{
	if (ctx != NULL)
		return 0;
	if (key_index < 0)
		key_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, free_key);
	ctx = SSL_CTX_new(TLS_client_method());
	if (ctx == NULL || key_index < 0) {
		ssl_error(err, "cannot create the SMTP client's TLS context");
		goto fail;
	}
	const char *cafile = cfg_str(P_smtp_tls_CAfile), *capath = cfg_str(P_smtp_tls_CApath);
	if (*cafile || *capath) {
		if (SSL_CTX_load_verify_locations(ctx, *cafile ? cafile : NULL, *capath ? capath : NULL) != 1) {
			struct buf what = BUF_INIT;
			buf_printf(&what, "cannot load the trusted CAs of smtp_tls_CAfile=%s smtp_tls_CApath=%s",
				   cafile, capath);
			ssl_error(err, buf_str(&what));
			buf_free(&what);
			goto fail;
		}
	} else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
		ssl_error(err, "cannot load the system's trusted CAs");
		goto fail;
	}
	if (SSL_CTX_dane_enable(ctx) <= 0) {
		ssl_error(err, "cannot enable DANE");
		goto fail;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER
			 | SSL_MODE_RELEASE_BUFFERS);
	/* Our own cache, keyed by policy (see above), instead of OpenSSL's. */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
	SSL_CTX_sess_set_new_cb(ctx, new_session);
	return 0;
fail:
	SSL_CTX_free(ctx);
	ctx = NULL;
	return -1;
}

void smtp_tls_shutdown(void)
{
	for (size_t i = 0; i < CACHE_SIZE; i++)
		if (cache[i].key != NULL)
			cache_drop(&cache[i]);
	SSL_CTX_free(ctx);
	ctx = NULL;
	smtp_tls_policy_maps_close();
}

/* --- per connection settings -------------------------------------------------- */

static bool mandatory(enum smtp_tls_level level)
{
	return level >= SMTP_TLS_ENCRYPT;
}

static int set_protocols(SSL *ssl, const struct smtp_tls_policy *p, struct buf *why)
{
	const char *spec = p->protocols ? p->protocols
			   : cfg_str(mandatory(p->level) ? P_smtp_tls_mandatory_protocols : P_smtp_tls_protocols);
	unsigned allowed;
	struct buf err = BUF_INIT;
	if (tls_protocols_parse(spec, &allowed, &err) < 0) {
		buf_printf(why, "TLS protocols \"%s\": %s", spec, buf_str(&err));
		buf_free(&err);
		return -1;
	}
	buf_free(&err);
	/* Only TLS 1.2 and 1.3 are left (tls_proto.h): a range, never a hole. */
	int lo = (allowed & TLS_PROTO_TLSv1_2) ? TLS1_2_VERSION : TLS1_3_VERSION;
	int hi = (allowed & TLS_PROTO_TLSv1_3) ? TLS1_3_VERSION : TLS1_2_VERSION;
	if (SSL_set_min_proto_version(ssl, lo) != 1 || SSL_set_max_proto_version(ssl, hi) != 1) {
		ssl_error(why, "cannot set the TLS protocols");
		return -1;
	}
	return 0;
}

/* Postfix's grades as OpenSSL lists; see smtp_tls.h. */
static const char *cipher_list(const char *grade)
{
	if (strcasecmp(grade, "high") == 0)
		return "HIGH:!aNULL:!eNULL:!MD5:!RC4:!3DES:!CAMELLIA:!ARIA:!SHA1";
	return "HIGH:MEDIUM:!aNULL:!eNULL:!MD5:!RC4:!3DES:!DES:!EXPORT:!PSK:!SRP";
}

static int set_ciphers(SSL *ssl, const struct smtp_tls_policy *p, struct buf *why)
{
	const char *grade = p->ciphers ? p->ciphers
			    : cfg_str(mandatory(p->level) ? P_smtp_tls_mandatory_ciphers : P_smtp_tls_ciphers);
	if (!smtp_tls_grade_ok(grade)) {
		buf_printf(why, "unknown cipher grade \"%s\"", grade);
		return -1;
	}
	if (SSL_set_cipher_list(ssl, cipher_list(grade)) != 1) {
		ssl_error(why, "cannot set the TLS ciphers");
		return -1;
	}
	return 0;
}

/*
 * The names a certificate may match, each added to the SSL: "hostname"
 * is the MX host, "nexthop" the next-hop domain, "dot-nexthop" any name
 * below it (".domain", which X509_check_host matches as a parent), other
 * words literally. The list is also added to key. Returns how many names.
 */
static int add_names(SSL *ssl, const struct smtp_tls_policy *p, const char *host, const char *nexthop,
		     struct buf *key)
{
	struct buf spec = BUF_INIT, name = BUF_INIT;
	int n = 0;

	if (p->match != NULL) {
		buf_adds(&spec, p->match);
	} else if (p->from_sts) {
		buf_adds(&spec, "hostname");	/* RFC 8461 4.1: the MX host's name, whatever main.cf says */
	} else if (p->level == SMTP_TLS_DANE || p->level == SMTP_TLS_DANE_ONLY) {
		buf_adds(&spec, "hostname:nexthop");	/* RFC 7672 3.2.2 */
	} else {
		char **list = cfg_list(p->level == SMTP_TLS_SECURE ? P_smtp_tls_secure_cert_match
						 : P_smtp_tls_verify_cert_match);
		for (size_t i = 0; list != NULL && list[i] != NULL; i++)
			buf_printf(&spec, "%s%s", i ? ":" : "", list[i]);
	}
	for (const char *s = buf_str(&spec); *s;) {
		size_t len = strcspn(s, ": \t,");
		buf_reset(&name);
		if (len == 8 && strncasecmp(s, "hostname", len) == 0)
			buf_adds(&name, host ? host : "");
		else if (len == 7 && strncasecmp(s, "nexthop", len) == 0)
			buf_adds(&name, nexthop ? nexthop : "");
		else if (len == 11 && strncasecmp(s, "dot-nexthop", len) == 0 && nexthop && *nexthop)
			buf_printf(&name, ".%s", nexthop);
		else if (!(len == 11 && strncasecmp(s, "dot-nexthop", len) == 0))
			buf_add(&name, s, len);
		s += len;
		s += strspn(s, ": \t,");
		/* A trailing dot is the same name; a bare "." would match everything. */
		if (name.len > 0 && name.data[name.len - 1] == '.')
			buf_truncate(&name, name.len - 1);
		if (name.len == 0 || strcmp(buf_str(&name), ".") == 0 || memchr(name.data, '\0', name.len))
			continue;
		if (SSL_add1_host(ssl, buf_str(&name)) != 1)
			continue;
		buf_printf(key, " %s", buf_str(&name));
		n++;
	}
	buf_free(&spec);
	buf_free(&name);
	return n;
}

/* The TLSA records as the cache key sees them: a SHA-256 of the usable ones. */
static void tlsa_digest(const struct dns_tlsa *tlsa, size_t ntlsa, struct buf *key)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char out[EVP_MAX_MD_SIZE];
	unsigned len = 0;
	if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
		goto out;
	for (size_t i = 0; i < ntlsa; i++) {
		if (!smtp_tls_tlsa_is_usable(&tlsa[i]))
			continue;
		unsigned char head[3 + sizeof(uint32_t)] = {tlsa[i].usage, tlsa[i].selector, tlsa[i].mtype};
		uint32_t l = (uint32_t)tlsa[i].len;
		memcpy(head + 3, &l, sizeof(l));
		EVP_DigestUpdate(md, head, sizeof(head));
		EVP_DigestUpdate(md, tlsa[i].data, tlsa[i].len);
	}
	if (EVP_DigestFinal_ex(md, out, &len) != 1)
		len = 0;
out:
	EVP_MD_CTX_free(md);
	buf_adds(key, " tlsa=");
	for (unsigned i = 0; i < len && i < 8; i++)
		buf_printf(key, "%02x", out[i]);
}

/* --- the handshake ---------------------------------------------------------- */

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Printable copy of what the peer's certificate says (control bytes become '?'). */
static void peer_names(SSL *ssl, struct smtp_tls_info *info)
{
	X509 *cert = SSL_get0_peer_certificate(ssl);
	info->peer_cn[0] = '\0';
	if (cert == NULL)
		return;
	X509_NAME *subject = X509_get_subject_name(cert);
	int i = subject ? X509_NAME_get_index_by_NID(subject, NID_commonName, -1) : -1;
	if (i < 0)
		return;
	unsigned char *utf8 = NULL;
	int n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, i)));
	if (n < 0)
		return;
	size_t k = 0;
	for (int j = 0; j < n && k + 1 < sizeof(info->peer_cn); j++)
		info->peer_cn[k++] = (utf8[j] < 0x20 || utf8[j] == 0x7f) ? '?' : (char)utf8[j];
	info->peer_cn[k] = '\0';
	OPENSSL_free(utf8);
}

/* Why verification failed, in the words the caller logs and bounces with. */
static void verify_failure(SSL *ssl, bool dane, struct buf *why)
{
	long v = SSL_get_verify_result(ssl);
	if (v == X509_V_ERR_DANE_NO_MATCH || (dane && v != X509_V_ERR_HOSTNAME_MISMATCH))
		buf_printf(why, "TLSA records do not match (%s)", X509_verify_cert_error_string(v));
	else if (v == X509_V_ERR_HOSTNAME_MISMATCH)
		buf_adds(why, "Server certificate not verified: certificate name mismatch");
	else
		buf_printf(why, "Server certificate not verified: %s", X509_verify_cert_error_string(v));
}

/* SSL_connect until done or the deadline: 1 done, 0 failed (why), -1 timed out. */
static int handshake(SSL *ssl, int fd, long long deadline_ms, struct buf *why)
{
	for (;;) {
		ERR_clear_error();
		int rc = SSL_connect(ssl);
		if (rc == 1)
			return 1;
		int e = SSL_get_error(ssl, rc);
		short events;
		if (e == SSL_ERROR_WANT_READ)
			events = POLLIN;
		else if (e == SSL_ERROR_WANT_WRITE)
			events = POLLOUT;
		else {
			if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)
				buf_adds(why, errno ? strerror(errno) : "connection closed during the TLS handshake");
			else
				ssl_error(why, "TLS handshake failed");
			return 0;
		}
		struct pollfd pfd = {.fd = fd, .events = events};
		long long left = deadline_ms - now_ms();
		if (left <= 0)
			return -1;
		int n = poll(&pfd, 1, left > 60000 ? 60000 : (int)left);
		if (n < 0 && errno != EINTR) {
			buf_printf(why, "poll: %s", strerror(errno));
			return 0;
		}
	}
}

SSL *smtp_tls_connect_port(int fd, const char *host, unsigned port, const char *nexthop_domain,
			   const struct smtp_tls_policy *p, const struct dns_tlsa *tlsa, size_t ntlsa,
			   long long deadline_ms, struct smtp_tls_info *info, struct buf *why)
{
	struct buf key = BUF_INIT;
	enum smtp_tls_level level = smtp_tls_effective_level(p->level, tlsa, ntlsa);
	bool dane = level == SMTP_TLS_DANE || level == SMTP_TLS_DANE_ONLY;
	bool verify = dane || level == SMTP_TLS_VERIFY || level == SMTP_TLS_SECURE;
	SSL *ssl = NULL;
	int flags = -1;

	*info = (struct smtp_tls_info){.trust = "Anonymous"};
	if (ctx == NULL && smtp_tls_init(why) < 0)
		return NULL;
	if (host == NULL || *host == '\0') {
		buf_adds(why, "no server name for TLS");
		return NULL;
	}
	if (level == SMTP_TLS_NONE) {
		buf_adds(why, "TLS is off for this destination");
		return NULL;
	}
	if (level == SMTP_TLS_DANE_ONLY && smtp_tls_tlsa_usable(tlsa, ntlsa) == 0) {
		buf_adds(why, "no usable TLSA records (dane-only)");
		return NULL;
	}
	ssl = SSL_new(ctx);
	if (ssl == NULL) {
		ssl_error(why, "cannot create a TLS connection");
		return NULL;
	}
	if (set_protocols(ssl, p, why) < 0 || set_ciphers(ssl, p, why) < 0)
		goto fail;
	unsigned char addr[16];
	bool literal = inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1;
	if (!literal && SSL_set_tlsext_host_name(ssl, host) != 1) {
		ssl_error(why, "cannot set the TLS server name");
		goto fail;
	}
	buf_printf(&key, "%s:%u %s%s", host, port, smtp_tls_level_name(level), p->from_sts ? " sts" : "");
	if (verify) {
		SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		if (dane) {
			/* The TLSA base domain is the MX host; SNI is that name too (RFC 7672 8.1). */
			if (SSL_dane_enable(ssl, host) <= 0) {
				ssl_error(why, "cannot enable DANE");
				goto fail;
			}
			SSL_dane_set_flags(ssl, DANE_FLAG_NO_DANE_EE_NAMECHECKS);
			int added = 0;
			for (size_t i = 0; i < ntlsa; i++) {
				if (!smtp_tls_tlsa_is_usable(&tlsa[i]))
					continue;	/* PKIX-TA/PKIX-EE: RFC 7672 3.1.3 */
				int rc = SSL_dane_tlsa_add(ssl, tlsa[i].usage, tlsa[i].selector, tlsa[i].mtype,
							   tlsa[i].data, tlsa[i].len);
				if (rc > 0)
					added++;
				ERR_clear_error();
			}
			if (added == 0) {
				buf_adds(why, "no usable TLSA records");
				goto fail;
			}
			tlsa_digest(tlsa, ntlsa, &key);
		}
		if (add_names(ssl, p, host, nexthop_domain, &key) == 0 && !dane) {
			buf_adds(why, "no certificate names to match (smtp_tls_*_cert_match or match=)");
			goto fail;
		}
		SSL_set_verify(ssl, SSL_VERIFY_PEER, NULL);
	} else {
		SSL_set_verify(ssl, SSL_VERIFY_NONE, NULL);
	}
	if (p->protocols != NULL || p->ciphers != NULL)
		buf_printf(&key, " p=%s c=%s", p->protocols ? p->protocols : "", p->ciphers ? p->ciphers : "");
	struct cache_entry *e = cache_find(buf_str(&key));
	if (e != NULL && SSL_SESSION_is_resumable(e->sess))
		SSL_set_session(ssl, e->sess);
	if (SSL_set_ex_data(ssl, key_index, buf_steal(&key)) != 1 || SSL_set_fd(ssl, fd) != 1) {
		ssl_error(why, "cannot attach the TLS connection");
		goto fail;
	}
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
		buf_printf(why, "fcntl: %s", strerror(errno));
		goto fail;
	}
	int rc = handshake(ssl, fd, deadline_ms, why);
	if (rc < 0) {
		buf_adds(why, "timed out during the TLS handshake");
		goto fail;
	}
	if (rc == 0) {
		if (verify && SSL_get_verify_result(ssl) != X509_V_OK) {
			buf_reset(why);
			verify_failure(ssl, dane, why);
		}
		goto fail;
	}
	fcntl(fd, F_SETFL, flags);
	info->used = true;
	info->resumed = SSL_session_reused(ssl) == 1;
	/* With usable TLSA records added, OpenSSL authenticates by them alone (also what a resumed session was). */
	info->dane = dane;
	info->verified = verify;	/* with SSL_VERIFY_PEER, a finished handshake was verified */
	if (verify)
		info->trust = "Verified";
	else if (SSL_get0_peer_certificate(ssl) == NULL)
		info->trust = "Anonymous";
	else
		info->trust = SSL_get_verify_result(ssl) == X509_V_OK ? "Trusted" : "Untrusted";
	strlcpy(info->protocol, SSL_get_version(ssl), sizeof(info->protocol));
	strlcpy(info->cipher, SSL_get_cipher_name(ssl), sizeof(info->cipher));
	info->bits = SSL_get_cipher_bits(ssl, &info->alg_bits);
	peer_names(ssl, info);
	return ssl;
fail:
	if (flags >= 0)
		fcntl(fd, F_SETFL, flags);
	buf_free(&key);
	SSL_free(ssl);
	ERR_clear_error();
	return NULL;
}

SSL *smtp_tls_connect(int fd, const char *host, const char *nexthop_domain, const struct smtp_tls_policy *p,
		      const struct dns_tlsa *tlsa, size_t ntlsa, long long deadline_ms, struct smtp_tls_info *info,
		      struct buf *why)
{
	return smtp_tls_connect_port(fd, host, 25, nexthop_domain, p, tlsa, ntlsa, deadline_ms, info, why);
}

void smtp_tls_close(SSL *ssl)
{
	if (ssl == NULL)
		return;
	/* One close_notify, no waiting for the peer's: the connection ends here. */
	SSL_shutdown(ssl);
	ERR_clear_error();
	SSL_free(ssl);
}

void smtp_tls_describe(const struct smtp_tls_info *info, struct buf *out)
{
	if (!info->used) {
		buf_adds(out, "none");
		return;
	}
	buf_printf(out, "%s %s with cipher %s (%d/%d bits)%s%s", info->trust, info->protocol, info->cipher,
		   info->bits, info->alg_bits, info->dane ? " by DANE" : "", info->resumed ? " resumed" : "");
}

void smtp_tls_log_established(const struct smtp_tls_info *info, const char *relay)
{
	msg_info("%s TLS connection %s to %s: %s with cipher %s (%d/%d bits)%s", info->trust,
		 info->resumed ? "reused" : "established", relay, info->protocol, info->cipher, info->bits,
		 info->alg_bits, info->dane ? " (DANE)" : "");
}
