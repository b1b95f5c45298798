/*
 * fuzz_header_checks.c - libFuzzer target for the header_checks evaluator
 * (lib/mail/header_checks.c) and regexp: lookups (lib/util/map_regexp.c):
 * the input is a header as a milter may send it, looked up in a table
 * whose results copy its text through $N, and also parsed as a table
 * result itself. Whatever comes out must be fit for an SMTP reply and a
 * log line: no control characters, at most HC_TEXT_MAX bytes, a REJECT
 * code of 550 or 451, a one-line warning.
 */
#include "compat.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mail/header_checks.h"
#include "util/buf.h"
#include "util/map.h"
#include "util/mem.h"

static struct map *table;

static void check(const struct header_check *hc)
{
	for (size_t i = 0; i < hc->text.len; i++) {
		unsigned char c = (unsigned char)hc->text.data[i];
		if (c < 0x20 || c == 0x7f)
			abort();
	}
	if (hc->text.len > HC_TEXT_MAX || strchr(buf_str(&hc->warning), '\n') != NULL)
		abort();
	if (hc->action == HC_REJECT && hc->code != 550 && hc->code != 451)
		abort();
	if (hc->action == HC_REJECT && hc->dsn[0] != (hc->code == 451 ? '4' : '5'))
		abort();
	if (hc->warning.len > 0 && hc->action != HC_DUNNO)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (table == NULL) {
		struct buf err = BUF_INIT;
		table = map_open("regexp:{ {/^X-Virus: (.*)/ REJECT $1}, {/^X-Code: (.*)/ REJECT $1}, "
				 "{/^X-Hold:(.*)/m HOLD $1}, {/^X-Score: (.*)/ REPLACE X-Seen: $1}, "
				 "{/^X-To: (.*)/ REDIRECT $1}, {/^(.*): (.*)$/ $2 $1} }", MAP_RDONLY, &err);
		if (table == NULL)
			abort();
		buf_free(&err);
	}
	char *s = xstrndup((const char *)data, size);
	struct header_check hc;
	header_check_init(&hc);
	struct buf err = BUF_INIT;
	if (header_checks_map(table, s, &hc, &err) < 0)
		abort();
	check(&hc);
	header_check_parse(s, &hc);
	check(&hc);
	header_check_free(&hc);
	buf_free(&err);
	free(s);
	return 0;
}
