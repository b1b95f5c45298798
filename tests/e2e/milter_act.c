/*
 * milter_act.c - test program: a libmilter filter whose behaviour is
 * chosen on the command line, so that end-to-end tests of smtpd_milters
 * and non_smtpd_milters can make the MTA meet every answer and edit a
 * milter may give. Runs as whoever runs the test; no privileges.
 *
 *   milter_act SOCKET LOG [SPEC...]
 *
 * SOCKET is libmilter's form (unix:/path, inet:port@127.0.0.1). Each
 * SPEC is ACTION[@STAGE[=MATCH]][:ARG...]; arguments are split at ':'
 * and take C escapes (\r \n \t \\ \: \xNN), so "\:" is a literal colon.
 * STAGE is connect, helo, mail, rcpt, data, header, eoh, body or eom;
 * MATCH limits a mail or rcpt stage to one address (with or without <>,
 * any case; "" is the null sender) and a header stage to one header name. At each callback the
 * matching SPECs run in command-line order; the first one that answers
 * (reject, tempfail, ...) ends the callback, the default is continue.
 *
 *   reject[@S]                    SMFIS_REJECT (the MTA's own 5xx text)
 *   tempfail[@S]                  SMFIS_TEMPFAIL
 *   discard[@S]  accept[@S]       SMFIS_DISCARD / SMFIS_ACCEPT
 *   replycode[@S]:CODE:XCODE:LINE[:LINE...]
 *                                 smfi_setmlreply (smfi_setreply for one
 *                                 line), then reject (5xx) or tempfail
 *   skip[@body]                   SMFIS_SKIP (SMFIP_SKIP is negotiated)
 *   stall[@S]:SECS                sleep SECS, then go on (MTA timeouts)
 *   exit[@S]                      log "exit" and _exit(0): every milter
 *                                 connection closes mid-message
 *   progress[@eom][:SECS]         smfi_progress once, or once a second
 *                                 for SECS seconds, before answering
 *   quarantine[@eom]:REASON       smfi_quarantine
 *   addheader[@eom]:NAME:VALUE    smfi_addheader
 *   insheader[@eom]:IDX:NAME:VALUE  smfi_insheader
 *   chgheader[@eom]:NAME:IDX[:VALUE]  smfi_chgheader (no VALUE: delete)
 *   delrcpt[@eom]:ADDR            smfi_delrcpt
 *   addrcpt[@eom]:ADDR            smfi_addrcpt
 *   addrcpt_par[@eom]:ADDR:ARGS   smfi_addrcpt_par
 *   chgfrom[@eom]:ADDR[:ARGS]     smfi_chgfrom
 *   replbody[@eom]:TEXT           smfi_replacebody with TEXT (escapes!
 *                                 \x00 puts a NUL in the body)
 * Options (no stage):
 *   leadspc    negotiate SMFIP_HDR_LEADSPC (header values as sent)
 *   symlist    ask, at every stage, for the macros listed below
 *   rcptrej    negotiate SMFIP_RCPT_REJ (see rejected recipients too)
 *   savebody   write each message body to LOG.N.body (N = conn number)
 * Actions without @STAGE run at their default stage (eom for edits,
 * body for skip); the others need one.
 *
 * LOG gets one line per callback, written whole:
 *   STAGE conn=N DATA... | MACRO="value"...
 * with the macros of the fixed list below that are set. Values are quoted
 * with C escapes, so "\r\n" in a header value shows. The lines:
 *   negotiate conn=N actions=0x.. proto=0x..      (what the MTA offered)
 *   connect conn=N host="h" family=inet addr="127.0.0.1" port=P
 *   helo conn=N name="h"
 *   mail conn=N arg="<a@b>" arg="SIZE=1"...     (likewise rcpt)
 *   data conn=N | unknown conn=N cmd="..." | eoh conn=N
 *   header conn=N name="Subject" value=" hi"
 *   body conn=N len=L                            (one per chunk)
 *   eom conn=N bytes=B crlf=C lf=L sha256=HEX head="first 64 bytes"
 *     (bytes of the body as received, CRLF pairs, bare LFs, its SHA-256,
 *      as `sha256sum` prints it for the same bytes)
 *   abort conn=N | close conn=N | exit conn=N stage=S
 *   act conn=N stage=S ACTION rc=R               (every action taken, with
 *                                                 the libmilter call's return
 *                                                 code; 0 for plain answers)
 * Exits on SIGTERM (smfi_main returns, which takes libmilter up to 5 s)
 * and at once on SIGUSR1 (what milterlib.sh's ml_stop sends).
 */
#include "compat.h"

#include <libmilter/mfapi.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

enum stage { ST_NONE = -1, ST_CONNECT, ST_HELO, ST_MAIL, ST_RCPT, ST_DATA, ST_HEADER, ST_EOH,
	     ST_BODY, ST_EOM, ST_COUNT };
static const char *const stage_names[ST_COUNT] = { "connect", "helo",	"mail", "rcpt", "data",
						   "header",  "eoh",	"body", "eom" };

enum kind { K_ANSWER, K_DO, K_EDIT, K_OPTION };

struct spec;
typedef sfsistat (*act_fn)(SMFICTX *ctx, const struct spec *s, enum stage st);

/* One row per action: name, kind, default stage, argument counts. */
struct action {
	const char *name;
	enum kind kind;
	enum stage def_stage; /* ST_NONE: a stage must be given */
	enum stage only_stage; /* ST_NONE: any stage */
	int min_args, max_args;
	act_fn fn;
};

#define MAX_ARGS 34
struct spec {
	char *text; /* the split copy of the argument the pointers point into */
	const struct action *act;
	enum stage stage;
	char *match; /* rcpt address or header name, or NULL */
	int nargs;
	char *args[MAX_ARGS];
	size_t lens[MAX_ARGS]; /* each argument's length: \x00 makes a NUL in it */
};

struct conn {
	int n;
	unsigned long long bytes, crlf, lf;
	int last_cr;
	char head[65];
	size_t headlen;
	EVP_MD_CTX *sha;
	FILE *body;
};

static const char *const macro_names[] = {
	"i",	       "j",	       "_",		 "{daemon_name}", "{daemon_addr}",
	"v",	       "{client_addr}", "{client_name}", "{client_port}", "{client_ptr}",
	"{auth_type}", "{auth_authen}", "{auth_author}", "{auth_ssf}",	  "{mail_mailer}",
	"{mail_host}", "{mail_addr}",	"{rcpt_mailer}", "{rcpt_host}",	  "{rcpt_addr}",
	"{tls_version}", "{cipher}",	"{cipher_bits}", "{cert_subject}", "{cert_issuer}",
};
#define SYMLIST                                                                                    \
	"i j _ {daemon_name} {daemon_addr} v {client_addr} {client_name} {client_port} "          \
	"{client_ptr} {auth_type} {auth_authen} {auth_author} {auth_ssf} {mail_mailer} "          \
	"{mail_host} {mail_addr} {rcpt_mailer} {rcpt_host} {rcpt_addr} {tls_version} {cipher} "   \
	"{cipher_bits} {cert_subject} {cert_issuer}"

static struct spec *specs;
static int nspecs;
static int opt_leadspc, opt_symlist, opt_rcptrej, opt_savebody;
static const char *log_path;
static FILE *logf_;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static int conn_counter;

/* A growing line, so that each log line is written with one call. */
struct line {
	char buf[8192];
	size_t len;
};

static void add(struct line *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(struct line *l, const char *fmt, ...)
{
	va_list ap;
	if (l->len >= sizeof l->buf - 1)
		return;
	va_start(ap, fmt);
	int n = vsnprintf(l->buf + l->len, sizeof l->buf - l->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		l->len += (size_t)n < sizeof l->buf - l->len ? (size_t)n : sizeof l->buf - 1 - l->len;
}

/* Append S (LEN bytes) in double quotes, with C escapes. */
static void add_quoted(struct line *l, const char *s, size_t len)
{
	add(l, "\"");
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		switch (c) {
		case '\r': add(l, "\\r"); break;
		case '\n': add(l, "\\n"); break;
		case '\t': add(l, "\\t"); break;
		case '"': add(l, "\\\""); break;
		case '\\': add(l, "\\\\"); break;
		default:
			if (c < 0x20 || c >= 0x7f)
				add(l, "\\x%02x", c);
			else
				add(l, "%c", c);
		}
	}
	add(l, "\"");
}

static void add_str(struct line *l, const char *key, const char *s)
{
	add(l, " %s=", key);
	if (s)
		add_quoted(l, s, strlen(s));
	else
		add(l, "(null)");
}

static struct conn *conn_of(SMFICTX *ctx)
{
	struct conn *c = smfi_getpriv(ctx);
	if (!c) {
		c = calloc(1, sizeof *c);
		if (!c)
			abort();
		pthread_mutex_lock(&log_lock);
		c->n = ++conn_counter;
		pthread_mutex_unlock(&log_lock);
		smfi_setpriv(ctx, c);
	}
	return c;
}

static void line_start(struct line *l, SMFICTX *ctx, const char *what)
{
	l->len = 0;
	add(l, "%s conn=%d", what, conn_of(ctx)->n);
}

/* Append the macros that are set, then write the line. */
static void line_end(struct line *l, SMFICTX *ctx, int macros)
{
	if (macros) {
		add(l, " |");
		for (size_t i = 0; i < sizeof macro_names / sizeof macro_names[0]; i++) {
			const char *v = smfi_getsymval(ctx, (char *)macro_names[i]);
			if (v) {
				add(l, " %s=", macro_names[i]);
				add_quoted(l, v, strlen(v));
			}
		}
	}
	add(l, "\n");
	pthread_mutex_lock(&log_lock);
	fwrite(l->buf, 1, l->len, logf_);
	fflush(logf_);
	pthread_mutex_unlock(&log_lock);
}

static void log_act(SMFICTX *ctx, const struct spec *s, enum stage st, int rc)
{
	struct line l;
	line_start(&l, ctx, "act");
	add(&l, " stage=%s %s rc=%d", stage_names[st], s->act->name, rc);
	line_end(&l, ctx, 0);
}

/* Actions. */

static sfsistat a_reject(SMFICTX *c, const struct spec *s, enum stage st)
{
	(void)c, (void)s, (void)st;
	return SMFIS_REJECT;
}
static sfsistat a_tempfail(SMFICTX *c, const struct spec *s, enum stage st)
{
	(void)c, (void)s, (void)st;
	return SMFIS_TEMPFAIL;
}
static sfsistat a_discard(SMFICTX *c, const struct spec *s, enum stage st)
{
	(void)c, (void)s, (void)st;
	return SMFIS_DISCARD;
}
static sfsistat a_accept(SMFICTX *c, const struct spec *s, enum stage st)
{
	(void)c, (void)s, (void)st;
	return SMFIS_ACCEPT;
}
static sfsistat a_skip(SMFICTX *c, const struct spec *s, enum stage st)
{
	(void)c, (void)s, (void)st;
	return SMFIS_SKIP;
}

static sfsistat a_replycode(SMFICTX *ctx, const struct spec *s, enum stage st)
{
	char *l[MAX_ARGS] = { 0 };
	int rc;
	for (int i = 2; i < s->nargs; i++)
		l[i - 2] = s->args[i];
	if (s->nargs == 3)
		rc = smfi_setreply(ctx, s->args[0], s->args[1], s->args[2]);
	else
		rc = smfi_setmlreply(ctx, s->args[0], s->args[1], l[0], l[1], l[2], l[3], l[4], l[5],
				     l[6], l[7], l[8], l[9], l[10], l[11], l[12], l[13], l[14], l[15],
				     l[16], l[17], l[18], l[19], l[20], l[21], l[22], l[23], l[24],
				     l[25], l[26], l[27], l[28], l[29], l[30], l[31], (char *)NULL);
	log_act(ctx, s, st, rc);
	return s->args[0][0] == '4' ? SMFIS_TEMPFAIL : SMFIS_REJECT;
}

static sfsistat a_stall(SMFICTX *ctx, const struct spec *s, enum stage st)
{
	log_act(ctx, s, st, 0);
	sleep((unsigned)atoi(s->args[0]));
	return SMFIS_CONTINUE;
}

static sfsistat a_exit(SMFICTX *ctx, const struct spec *s, enum stage st)
{
	struct line l;
	(void)s;
	line_start(&l, ctx, "exit");
	add(&l, " stage=%s", stage_names[st]);
	line_end(&l, ctx, 0);
	_exit(0);
}

static sfsistat a_progress(SMFICTX *ctx, const struct spec *s, enum stage st)
{
	int secs = s->nargs ? atoi(s->args[0]) : 0;
	log_act(ctx, s, st, smfi_progress(ctx));
	for (int i = 0; i < secs; i++) {
		sleep(1);
		log_act(ctx, s, st, smfi_progress(ctx));
	}
	return SMFIS_CONTINUE;
}

static sfsistat a_quarantine(SMFICTX *ctx, const struct spec *s, enum stage st)
{
	log_act(ctx, s, st, smfi_quarantine(ctx, s->args[0]));
	return SMFIS_CONTINUE;
}
static sfsistat a_addheader(SMFICTX *ctx, const struct spec *s, enum stage st)
{
	log_act(ctx, s, st, smfi_addheader(ctx, s->args[0], s->args[1]));
	return SMFIS_CONTINUE;
}
static sfsistat a_insheader(SMFICTX *ctx, const struct spec *s, enum stage st)
{
	log_act(ctx, s, st, smfi_insheader(ctx, atoi(s->args[0]), s->args[1], s->args[2]));
	return SMFIS_CONTINUE;
}
static sfsistat a_chgheader(SMFICTX *ctx, const struct spec *s, enum stage st)
{
	log_act(ctx, s, st,
		smfi_chgheader(ctx, s->args[0], atoi(s->args[1]), s->nargs > 2 ? s->args[2] : NULL));
	return SMFIS_CONTINUE;
}
static sfsistat a_delrcpt(SMFICTX *ctx, const struct spec *s, enum stage st)
{
	log_act(ctx, s, st, smfi_delrcpt(ctx, s->args[0]));
	return SMFIS_CONTINUE;
}
static sfsistat a_addrcpt(SMFICTX *ctx, const struct spec *s, enum stage st)
{
	log_act(ctx, s, st, smfi_addrcpt(ctx, s->args[0]));
	return SMFIS_CONTINUE;
}
static sfsistat a_addrcpt_par(SMFICTX *ctx, const struct spec *s, enum stage st)
{
	log_act(ctx, s, st, smfi_addrcpt_par(ctx, s->args[0], s->args[1]));
	return SMFIS_CONTINUE;
}
static sfsistat a_chgfrom(SMFICTX *ctx, const struct spec *s, enum stage st)
{
	log_act(ctx, s, st, smfi_chgfrom(ctx, s->args[0], s->nargs > 1 ? s->args[1] : NULL));
	return SMFIS_CONTINUE;
}
static sfsistat a_replbody(SMFICTX *ctx, const struct spec *s, enum stage st)
{
	log_act(ctx, s, st,
		smfi_replacebody(ctx, (unsigned char *)s->args[0], (int)s->lens[0]));
	return SMFIS_CONTINUE;
}

static const struct action actions[] = {
	{ "reject", K_ANSWER, ST_NONE, ST_NONE, 0, 0, a_reject },
	{ "tempfail", K_ANSWER, ST_NONE, ST_NONE, 0, 0, a_tempfail },
	{ "discard", K_ANSWER, ST_NONE, ST_NONE, 0, 0, a_discard },
	{ "accept", K_ANSWER, ST_NONE, ST_NONE, 0, 0, a_accept },
	{ "replycode", K_ANSWER, ST_NONE, ST_NONE, 3, 2 + 32, a_replycode },
	{ "skip", K_ANSWER, ST_BODY, ST_BODY, 0, 0, a_skip },
	{ "stall", K_DO, ST_NONE, ST_NONE, 1, 1, a_stall },
	{ "exit", K_DO, ST_NONE, ST_NONE, 0, 0, a_exit },
	{ "progress", K_DO, ST_EOM, ST_EOM, 0, 1, a_progress },
	{ "quarantine", K_EDIT, ST_EOM, ST_EOM, 1, 1, a_quarantine },
	{ "addheader", K_EDIT, ST_EOM, ST_EOM, 2, 2, a_addheader },
	{ "insheader", K_EDIT, ST_EOM, ST_EOM, 3, 3, a_insheader },
	{ "chgheader", K_EDIT, ST_EOM, ST_EOM, 2, 3, a_chgheader },
	{ "delrcpt", K_EDIT, ST_EOM, ST_EOM, 1, 1, a_delrcpt },
	{ "addrcpt", K_EDIT, ST_EOM, ST_EOM, 1, 1, a_addrcpt },
	{ "addrcpt_par", K_EDIT, ST_EOM, ST_EOM, 2, 2, a_addrcpt_par },
	{ "chgfrom", K_EDIT, ST_EOM, ST_EOM, 1, 2, a_chgfrom },
	{ "replbody", K_EDIT, ST_EOM, ST_EOM, 1, 1, a_replbody },
	{ "leadspc", K_OPTION, ST_NONE, ST_NONE, 0, 0, NULL },
	{ "symlist", K_OPTION, ST_NONE, ST_NONE, 0, 0, NULL },
	{ "rcptrej", K_OPTION, ST_NONE, ST_NONE, 0, 0, NULL },
	{ "savebody", K_OPTION, ST_NONE, ST_NONE, 0, 0, NULL },
};

/* Does MATCH (an address or a header name) select VALUE? */
static int matches(const char *match, const char *value)
{
	size_t ml = strlen(match), vl = strlen(value);
	if (strcasecmp(match, value) == 0)
		return 1;
	if (vl >= 2 && value[0] == '<' && value[vl - 1] == '>' && ml == vl - 2)
		return strncasecmp(match, value + 1, ml) == 0;
	return 0;
}

/* Run the SPECs of stage ST (VALUE for MATCH); the first answer wins. */
static sfsistat run(SMFICTX *ctx, enum stage st, const char *value)
{
	for (int i = 0; i < nspecs; i++) {
		const struct spec *s = &specs[i];
		if (s->act->kind == K_OPTION || s->stage != st)
			continue;
		if (s->match && (!value || !matches(s->match, value)))
			continue;
		sfsistat r = s->act->fn(ctx, s, st);
		if (s->act->kind == K_ANSWER) {
			if (s->act->fn != a_replycode) /* which logs its own */
				log_act(ctx, s, st, 0);
			return r;
		}
	}
	return SMFIS_CONTINUE;
}

/* Callbacks. */

static sfsistat f_negotiate(SMFICTX *ctx, unsigned long f0, unsigned long f1, unsigned long f2,
			    unsigned long f3, unsigned long *pf0, unsigned long *pf1,
			    unsigned long *pf2, unsigned long *pf3)
{
	struct line l;
	(void)f2, (void)f3;
	line_start(&l, ctx, "negotiate");
	add(&l, " actions=0x%lx proto=0x%lx", f0, f1);
	line_end(&l, ctx, 0);
	*pf0 = f0 & (SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_ADDRCPT | SMFIF_DELRCPT | SMFIF_CHGBODY |
		     SMFIF_CHGFROM | SMFIF_ADDRCPT_PAR | SMFIF_QUARANTINE |
		     (opt_symlist ? SMFIF_SETSYMLIST : 0));
	*pf1 = f1 & (SMFIP_SKIP | (opt_leadspc ? SMFIP_HDR_LEADSPC : 0) |
		     (opt_rcptrej ? SMFIP_RCPT_REJ : 0));
	*pf2 = 0;
	*pf3 = 0;
	if (opt_symlist && (f0 & SMFIF_SETSYMLIST))
		for (int m = SMFIM_CONNECT; m <= SMFIM_EOH; m++)
			smfi_setsymlist(ctx, m, SYMLIST);
	return SMFIS_CONTINUE;
}

static sfsistat f_connect(SMFICTX *ctx, char *host, struct sockaddr *sa)
{
	struct line l;
	char addr[INET6_ADDRSTRLEN] = "";
	line_start(&l, ctx, "connect");
	add_str(&l, "host", host);
	if (sa && sa->sa_family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &in->sin_addr, addr, sizeof addr);
		add(&l, " family=inet addr=\"%s\" port=%u", addr, ntohs(in->sin_port));
	} else if (sa && sa->sa_family == AF_INET6) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &in6->sin6_addr, addr, sizeof addr);
		add(&l, " family=inet6 addr=\"%s\" port=%u", addr, ntohs(in6->sin6_port));
	} else if (sa && sa->sa_family == AF_UNIX) {
		add(&l, " family=unix");
	} else {
		add(&l, " family=%s", sa ? "other" : "none");
	}
	line_end(&l, ctx, 1);
	return run(ctx, ST_CONNECT, NULL);
}

static sfsistat f_helo(SMFICTX *ctx, char *name)
{
	struct line l;
	line_start(&l, ctx, "helo");
	add_str(&l, "name", name);
	line_end(&l, ctx, 1);
	return run(ctx, ST_HELO, NULL);
}

static void log_args(SMFICTX *ctx, const char *what, char **argv)
{
	struct line l;
	line_start(&l, ctx, what);
	for (int i = 0; argv && argv[i]; i++)
		add_str(&l, "arg", argv[i]);
	line_end(&l, ctx, 1);
}

static sfsistat f_envfrom(SMFICTX *ctx, char **argv)
{
	struct conn *c = conn_of(ctx);
	/* A new message on this connection: start its body count afresh. */
	c->bytes = c->crlf = c->lf = 0;
	c->last_cr = 0;
	c->headlen = 0;
	c->head[0] = '\0';
	if (c->sha)
		EVP_MD_CTX_free(c->sha);
	c->sha = EVP_MD_CTX_new();
	if (!c->sha || !EVP_DigestInit_ex(c->sha, EVP_sha256(), NULL))
		abort();
	if (c->body) {
		fclose(c->body);
		c->body = NULL;
	}
	log_args(ctx, "mail", argv);
	return run(ctx, ST_MAIL, argv[0]);
}

static sfsistat f_envrcpt(SMFICTX *ctx, char **argv)
{
	log_args(ctx, "rcpt", argv);
	return run(ctx, ST_RCPT, argv[0]);
}

static sfsistat f_data(SMFICTX *ctx)
{
	struct line l;
	line_start(&l, ctx, "data");
	line_end(&l, ctx, 1);
	return run(ctx, ST_DATA, NULL);
}

static sfsistat f_unknown(SMFICTX *ctx, const char *cmd)
{
	struct line l;
	line_start(&l, ctx, "unknown");
	add_str(&l, "cmd", cmd);
	line_end(&l, ctx, 1);
	return SMFIS_CONTINUE;
}

static sfsistat f_header(SMFICTX *ctx, char *name, char *value)
{
	struct line l;
	line_start(&l, ctx, "header");
	add_str(&l, "name", name);
	add_str(&l, "value", value);
	line_end(&l, ctx, 0);
	return run(ctx, ST_HEADER, name);
}

static sfsistat f_eoh(SMFICTX *ctx)
{
	struct line l;
	line_start(&l, ctx, "eoh");
	line_end(&l, ctx, 1);
	return run(ctx, ST_EOH, NULL);
}

static sfsistat f_body(SMFICTX *ctx, unsigned char *b, size_t len)
{
	struct conn *c = conn_of(ctx);
	struct line l;
	line_start(&l, ctx, "body");
	add(&l, " len=%zu", len);
	line_end(&l, ctx, 0);
	if (!c->sha) /* no MAIL seen (cannot happen with a sane MTA) */
		return SMFIS_TEMPFAIL;
	EVP_DigestUpdate(c->sha, b, len);
	for (size_t i = 0; i < len; i++) {
		if (b[i] == '\n') {
			if (c->last_cr)
				c->crlf++;
			else
				c->lf++;
		}
		c->last_cr = b[i] == '\r';
		if (c->headlen < sizeof c->head - 1)
			c->head[c->headlen++] = (char)b[i];
	}
	c->bytes += len;
	if (opt_savebody) {
		if (!c->body) {
			char path[4096];
			snprintf(path, sizeof path, "%s.%d.body", log_path, c->n);
			c->body = fopen(path, "w");
		}
		if (c->body)
			fwrite(b, 1, len, c->body);
	}
	return run(ctx, ST_BODY, NULL);
}

static sfsistat f_eom(SMFICTX *ctx)
{
	struct conn *c = conn_of(ctx);
	struct line l;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	line_start(&l, ctx, "eom");
	add(&l, " bytes=%llu crlf=%llu lf=%llu sha256=", c->bytes, c->crlf, c->lf);
	if (c->sha) {
		EVP_DigestFinal_ex(c->sha, md, &mdlen);
		EVP_MD_CTX_free(c->sha);
		c->sha = NULL;
	}
	for (unsigned int i = 0; i < mdlen; i++)
		add(&l, "%02x", md[i]);
	add(&l, " head=");
	add_quoted(&l, c->head, c->headlen);
	line_end(&l, ctx, 1);
	if (c->body) {
		fclose(c->body);
		c->body = NULL;
	}
	return run(ctx, ST_EOM, NULL);
}

static sfsistat f_abort(SMFICTX *ctx)
{
	struct line l;
	line_start(&l, ctx, "abort");
	line_end(&l, ctx, 0);
	return SMFIS_CONTINUE;
}

static sfsistat f_close(SMFICTX *ctx)
{
	struct conn *c;
	struct line l;
	line_start(&l, ctx, "close");
	line_end(&l, ctx, 0);
	c = smfi_getpriv(ctx);
	if (c) {
		if (c->sha)
			EVP_MD_CTX_free(c->sha);
		if (c->body)
			fclose(c->body);
		free(c);
		smfi_setpriv(ctx, NULL);
	}
	return SMFIS_CONTINUE;
}

/* Command line. */

static void on_usr1(int sig)
{
	(void)sig;
	_exit(0);
}

static void usage(const char *why, const char *arg)
{
	fprintf(stderr, "milter_act: %s: %s\n", why, arg);
	fprintf(stderr, "usage: milter_act SOCKET LOG [ACTION[@STAGE[=MATCH]][:ARG...]...]\n");
	exit(64);
}

/*
 * Split S in place at unescaped ':' and undo the escapes; returns the
 * count, and each part's length in LENS (a part may hold a NUL).
 */
static int split(char *s, char **out, size_t *lens, int max)
{
	int n = 0;
	char *w = s;
	out[n++] = w;
	for (char *r = s; *r; r++) {
		if (*r == ':') {
			lens[n - 1] = (size_t)(w - out[n - 1]);
			*w++ = '\0';
			if (n == max)
				return -1;
			out[n++] = w;
		} else if (*r == '\\' && r[1]) {
			r++;
			switch (*r) {
			case 'r': *w++ = '\r'; break;
			case 'n': *w++ = '\n'; break;
			case 't': *w++ = '\t'; break;
			case 'x':
				if (r[1] && r[2]) {
					char hex[3] = { r[1], r[2], 0 };
					*w++ = (char)strtol(hex, NULL, 16);
					r += 2;
				}
				break;
			default: *w++ = *r; break;
			}
		} else {
			*w++ = *r;
		}
	}
	lens[n - 1] = (size_t)(w - out[n - 1]);
	*w = '\0';
	return n;
}

static void parse_spec(char *arg, struct spec *s)
{
	char *copy = strdup(arg);
	char *f[MAX_ARGS + 1];
	size_t flen[MAX_ARGS + 1];
	if (!copy)
		abort();
	int n = split(copy, f, flen, MAX_ARGS + 1);
	if (n < 1)
		usage("too many arguments", arg);
	char *at = strchr(f[0], '@');
	if (at)
		*at++ = '\0';
	memset(s, 0, sizeof *s);
	s->text = copy;
	for (size_t i = 0; i < sizeof actions / sizeof actions[0]; i++)
		if (strcmp(actions[i].name, f[0]) == 0)
			s->act = &actions[i];
	if (!s->act)
		usage("unknown action", arg);
	s->stage = s->act->def_stage;
	if (at) {
		char *eq = strchr(at, '=');
		if (eq) {
			*eq++ = '\0';
			s->match = eq;
		}
		s->stage = ST_NONE;
		for (int i = 0; i < ST_COUNT; i++)
			if (strcmp(stage_names[i], at) == 0)
				s->stage = (enum stage)i;
		if (s->stage == ST_NONE)
			usage("unknown stage", arg);
		if (s->match && s->stage != ST_MAIL && s->stage != ST_RCPT && s->stage != ST_HEADER)
			usage("=MATCH is for mail, rcpt and header only", arg);
	}
	if (s->act->kind == K_OPTION) {
		if (at || n > 1)
			usage("an option takes no stage or argument", arg);
		return;
	}
	if (s->stage == ST_NONE)
		usage("this action needs @STAGE", arg);
	if (s->act->only_stage != ST_NONE && s->stage != s->act->only_stage)
		usage("this action is only allowed at its default stage", arg);
	s->nargs = n - 1;
	if (s->nargs < s->act->min_args || s->nargs > s->act->max_args)
		usage("wrong number of arguments", arg);
	for (int i = 1; i < n; i++) {
		s->args[i - 1] = f[i];
		s->lens[i - 1] = flen[i];
	}
	if (s->act->fn == a_replycode && strlen(s->args[0]) != 3)
		usage("the reply code must have 3 digits", arg);
}

int main(int argc, char **argv)
{
	struct smfiDesc desc = {
		.xxfi_name = "milter_act",
		.xxfi_version = SMFI_VERSION,
		.xxfi_flags = SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_ADDRCPT | SMFIF_DELRCPT |
			      SMFIF_CHGBODY | SMFIF_CHGFROM | SMFIF_ADDRCPT_PAR | SMFIF_QUARANTINE |
			      SMFIF_SETSYMLIST,
		.xxfi_connect = f_connect,
		.xxfi_helo = f_helo,
		.xxfi_envfrom = f_envfrom,
		.xxfi_envrcpt = f_envrcpt,
		.xxfi_header = f_header,
		.xxfi_eoh = f_eoh,
		.xxfi_body = f_body,
		.xxfi_eom = f_eom,
		.xxfi_abort = f_abort,
		.xxfi_close = f_close,
		.xxfi_unknown = f_unknown,
		.xxfi_data = f_data,
		.xxfi_negotiate = f_negotiate,
	};
	if (argc < 3)
		usage("missing arguments", argc > 1 ? argv[1] : "");
	signal(SIGUSR1, on_usr1);
	nspecs = argc - 3;
	specs = calloc((size_t)nspecs + 1, sizeof *specs);
	if (!specs)
		abort();
	for (int i = 0; i < nspecs; i++) {
		parse_spec(argv[i + 3], &specs[i]);
		const char *name = specs[i].act->name;
		opt_leadspc |= strcmp(name, "leadspc") == 0;
		opt_symlist |= strcmp(name, "symlist") == 0;
		opt_rcptrej |= strcmp(name, "rcptrej") == 0;
		opt_savebody |= strcmp(name, "savebody") == 0;
	}
	log_path = argv[2];
	logf_ = fopen(log_path, "a");
	if (!logf_) {
		perror(log_path);
		return 1;
	}
	if (smfi_setconn(argv[1]) == MI_FAILURE || smfi_register(desc) == MI_FAILURE ||
	    smfi_opensocket(1) == MI_FAILURE) {
		fprintf(stderr, "milter_act: cannot listen on %s\n", argv[1]);
		return 1;
	}
	return smfi_main() == MI_SUCCESS ? 0 : 1;
}
