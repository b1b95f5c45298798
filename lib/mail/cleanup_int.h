/*
 * cleanup_int.h - what cleanup_core.c and cleanup_edit.c share: the
 * state of one message and the steps each calls in the other. Private
 * to those two files.
 *
 * Mail layer; runs in the submitting process (see cleanup.h).
 */
#ifndef TERN_MAIL_CLEANUP_INT_H
#define TERN_MAIL_CLEANUP_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "mail/cleanup.h"
#include "mail/cleanup_impl.h"
#include "mail/header.h"
#include "util/buf.h"

struct crcpt {
	char *addr;
	int notify;
	char *orcpt;
	char *given;		/* CLEANUP_FLAG_EDIT: the address as given (cleanup_del_rcpt); else NULL */
};

struct cattr {
	char *name;
	char *value;
};

struct cleanup_edit;		/* cleanup_edit.c */

struct cleanup {
	struct cleanup_settings s;
	char *incoming_dir, *wake_socket, *hold_dir;	/* copies owned here */
	enum cleanup_source source;
	int flags;
	struct qfile_writer *w;
	int status;			/* CLEANUP_OK until something fails */
	struct buf reason;
	struct buf sender;
	struct crcpt *rcpts;
	size_t nrcpt;
	struct cattr *attrs;
	size_t nattr;
	/* Header phase. */
	bool in_headers;
	struct buf hdr;			/* header block so far */
	size_t scan;			/* next unscanned line in hdr */
	size_t hstart;			/* first header byte (after a "From " line) */
	size_t fstart;			/* first byte of the header being received */
	bool line_start;		/* the next input byte starts a line */
	bool drop_line;			/* dropping a long first "From " line (over_limit) */
	char *first_name, *first_value;	/* cleanup_first_header */
	bool first_line_done;
	/* Content accounting. */
	unsigned long long total;	/* bytes given to cleanup_write */
	unsigned long long size;	/* bytes written to the queue file */
	bool too_big;
	char last;			/* last content byte written */
	/* CLEANUP_FLAG_EDIT: what is held until cleanup_finish (NULL without the flag). */
	struct cleanup_edit *edit;
	/* cleanup_hold: commit into hold_dir. */
	bool hold;
	struct buf hold_reason;
	/* Logged at commit as Postfix's cleanup does: "ID: message-id=<...>". */
	struct buf message_id;
};

/* cleanup_core.c */
void cleanup_fail(struct cleanup *c, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Qualify and canonicalize one address (0, or -1 after cleanup_fail). */
int cleanup_rewrite_addr(struct cleanup *c, const char *in, bool is_sender, struct buf *out);
/* One recipient rewritten, virtual-expanded and added (duplicates dropped); 0 or -1 (failed). */
int cleanup_expand_rcpt(struct cleanup *c, const char *addr, int notify, const char *orcpt,
			const char *given);
/* Sender, attributes and recipients into the writer; -1 when one cannot be stored. */
int cleanup_write_envelope(struct cleanup *c);

/* cleanup_edit.c */
struct cleanup_edit *cleanup_edit_new(void);
void cleanup_edit_free(struct cleanup_edit *e);
/* The header block is done: take its fields (hs is left empty); sep: an empty line follows. */
void cleanup_edit_keep(struct cleanup *c, struct headers *hs, bool sep);
/* Body bytes as they arrive (to the spool). */
void cleanup_edit_body(struct cleanup *c, const char *data, size_t len);
/* At cleanup_finish: envelope, headers and body as edited into the writer. */
void cleanup_edit_flush(struct cleanup *c);
/* Set c->hold_dir (a copy) from the settings, once. */
void cleanup_hold_dir(struct cleanup *c);

#endif
