/*
 * milter_chain_drive.c - test program: run one SMTP session's events
 * through lib/mail/milter_chain.h with milter_chain_wait(), so that
 * end-to-end tests check the chain (sockets, order, timeouts, edits
 * applied between milters, default actions) against real libmilter
 * filters. Runs as whoever runs the test; no privileges.
 *
 *   milter_chain_drive [-d accept|reject|tempfail|quarantine] [-t MS] MILTER...
 *
 * MILTER is unix:/path or inet:host:port, in chain order; -d is the
 * default action and -t every timeout of each milter (default 10000).
 * The session: CONNECT, HELO, UNKNOWN "XFOO", MAIL <a@example.com>
 * SIZE=100 BODY=8BITMIME, RCPT <old@example.com>, RCPT
 * <bad@example.com>, DATA, then a message with the headers Subject and
 * From and a body of 2000 lines of 49 x. Prints one line per event
 * ("EVENT OUTCOME [REPLY]"), one per edit applied ("apply ..."), one per
 * log line of the chain, and at the end the message as edited. Exits 0.
 */
#include "compat.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mail/milter_chain.h"
#include "util/mem.h"

static char *hn[64], *hv[64];
static size_t nh;
static struct buf body;
static size_t body_off;
static int done_count;
static enum milter_outcome last;
static char last_reply[1024];
static bool has_reply;

static const char *d_macro(void *ctx, const char *name)
{
	(void)ctx;
	if (strcmp(name, "j") == 0)
		return "mx.example";
	if (strcmp(name, "{mail_addr}") == 0)
		return "a@example.com";
	if (strcmp(name, "i") == 0)
		return "QID1";
	return NULL;
}

static size_t d_hcount(void *ctx)
{
	(void)ctx;
	return nh;
}

static void d_hget(void *ctx, size_t i, const char **name, const char **value)
{
	(void)ctx;
	*name = hn[i];
	*value = hv[i];
}

static int d_rewind(void *ctx)
{
	(void)ctx;
	body_off = 0;
	return 0;
}

static ssize_t d_read(void *ctx, char *data, size_t len)
{
	(void)ctx;
	size_t n = body.len - body_off;
	if (n > len)
		n = len;
	memcpy(data, body.data + body_off, n);
	body_off += n;
	return (ssize_t)n;
}

static void insert_header(size_t at, const char *name, const char *value)
{
	if (nh == 64)
		return;
	if (at > nh)
		at = nh;
	memmove(&hn[at + 1], &hn[at], (nh - at) * sizeof hn[0]);
	memmove(&hv[at + 1], &hv[at], (nh - at) * sizeof hv[0]);
	hn[at] = xstrdup(name);
	hv[at] = xstrdup(value);
	nh++;
}

static void show(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] == '\n')
			fputs("\\n", stdout);
		else if (s[i] == '\r')
			fputs("\\r", stdout);
		else
			putchar(s[i]);
}

static int d_apply(void *ctx, const struct milter_mod *m, bool first)
{
	(void)ctx;
	if (m->type == MILTER_R_REPLBODY) {
		printf("apply b%s ", first ? "!" : "");
		show(m->body, m->body_len);
		printf("|\n");
		if (first)
			buf_reset(&body);
		buf_add(&body, m->body, m->body_len);
		return 0;
	}
	printf("apply %c %u %s|%s|\n", m->type, m->index, m->name, m->value ? m->value : "-");
	if (m->type == MILTER_R_ADDHEADER) {
		insert_header(nh, m->name, m->value);
	} else if (m->type == MILTER_R_INSHEADER) {
		insert_header(m->index, m->name, m->value);
	} else if (m->type == MILTER_R_CHGHEADER) {
		uint32_t seen = 0;
		for (size_t i = 0; i < nh; i++) {
			if (strcasecmp(hn[i], m->name) != 0 || ++seen != m->index)
				continue;
			free(hv[i]);
			hv[i] = xstrdup(m->value);
			break;
		}
	}
	return 0;
}

static void d_done(void *ctx, enum milter_outcome o, const char *reply)
{
	(void)ctx;
	done_count++;
	last = o;
	has_reply = reply != NULL;
	snprintf(last_reply, sizeof last_reply, "%s", reply ? reply : "");
}

static void d_log(void *ctx, bool warning, const char *line)
{
	(void)ctx;
	printf("log %s%s\n", warning ? "warning: " : "", line);
}

static const char *outcome_name(enum milter_outcome o)
{
	switch (o) {
	case MILTER_O_CONTINUE:
		return "continue";
	case MILTER_O_REJECT:
		return "reject";
	case MILTER_O_TEMPFAIL:
		return "tempfail";
	case MILTER_O_DISCARD:
		return "discard";
	case MILTER_O_SHUTDOWN:
		return "shutdown";
	default:
		return "pending";
	}
}

/* Wait for a pending event and print its outcome. */
static void report(struct milter_chain *ch, const char *what, enum milter_outcome o, const char *reply)
{
	if (o == MILTER_O_PENDING) {
		int before = done_count;
		milter_chain_wait(ch);
		if (done_count != before + 1) {
			printf("error: %s: no outcome after milter_chain_wait\n", what);
			exit(1);
		}
		o = last;
		reply = has_reply ? last_reply : NULL;
	}
	printf("%s %s%s%s\n", what, outcome_name(o), reply ? " " : "", reply ? reply : "");
}

int main(int argc, char **argv)
{
	enum milter_default def = MILTER_DEF_ACCEPT;
	unsigned timeout = 10000;
	int c;
	signal(SIGPIPE, SIG_IGN);
	while ((c = getopt(argc, argv, "d:t:")) != -1) {
		if (c == 'd')
			def = strcmp(optarg, "reject") == 0	 ? MILTER_DEF_REJECT
			      : strcmp(optarg, "tempfail") == 0	 ? MILTER_DEF_TEMPFAIL
			      : strcmp(optarg, "quarantine") == 0 ? MILTER_DEF_QUARANTINE
								  : MILTER_DEF_ACCEPT;
		else if (c == 't')
			timeout = (unsigned)atoi(optarg);
		else
			return 64;
	}
	if (optind >= argc)
		return 64;
	struct milter_cfg cfg = {0};
	cfg.n = (size_t)(argc - optind);
	cfg.v = xcalloc(cfg.n, sizeof *cfg.v);
	for (size_t i = 0; i < cfg.n; i++) {
		struct milter_spec *s = &cfg.v[i];
		const char *w = argv[optind + (int)i];
		s->name = xstrdup(w);
		s->connect_timeout_ms = s->command_timeout_ms = s->content_timeout_ms = timeout;
		s->default_action = def;
		s->protocol = 6;
		if (strncmp(w, "unix:", 5) == 0) {
			s->kind = MILTER_SOCK_UNIX;
			s->path = xstrdup(w + 5);
		} else if (strncmp(w, "inet:", 5) == 0 && strrchr(w + 5, ':')) {
			const char *colon = strrchr(w + 5, ':');
			s->kind = MILTER_SOCK_INET;
			s->host = xstrndup(w + 5, (size_t)(colon - (w + 5)));
			s->port = (unsigned)atoi(colon + 1);
		} else {
			return 64;
		}
	}
	static char *cmacros[] = {"j", "{nothing}", NULL};
	static char *mmacros[] = {"i", NULL};
	cfg.macros[MILTER_M_CONNECT] = cmacros;
	cfg.macros[MILTER_M_ENVFROM] = mmacros;

	insert_header(0, "Subject", " hello");
	insert_header(1, "From", " <a@example.com>");
	for (int i = 0; i < 2000; i++)
		buf_adds(&body, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n");

	static const struct milter_chain_ops ops = {
		.macro = d_macro, .header_count = d_hcount, .header_get = d_hget,
		.body_rewind = d_rewind, .body_read = d_read, .apply = d_apply,
		.done = d_done, .log = d_log,
	};
	struct milter_chain *ch = milter_chain_new(&cfg, &ops, NULL);
	const char *r = NULL;
	const char *margs[] = {"SIZE=100", "BODY=8BITMIME"};
	enum milter_outcome o;
	/* (the call first: r is set by it) */
	o = milter_chain_connect(ch, "client.example", "127.0.0.1", MILTER_FAM_INET, 4025, &r);
	report(ch, "connect", o, r);
	o = milter_chain_helo(ch, "client.example", &r);
	report(ch, "helo", o, r);
	o = milter_chain_unknown(ch, "XFOO", &r);
	report(ch, "unknown", o, r);
	o = milter_chain_mail(ch, "<a@example.com>", margs, 2, &r);
	report(ch, "mail", o, r);
	o = milter_chain_rcpt(ch, "<old@example.com>", NULL, 0, false, &r);
	report(ch, "rcpt", o, r);
	o = milter_chain_rcpt(ch, "<bad@example.com>", NULL, 0, false, &r);
	report(ch, "rcpt", o, r);
	o = milter_chain_data(ch, &r);
	report(ch, "data", o, r);
	o = milter_chain_message(ch, &r);
	report(ch, "message", o, r);
	for (size_t i = 0; i < nh; i++)
		printf("header %s:%s\n", hn[i], hv[i]);
	printf("body ");
	show(body.data, body.len > 60 ? 60 : body.len);
	printf("\n");
	milter_chain_free(ch);
	for (size_t i = 0; i < nh; i++) {
		free(hn[i]);
		free(hv[i]);
	}
	for (size_t i = 0; i < cfg.n; i++) {
		free(cfg.v[i].name);
		free(cfg.v[i].path);
		free(cfg.v[i].host);
	}
	free(cfg.v);
	buf_free(&body);
	return 0;
}
