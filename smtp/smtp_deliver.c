/*
 * smtp_deliver.c - deliver one message's recipients for one next hop:
 * route, TLS policy (smtp_tls_policy_maps, MTA-STS, DANE), AUTH
 * credentials, sessions tried in order, results per recipient, and the
 * cache of idle connections that the next message to the same next hop
 * reuses.
 *
 * Runs in the smtp program as mail_owner, one delivery at a time (each
 * qmgr connection has its own smtp process, so a slow server or a slow
 * lookup holds only that delivery).
 *
 * Outcomes, as Postfix decides them: 2xx for the recipient and the
 * message delivers; 5xx bounces (the server's reply is kept for
 * Diagnostic-Code, its name for Remote-MTA); 4xx, a lost connection or a
 * server that cannot be reached leaves the recipient for the next
 * address, and defers it with the last reason when none is left. A 5xx
 * greeting moves on to the next server (smtp_skip_5xx_greeting). A TLS
 * handshake that fails at level may is tried again on the same server
 * without TLS, as Postfix does; at encrypt and above it is the next
 * server, then a deferral. Recipients go in transactions of at most
 * smtp_destination_recipient_limit on one connection.
 */
#include "compat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "mail/cleanup.h"
#include "mail/config.h"
#include "mail/param_maps.h"
#include "mail/qfile.h"
#include "mail/resolve.h"
#include "mail/smtp_reply.h"
#include "mail/smtpc_body.h"
#include "smtp/smtp.h"
#include "smtp/smtp_int.h"
#include "smtp/smtp_sts.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/utf8.h"

#define CACHE_MAX	8

static struct smtp_sess *cache[CACHE_MAX];

int smtp_deliver_init(struct buf *err)
{
	srandom((unsigned)(time(NULL) ^ getpid()));
	if (dns_init_from_config(err) < 0)
		return -1;
	return smtp_tls_init(err);
}

/* --- the connection cache --------------------------------------------------- */

static long long cache_deadline(const struct smtp_sess *s)
{
	long long idle = s->idle_ms + cfg_int(P_smtp_connection_cache_time_limit) * 1000;
	long long life = s->opened_ms + cfg_int(P_smtp_connection_reuse_time_limit) * 1000;

	return idle < life ? idle : life;
}

int smtp_cache_timeout_ms(void)
{
	long long now = smtp_now_ms(), best = -1;

	for (int i = 0; i < CACHE_MAX; i++) {
		if (cache[i] == NULL)
			continue;
		long long left = cache_deadline(cache[i]) - now;
		if (left < 0)
			left = 0;
		if (best < 0 || left < best)
			best = left;
	}
	return best > 1000000 ? 1000000 : (int)best;
}

void smtp_cache_expire(bool all)
{
	long long now = smtp_now_ms();

	for (int i = 0; i < CACHE_MAX; i++)
		if (cache[i] != NULL && (all || cache_deadline(cache[i]) <= now)) {
			smtp_session_close(cache[i], true);
			cache[i] = NULL;
		}
}

static struct smtp_sess *cache_take(const char *key)
{
	for (int i = 0; i < CACHE_MAX; i++) {
		struct smtp_sess *s = cache[i];
		if (s == NULL || strcmp(s->key, key) != 0)
			continue;
		cache[i] = NULL;
		if (cache_deadline(s) > smtp_now_ms() && smtp_session_alive(s))
			return s;
		smtp_session_close(s, false);
	}
	return NULL;
}

/*
 * Close idle sessions to the server about to be connected to: holding one
 * while opening another would count twice against the server's limit of
 * connections per client, and a server that serves one connection at a
 * time would never answer the second.
 */
static void cache_drop_relay(const char *relay)
{
	for (int i = 0; i < CACHE_MAX; i++)
		if (cache[i] != NULL && strcmp(cache[i]->relay, relay) == 0) {
			smtp_session_close(cache[i], true);
			cache[i] = NULL;
		}
}

static void cache_put(struct smtp_sess *s)
{
	int slot = 0;

	if (s->broken || smtpc_next(s->pc) != SMTPC_READY || cache_deadline(s) <= smtp_now_ms()) {
		smtp_session_close(s, !s->broken);
		return;
	}
	for (int i = 0; i < CACHE_MAX; i++) {
		if (cache[i] == NULL) {
			slot = i;
			break;
		}
		if (cache[i]->idle_ms < cache[slot]->idle_ms)
			slot = i;
	}
	if (cache[slot] != NULL)
		smtp_session_close(cache[slot], true);
	cache[slot] = s;
}

/* --- results -------------------------------------------------------------- */

static void rcpt_set(struct smtp_rcpt *r, enum smtp_outcome o, const char *dsn, const char *text,
    const char *relay)
{
	r->outcome = o;
	strlcpy(r->dsn, dsn, sizeof(r->dsn));
	buf_reset(&r->text);
	buf_adds(&r->text, text);
	strlcpy(r->relay, relay, sizeof(r->relay));
}

/* A reason for every recipient still waiting (kept if nothing better comes). */
static void pending_reason(struct smtp_message *m, const char *dsn, const char *text, const char *relay)
{
	for (size_t i = 0; i < m->n; i++)
		if (m->rcpt[i].outcome == SMTP_PENDING) {
			strlcpy(m->rcpt[i].dsn, dsn, sizeof(m->rcpt[i].dsn));
			buf_reset(&m->rcpt[i].text);
			buf_adds(&m->rcpt[i].text, text);
			strlcpy(m->rcpt[i].relay, relay, sizeof(m->rcpt[i].relay));
		}
}

/* A final outcome for every recipient still waiting; relay "none" when no server answered. */
static void pending_final(struct smtp_message *m, enum smtp_outcome o, const char *dsn, const char *text,
    const char *relay)
{
	for (size_t i = 0; i < m->n; i++)
		if (m->rcpt[i].outcome == SMTP_PENDING)
			rcpt_set(&m->rcpt[i], o, dsn, text, relay);
}

/*
 * The queue file left active/ while a session sent it (smtp_session.c):
 * no other server is tried with what it holds now; every recipient left
 * is deferred (another delivery process has the message). True then.
 */
static bool content_left(struct smtp_message *m, bool gone)
{
	if (gone)
		pending_final(m, SMTP_DEFER, "4.3.0", "the queue file left active/ while it was sent", "none");
	return gone;
}

static size_t pending_count(const struct smtp_message *m)
{
	size_t n = 0;

	for (size_t i = 0; i < m->n; i++)
		n += m->rcpt[i].outcome == SMTP_PENDING;
	return n;
}

/* --- what goes into MAIL and RCPT ------------------------------------------- */

static const char *notify_words(int bits, char *out, size_t size)
{
	out[0] = '\0';
	if (bits == 0)
		return NULL;
	if (bits & DSN_NOTIFY_NEVER) {
		strlcpy(out, "NEVER", size);
		return out;
	}
	if (bits & DSN_NOTIFY_SUCCESS)
		strlcat(out, "SUCCESS,", size);
	if (bits & DSN_NOTIFY_FAILURE)
		strlcat(out, "FAILURE,", size);
	if (bits & DSN_NOTIFY_DELAY)
		strlcat(out, "DELAY,", size);
	if (out[0])
		out[strlen(out) - 1] = '\0';
	return out;
}

/*
 * The content of the message being delivered, when content_is_8bit had
 * to read it anyway and it is no larger than this: the session sends it
 * from memory instead of reading the queue file a second time. Kept
 * from one message to the next (one delivery at a time per process).
 */
#define CONTENT_KEEP_MAX	(256 * 1024)
static struct buf content_copy = BUF_INIT;

/*
 * Does the content have 8-bit bytes? Declared by BODY=, else looked at.
 * *kept is set to the whole content when it was read in full (see above).
 */
static bool content_is_8bit(struct qfile *q, const struct buf **kept)
{
	const char *body = qfile_attr(q, "body_type");
	bool keep = qfile_content_size(q) <= CONTENT_KEEP_MAX, eight = false;
	ssize_t n;

	*kept = NULL;
	if (body != NULL && strcasecmp(body, "8BITMIME") == 0)
		return true;
	if (body != NULL && strcasecmp(body, "7BIT") == 0)
		return false;
	buf_reset(&content_copy);
	qfile_rewind(q);
	for (;;) {
		/* Kept: all of it in one read (qfile_read stops at the content's end). */
		size_t want = keep ? (size_t)qfile_content_size(q) + 1 - content_copy.len : 16384;
		buf_reserve(&content_copy, want);
		n = qfile_read(q, content_copy.data + content_copy.len, want);
		if (n <= 0)
			break;
		if (!eight && smtpc_content_is_8bit(content_copy.data + content_copy.len, (size_t)n))
			eight = true;
		if (keep && content_copy.len + (size_t)n <= CONTENT_KEEP_MAX)
			content_copy.len += (size_t)n;
		else if (eight)
			break;	/* not kept: the answer is all that is wanted */
		else
			keep = false;
	}
	if (n == 0 && keep)
		*kept = &content_copy;
	return eight;
}

/* --- AUTH credentials ------------------------------------------------------- */

static struct param_maps passwords = PARAM_MAPS_INIT(P_smtp_sasl_password_maps);

/*
 * user:password for this server: the next hop as written, then
 * [host]:port, host:port and host of the server, then the domain.
 * 1 found, 0 none, -1 the table failed.
 */
static int credentials(const char *nexthop, const struct smtp_target *t, unsigned port,
    const char *domain, struct buf *user, struct buf *pass)
{
	char keys[5][DNS_NAME_MAX + 32];
	struct buf v = BUF_INIT;
	int rc = 0;

	if (!cfg_bool(P_smtp_sasl_auth_enable))
		return 0;
	snprintf(keys[0], sizeof(keys[0]), "%s", nexthop);
	snprintf(keys[1], sizeof(keys[1]), "[%s]:%u", t->host, port);
	snprintf(keys[2], sizeof(keys[2]), "%s:%u", t->host, port);
	snprintf(keys[3], sizeof(keys[3]), "%s", t->host);
	snprintf(keys[4], sizeof(keys[4]), "%s", domain);
	for (int i = 0; i < 5 && rc == 0; i++) {
		rc = param_maps_lookup(&passwords, keys[i], &v);
		if (rc == 1) {
			const char *colon = strchr(buf_str(&v), ':');
			buf_reset(user);
			buf_reset(pass);
			if (colon == NULL) {
				buf_adds(user, buf_str(&v));
			} else {
				buf_add(user, buf_str(&v), (size_t)(colon - buf_str(&v)));
				buf_adds(pass, colon + 1);
			}
		}
	}
	buf_free(&v);
	return rc;
}

/* --- MTA-STS ---------------------------------------------------------------- */

static bool sts_keep(const char *host, void *ctx)
{
	return sts_mx_matches(ctx, host);
}

/*
 * Apply the domain's MTA-STS policy (mail routed by MX only): enforce
 * keeps the MX hosts it names and requires a verified certificate
 * naming the host. -1 when no MX host is left (defer).
 */
static int apply_sts(struct smtp_route *r, struct smtp_tls_policy *pol, struct buf *why)
{
	struct sts_policy sp;
	struct dns_answer txt;
	char name[DNS_NAME_MAX + 16];
	int ret = 0;

	if (!r->via_mx || !cfg_bool(P_smtp_mta_sts) || pol->level >= SMTP_TLS_DANE)
		return 0;
	snprintf(name, sizeof(name), "_mta-sts.%s", r->domain);
	dns_answer_init(&txt);
	dns_lookup(name, DNS_TXT, &txt);
	memset(&sp, 0, sizeof(sp));
	if (sts_policy_get(r->domain, txt.status == DNS_OK ? txt.txt : NULL,
		txt.status == DNS_OK ? txt.n : 0, &sp, why) < 0) {
		msg_info("MTA-STS policy for %s not applied: %s", r->domain, buf_str(why));
		buf_reset(why);
		goto out;
	}
	if (why->len > 0) {
		msg_info("MTA-STS policy for %s: %s", r->domain, buf_str(why));
		buf_reset(why);
	}
	if (sp.mode == STS_ENFORCE) {
		smtp_route_filter(r, sts_keep, &sp);
		if (r->n == 0) {
			buf_printf(why, "MTA-STS policy for %s: no MX host matches the policy", r->domain);
			ret = -1;
		} else if (pol->level < SMTP_TLS_VERIFY) {
			/* A verified certificate naming the MX host (smtp_tls.c, from_sts). */
			pol->level = SMTP_TLS_VERIFY;
			free(pol->match);
			pol->match = NULL;
			pol->from_sts = true;
		}
	} else if (sp.mode == STS_TESTING) {
		for (size_t i = 0; i < r->n; i++)
			if (!sts_mx_matches(&sp, r->t[i].host))
				msg_info("MTA-STS policy for %s (testing): MX host %s is not in the policy",
				    r->domain, r->t[i].host);
	}
out:
	sts_policy_free(&sp);
	dns_answer_free(&txt);
	return ret;
}

/* --- one transaction's results ------------------------------------------------ */

/* code 0: no reply; a stage's deadline passed (timed_out) or the connection broke. */
static void said(struct buf *out, const char *relay, int code, const char *reply, enum smtpc_stage st,
    bool timed_out)
{
	buf_reset(out);
	if (code > 0)
		buf_printf(out, "host %s said: %s (in reply to %s command)", relay, reply,
		    smtpc_stage_command(st));
	else
		buf_printf(out, timed_out ? "conversation with %s timed out while sending %s" :
		    "lost connection with %s while sending %s", relay, smtpc_stage_command(st));
}

/* "TLSv1.3 Verified" (DANE: "TLSv1.3 Verified DANE"), "" in clear: for the log line. */
static void tls_note(const struct smtp_sess *s, char *out, size_t size)
{
	out[0] = '\0';
	if (s->ssl != NULL && s->tls.used)
		snprintf(out, size, "%s %s%s", s->tls.protocol, s->tls.trust ? s->tls.trust : "Untrusted",
		    s->tls.dane ? " DANE" : "");
}

static void settle_txn(struct smtp_rcpt **grp, struct smtpc_txn *txn,
    const struct smtp_sess *s, bool broke)
{
	struct buf text = BUF_INIT;

	for (size_t k = 0; k < txn->n; k++) {
		struct smtpc_rcpt *tr = &txn->rcpt[k];
		struct smtp_rcpt *r = grp[k];
		int code = tr->code;
		const char *dsn = tr->dsn, *reply = buf_str(&tr->reply);
		enum smtpc_stage st = SMTPC_ST_RCPT;

		tls_note(s, r->tls, sizeof(r->tls));
		if (code >= 200 && code < 300) {
			if (txn->code >= 200 && txn->code < 300) {
				rcpt_set(r, SMTP_SENT, txn->dsn, buf_str(&txn->reply), s->relay);
				r->notify_passed = smtpc_caps(s->pc)->dsn && r->notify != 0;
				strlcpy(r->remote_mta, s->host, sizeof(r->remote_mta));
				continue;
			}
			code = txn->code;
			dsn = txn->dsn;
			reply = buf_str(&txn->reply);
			st = txn->failed_stage;
		} else if (code == 0 && txn->code != 0) {
			code = txn->code;	/* MAIL FROM refused for all */
			dsn = txn->dsn;
			reply = buf_str(&txn->reply);
			st = txn->failed_stage;
		}
		if (code == 0) {
			enum smtpc_stage fst = SMTPC_ST_RCPT;
			const char *t = NULL;
			smtpc_failure(s->pc, &fst, &t);
			said(&text, s->relay, 0, "", broke ? fst : st, s->timed_out);
			strlcpy(r->dsn, "4.4.2", sizeof(r->dsn));
			buf_reset(&r->text);
			buf_adds(&r->text, buf_str(&text));
			strlcpy(r->relay, s->relay, sizeof(r->relay));
			continue;
		}
		said(&text, s->relay, code, reply, st, false);
		buf_reset(&r->diag);
		buf_adds(&r->diag, reply);
		strlcpy(r->remote_mta, s->host, sizeof(r->remote_mta));
		if (code >= 500) {
			rcpt_set(r, SMTP_BOUNCE, dsn, buf_str(&text), s->relay);
		} else {
			/* 4xx: stays pending for the next server; this is the reason if none takes it. */
			strlcpy(r->dsn, dsn, sizeof(r->dsn));
			buf_reset(&r->text);
			buf_adds(&r->text, buf_str(&text));
			strlcpy(r->relay, s->relay, sizeof(r->relay));
		}
	}
	buf_free(&text);
}

/* Send every pending recipient over s, in transactions of at most the recipient limit. */
/*
 * A server that does not offer SMTPUTF8 cannot take a non-ASCII address:
 * with an ASCII sender, only such recipients are returned (5.6.7) and the
 * others go without SMTPUTF8; a non-ASCII sender fails them all (smtpc).
 */
static bool rcpt_needs_smtputf8(const struct smtp_message *m, struct smtp_sess *s, struct smtp_rcpt *r)
{
	if (smtpc_caps(s->pc)->smtputf8 || utf8_non_ascii(m->sender) || !utf8_non_ascii(r->address))
		return false;
	rcpt_set(r, SMTP_BOUNCE, "5.6.7", "SMTPUTF8 is required, but was not offered by host", s->relay);
	return true;
}

static void transactions(struct smtp_message *m, struct smtp_sess *s, bool content_8bit, const struct buf *content)
{
	long long limit = strtoll(cfg_str(P_smtp_destination_recipient_limit), NULL, 10);
	const char *ret = qfile_attr(m->q, "dsn_ret"), *envid = qfile_attr(m->q, "dsn_envid");
	struct smtp_rcpt **grp = xcalloc(m->n + 1, sizeof(*grp));
	struct smtpc_rcpt *tr = xcalloc(m->n + 1, sizeof(*tr));
	char (*words)[64] = xcalloc(m->n + 1, sizeof(*words));
	struct buf *addr = xcalloc(m->n + 1, sizeof(*addr));
	size_t next = 0;

	if (limit <= 0)
		limit = 50;
	while (!s->broken && smtpc_next(s->pc) == SMTPC_READY) {
		struct smtpc_txn txn;
		size_t n = 0;
		bool utf8 = utf8_non_ascii(m->sender);

		for (; next < m->n && n < (size_t)limit; next++) {
			struct smtp_rcpt *r = &m->rcpt[next];
			struct resolved rv;

			if (r->outcome != SMTP_PENDING || rcpt_needs_smtputf8(m, s, r))
				continue;
			utf8 = utf8 || utf8_non_ascii(r->address);
			grp[n] = r;
			memset(&tr[n], 0, sizeof(tr[n]));
			buf_init(&tr[n].reply);
			/*
			 * The address as resolved: user%other@here and site!user@here go
			 * out as user@other and user@site (allow_percent_hack,
			 * swap_bangpath), as Postfix's queue manager sends them.
			 */
			buf_init(&addr[n]);
			resolved_init(&rv);
			if (resolve_address(r->address, &rv) == 0 && rv.class == RESOLVE_RELAY
			    && strcasecmp(buf_str(&rv.address), r->address) != 0)
				buf_adds(&addr[n], buf_str(&rv.address));
			else
				buf_adds(&addr[n], r->address);
			resolved_free(&rv);
			tr[n].address = buf_str(&addr[n]);
			tr[n].notify = notify_words(r->notify, words[n], sizeof(words[n]));
			tr[n].orcpt = r->orcpt != NULL && *r->orcpt ? r->orcpt : NULL;
			n++;
		}
		if (n == 0)
			break;
		memset(&txn, 0, sizeof(txn));
		buf_init(&txn.reply);
		txn.sender = m->sender;
		txn.size = qfile_content_size(m->q);
		txn.body_8bit = content_8bit;
		/*
		 * SMTPUTF8 for a non-ASCII address in this envelope, whether or not
		 * the message was flagged so when it came: sendmail without -U, a
		 * bounce to a UTF-8 sender, an address virtual_alias_maps,
		 * canonical_maps or a milter made non-ASCII.
		 */
		txn.smtputf8 = utf8;
		txn.ret = ret != NULL && *ret ? ret : NULL;
		txn.envid = envid != NULL && *envid ? envid : NULL;
		txn.rcpt = tr;
		txn.n = n;
		bool broke = smtp_session_send(s, &txn, m->q, content, content_8bit) < 0;
		settle_txn(grp, &txn, s, broke);
		for (size_t k = 0; k < n; k++) {
			buf_free(&tr[k].reply);
			buf_free(&addr[k]);
		}
		buf_free(&txn.reply);
		if (broke)
			break;
	}
	free(addr);
	free(words);
	free(tr);
	free(grp);
}

/* --- one delivery -------------------------------------------------------------- */

/* The TLSA records for a target when its DANE policy can use them; -1 lookup failed. */
static int tlsa_for(const struct smtp_route *r, const struct smtp_target *t,
    const struct smtp_tls_policy *pol, struct dns_answer *a, struct buf *why)
{
	char name[DNS_NAME_MAX + 16];

	if (pol->level != SMTP_TLS_DANE && pol->level != SMTP_TLS_DANE_ONLY)
		return 0;
	if (!t->secure)
		return 0;	/* RFC 7672 2.2: only with validated MX and address records */
	snprintf(name, sizeof(name), "_%u._tcp.%s", r->port, t->host);
	switch (dns_lookup(name, DNS_TLSA, a)) {
	case DNS_OK:
		return a->secure ? (int)a->n : 0;
	case DNS_NODATA:
	case DNS_NXDOMAIN:
		return 0;
	default:
		buf_printf(why, "TLSA lookup error for %s: %s", name, a->why);
		return -1;
	}
}

void smtp_deliver(struct smtp_message *m)
{
	struct smtp_route r;
	struct smtp_tls_policy pol;
	struct buf why = BUF_INIT, user = BUF_INIT, pass = BUF_INIT;
	char key[600];
	bool content_8bit;
	const struct buf *content = NULL;
	long long session_limit = cfg_int(P_smtp_mx_session_limit);
	int sessions = 0;

	param_maps_recheck();
	smtp_route_init(&r);
	memset(&pol, 0, sizeof(pol));
	smtp_route(m->nexthop, &r);
	if (r.status != ROUTE_OK) {
		pending_final(m, r.status == ROUTE_BOUNCE ? SMTP_BOUNCE : SMTP_DEFER, r.dsn, buf_str(&r.why),
		    "none");
		goto out;
	}
	if (smtp_tls_policy_lookup(m->nexthop, r.domain, &pol, &why) < 0) {
		pending_final(m, SMTP_DEFER, "4.7.5", buf_str(&why), "none");
		goto out;
	}
	if (apply_sts(&r, &pol, &why) < 0) {
		pending_final(m, SMTP_DEFER, "4.7.5", buf_str(&why), "none");
		goto out;
	}
	content_8bit = content_is_8bit(m->q, &content);
	/* By next hop only: smtp and relay to one next hop share connections. */
	snprintf(key, sizeof(key), "%s", m->nexthop);
	pending_reason(m, "4.4.1", "no server could be reached", "none");

	/* A cached connection to this next hop first. */
	struct smtp_sess *s = cache_take(key);
	if (s != NULL) {
		transactions(m, s, content_8bit, content);
		bool gone = s->content_gone;
		cache_put(s);
		if (content_left(m, gone))
			goto out;
	}
	for (size_t i = 0; i < r.n && pending_count(m) > 0; i++) {
		const struct smtp_target *t = &r.t[i];
		struct dns_answer tlsa;
		struct smtp_open_fail fail;
		int ntlsa, cred;
		bool tls_off = false;

		if (session_limit > 0 && sessions >= session_limit)
			break;
		dns_answer_init(&tlsa);
		buf_reset(&why);
		ntlsa = tlsa_for(&r, t, &pol, &tlsa, &why);
		if (ntlsa < 0 || (pol.level == SMTP_TLS_DANE_ONLY && ntlsa == 0)) {
			if (ntlsa == 0)
				buf_printf(&why, "no usable TLSA records for %s (dane-only)", t->host);
			pending_reason(m, "4.7.5", buf_str(&why), "none");
			dns_answer_free(&tlsa);
			continue;
		}
		cred = credentials(m->nexthop, t, r.port, r.domain, &user, &pass);
		if (cred < 0) {
			pending_reason(m, "4.3.0", "smtp_sasl_password_maps lookup error", "none");
			dns_answer_free(&tlsa);
			break;
		}
		{
			char relay[300];
			smtp_relay_name(t, relay, sizeof(relay));
			cache_drop_relay(relay);
		}
	again:
		s = smtp_session_open(t, r.domain, &pol, tls_off, ntlsa > 0 ? tlsa.tlsa : NULL,
		    (size_t)ntlsa, cred == 1 ? buf_str(&user) : NULL, cred == 1 ? buf_str(&pass) : NULL,
		    &fail, &why);
		if (s == NULL) {
			const char *relay = *fail.relay ? fail.relay : "none";

			if (*fail.relay)
				sessions++;
			if (fail.code == 0 && !tls_off && pol.level == SMTP_TLS_MAY
			    && strncmp(fail.dsn, "4.7.", 4) == 0) {
				msg_info("%s; trying %s again without TLS", buf_str(&why), t->host);
				tls_off = true;
				goto again;
			}
			/*
			 * Only a 5xx greeting or EHLO/HELO refusal can bounce, and only
			 * with smtp_skip_5xx_greeting = no; a refused AUTH defers (as
			 * Postfix's smtp_sasl_auth_soft_bounce), so does the rest.
			 */
			if (fail.code >= 500 && !cfg_bool(P_smtp_skip_5xx_greeting)
			    && (fail.stage == SMTPC_ST_GREETING || fail.stage == SMTPC_ST_EHLO
				|| fail.stage == SMTPC_ST_HELO))
				pending_final(m, SMTP_BOUNCE, fail.dsn, buf_str(&why), relay);
			else
				pending_reason(m, fail.dsn[0] == '5' ? "4.4.1" : fail.dsn, buf_str(&why), relay);
			dns_answer_free(&tlsa);
			continue;
		}
		sessions++;
		strlcpy(s->key, key, sizeof(s->key));
		transactions(m, s, content_8bit, content);
		bool gone = s->content_gone;
		cache_put(s);
		dns_answer_free(&tlsa);
		if (content_left(m, gone))
			goto out;
	}
	/* Whatever is left: deferred with the last reason it got. */
	for (size_t i = 0; i < m->n; i++)
		if (m->rcpt[i].outcome == SMTP_PENDING) {
			m->rcpt[i].outcome = SMTP_DEFER;
			if (m->rcpt[i].dsn[0] != '4')
				m->rcpt[i].dsn[0] = '4';
		}
out:
	smtp_tls_policy_free(&pol);
	smtp_route_free(&r);
	buf_free(&why);
	buf_free(&user);
	buf_free(&pass);
}
