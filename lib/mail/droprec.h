/*
 * droprec.h - the record stream from sendmail to terndrop, and the
 * strict reader terndrop uses for it.
 *
 * Mail layer. The writer runs in sendmail (the caller's privileges); the
 * reader runs in terndrop (setgid terndrop) on input from an untrusted
 * user, so it accepts only the record types it expects, in order, with
 * bounded sizes, and says why it stopped.
 *
 * Each record is: one type letter, the data length in decimal (1 to 7
 * digits, no leading zeros except "0"), ':', the data bytes, '\n'.
 * The stream, in this order:
 *
 *   Q  op letter + config dir       only between sendmail and the child
 *                                   it forks (sendmail/drop.h), read
 *                                   there before the rest; droprec_accept
 *                                   refuses it
 *   V  "1"                          version, first
 *   S  sender address ("" = <>)     at most once; absent = the caller
 *   A  "name=value"                 attributes, only the names in
 *                                   droprec_attr_allowed()
 *   R  "<notify hex>\t<orcpt>\t<address>"   recipients (zero or more;
 *                                   with extract=yes cleanup adds more)
 *   M  ""                           the content follows
 *   C  content bytes (<= 65536)     the message, lines ending in LF
 *   E  ""                           end; nothing may follow
 */
#ifndef TERN_MAIL_DROPREC_H
#define TERN_MAIL_DROPREC_H

#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"

#define DROPREC_MAX_DATA	65536
#define DROPREC_MAX_RCPTS	10000

/* Append one record to out. */
void droprec_put(struct buf *out, char type, const void *data, size_t len);

/*
 * Parse one record at data[0..len). Returns the bytes it used (> 0) and
 * sets *type, *rec, *reclen; 0 when more input is needed; -1 when the
 * bytes cannot be a record.
 */
long droprec_parse(const char *data, size_t len, char *type, const char **rec, size_t *reclen);

/*
 * The envelope test of a maildrop file: terndrop applies it to the S and
 * R records it accepts, and pickup again to the file it reads (moving one
 * that fails to corrupt/), so that what terndrop took, pickup takes: the
 * caller gets the error instead of the message vanishing into corrupt/.
 * Sender: "" (<>) or a valid envelope address; recipient: a valid
 * envelope address, not empty (addr_envelope_valid).
 */
bool droprec_sender_valid(const char *sender);
bool droprec_rcpt_valid(const char *rcpt);

/* Attribute names a caller may set. */
bool droprec_attr_allowed(const char *name);

/* The order check and the collected envelope. */
struct droprec_rcpt {
	char *address;
	int notify;
	char *orcpt;
};

struct droprec_state {
	int phase;			/* internal */
	bool sender_given;
	struct buf sender;
	char **attr_names, **attr_values;
	size_t nattr;
	struct droprec_rcpt *rcpts;
	size_t nrcpt;
	unsigned long long size;	/* content bytes so far */
	unsigned long long limit;	/* message_size_limit, 0 = none */
	bool too_big;
	struct buf error;
};

#define DROPREC_OK		0	/* record accepted, go on */
#define DROPREC_CONTENT		1	/* M seen: envelope complete, content follows */
#define DROPREC_DATA		2	/* a C record: content in rec/reclen */
#define DROPREC_END		3	/* E seen: the message is complete */
#define DROPREC_BAD		(-1)	/* protocol violation, reason in error */

void droprec_init(struct droprec_state *st, unsigned long long limit);
void droprec_free(struct droprec_state *st);
/* Feed one parsed record. Too big content is counted and dropped (too_big). */
int droprec_accept(struct droprec_state *st, char type, const char *rec, size_t reclen);

#endif
