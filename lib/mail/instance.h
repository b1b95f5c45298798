/*
 * instance.h - self-contained instances: what `tern init DIR` makes.
 *
 * Mail layer. Runs as the caller, who becomes the instance's mail_owner
 * and needs no privileges; root instead names an unprivileged owner
 * (opts->owner, the `tern` account), to whom it gives the directories
 * the instance's processes write (queue/ and its subdirectories, data/,
 * mail/, maillog), while main.cf, master.cf and aliases stay root's, so
 * that only ternd and local run as root. An instance is DIR/main.cf (carrying
 * INSTANCE_MARK), the service table DIR/master.cf, DIR/aliases (aliases(5),
 * read through DIR/aliases.db, which is built here as newaliases does), the
 * directories DIR/queue (with every subdirectory of qdirs.h), DIR/data and
 * DIR/mail; main.cf is written last, so a half-made directory is never
 * taken for an instance.
 */
#ifndef TERN_MAIL_INSTANCE_H
#define TERN_MAIL_INSTANCE_H

#include <stdbool.h>

#include "util/buf.h"

#define INSTANCE_MARK "This is a Tern instance made by tern init."

enum instance_status {
	INSTANCE_MADE,		/* a new instance */
	INSTANCE_EXISTS,	/* DIR already is one: nothing changed */
	INSTANCE_FOREIGN,	/* DIR is neither empty nor an instance: untouched */
	INSTANCE_ERROR,		/* could not create something; reason in err */
};

struct instance_opts {
	int port;		/* SMTP port on 127.0.0.1; 0 = pick a free one */
	const char *stage;	/* build tree's stage/ for daemon_ and command_directory, or NULL */
	const char *drop_group;	/* setgid_group wanted (used if it exists and can be given) */
	const char *owner;	/* mail_owner when it is not the caller (root making an
				   instance for an unprivileged account), or NULL */
};

/* DIR must exist and be absolute. *port gets the instance's SMTP port. */
enum instance_status instance_init(const char *dir, const struct instance_opts *opts,
				   int *port, struct buf *err);
bool instance_is(const char *dir);
/* The port of DIR/master.cf's smtp service, or -1. */
int instance_smtp_port(const char *dir);
/* A port on 127.0.0.1 nobody listens on now, below the ephemeral range; -1 if none. */
int instance_pick_port(void);
/* DIR/NAME's contents (caller frees), or NULL. */
char *instance_read(const char *dir, const char *name);

#endif
