/*
 * milter_cfg.h - the milter settings of main.cf (and master.cf -o), parsed
 * once when a daemon starts: which milters, how to reach them, their
 * timeouts and default action, and the macros sent at each stage.
 *
 * Mail layer. Read by smtpd (smtpd_milters) and pickup (non_smtpd_milters)
 * as mail_owner, and by tern check. A list that does not parse is an error
 * with the parameter's name and the word at fault; callers refuse to start
 * rather than run unfiltered.
 *
 * List syntax (as Postfix): milters separated by commas or white space,
 * each "unix:/path" (also "local:/path" or a bare "/path"), "inet:host:port",
 * "inet:[addr]:port", "inet6:[addr]:port" or "inet6:addr:port", or a group
 * "{ inet:host:port, default_action = accept, command_timeout = 5s }" with
 * per-milter overrides of connect_timeout, command_timeout,
 * content_timeout, default_action and protocol.
 */
#ifndef TERN_MAIL_MILTER_CFG_H
#define TERN_MAIL_MILTER_CFG_H

#include <stdbool.h>
#include <stddef.h>

#include "mail/milter_proto.h"
#include "util/buf.h"

/* milter_default_action */
enum milter_default {
	MILTER_DEF_ACCEPT,	/* go on as if the milter did not exist */
	MILTER_DEF_REJECT,	/* 5xx to this and every later command of the session */
	MILTER_DEF_TEMPFAIL,	/* 4xx likewise */
	MILTER_DEF_QUARANTINE,	/* accept, but the message goes to the hold queue */
};

enum milter_sock { MILTER_SOCK_UNIX, MILTER_SOCK_INET, MILTER_SOCK_INET6 };

struct milter_spec {
	char *name;		/* as written ("inet:127.0.0.1:8891"), for logs */
	enum milter_sock kind;
	char *path;		/* unix */
	char *host;		/* inet, inet6: address or host name, without [] */
	unsigned port;
	unsigned connect_timeout_ms, command_timeout_ms, content_timeout_ms;
	enum milter_default default_action;
	unsigned protocol;	/* 2..6 */
};

/* The stage for milter_unknown_command_macros (after MILTER_M_* of milter_proto.h). */
#define MILTER_M_UNKNOWN	MILTER_M_COUNT
#define MILTER_M_ALL		(MILTER_M_COUNT + 1)

struct milter_cfg {
	struct milter_spec *v;	/* in order; n == 0: no milters */
	size_t n;
	/*
	 * Macro names to send before each stage (milter_connect_macros ...,
	 * "{name}" written as "{name}", one-letter ones bare: "daemon_name"
	 * in main.cf becomes "{daemon_name}", "{j}" becomes "j"), NULL-terminated
	 * lists, indexed by MILTER_M_* and MILTER_M_UNKNOWN. A milter's
	 * SETSYMLIST replaces the list for that milter.
	 */
	char **macros[MILTER_M_ALL];
	/*
	 * milter_macro_defaults: names and values alternating, NULL-terminated;
	 * names in the same form as the lists ("j", "{name}").
	 */
	char **macro_defaults;
	char *daemon_name;	/* milter_macro_daemon_name, expanded */
	char *macro_v;		/* milter_macro_v, expanded (named so: v is the milters) */
	char *header_checks;	/* milter_header_checks ("" = none) */
};

/*
 * Parse a milter list with the given defaults for each milter (name and
 * endpoint fields of defaults are ignored). 0, or -1 with one line in err
 * naming the word at fault. out is zeroed first; free with milter_cfg_free.
 */
int milter_cfg_parse_list(const char *list, const struct milter_spec *defaults,
			  struct milter_cfg *out, struct buf *err);
/*
 * Everything from the loaded configuration: the list in list_param
 * (the smtpd_milters or non_smtpd_milters row), the milter_* parameters.
 */
int milter_cfg_load(const char *list_param, struct milter_cfg *out, struct buf *err);
void milter_cfg_free(struct milter_cfg *m);
/*
 * Replace each inet:/inet6: host name by its first address, so that a
 * driver that must not block (smtpd's event loop) never waits for the DNS
 * when it connects: smtpd resolves once at start (and so at every reload).
 * Numeric addresses are left alone. 0, or -1 with err.
 */
int milter_cfg_resolve(struct milter_cfg *m, struct buf *err);

#endif
