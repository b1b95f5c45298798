/*
 * sasl_mech.c - the PLAIN and LOGIN message parsers and crypt(3)
 * password verification used by the built-in "tern" SASL backend
 * (sasl_backend.h).
 *
 * Mail layer. Runs inside smtpd as mail_owner on bytes a network client
 * chose: every length is checked, nothing is trusted to be a C string.
 */
#include "compat.h"

#include <crypt.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mail/sasl_backend.h"
#include "util/mem.h"

/* Names end up in logs, Received: headers and Dovecot's protocol. */
static bool name_ok(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f)
			return false;
	}
	return true;
}

int sasl_login_field(const char *data, size_t len, bool is_name)
{
	if (data == NULL || len == 0 || len > SASL_MAX_FIELD)
		return -1;
	if (memchr(data, '\0', len) != NULL)
		return -1;
	if (is_name && !name_ok(data, len))
		return -1;
	return 0;
}

int sasl_plain_parse(const char *data, size_t len, struct buf *user, struct buf *pass)
{
	buf_reset(user);
	buf_reset(pass);
	const char *reason = NULL;
	const char *nul1 = data ? memchr(data, '\0', len) : NULL;
	const char *nul2 = nul1 ? memchr(nul1 + 1, '\0', len - (size_t)(nul1 + 1 - data)) : NULL;
	if (nul2 == NULL) {
		reason = "PLAIN response without two NUL separators";
		goto bad;
	}
	const char *end = data + len;
	size_t zlen = (size_t)(nul1 - data);
	const char *authc = nul1 + 1;
	size_t clen = (size_t)(nul2 - authc);
	const char *pw = nul2 + 1;
	size_t plen = (size_t)(end - pw);
	if (memchr(pw, '\0', plen) != NULL) {
		reason = "PLAIN response with more than two NULs";
		goto bad;
	}
	if (clen == 0 || plen == 0) {
		reason = "PLAIN response with an empty user name or password";
		goto bad;
	}
	if (zlen > SASL_MAX_FIELD || clen > SASL_MAX_FIELD || plen > SASL_MAX_FIELD) {
		reason = "PLAIN response field too long";
		goto bad;
	}
	if (!name_ok(authc, clen) || !name_ok(data, zlen)) {
		reason = "PLAIN user name with control characters";
		goto bad;
	}
	if (zlen != 0 && (zlen != clen || memcmp(data, authc, clen) != 0)) {
		reason = "PLAIN authorization identity differs from the user name";
		goto bad;
	}
	buf_add(user, authc, clen);
	buf_add(pass, pw, plen);
	return 0;
bad:
	buf_reset(pass);
	buf_adds(user, reason);
	return -1;
}

/* Equal length and bytes, in time that depends only on the lengths. */
static bool same(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned char diff = la != lb;
	size_t n = la < lb ? la : lb;
	for (size_t i = 0; i < n; i++)
		diff |= (unsigned char)(a[i] ^ b[i]);
	return diff == 0;
}

/* Hashed when the user does not exist, so that both paths cost alike. */
static const char dummy_hash[] =
	"$y$j9T$begxM8gXtehMiLN/HBv8c1$PClZlZnjrtlM2Xne0Tmk48tIs/Hr8EuCgR5h5.Xq0E7";

int sasl_crypt_verify(const char *pass, const char *hash)
{
	const char *setting = hash ? hash : dummy_hash;
	/* A locked or disabled entry ("*", "!", "!$y$...") never matches;
	 * still spend the time of one hash. */
	bool usable = setting[0] != '\0' && setting[0] != '*' && setting[0] != '!';
	struct crypt_data *cd = xcalloc(1, sizeof *cd);
	const char *out = crypt_r(pass, usable ? setting : dummy_hash, cd);
	int result = 0;
	if (out == NULL || out[0] == '*')
		result = usable && hash ? -1 : 0;	/* unknown method or bad hash */
	else if (usable && hash && same(out, hash))
		result = 1;
	explicit_bzero(cd, sizeof *cd);
	free(cd);
	return result;
}
