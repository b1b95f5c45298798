/*
 * smtpd_tls.c - smtpd's OpenSSL 3 server context: certificate and key
 * (smtpd_tls_cert_file, smtpd_tls_key_file, or smtpd_tls_chain_files),
 * protocols (smtpd_tls_protocols, or smtpd_tls_mandatory_protocols where
 * TLS is required; never below TLS 1.2), ciphers (smtpd_tls_ciphers,
 * smtpd_tls_mandatory_ciphers), and session resumption with tickets and
 * a server-side cache; and the guard on each client's first bytes that
 * refuses an oversized ClientHello (smtpd_tls_attach).
 * The certificate and key are loaded by tls_identity_load()
 * (lib/mail/tls_identity.c), which tern check uses too.
 *
 * Part of smtpd, runs as mail_owner. The files are read through the
 * descriptors ternd opened for them before it dropped privileges
 * (daemon_file(), TERN_FILES), so that a key only root may read
 * (/etc/ssl/private) works; started by hand, smtpd opens them itself.
 */
#include "compat.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include "mail/config.h"
#include "mail/daemon.h"
#include "mail/tls_identity.h"
#include "mail/tls_proto.h"
#include "smtpd/smtpd.h"
#include "util/log.h"
#include "util/mem.h"

/*
 * Postfix's protocol list as OpenSSL's range, with SSL_OP_NO_* for any
 * hole inside it. The list was checked when main.cf was loaded.
 */
static int set_protocols(SSL_CTX *ctx, const char *name, struct buf *err)
{
	static const struct {
		unsigned bit;
		int version;
		uint64_t no;
	} map[] = {
		{TLS_PROTO_TLSv1_2, TLS1_2_VERSION, SSL_OP_NO_TLSv1_2},
		{TLS_PROTO_TLSv1_3, TLS1_3_VERSION, SSL_OP_NO_TLSv1_3},
	};
	unsigned allowed;
	struct buf why = BUF_INIT;
	if (tls_protocols_parse(cfg_str(name), &allowed, &why) < 0) {
		buf_printf(err, "%s: %s", name, buf_str(&why));
		buf_free(&why);
		return -1;
	}
	buf_free(&why);
	int lo = 0, hi = 0;
	uint64_t holes = 0;
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		if (allowed & map[i].bit) {
			lo = lo ? lo : map[i].version;
			hi = map[i].version;
		} else {
			holes |= map[i].no;
		}
	}
	/* Never below TLS 1.2 (tls_proto.h): older versions are broken. */
	if (SSL_CTX_set_min_proto_version(ctx, lo) != 1 || SSL_CTX_set_max_proto_version(ctx, hi) != 1) {
		tls_ssl_error(err, "cannot set the protocols of", name);
		return -1;
	}
	SSL_CTX_set_options(ctx, holes);
	return 0;
}

/*
 * Postfix's cipher grades. OpenSSL 3 has nothing weaker than "medium"
 * that Tern would use, so low, export and null mean medium (Tern never
 * offers unauthenticated or unencrypted suites). TLS 1.3's own suites
 * are not chosen here: every one of them is strong.
 */
static const char *cipher_list(const char *grade)
{
	if (strcmp(grade, "high") == 0)
		return "HIGH:!aNULL:!eNULL:!MD5:!RC4:!3DES:!CAMELLIA:!ARIA:!SHA1";
	return "HIGH:MEDIUM:!aNULL:!eNULL:!MD5:!RC4:!3DES:!DES:!EXPORT:!PSK:!SRP";
}

SSL_CTX *smtpd_tls_init(bool mandatory, struct buf *err)
{
	const char *cert = cfg_str(P_smtpd_tls_cert_file);
	const char *key = cfg_str(P_smtpd_tls_key_file);
	char **chain = cfg_list(P_smtpd_tls_chain_files);
	bool have_chain = chain != NULL && chain[0] != NULL;

	if (*cert == '\0' && !have_chain)
		return NULL;	/* no certificate: no TLS, not an error */
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL) {
		tls_ssl_error(err, "cannot create", "TLS context");
		return NULL;
	}
	/* Where TLS is required (encrypt, wrapper mode), the mandatory settings. */
	if (set_protocols(ctx, mandatory ? P_smtpd_tls_mandatory_protocols : P_smtpd_tls_protocols, err) < 0)
		goto fail;
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION
			| SSL_OP_CIPHER_SERVER_PREFERENCE);
	/* Output buffers move and shrink; idle sessions give their buffers back. */
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER
			| SSL_MODE_RELEASE_BUFFERS);
	if (SSL_CTX_set_cipher_list(ctx, cipher_list(cfg_str(mandatory ? P_smtpd_tls_mandatory_ciphers
								     : P_smtpd_tls_ciphers))) != 1) {
		tls_ssl_error(err, "cannot set", "ciphers");
		goto fail;
	}
	if (tls_identity_load(ctx, cert, key, have_chain ? chain : NULL, err) < 0)
		goto fail;
	/* Resumption: tickets (TLS 1.2 and 1.3) and a cache inside this process. */
	static const unsigned char sid_ctx[] = "tern-smtpd";
	SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof(sid_ctx) - 1);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
	long lifetime = (long)cfg_int(P_smtpd_tls_session_cache_timeout);
	SSL_CTX_set_timeout(ctx, lifetime > 0 ? lifetime : 3600);
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

/*
 * The ClientHello guard. OpenSSL sets aside a buffer for a whole
 * handshake message as soon as it has read the message's 4-byte header,
 * sized by what the header declares (up to 128 KiB for a ClientHello,
 * plus a third again), and zeroes it: a client that sends one record and
 * stops would hold about 150 KiB of smtpd's memory until the handshake
 * times out (with the guard, about 42 KiB at most: README, Security). Real ClientHellos take a few KiB; the guard reads the first
 * 9 bytes of the stream as they pass (record header, handshake header)
 * and refuses a first record that is not a handshake record able to
 * hold that header, or a ClientHello declared longer than
 * SMTPD_TLS_HELLO_MAX, before OpenSSL sees them.
 */
#define STR_(x)	#x
#define STR(x)	STR_(x)

static int guard_type;	/* the guard's BIO type, once made */

struct hello_guard {
	unsigned char head[9];
	size_t seen;
	const char *refused;	/* why, once refused */
};

static const char *hello_check(const unsigned char *h)
{
	if (h[0] != 0x16)
		return NULL;	/* not a handshake: OpenSSL refuses it at once */
	if (((unsigned)h[3] << 8 | h[4]) < 4)
		return "first TLS record too short for a handshake header";
	if (h[5] == 0x01 && ((unsigned long)h[6] << 16 | (unsigned long)h[7] << 8 | h[8]) > SMTPD_TLS_HELLO_MAX)
		return "ClientHello declared larger than " STR(SMTPD_TLS_HELLO_MAX) " bytes";
	return NULL;
}

static int guard_read(BIO *b, char *out, int len)
{
	struct hello_guard *g = BIO_get_data(b);
	BIO *next = BIO_next(b);
	BIO_clear_retry_flags(b);
	if (g->refused != NULL)
		return -1;
	int n = BIO_read(next, out, len);
	if (n <= 0) {
		BIO_copy_next_retry(b);
		return n;
	}
	if (g->seen < sizeof(g->head)) {
		size_t k = sizeof(g->head) - g->seen;
		if (k > (size_t)n)
			k = (size_t)n;
		memcpy(g->head + g->seen, out, k);
		g->seen += k;
		if (g->seen == sizeof(g->head) && (g->refused = hello_check(g->head)) != NULL)
			return -1;
	}
	return n;
}

static int guard_write(BIO *b, const char *in, int len)
{
	BIO_clear_retry_flags(b);
	int n = BIO_write(BIO_next(b), in, len);
	if (n <= 0)
		BIO_copy_next_retry(b);
	return n;
}

static long guard_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	BIO *next = BIO_next(b);
	return next ? BIO_ctrl(next, cmd, num, ptr) : 0;
}

static int guard_create(BIO *b)
{
	BIO_set_data(b, xcalloc(1, sizeof(struct hello_guard)));
	BIO_set_init(b, 1);
	return 1;
}

static int guard_destroy(BIO *b)
{
	free(BIO_get_data(b));
	BIO_set_data(b, NULL);
	return 1;
}

static BIO_METHOD *guard_method(void)
{
	static BIO_METHOD *m;
	if (m == NULL) {
		guard_type = BIO_get_new_index() | BIO_TYPE_FILTER;
		m = BIO_meth_new(guard_type, "tern ClientHello guard");
		if (m == NULL)
			return NULL;
		BIO_meth_set_read(m, guard_read);
		BIO_meth_set_write(m, guard_write);
		BIO_meth_set_ctrl(m, guard_ctrl);
		BIO_meth_set_create(m, guard_create);
		BIO_meth_set_destroy(m, guard_destroy);
	}
	return m;
}

int smtpd_tls_attach(SSL *ssl, int fd)
{
	BIO_METHOD *m = guard_method();
	BIO *sock = BIO_new_socket(fd, BIO_NOCLOSE);
	BIO *guard = m ? BIO_new(m) : NULL;
	if (sock == NULL || guard == NULL) {
		BIO_free(sock);
		BIO_free(guard);
		return -1;
	}
	/* Reads go through the guard to the socket, writes straight to it: one reference each. */
	BIO_up_ref(sock);
	BIO_push(guard, sock);
	SSL_set_bio(ssl, guard, sock);
	return 0;
}

const char *smtpd_tls_refused(SSL *ssl)
{
	BIO *b = SSL_get_rbio(ssl);
	if (b == NULL || guard_type == 0 || BIO_method_type(b) != guard_type)
		return NULL;
	const struct hello_guard *g = BIO_get_data(b);
	return g ? g->refused : NULL;
}
