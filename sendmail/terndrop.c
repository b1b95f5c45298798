/*
 * terndrop - write one message into the maildrop directory
 *
 * SYNOPSIS
 *	terndrop [-r] [-C config_dir]
 *
 * DESCRIPTION
 *	terndrop reads the record stream that sendmail(8) writes on its
 *	standard input (see lib/mail/droprec.h), checks it, and writes one
 *	file into queue_directory/maildrop with the one safe queue write
 *	(temporary name, fsync, rename, fsync of the directory). It exits 0
 *	only when the file is durable; then it wakes pickup through
 *	queue_directory/public/pickup (a failed wake-up is not an error:
 *	pickup also scans). With -r it then prints the maildrop file's id
 *	on standard output (sendmail -bs uses it in its 250 reply). Errors are one line on standard error and a
 *	sysexits.h status: 64 usage, 65 bad input or message too big, 75
 *	temporary failure (disk full, less free space than queue_minfree,
 *	I/O error), 77 sender refused or
 *	configuration directory not allowed, 78 bad configuration.
 *
 * SECURITY
 *	terndrop is installed set-group-ID terndrop (root:terndrop 2755),
 *	as is sendmail(8), which does the same work in a child it forks at
 *	entry (sendmail/drop.c holds the code both run); sendmail -bs and
 *	other programs that write the record stream themselves use terndrop. It trusts nothing but the real uid
 *	the kernel gives it. Before anything else it makes sure descriptors
 *	0 to 2 are open, replaces argv[0], saves the two environment values
 *	it may use and clears the environment, and sets umask 077. It stamps
 *	the arrival time itself, records the real uid and its login name,
 *	accepts only the record types it expects in order (droprec.c), and
 *	enforces message_size_limit while reading. Its signal handlers only
 *	unlink the temporary file and _exit. A non-default configuration
 *	directory (-C or TERN_CONFIG_DIR) is honoured for an unprivileged
 *	caller only when the default main.cf lists it in
 *	alternate_config_directories, so no user can point terndrop at a
 *	queue of their choosing. A terndrop that is not set-group-ID (the
 *	build tree's stage/terndrop) accepts any directory but can write
 *	only where the caller may; for anyone but root and the queue's
 *	owner it says so before it reads the message (exit 75).
 *
 * CONFIGURATION PARAMETERS
 *	queue_directory, queue_minfree, message_size_limit, local_login_sender_maps,
 *	authorized_submit_users,
 *	alternate_config_directories, myorigin, maillog_file.
 *
 * SEE ALSO
 *	sendmail(8), pickup (queue/pickup.c), lib/mail/qfile.h.
 */
#include "compat.h"

#include <stdbool.h>
#include <stdio.h>
#include <sysexits.h>
#include <unistd.h>

#include "mail/qfile.h"
#include "sendmail/drop.h"
#include "util/buf.h"
#include "util/log.h"

static void usage(void)
{
	msg_fatal_status(EX_USAGE, "usage: terndrop [-r] [-C config_dir] (reads sendmail's record stream)");
}

int main(int argc, char **argv)
{
	drop_harden("terndrop");
	if (argc > 0)
		argv[0] = (char *)"terndrop";

	const char *opt_config = NULL;
	bool report_id = false;
	int c;
	while ((c = getopt(argc, argv, "C:c:rv")) != -1) {
		switch (c) {
		case 'r':
			report_id = true;
			break;
		case 'C':
		case 'c':
			opt_config = optarg;
			break;
		case 'v':
			log_set_verbose(1);
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	drop_config(opt_config);

	struct buf in = BUF_INIT;
	char id[QF_ID_MAX];
	int rc = drop_message(0, &in, 0, id, sizeof(id));
	if (report_id) {
		printf("%s\n", id);
		fflush(stdout);
	}
	buf_free(&in);
	return rc;
}
