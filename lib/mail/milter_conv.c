/*
 * milter_conv.c - option negotiation and the conversation with one
 * milter: which stages are sent, which expect a reply, and what the
 * replies decide (see milter_proto.h).
 *
 * Mail layer, no I/O; runs with its driver's privileges. The rules that
 * are Tern's own choice, where mfdef.h says nothing:
 *   - the flags offered per protocol version: 2 knows the NO* flags up to
 *     NOEOH and the V2 actions, 3 adds NOUNKNOWN and NR_HDR, 4 and 5 add
 *     NODATA, 6 everything; UNKNOWN is sent from version 3, DATA from 4;
 *   - a filter that replies with an action it did not negotiate, an edit
 *     outside end of message, or SKIP where it was not allowed has
 *     failed (sendmail logs and honours some of these; failing is what
 *     a default action is for); but SKIP at a body chunk is honoured even
 *     when not negotiated, as libmilter sends it whatever was agreed;
 *   - header values go to filters without their leading blanks unless
 *     HDR_LEADSPC was negotiated.
 */
#include "compat.h"

#include <stdlib.h>
#include <string.h>

#include "mail/milter_proto.h"
#include "util/mem.h"

void milter_offer_init(struct milter_offer *o, uint32_t version, size_t max_data)
{
	if (version < 2)
		version = 2;
	if (version > 6)
		version = 6;
	o->version = version;
	o->actions = version >= 6 ? MILTER_F_ALL : MILTER_F_V2_ACTS;
	if (version >= 6)
		o->proto = MILTER_P_ALL;
	else if (version >= 4)
		o->proto = MILTER_P_V2_PROT | MILTER_P_NOUNKNOWN | MILTER_P_NR_HDR | MILTER_P_NODATA;
	else if (version == 3)
		o->proto = MILTER_P_V2_PROT | MILTER_P_NOUNKNOWN | MILTER_P_NR_HDR;
	else
		o->proto = MILTER_P_V2_PROT;
	if (version >= 6 && max_data >= MILTER_MDS_1M)
		o->proto |= MILTER_P_MDS_1M;
	else if (version >= 6 && max_data >= MILTER_MDS_256K)
		o->proto |= MILTER_P_MDS_256K;
}

int milter_negotiate(const struct milter_offer *o, struct milter_reply *r,
		     struct milter_neg *n, const char **err)
{
	memset(n, 0, sizeof *n);
	if (r->version < 2 || r->version > o->version) {
		*err = "milter replied with a protocol version that was not offered";
		return -1;
	}
	if (r->actions & ~o->actions) {
		*err = "milter asks for actions that were not offered";
		return -1;
	}
	if (r->proto & ~o->proto) {
		*err = "milter asks for protocol steps that were not offered";
		return -1;
	}
	n->version = r->version;
	n->actions = r->actions;
	n->proto = r->proto;
	if (r->proto & MILTER_P_MDS_1M)
		n->max_data = MILTER_MDS_1M;
	else if (r->proto & MILTER_P_MDS_256K)
		n->max_data = MILTER_MDS_256K;
	else
		n->max_data = MILTER_MDS_64K;
	for (int i = 0; i < MILTER_M_COUNT; i++) {
		/* As sendmail: lists count only with the SETSYMLIST action. */
		if (r->actions & MILTER_F_SETSYMLIST) {
			n->symlist[i] = r->symlist[i];
			r->symlist[i] = NULL;
		}
	}
	return 0;
}

void milter_neg_free(struct milter_neg *n)
{
	for (int i = 0; i < MILTER_M_COUNT; i++) {
		free(n->symlist[i]);
		n->symlist[i] = NULL;
	}
}

void milter_conv_init(struct milter_conv *c, const struct milter_offer *o)
{
	memset(c, 0, sizeof *c);
	c->offer = *o;
	c->neg.max_data = MILTER_MDS_64K;
	c->verdict = MILTER_V_CONTINUE;
	c->mods_limit = MILTER_MODS_LIMIT;
	buf_init(&c->pending);
}

static void clear_mods(struct milter_conv *c)
{
	for (size_t i = 0; i < c->nmods; i++)
		milter_mod_free(&c->mods[i]);
	c->nmods = 0;
	c->mods_bytes = 0;
}

void milter_conv_free(struct milter_conv *c)
{
	clear_mods(c);
	free(c->mods);
	c->mods = NULL;
	c->mods_cap = 0;
	free(c->text);
	c->text = NULL;
	milter_neg_free(&c->neg);
	buf_free(&c->pending);
}

static enum milter_next fail(struct milter_conv *c, const char *err)
{
	c->error = err;
	c->state = MILTER_CONV_CLOSED;
	buf_reset(&c->pending);
	return MILTER_ERROR;
}

enum milter_next milter_conv_start(struct milter_conv *c, struct buf *out)
{
	if (c->state != MILTER_CONV_NEW)
		return fail(c, "milter negotiation started twice");
	milter_enc_optneg(out, c->offer.version, c->offer.actions, c->offer.proto);
	c->state = MILTER_CONV_OPTNEG;
	return MILTER_WAIT;
}

/* Per stage: the flag that skips it, the flag that mutes its reply, its macro stage. */
static const struct {
	uint32_t no, nr;
	char macro;		/* 0: no macros before this command */
	const char *name;
} stages[] = {
	[MILTER_S_CONNECT] = {MILTER_P_NOCONNECT, MILTER_P_NR_CONN, MILTER_C_CONNECT, "connect"},
	[MILTER_S_HELO] = {MILTER_P_NOHELO, MILTER_P_NR_HELO, MILTER_C_HELO, "helo"},
	[MILTER_S_MAIL] = {MILTER_P_NOMAIL, MILTER_P_NR_MAIL, MILTER_C_MAIL, "mail"},
	[MILTER_S_RCPT] = {MILTER_P_NORCPT, MILTER_P_NR_RCPT, MILTER_C_RCPT, "rcpt"},
	[MILTER_S_DATA] = {MILTER_P_NODATA, MILTER_P_NR_DATA, MILTER_C_DATA, "data"},
	[MILTER_S_UNKNOWN] = {MILTER_P_NOUNKNOWN, MILTER_P_NR_UNKN, MILTER_C_UNKNOWN, "unknown"},
	[MILTER_S_HEADER] = {MILTER_P_NOHDRS, MILTER_P_NR_HDR, 0, "header"},
	[MILTER_S_EOH] = {MILTER_P_NOEOH, MILTER_P_NR_EOH, MILTER_C_EOH, "eoh"},
	[MILTER_S_BODY] = {MILTER_P_NOBODY, MILTER_P_NR_BODY, 0, "body"},
	[MILTER_S_EOM] = {0, 0, MILTER_C_BODYEOB, "eom"},
	[MILTER_S_ABORT] = {0, 0, 0, "abort"},
	[MILTER_S_QUIT] = {0, 0, 0, "quit"},
	[MILTER_S_QUIT_NC] = {0, 0, 0, "quit_nc"},
};

const char *milter_stage_name(enum milter_stage st)
{
	if ((unsigned)st >= sizeof stages / sizeof stages[0])
		return "?";
	return stages[st].name;
}

static bool msg_stage(enum milter_stage st)
{
	return st == MILTER_S_RCPT || st == MILTER_S_DATA || st == MILTER_S_HEADER ||
	       st == MILTER_S_EOH || st == MILTER_S_BODY || st == MILTER_S_EOM;
}

static void send_chunk(struct milter_conv *c, struct buf *out)
{
	size_t n = c->pending.len < MILTER_CHUNK ? c->pending.len : MILTER_CHUNK;
	milter_enc_body(out, c->pending.data, n);
	buf_consume(&c->pending, n);
}

static void reset_msg(struct milter_conv *c)
{
	c->in_msg = false;
	c->body_skipped = false;
	buf_reset(&c->pending);
}

enum milter_next milter_conv_stage(struct milter_conv *c, const struct milter_event *ev,
				   struct buf *out)
{
	enum milter_stage st = ev->stage;

	if ((unsigned)st > MILTER_S_QUIT_NC)
		return fail(c, "unknown milter stage");
	if (c->state != MILTER_CONV_READY)
		return fail(c, "milter stage while the conversation is not ready");
	c->verdict = MILTER_V_CONTINUE;
	c->stage = st;
	free(c->text);
	c->text = NULL;
	c->code = 0;

	switch (st) {
	case MILTER_S_QUIT:
		milter_enc_quit(out);
		c->state = MILTER_CONV_CLOSED;
		return MILTER_DONE;
	case MILTER_S_QUIT_NC:
		/* libmilter then waits for CONNECT, without a new negotiation. */
		milter_enc_quit_nc(out);
		c->conn_done = false;
		reset_msg(c);
		clear_mods(c);
		return MILTER_DONE;
	case MILTER_S_ABORT:
		if (c->in_msg && !c->conn_done)
			milter_enc_abort(out);
		reset_msg(c);
		return MILTER_DONE;
	default:
		break;
	}
	if (c->conn_done)
		return MILTER_DONE;
	if (st == MILTER_S_MAIL) {
		reset_msg(c);
		clear_mods(c);
		c->in_msg = true;
	} else if (msg_stage(st) && !c->in_msg) {
		return MILTER_DONE;	/* the filter already decided this message */
	}
	if (st == MILTER_S_EOM)
		c->in_msg = false;	/* whatever the reply, the message ends here */
	if (c->neg.proto & stages[st].no)
		return MILTER_DONE;
	if ((st == MILTER_S_UNKNOWN && c->neg.version < 3) ||
	    (st == MILTER_S_DATA && c->neg.version < 4))
		return MILTER_DONE;
	if (st == MILTER_S_BODY && (c->body_skipped || ev->body_len == 0))
		return MILTER_DONE;

	if (stages[st].macro && ev->nmacros)
		milter_enc_macro(out, stages[st].macro, ev->macros, ev->nmacros);
	switch (st) {
	case MILTER_S_CONNECT:
		milter_enc_connect(out, ev->host, ev->family, ev->port, ev->addr);
		break;
	case MILTER_S_HELO:
		milter_enc_helo(out, ev->arg);
		break;
	case MILTER_S_MAIL:
		milter_enc_mail(out, ev->arg, ev->args, ev->nargs);
		break;
	case MILTER_S_RCPT:
		milter_enc_rcpt(out, ev->arg, ev->args, ev->nargs);
		break;
	case MILTER_S_DATA:
		milter_enc_data(out);
		break;
	case MILTER_S_UNKNOWN:
		milter_enc_unknown(out, ev->arg);
		break;
	case MILTER_S_HEADER: {
		const char *v = ev->value ? ev->value : "";
		if (!(c->neg.proto & MILTER_P_HDR_LEADSPC))
			v += strspn(v, " \t");
		milter_enc_header(out, ev->arg, v);
		break;
	}
	case MILTER_S_EOH:
		milter_enc_eoh(out);
		break;
	case MILTER_S_BODY:
		buf_add(&c->pending, ev->body, ev->body_len);
		if (c->neg.proto & MILTER_P_NR_BODY) {
			while (c->pending.len)
				send_chunk(c, out);
			return MILTER_DONE;
		}
		send_chunk(c, out);
		break;
	case MILTER_S_EOM:
		clear_mods(c);
		milter_enc_bodyeob(out);
		break;
	default:
		break;
	}
	if (c->neg.proto & stages[st].nr)
		return MILTER_DONE;
	c->state = MILTER_CONV_REPLY;
	return MILTER_WAIT;
}

static uint32_t mod_action(char cmd)
{
	switch (cmd) {
	case MILTER_R_ADDHEADER:
	case MILTER_R_INSHEADER:
		return MILTER_F_ADDHDRS;
	case MILTER_R_CHGHEADER:
		return MILTER_F_CHGHDRS;
	case MILTER_R_ADDRCPT:
		return MILTER_F_ADDRCPT;
	case MILTER_R_ADDRCPT_PAR:
		return MILTER_F_ADDRCPT_PAR;
	case MILTER_R_DELRCPT:
		return MILTER_F_DELRCPT;
	case MILTER_R_REPLBODY:
		return MILTER_F_CHGBODY;
	case MILTER_R_CHGFROM:
		return MILTER_F_CHGFROM;
	case MILTER_R_QUARANTINE:
		return MILTER_F_QUARANTINE;
	default:
		return 0;
	}
}

/* A final answer to the current stage: what it ends. */
static enum milter_next decide(struct milter_conv *c, struct milter_reply *r)
{
	enum milter_stage st = c->stage;
	c->verdict = (enum milter_verdict)r->cmd;
	c->state = MILTER_CONV_READY;
	buf_reset(&c->pending);
	switch (r->cmd) {
	case MILTER_R_REPLYCODE:
		c->code = r->code;
		c->text = r->text;
		r->text = NULL;
		/* fall through */
	case MILTER_R_REJECT:
	case MILTER_R_TEMPFAIL:
		/* At RCPT and UNKNOWN these refuse only that command. */
		if (st != MILTER_S_RCPT && st != MILTER_S_UNKNOWN && st != MILTER_S_CONNECT &&
		    st != MILTER_S_HELO)
			c->in_msg = false;
		break;
	case MILTER_R_ACCEPT:
		if (st == MILTER_S_CONNECT || st == MILTER_S_HELO)
			c->conn_done = true;
		else
			c->in_msg = false;
		break;
	case MILTER_R_DISCARD:
		c->in_msg = false;
		break;
	case MILTER_R_SHUTDOWN:
	case MILTER_R_CONN_FAIL:
		c->conn_done = true;
		c->in_msg = false;
		break;
	default:
		break;
	}
	return MILTER_DONE;
}

enum milter_next milter_conv_input(struct milter_conv *c, struct buf *in, struct buf *out)
{
	if (c->state != MILTER_CONV_OPTNEG && c->state != MILTER_CONV_REPLY) {
		if (in->len == 0)
			return c->state == MILTER_CONV_CLOSED ? MILTER_ERROR : MILTER_DONE;
		return fail(c, "milter sent data out of turn");
	}
	for (;;) {
		char cmd;
		const char *data, *err = NULL;
		size_t dlen, used;
		int got = milter_pkt_take(in->data, in->len,
					  c->state == MILTER_CONV_OPTNEG ? MILTER_MDS_64K : c->neg.max_data,
					  &cmd, &data, &dlen, &used, &err);
		if (got == 0)
			return MILTER_WAIT;
		if (got < 0)
			return fail(c, err);
		struct milter_reply r;
		if (milter_reply_decode(cmd, data, dlen, &r, &err) < 0) {
			milter_reply_free(&r);
			return fail(c, err);
		}
		buf_consume(in, used);

		enum milter_next next = MILTER_WAIT;
		if (c->state == MILTER_CONV_OPTNEG) {
			if (cmd != MILTER_R_OPTNEG)
				err = "milter did not answer the negotiation";
			else if (milter_negotiate(&c->offer, &r, &c->neg, &err) == 0) {
				c->state = MILTER_CONV_READY;
				c->verdict = MILTER_V_CONTINUE;
				next = MILTER_DONE;
			}
			milter_reply_free(&r);
			if (err)
				return fail(c, err);
			return next;
		}
		switch (cmd) {
		case MILTER_R_PROGRESS:
			break;		/* the filter is alive: keep waiting */
		case MILTER_R_CONTINUE:
			if (c->stage == MILTER_S_BODY && c->pending.len) {
				send_chunk(c, out);
				break;
			}
			next = decide(c, &r);
			break;
		case MILTER_R_SKIP:
			/*
			 * Honoured at a body chunk even when SKIP was not
			 * negotiated: libmilter passes a filter's SKIP on
			 * regardless, and sending less body is all it asks.
			 */
			if (c->stage != MILTER_S_BODY) {
				err = "milter answered SKIP where it was not allowed";
				break;
			}
			c->body_skipped = true;
			r.cmd = MILTER_R_CONTINUE;
			next = decide(c, &r);
			break;
		case MILTER_R_ACCEPT:
		case MILTER_R_REJECT:
		case MILTER_R_TEMPFAIL:
		case MILTER_R_DISCARD:
		case MILTER_R_REPLYCODE:
		case MILTER_R_SHUTDOWN:
		case MILTER_R_CONN_FAIL:
			next = decide(c, &r);
			break;
		default:
			if (!mod_action(cmd)) {
				err = "unexpected milter reply";
				break;
			}
			if (c->stage != MILTER_S_EOM) {
				err = "milter asked for a change outside end of message";
				break;
			}
			if (!(c->neg.actions & mod_action(cmd))) {
				err = "milter asked for a change it did not negotiate";
				break;
			}
			/* Each edit counts its packet, so that empty ones count too. */
			if (c->mods_bytes > c->mods_limit || dlen + 5 > c->mods_limit - c->mods_bytes) {
				err = "milter edits exceed the size limit";
				break;
			}
			c->mods_bytes += dlen + 5;
			if (c->nmods == c->mods_cap) {
				c->mods_cap = c->mods_cap ? 2 * c->mods_cap : 8;
				c->mods = xreallocarray(c->mods, c->mods_cap, sizeof *c->mods);
			}
			c->mods[c->nmods++] = r.mod;
			memset(&r.mod, 0, sizeof r.mod);
			break;
		}
		milter_reply_free(&r);
		if (err)
			return fail(c, err);
		if (next == MILTER_DONE)
			return next;
	}
}

bool milter_conv_wants_rejected_rcpt(const struct milter_conv *c)
{
	return (c->neg.proto & MILTER_P_RCPT_REJ) != 0;
}

bool milter_conv_header_leadspc(const struct milter_conv *c)
{
	return (c->neg.proto & MILTER_P_HDR_LEADSPC) != 0;
}

const char *milter_conv_symlist(const struct milter_conv *c, enum milter_macro_stage st)
{
	if ((unsigned)st >= MILTER_M_COUNT)
		return NULL;
	return c->neg.symlist[st];
}
