/*
 * milter_proto.h - the MTA side of the milter protocol (version 2 to 6,
 * as libmilter 8.17 speaks it), without I/O.
 *
 * Mail layer. Like the SMTP engine, this module never reads or writes a
 * descriptor, never blocks and never sleeps: the driver (smtpd's event
 * loop, or cleanup for command-line mail) asks a conversation what to
 * send for the next stage, sends the bytes, and hands back what the
 * filter answered. It has three layers, usable apart:
 *
 *   - framing and encoders (milter_pkt_*, milter_enc_*): one MTA->filter
 *     packet appended to a buf;
 *   - the reply decoder (milter_reply_decode): one filter->MTA packet
 *     into a typed struct, checked to the last byte;
 *   - negotiation and the per-milter conversation (milter_conv_*): which
 *     stages are sent, which expect a reply, and the verdict and the
 *     modifications a filter asked for.
 *
 * Privileges: those of its driver. Everything the filter sends is
 * untrusted: lengths are bounded before anything is allocated, and bad
 * input is an error with a message, never a crash or an over-read.
 */
#ifndef TERN_MAIL_MILTER_PROTO_H
#define TERN_MAIL_MILTER_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

/* Commands, MTA -> filter (mfdef.h SMFIC_*). */
#define MILTER_C_ABORT		'A'
#define MILTER_C_BODY		'B'
#define MILTER_C_CONNECT	'C'
#define MILTER_C_MACRO		'D'
#define MILTER_C_BODYEOB	'E'
#define MILTER_C_HELO		'H'
#define MILTER_C_QUIT_NC	'K'
#define MILTER_C_HEADER		'L'
#define MILTER_C_MAIL		'M'
#define MILTER_C_EOH		'N'
#define MILTER_C_OPTNEG		'O'
#define MILTER_C_QUIT		'Q'
#define MILTER_C_RCPT		'R'
#define MILTER_C_DATA		'T'
#define MILTER_C_UNKNOWN	'U'

/* Replies, filter -> MTA (mfdef.h SMFIR_*). */
#define MILTER_R_ADDRCPT	'+'
#define MILTER_R_DELRCPT	'-'
#define MILTER_R_ADDRCPT_PAR	'2'
#define MILTER_R_SHUTDOWN	'4'
#define MILTER_R_ACCEPT		'a'
#define MILTER_R_REPLBODY	'b'
#define MILTER_R_CONTINUE	'c'
#define MILTER_R_DISCARD	'd'
#define MILTER_R_CHGFROM	'e'
#define MILTER_R_CONN_FAIL	'f'
#define MILTER_R_ADDHEADER	'h'
#define MILTER_R_INSHEADER	'i'
#define MILTER_R_SETSYMLIST	'l'
#define MILTER_R_CHGHEADER	'm'
#define MILTER_R_PROGRESS	'p'
#define MILTER_R_QUARANTINE	'q'
#define MILTER_R_REJECT		'r'
#define MILTER_R_SKIP		's'
#define MILTER_R_TEMPFAIL	't'
#define MILTER_R_REPLYCODE	'y'
#define MILTER_R_OPTNEG		'O'	/* the negotiation reply reuses the command byte */

/* Connection families (SMFIA_*). */
#define MILTER_FAM_UNKNOWN	'U'
#define MILTER_FAM_UNIX		'L'
#define MILTER_FAM_INET		'4'
#define MILTER_FAM_INET6	'6'

/* Actions (SMFIF_*). */
#define MILTER_F_ADDHDRS	0x001u
#define MILTER_F_CHGBODY	0x002u
#define MILTER_F_ADDRCPT	0x004u
#define MILTER_F_DELRCPT	0x008u
#define MILTER_F_CHGHDRS	0x010u
#define MILTER_F_QUARANTINE	0x020u
#define MILTER_F_CHGFROM	0x040u
#define MILTER_F_ADDRCPT_PAR	0x080u
#define MILTER_F_SETSYMLIST	0x100u
#define MILTER_F_V2_ACTS	0x03Fu
#define MILTER_F_ALL		0x1FFu

/* Protocol flags (SMFIP_*). */
#define MILTER_P_NOCONNECT	0x00000001u
#define MILTER_P_NOHELO		0x00000002u
#define MILTER_P_NOMAIL		0x00000004u
#define MILTER_P_NORCPT		0x00000008u
#define MILTER_P_NOBODY		0x00000010u
#define MILTER_P_NOHDRS		0x00000020u
#define MILTER_P_NOEOH		0x00000040u
#define MILTER_P_NR_HDR		0x00000080u
#define MILTER_P_NOUNKNOWN	0x00000100u
#define MILTER_P_NODATA		0x00000200u
#define MILTER_P_SKIP		0x00000400u
#define MILTER_P_RCPT_REJ	0x00000800u
#define MILTER_P_NR_CONN	0x00001000u
#define MILTER_P_NR_HELO	0x00002000u
#define MILTER_P_NR_MAIL	0x00004000u
#define MILTER_P_NR_RCPT	0x00008000u
#define MILTER_P_NR_DATA	0x00010000u
#define MILTER_P_NR_UNKN	0x00020000u
#define MILTER_P_NR_EOH		0x00040000u
#define MILTER_P_NR_BODY	0x00080000u
#define MILTER_P_HDR_LEADSPC	0x00100000u
#define MILTER_P_MDS_256K	0x10000000u
#define MILTER_P_MDS_1M		0x20000000u
#define MILTER_P_V2_PROT	0x0000007Fu
#define MILTER_P_ALL		0x001FFFFFu

/* Data sizes: the default and the two that SMFIP_MDS_* negotiate. */
#define MILTER_MDS_64K		((64u * 1024) - 1)
#define MILTER_MDS_256K		((256u * 1024) - 1)
#define MILTER_MDS_1M		((1024u * 1024) - 1)
/* Default bound on the edits of one end of message (milter_conv.mods_limit). */
#define MILTER_MODS_LIMIT	(64u * 1024 * 1024)
/* Body chunks sent to filters (MILTER_CHUNK_SIZE). */
#define MILTER_CHUNK		65535u

/* Macro stages of SETSYMLIST (SMFIM_*), also indexes of symlist[]. */
enum milter_macro_stage {
	MILTER_M_CONNECT, MILTER_M_HELO, MILTER_M_ENVFROM, MILTER_M_ENVRCPT,
	MILTER_M_DATA, MILTER_M_EOM, MILTER_M_EOH, MILTER_M_COUNT
};

/* ---- framing ---- */

/* Append one packet: 4-byte big-endian length of cmd + data, cmd, data. */
void milter_pkt_put(struct buf *out, char cmd, const void *data, size_t len);

/*
 * Find the first packet in in[0..len). Returns 1 with *cmd, *data (points
 * into in), *dlen and *used (bytes the packet takes) set; 0 when more
 * bytes are needed; -1 with *err when the length is 0 or its data would
 * exceed max_data (checked from the 4 length bytes alone, before any
 * more is waited for or allocated).
 */
int milter_pkt_take(const char *in, size_t len, size_t max_data, char *cmd,
		    const char **data, size_t *dlen, size_t *used, const char **err);

/* ---- encoders, one MTA->filter packet each, appended to out ---- */

void milter_enc_optneg(struct buf *out, uint32_t version, uint32_t actions, uint32_t proto);
/* pairs: n names and values alternating (pairs[2i] name, pairs[2i+1] value). */
void milter_enc_macro(struct buf *out, char stage, const char *const *pairs, size_t n);
/*
 * family MILTER_FAM_*; port in host order. For MILTER_FAM_UNKNOWN only
 * the host name and family are sent (port and address are absent, as
 * libmilter expects); for MILTER_FAM_UNIX the port is 0 and addr the
 * socket path.
 */
void milter_enc_connect(struct buf *out, const char *host, char family,
			uint16_t port, const char *addr);
void milter_enc_helo(struct buf *out, const char *name);
/* addr as sent in the SMTP command, e.g. "<a@b.example>"; args the ESMTP parameters. */
void milter_enc_mail(struct buf *out, const char *addr, const char *const *args, size_t nargs);
void milter_enc_rcpt(struct buf *out, const char *addr, const char *const *args, size_t nargs);
void milter_enc_data(struct buf *out);
void milter_enc_header(struct buf *out, const char *name, const char *value);
void milter_enc_eoh(struct buf *out);
/* One chunk: len must be at most the negotiated data size. */
void milter_enc_body(struct buf *out, const void *data, size_t len);
void milter_enc_bodyeob(struct buf *out);
void milter_enc_abort(struct buf *out);
void milter_enc_quit(struct buf *out);
void milter_enc_quit_nc(struct buf *out);
/* The whole unrecognised command line, without CRLF. */
void milter_enc_unknown(struct buf *out, const char *line);

/* ---- the reply decoder ---- */

/* A modification a filter asked for at end of message. */
struct milter_mod {
	char type;		/* MILTER_R_ADDHEADER ... MILTER_R_QUARANTINE */
	uint32_t index;		/* INSHEADER: position; CHGHEADER: nth of the name, from 1 */
	/*
	 * Header name (ADD/INS/CHGHEADER), address (ADDRCPT*, DELRCPT,
	 * CHGFROM) or reason (QUARANTINE); NULL for REPLBODY.
	 */
	char *name;
	/*
	 * Header value (empty in CHGHEADER: delete) or ESMTP arguments
	 * (ADDRCPT_PAR, CHGFROM; NULL when there are none). Header values
	 * are as the filter sent them: without HDR_LEADSPC the writer adds
	 * the space after the colon.
	 */
	char *value;
	char *body;		/* REPLBODY chunk (not NUL-terminated) */
	size_t body_len;
};

struct milter_reply {
	char cmd;		/* MILTER_R_* */
	/* OPTNEG */
	uint32_t version, actions, proto;
	char *symlist[MILTER_M_COUNT];	/* OPTNEG macro lists; NULL: not set */
	/* REPLYCODE: the code and the whole text ("550-5.7.1 a\r\n550 5.7.1 b") */
	int code;
	char *text;
	/* SETSYMLIST sent apart: its stage and list */
	uint32_t stage;
	/* ADDHEADER ... REPLBODY, QUARANTINE */
	struct milter_mod mod;
};

/*
 * Decode one reply packet (cmd and its data, as milter_pkt_take gave
 * them). Returns 0, or -1 with *err set to a static message; r owns its
 * strings either way (free with milter_reply_free).
 */
int milter_reply_decode(char cmd, const char *data, size_t len,
			struct milter_reply *r, const char **err);
void milter_reply_free(struct milter_reply *r);
void milter_mod_free(struct milter_mod *m);

/*
 * Check REPLYCODE text: one or more CRLF-separated lines, each the same
 * 4xx or 5xx code followed by '-' (all but the last) or ' ' or nothing,
 * an optional enhanced status code whose class equals the code's first
 * digit, and printable text. Returns the code, or -1 with *err.
 */
int milter_replycode_check(const char *text, const char **err);

/* ---- negotiation ---- */

/* What the MTA offers one milter. */
struct milter_offer {
	uint32_t version;	/* milter_protocol: 2 to 6 */
	uint32_t actions;	/* MILTER_F_* allowed */
	uint32_t proto;		/* MILTER_P_* the MTA understands */
};

/*
 * The full offer for a protocol version: every action and protocol
 * flag that version knows; max_data 0 (64K), MILTER_MDS_256K or
 * MILTER_MDS_1M adds the matching MDS flag.
 */
void milter_offer_init(struct milter_offer *o, uint32_t version, size_t max_data);

/* What both sides agreed on. */
struct milter_neg {
	uint32_t version, actions, proto;
	size_t max_data;	/* largest packet data either side sends */
	char *symlist[MILTER_M_COUNT];	/* macros the filter wants; NULL: the configured ones */
};

/*
 * Check the filter's OPTNEG reply against the offer: version 2 up to
 * the offered one, no action and no protocol flag that was not offered,
 * at most one MDS size. Takes the symlists (only with the SETSYMLIST
 * action, as sendmail does; else they are ignored). Returns 0 or -1 with
 * *err.
 */
int milter_negotiate(const struct milter_offer *o, struct milter_reply *r,
		     struct milter_neg *n, const char **err);
void milter_neg_free(struct milter_neg *n);

/* ---- the conversation with one milter ---- */

enum milter_stage {
	MILTER_S_CONNECT, MILTER_S_HELO, MILTER_S_MAIL, MILTER_S_RCPT,
	MILTER_S_DATA, MILTER_S_UNKNOWN, MILTER_S_HEADER, MILTER_S_EOH,
	MILTER_S_BODY, MILTER_S_EOM, MILTER_S_ABORT, MILTER_S_QUIT,
	MILTER_S_QUIT_NC
};

/* A stage and its data; only the fields of that stage are read. */
struct milter_event {
	enum milter_stage stage;
	/* macros sent before the command: names and values alternating */
	const char *const *macros;
	size_t nmacros;
	/* CONNECT */
	const char *host, *addr;
	char family;
	uint16_t port;
	/* HELO name, MAIL/RCPT address, UNKNOWN line, HEADER name */
	const char *arg;
	const char *value;	/* HEADER value: the text after the colon */
	const char *const *args;	/* MAIL/RCPT ESMTP parameters */
	size_t nargs;
	/* BODY: any amount; sent in chunks of at most MILTER_CHUNK */
	const char *body;
	size_t body_len;
};

enum milter_verdict {
	MILTER_V_CONTINUE = MILTER_R_CONTINUE,
	MILTER_V_ACCEPT = MILTER_R_ACCEPT,
	MILTER_V_REJECT = MILTER_R_REJECT,
	MILTER_V_TEMPFAIL = MILTER_R_TEMPFAIL,
	MILTER_V_DISCARD = MILTER_R_DISCARD,
	MILTER_V_REPLYCODE = MILTER_R_REPLYCODE,	/* code and text in the conv */
	MILTER_V_SHUTDOWN = MILTER_R_SHUTDOWN,		/* 421 and close */
	MILTER_V_CONN_FAIL = MILTER_R_CONN_FAIL,	/* close the SMTP connection */
};

/* What the driver does next. */
enum milter_next {
	MILTER_DONE,	/* send out (may be empty); the stage's verdict is set */
	MILTER_WAIT,	/* send out, then feed the filter's bytes */
	MILTER_ERROR,	/* protocol error (conv.error): the milter failed; close it */
};

enum milter_conv_state {
	MILTER_CONV_NEW,	/* OPTNEG not sent */
	MILTER_CONV_OPTNEG,	/* waiting for the OPTNEG reply */
	MILTER_CONV_READY,	/* between stages */
	MILTER_CONV_REPLY,	/* waiting for a reply to `stage' */
	MILTER_CONV_CLOSED,	/* QUIT sent, or an error */
};

struct milter_conv {
	enum milter_conv_state state;
	struct milter_offer offer;
	struct milter_neg neg;
	enum milter_stage stage;	/* the stage being answered */
	/* outcome of the last stage */
	enum milter_verdict verdict;
	int code;			/* REPLYCODE: 400..599 */
	char *text;			/* REPLYCODE text */
	/* end-of-message edits, in the order received (driver takes them) */
	struct milter_mod *mods;
	size_t nmods, mods_cap;
	/*
	 * Bytes of edits accepted at this end of message, and the most the
	 * driver lets a filter send (MILTER_MODS_LIMIT by default; e.g. a
	 * replaced body of at most twice message_size_limit): more is a
	 * failure, so that a filter cannot make the MTA grow without end.
	 */
	size_t mods_bytes, mods_limit;
	/* conversation memory */
	bool conn_done;		/* the filter accepted the connection: nothing more but QUIT */
	bool in_msg;		/* a MAIL was passed and no verdict ended the message */
	bool body_skipped;	/* SKIP: no more body chunks for this message */
	struct buf pending;	/* body bytes not yet sent */
	const char *error;	/* after MILTER_ERROR */
};

void milter_conv_init(struct milter_conv *c, const struct milter_offer *o);
void milter_conv_free(struct milter_conv *c);

/* First step of a connection: append OPTNEG to out; always MILTER_WAIT. */
enum milter_next milter_conv_start(struct milter_conv *c, struct buf *out);

/*
 * Next stage. Appends to out what to send (the macros then the command,
 * or nothing when negotiation or an earlier verdict skips the stage).
 * MILTER_DONE: no reply expected (a skipped stage, NR_*, ABORT, QUIT);
 * the verdict is CONTINUE. MILTER_WAIT: feed the reply.
 */
enum milter_next milter_conv_stage(struct milter_conv *c, const struct milter_event *ev,
				   struct buf *out);

/*
 * Feed bytes from the filter; consumes complete packets from in.
 * MILTER_WAIT: more bytes are needed (a partial packet, PROGRESS, an
 * end-of-message edit, or the next body chunk appended to out).
 * MILTER_DONE: the verdict (and for EOM the edits) is set; bytes after
 * the deciding packet stay in in. MILTER_ERROR: c->error says why.
 */
enum milter_next milter_conv_input(struct milter_conv *c, struct buf *in, struct buf *out);

/* The negotiated stages that the driver asks about. */
bool milter_conv_wants_rejected_rcpt(const struct milter_conv *c);	/* RCPT_REJ */
bool milter_conv_header_leadspc(const struct milter_conv *c);		/* HDR_LEADSPC */
/* The macro list for a stage: the filter's SETSYMLIST, else NULL. */
const char *milter_conv_symlist(const struct milter_conv *c, enum milter_macro_stage st);

/* Printable name of a stage, for logs. */
const char *milter_stage_name(enum milter_stage st);

#endif
