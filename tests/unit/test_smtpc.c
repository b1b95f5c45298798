/*
 * test_smtpc.c - Check suite for the SMTP client engine
 * (lib/mail/smtpc.c, smtpc_txn.c, smtpc_ehlo.c): each row scripts a
 * dialogue, the server's bytes and the exact bytes the client must
 * write, with the driver's actions in between, and the results the
 * transaction and the session end with. Every row runs twice: server
 * bytes in one piece, and one byte at a time.
 */
#include "compat.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mail/smtpc.h"
#include "util/mem.h"

/*
 * Script steps, first character the action:
 *   S  the server sends the rest          C  the client must write exactly the rest
 *   I  the server sends the rest unasked
 *   T  TLS handshake done (t: failed)     P  AUTH PLAIN/LOGIN now allowed
 *   D  body written: smtpc_body_done      K  smtpc_bdat(len, "L" = last) ("K10", "K0L")
 *   M  smtpc_begin (m: it must refuse)    Z  smtpc_reset
 *   Q  smtpc_quit                         E  the server closes the connection
 *   R  must be READY                      X  must be CLOSED
 */
#define GREET "S220 mx.example ESMTP\r\n", "CEHLO client.example\r\n"
#define PIPE_EHLO "S250-mx.example\r\n250-PIPELINING\r\n250 8BITMIME\r\n"
#define ENVELOPE "MAIL FROM:<s@example.org>\r\nRCPT TO:<r@example.net>\r\nDATA\r\n"
#define ONE_RCPT "C" ENVELOPE
#define QUIT "Q", "CQUIT\r\n", "S221 2.0.0 bye\r\n", "X"
#define L(...) ((const char *const[]){__VA_ARGS__, NULL})

struct row {
	const char *name;
	struct smtpc_conf conf;
	const char *const *dlg;
	/* the transaction */
	const char *rcpts;	/* space separated; default r@example.net */
	const char *sender;	/* default s@example.org */
	unsigned long long size;
	bool bit8, utf8;
	const char *ret, *envid, *notify, *orcpt;
	/* results, checked when not NULL */
	const char *want_rcpts;	/* "250/2.1.5,550/5.1.1" */
	const char *want_txn;	/* "250/2.0.0 IDLE 1": code/dsn, failed stage, accepted */
	const char *want_fail;	/* "554 initial greeting 554 5.7.1 no" : code, stage, text prefix */
};

static const struct row rows[] = {
	{.name = "pipelined delivery",
	 .dlg = L(GREET, PIPE_EHLO, "R", "M",
		  "CMAIL FROM:<s@example.org> BODY=8BITMIME\r\nRCPT TO:<r@example.net>\r\nDATA\r\n",
		  "S250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 go\r\n", "D", "C.\r\n",
		  "S250 2.0.0 Ok: queued as X\r\n", "R", QUIT),
	 .bit8 = true,
	 .want_rcpts = "250/2.1.5", .want_txn = "250/2.0.0 idle 1",
	 .want_fail = "221 QUIT 221 2.0.0 bye"},
	{.name = "second transaction after a 250: no RSET",
	 .dlg = L(GREET, PIPE_EHLO, "M", ONE_RCPT, "S250 ok\r\n250 ok\r\n354 go\r\n", "D", "C.\r\n",
		  "S250 2.0.0 Ok\r\n", "R", "M", ONE_RCPT, "S250 ok\r\n250 ok\r\n354 go\r\n", "D", "C.\r\n",
		  "S250 2.0.0 again\r\n", "R"),
	 .want_txn = "250/2.0.0 idle 1"},
	{.name = "lock-step, one recipient refused, multi-line replies",
	 .dlg = L("S220-mx.example\r\n220 ESMTP\r\n", "CEHLO client.example\r\n",
		  "S250-mx.example\r\n250 SIZE 1000\r\n", "R", "M",
		  "CMAIL FROM:<s@example.org> SIZE=100\r\n", "S250-2.1.0 Ok\r\n250 more\r\n",
		  "CRCPT TO:<a@example.net>\r\n", "S250 2.1.5 Ok\r\n",
		  "CRCPT TO:<b@example.net>\r\n", "S550-5.1.1 no such user\r\n550 5.1.1 really\r\n",
		  "CDATA\r\n", "S354 go\r\n", "D", "C.\r\n", "S250 2.0.0 Ok\r\n", "R"),
	 .rcpts = "a@example.net b@example.net", .size = 100, .bit8 = true,
	 .want_rcpts = "250/2.1.5,550/5.1.1", .want_txn = "250/2.0.0 idle 1"},
	{.name = "greeting refused",
	 .dlg = L("S554 5.7.1 no\r\n", "X"),
	 .want_fail = "554 initial greeting 554 5.7.1 no"},
	{.name = "greeting 421 multi-line",
	 .dlg = L("S421-busy\r\n421 4.3.2 try later\r\n", "X"),
	 .want_fail = "421 initial greeting 421-busy 4.3.2 try later"},
	{.name = "EHLO refused: HELO, no extensions",
	 .dlg = L(GREET, "S502 5.5.1 what\r\n", "CHELO client.example\r\n", "S250 mx\r\n", "R", "M",
		  "CMAIL FROM:<s@example.org>\r\n", "S250 Ok\r\n", "CRCPT TO:<r@example.net>\r\n",
		  "S250 Ok\r\n", "CDATA\r\n", "S354 go\r\n", "D", "C.\r\n", "S250 Ok\r\n", "R"),
	 .size = 5, .bit8 = true, .ret = "FULL", .envid = "x",
	 .want_txn = "250/2.0.0 idle 1"},
	{.name = "EHLO 421 closes",
	 .dlg = L(GREET, "S421 4.3.2 shutting down\r\n", "X"),
	 .want_fail = "421 EHLO 421 4.3.2"},
	{.name = "HELO refused",
	 .dlg = L(GREET, "S500 no\r\n", "CHELO client.example\r\n", "S550 go away\r\n", "X"),
	 .want_fail = "550 HELO 550 go away"},
	{.name = "STARTTLS, caps forgotten, EHLO again",
	 .conf = {.starttls = true},
	 .dlg = L(GREET, "S250-mx\r\n250-PIPELINING\r\n250 STARTTLS\r\n", "CSTARTTLS\r\n", "S220 2.0.0 go\r\n",
		  "T", "CEHLO client.example\r\n", "S250-mx\r\n250-STARTTLS\r\n250 SIZE\r\n", "R", "M",
		  "CMAIL FROM:<s@example.org> SIZE=5\r\n", "S250 ok\r\n", "CRCPT TO:<r@example.net>\r\n",
		  "E", "X"),
	 .size = 5,
	 .want_rcpts = "0/", .want_fail = "0 RCPT TO lost connection"},
	{.name = "STARTTLS not sent when not configured",
	 .dlg = L(GREET, "S250-mx\r\n250 STARTTLS\r\n", "R"),},
	{.name = "TLS required, not offered",
	 .conf = {.require_tls = true},
	 .dlg = L(GREET, "S250-mx\r\n250 PIPELINING\r\n", "X"),
	 .want_fail = "450 EHLO TLS is required, but was not offered"},
	{.name = "TLS required, STARTTLS refused",
	 .conf = {.require_tls = true},
	 .dlg = L(GREET, "S250-mx\r\n250 STARTTLS\r\n", "CSTARTTLS\r\n", "S454 4.7.0 not now\r\n", "X"),
	 .want_fail = "450 STARTTLS TLS is required, but host refused to start TLS: 454 4.7.0 not now"},
	{.name = "STARTTLS refused, not required: on in clear",
	 .conf = {.starttls = true},
	 .dlg = L(GREET, "S250-mx\r\n250 STARTTLS\r\n", "CSTARTTLS\r\n", "S454 4.7.0 not now\r\n", "R", QUIT)},
	{.name = "STARTTLS injection",
	 .conf = {.starttls = true},
	 .dlg = L(GREET, "S250-mx\r\n250 STARTTLS\r\n", "CSTARTTLS\r\n", "S220 go\r\n250 injected\r\n", "X"),
	 .want_fail = "0 STARTTLS protocol error: the server sent data after its reply to STARTTLS"},
	{.name = "TLS handshake failed",
	 .conf = {.starttls = true},
	 .dlg = L(GREET, "S250-mx\r\n250 STARTTLS\r\n", "CSTARTTLS\r\n", "S220 go\r\n", "t", "X"),
	 .want_fail = "0 STARTTLS TLS handshake failed"},
	{.name = "AUTH PLAIN",
	 .conf = {.auth_user = "u", .auth_pass = "p", .auth_plaintext_ok = true},
	 .dlg = L(GREET, "S250-mx\r\n250 auth login plain\r\n", "CAUTH PLAIN AHUAcA==\r\n",
		  "S235 2.7.0 ok\r\n", "R")},
	{.name = "AUTH LOGIN (old AUTH= form)",
	 .conf = {.auth_user = "u", .auth_pass = "p", .auth_plaintext_ok = true},
	 .dlg = L(GREET, "S250-mx\r\n250 AUTH=LOGIN\r\n", "CAUTH LOGIN\r\n", "S334 VXNlcm5hbWU6\r\n", "CdQ==\r\n",
		  "S334 UGFzc3dvcmQ6\r\n", "CcA==\r\n", "S235 ok\r\n", "R")},
	{.name = "AUTH LOGIN chosen by the mechanism filter",
	 .conf = {.auth_user = "u", .auth_pass = "p", .auth_plaintext_ok = true, .auth_mechs = "login, cram-md5"},
	 .dlg = L(GREET, "S250-mx\r\n250 AUTH PLAIN LOGIN\r\n", "CAUTH LOGIN\r\n", "S334 x\r\n", "CdQ==\r\n",
		  "S535 5.7.8 bad\r\n", "X"),
	 .want_fail = "535 AUTH 535 5.7.8 bad"},
	{.name = "AUTH refused",
	 .conf = {.auth_user = "u", .auth_pass = "p", .auth_plaintext_ok = true},
	 .dlg = L(GREET, "S250-mx\r\n250 AUTH PLAIN\r\n", "CAUTH PLAIN AHUAcA==\r\n", "S535 5.7.8 bad\r\n", "X"),
	 .want_fail = "535 AUTH 535 5.7.8 bad"},
	{.name = "AUTH not offered: on without",
	 .conf = {.auth_user = "u", .auth_pass = "p", .auth_plaintext_ok = true},
	 .dlg = L(GREET, "S250-mx\r\n250 DSN\r\n", "R")},
	{.name = "AUTH offered, plaintext not allowed here: deferred",
	 .conf = {.auth_user = "u", .auth_pass = "p"},
	 .dlg = L(GREET, "S250-mx\r\n250 AUTH PLAIN LOGIN\r\n", "X"),
	 .want_fail = "450 AUTH SASL authentication failed"},
	{.name = "AUTH after STARTTLS",
	 .conf = {.starttls = true, .auth_user = "u", .auth_pass = "p"},
	 .dlg = L(GREET, "S250-mx\r\n250-AUTH PLAIN\r\n250 STARTTLS\r\n", "CSTARTTLS\r\n", "S220 go\r\n", "P", "T",
		  "CEHLO client.example\r\n", "S250-mx\r\n250 AUTH PLAIN\r\n", "CAUTH PLAIN AHUAcA==\r\n",
		  "S235 ok\r\n", "R")},
	{.name = "AUTH 334 to PLAIN",
	 .conf = {.auth_user = "u", .auth_pass = "p", .auth_plaintext_ok = true},
	 .dlg = L(GREET, "S250-mx\r\n250 AUTH PLAIN\r\n", "CAUTH PLAIN AHUAcA==\r\n", "S334 \r\n", "X"),
	 .want_fail = "0 AUTH unexpected reply to AUTH: 334"},
	{.name = "MAIL refused, pipelined; next transaction starts with RSET",
	 .dlg = L(GREET, PIPE_EHLO, "M", ONE_RCPT,
		  "S550 5.7.1 sender refused\r\n503 5.5.1 need MAIL\r\n554 5.5.1 no valid recipients\r\n", "R",
		  "M", "CRSET\r\n" ENVELOPE, "S250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n", "D", "C.\r\n",
		  "S451 4.3.0 later\r\n", "R"),
	 .want_rcpts = "250/2.0.0", .want_txn = "451/4.3.0 end of DATA 1"},
	{.name = "MAIL refused, pipelined: every recipient gets its reply",
	 .dlg = L(GREET, PIPE_EHLO, "M",
		  "CMAIL FROM:<s@example.org>\r\nRCPT TO:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\n",
		  "S550 5.7.1 sender refused\r\n503 5.5.1 need MAIL\r\n503 5.5.1 need MAIL\r\n554 5.5.1 no\r\n", "R"),
	 .rcpts = "a@x b@x",
	 .want_rcpts = "550/5.7.1,550/5.7.1", .want_txn = "550/5.7.1 MAIL FROM 0"},
	{.name = "MAIL refused, lock-step: no RCPT",
	 .dlg = L(GREET, "S250 mx\r\n", "M", "CMAIL FROM:<>\r\n", "S452 4.3.1 full\r\n", "R"),
	 .sender = "",
	 .want_rcpts = "452/4.3.1", .want_txn = "452/4.3.1 MAIL FROM 0"},
	{.name = "no recipient accepted, pipelined DATA refused",
	 .dlg = L(GREET, PIPE_EHLO, "M", ONE_RCPT, "S250 ok\r\n550 5.1.1 no\r\n554 5.5.1 no valid recipients\r\n", "R"),
	 .want_rcpts = "550/5.1.1", .want_txn = "0/ RCPT TO 0"},
	{.name = "no recipient accepted, pipelined DATA got 354: empty message ended",
	 .dlg = L(GREET, PIPE_EHLO, "M", ONE_RCPT, "S250 ok\r\n550 5.1.1 no\r\n354 go\r\n", "C.\r\n",
		  "S554 5.5.1 no recipients\r\n", "R"),
	 .want_rcpts = "550/5.1.1", .want_txn = "0/ RCPT TO 0"},
	{.name = "no recipient accepted, lock-step: no DATA",
	 .dlg = L(GREET, "S250 mx\r\n", "M", "CMAIL FROM:<s@example.org>\r\n", "S250 ok\r\n",
		  "CRCPT TO:<r@example.net>\r\n", "S450 4.2.0 greylisted\r\n", "R"),
	 .want_rcpts = "450/4.2.0", .want_txn = "0/ RCPT TO 0"},
	{.name = "DATA refused",
	 .dlg = L(GREET, PIPE_EHLO, "M", ONE_RCPT, "S250 ok\r\n250 ok\r\n451 4.3.0 no\r\n", "R"),
	 .want_rcpts = "250/2.0.0", .want_txn = "451/4.3.0 DATA 1"},
	{.name = "end of data refused",
	 .dlg = L(GREET, PIPE_EHLO, "M", ONE_RCPT, "S250 ok\r\n250 ok\r\n354 go\r\n", "D", "C.\r\n",
		  "S552 5.3.4 too big\r\n", "R"),
	 .want_txn = "552/5.3.4 end of DATA 1"},
	{.name = "BDAT with PIPELINING",
	 .dlg = L(GREET, "S250-mx\r\n250-PIPELINING\r\n250 CHUNKING\r\n", "M",
		  "CMAIL FROM:<s@example.org>\r\nRCPT TO:<r@example.net>\r\n", "S250 ok\r\n250 ok\r\n",
		  "K10", "CBDAT 10\r\n", "S250 2.0.0 10 octets\r\n", "K0L", "CBDAT 0 LAST\r\n",
		  "S250 2.0.0 queued\r\n", "R"),
	 .want_txn = "250/2.0.0 idle 1"},
	{.name = "BDAT lock-step, refused",
	 .dlg = L(GREET, "S250-mx\r\n250 CHUNKING\r\n", "M", "CMAIL FROM:<s@example.org>\r\n", "S250 ok\r\n",
		  "CRCPT TO:<r@example.net>\r\n", "S250 ok\r\n", "K7L", "CBDAT 7 LAST\r\n",
		  "S554 5.6.0 bad\r\n", "R", "Z", "CRSET\r\n", "S250 ok\r\n", "R"),
	 .want_txn = "554/5.6.0 BDAT 1"},
	{.name = "DSN and SMTPUTF8 parameters",
	 .dlg = L(GREET, "S250-mx\r\n250-dsn\r\n250-SMTPUTF8\r\n250 PIPELINING\r\n", "M",
		  "CMAIL FROM:<s@example.org> SMTPUTF8 RET=HDRS ENVID=a+2Bb\r\n"
		  "RCPT TO:<r@example.net> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;a+3Db@x\r\nDATA\r\n"),
	 .utf8 = true, .ret = "HDRS", .envid = "a+b", .notify = "SUCCESS,FAILURE", .orcpt = "rfc822;a=b@x"},
	{.name = "DSN not offered: no DSN parameters",
	 .dlg = L(GREET, PIPE_EHLO, "M", ONE_RCPT),
	 .ret = "FULL", .envid = "x", .notify = "NEVER", .orcpt = "rfc822;r@example.net"},
	{.name = "ORCPT without a type",
	 .dlg = L(GREET, "S250-mx\r\n250 DSN\r\n", "M", "CMAIL FROM:<s@example.org>\r\n", "S250 ok\r\n",
		  "CRCPT TO:<r@example.net> ORCPT=rfc822;r@example.net\r\n"),
	 .orcpt = "r@example.net"},
	{.name = "SMTPUTF8 needed, not offered",
	 .dlg = L(GREET, PIPE_EHLO, "m", "R"),
	 .utf8 = true,
	 .want_rcpts = "555/5.6.7", .want_txn = "555/5.6.7 MAIL FROM 0"},
	{.name = "over the server's SIZE",
	 .dlg = L(GREET, "S250-mx\r\n250 SIZE 1000\r\n", "m", "R"),
	 .size = 1001,
	 .want_rcpts = "552/5.3.4", .want_txn = "552/5.3.4 MAIL FROM 0"},
	{.name = "CRLF in a recipient never reaches the wire",
	 .dlg = L(GREET, PIPE_EHLO, "m", "R"),
	 .rcpts = "a@x\r\nRCPT",
	 .want_rcpts = "501/5.1.3", .want_txn = "501/5.1.3 MAIL FROM 0"},
	{.name = "NOTIFY with a space never reaches the wire",
	 .dlg = L(GREET, "S250 DSN\r\n", "m", "R"),
	 .notify = "NEVER SIZE=1",
	 .want_rcpts = "501/5.1.3"},
	{.name = "lost connection in the body",
	 .dlg = L(GREET, PIPE_EHLO, "M", ONE_RCPT, "S250 ok\r\n250 ok\r\n354 go\r\n", "D", "C.\r\n", "E", "X"),
	 .want_rcpts = "250/2.0.0", .want_txn = "0/4.4.2 end of DATA 1", .want_fail = "0 end of DATA lost connection"},
	{.name = "quit in the middle of the body: nothing sent",
	 .dlg = L(GREET, PIPE_EHLO, "M", ONE_RCPT, "S250 ok\r\n250 ok\r\n354 go\r\n", "Q", "X"),
	 .want_fail = "0 message body session abandoned"},
	{.name = "malformed reply",
	 .dlg = L(GREET, "Shello\r\n", "X"),
	 .want_fail = "0 EHLO protocol error: malformed reply"},
	{.name = "bytes while idle",
	 .dlg = L(GREET, "S250 mx\r\n", "R", "I250 what\r\n", "X"),
	 .want_fail = "0 idle protocol error: the server sent data before a command"},
	{.name = "421 while idle: the server's words",
	 .dlg = L(GREET, "S250 mx\r\n", "R", "I421 4.4.2 mx idle timeout\r\n", "X"),
	 .want_fail = "421 idle 421 4.4.2 mx idle timeout"},
	{.name = "421 right after a reply: the server's words",
	 .dlg = L(GREET, "S250 mx\r\n421 4.3.2 shutting down\r\n", "X"),
	 .want_fail = "421 idle 421 4.3.2 shutting down"},
	{.name = "bytes before EHLO was sent",
	 .dlg = L("S220 mx\r\n250 early\r\n", "X"),
	 .want_fail = "0 EHLO protocol error: the server sent data before a command"},
	{.name = "server closes after QUIT without a reply",
	 .dlg = L(GREET, "S250 mx\r\n", "Q", "CQUIT\r\n", "E", "X"),
	 .want_fail = "0 QUIT connection closed after QUIT"},
	{.name = "RSET refused closes",
	 .dlg = L(GREET, "S250 mx\r\n", "Z", "CRSET\r\n", "S500 what\r\n", "X"),
	 .want_fail = "500 RSET 500 what"},
	{.name = "421 to RCPT ends the session",
	 .dlg = L(GREET, "S250 mx\r\n", "M", "CMAIL FROM:<s@example.org>\r\n", "S250 ok\r\n",
		  "CRCPT TO:<a@x>\r\n", "S250 ok\r\n", "CRCPT TO:<b@x>\r\n", "S421 4.3.2 bye\r\n", "X"),
	 .rcpts = "a@x b@x c@x",
	 .want_rcpts = "250/2.0.0,421/4.3.2,0/", .want_txn = "421/4.3.2 RCPT TO 1", .want_fail = "421 RCPT TO 421 4.3.2 bye"},
	{.name = "421 to a pipelined MAIL",
	 .dlg = L(GREET, PIPE_EHLO, "M", ONE_RCPT, "S421 4.3.2 bye\r\n", "X"),
	 .want_rcpts = "421/4.3.2", .want_txn = "421/4.3.2 MAIL FROM 0"},
	{.name = "354 to MAIL",
	 .dlg = L(GREET, "S250 mx\r\n", "M", "CMAIL FROM:<s@example.org>\r\n", "S354 what\r\n", "X"),
	 .want_rcpts = "0/", .want_txn = "0/4.5.0 MAIL FROM 0",
	 .want_fail = "0 MAIL FROM protocol error: unexpected reply to MAIL FROM: 354 what"},
	{.name = "250 to DATA",
	 .dlg = L(GREET, PIPE_EHLO, "M", ONE_RCPT, "S250 ok\r\n250 ok\r\n250 ok\r\n", "X"),
	 .want_rcpts = "250/2.0.0", .want_fail = "0 DATA protocol error: unexpected reply to DATA: 250 ok"},
	{.name = "RSET then MAIL in lock-step after a failed transaction",
	 .dlg = L(GREET, "S250 mx\r\n", "M", "CMAIL FROM:<s@example.org>\r\n", "S451 no\r\n", "R", "M",
		  "CRSET\r\n", "S250 ok\r\n", "CMAIL FROM:<s@example.org>\r\n", "S250 ok\r\n",
		  "CRCPT TO:<r@example.net>\r\n")},
};

static void results(const struct smtpc_txn *t, struct buf *out)
{
	for (size_t i = 0; i < t->n; i++)
		buf_printf(out, "%s%d/%s", i ? "," : "", t->rcpt[i].code, t->rcpt[i].dsn);
}

static void run(const struct row *r, bool bytewise)
{
	struct smtpc_conf conf = r->conf;
	struct smtpc_rcpt rc[4];
	struct smtpc_txn txn;
	struct buf got = BUF_INIT;
	char *rcpts = xstrdup(r->rcpts != NULL ? r->rcpts : "r@example.net");
	struct smtpc *s;

	if (conf.helo_name == NULL)
		conf.helo_name = "client.example";
	memset(&txn, 0, sizeof(txn));
	memset(rc, 0, sizeof(rc));
	txn.sender = r->sender != NULL ? r->sender : "s@example.org";
	txn.size = r->size;
	txn.body_8bit = r->bit8;
	txn.smtputf8 = r->utf8;
	txn.ret = r->ret;
	txn.envid = r->envid;
	txn.rcpt = rc;
	for (char *p = strtok(rcpts, " "); p != NULL && txn.n < 4; p = strtok(NULL, " ")) {
		rc[txn.n].address = p;
		rc[txn.n].notify = r->notify;
		rc[txn.n].orcpt = r->orcpt;
		txn.n++;
	}
	s = smtpc_new(&conf);
	for (const char *const *step = r->dlg; *step != NULL; step++) {
		const char *arg = *step + 1;
		enum smtpc_next next = smtpc_next(s);
		int at = (int)(step - r->dlg);

		switch (**step) {
		case 'S':
		case 'I':
			ck_assert_msg(next == (**step == 'S' ? SMTPC_READ : SMTPC_READY), "%s: step %d: next %d, not READ", r->name, at, next);
			if (bytewise)
				for (size_t i = 0; arg[i] != '\0'; i++)
					smtpc_input(s, arg + i, 1);
			else
				smtpc_input(s, arg, strlen(arg));
			break;
		case 'C':
			ck_assert_msg(next == SMTPC_WRITE, "%s: step %d: next %d, not WRITE", r->name, at, next);
			ck_assert_msg(strcmp(buf_str(smtpc_output(s)), arg) == 0, "%s: step %d: wrote [%s] not [%s]",
				      r->name, at, buf_str(smtpc_output(s)), arg);
			smtpc_output_sent(s);
			break;
		case 'T':
		case 't':
			ck_assert_msg(next == SMTPC_TLS, "%s: step %d: next %d, not TLS", r->name, at, next);
			smtpc_tls_done(s, **step == 'T');
			break;
		case 'P':
			smtpc_set_auth_plaintext_ok(s, true);
			break;
		case 'D':
			ck_assert_msg(next == SMTPC_BODY && !smtpc_chunking(s), "%s: step %d: next %d", r->name, at, next);
			smtpc_body_done(s);
			break;
		case 'K':
			ck_assert_msg(next == SMTPC_BODY && smtpc_chunking(s), "%s: step %d: next %d", r->name, at, next);
			smtpc_bdat(s, strtoul(arg, NULL, 10), strchr(arg, 'L') != NULL);
			break;
		case 'M':
		case 'm':
			ck_assert_msg(next == SMTPC_READY, "%s: step %d: next %d, not READY", r->name, at, next);
			ck_assert_int_eq(smtpc_begin(s, &txn), **step == 'M' ? 0 : -1);
			ck_assert(smtpc_txn_done(s) == (**step == 'm'));
			break;
		case 'Z':
			smtpc_reset(s);
			break;
		case 'Q':
			smtpc_quit(s);
			break;
		case 'E':
			smtpc_eof(s);
			break;
		case 'R':
			ck_assert_msg(next == SMTPC_READY, "%s: step %d: next %d, not READY", r->name, at, next);
			ck_assert(smtpc_txn_done(s));
			break;
		case 'X':
			ck_assert_msg(next == SMTPC_CLOSED, "%s: step %d: next %d, not CLOSED", r->name, at, next);
			ck_assert(smtpc_txn_done(s));
			break;
		default:
			ck_abort_msg("bad step %s", *step);
		}
	}
	if (r->want_rcpts != NULL) {
		results(&txn, &got);
		ck_assert_msg(strcmp(buf_str(&got), r->want_rcpts) == 0, "%s: rcpts %s", r->name, buf_str(&got));
	}
	if (r->want_txn != NULL) {
		buf_reset(&got);
		buf_printf(&got, "%d/%s %s %zu", txn.code, txn.dsn, smtpc_stage_command(txn.failed_stage), txn.accepted);
		ck_assert_msg(strcmp(buf_str(&got), r->want_txn) == 0, "%s: txn %s", r->name, buf_str(&got));
	}
	if (r->want_fail != NULL) {
		enum smtpc_stage st;
		const char *text;
		int code = smtpc_failure(s, &st, &text);

		buf_reset(&got);
		buf_printf(&got, "%d %s %s", code, smtpc_stage_command(st), text);
		ck_assert_msg(strncmp(buf_str(&got), r->want_fail, strlen(r->want_fail)) == 0,
			      "%s: failure [%s]", r->name, buf_str(&got));
	}
	smtpc_free(s);
	buf_free(&got);
	buf_free(&txn.reply);
	for (size_t i = 0; i < 4; i++)
		buf_free(&rc[i].reply);
	free(rcpts);
}

START_TEST(test_rows)
{
	run(&rows[_i], false);
}
END_TEST

START_TEST(test_rows_bytewise)
{
	run(&rows[_i], true);
}
END_TEST

static const struct {
	const char *reply;
	const char *want;	/* the caps, as caps_str prints them */
} ehlos[] = {
	{"250-mx.example hello PIPELINING\r\n250-pipelining\r\n250-StartTLS\r\n250-8bitmime\r\n"
	 "250-SMTPUTF8\r\n250-DSN\r\n250-CHUNKING\r\n250-SIZE 10485760\r\n250 AUTH PLAIN LOGIN CRAM-MD5\r\n",
	 "pipe tls 8bit utf8 dsn chunk auth plain login size=10485760/1"},
	{"250 mx.example PIPELINING\r\n", "size=0/0"},	/* the greeting line is no keyword */
	{"250-mx\n250-AUTH=LOGIN\n250 SIZE\n", "auth login size=0/1"},
	{"250-mx\r\n250-SIZE 99999999999999999999999\r\n250 PIPELININGX\r\n", "size=0/1"},
	{"250-mx\r\n250-SIZE abc\r\n250-DSN=1\r\n250 AUTH\r\n", "auth size=0/1"},
	{"250-mx\r\n250-\r\n250-8\r\n250 auth  plain\r\n", "auth plain size=0/0"},
};

static void caps_str(const struct smtpc_caps *c, struct buf *b)
{
	buf_printf(b, "%s%s%s%s%s%s%s%s%s%ssize=%llu/%d", c->pipelining ? "pipe " : "", c->starttls ? "tls " : "",
		   c->eightbitmime ? "8bit " : "", c->smtputf8 ? "utf8 " : "", c->dsn ? "dsn " : "",
		   c->chunking ? "chunk " : "", c->auth ? "auth " : "", c->auth_plain ? "plain " : "",
		   c->auth_login ? "login " : "", "", c->size, c->size_ext);
}

START_TEST(test_ehlo)
{
	struct smtpc_caps caps;
	struct buf b = BUF_INIT;

	smtpc_ehlo_parse(ehlos[_i].reply, strlen(ehlos[_i].reply), &caps);
	ck_assert(caps.esmtp);
	caps_str(&caps, &b);
	ck_assert_str_eq(buf_str(&b), ehlos[_i].want);
	buf_free(&b);
}
END_TEST

START_TEST(test_mech_filter)
{
	ck_assert(smtpc_mech_allowed(NULL, "PLAIN"));
	ck_assert(smtpc_mech_allowed("", "LOGIN"));
	ck_assert(smtpc_mech_allowed(" , ", "LOGIN"));
	ck_assert(smtpc_mech_allowed("cram-md5, plain", "PLAIN"));
	ck_assert(!smtpc_mech_allowed("cram-md5, plain", "LOGIN"));
	ck_assert(!smtpc_mech_allowed("plainx", "PLAIN"));
}
END_TEST

/* A server that sends continuation lines for ever is cut off. */
START_TEST(test_endless_reply)
{
	struct smtpc_conf conf = {.helo_name = "c"};
	struct smtpc *s = smtpc_new(&conf);
	enum smtpc_stage st;
	const char *text;

	for (int i = 0; i < 100000 && smtpc_next(s) == SMTPC_READ; i++)
		smtpc_input(s, "220-more and more\r\n", 19);
	ck_assert_int_eq(smtpc_next(s), SMTPC_CLOSED);
	ck_assert_int_eq(smtpc_failure(s, &st, &text), 0);
	ck_assert_int_eq(st, SMTPC_ST_GREETING);
	ck_assert_str_eq(text, "protocol error: reply too long");
	smtpc_free(s);
}
END_TEST

/* An overlong line is refused by smtp_reply_take. */
START_TEST(test_long_line)
{
	struct smtpc_conf conf = {.helo_name = "c"};
	struct smtpc *s = smtpc_new(&conf);
	const char *text;

	smtpc_input(s, "220 ", 4);
	for (int i = 0; i < 1000 && smtpc_next(s) == SMTPC_READ; i++)
		smtpc_input(s, "xxxxxxxxxxxxxxxxxxxx", 20);
	ck_assert_int_eq(smtpc_next(s), SMTPC_CLOSED);
	smtpc_failure(s, NULL, &text);
	ck_assert_str_eq(text, "protocol error: reply line too long");
	smtpc_free(s);
}
END_TEST

/* Many recipients in one pipeline, replies in one piece. */
START_TEST(test_many_rcpts)
{
	struct smtpc_conf conf = {.helo_name = "c"};
	struct smtpc *s = smtpc_new(&conf);
	struct smtpc_rcpt rc[50];
	struct smtpc_txn txn = {.sender = "s@x", .rcpt = rc, .n = 50};
	struct buf replies = BUF_INIT;

	memset(rc, 0, sizeof(rc));
	for (int i = 0; i < 50; i++)
		rc[i].address = "r@x";
	smtpc_input(s, "220 x\r\n", 7);
	smtpc_output_sent(s);
	smtpc_input(s, "250-x\r\n250 PIPELINING\r\n", 23);
	ck_assert_int_eq(smtpc_begin(s, &txn), 0);
	ck_assert_int_eq(smtpc_next(s), SMTPC_WRITE);
	ck_assert_uint_eq(smtpc_output(s)->len, strlen("MAIL FROM:<s@x>\r\n") + 50 * strlen("RCPT TO:<r@x>\r\n") + 6);
	smtpc_output_sent(s);
	buf_adds(&replies, "250 ok\r\n");
	for (int i = 0; i < 50; i++)
		buf_adds(&replies, i % 2 ? "250 ok\r\n" : "550 no\r\n");
	buf_adds(&replies, "354 go\r\n");
	smtpc_input(s, replies.data, replies.len);
	ck_assert_int_eq(smtpc_next(s), SMTPC_BODY);
	ck_assert_uint_eq(txn.accepted, 25);
	ck_assert_int_eq(rc[49].code, 250);
	ck_assert_int_eq(rc[48].code, 550);
	smtpc_free(s);
	buf_free(&replies);
	for (int i = 0; i < 50; i++)
		buf_free(&rc[i].reply);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("smtpc");
	TCase *tc = tcase_create("dialogues");
	int n = (int)(sizeof(rows) / sizeof(rows[0]));

	tcase_add_loop_test(tc, test_rows, 0, n);
	tcase_add_loop_test(tc, test_rows_bytewise, 0, n);
	tcase_add_loop_test(tc, test_ehlo, 0, (int)(sizeof(ehlos) / sizeof(ehlos[0])));
	tcase_add_test(tc, test_mech_filter);
	tcase_add_test(tc, test_endless_reply);
	tcase_add_test(tc, test_long_line);
	tcase_add_test(tc, test_many_rcpts);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_set_fork_status(sr, CK_NOFORK);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
