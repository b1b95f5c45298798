/*
 * pickup_milter.c - non_smtpd_milters for mail submitted with sendmail:
 * the milters see a session as if the message had come over SMTP from
 * localhost (CONNECT localhost [127.0.0.1], EHLO localhost, MAIL, RCPT
 * for each recipient, DATA, the content), once cleanup has done its
 * header work, so that -t recipients and rewritten addresses are what
 * they see; their edits are applied before the one commit.
 *
 * Part of pickup, runs as mail_owner. One message at a time, so this
 * driver may block: milter_chain_wait() polls with the stage's timeout.
 * A milter that refuses one recipient makes pickup return that recipient
 * to the sender and deliver to the others (Postfix cannot); one that
 * refuses the message makes it a bounce; a temporary failure, of the
 * message or of one recipient, leaves the maildrop file for the next
 * scan; a discarded message is removed, with a log line.
 */
#include "compat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mail/config.h"
#include "mail/milter_apply.h"
#include "mail/milter_chain.h"
#include "queue/pickup_milter.h"
#include "util/log.h"
#include "util/mem.h"

static struct milter_cfg cfg;
static struct maplist *header_checks;	/* milter_header_checks; NULL: none */
static bool cfg_broken;
static struct buf cfg_error = BUF_INIT;

struct run {
	struct cleanup *c;
	const char *sender, *login, *name;
	const char *rcpt;	/* the recipient being judged */
	struct milter_apply edits;
	bool done;
	enum milter_outcome outcome;
	struct buf reply, why;
};

int pickup_milter_init(void)
{
	if (milter_cfg_load(P_non_smtpd_milters, &cfg, &cfg_error) != 0 ||
	    (cfg.n > 0 && *cfg.header_checks != '\0' &&
	     (header_checks = maplist_open(cfg.header_checks, 0, &cfg_error)) == NULL)) {
		msg_error("non_smtpd_milters: %s: submitted mail stays in maildrop/ until this is fixed",
			  buf_str(&cfg_error));
		cfg_broken = true;
		return -1;
	}
	return 0;
}

bool pickup_milter_active(void)
{
	return cfg_broken || cfg.n > 0;
}

static const char *macro(void *ctx, const char *name)
{
	struct run *r = *(struct run **)ctx;
	if (strcmp(name, "j") == 0)
		return cfg_str(P_myhostname);
	if (strcmp(name, "_") == 0)
		return "localhost [127.0.0.1]";
	if (strcmp(name, "{daemon_name}") == 0)
		return cfg.daemon_name;
	if (strcmp(name, "v") == 0)
		return cfg.macro_v;
	if (strcmp(name, "{client_addr}") == 0 || strcmp(name, "{daemon_addr}") == 0)
		return "127.0.0.1";
	if (strcmp(name, "{client_name}") == 0)
		return "localhost";
	if (strcmp(name, "i") == 0)
		return cleanup_queue_id(r->c);
	if (strcmp(name, "{mail_addr}") == 0)
		return r->sender;
	if (strcmp(name, "{rcpt_addr}") == 0)
		return r->rcpt;
	if (strcmp(name, "{mail_mailer}") == 0)
		return "local";
	/* The submitting user, whom the kernel vouched for (the maildrop file's owner). */
	if (strcmp(name, "{auth_authen}") == 0)
		return r->login;
	return NULL;
}

static size_t header_count(void *ctx)
{
	return cleanup_header_count((*(struct run **)ctx)->c);
}

static void header_get(void *ctx, size_t i, const char **name, const char **value)
{
	cleanup_header_get((*(struct run **)ctx)->c, i, name, value);
}

static int body_rewind(void *ctx)
{
	return cleanup_body_rewind((*(struct run **)ctx)->c);
}

static ssize_t body_read(void *ctx, char *data, size_t len)
{
	return cleanup_body_read((*(struct run **)ctx)->c, data, len);
}

static int apply(void *ctx, const struct milter_mod *mod, bool first)
{
	struct run *r = *(struct run **)ctx;
	buf_reset(&r->why);
	if (milter_apply_mod(&r->edits, mod, first, &r->why) == 0)
		return 0;
	msg_warn("%s: %s", r->name, buf_str(&r->why));
	return -1;
}

static void done(void *ctx, enum milter_outcome o, const char *reply)
{
	struct run *r = *(struct run **)ctx;
	r->done = true;
	r->outcome = o;
	buf_reset(&r->reply);
	buf_adds(&r->reply, reply ? reply : "");
}

static void chain_log(void *ctx, bool warning, const char *line)
{
	struct run *r = *(struct run **)ctx;
	if (warning)
		msg_warn("%s: %s", r->name, line);
	else
		msg_info("%s: %s", r->name, line);
}

static const struct milter_chain_ops ops = {
	.macro = macro,
	.header_count = header_count,
	.header_get = header_get,
	.body_rewind = body_rewind,
	.body_read = body_read,
	.apply = apply,
	.done = done,
	.log = chain_log,
};

/* Wait for an event that did not end at once. */
static enum milter_outcome finish(struct milter_chain *ch, struct run *r, enum milter_outcome o,
		const char *reply)
{
	if (o != MILTER_O_PENDING) {
		buf_reset(&r->reply);
		buf_adds(&r->reply, reply ? reply : "");
		return o;
	}
	r->done = false;
	while (!r->done)
		milter_chain_wait(ch);
	return r->outcome;
}

/* An outcome that ends the message: what pickup does with it. */
static enum pickup_milter_result refusal(enum milter_outcome o)
{
	switch (o) {
	case MILTER_O_REJECT:
		return PICKUP_MILTER_REJECT;
	case MILTER_O_DISCARD:
		return PICKUP_MILTER_DISCARD;
	default:
		return PICKUP_MILTER_TEMPFAIL;	/* TEMPFAIL, SHUTDOWN */
	}
}

enum pickup_milter_result pickup_milter_run(struct cleanup *c, const char *name, const char *login,
		struct pickup_milter_refused *refused, struct buf *reply)
{
	buf_reset(reply);
	refused->n = 0;
	if (cfg_broken) {
		buf_printf(reply, "non_smtpd_milters: %s", buf_str(&cfg_error));
		return PICKUP_MILTER_TEMPFAIL;
	}
	/*
	 * The sender as cleanup has rewritten it (qualified, canonical_maps),
	 * like the recipients: the raw maildrop sender may be a bare login.
	 * A copy, since a CHGFROM at the end of the message replaces it.
	 */
	char *env_sender = xstrdup(cleanup_sender_addr(c));
	struct run r = {.c = c, .sender = env_sender, .login = login, .name = name};
	milter_apply_init(&r.edits, c, header_checks, name);
	buf_init(&r.reply);
	buf_init(&r.why);
	struct run *self = &r;
	struct milter_chain *ch = milter_chain_new(&cfg, &ops, &self);
	enum pickup_milter_result res = PICKUP_MILTER_OK;
	const char *rp = NULL;
	enum milter_outcome o;
	struct buf addr = BUF_INIT;

	o = finish(ch, &r, milter_chain_connect(ch, "localhost", "127.0.0.1", MILTER_FAM_INET, 0, &rp), rp);
	if (o == MILTER_O_CONTINUE)
		o = finish(ch, &r, milter_chain_helo(ch, "localhost", &rp), rp);
	if (o == MILTER_O_CONTINUE) {
		buf_printf(&addr, "<%s>", env_sender);
		o = finish(ch, &r, milter_chain_mail(ch, buf_str(&addr), NULL, 0, &rp), rp);
	}
	/* Recipients as cleanup has them now (rewritten, aliased, -t extracted). */
	size_t i = 0;
	while (o == MILTER_O_CONTINUE && i < cleanup_rcpt_count(c)) {
		char *rcpt = xstrdup(cleanup_rcpt_addr(c, i));
		buf_reset(&addr);
		buf_printf(&addr, "<%s>", rcpt);
		r.rcpt = rcpt;
		o = finish(ch, &r, milter_chain_rcpt(ch, buf_str(&addr), NULL, 0, false, &rp), rp);
		r.rcpt = NULL;
		if (o == MILTER_O_REJECT) {
			/* That recipient only: it goes back to the sender, the others on. */
			refused->v = xreallocarray(refused->v, refused->n + 1, sizeof(*refused->v));
			refused->v[refused->n].addr = rcpt;
			refused->v[refused->n].reply = xstrdup(buf_str(&r.reply));
			refused->n++;
			cleanup_del_rcpt(c, rcpt);
			o = MILTER_O_CONTINUE;
			continue;	/* the next one took its place */
		}
		free(rcpt);
		i++;
	}
	if (o == MILTER_O_CONTINUE && cleanup_rcpt_count(c) == 0) {
		/* Every recipient refused: the message as a whole is. */
		res = PICKUP_MILTER_REJECT;
		buf_adds(reply, refused->n > 0 ? refused->v[0].reply : "554 5.7.1 no recipients left");
		goto out;
	}
	if (o == MILTER_O_CONTINUE)
		o = finish(ch, &r, milter_chain_data(ch, &rp), rp);
	if (o == MILTER_O_CONTINUE)
		o = finish(ch, &r, milter_chain_message(ch, &rp), rp);
	/* What milter_header_checks said of the headers the milters added. */
	const char *hc_reply = NULL;
	o = milter_apply_verdict(&r.edits, o, &hc_reply);
	if (hc_reply != NULL) {
		buf_reset(&r.reply);
		buf_adds(&r.reply, hc_reply);
	}
	if (o != MILTER_O_CONTINUE) {
		res = refusal(o);
		buf_add(reply, r.reply.data, r.reply.len);
	}
out:
	milter_chain_free(ch);
	free(env_sender);
	buf_free(&addr);
	buf_free(&r.reply);
	buf_free(&r.why);
	milter_apply_free(&r.edits);
	return res;
}

void pickup_milter_refused_free(struct pickup_milter_refused *refused)
{
	for (size_t i = 0; i < refused->n; i++) {
		free(refused->v[i].addr);
		free(refused->v[i].reply);
	}
	free(refused->v);
	refused->v = NULL;
	refused->n = 0;
}
