/*
 * migrate_int.h - shared between the parts of migrate_run.c and
 * migrate_tables.c (tern migrate-sendmail); not an interface.
 *
 * Mail layer; runs as the administrator.
 */
#ifndef TERN_MAIL_MIGRATE_INT_H
#define TERN_MAIL_MIGRATE_INT_H

#include <stdbool.h>

#include "mail/migrate.h"

struct mig_list {
	char **v;
	size_t n;
};

#define MIG_MAX_DAEMONS 8

struct mig_state {
	struct mig_result *r;
	const char *from, *to;
	bool have_mc, have_cf, mc_daemons, use_cw;
	char *smarthost, *masquerade, *hostname, *cw_file;
	struct mig_list class_w;	/* -> mydestination */
	struct mig_list relay_domains, networks, virtual_domains, error_domains;
	struct mig_daemon daemons[MIG_MAX_DAEMONS];
	size_t ndaemons;
	bool acc_used[MIG_ACC_COUNT];
	bool canonical;			/* sender_canonical map written */
};

void mig_untranslated(struct mig_result *r, const char *file, unsigned line, const char *text,
		      const char *why);
void mig_note(struct mig_result *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
struct buf *mig_map(struct mig_result *r, const char *name);
int mig_slurp(const char *path, struct buf *b);
void mig_read_names(struct mig_state *st, const char *path,
		    void (*each)(struct mig_state *, const char *, const char *, unsigned));

void mig_list_add(struct mig_list *l, const char *s);
bool mig_list_has(const struct mig_list *l, const char *s);
void mig_list_del(struct mig_list *l, const char *s);
void mig_list_free(struct mig_list *l);
void mig_list_join(const struct mig_list *l, struct buf *out);

/* migrate_tables.c */
void mig_daemon_add(struct mig_state *st, const char *opts, const char *file, unsigned line,
		    const char *text);
void mig_settings(struct mig_state *st);	/* host name, smarthost, masquerading, listeners */
void mig_tables(struct mig_state *st);		/* the /etc/mail tables and files */
void mig_finish(struct mig_state *st);		/* mydestination, networks, restrictions */
void mig_state_free(struct mig_state *st);

#endif
