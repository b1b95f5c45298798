/*
 * tls_identity.h - a TLS server's certificate and key, as smtpd uses
 * them (smtpd_tls_cert_file and smtpd_tls_key_file, or
 * smtpd_tls_chain_files), loaded into an OpenSSL context.
 *
 * Mail layer; runs with the caller's privileges (smtpd as mail_owner,
 * tern check as the administrator). See tls_identity.c.
 */
#ifndef TERN_MAIL_TLS_IDENTITY_H
#define TERN_MAIL_TLS_IDENTITY_H

#include <openssl/ssl.h>

#include "util/buf.h"

/*
 * Load into CTX either each CHAIN file (a private key and its
 * certificate chain, CHAIN non-NULL and non-empty) or CERT (certificate
 * then chain) with KEY (empty: the key is in CERT), and check that the
 * key matches the certificate. Returns 0, or -1 with one line in err
 * naming the file.
 */
int tls_identity_load(SSL_CTX *ctx, const char *cert, const char *key, char **chain, struct buf *err);

/* "WHAT FILE: " and OpenSSL's oldest queued error into err; clears the queue. */
void tls_ssl_error(struct buf *err, const char *what, const char *file);

#endif
