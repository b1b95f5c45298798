/*
 * fuzz_smtp_tls_policy.c - libFuzzer target for the parser of
 * smtp_tls_policy_maps values (smtp/smtp_tls_policy.c), text that comes
 * from a table file: any input is parsed or refused with a reason,
 * without a crash or an out-of-bounds read, and what is accepted
 * survives being written out and parsed again unchanged.
 */
#include "compat.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The smtp program's file, compiled in (the fuzz library holds only lib/). */
#include "../../smtp/smtp_tls_policy.c"

static int same(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = xstrndup((const char *)data, size);	/* stops at a NUL, as a table value would */
	struct smtp_tls_policy p = {.level = SMTP_TLS_NONE}, q = {.level = SMTP_TLS_NONE};
	struct buf err = BUF_INIT, again = BUF_INIT;

	if (smtp_tls_policy_parse(text, &p, &err) == 0) {
		if ((unsigned)p.level > SMTP_TLS_SECURE || err.len != 0)
			abort();
		buf_adds(&again, smtp_tls_level_name(p.level));
		if (p.match)
			buf_printf(&again, " match=%s", p.match);
		if (p.protocols)
			buf_printf(&again, " protocols=%s", p.protocols);
		if (p.ciphers)
			buf_printf(&again, " ciphers=%s", p.ciphers);
		if (smtp_tls_policy_parse(buf_str(&again), &q, &err) != 0 || q.level != p.level
		    || !same(q.match, p.match) || !same(q.protocols, p.protocols) || !same(q.ciphers, p.ciphers))
			abort();
	} else if (err.len == 0 || p.match != NULL || p.protocols != NULL || p.ciphers != NULL) {
		abort();	/* a refusal says why and leaves nothing behind */
	}
	smtp_tls_policy_free(&p);
	smtp_tls_policy_free(&q);
	buf_free(&err);
	buf_free(&again);
	free(text);
	return 0;
}
