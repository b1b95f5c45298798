/*
 * smtpd_tls.c - smtpd's OpenSSL 3 server context: certificate and key
 * (smtpd_tls_cert_file, smtpd_tls_key_file, or smtpd_tls_chain_files),
 * protocols (TLS 1.2 and 1.3 only by default), ciphers, and session
 * resumption with tickets and a server-side cache. The certificate and
 * key are loaded by tls_identity_load() (lib/mail/tls_identity.c), which
 * tern check uses too.
 *
 * Part of smtpd, runs as mail_owner. The files are read through the
 * descriptors ternd opened for them before it dropped privileges
 * (daemon_file(), TERN_FILES), so that a key only root may read
 * (/etc/ssl/private) works; started by hand, smtpd opens them itself.
 */
#include "compat.h"

#include <errno.h>
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
#include "smtpd/smtpd.h"
#include "util/log.h"

static void ssl_error(struct buf *err, const char *what, const char *file)
{
	char text[256];
	unsigned long e = ERR_get_error();
	ERR_error_string_n(e, text, sizeof(text));
	buf_printf(err, "%s %s: %s", what, file, e ? text : "unknown error");
	ERR_clear_error();
}

/* The lowest protocol allowed by a Postfix-style list (">=TLSv1.2", "!SSLv3, !TLSv1"). */
static int min_protocol(const char *spec)
{
	if (strstr(spec, ">=TLSv1.3") != NULL || (strstr(spec, "!TLSv1.2") != NULL))
		return TLS1_3_VERSION;
	/* Never below TLS 1.2, whatever is asked: older versions are broken. */
	return TLS1_2_VERSION;
}

static const char *cipher_list(const char *grade)
{
	if (strcmp(grade, "high") == 0)
		return "HIGH:!aNULL:!eNULL:!MD5:!RC4:!3DES:!CAMELLIA:!ARIA:!SHA1";
	/* medium (the default), low, export: OpenSSL 3 has nothing weaker than this anyway. */
	return "HIGH:MEDIUM:!aNULL:!eNULL:!MD5:!RC4:!3DES:!DES:!EXPORT:!PSK:!SRP";
}

SSL_CTX *smtpd_tls_init(struct buf *err)
{
	const char *cert = cfg_str(P_smtpd_tls_cert_file);
	const char *key = cfg_str(P_smtpd_tls_key_file);
	char **chain = param_find(P_smtpd_tls_chain_files) ? cfg_list(P_smtpd_tls_chain_files) : NULL;
	bool have_chain = chain != NULL && chain[0] != NULL;

	if (*cert == '\0' && !have_chain)
		return NULL;	/* no certificate: no TLS, not an error */
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL) {
		ssl_error(err, "cannot create", "TLS context");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, min_protocol(cfg_str(P_smtpd_tls_protocols)));
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION
			| SSL_OP_CIPHER_SERVER_PREFERENCE);
	/* Output buffers move and shrink; idle sessions give their buffers back. */
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER
			| SSL_MODE_RELEASE_BUFFERS);
	if (SSL_CTX_set_cipher_list(ctx, cipher_list(cfg_str(P_smtpd_tls_ciphers))) != 1) {
		ssl_error(err, "cannot set", "ciphers");
		goto fail;
	}
	if (tls_identity_load(ctx, cert, key, have_chain ? chain : NULL, err) < 0)
		goto fail;
	/* Resumption: tickets (TLS 1.2 and 1.3) and a cache inside this process. */
	static const unsigned char sid_ctx[] = "tern-smtpd";
	SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof(sid_ctx) - 1);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
	long lifetime = param_find(P_smtpd_tls_session_cache_timeout)
			? (long)cfg_int(P_smtpd_tls_session_cache_timeout) : 3600;
	SSL_CTX_set_timeout(ctx, lifetime > 0 ? lifetime : 3600);
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}
