/*
 * fuzz_qfile.c - libFuzzer target for the queue file reader
 * (lib/mail/qfile.c): a file that does not parse must be reported as
 * corrupt, never crash; what parses must be self-consistent.
 */
#include "compat.h"

#include <stdint.h>
#include <stdlib.h>

#include "mail/qfile.h"
#include "util/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct qfile *q;
	struct buf err = BUF_INIT;
	if (qfile_parse_buffer((const char *)data, size, &q, &err) == QF_OK) {
		if (!qfile_id_valid(qfile_id(q)) || qfile_pending_count(q) > qfile_rcpt_count(q))
			abort();
		char chunk[64];
		unsigned long long total = 0;
		ssize_t n;
		while ((n = qfile_read(q, chunk, sizeof(chunk))) > 0)
			total += (unsigned long long)n;
		if (total != qfile_content_size(q))
			abort();
		qfile_close(q);
	} else if (err.len == 0) {
		abort();
	}
	buf_free(&err);
	return 0;
}
