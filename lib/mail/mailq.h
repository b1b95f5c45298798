/*
 * mailq.h - the queue listing shown by mailq, sendmail -bp and
 * ternqueue -p / -j, and the per-message deferral log it reads.
 *
 * Mail layer. mailq_scan() reads the queue directories (maildrop,
 * incoming, active, deferred, hold) and defer/ with the caller's privileges (root
 * or mail_owner); the format functions are pure. Three layouts:
 *   MAILQ_SENDMAIL  sendmail's mailq (mailq_format = sendmail, default)
 *   MAILQ_POSTFIX   Postfix's mailq  (mailq_format = postfix)
 *   MAILQ_JSON      one JSON object per message, keys of postqueue -j
 */
#ifndef TERN_MAIL_MAILQ_H
#define TERN_MAIL_MAILQ_H

#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"

enum mailq_style { MAILQ_SENDMAIL, MAILQ_POSTFIX, MAILQ_JSON };

struct mailq_rcpt {
	char *address;
	char *reason;		/* deferral reason, "" when none */
};

struct mailq_entry {
	char *queue_name;	/* maildrop, incoming, active, deferred, hold */
	char *queue_id;
	long long arrival;	/* seconds since the epoch */
	long long size;		/* message content bytes */
	bool forced_expire;
	char *sender;		/* "" = <> */
	size_t nrcpt;
	struct mailq_rcpt *rcpt;	/* undelivered recipients only */
};

struct mailq_list {
	size_t count;
	struct mailq_entry *e;
};

/* Parse "sendmail", "postfix" (mailq_format) or "json"; -1 otherwise. */
int mailq_style_parse(const char *word);

void mailq_list_init(struct mailq_list *l);
void mailq_list_free(struct mailq_list *l);
/* The strings of one entry (not the entry itself, which lives in the list's array). */
void mailq_entry_free(struct mailq_entry *e);
/* Append one entry (strings copied); returns it so recipients can be added. */
struct mailq_entry *mailq_add(struct mailq_list *l, const char *queue_name, const char *id,
    long long arrival, long long size, const char *sender);
void mailq_add_rcpt(struct mailq_entry *e, const char *address, const char *reason);

/* The listing, in queue order as given. queue_dir names the queue in the sendmail layout. */
void mailq_format(enum mailq_style style, const char *queue_dir, const struct mailq_list *l,
    struct buf *out);

/*
 * Read every queue file of maildrop/, incoming/, active/, deferred/ and
 * hold/ under queue_dir, sorted by arrival time. Unreadable or corrupt
 * files are skipped, and so is maildrop/ when it may not be listed.
 * One entry per queue id: a message that qmgr moves while the queue is
 * read (active/ and deferred/ are read twice for it) is listed once, as
 * it was where it was seen last. 0 ok, -1 (queue directory unreadable)
 * with a reason.
 */
int mailq_scan(const char *queue_dir, struct mailq_list *l, struct buf *err);

/*
 * Which of incoming/, active/, deferred/ and hold/ under queue_dir holds
 * the message id (a valid queue id): 0 with *qname set to the queue's
 * name (or to one that could not be looked into), -1 when none does.
 * Looked for twice, as qmgr and ternqueue move messages between them.
 */
int mailq_find(const char *queue_dir, const char *id, const char **qname);
/* Those queues, NULL-terminated, in the order mail moves through them. */
extern const char *const *const mailq_id_queues;

/*
 * The whole listing as mailq / sendmail -bp / ternqueue -p show it,
 * appended to out: read the queue directly when we may, otherwise ask
 * the queue manager over queue_dir/public/qmgr ("list STYLE"), which
 * anyone may use. queue_name is what the sendmail layout calls the
 * queue (queue_directory). 0 ok, -1 with a reason (mail system down).
 */
int mailq_listing(const char *queue_dir, enum mailq_style style, struct buf *out, struct buf *err);
/* Style words for the "list" request: "sendmail", "postfix", "json". */
const char *mailq_style_name(enum mailq_style style);

/* --- defer/ID: why recipients were deferred, and whether a delay warning went out --- */

struct deferlog {
	long long warned;	/* time of the delay warning, 0 = none yet */
	/*
	 * The queue file could not be read (I/O error) at every attempt
	 * since unreadable_since (0: it was read); unreadable_told: when
	 * error_notice_recipient was told (0: not yet).
	 */
	long long unreadable_since, unreadable_told;
	size_t count;
	char **address;
	char **reason;
};
void deferlog_init(struct deferlog *d);
void deferlog_free(struct deferlog *d);
void deferlog_add(struct deferlog *d, const char *address, const char *reason);
const char *deferlog_reason(const struct deferlog *d, const char *address);
/* Parse the file's text; malformed lines are skipped. */
void deferlog_parse(const char *text, struct deferlog *d);
void deferlog_format(const struct deferlog *d, struct buf *out);
/*
 * Read queue_dir/defer/ID: 1 when it was read, 0 when there is none
 * (d stays empty), -1 when it could not be opened or read (d stays empty;
 * it may exist). Write it (temp + rename); remove it.
 */
int deferlog_read(const char *queue_dir, const char *id, struct deferlog *d);
int deferlog_write(const char *queue_dir, const char *id, const struct deferlog *d);
void deferlog_remove(const char *queue_dir, const char *id);

#endif
