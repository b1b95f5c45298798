/*
 * fuzz_alias_split.c - libFuzzer target for the text the local delivery
 * agent reads as root from users' ~/.forward files and from alias values
 * (alias_split in lib/mail/alias_expand.c), the defer/ID text
 * (deferlog_parse) and the qmgr<->local frames (lreq/lreply_decode).
 * Items must be non-empty C strings; nothing may crash or read out of
 * bounds.
 */
#include "compat.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mail/alias_expand.h"
#include "mail/lproto.h"
#include "mail/mailq.h"
#include "util/mem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = xstrndup((const char *)data, size);
	char **items;
	size_t n = alias_split(s, &items);
	struct deferlog d;
	struct lreq q;
	struct lreply r;

	for (size_t i = 0; i < n; i++)
		if (items[i] == NULL || items[i][0] == '\0')
			abort();
	alias_items_free(items, n);
	deferlog_init(&d);
	deferlog_parse(s, &d);
	for (size_t i = 0; i < d.count; i++)
		if (strchr(d.reason[i], '\n') != NULL || d.address[i][0] == '\0')
			abort();
	deferlog_free(&d);
	lreq_init(&q);
	if (lreq_decode(data, size, &q) == 0 && (q.nrcpt == 0 || q.nrcpt > LPROTO_MAX_RCPT))
		abort();
	lreq_free(&q);
	lreply_init(&r);
	if (lreply_decode(data, size, &r) == 0 && r.dsn.data[0] != "245"[r.result])
		abort();
	lreply_free(&r);
	free(s);
	return 0;
}
