/*
 * local.c - the local delivery agent.
 *
 * NAME
 *	local - Tern local delivery
 * SYNOPSIS
 *	local [-c config_dir] [-v]   (started by ternd, service "local")
 * DESCRIPTION
 *	Delivers mail for the domains in mydestination: alias_maps, ~/.forward,
 *	:include: files, |commands, /files, mbox files in mail_spool_directory,
 *	home_mailbox (mbox or Maildir), and with local_maildir_base every
 *	local recipient into $local_maildir_base/LOCALPART/. The queue
 *	manager connects to queue_directory/private/local and sends one
 *	request per message (lib/mail/lproto.h); local answers once per
 *	recipient. See local(8) for the rules.
 * SECURITY
 *	Starts as root (service user "root"); in a tern init instance, as the
 *	instance owner. Each connection is served by its own process. A
 *	write to a mailbox, Maildir or file is made with the recipient's
 *	file-system uid and gid, the recipient's primary group its only
 *	group (write_as in local_as.c: the kernel checks every access as
 *	the recipient; the real, effective and saved uid stay 0 so the
 *	recipient cannot signal, trace or renice the process, and the ids
 *	are switched back afterwards); a command runs in a child that drops
 *	every id for good first (run_as). A .forward, and an :include: file
 *	it names, is read the same way, with its user's file-system ids
 *	(local_expand.c also checks owner and mode). The only things done
 *	as root are reading the queue file, the alias lookups and the
 *	:include: files the aliases name (refused when writable by group or
 *	others; their items run as the file's owner), creating
 *	a missing mbox file in mail_spool_directory and its dot-lock; the
 *	rest is done as the recipient. Message data never reaches a shell command line: commands
 *	come from aliases, .forward files and mailbox_command (not expanded)
 *	and get the message on standard input.
 * CONFIGURATION PARAMETERS
 *	alias_maps, allow_mail_to_commands, allow_mail_to_files,
 *	command_time_limit, default_privs, deliver_lock_attempts,
 *	deliver_lock_delay, export_environment, forward_path, home_mailbox,
 *	local_command_shell, local_maildir_base, mail_owner,
 *	mail_spool_directory, mailbox_command, mailbox_delivery_lock,
 *	mailbox_size_limit, mydestination, myhostname, myorigin,
 *	owner_request_special, prepend_delivered_header, queue_directory,
 *	recipient_delimiter, stale_lock_time, strict_mailbox_ownership.
 */
#include "compat.h"

#include "mail/daemon.h"
#include "local/local.h"

int main(int argc, char **argv)
{
	daemon_init(argc, argv, "local", DAEMON_KEEP_ROOT | DAEMON_CATCH_TERM | DAEMON_DELIVERY);
	daemon_serve_forked(local_serve, 0);
	return 0;
}
