/*
 * sendmail_opts.c - sendmail(8)'s command line, every flag of it.
 *
 * Part of the sendmail program; runs with the caller's privileges. The
 * rule: no flag that sendmail 8.17 accepts is a usage error here. Flags
 * with a meaning for Tern set sm_opts; the others are accepted and
 * ignored (the table in man/sendmail.8 says which is which and why).
 * A usage error (exit 64) is only an unknown flag or a bad value.
 */
#include "compat.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sysexits.h>

#include "mail/addr.h"
#include "mail/cleanup.h"
#include "sendmail/sendmail.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/mem.h"

/*
 * sendmail 8.17's option letters (sendmail/main.c OPTIONS) plus -U and
 * -x: '+' stops at the first recipient, "::" marks the optional argument
 * of -q, -Q and -d.
 */
#define SM_OPTIONS "+A:B:b:C:cD:d::e:F:f:Gh:IiL:M:mN:nO:o:p:Q::q::R:r:sTtUV:vX:x"

static void usage(const char *why)
{
	msg_fatal_status(EX_USAGE, "%s", why);
}

static int parse_notify(const char *arg)
{
	int bits = 0;
	char *copy = xstrdup(arg);
	for (char *tok = strtok(copy, ","); tok; tok = strtok(NULL, ",")) {
		while (*tok == ' ')
			tok++;
		if (strcasecmp(tok, "never") == 0)
			bits |= DSN_NOTIFY_NEVER;
		else if (strcasecmp(tok, "success") == 0)
			bits |= DSN_NOTIFY_SUCCESS;
		else if (strcasecmp(tok, "failure") == 0)
			bits |= DSN_NOTIFY_FAILURE;
		else if (strcasecmp(tok, "delay") == 0)
			bits |= DSN_NOTIFY_DELAY;
		else {
			free(copy);
			return -1;
		}
	}
	free(copy);
	/* NEVER cannot be combined (RFC 3461). */
	if (bits == 0 || ((bits & DSN_NOTIFY_NEVER) && bits != DSN_NOTIFY_NEVER))
		return -1;
	return bits;
}

/* -b<mode> */
static void parse_mode(const char *arg, struct sm_opts *o)
{
	/* Name the mode the caller gave: "-bz" tells which flag of a script is wrong. */
	if (arg[0] == '\0')
		usage("-b needs a mode letter (m, s, p, i, v, t, d, D, C, h, H, P)");
	if (arg[1] != '\0')
		msg_fatal_status(EX_USAGE, "unsupported mode -b%s", arg);
	switch (arg[0]) {
	case 'm': o->mode = SM_DELIVER; break;
	case 's': o->mode = SM_SMTP; break;
	case 'p': case 'P': o->mode = SM_PRINT; break;
	case 'i': o->mode = SM_ALIASES; break;
	case 'v': o->mode = SM_VERIFY; break;
	case 't': o->mode = SM_TEST; break;
	case 'd': o->mode = SM_DAEMON; break;
	case 'D': o->mode = SM_DAEMON; o->daemon_foreground = true; break;
	case 'C': o->mode = SM_CHECK; break;
	case 'h': case 'H': o->mode = SM_IGNORED; break;
	default:
		msg_fatal_status(EX_USAGE, "unsupported mode -b%s", arg);
	}
}

/*
 * -q[...]: now, an interval, or a filter. -qI, -qR, -qS (and -q!I ...)
 * flush only the matching mail (ternqueue -f -I/-R/-S); the other
 * filters (-qG, -qQ, -qL, -qf, -qp ...) mean nothing to Tern's single
 * queue and flush all of it. With several filters the last one counts.
 */
static void parse_queue(const char *arg, struct sm_opts *o)
{
	if (arg == NULL || *arg == '\0') {
		o->mode = SM_FLUSH;
		return;
	}
	/* -q30m: run the queue periodically; the queue manager always does. */
	if (arg[0] >= '0' && arg[0] <= '9') {
		if (o->mode == SM_DELIVER)
			o->mode = SM_IGNORED;
		return;
	}
	o->mode = SM_FLUSH;
	bool neg = arg[0] == '!';
	char what = arg[neg];
	if ((what == 'I' || what == 'R' || what == 'S') && arg[neg + 1] != '\0') {
		struct buf f = BUF_INIT;
		buf_printf(&f, "%s%s", neg ? "!" : "", arg + neg + 1);
		free(o->owned[3]);
		o->owned[3] = buf_steal(&f);
		o->flush_filter = o->owned[3];
		o->flush_what[0] = '-';
		o->flush_what[1] = what;
		o->flush_what[2] = '\0';
	}
}

/* -o<letter><value>: only -oi has a meaning; -oA, -oe*, -od*, -om ... are accepted. */
static void parse_o(const char *arg, struct sm_opts *o)
{
	if (arg[0] == 'i' && (arg[1] == '\0' || strcasecmp(arg + 1, "true") == 0))
		o->ignore_dots = true;
	else if (arg[0] == 'i' && strcasecmp(arg + 1, "false") == 0)
		o->ignore_dots = false;
}

/* -O Name=value: SMTPUTF8 and IgnoreDots mean something; the rest is accepted. */
static void parse_O(const char *arg, struct sm_opts *o)
{
	if (strncasecmp(arg, "SMTPUTF8=", 9) == 0)
		o->smtputf8 = strcasecmp(arg + 9, "yes") == 0 || strcasecmp(arg + 9, "true") == 0;
	else if (strncasecmp(arg, "IgnoreDots", 10) == 0)
		o->ignore_dots = arg[10] == '\0' || strcasecmp(arg + 10, "=true") == 0 ||
				 strcasecmp(arg + 10, "=yes") == 0;
}

static void set_sender(const char *arg, struct sm_opts *o)
{
	struct buf out = BUF_INIT, err = BUF_INIT;
	if (addr_parse_envelope(arg, &out, &err) != 0)
		msg_fatal_status(EX_USAGE, "bad sender address in -f/-r: %s: %s", arg, buf_str(&err));
	free(o->owned[0]);
	o->owned[0] = buf_steal(&out);
	o->sender = o->owned[0];
	o->sender_given = true;
	buf_free(&err);
}

const char *sm_config_dir_of(const char *arg, char **owned)
{
	struct stat st;
	*owned = NULL;
	/* sendmail's -C names a file; Tern's configuration is a directory. */
	if (stat(arg, &st) == 0 && !S_ISDIR(st.st_mode)) {
		char *dir = xstrdup(arg);
		char *slash = strrchr(dir, '/');
		if (slash == NULL)
			strlcpy(dir, ".", strlen(dir) + 1);
		else if (slash == dir)
			slash[1] = '\0';
		else
			*slash = '\0';
		*owned = dir;
		return dir;
	}
	return arg;
}

static void set_config(const char *arg, struct sm_opts *o)
{
	free(o->owned[1]);
	o->config_dir = sm_config_dir_of(arg, &o->owned[1]);
}

static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash ? slash + 1 : path;
}

/*
 * The pre-pass (sendmail.h). getopt with sm_parse's option string, on a
 * copy of argv; only the mode and -C are looked at, with sm_parse's
 * rules for which mode wins. Anything odd (an unknown option, a bad
 * -b) is "not plain": the path that forks a writer then reports it.
 */
void sm_prepass(int argc, char *const *argv, struct sm_prepass *p)
{
	enum sm_mode mode = SM_DELIVER;
	bool extract = false, odd = false;
	int c;

	p->plain = false;
	p->config = NULL;
	if (argc < 1)
		return;
	const char *name = base_name(argv[0]);
	if (strcmp(name, "mailq") == 0 || strcmp(name, "newaliases") == 0 ||
	    strcmp(name, "hoststat") == 0 || strcmp(name, "purgestat") == 0)
		return;
	char **copy = xcalloc((size_t)argc + 1, sizeof(*copy));
	for (int i = 0; i < argc; i++)
		copy[i] = argv[i];
	opterr = 0;
	optind = 0;	/* glibc: start afresh */
	while ((c = getopt(argc, copy, SM_OPTIONS)) != -1) {
		switch (c) {
		case 'b':
			/* -b takes an argument ("b:"): getopt has set optarg.
			 * Tested all the same, since clang's analyzer (make
			 * analyse) keeps a NULL optarg of -q across getopt
			 * (see sm_parse); a NULL would only make the run odd,
			 * the safe way. */
			if (optarg != NULL && optarg[0] == 'm' && optarg[1] == '\0')
				mode = SM_DELIVER;
			else
				odd = true, mode = SM_SMTP;	/* some other mode, or a usage error */
			break;
		case 'C': p->config = optarg; break;
		case 'I': mode = SM_ALIASES; break;
		case 't': extract = true; break;
		case 'q':
			if (optarg == NULL || *optarg == '\0' || !(optarg[0] >= '0' && optarg[0] <= '9'))
				mode = SM_FLUSH;
			else if (mode == SM_DELIVER)
				mode = SM_IGNORED;
			break;
		case 'Q': if (mode == SM_DELIVER) mode = SM_IGNORED; break;
		case '?': odd = true; break;
		default: break;
		}
	}
	/* sendmail_submit.c's first usage error: no file for that. */
	bool rcpts = optind < argc;
	p->plain = !odd && mode == SM_DELIVER && (rcpts || extract);
	free(copy);
	optind = 0;	/* sm_parse starts afresh too */
}

void sm_parse(int argc, char **argv, struct sm_opts *o)
{
	int c;
	memset(o, 0, sizeof(*o));
	o->mode = SM_DELIVER;
	opterr = 0;
	while ((c = getopt(argc, argv, SM_OPTIONS)) != -1) {
#ifdef __clang_analyzer__
		/* For clang's static analyzer (make analyse), which keeps what
		 * it assumed of optarg in an earlier round (-d, -q and -Q may
		 * have none) instead of seeing getopt set it anew: a value it
		 * knows nothing of. Never compiled into a program. */
		extern char *analyzer_unknown_optarg(void);
		optarg = analyzer_unknown_optarg();
#endif
		switch (c) {
		case 'b': parse_mode(optarg, o); break;
		case 'B':
			if (strcasecmp(optarg, "7BIT") == 0)
				o->body_type = "7BIT";
			else if (strcasecmp(optarg, "8BITMIME") == 0)
				o->body_type = "8BITMIME";
			else
				msg_warn("ignoring -B %s (use 7BIT or 8BITMIME)", optarg);
			break;
		case 'C': set_config(optarg, o); break;
		case 'd':
			/* -d0.1 is how scripts ask for the version. */
			if (optarg && strncmp(optarg, "0.1", 3) == 0)
				printf("Version Tern %s\n", TERN_VERSION);
			break;
		case 'F': o->full_name = optarg; break;
		case 'f': case 'r': set_sender(optarg, o); break;
		case 'I': o->mode = SM_ALIASES; break;
		case 'i': o->ignore_dots = true; break;
		case 'L': log_init(optarg, log_get_dest()); break;
		case 'N': {
			int n = parse_notify(optarg);
			if (n < 0)
				usage("bad -N value: use never, or success, failure, delay separated by commas");
			o->notify = n;
			break;
		}
		case 'O': parse_O(optarg, o); break;
		case 'o': parse_o(optarg, o); break;
		case 'p': o->protocol = optarg; break;
		case 'q': parse_queue(optarg, o); break;
		case 'Q': if (o->mode == SM_DELIVER) o->mode = SM_IGNORED; break;
		case 'R':
			if (strcasecmp(optarg, "full") == 0)
				o->dsn_ret = "FULL";
			else if (strcasecmp(optarg, "hdrs") == 0)
				o->dsn_ret = "HDRS";
			else
				usage("bad -R value: use full or hdrs");
			break;
		case 't': o->extract = true; break;
		case 'U': o->smtputf8 = true; break;
		case 'V': o->dsn_envid = optarg; break;
		case 'v': o->verbose = true; log_set_verbose(1); break;
		/* Accepted and ignored: see man/sendmail.8. */
		case 'A': case 'c': case 'D': case 'e': case 'G': case 'h': case 'M':
		case 'm': case 'n': case 's': case 'T': case 'X': case 'x':
			break;
		case '?':
		default:
			if (optopt)
				msg_fatal_status(EX_USAGE, "unknown option -%c (or it needs a value)", optopt);
			msg_fatal_status(EX_USAGE, "unknown option %s", argv[optind - 1]);
		}
	}
	o->rcpts = argv + optind;
	o->nrcpt = argc - optind;
}

void sm_free(struct sm_opts *o)
{
	for (size_t i = 0; i < sizeof(o->owned) / sizeof(o->owned[0]); i++) {
		free(o->owned[i]);
		o->owned[i] = NULL;
	}
}

const char *sm_config_arg(const struct sm_opts *o)
{
	return o->config_dir;
}
