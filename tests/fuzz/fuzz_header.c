/*
 * fuzz_header.c - libFuzzer target for the header block parser
 * (lib/mail/header.c) and the address lists found in its fields.
 */
#include "compat.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mail/addr.h"
#include "mail/header.h"
#include "util/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct headers hs;
	enum header_end how;
	headers_init(&hs);
	size_t used = headers_parse((const char *)data, size, &hs, &how);
	if (used > size)
		abort();
	struct buf v = BUF_INIT;
	for (size_t i = 0; i < hs.n; i++) {
		header_value(&hs.v[i], &v);
		struct addr_list l;
		addr_list_init(&l);
		addr_parse_list(v.data ? v.data : "", v.len, &l);
		addr_list_free(&l);
	}
	headers_remove_all(&hs, "bcc");
	headers_append(&hs, "X-Test", "value");
	struct buf out = BUF_INIT;
	headers_write(&hs, &out);
	buf_free(&out);
	buf_free(&v);
	headers_free(&hs);
	return 0;
}
