/*
 * fuzz_smtp_cmd.c - libFuzzer target for the SMTP command parser
 * (lib/mail/smtp_cmd.c): verbs, MAIL/RCPT paths with ESMTP parameters,
 * BDAT arguments, xtext, mailbox and HELO checks, and base64. Any input
 * must be parsed or refused without a crash, a leak or an out-of-bounds
 * access, and what is accepted must hold the parser's promises.
 */
#include "compat.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mail/smtp_cmd.h"
#include "util/base64.h"
#include "util/buf.h"
#include "util/mem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *line = xstrndup((const char *)data, size);	/* stops at a NUL, as the engine does */
	struct smtp_cmd cmd;
	struct buf bad = BUF_INIT, out = BUF_INIT;

	smtp_cmd_parse(line, &cmd);
	if (cmd.arg < line || cmd.arg > line + strlen(line))
		abort();

	struct smtp_mail_args m;
	smtp_mail_args_init(&m);
	if (smtp_parse_mail(line, &m, &bad) == SMTP_PATH_OK) {
		/* An accepted sender is empty or a valid mailbox with a domain. */
		if (m.addr.len > 0 && !smtp_valid_mailbox(buf_str(&m.addr), false))
			abort();
	}
	smtp_mail_args_free(&m);

	struct smtp_rcpt_args r;
	smtp_rcpt_args_init(&r);
	if (smtp_parse_rcpt(line, &r, &bad) == SMTP_PATH_OK) {
		if (r.addr.len == 0 || !smtp_valid_mailbox(buf_str(&r.addr), true))
			abort();
		if ((r.notify & 1) && r.notify != 1)
			abort();	/* NEVER stands alone */
	}
	smtp_rcpt_args_free(&r);

	unsigned long long n;
	bool last;
	(void)smtp_parse_bdat(line, &n, &last);
	(void)smtp_valid_helo(line);

	/* xtext and base64 round trips. */
	if (smtp_xtext_decode((const char *)data, size, &out)) {
		struct buf enc = BUF_INIT, dec = BUF_INIT;
		smtp_xtext_encode(buf_str(&out), out.len, &enc);
		if (!smtp_xtext_decode(buf_str(&enc), enc.len, &dec) || dec.len != out.len
		    || (out.len && memcmp(dec.data, out.data, out.len) != 0))
			abort();
		buf_free(&enc);
		buf_free(&dec);
	}
	buf_reset(&out);
	if (base64_decode((const char *)data, size, &out)) {
		/* Unused low bits may differ, so compare decoded bytes. */
		struct buf enc = BUF_INIT, again = BUF_INIT;
		base64_encode(buf_str(&out), out.len, &enc);
		if (enc.len != size || !base64_decode(buf_str(&enc), enc.len, &again)
		    || again.len != out.len || (out.len && memcmp(again.data, out.data, out.len) != 0))
			abort();
		buf_free(&enc);
		buf_free(&again);
	}
	buf_free(&out);
	buf_free(&bad);
	free(line);
	return 0;
}
