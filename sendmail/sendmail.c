/*
 * sendmail - Tern's sendmail(8), mailq(1) and newaliases(1)
 *
 * SYNOPSIS
 *	sendmail [options] [--] [recipient ...]
 *	mailq [options]
 *	newaliases [options]
 *
 * DESCRIPTION
 *	The command every mail-sending program calls. By default (-bm) it
 *	reads a message on standard input and writes it, with terndrop(8)'s
 *	code and checks, into the maildrop directory; sendmail exits 0 only
 *	when the message is safely on disk. It accepts every flag of
 *	sendmail 8.17 (sendmail_opts.c; man/sendmail.8 lists them). Called
 *	as mailq it lists the queue (-bp); as newaliases it rebuilds the
 *	alias databases (-bi).
 *
 * SECURITY
 *	sendmail is installed set-group-ID setgid_group (root:terndrop 2755).
 *	A plain submission (-bm with recipients or -t) is one process: first
 *	thing in main(), before it parses anything of its caller's beyond
 *	its configuration directory (-C from a getopt pass over a copy of
 *	argv, or TERN_CONFIG_DIR, validated as terndrop validates it), it
 *	creates its maildrop file (final name, mode 0200, first record
 *	written: sendmail/drop.c), then drops the group for good
 *	(setresgid), and only then parses argv and the message as its
 *	caller, writing the records into that descriptor with terndrop's
 *	checks; 0644 and one fsync at the end. Other modes fork a child
 *	first thing that holds the group and runs terndrop's code on the
 *	checked record stream the parent sends it, while the parent drops
 *	the group (sendmail_priv.c). -bp (mailq) asks that child for the
 *	queue listing, a fixed operation. -bs hands each message to
 *	terndrop(8).
 *
 * EXIT STATUS
 *	sysexits.h: 0 queued, 64 usage, 65 bad data, 67 unknown user (-bv),
 *	69 a helper is missing, 75 temporary failure (nothing was queued,
 *	try again; also when the maildrop file was removed while it was
 *	written), 77 not allowed, 78 configuration error. One line on
 *	standard error says why.
 *
 * CONFIGURATION PARAMETERS
 *	command_directory (where terndrop, ternqueue and tern live),
 *	message_size_limit, queue_directory and queue_minfree (-bs refuses
 *	MAIL FROM with 452 when the queue is short of space), and whatever
 *	resolve_address() reads for -bv/-bt.
 */
#include "compat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "mail/config.h"
#include "sendmail/sendmail.h"
#include "util/buf.h"
#include "util/log.h"

static const char *basename_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash ? slash + 1 : path;
}

/* The mode's work; its exit status. */
static int run(struct sm_opts *o)
{
	switch (o->mode) {
	case SM_DELIVER:
		return sm_submit(o);
	case SM_SMTP:
		return sm_smtp(o);
	case SM_PRINT:
		return sm_priv_list(o);
	case SM_FLUSH: {
		const char *args[] = {"-f", NULL, NULL, NULL};
		if (o->flush_filter != NULL) {
			args[1] = o->flush_what;
			args[2] = o->flush_filter;
		}
		return sm_exec_tool(o, "ternqueue", args);
	}
	case SM_DAEMON: {
		const char *fg[] = {"start", "-f", NULL}, *bg[] = {"start", NULL};
		return sm_exec_tool(o, "tern", o->daemon_foreground ? fg : bg);
	}
	case SM_CHECK: {
		const char *args[] = {"check", NULL};
		return sm_exec_tool(o, "tern", args);
	}
	case SM_ALIASES:
		return sm_aliases(o);
	case SM_VERIFY:
		return sm_verify(o);
	case SM_TEST:
		return sm_test(o);
	case SM_IGNORED:
		if (o->verbose)
			msg_info("nothing to do: Tern's queue manager runs the queue by itself");
		return EX_OK;
	}
	return EX_SOFTWARE;
}

int main(int argc, char **argv)
{
	/* First of all, before anything of the caller's is read. */
	sm_priv_start(argc, argv);

	struct sm_opts o;
	const char *name = argc > 0 ? basename_of(argv[0]) : "sendmail";

	log_init(strcmp(name, "mailq") == 0 || strcmp(name, "newaliases") == 0 ? name : "sendmail",
		 LOG_TO_STDERR);
	sm_parse(argc, argv, &o);
	if (strcmp(name, "mailq") == 0)
		o.mode = SM_PRINT;
	else if (strcmp(name, "newaliases") == 0)
		o.mode = SM_ALIASES;
	else if (strcmp(name, "hoststat") == 0 || strcmp(name, "purgestat") == 0)
		o.mode = SM_IGNORED;

	const char *direct_dir;
	if (sm_priv_direct(&direct_dir)) {
		/* The configuration is loaded: the one the pre-pass found, which must be this one. */
		if (o.mode != SM_DELIVER || (o.config_dir == NULL) != (direct_dir == NULL) ||
		    (o.config_dir != NULL && strcmp(o.config_dir, direct_dir) != 0))
			msg_fatal_status(EX_TEMPFAIL, "the command line changed while it was read: try again");
		int rc = sm_submit(&o);
		sm_free(&o);
		return rc;
	}
	struct buf err = BUF_INIT;
	if (config_load(o.config_dir, false, &err) != 0)
		msg_fatal_status(EX_CONFIG, "%s", buf_str(&err));

	buf_free(&err);
	/* Only -bm and -bp use the maildrop writer: end it before other modes run or exec. */
	if (o.mode != SM_DELIVER && o.mode != SM_PRINT)
		sm_priv_wait();
	int rc = run(&o);
	sm_free(&o);
	return rc;
}
