/*
 * fuzz_smtp_session.c - libFuzzer target for the whole SMTP server state
 * machine (lib/mail/smtp_engine.c) fed from a buffer through stub I/O.
 * The first byte picks settings (HELO required without CHUNKING, bare
 * newlines, pipelining, STARTTLS, AUTH, commits, AUTH steps and policy
 * verdicts that come later); the rest is cut into packets at 0xff bytes,
 * each handed to the engine as one read. The policy callbacks decide on
 * what the input names: the client is refused at connect (554, or 421)
 * for some input lengths; a HELO name, sender or recipient starting
 * with "r" is refused, with "d" closes the session, with "p" is decided
 * later (by its second letter); a sender ending in "x" is refused at
 * DATA, in "y" at the end of data, in "z" closed there, in "p" or "q"
 * decided later at DATA/BDAT or at the end of data ("q": refused at
 * DATA/BDAT); an unknown command starting with "P" is decided
 * later, with "R" refused with a two-line reply; for some input lengths
 * the connect verdict comes later. Checked: no crash or
 * leak; every reply line ends in CRLF and starts with a 3-digit code; a
 * message is committed only after an end of data the engine accepted;
 * opened messages are always committed or aborted; nothing is processed
 * after the engine closed.
 */
#include "compat.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mail/smtp_engine.h"
#include "util/buf.h"
#include "util/mem.h"

static int opened, finished, aborted;
static bool pending_commits, strict_newlines;

static void *f_open(void *ctx, const struct smtp_session_info *si, const struct smtp_envelope *env,
		struct buf *reply)
{
	(void)ctx;
	(void)si;
	(void)reply;
	if (env->nrcpt == 0)
		abort();
	opened++;
	return xmalloc(1);
}

static int f_write(void *msg, const char *data, size_t len)
{
	(void)msg;
	/*
	 * With bare CR and LF refused (and no BDAT, whose content may hold
	 * any bytes), DATA content reaches cleanup with no CR at all.
	 */
	for (size_t i = 0; strict_newlines && i < len; i++)
		if (data[i] == '\r')
			abort();
	for (size_t i = 0; strict_newlines && i + 1 < len; i++)
		if (data[i] == '\r' && data[i + 1] == '\n')
			abort();
	return 0;
}

static enum smtp_commit f_finish(void *ctx, void *msg, char *qid, size_t idlen, struct buf *reason)
{
	(void)ctx;
	(void)reason;
	free(msg);
	finished++;
	if (pending_commits)
		return SMTP_COMMIT_PENDING;
	strlcpy(qid, "QID", idlen);
	return SMTP_COMMIT_OK;
}

static void f_abort(void *msg)
{
	free(msg);
	aborted++;
}

static size_t input_size;		/* for the connect verdict */
static bool policy_waiting;		/* a verdict was promised, not given */
static enum smtp_verdict policy_later;

/* A verdict on a name: see the header. */
static enum smtp_verdict judge(const char *name, struct buf *reply)
{
	switch (name[0]) {
	case 'r':
		buf_adds(reply, "554 5.7.1 <x>: Access denied");
		return SMTP_REJECT;
	case 'd':
		buf_adds(reply, "421 4.7.0 closing");
		return SMTP_DISCONNECT;
	case 'p':
		if (!pending_commits)
			return SMTP_ACCEPT;
		if (policy_waiting)
			abort();	/* asked again before the first answer */
		policy_waiting = true;
		policy_later = name[1] == 'r' ? SMTP_REJECT : name[1] == 'd' ? SMTP_DISCONNECT
			       : name[1] == 'p' ? SMTP_PENDING : SMTP_ACCEPT;
		buf_adds(reply, "ignored");
		return SMTP_PENDING;
	default:
		return SMTP_ACCEPT;
	}
}

static enum smtp_verdict f_connect(void *ctx, const struct smtp_session_info *si, struct buf *reply)
{
	(void)ctx;
	(void)si;
	switch (input_size % 11) {
	case 1:
		buf_adds(reply, "554 5.7.1 <fuzz[192.0.2.1]>: Client host rejected: Access denied");
		return SMTP_REJECT;
	case 2:
		buf_adds(reply, "421 4.7.0 go away");
		return SMTP_DISCONNECT;
	case 3:
		buf_adds(reply, "no code");	/* a broken callback */
		return SMTP_REJECT;
	case 4:
		return judge("p", reply);
	case 5:
		return judge("pr", reply);
	default:
		return SMTP_ACCEPT;
	}
}

static enum smtp_verdict f_helo(void *ctx, const struct smtp_session_info *si, struct buf *reply)
{
	(void)ctx;
	if (si->helo == NULL)
		abort();
	return judge(si->helo, reply);
}

static enum smtp_verdict f_mail(void *ctx, const struct smtp_session_info *si, const char *sender,
		struct buf *reply)
{
	(void)ctx;
	if (si->sender == NULL || strcmp(si->sender, sender) != 0)
		abort();
	return judge(sender, reply);
}

static enum smtp_verdict f_rcpt(void *ctx, const struct smtp_session_info *si, const char *rcpt,
		struct buf *reply)
{
	(void)ctx;
	if (si->sender == NULL)
		abort();
	return judge(rcpt, reply);
}

static enum smtp_verdict f_data(void *ctx, const struct smtp_session_info *si, size_t nrcpt, bool end,
		struct buf *reply)
{
	(void)ctx;
	if (si->sender == NULL || nrcpt == 0)
		abort();
	size_t n = strlen(si->sender);
	char last = n > 0 ? si->sender[n - 1] : '\0';
	if ((last == 'x' && !end) || (last == 'y' && end)) {
		buf_adds(reply, end ? "550 5.7.1 <END-OF-MESSAGE>: End-of-data rejected"
				    : "554 5.7.1 <DATA>: Data command rejected");
		return SMTP_REJECT;
	}
	if (last == 'p' || last == 'q')
		return judge(last == 'q' && !end ? "pr" : "p", reply);
	if (last == 'z' && end) {
		buf_adds(reply, "421 4.7.0 closing");
		return SMTP_DISCONNECT;
	}
	return SMTP_ACCEPT;
}

static enum smtp_verdict f_unknown(void *ctx, const struct smtp_session_info *si, const char *line,
		struct buf *reply)
{
	(void)ctx;
	(void)si;
	if (line[0] == 'R') {
		buf_adds(reply, "550-5.7.1 refused\r\n550 5.7.1 by the filter");
		return SMTP_REJECT;
	}
	return line[0] == 'P' ? judge("p", reply) : SMTP_ACCEPT;
}

static unsigned txn_ends;

static void f_txn_end(void *ctx)
{
	(void)ctx;
	txn_ends++;
}

static void *f_auth_new(void *ctx, const char *mech, const struct smtp_session_info *si)
{
	(void)ctx;
	(void)si;
	return strcmp(mech, "PLAIN") == 0 ? xcalloc(1, 1) : NULL;
}

static enum smtp_auth_status later;	/* the answer to a step left pending */
static bool auth_waiting;

static enum smtp_auth_status f_auth_step(void *auth, const char *data, size_t len, struct buf *ch)
{
	(void)auth;
	buf_reset(ch);
	enum smtp_auth_status st = data == NULL ? SMTP_AUTH_CONTINUE
				   : len == 3 ? SMTP_AUTH_DONE : len == 4 ? SMTP_AUTH_TEMPFAIL : SMTP_AUTH_FAIL;
	if (!pending_commits)
		return st;
	if (auth_waiting)
		abort();	/* a second step before the first was answered */
	later = st;
	auth_waiting = true;
	return SMTP_AUTH_PENDING;
}

static unsigned f_auth_outcome(void *ctx, const struct smtp_session_info *si, bool success)
{
	(void)ctx;
	(void)si;
	return success ? 0 : 10;
}

static const char *f_auth_user(void *auth)
{
	(void)auth;
	return "user";
}

static void f_auth_free(void *auth)
{
	auth_waiting = false;	/* the session let go of a pending step */
	free(auth);
}

static const struct smtp_engine_ops ops = {
	.check_connect = f_connect,
	.check_helo = f_helo,
	.check_mail = f_mail,
	.check_rcpt = f_rcpt,
	.check_data = f_data,
	.check_unknown = f_unknown,
	.txn_end = f_txn_end,
	.msg_open = f_open,
	.msg_write = f_write,
	.msg_finish = f_finish,
	.msg_abort = f_abort,
	.auth_new = f_auth_new,
	.auth_step = f_auth_step,
	.auth_username = f_auth_user,
	.auth_free = f_auth_free,
	.auth_outcome = f_auth_outcome,
};

static void check_output(struct smtp_engine *e)
{
	size_t len;
	const char *p = smtp_engine_output(e, &len);
	size_t start = 0;
	for (size_t i = 0; i < len; i++) {
		if (p[i] != '\n')
			continue;
		if (i == 0 || p[i - 1] != '\r' || i - start < 5)
			abort();
		if (!isdigit((unsigned char)p[start]) || !isdigit((unsigned char)p[start + 1])
		    || !isdigit((unsigned char)p[start + 2]) || (p[start + 3] != ' ' && p[start + 3] != '-'))
			abort();
		start = i + 1;
	}
	if (start != len)
		abort();	/* replies are queued whole */
	smtp_engine_output_done(e, len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	uint8_t opt = data[0];
	struct smtp_engine_cfg cfg = {
		.myhostname = "mx.fuzz",
		.banner = "mx.fuzz ESMTP",
		.helo_required = opt & 0x01,
		.recipient_limit = 5,
		.message_size_limit = 300,
		.line_limit = 512,
		.soft_error_limit = 10,
		.hard_error_limit = 50,
		.junk_command_limit = 100,
		.forbid_bare_newline = !(opt & 0x02),
		.forbid_unauth_pipelining = !(opt & 0x04),
		.lf_line_ends = (opt & 0x06) == 0x06,	/* the sendmail -bs mode */
		.vrfy_enabled = opt & 0x08,
		.pipelining = true,
		.chunking = !(opt & 0x01),
		.dsn = true,
		.smtputf8 = true,
		.eightbitmime = true,
		.starttls = opt & 0x10,
		.auth = opt & 0x20,
		.auth_mechanisms = "PLAIN",
	};
	pending_commits = opt & 0x40;
	strict_newlines = !(opt & 0x02) && !cfg.chunking;
	opened = finished = aborted = 0;
	auth_waiting = false;
	policy_waiting = false;
	input_size = size;
	struct smtp_engine *e = smtp_engine_new(&cfg, &ops, NULL, "fuzz", "192.0.2.1");
	smtp_engine_start(e);
	check_output(e);
	size_t i = 1;
	while (i < size) {
		size_t j = i;
		while (j < size && data[j] != 0xff)
			j++;
		smtp_engine_input(e, (const char *)data + i, j - i);
		check_output(e);
		int f = smtp_engine_flags(e);
		if (f & SMTP_WANT_STARTTLS)
			smtp_engine_tls_done(e, true, "TLSv1.3", "TLS_AES_128_GCM_SHA256");
		if (f & SMTP_WAIT_COMMIT)
			smtp_engine_commit_done(e, (j & 1) ? SMTP_COMMIT_OK : SMTP_COMMIT_TEMPFAIL, "QID", "x");
		if (f & SMTP_WAIT_AUTH) {
			if (!auth_waiting)
				abort();	/* waiting for an answer no step promised */
			auth_waiting = false;
			smtp_engine_auth_done(e, later, "Username:", 9);
		}
		/* The answers above may have let held commands run: look again. */
		int pf = smtp_engine_flags(e);
		/* Waiting for a verdict nobody promised, or not waiting for one (a closed session drops it). */
		if (!!(pf & SMTP_WAIT_POLICY) != policy_waiting && !(pf & SMTP_WANT_CLOSE))
			abort();
		/* Sometimes the next packet arrives before the verdict. */
		if ((pf & SMTP_WAIT_POLICY) && (j & 2) == 0) {
			policy_waiting = false;
			smtp_engine_policy_done(e, policy_later, policy_later == SMTP_ACCEPT ? NULL
					: policy_later == SMTP_DISCONNECT ? "421 4.7.0 closing later"
					: "450 4.1.2 <x>: Recipient address rejected: Domain not found");
		}
		check_output(e);
		if (f & SMTP_WANT_CLOSE)
			break;
		i = j + 1;
	}
	if (opt & 0x80)
		smtp_engine_timeout(e);
	smtp_engine_eof(e);
	check_output(e);
	/* A verdict that arrives after the session ended is dropped. */
	smtp_engine_policy_done(e, SMTP_ACCEPT, NULL);
	check_output(e);
	smtp_engine_free(e);
	if (opened != finished + aborted)
		abort();
	return 0;
}
