/*
 * milter_chain.h - the milters of one SMTP session (or of one command-line
 * message), in the configured order, over their sockets: connecting,
 * negotiating, the timeouts of each stage, the default action of a milter
 * that fails, and passing each event down the chain.
 *
 * Mail layer. Runs in its driver's process: smtpd (mail_owner, on the
 * event loop thread) and pickup (mail_owner). It never blocks: sockets
 * are non-blocking, and an event either ends at once or returns
 * MILTER_O_PENDING, after which the driver watches the one descriptor
 * milter_chain_poll() names (only one milter of a chain talks at a time)
 * and calls milter_chain_io() when it is ready and milter_chain_tick()
 * when the deadline passed; the outcome then arrives through ops->done.
 * milter_chain_wait() is that loop with poll(2), for drivers that may
 * block (pickup, sendmail -bs). A slow or dead milter holds only the
 * session it belongs to.
 *
 * The protocol itself (encoders, decoder, negotiation, per-milter
 * conversation) is milter_proto.h; this module adds I/O, time and order.
 * Everything a milter sends is untrusted: garbage, EOF or silence past
 * the stage's timeout fails that milter, which then gets its default
 * action and a log line naming it and the stage; it is not asked again
 * in this session.
 *
 * Order: an event goes to milter 1; when it continues or accepts (or
 * the stage is not sent to it), to milter 2, and so on. The first
 * REJECT, TEMPFAIL, REPLYCODE, DISCARD or SHUTDOWN ends the event. A
 * milter is connected and negotiated when the first event reaches it
 * (normally milter_chain_connect); connect_timeout bounds the connection
 * and the negotiation, command_timeout CONNECT to DATA and UNKNOWN,
 * content_timeout HEADER to end of message. Each wait restarts whenever
 * bytes move (so PROGRESS keeps a milter alive). inet: names that are
 * not numeric addresses are resolved with getaddrinfo(3), which can
 * block; numeric addresses never do.
 *
 * Replies the chain makes up (REPLYCODE passes the milter's own text;
 * a 4xx code is TEMPFAIL, 5xx REJECT, 421 SHUTDOWN):
 *   REJECT before DATA ended     550 5.7.1 Command rejected
 *   REJECT of the message        550 5.7.1 Message content rejected
 *   TEMPFAIL                     451 4.7.1 Service unavailable - try again later
 *   SHUTDOWN (also CONN_FAIL)    421 4.7.0 Server closing connection
 *   DISCARD                      no reply (NULL): the driver answers as for
 *                                success and drops the message; later RCPT,
 *                                DATA and message events of that message
 *                                return DISCARD at once, without milters
 *   default_action = reject      550 5.5.0 Service unavailable (as Postfix)
 *   default_action = tempfail    451 4.7.1 Service unavailable - try again later
 *   ops->apply returned -1       451 4.3.0 Error: cannot apply the changes of a mail filter
 * After a milter with default_action reject or tempfail failed, this
 * and every later event of the session (but milter_chain_abort) returns
 * that outcome at once. default_action = accept goes on without the
 * milter; quarantine too, and every later milter_chain_message gives
 * ops->apply a QUARANTINE mod with the reason "milter NAME failed".
 * A message refused or discarded at MAIL, DATA or its content (and
 * discarded at RCPT) is ABORTed at the milters that still hold it.
 *
 * Misuse is a programming error: starting an event, or calling
 * milter_chain_abort, while an event is pending prints a line and calls
 * abort(3). QUIT_NC (reusing a connection for a new session) is not
 * used: each chain is one session, and milter_chain_free sends QUIT.
 */
#ifndef TERN_MAIL_MILTER_CHAIN_H
#define TERN_MAIL_MILTER_CHAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "mail/milter_cfg.h"
#include "mail/milter_proto.h"

enum milter_outcome {
	MILTER_O_CONTINUE,	/* go on (every milter continued or accepted) */
	MILTER_O_REJECT,	/* answer with reply (5xx) */
	MILTER_O_TEMPFAIL,	/* answer with reply (4xx) */
	MILTER_O_DISCARD,	/* the message is accepted (250) and dropped */
	MILTER_O_SHUTDOWN,	/* answer with reply (421) and close the session */
	MILTER_O_PENDING,	/* not decided yet: ops->done follows */
};

struct milter_chain_ops {
	/*
	 * The value of macro name ("j", "{rcpt_addr}", "i") now, or NULL when
	 * the driver has none (then cfg->daemon_name for "{daemon_name}",
	 * cfg->macro_v for "v", then milter_macro_defaults, else not sent).
	 * The names asked for before each stage are the milter's SETSYMLIST
	 * for that stage, else cfg->macros[stage] (MILTER_M_UNKNOWN before
	 * UNKNOWN); no macros go with HEADER and BODY.
	 */
	const char *(*macro)(void *ctx, const char *name);
	/* Content, read by milter_chain_message(): headers as cleanup holds them. */
	size_t (*header_count)(void *ctx);
	void (*header_get)(void *ctx, size_t i, const char **name, const char **value);
	/* The body with LF line ends; the chain sends it with CRLF. */
	int (*body_rewind)(void *ctx);
	ssize_t (*body_read)(void *ctx, char *data, size_t len);
	/*
	 * One end-of-message edit of a milter, applied before the next milter
	 * sees the message. REPLBODY chunks arrive with LF line ends (the
	 * chain converted them), the first one of a milter with first set;
	 * header values already have the space after the colon unless the
	 * milter negotiated HDR_LEADSPC; CHGFROM/ADDRCPT addresses keep their
	 * <>. QUARANTINE comes as a mod too (also from default_action =
	 * quarantine, with name the reason). 0, or -1: the message gets a
	 * temporary failure.
	 */
	int (*apply)(void *ctx, const struct milter_mod *mod, bool first);
	/* A pending event ended (never called from inside the call that started it). */
	void (*done)(void *ctx, enum milter_outcome o, const char *reply);
	/* One log line (warning: a milter failed), may be NULL. */
	void (*log)(void *ctx, bool warning, const char *line);
	/*
	 * May be NULL. Called just before the chain closes a milter's socket
	 * fd (a failure, or milter_chain_free), so that a driver that keeps fd
	 * registered with its event loop between events (epoll) can remove it
	 * while the number still names this socket: the next socket the chain
	 * opens may get the same number, and closing does not tell the driver.
	 */
	void (*closing)(void *ctx, int fd);
};

struct milter_chain;

/* NULL when cfg has no milters. The chain keeps cfg (it must outlive it). */
struct milter_chain *milter_chain_new(const struct milter_cfg *cfg,
				      const struct milter_chain_ops *ops, void *ctx);
/*
 * Sends QUIT to every milter that is connected and between stages (one
 * non-blocking write, best effort) and closes every socket. NULL is fine.
 */
void milter_chain_free(struct milter_chain *ch);

/*
 * Events, in SMTP order. Each returns the outcome, or MILTER_O_PENDING
 * and then calls ops->done once. Only one event may be pending. The
 * reply of a final outcome (also for done) is a whole SMTP reply without
 * the final CRLF, possibly several lines joined by CRLF; it stays valid
 * until the next event.
 *
 * connect: opens the sockets (connect_timeout), negotiates and sends
 * CONNECT. family MILTER_FAM_*; port in host order.
 */
enum milter_outcome milter_chain_connect(struct milter_chain *ch, const char *host,
					 const char *addr, char family, uint16_t port,
					 const char **reply);
enum milter_outcome milter_chain_helo(struct milter_chain *ch, const char *name, const char **reply);
/* addr with its <>, args the ESMTP parameters. A new MAIL aborts an earlier unfinished message. */
enum milter_outcome milter_chain_mail(struct milter_chain *ch, const char *addr,
				      const char *const *args, size_t nargs, const char **reply);
/*
 * rejected: the MTA already refused this recipient; only milters that
 * negotiated RCPT_REJ see it, and the outcome is ignored (CONTINUE).
 */
enum milter_outcome milter_chain_rcpt(struct milter_chain *ch, const char *addr,
				      const char *const *args, size_t nargs, bool rejected,
				      const char **reply);
enum milter_outcome milter_chain_data(struct milter_chain *ch, const char **reply);
enum milter_outcome milter_chain_unknown(struct milter_chain *ch, const char *line, const char **reply);
/*
 * The message is complete (held by the driver): for each milter in turn,
 * its headers, end of headers, body and end of message, then its edits
 * through ops->apply, so the next milter sees them.
 */
enum milter_outcome milter_chain_message(struct milter_chain *ch, const char **reply);
/*
 * The transaction ended without milter_chain_message (RSET, error): ABORT
 * to the milters that hold an open message, no reply awaited.
 */
void milter_chain_abort(struct milter_chain *ch);

/*
 * Driver I/O: the descriptor to watch (-1: none) and POLLIN/POLLOUT in
 * *events. Between events it is -1: a driver may keep watching the last
 * descriptor (until ops->closing names it), but readiness then means
 * bytes or EOF the milter sent unasked, which milter_chain_io ignores
 * and the next event reads: such a driver must stop watching, not loop.
 */
int milter_chain_poll(const struct milter_chain *ch, short *events);
/* Milliseconds of CLOCK_MONOTONIC when the current wait times out; -1: none. */
long long milter_chain_deadline(const struct milter_chain *ch);
void milter_chain_io(struct milter_chain *ch, short revents);
void milter_chain_tick(struct milter_chain *ch);
/*
 * Blocking drivers: run poll(2) until the pending event is done (ops->done
 * is called from inside; returns at once when nothing is pending).
 */
void milter_chain_wait(struct milter_chain *ch);

#endif
