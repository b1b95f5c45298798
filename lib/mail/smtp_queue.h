/*
 * smtp_queue.h - the SMTP engine's message callbacks on top of cleanup:
 * what smtpd and sendmail -bs plug into struct smtp_engine_ops.
 *
 * Mail layer. Runs with the privileges of its caller (mail_owner in
 * smtpd, the user in sendmail -bs; cleanup decides where the file goes).
 * The envelope and the session's attributes (client, HELO, protocol,
 * SASL user, TLS version and cipher, DSN RET/ENVID, BODY, SMTPUTF8) are
 * passed to cleanup, which writes them to the queue file and puts them
 * in the Received: header.
 */
#ifndef TERN_MAIL_SMTP_QUEUE_H
#define TERN_MAIL_SMTP_QUEUE_H

#include <stdbool.h>
#include <stddef.h>

#include "mail/cleanup.h"
#include "mail/smtp_engine.h"
#include "util/buf.h"

/* struct smtp_engine_ops callbacks: use as .msg_open = smtp_queue_open, ... */
void *smtp_queue_open(void *ctx, const struct smtp_session_info *si,
		const struct smtp_envelope *env, struct buf *reply);
int smtp_queue_write(void *msg, const char *data, size_t len);
/*
 * smtpd with milters: the same as smtp_queue_open, with cleanup holding
 * the message for edits (CLEANUP_FLAG_EDIT) when edit is true, and the
 * queue file writer w made at MAIL FROM (NULL: cleanup makes one).
 */
void *smtp_queue_open_edit(void *ctx, const struct smtp_session_info *si,
		const struct smtp_envelope *env, bool edit, struct qfile_writer *w, struct buf *reply);
/* The cleanup handle of an open message (milters read and edit it). */
struct cleanup *smtp_queue_cleanup(void *msg);
/* Synchronous: commits before returning (sendmail -bs). */
enum smtp_commit smtp_queue_finish(void *ctx, void *msg, char *queue_id, size_t idlen,
		struct buf *reason);
void smtp_queue_abort(void *msg);

/*
 * Close the header block if cleanup still has it open (a message that is
 * all header), by writing the missing line end and empty line; 0 ok, -1
 * write error. Call on the thread that wrote the message, before
 * smtp_queue_commit() on another one.
 */
int smtp_queue_close_headers(void *msg);

/*
 * For drivers that commit on another thread: make msg durable and free
 * it. Returns SMTP_COMMIT_OK, _TEMPFAIL or _REJECT. Safe to call from a
 * worker thread for different messages at the same time as long as
 * cleanup_finish() is (see cleanup.h).
 */
enum smtp_commit smtp_queue_commit(void *msg, char *queue_id, size_t idlen, struct buf *reason);

#endif
