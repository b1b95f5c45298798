/*
 * sendmail_modes.c - the sendmail modes that do not queue a message:
 * -q (ternqueue), -bd/-bD/-bC (tern), -bi/newaliases,
 * -bv (how each address would be delivered) and -bt (address test mode).
 *
 * Part of the sendmail program; runs with the caller's privileges.
 * -bv and -bt use resolve_address(), the same code cleanup and local
 * delivery use, and never send anything.
 */
#include "compat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "mail/addr.h"
#include "mail/config.h"
#include "mail/resolve.h"
#include "sendmail/sendmail.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/mem.h"

#if __has_include("mail/newaliases.h")
#include "mail/newaliases.h"
#define HAVE_NEWALIASES 1
#endif

int sm_exec_tool(const struct sm_opts *o, const char *tool, const char *const *args)
{
	struct buf prog = BUF_INIT;
	const char *argv[16];
	int n = 0;
	buf_printf(&prog, "%s/%s", cfg_str(P_command_directory), tool);
	argv[n++] = tool;
	if (sm_config_arg(o)) {
		argv[n++] = "-c";
		argv[n++] = sm_config_arg(o);
	}
	for (; *args && n < 15; args++)
		argv[n++] = *args;
	argv[n] = NULL;
	fflush(stdout);
	execv(buf_str(&prog), (char *const *)argv);
	msg_fatal_status(EX_UNAVAILABLE, "cannot run %s: %m", buf_str(&prog));
}

int sm_aliases(const struct sm_opts *o)
{
	(void)o;
#ifdef HAVE_NEWALIASES
	return newaliases_run();
#else
	msg_fatal_status(EX_UNAVAILABLE, "this build has no alias database support");
#endif
}

/* One line about how addr would be delivered, in sendmail -bv's words. */
static int describe(const char *addr, bool test_mode)
{
	struct resolved r;
	int status = EX_OK;
	resolved_init(&r);
	if (resolve_address(addr, &r) != 0 || r.class == RESOLVE_ERROR) {
		char dsn[16];
		struct buf why = BUF_INIT;
		/* Well formed but not routable: the resolver says why. */
		if (r.nexthop.len > 0)
			resolve_error_text(buf_str(&r.nexthop), '5', dsn, sizeof(dsn), &why);
		printf("%s... %s\n", addr, why.len > 0 ? buf_str(&why) : "malformed address");
		buf_free(&why);
		status = EX_DATAERR;
	} else if (test_mode) {
		static const char *const classes[] = {"local", "virtual", "relay", "error"};
		printf("%s: class=%s address=%s transport=%s nexthop=%s", addr, classes[r.class],
		       buf_str(&r.address), buf_str(&r.transport), buf_str(&r.nexthop));
		if (r.class == RESOLVE_LOCAL)
			printf(" user=%s extension=%s known=%s", buf_str(&r.localpart), buf_str(&r.extension),
			       r.local_user_known ? "yes" : "no");
		printf("\n");
	} else if (r.class == RESOLVE_LOCAL && !r.local_user_known) {
		printf("%s... User unknown\n", addr);
		status = EX_NOUSER;
	} else if (r.class == RESOLVE_LOCAL) {
		printf("%s... deliverable: mailer %s, user %s\n", addr, buf_str(&r.transport),
		       buf_str(&r.localpart));
	} else {
		printf("%s... deliverable: mailer %s, host %s, user %s\n", addr, buf_str(&r.transport),
		       buf_str(&r.nexthop), buf_str(&r.address));
	}
	resolved_free(&r);
	return status;
}

int sm_verify(const struct sm_opts *o)
{
	int worst = EX_OK;
	if (o->nrcpt == 0)
		msg_fatal_status(EX_USAGE, "-bv needs one or more addresses");
	for (int i = 0; i < o->nrcpt; i++) {
		struct addr_list l;
		addr_list_init(&l);
		if (addr_parse_list(o->rcpts[i], strlen(o->rcpts[i]), &l) != 0 || l.n == 0) {
			printf("%s... malformed address\n", o->rcpts[i]);
			worst = EX_DATAERR;
		}
		for (size_t k = 0; k < l.n; k++) {
			int st = describe(l.v[k].mailbox, false);
			if (st != EX_OK)
				worst = st;
		}
		addr_list_free(&l);
	}
	fflush(stdout);
	return worst;
}

/*
 * -bt: one address per line ("ruleset address" also works: sendmail's
 * ruleset numbers are skipped, Tern has no rulesets). Answers one line
 * each; a prompt when standard input is a terminal.
 */
int sm_test(const struct sm_opts *o)
{
	(void)o;
	char line[4096];
	bool tty = isatty(0);
	printf("ADDRESS TEST MODE (Tern: each address is resolved as cleanup and delivery would)\n"
	       "Enter <address>, or <ruleset> <address>\n");
	for (;;) {
		if (tty)
			printf("> ");
		fflush(stdout);
		if (fgets(line, sizeof(line), stdin) == NULL)
			break;
		line[strcspn(line, "\r\n")] = '\0';
		char *p = line + strspn(line, " \t");
		if (*p == '\0' || *p == '#')
			continue;
		/* "3,0 addr" or "/tryflags ..." (sendmail commands): skip the ruleset list. */
		if (*p == '/') {
			printf("%s: sendmail -bt commands are not supported\n", p);
			continue;
		}
		if (strspn(p, "0123456789,") > 0 && p[strspn(p, "0123456789,")] == ' ')
			p += strspn(p, "0123456789,") + 1;
		struct buf out = BUF_INIT, err = BUF_INIT;
		if (addr_parse_envelope(p, &out, &err) != 0)
			printf("%s: malformed address: %s\n", p, buf_str(&err));
		else
			describe(buf_str(&out), true);
		buf_free(&out);
		buf_free(&err);
	}
	if (tty)
		printf("\n");
	fflush(stdout);
	return EX_OK;
}
