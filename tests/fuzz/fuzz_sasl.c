/*
 * fuzz_sasl.c - libFuzzer target for what a network client controls in
 * SMTP AUTH (lib/mail/sasl.c, sasl_mech.c): whole PLAIN and LOGIN
 * exchanges on the built-in backend, fed from the input split at '\n'
 * into successive responses, and Dovecot's line splitter
 * (sasl_dovecot.c) on the same bytes. Nothing may crash, leak or read out
 * of bounds; a success must name a user the table knows.
 */
#include "compat.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mail/sasl.h"
#include "mail/sasl_backend.h"
#include "util/buf.h"
#include "util/mem.h"

/* One user, "u", whose hash never matches (keeps crypt out of the loop
 * except for the cost of one hash per attempt). */
static int lookup(void *ctx, const char *user, struct buf *value)
{
	(void)ctx;
	if (strcmp(user, "u") == 0) {
		buf_adds(value, "!locked");
		return 1;
	}
	return strcmp(user, "err") == 0 ? -1 : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	if (!ready) {
		struct buf err = BUF_INIT;
		struct sasl_setup su = {.type = "tern", .lookup = lookup};
		if (sasl_server_setup(&su, &err) != 0)
			abort();
		buf_free(&err);
		ready = true;
	}
	if (size == 0)
		return 0;
	/* First byte: mechanism and whether there is an initial response. */
	const char *mech = (data[0] & 1) ? "LOGIN" : "PLAIN";
	bool initial = data[0] & 2;
	const char *p = (const char *)data + 1, *end = (const char *)data + size;
	struct sasl_server *s = sasl_server_new(mech, "192.0.2.1", true);
	if (s == NULL)
		abort();
	struct buf ch = BUF_INIT;
	enum sasl_status st = SASL_CONTINUE;
	bool first = true;
	while (st == SASL_CONTINUE) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
		if (first && !initial) {
			st = sasl_server_step(s, NULL, 0, &ch);
		} else {
			st = sasl_server_step(s, p, len, &ch);
			p += len + (nl != NULL);
		}
		first = false;
		if (p >= end && st == SASL_CONTINUE)
			break;
	}
	/* Only a known user with a matching hash could succeed: none here. */
	if (st == SASL_DONE || sasl_username(s) != NULL)
		abort();
	sasl_server_free(s);
	buf_free(&ch);

	char *line = xstrndup((const char *)data, size);
	char *fields[16];
	int n = dovecot_split(line, fields, 16);
	if (n > 16)
		abort();
	free(line);

	struct buf user = BUF_INIT, pass = BUF_INIT;
	if (sasl_plain_parse((const char *)data, size, &user, &pass) == 0 &&
	    (user.len == 0 || pass.len == 0 || user.len > SASL_MAX_FIELD ||
	     memchr(pass.data, '\0', pass.len)))
		abort();
	buf_free(&user);
	buf_free(&pass);
	return 0;
}
