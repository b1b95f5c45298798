/*
 * services.h - the service table (master.cf): which processes the
 * master runs, which sockets it binds for them, and as which user.
 *
 * Mail layer; a pure parser with no privileges of its own (ternd reads
 * the table as root, tern check as the administrator). One service per
 * line, eight columns, "-" meaning "the default":
 *
 *   # service   type   listen  tls       auth      user  procs  command
 *   smtp        inet   25      starttls  -         -     1      smtpd
 *   submission  inet   587     required  required  -     1      smtpd -o smtpd_tls_auth_only=yes
 *   pickup      public -       -         -         -     1      pickup
 *   local       unix   -       -         -         root  1      local
 *
 * type    inet: TCP listener(s) bound by the master and passed to the
 *         process; unix: a UNIX socket queue_directory/private/NAME for
 *         Tern's own processes; public: queue_directory/public/NAME for
 *         local tools; proc: a process with no socket.
 * listen  inet only: PORT (on every inet_interfaces address of every
 *         inet_protocols family), HOST:PORT or [IPV6]:PORT.
 * tls     inet only: none (no TLS), starttls (offered when a certificate
 *         is configured), required (STARTTLS before mail or AUTH; the
 *         service is off without smtpd_tls_cert_file), implicit (TLS from
 *         the first byte, port 465; off without a certificate).
 * auth    inet only: no, yes (offered), required (no mail without AUTH).
 * user    "-" = mail_owner; "root" keeps root (local delivery only).
 * procs   processes kept running, sharing the service's sockets; 0 = off.
 * command a program in daemon_directory (or an absolute path) and its
 *         arguments; lines starting with white space continue it, as in
 *         Postfix. "-o name=value" overrides a main.cf parameter for this
 *         service.
 */
#ifndef TERN_MAIL_SERVICES_H
#define TERN_MAIL_SERVICES_H

#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"

enum svc_type { SVC_INET, SVC_UNIX, SVC_PUBLIC, SVC_PROC };
enum svc_tls { SVC_TLS_DEFAULT, SVC_TLS_NONE, SVC_TLS_STARTTLS, SVC_TLS_REQUIRED, SVC_TLS_IMPLICIT };
enum svc_auth { SVC_AUTH_DEFAULT, SVC_AUTH_NO, SVC_AUTH_YES, SVC_AUTH_REQUIRED };

struct service {
	char *name;
	enum svc_type type;
	char *host;		/* inet: NULL = every inet_interfaces address */
	int port;		/* inet: 1..65535; else 0 */
	enum svc_tls tls;
	enum svc_auth auth;
	bool root;		/* user column says root */
	int procs;		/* 0 = off */
	char **argv;		/* command and arguments, NULL-terminated */
	int argc;
	int line;		/* where it was declared */
};

struct service_table {
	struct service *svc;
	size_t count;
};

/* Parse TEXT (named FILE in messages). On error: -1, one line in err
 * with file and line, and an empty table. */
int services_parse(const char *text, const char *file, struct service_table *t, struct buf *err);
/* Read and parse PATH. */
int services_load(const char *path, struct service_table *t, struct buf *err);
void services_free(struct service_table *t);
const struct service *services_find(const struct service_table *t, const char *name);

/*
 * The addresses an inet service listens on: its own HOST:PORT, else each
 * inet_interfaces word ("all", "loopback-only" or an address) in each
 * inet_protocols family. fn gets HOST (NULL: the wildcard), FAMILY
 * (AF_UNSPEC: both), OPTIONAL (an address "all" or "loopback-only"
 * implies, to skip where the kernel lacks the family) and FROM_MAIN_CF
 * (inet_interfaces named it, not master.cf). Returns -2 when
 * inet_protocols names no protocol, -1 when a call of fn returned < 0,
 * else 0. Shared by ternd, which binds, and tern check, which tries.
 */
typedef int (*service_addr_fn)(void *ctx, const char *host, int family, bool optional,
			       bool from_main_cf);
int service_inet_each(const struct service *s, char **protocols, char **interfaces,
		      service_addr_fn fn, void *ctx);

/* A service that cannot run without a TLS certificate. */
bool service_needs_cert(const struct service *s);
/*
 * The value the service's command gives parameter NAME with "-o
 * NAME=value" (the last one wins, as daemon_init() applies them in
 * order), or NULL when it sets none.
 */
const char *service_param(const struct service *s, const char *name);
/*
 * Warn, with file and line, about each "-o NAME=value" that names a
 * parameter Tern does not implement (see config_warn_unimplemented);
 * returns how many.
 */
unsigned services_warn_unimplemented(const char *file, const struct service_table *t);

const char *svc_type_name(enum svc_type type);
const char *svc_tls_name(enum svc_tls tls);
const char *svc_auth_name(enum svc_auth auth);
/* Parse names back (for the environment a daemon inherits); -1 unknown. */
int svc_type_parse(const char *word);
int svc_tls_parse(const char *word);
int svc_auth_parse(const char *word);

#endif
