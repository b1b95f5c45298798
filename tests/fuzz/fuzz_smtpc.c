/*
 * fuzz_smtpc.c - libFuzzer target for the SMTP client engine
 * (lib/mail/smtpc.c): arbitrary server bytes through a whole session.
 *
 * The first input byte picks the configuration (STARTTLS, TLS required,
 * AUTH, plaintext allowed, mechanism filter, handshake result); the rest
 * is what the server sends, cut at NUL bytes into separate reads. The
 * driver does what the engine asks (writes, handshakes, bodies, two
 * transactions, RSET, QUIT) until CLOSED or the input ends. Besides no
 * crash, leak or out-of-bounds access: every write is whole CRLF lines
 * without a bare CR or LF, results carry valid codes, the count of
 * accepted recipients agrees with their codes, and the session ends.
 */
#include "compat.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mail/smtpc.h"

static void check_output(const struct buf *out)
{
	if (out->len < 2 || out->data[out->len - 2] != '\r' || out->data[out->len - 1] != '\n')
		abort();
	for (size_t i = 0; i < out->len; i++) {
		if (out->data[i] == '\r' && (i + 1 == out->len || out->data[i + 1] != '\n'))
			abort();
		if (out->data[i] == '\n' && (i == 0 || out->data[i - 1] != '\r'))
			abort();
	}
}

static void check_txn(const struct smtpc_txn *t)
{
	size_t ok = 0;

	if (t->code != 0 && (t->code < 200 || t->code > 599))
		abort();
	for (size_t i = 0; i < t->n; i++) {
		if (t->rcpt[i].code != 0 && (t->rcpt[i].code < 200 || t->rcpt[i].code > 599))
			abort();
		if (t->rcpt[i].code / 100 == 2)
			ok++;
	}
	if (ok != t->accepted)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t flags = size > 0 ? data[0] : 0;
	struct smtpc_conf conf = {
		.helo_name = "client.example",
		.starttls = flags & 1,
		.require_tls = flags & 2,
		.auth_user = flags & 4 ? "user" : NULL,
		.auth_pass = flags & 4 ? "secret" : NULL,
		.auth_plaintext_ok = flags & 8,
		.auth_mechs = flags & 16 ? "login" : NULL,
	};
	struct smtpc_rcpt rc[3] = {
		{.address = "a@example.net", .notify = "SUCCESS,FAILURE", .orcpt = "rfc822;a=b@example.net"},
		{.address = "b@example.net"},
		{.address = "c@example.net", .notify = "NEVER"},
	};
	struct smtpc_txn txn = {
		.sender = "s@example.org", .size = 1000, .body_8bit = true, .smtputf8 = flags & 64,
		.ret = "HDRS", .envid = "id+1", .rcpt = rc, .n = 3,
	};
	struct smtpc *s = smtpc_new(&conf);
	size_t pos = size > 0 ? 1 : 0;
	int txns = 0, chunks = 0, steps;
	bool active = false;

	for (steps = 0; steps < 10000; steps++) {
		enum smtpc_next next = smtpc_next(s);

		if (active && smtpc_txn_done(s)) {
			check_txn(&txn);
			active = false;
		}
		if (next == SMTPC_CLOSED)
			break;
		switch (next) {
		case SMTPC_WRITE:
			check_output(smtpc_output(s));
			smtpc_output_sent(s);
			break;
		case SMTPC_READ:
			if (pos >= size) {
				smtpc_eof(s);
			} else {
				const uint8_t *nul = memchr(data + pos, 0, size - pos);
				size_t len = nul != NULL ? (size_t)(nul - (data + pos)) : size - pos;

				smtpc_input(s, (const char *)data + pos, len);
				pos += len + (nul != NULL);
			}
			break;
		case SMTPC_TLS:
			smtpc_set_auth_plaintext_ok(s, true);
			smtpc_tls_done(s, !(flags & 32));
			break;
		case SMTPC_BODY:
			if (smtpc_chunking(s))
				smtpc_bdat(s, 5, ++chunks >= 2);
			else
				smtpc_body_done(s);
			break;
		case SMTPC_READY:
			if (txns < 2) {
				txns++;
				chunks = 0;
				if (smtpc_begin(s, &txn) == 0)
					active = true;
				else
					check_txn(&txn);
			} else if (txns++ == 2 && !(flags & 128)) {
				smtpc_reset(s);
			} else {
				smtpc_quit(s);
			}
			break;
		case SMTPC_CLOSED:
			break;
		}
	}
	if (steps == 10000)
		abort();	/* the session must end */
	{
		enum smtpc_stage st;
		const char *text;

		smtpc_failure(s, &st, &text);
		if (text == NULL || smtpc_stage_command(st) == NULL || smtpc_failure_dsn(s)[0] == '\0')
			abort();
	}
	if (!smtpc_txn_done(s))
		abort();
	smtpc_free(s);
	buf_free(&txn.reply);
	for (int i = 0; i < 3; i++)
		buf_free(&rc[i].reply);
	return 0;
}
