/*
 * smtpc_body_mime.c - the MIME header values the SMTP client's content
 * encoder reads (RFC 2045 section 5, RFC 2046 section 5.1.1):
 * Content-Type with its boundary, Content-Transfer-Encoding. Values may
 * be folded (LF then white space) and hold comments.
 *
 * Mail layer, pure parsing of header values from anyone, no privileges:
 * whatever is unreadable gives CT_OTHER / CTE_OTHER, never an error.
 */
#include "compat.h"

#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "mail/smtpc_body.h"
#include "mail/smtpc_body_impl.h"

static bool wsp(char c)
{
	return c == ' ' || c == '\t';
}

struct cur {
	const char *p, *e;
};

/* White space, folding and (nested) comments. */
static void skip_cfws(struct cur *k)
{
	for (;;) {
		while (k->p < k->e && (wsp(*k->p) || *k->p == '\n'))
			k->p++;
		if (k->p >= k->e || *k->p != '(')
			return;
		for (int depth = 0; k->p < k->e; k->p++) {
			if (*k->p == '\\' && k->p + 1 < k->e)
				k->p++;
			else if (*k->p == '(')
				depth++;
			else if (*k->p == ')' && --depth == 0) {
				k->p++;
				break;
			}
		}
	}
}

static size_t token(struct cur *k, const char **start)
{
	skip_cfws(k);
	*start = k->p;
	while (k->p < k->e) {
		unsigned char c = (unsigned char)*k->p;
		if (c <= 32 || c >= 127 || strchr("()<>@,;:\\\"/[]?=", c) != NULL)
			break;
		k->p++;
	}
	return (size_t)(k->p - *start);
}

bool smtpc_mime_is(const char *s, size_t n, const char *word)
{
	return n == strlen(word) && strncasecmp(s, word, n) == 0;
}

int smtpc_mime_cte(const char *v, size_t len)
{
	struct cur k = {v, v + len};
	const char *t;
	size_t n = token(&k, &t);

	return smtpc_mime_is(t, n, "7bit") ? CTE_7BIT : smtpc_mime_is(t, n, "8bit") ? CTE_8BIT
	    : smtpc_mime_is(t, n, "binary") ? CTE_BINARY : smtpc_mime_is(t, n, "quoted-printable") ? CTE_QP
	    : smtpc_mime_is(t, n, "base64") ? CTE_BASE64 : CTE_OTHER;
}

/* type/subtype and the boundary parameter; anything unreadable after the type is ignored. */
int smtpc_mime_ctype(const char *v, size_t len, char *boundary, size_t *blen)
{
	struct cur k = {v, v + len};
	const char *type, *sub, *name;
	size_t tn = token(&k, &type), sn;
	bool found = false;
	int ctype;

	skip_cfws(&k);
	if (tn == 0 || k.p >= k.e || *k.p++ != '/' || (sn = token(&k, &sub)) == 0) {
		return CT_OTHER;	/* RFC 2045: unknown means application/octet-stream */
	}
	ctype = smtpc_mime_is(type, tn, "multipart") ? (smtpc_mime_is(sub, sn, "digest") ? CT_DIGEST : CT_MULTIPART)
	    : !smtpc_mime_is(type, tn, "message") ? CT_OTHER
	    : smtpc_mime_is(sub, sn, "rfc822") ? CT_MESSAGE
	    : smtpc_mime_is(sub, sn, "global") ? CT_OTHER : CT_MSG_OTHER;
	for (;;) {
		size_t nn, vl = 0;
		bool ok = true;

		skip_cfws(&k);
		if (k.p >= k.e || *k.p++ != ';')
			return ctype;
		nn = token(&k, &name);
		skip_cfws(&k);
		if (nn == 0 || k.p >= k.e || *k.p++ != '=')
			return ctype;
		skip_cfws(&k);
		char val[SMTPC_BODY_BOUNDARY_MAX];
		if (k.p < k.e && *k.p == '"') {
			for (k.p++; k.p < k.e && *k.p != '"'; k.p++) {
				if (*k.p == '\\' && k.p + 1 < k.e)
					k.p++;
				if (*k.p == '\n')
					continue;
				if (vl < sizeof(val))
					val[vl++] = *k.p;
				else
					ok = false;
			}
			if (k.p >= k.e)
				return ctype;
			k.p++;
		} else {
			const char *t;
			vl = token(&k, &t);
			if (vl > sizeof(val))
				ok = false;
			else
				memcpy(val, t, vl);
		}
		if (smtpc_mime_is(name, nn, "boundary") && !found && ok && vl > 0) {
			memcpy(boundary, val, vl);
			*blen = vl;
			found = true;
		}
	}
}
