/*
 * tls_identity.c - load a TLS server's certificate chain and private key
 * into an OpenSSL context and check that they match (tls_identity.h).
 *
 * Mail layer. Runs in smtpd as mail_owner, reading the files through the
 * descriptors ternd opened for them before it dropped privileges
 * (daemon_file(), TERN_FILES), so that a key only root may read
 * (/etc/ssl/private) works; elsewhere (smtpd started by hand, tern check
 * as the administrator) the files are opened here. Key material read
 * into memory is wiped after use.
 */
#include "compat.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "mail/daemon.h"
#include "mail/tls_identity.h"

void tls_ssl_error(struct buf *err, const char *what, const char *file)
{
	char text[256];
	unsigned long e = ERR_get_error();
	ERR_error_string_n(e, text, sizeof(text));
	buf_printf(err, "%s %s: %s", what, file, e ? text : "unknown error");
	ERR_clear_error();
}

#define PEM_FILE_MAX	(1 << 20)

/* The whole of a PEM file: through ternd's descriptor, else opened here. */
static int read_pem(const char *path, struct buf *out, struct buf *err)
{
	int fd = daemon_file(path);
	bool ours = fd < 0;
	struct stat st;
	ssize_t n = 0;

	if (out->data != NULL)
		explicit_bzero(out->data, out->len);
	buf_reset(out);
	if (ours && (fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)) < 0) {
		buf_printf(err, "cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > PEM_FILE_MAX) {
		buf_printf(err, "%s is not a regular file of at most %d bytes", path, PEM_FILE_MAX);
		goto fail;
	}
	buf_reserve(out, (size_t)st.st_size + 1);
	for (off_t off = 0; off < st.st_size; off += n) {
		n = pread(fd, out->data + off, (size_t)(st.st_size - off), off);
		if (n <= 0) {
			buf_printf(err, "cannot read %s: %s", path, n < 0 ? strerror(errno) : "file shrank");
			goto fail;
		}
		out->len += (size_t)n;
	}
	if (ours)
		close(fd);
	return 0;
fail:
	if (ours)
		close(fd);
	return -1;
}

static void wipe(struct buf *b)
{
	if (b->data != NULL)
		explicit_bzero(b->data, b->len);
	buf_free(b);
}

/* Never ask for a pass phrase: there is no one to answer. */
static int no_password(char *buf, int size, int rwflag, void *u)
{
	(void)buf, (void)size, (void)rwflag, (void)u;
	return -1;
}

/* The first private key in the file; CERT names the certificate already loaded. */
static int use_key(SSL_CTX *ctx, const char *path, const char *cert, struct buf *pem, struct buf *err)
{
	if (read_pem(path, pem, err) < 0)
		return -1;
	BIO *bio = BIO_new_mem_buf(pem->data, (int)pem->len);
	EVP_PKEY *key = bio ? PEM_read_bio_PrivateKey(bio, NULL, no_password, NULL) : NULL;
	int ok = key != NULL && SSL_CTX_use_PrivateKey(ctx, key) == 1;
	EVP_PKEY_free(key);
	BIO_free(bio);
	unsigned long e = ERR_peek_last_error();
	if (!ok && cert != NULL && ERR_GET_LIB(e) == ERR_LIB_X509 &&
	    (ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH || ERR_GET_REASON(e) == X509_R_KEY_TYPE_MISMATCH)) {
		/* OpenSSL compares the key with the certificate as it loads it. */
		buf_printf(err, "private key in %s does not match the certificate in %s", path, cert);
		ERR_clear_error();
	} else if (!ok) {
		tls_ssl_error(err, "cannot load private key from", path);
	}
	return ok ? 0 : -1;
}

/* The server certificate (the first one in the file) and the chain after it. */
static int use_chain(SSL_CTX *ctx, const char *path, struct buf *pem, struct buf *err)
{
	if (read_pem(path, pem, err) < 0)
		return -1;
	BIO *bio = BIO_new_mem_buf(pem->data, (int)pem->len);
	X509 *cert = bio ? PEM_read_bio_X509_AUX(bio, NULL, no_password, NULL) : NULL;
	int ok = cert != NULL && SSL_CTX_use_certificate(ctx, cert) == 1
		&& SSL_CTX_clear_chain_certs(ctx) == 1;
	X509_free(cert);
	while (ok) {
		X509 *ca = PEM_read_bio_X509(bio, NULL, no_password, NULL);
		if (ca == NULL) {
			unsigned long e = ERR_peek_last_error();
			if (ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE) {
				ERR_clear_error();	/* the end of the file */
				break;
			}
			ok = 0;		/* a damaged certificate in the chain */
			break;
		}
		if (SSL_CTX_add0_chain_cert(ctx, ca) != 1) {
			X509_free(ca);
			ok = 0;
		}
	}
	BIO_free(bio);
	if (!ok)
		tls_ssl_error(err, "cannot load certificate chain from", path);
	return ok ? 0 : -1;
}

int tls_identity_load(SSL_CTX *ctx, const char *cert, const char *key, char **chain, struct buf *err)
{
	struct buf pem = BUF_INIT;	/* file contents, key included: wiped after use */
	int rc = -1;
	if (chain != NULL && chain[0] != NULL) {
		/* Postfix's chain files: each holds a private key and its certificate chain. */
		for (size_t i = 0; chain[i] != NULL; i++)
			if (use_key(ctx, chain[i], NULL, &pem, err) < 0 || use_chain(ctx, chain[i], &pem, err) < 0)
				goto out;
	} else {
		if (use_chain(ctx, cert, &pem, err) < 0 || use_key(ctx, *key ? key : cert, cert, &pem, err) < 0)
			goto out;
	}
	/* Each key loaded above replaced the one of its type: the check covers the last pair
	 * of each type, as smtpd will use them. */
	if (SSL_CTX_check_private_key(ctx) != 1) {
		tls_ssl_error(err, "private key does not match the certificate in",
			  chain != NULL && chain[0] != NULL ? chain[0] : cert);
		goto out;
	}
	rc = 0;
out:
	wipe(&pem);
	return rc;
}
