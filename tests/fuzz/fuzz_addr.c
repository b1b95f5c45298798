/*
 * fuzz_addr.c - libFuzzer target for the address parser (lib/mail/addr.c):
 * lists, envelope addresses and the helpers built on them. Any input must
 * parse or be rejected without a crash, a leak or an out-of-bounds read,
 * and whatever is accepted must satisfy the parser's own invariants.
 */
#include "compat.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mail/addr.h"
#include "util/buf.h"
#include "util/mem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct addr_list l;
	addr_list_init(&l);
	addr_parse_list((const char *)data, size, &l);
	for (size_t i = 0; i < l.n; i++) {
		if (l.v[i].spec_end > size || l.v[i].spec_start > l.v[i].spec_end)
			abort();
		struct buf local = BUF_INIT, dom = BUF_INIT;
		if (addr_split(l.v[i].mailbox, &local, &dom) != l.v[i].has_domain)
			abort();
		buf_free(&local);
		buf_free(&dom);
	}
	addr_list_free(&l);

	char *s = xstrndup((const char *)data, size);
	struct buf out = BUF_INIT, err = BUF_INIT;
	if (addr_parse_envelope(s, &out, &err) == 0 && !addr_envelope_valid(buf_str(&out)))
		abort();
	buf_reset(&out);
	addr_quote_local(s, &out);
	buf_free(&out);
	buf_free(&err);
	free(s);
	return 0;
}
