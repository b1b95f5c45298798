/*
 * sasl_mech.c - the PLAIN and LOGIN message parsers and crypt(3)
 * password verification used by the built-in "tern" SASL backend
 * (sasl_backend.h), and the filter of mechanisms by security options
 * (sasl.h) that every backend's list goes through.
 *
 * Mail layer. Runs inside smtpd as mail_owner on bytes a network client
 * chose: every length is checked, nothing is trusted to be a C string.
 */
#include "compat.h"

#include <crypt.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mail/sasl.h"
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

/* What a mechanism resists, by name; what no row names resists nothing but these two. */
#define SEC_PLAINTEXT	0x01	/* no password in the clear */
#define SEC_ANONYMOUS	0x02	/* needs a real identity */
#define SEC_DICTIONARY	0x04
#define SEC_ACTIVE	0x08
#define SEC_MUTUAL	0x10	/* the server proves itself too */
#define SEC_UNKNOWN	(SEC_PLAINTEXT | SEC_ANONYMOUS)

static unsigned mech_resists(const char *name, size_t len)
{
	static const struct {
		const char *name;
		unsigned sec;
	} known[] = {
		{"PLAIN", SEC_ANONYMOUS},
		{"LOGIN", SEC_ANONYMOUS},
		{"ANONYMOUS", SEC_PLAINTEXT},
		{"CRAM-MD5", SEC_PLAINTEXT | SEC_ANONYMOUS},
		{"DIGEST-MD5", SEC_PLAINTEXT | SEC_ANONYMOUS | SEC_MUTUAL},
		{"NTLM", SEC_PLAINTEXT | SEC_ANONYMOUS},
		{"EXTERNAL", SEC_PLAINTEXT | SEC_ANONYMOUS | SEC_DICTIONARY | SEC_ACTIVE},
		{"GSSAPI", SEC_PLAINTEXT | SEC_ANONYMOUS | SEC_ACTIVE | SEC_MUTUAL},
		{"GS2-KRB5", SEC_PLAINTEXT | SEC_ANONYMOUS | SEC_ACTIVE | SEC_MUTUAL},
	};
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (strlen(known[i].name) == len && strncasecmp(known[i].name, name, len) == 0)
			return known[i].sec;
	if (len >= 5 && strncasecmp(name, "SCRAM-", 5) == 0)
		return SEC_PLAINTEXT | SEC_ANONYMOUS | SEC_MUTUAL;
	return SEC_UNKNOWN;
}

void sasl_mechanisms_allowed(const char *mechs, char *const *options, struct buf *out)
{
	unsigned need = 0;
	bool none = false;
	for (char *const *o = options; o != NULL && *o != NULL; o++) {
		if (strcasecmp(*o, "noplaintext") == 0)
			need |= SEC_PLAINTEXT;
		else if (strcasecmp(*o, "noanonymous") == 0)
			need |= SEC_ANONYMOUS;
		else if (strcasecmp(*o, "nodictionary") == 0)
			need |= SEC_DICTIONARY;
		else if (strcasecmp(*o, "noactive") == 0)
			need |= SEC_ACTIVE;
		else if (strcasecmp(*o, "mutual_auth") == 0)
			need |= SEC_MUTUAL;
		else if (strcasecmp(*o, "forward_secrecy") == 0)
			none = true;	/* no mechanism we know of gives it */
	}
	buf_reset(out);
	for (const char *p = mechs ? mechs : ""; *p;) {
		p += strspn(p, " ");
		size_t n = strcspn(p, " ");
		if (n > 0 && !none && (mech_resists(p, n) & need) == need) {
			if (out->len > 0)
				buf_addc(out, ' ');
			buf_add(out, p, n);
		}
		p += n;
	}
}
