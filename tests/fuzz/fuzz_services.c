/*
 * fuzz_services.c - libFuzzer target for the service table parser
 * (lib/mail/services.c). Any text must parse or be rejected with one
 * line, never crash or leak; what parses must hold the parser's promises
 * (valid ports, columns only where the type allows them, a command).
 */
#include "compat.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mail/services.h"
#include "util/buf.h"
#include "util/mem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = xstrndup((const char *)data, size);
	struct service_table t;
	struct buf err = BUF_INIT;
	int rc = services_parse(text, "fuzz", &t, &err);
	if (rc < 0 && (err.len == 0 || t.count != 0))
		abort();
	for (size_t i = 0; i < t.count; i++) {
		const struct service *s = &t.svc[i];
		if (s->argc < 1 || s->argv[s->argc] != NULL || s->procs < 0)
			abort();
		if (s->type == SVC_INET && (s->port < 1 || s->port > 65535))
			abort();
		if (s->type != SVC_INET && (s->port || s->host || s->tls || s->auth))
			abort();
		if (services_find(&t, s->name) != s)
			abort();
	}
	services_free(&t);
	buf_free(&err);
	free(text);
	return 0;
}
