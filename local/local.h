/*
 * local.h - shared declarations of the local delivery agent's files.
 * Runs as root (or as the instance owner); see local.c.
 */
#ifndef TERN_LOCAL_LOCAL_H
#define TERN_LOCAL_LOCAL_H

#include <stdbool.h>
#include <sys/types.h>

#include "mail/lproto.h"
#include "util/buf.h"

/* Whose privileges a delivery runs with. */
struct ident {
	uid_t uid;
	gid_t gid;
	char user[64];
	char home[1024];
	char shell[256];
};

/* One message being delivered, and one recipient of it. */
struct lmsg {
	const char *queue_id;
	const char *sender;		/* "" = <> */
	const char *content;		/* headers and body, LF lines */
	size_t content_len;
	time_t arrival;
};

struct lrcpt {
	const char *address;		/* as queued, e.g. User+tag@example.com */
	const char *orcpt;		/* ORCPT or "" */
	char local[256];		/* lower-case local part, extension removed */
	char ext[256];			/* extension or "" */
	char domain[256];
	char delivered_to[512];		/* Delivered-To: value (lower-case address) */
};

/* Result of one delivery: what goes back to qmgr. */
struct lresult_text {
	enum lresult result;
	char dsn[16];
	struct buf text;
};

void lres_set(struct lresult_text *r, enum lresult result, const char *dsn, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* local_request.c: serve one connection from qmgr until it closes. */
void local_serve(int fd);

/* local_expand.c: aliases, .forward, includes -> destinations (alias_expand.h). */
struct dest_list;
int local_expand(const struct lrcpt *rc, struct dest_list *out, struct buf *err);

/* local_ident.c: identities. */
bool local_is_root(void);
/* Set by write_as while the process has a user's file-system uid. */
extern bool local_as_user;
int ident_of_user(const char *user, struct ident *id);	/* 0, or -1 no such user */
void ident_forget(void);	/* ident_of_user asks the system again (each request) */
void ident_default_privs(struct ident *id);		/* default_privs */
void ident_self(struct ident *id);			/* mail_owner when root, else ourselves */
int ident_of_file_owner(const char *path, struct ident *id);	/* root -> default_privs */
void ident_alias_owner(struct ident *id);		/* owner of the alias database */
/* In a child: become id (no-op when not root). 0, or -1 with a reason. */
int ident_become(const struct ident *id, struct buf *err);

/* local_mailbox.c: mailbox, Maildir and file deliveries (in a child as id). */
void deliver_mailbox(const struct lmsg *m, const struct lrcpt *rc, const char *user,
    struct lresult_text *res);
void deliver_file(const struct lmsg *m, const struct lrcpt *rc, const char *path,
    const struct ident *id, struct lresult_text *res);

/* local_pipe.c: |command as id. */
void deliver_pipe(const struct lmsg *m, const struct lrcpt *rc, const char *command,
    const struct ident *id, struct lresult_text *res);

/* local_forward.c: a new message to the remote addresses, via cleanup as mail_owner. */
void deliver_forward(const struct lmsg *m, const struct lrcpt *rc, const char *sender,
    char **addrs, size_t n, struct lresult_text *res);

/*
 * local_mailbox.c helpers: run fn(arg) in a child as id; the child reports
 * its result through a pipe. Used by every delivery kind.
 */
typedef void (*as_user_fn)(void *arg, struct lresult_text *res);
void run_as(const struct ident *id, as_user_fn fn, void *arg, struct lresult_text *res);
/* Write all of data, again after EINTR; false with errno set (EIO for a write that wrote nothing). */
bool local_write_all(int fd, const char *data, size_t len);
/* a, then b (either may be empty), as local_write_all; one writev(2) when it can. */
bool local_write2(int fd, const char *a, size_t alen, const char *b, size_t blen);

/*
 * Whether a delivery of this kind ("command", "file" -- which includes
 * mailboxes and Maildirs, as in Postfix -- or "forward") gets a
 * Delivered-To: header: prepend_delivered_header names it.
 */
bool local_delivered_header(const char *kind);

/*
 * The headers Tern prepends: Return-Path:, Delivered-To: when
 * local_delivered_header(kind), and a From_ line when from_line.
 */
void local_prepend(const struct lmsg *m, const struct lrcpt *rc, const char *kind, bool from_line,
    struct buf *out);

/*
 * Run fn(arg) with id's file-system uid and gid and its groups, then as
 * root again (no child; see local_as.c). Used for every write to a
 * mailbox. The effective uid stays root's throughout.
 */
void write_as(const struct ident *id, as_user_fn fn, void *arg, struct lresult_text *res);
/* The uid files are accessed as: the recipient's inside write_as, else the effective uid. */
uid_t local_fs_uid(void);

/*
 * local_batch.c: the replies of a batch of requests (lproto.h "Batches")
 * and the Maildir files that wait for the batch's end. A Maildir delivery
 * leaves its file written but unsynced in tmp/ (batch_add_file); the
 * reply of its recipient is held (batch_hold, in request order) and
 * the file belongs to the reply held next. batch_flush makes every file
 * durable and moves it into new/, turns the reply of a recipient whose
 * file failed into a deferral, and sends the replies in order.
 * batch_discard removes the files and drops the replies when the
 * connection ends before the batch does.
 */
void batch_add_file(const struct ident *id, int fd, const char *tmp_path,
    const char *new_path);
void batch_hold(long long index, const struct lresult_text *r);
void batch_flush(int fd);
void batch_discard(void);
/*
 * A batch of one: before the last recipient of a request with hold 0
 * (what qmgr sends when it does not batch) is delivered,
 * batch_expect_solo(true); after it, false. Its first Maildir file then
 * takes batch_take_solo() (true once, and only while no other file of
 * the batch is pending: nothing follows it that could share a sync) and
 * is committed where it was written, inside the write's switch of ids,
 * by batch_commit_solo: one switch per message instead of two, in the
 * same order as a batch (data synced, renamed into new/, new/ synced; on
 * a failure the file is removed and the reply becomes a deferral). Runs
 * as the recipient; closes fd.
 */
void batch_expect_solo(bool solo);
bool batch_take_solo(void);
void batch_commit_solo(int fd, const char *tmp_path, const char *new_path, struct lresult_text *res);

#endif
