/*
 * milter_chain.c - the milters of one SMTP session (or command-line
 * message) over their sockets: connecting, negotiating, timeouts, order,
 * default actions (see milter_chain.h).
 *
 * Mail layer; runs with its driver's privileges (smtpd or pickup, as
 * mail_owner). Nothing here blocks except getaddrinfo(3) for an inet:
 * milter written with a host name (numeric addresses never block; smtpd
 * turns names into addresses at start with milter_cfg_resolve): the
 * sockets are non-blocking, the driver waits. One milter talks at a
 * time: an event is passed to milter 1, and when it continues, to milter
 * 2, and so on; the protocol itself is milter_conv.c. Every step runs
 * from run(), which goes as far as it can without waiting and returns;
 * I/O readiness (milter_chain_io) and the clock (milter_chain_tick) call
 * it again.
 */
#include "compat.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "mail/milter_chain.h"
#include "util/mem.h"

#define REPLY_REJECT_CMD	"550 5.7.1 Command rejected"
#define REPLY_REJECT_MSG	"550 5.7.1 Message content rejected"
#define REPLY_TEMPFAIL		"451 4.7.1 Service unavailable - try again later"
#define REPLY_SHUTDOWN		"421 4.7.0 Server closing connection"
#define REPLY_DEF_REJECT	"550 5.5.0 Service unavailable"
#define REPLY_APPLY		"451 4.3.0 Error: cannot apply the changes of a mail filter"

/* Body bytes read from the driver at a time (before LF becomes CRLF). */
#define BODY_BLOCK	(32u * 1024)

enum mstate {
	MS_NEW,		/* no socket yet */
	MS_CONNECTING,	/* connect(2) in progress */
	MS_OPTNEG,	/* waiting for the OPTNEG reply */
	MS_READY,	/* between stages */
	MS_REPLY,	/* waiting for the reply to a stage */
	MS_DEAD,	/* failed or closed: not asked again in this session */
};

struct milter {
	const struct milter_spec *spec;
	enum mstate state;
	int fd;
	struct buf in, out;
	struct milter_conv conv;
	unsigned timeout_ms;	/* of the current wait */
	long long deadline;
	bool quarantine;	/* failed with default_action = quarantine */
};

/* Steps of milter_chain_message for one milter. */
enum mstep { ST_HEADER, ST_EOH, ST_BODY, ST_EOM, ST_APPLY };

struct milter_chain {
	const struct milter_cfg *cfg;
	const struct milter_chain_ops *ops;
	void *ctx;
	struct milter *m;
	size_t n;

	/* session */
	enum milter_outcome sticky;	/* CONTINUE, or the default action of a failed milter */
	const char *sticky_reply;
	bool discarded;			/* a milter discarded the current message */

	/* the current event */
	bool busy, in_start;
	enum milter_stage stage;	/* CONNECT ... UNKNOWN, or EOM for the message */
	bool rejected_rcpt;
	char *s1, *s2;			/* owned copies: host/addr, or the argument */
	char **args;
	size_t nargs;
	char family;
	uint16_t port;
	size_t cur;			/* the milter at work */
	enum mstep step;
	size_t hdr;			/* next header */
	bool body_eof;
	struct buf body;		/* the current block, CRLF */
	enum milter_outcome outcome;
	struct buf reply;

	/* scratch: macro pairs, a split SETSYMLIST */
	const char **pairs;
	size_t npairs, pairs_cap;
	char *symcopy;
};

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void logf_(struct milter_chain *ch, bool warning, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void logf_(struct milter_chain *ch, bool warning, const char *fmt, ...)
{
	if (!ch->ops->log)
		return;
	struct buf b = BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	ch->ops->log(ch->ctx, warning, buf_str(&b));
	buf_free(&b);
}

struct milter_chain *milter_chain_new(const struct milter_cfg *cfg,
				      const struct milter_chain_ops *ops, void *ctx)
{
	if (!cfg || cfg->n == 0)
		return NULL;
	struct milter_chain *ch = xcalloc(1, sizeof *ch);
	ch->cfg = cfg;
	ch->ops = ops;
	ch->ctx = ctx;
	ch->n = cfg->n;
	ch->m = xcalloc(cfg->n, sizeof *ch->m);
	for (size_t i = 0; i < cfg->n; i++) {
		struct milter *m = &ch->m[i];
		struct milter_offer o;
		m->spec = &cfg->v[i];
		m->fd = -1;
		m->deadline = -1;
		buf_init(&m->in);
		buf_init(&m->out);
		milter_offer_init(&o, m->spec->protocol ? m->spec->protocol : 6, 0);
		milter_conv_init(&m->conv, &o);
	}
	ch->sticky = MILTER_O_CONTINUE;
	buf_init(&ch->body);
	buf_init(&ch->reply);
	return ch;
}

/* One non-blocking write of what is queued; -1 on a broken socket. */
static int flush(struct milter *m)
{
	while (m->out.len) {
		ssize_t n = send(m->fd, m->out.data, m->out.len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n <= 0)
			return -1;
		buf_consume(&m->out, (size_t)n);
		m->deadline = now_ms() + m->timeout_ms;
	}
	return 0;
}

static void close_fd(struct milter_chain *ch, struct milter *m)
{
	if (m->fd < 0)
		return;
	if (ch->ops->closing)
		ch->ops->closing(ch->ctx, m->fd);
	close(m->fd);
	m->fd = -1;
}

static void close_milter(struct milter_chain *ch, struct milter *m)
{
	close_fd(ch, m);
	m->fd = -1;
	m->state = MS_DEAD;
	m->deadline = -1;
	buf_reset(&m->in);
	buf_reset(&m->out);
}

static void free_event(struct milter_chain *ch)
{
	free(ch->s1);
	free(ch->s2);
	ch->s1 = ch->s2 = NULL;
	for (size_t i = 0; i < ch->nargs; i++)
		free(ch->args[i]);
	free(ch->args);
	ch->args = NULL;
	ch->nargs = 0;
}

void milter_chain_free(struct milter_chain *ch)
{
	if (!ch)
		return;
	for (size_t i = 0; i < ch->n; i++) {
		struct milter *m = &ch->m[i];
		if (m->state == MS_READY) {
			milter_conv_stage(&m->conv, &(struct milter_event){.stage = MILTER_S_QUIT},
					  &m->out);
			(void)flush(m);	/* best effort: nobody waits for a QUIT */
		}
		close_fd(ch, m);
		milter_conv_free(&m->conv);
		buf_free(&m->in);
		buf_free(&m->out);
	}
	free(ch->m);
	free_event(ch);
	buf_free(&ch->body);
	buf_free(&ch->reply);
	free(ch->pairs);
	free(ch->symcopy);
	free(ch);
}

static bool msg_stage(enum milter_stage st)
{
	return st == MILTER_S_HEADER || st == MILTER_S_EOH || st == MILTER_S_BODY ||
	       st == MILTER_S_EOM;
}

static unsigned stage_timeout(const struct milter *m, enum milter_stage st)
{
	return msg_stage(st) ? m->spec->content_timeout_ms : m->spec->command_timeout_ms;
}

/* The event is decided: tell the driver (or let the starting call return it). */
static void finish(struct milter_chain *ch, enum milter_outcome o, const char *reply)
{
	ch->busy = false;
	ch->outcome = o;
	buf_reset(&ch->reply);
	if (reply)
		buf_adds(&ch->reply, reply);
	/* A refused or discarded message: the milters that still hold it forget it. */
	if (o != MILTER_O_CONTINUE && ch->stage != MILTER_S_CONNECT && ch->stage != MILTER_S_HELO &&
	    ch->stage != MILTER_S_UNKNOWN && (ch->stage != MILTER_S_RCPT || o == MILTER_O_DISCARD)) {
		for (size_t i = 0; i < ch->n; i++) {
			struct milter *m = &ch->m[i];
			if (m->state != MS_READY)
				continue;
			milter_conv_stage(&m->conv, &(struct milter_event){.stage = MILTER_S_ABORT},
					  &m->out);
			if (flush(m) < 0)
				close_milter(ch, m);
		}
	}
	if (o == MILTER_O_DISCARD)
		ch->discarded = true;
	if (!ch->in_start)
		ch->ops->done(ch->ctx, o, reply ? buf_str(&ch->reply) : NULL);
}

static const char *default_name(enum milter_default d)
{
	switch (d) {
	case MILTER_DEF_REJECT:
		return "reject";
	case MILTER_DEF_TEMPFAIL:
		return "tempfail";
	case MILTER_DEF_QUARANTINE:
		return "quarantine";
	default:
		return "accept";
	}
}

/*
 * The milter at work failed: log, close, apply its default action.
 * Returns true when that ends the event (reject, tempfail).
 */
static bool fail(struct milter_chain *ch, struct milter *m, const char *why)
{
	const char *where = m->state == MS_CONNECTING || m->state == MS_NEW ? "connect"
			    : m->state == MS_OPTNEG ? "negotiation"
			    : milter_stage_name(m->conv.stage);
	logf_(ch, true, "milter %s: %s: %s; default_action = %s", m->spec->name, where, why,
	      default_name(m->spec->default_action));
	close_milter(ch, m);
	switch (m->spec->default_action) {
	case MILTER_DEF_REJECT:
		ch->sticky = MILTER_O_REJECT;
		ch->sticky_reply = REPLY_DEF_REJECT;
		finish(ch, ch->sticky, ch->sticky_reply);
		return true;
	case MILTER_DEF_TEMPFAIL:
		ch->sticky = MILTER_O_TEMPFAIL;
		ch->sticky_reply = REPLY_TEMPFAIL;
		finish(ch, ch->sticky, ch->sticky_reply);
		return true;
	case MILTER_DEF_QUARANTINE:
		m->quarantine = true;
		break;
	default:
		break;
	}
	ch->cur++;
	ch->step = ST_HEADER;
	ch->hdr = 0;
	return false;
}

/* Start a connection; 0 (connected or in progress) or -1 with *why. */
static int open_milter(struct milter *m, const char **why)
{
	const struct milter_spec *s = m->spec;
	m->timeout_ms = s->connect_timeout_ms;
	m->deadline = now_ms() + m->timeout_ms;
	int fd = -1, rc;
	if (s->kind == MILTER_SOCK_UNIX) {
		struct sockaddr_un sun = {.sun_family = AF_UNIX};
		if (!s->path || strlen(s->path) >= sizeof sun.sun_path) {
			*why = "socket path too long";
			return -1;
		}
		memcpy(sun.sun_path, s->path, strlen(s->path) + 1);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			*why = strerror(errno);
			return -1;
		}
		rc = connect(fd, (struct sockaddr *)&sun, sizeof sun);
	} else {
		struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
		struct addrinfo *ai;
		char port[16];
		hints.ai_family = s->kind == MILTER_SOCK_INET6 ? AF_INET6 : AF_INET;
		snprintf(port, sizeof port, "%u", s->port);
		int g = getaddrinfo(s->host, port, &hints, &ai);
		if (g != 0) {
			*why = gai_strerror(g);
			return -1;
		}
		fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			*why = strerror(errno);
			freeaddrinfo(ai);
			return -1;
		}
		rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
		freeaddrinfo(ai);
	}
	m->fd = fd;
	if (rc < 0 && errno != EINPROGRESS && errno != EINTR) {
		*why = strerror(errno);
		return -1;
	}
	m->state = rc < 0 ? MS_CONNECTING : MS_OPTNEG;
	if (m->state == MS_OPTNEG)
		milter_conv_start(&m->conv, &m->out);
	return 0;
}

static void add_pair(struct milter_chain *ch, const char *name, const char *value)
{
	if (ch->npairs + 2 > ch->pairs_cap) {
		ch->pairs_cap = ch->pairs_cap ? 2 * ch->pairs_cap : 16;
		ch->pairs = xreallocarray(ch->pairs, ch->pairs_cap, sizeof *ch->pairs);
	}
	ch->pairs[ch->npairs++] = name;
	ch->pairs[ch->npairs++] = value;
}

static const char *macro_value(struct milter_chain *ch, const char *name)
{
	const char *v = ch->ops->macro ? ch->ops->macro(ch->ctx, name) : NULL;
	if (v)
		return v;
	if (strcmp(name, "{daemon_name}") == 0 && ch->cfg->daemon_name)
		return ch->cfg->daemon_name;
	if (strcmp(name, "v") == 0 && ch->cfg->macro_v)
		return ch->cfg->macro_v;
	for (char **d = ch->cfg->macro_defaults; d && d[0] && d[1]; d += 2)
		if (strcmp(d[0], name) == 0)
			return d[1];
	return NULL;
}

/* The macros for stage st of milter m into ch->pairs: its SETSYMLIST, else the configured names. */
static void build_macros(struct milter_chain *ch, struct milter *m, enum milter_stage st)
{
	int ms;
	ch->npairs = 0;
	switch (st) {
	case MILTER_S_CONNECT: ms = MILTER_M_CONNECT; break;
	case MILTER_S_HELO: ms = MILTER_M_HELO; break;
	case MILTER_S_MAIL: ms = MILTER_M_ENVFROM; break;
	case MILTER_S_RCPT: ms = MILTER_M_ENVRCPT; break;
	case MILTER_S_DATA: ms = MILTER_M_DATA; break;
	case MILTER_S_EOH: ms = MILTER_M_EOH; break;
	case MILTER_S_EOM: ms = MILTER_M_EOM; break;
	case MILTER_S_UNKNOWN: ms = MILTER_M_UNKNOWN; break;
	default: return;
	}
	const char *sym = ms < MILTER_M_COUNT ? milter_conv_symlist(&m->conv, ms) : NULL;
	if (sym) {
		free(ch->symcopy);
		ch->symcopy = xstrdup(sym);
		for (char *save = NULL, *w = strtok_r(ch->symcopy, " \t,", &save); w;
		     w = strtok_r(NULL, " \t,", &save)) {
			const char *v = macro_value(ch, w);
			if (v)
				add_pair(ch, w, v);
		}
		return;
	}
	for (char **n = ch->cfg->macros[ms]; n && *n; n++) {
		const char *v = macro_value(ch, *n);
		if (v)
			add_pair(ch, *n, v);
	}
}

/* Outcome of a deciding verdict; false when the milter only continued or accepted. */
static bool verdict_ends(struct milter_chain *ch, struct milter *m)
{
	const struct milter_conv *c = &m->conv;
	switch (c->verdict) {
	case MILTER_V_REJECT:
		finish(ch, MILTER_O_REJECT, msg_stage(c->stage) ? REPLY_REJECT_MSG : REPLY_REJECT_CMD);
		return true;
	case MILTER_V_TEMPFAIL:
		finish(ch, MILTER_O_TEMPFAIL, REPLY_TEMPFAIL);
		return true;
	case MILTER_V_REPLYCODE:
		finish(ch, c->code == 421 ? MILTER_O_SHUTDOWN
			   : c->code >= 500 ? MILTER_O_REJECT : MILTER_O_TEMPFAIL, c->text);
		return true;
	case MILTER_V_DISCARD:
		finish(ch, MILTER_O_DISCARD, NULL);
		return true;
	case MILTER_V_SHUTDOWN:
	case MILTER_V_CONN_FAIL:
		finish(ch, MILTER_O_SHUTDOWN, REPLY_SHUTDOWN);
		return true;
	default:
		return false;
	}
}

/* Body: the next block from the driver, LF -> CRLF, into ch->body; false at the end. */
static bool next_block(struct milter_chain *ch)
{
	char raw[BODY_BLOCK];
	buf_reset(&ch->body);
	if (ch->body_eof)
		return false;
	ssize_t n = ch->ops->body_read ? ch->ops->body_read(ch->ctx, raw, sizeof raw) : 0;
	if (n <= 0) {
		ch->body_eof = true;
		return false;
	}
	for (ssize_t i = 0; i < n; i++) {
		if (raw[i] == '\n')
			buf_addc(&ch->body, '\r');
		buf_addc(&ch->body, raw[i]);
	}
	return true;
}

static char cr_byte[] = "\r";

/* Apply milter m's edits; -1 when the driver could not. */
static int apply_mods(struct milter_chain *ch, struct milter *m)
{
	struct milter_conv *c = &m->conv;
	bool leadspc = milter_conv_header_leadspc(c), first = true, cr = false;
	int rc = 0;
	struct buf tmp = BUF_INIT;
	for (size_t i = 0; i < c->nmods && rc == 0; i++) {
		struct milter_mod mod = c->mods[i];
		if (mod.type != MILTER_R_REPLBODY && cr) {
			/* a CR that ended the replaced body */
			struct milter_mod b = {.type = MILTER_R_REPLBODY, .body = cr_byte, .body_len = 1};
			rc = ch->ops->apply(ch->ctx, &b, first);
			first = false;
			cr = false;
			if (rc < 0)
				break;
		}
		buf_reset(&tmp);
		if (mod.type == MILTER_R_REPLBODY) {
			/* CRLF -> LF, also when CR ends one chunk and LF starts the next */
			for (size_t j = 0; j < mod.body_len; j++) {
				char x = mod.body[j];
				if (cr && x != '\n')
					buf_addc(&tmp, '\r');
				cr = x == '\r';
				if (!cr)
					buf_addc(&tmp, x);
			}
			mod.body = tmp.data;
			mod.body_len = tmp.len;
			if (mod.body_len == 0 && !first)
				continue;
			rc = ch->ops->apply(ch->ctx, &mod, first);
			first = false;
			continue;
		}
		if ((mod.type == MILTER_R_ADDHEADER || mod.type == MILTER_R_INSHEADER ||
		     (mod.type == MILTER_R_CHGHEADER && mod.value && *mod.value)) && !leadspc) {
			buf_addc(&tmp, ' ');
			buf_adds(&tmp, mod.value ? mod.value : "");
			mod.value = tmp.data;
		}
		rc = ch->ops->apply(ch->ctx, &mod, false);
	}
	if (rc == 0 && cr) {
		struct milter_mod b = {.type = MILTER_R_REPLBODY, .body = cr_byte, .body_len = 1};
		rc = ch->ops->apply(ch->ctx, &b, first);
	}
	buf_free(&tmp);
	for (size_t i = 0; i < c->nmods; i++)
		milter_mod_free(&c->mods[i]);
	c->nmods = 0;
	c->mods_bytes = 0;
	return rc < 0 ? -1 : 0;
}

/*
 * Build the next event for milter m (ch->stage, or the message step);
 * false when this milter has nothing more to do in this event.
 */
static bool next_event(struct milter_chain *ch, struct milter *m, struct milter_event *ev)
{
	memset(ev, 0, sizeof *ev);
	if (ch->stage != MILTER_S_EOM) {
		ev->stage = ch->stage;
		ev->host = ch->s1;
		ev->addr = ch->s2;
		ev->family = ch->family;
		ev->port = ch->port;
		ev->arg = ch->s1;
		ev->args = (const char *const *)ch->args;
		ev->nargs = ch->nargs;
		return true;
	}
	/* The message, in steps; a milter that is done with the message gets none. */
	if (!m->conv.in_msg && ch->step != ST_APPLY)
		return false;
	switch (ch->step) {
	case ST_HEADER: {
		size_t nh = ch->ops->header_count ? ch->ops->header_count(ch->ctx) : 0;
		if (ch->hdr < nh) {
			const char *name = "", *value = "";
			ch->ops->header_get(ch->ctx, ch->hdr++, &name, &value);
			ev->stage = MILTER_S_HEADER;
			ev->arg = name;
			ev->value = value;
			return true;
		}
		ch->step = ST_EOH;
	}
		/* fall through */
	case ST_EOH:
		ev->stage = MILTER_S_EOH;
		ch->step = ST_BODY;
		ch->body_eof = false;
		if (ch->ops->body_rewind && ch->ops->body_rewind(ch->ctx) < 0)
			ch->body_eof = true;	/* then the milter sees no body */
		return true;
	case ST_BODY:
		if (!m->conv.body_skipped && !(m->conv.neg.proto & MILTER_P_NOBODY) &&
		    next_block(ch)) {
			ev->stage = MILTER_S_BODY;
			ev->body = ch->body.data;
			ev->body_len = ch->body.len;
			return true;
		}
		ch->step = ST_EOM;
		/* fall through */
	case ST_EOM:
		ev->stage = MILTER_S_EOM;
		ch->step = ST_APPLY;
		return true;
	case ST_APPLY:
		return false;
	}
	return false;
}

/* Go as far as possible without waiting. */
static void run(struct milter_chain *ch)
{
	while (ch->busy) {
		if (ch->cur >= ch->n) {
			if (ch->stage == MILTER_S_EOM) {
				for (size_t i = 0; i < ch->n; i++) {
					if (!ch->m[i].quarantine)
						continue;
					struct buf r = BUF_INIT;
					buf_printf(&r, "milter %s failed", ch->m[i].spec->name);
					struct milter_mod q = {.type = MILTER_R_QUARANTINE,
							       .name = r.data};
					int rc = ch->ops->apply(ch->ctx, &q, false);
					buf_free(&r);
					if (rc < 0) {
						finish(ch, MILTER_O_TEMPFAIL, REPLY_APPLY);
						return;
					}
				}
			}
			finish(ch, MILTER_O_CONTINUE, NULL);
			return;
		}
		struct milter *m = &ch->m[ch->cur];
		const char *why = NULL;
		switch (m->state) {
		case MS_DEAD:
			ch->cur++;
			ch->step = ST_HEADER;
			ch->hdr = 0;
			continue;
		case MS_NEW:
			if (open_milter(m, &why) < 0) {
				fail(ch, m, why);
				continue;
			}
			if (flush(m) < 0) {
				fail(ch, m, strerror(errno));
				continue;
			}
			return;
		case MS_CONNECTING:
		case MS_OPTNEG:
		case MS_REPLY:
			return;	/* waiting for I/O */
		case MS_READY:
			break;
		}
		if (ch->stage == MILTER_S_RCPT && ch->rejected_rcpt &&
		    !milter_conv_wants_rejected_rcpt(&m->conv)) {
			ch->cur++;
			continue;
		}
		struct milter_event ev;
		if (!next_event(ch, m, &ev)) {
			if (ch->step == ST_APPLY && apply_mods(ch, m) < 0) {
				logf_(ch, true, "milter %s: the changes it asked for could not be applied",
				      m->spec->name);
				finish(ch, MILTER_O_TEMPFAIL, REPLY_APPLY);
				return;
			}
			ch->cur++;
			ch->step = ST_HEADER;
			ch->hdr = 0;
			continue;
		}
		build_macros(ch, m, ev.stage);
		ev.macros = ch->pairs;
		ev.nmacros = ch->npairs / 2;
		m->timeout_ms = stage_timeout(m, ev.stage);
		m->deadline = now_ms() + m->timeout_ms;
		enum milter_next next = milter_conv_stage(&m->conv, &ev, &m->out);
		if (next == MILTER_ERROR) {
			fail(ch, m, m->conv.error);
			continue;
		}
		if (flush(m) < 0) {
			fail(ch, m, strerror(errno));
			continue;
		}
		if (next == MILTER_WAIT) {
			m->state = MS_REPLY;
			if (m->in.len == 0)
				return;
			/* bytes that came early: feed them now */
			next = milter_conv_input(&m->conv, &m->in, &m->out);
			if (next == MILTER_ERROR) {
				fail(ch, m, m->conv.error);
				continue;
			}
			if (next == MILTER_WAIT)
				return;
			m->state = MS_READY;
		}
		if (ch->stage == MILTER_S_RCPT && ch->rejected_rcpt) {
			ch->cur++;	/* the outcome is ignored */
			continue;
		}
		if (verdict_ends(ch, m))
			return;
		if (ch->stage != MILTER_S_EOM)
			ch->cur++;
	}
}

static void begin(struct milter_chain *ch, enum milter_stage st)
{
	if (ch->busy) {
		fprintf(stderr, "milter_chain: event %s while %s is pending\n",
			milter_stage_name(st), milter_stage_name(ch->stage));
		abort();
	}
	free_event(ch);
	buf_reset(&ch->reply);
	ch->stage = st;
	ch->rejected_rcpt = false;
	ch->cur = 0;
	ch->step = ST_HEADER;
	ch->hdr = 0;
	ch->outcome = MILTER_O_CONTINUE;
}

static enum milter_outcome start(struct milter_chain *ch, const char **reply)
{
	*reply = NULL;
	if (ch->sticky != MILTER_O_CONTINUE) {
		*reply = ch->sticky_reply;
		return ch->sticky;
	}
	if (ch->discarded && (ch->stage == MILTER_S_RCPT || ch->stage == MILTER_S_DATA ||
			      ch->stage == MILTER_S_EOM))
		return MILTER_O_DISCARD;
	ch->busy = true;
	ch->in_start = true;
	run(ch);
	ch->in_start = false;
	if (ch->busy)
		return MILTER_O_PENDING;
	*reply = ch->reply.len ? buf_str(&ch->reply) : NULL;
	return ch->outcome;
}

static char *dup_or_empty(const char *s)
{
	return xstrdup(s ? s : "");
}

static void copy_args(struct milter_chain *ch, const char *const *args, size_t nargs)
{
	ch->args = nargs ? xcalloc(nargs, sizeof *ch->args) : NULL;
	for (size_t i = 0; i < nargs; i++)
		ch->args[i] = dup_or_empty(args[i]);
	ch->nargs = nargs;
}

enum milter_outcome milter_chain_connect(struct milter_chain *ch, const char *host,
					 const char *addr, char family, uint16_t port,
					 const char **reply)
{
	begin(ch, MILTER_S_CONNECT);
	ch->s1 = dup_or_empty(host);
	ch->s2 = dup_or_empty(addr);
	ch->family = family;
	ch->port = port;
	return start(ch, reply);
}

enum milter_outcome milter_chain_helo(struct milter_chain *ch, const char *name, const char **reply)
{
	begin(ch, MILTER_S_HELO);
	ch->s1 = dup_or_empty(name);
	return start(ch, reply);
}

enum milter_outcome milter_chain_mail(struct milter_chain *ch, const char *addr,
				      const char *const *args, size_t nargs, const char **reply)
{
	begin(ch, MILTER_S_MAIL);
	/* An unfinished earlier message ends first, as libmilter expects. */
	ch->discarded = false;
	for (size_t i = 0; i < ch->n; i++) {
		struct milter *m = &ch->m[i];
		if (m->state != MS_READY || !m->conv.in_msg)
			continue;
		milter_conv_stage(&m->conv, &(struct milter_event){.stage = MILTER_S_ABORT}, &m->out);
	}
	ch->s1 = dup_or_empty(addr);
	copy_args(ch, args, nargs);
	return start(ch, reply);
}

enum milter_outcome milter_chain_rcpt(struct milter_chain *ch, const char *addr,
				      const char *const *args, size_t nargs, bool rejected,
				      const char **reply)
{
	begin(ch, MILTER_S_RCPT);
	ch->rejected_rcpt = rejected;
	ch->s1 = dup_or_empty(addr);
	copy_args(ch, args, nargs);
	if (rejected && (ch->sticky != MILTER_O_CONTINUE || ch->discarded)) {
		*reply = NULL;
		return MILTER_O_CONTINUE;
	}
	enum milter_outcome o = start(ch, reply);
	if (rejected && o != MILTER_O_PENDING) {
		*reply = NULL;
		return MILTER_O_CONTINUE;
	}
	return o;
}

enum milter_outcome milter_chain_data(struct milter_chain *ch, const char **reply)
{
	begin(ch, MILTER_S_DATA);
	return start(ch, reply);
}

enum milter_outcome milter_chain_unknown(struct milter_chain *ch, const char *line, const char **reply)
{
	begin(ch, MILTER_S_UNKNOWN);
	ch->s1 = dup_or_empty(line);
	return start(ch, reply);
}

enum milter_outcome milter_chain_message(struct milter_chain *ch, const char **reply)
{
	begin(ch, MILTER_S_EOM);
	return start(ch, reply);
}

void milter_chain_abort(struct milter_chain *ch)
{
	if (ch->busy) {
		fprintf(stderr, "milter_chain: abort while %s is pending\n",
			milter_stage_name(ch->stage));
		abort();
	}
	ch->discarded = false;
	for (size_t i = 0; i < ch->n; i++) {
		struct milter *m = &ch->m[i];
		if (m->state != MS_READY)
			continue;
		milter_conv_stage(&m->conv, &(struct milter_event){.stage = MILTER_S_ABORT}, &m->out);
		if (flush(m) < 0)
			close_milter(ch, m);	/* noticed as a failure at its next event */
	}
}

int milter_chain_poll(const struct milter_chain *ch, short *events)
{
	*events = 0;
	if (!ch || !ch->busy || ch->cur >= ch->n)
		return -1;
	const struct milter *m = &ch->m[ch->cur];
	if (m->fd < 0)
		return -1;
	if (m->state == MS_CONNECTING)
		*events = POLLOUT;
	else
		*events = (short)(POLLIN | (m->out.len ? POLLOUT : 0));
	return m->fd;
}

long long milter_chain_deadline(const struct milter_chain *ch)
{
	if (!ch || !ch->busy || ch->cur >= ch->n)
		return -1;
	return ch->m[ch->cur].deadline;
}

void milter_chain_io(struct milter_chain *ch, short revents)
{
	if (!ch->busy || ch->cur >= ch->n)
		return;
	struct milter *m = &ch->m[ch->cur];
	if (m->state == MS_CONNECTING) {
		if (!(revents & (POLLOUT | POLLERR | POLLHUP)))
			return;
		int err = 0;
		socklen_t len = sizeof err;
		if (getsockopt(m->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			err = errno;
		if (err) {
			if (!fail(ch, m, strerror(err)))
				run(ch);
			return;
		}
		m->state = MS_OPTNEG;
		m->deadline = now_ms() + m->timeout_ms;
		milter_conv_start(&m->conv, &m->out);
	}
	if (flush(m) < 0) {
		if (!fail(ch, m, strerror(errno)))
			run(ch);
		return;
	}
	if ((m->state == MS_OPTNEG || m->state == MS_REPLY) && (revents & (POLLIN | POLLERR | POLLHUP))) {
		char b[16384];
		ssize_t n = recv(m->fd, b, sizeof b, 0);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
			if (!fail(ch, m, n == 0 ? "connection closed by the milter" : strerror(errno)))
				run(ch);
			return;
		}
		if (n < 0)
			return;
		buf_add(&m->in, b, (size_t)n);
		m->deadline = now_ms() + m->timeout_ms;
		enum milter_next next = milter_conv_input(&m->conv, &m->in, &m->out);
		if (next == MILTER_ERROR) {
			if (!fail(ch, m, m->conv.error))
				run(ch);
			return;
		}
		if (flush(m) < 0) {
			if (!fail(ch, m, strerror(errno)))
				run(ch);
			return;
		}
		if (next == MILTER_WAIT)
			return;
		bool negotiated = m->state == MS_OPTNEG;
		m->state = MS_READY;
		if (!negotiated) {
			if (ch->stage == MILTER_S_RCPT && ch->rejected_rcpt)
				ch->cur++;
			else if (verdict_ends(ch, m))
				return;
			else if (ch->stage != MILTER_S_EOM)
				ch->cur++;
		}
	}
	run(ch);
}

void milter_chain_tick(struct milter_chain *ch)
{
	if (!ch->busy || ch->cur >= ch->n)
		return;
	struct milter *m = &ch->m[ch->cur];
	if (m->deadline < 0 || now_ms() < m->deadline)
		return;
	if (!fail(ch, m, "timeout"))
		run(ch);
}

void milter_chain_wait(struct milter_chain *ch)
{
	while (ch && ch->busy) {
		short events;
		int fd = milter_chain_poll(ch, &events);
		long long dl = milter_chain_deadline(ch);
		int ms = -1;
		if (dl >= 0) {
			long long left = dl - now_ms();
			ms = left < 0 ? 0 : left > 60000 ? 60000 : (int)left;
		}
		struct pollfd p = {.fd = fd, .events = events};
		int r = poll(&p, fd >= 0 ? 1 : 0, ms);
		if (r < 0 && errno != EINTR)
			break;
		if (r > 0)
			milter_chain_io(ch, p.revents);
		else
			milter_chain_tick(ch);
	}
}
