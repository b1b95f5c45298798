/*
 * sendmail.h - what the files of the sendmail program share.
 *
 * sendmail parses everything with the privileges of its caller only: a
 * set-group-ID sendmail splits off its maildrop writer and drops the
 * group before main() reads anything (sendmail_priv.c).
 */
#ifndef TERN_SENDMAIL_H
#define TERN_SENDMAIL_H

#include <stdbool.h>

enum sm_mode {
	SM_DELIVER,	/* -bm (default): read a message, queue it */
	SM_SMTP,	/* -bs */
	SM_PRINT,	/* -bp, mailq */
	SM_ALIASES,	/* -bi, -I, newaliases */
	SM_VERIFY,	/* -bv */
	SM_TEST,	/* -bt */
	SM_FLUSH,	/* -q */
	SM_DAEMON,	/* -bd, -bD */
	SM_CHECK,	/* -bC */
	SM_IGNORED,	/* -bh, -bH, -q<interval>, -Q: nothing to do */
};

struct sm_opts {
	enum sm_mode mode;
	bool daemon_foreground;	/* -bD */
	bool extract;		/* -t */
	bool ignore_dots;	/* -i, -oi */
	bool sender_given;	/* -f, -r */
	const char *sender;	/* canonical, "" = <> */
	const char *full_name;	/* -F */
	int notify;		/* -N, DSN_NOTIFY_* bits, 0 = not given */
	const char *dsn_ret;	/* -R: FULL or HDRS */
	const char *dsn_envid;	/* -V */
	const char *body_type;	/* -B: 7BIT or 8BITMIME */
	bool smtputf8;		/* -U, -O SMTPUTF8=yes */
	const char *protocol;	/* -p */
	const char *config_dir;	/* -C (a directory; a file means its directory) */
	bool verbose;		/* -v */
	const char *flush_filter;	/* -qR...: "[!]substr" (owned[3]), or NULL */
	char flush_what[3];	/* its ternqueue option: "-I", "-R" or "-S" */
	char **rcpts;		/* arguments after the options */
	int nrcpt;
	char *owned[4];		/* strings sm_parse allocated (sm_free) */
};

/* sendmail_opts.c: the whole sendmail(8) command line. Exits 64 on a real usage error. */
void sm_parse(int argc, char **argv, struct sm_opts *o);
void sm_free(struct sm_opts *o);

/*
 * sendmail_opts.c: the pre-pass sendmail makes while it still holds the
 * group, over a copy of argv with the same getopt rules as sm_parse but
 * reading nothing else: plain is true for a plain submission (mode -bm,
 * the default, called as sendmail, with recipients or -t), config the
 * last -C argument as given (NULL for none). Never exits.
 */
struct sm_prepass {
	bool plain;
	const char *config;
};
void sm_prepass(int argc, char *const *argv, struct sm_prepass *p);
/* -C's argument as a directory (a file names its directory); *owned to free. */
const char *sm_config_dir_of(const char *arg, char **owned);

/* sendmail_submit.c: read the message from standard input and hand it to terndrop. */
int sm_submit(const struct sm_opts *o);

/* sendmail_modes.c: -bp, -q, -bd, -bC (other programs), -bv, -bt, -bi. */
int sm_exec_tool(const struct sm_opts *o, const char *tool, const char *const *args);
int sm_verify(const struct sm_opts *o);
int sm_test(const struct sm_opts *o);
int sm_aliases(const struct sm_opts *o);

/* sendmail_smtp.c: -bs. */
int sm_smtp(const struct sm_opts *o);

/*
 * sendmail_priv.c: at entry, fork the privileged maildrop writer
 * (drop_serve, sendmail/drop.h) and drop the group for good. Then one
 * request to it: sm_priv_request() appends the request record to out and
 * returns the descriptor to write it (and a message's records) on;
 * sm_priv_wait() closes it and returns the writer's exit status.
 * sm_priv_list() is mailq. sm_priv_wait() also ends an unused writer.
 */
#include <sys/types.h>
#include "util/buf.h"
void sm_priv_start(int argc, char **argv);
/*
 * True when sm_priv_start() opened this process's maildrop file itself
 * (one-process submission: drop_direct_open) instead of forking a
 * writer; dir is then the configuration directory it loaded (NULL for
 * the default), which sm_parse's must match.
 */
bool sm_priv_direct(const char **dir);
pid_t sm_priv_pid(void);
int sm_priv_request(char op, const struct sm_opts *o, struct buf *out);
int sm_priv_wait(void);
int sm_priv_list(const struct sm_opts *o);

/* The configuration directory to hand to helper programs, or NULL for the default. */
const char *sm_config_arg(const struct sm_opts *o);

#endif
