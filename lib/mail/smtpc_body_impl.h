/*
 * smtpc_body_impl.h - what the parts of the SMTP client's content encoder
 * share (smtpc_body.c, smtpc_body_mime.c); no one else includes it.
 *
 * Mail layer, pure parsing of header values from anyone, no privileges.
 */
#ifndef TERN_MAIL_SMTPC_BODY_IMPL_H
#define TERN_MAIL_SMTPC_BODY_IMPL_H

#include <stdbool.h>
#include <stddef.h>

/* Content-Type as far as the encoder cares (CT_NONE: no header seen). */
enum { CT_NONE, CT_OTHER, CT_MULTIPART, CT_DIGEST, CT_MESSAGE, CT_MSG_OTHER };
/* Content-Transfer-Encoding (CTE_NONE: no header seen). */
enum { CTE_NONE, CTE_7BIT, CTE_8BIT, CTE_BINARY, CTE_QP, CTE_BASE64, CTE_OTHER };

/* s[0..n) is word, ignoring case. */
bool smtpc_mime_is(const char *s, size_t n, const char *word);
/* A Content-Transfer-Encoding value (unfolded or not) as CTE_*. */
int smtpc_mime_cte(const char *v, size_t len);
/*
 * A Content-Type value as CT_*; a boundary parameter of 1 to
 * SMTPC_BODY_BOUNDARY_MAX characters is copied to boundary (not
 * terminated) with its length in *blen, else *blen is left alone.
 */
int smtpc_mime_ctype(const char *v, size_t len, char *boundary, size_t *blen);

#endif
