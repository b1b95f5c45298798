/*
 * params.c - THE parameter table: every main.cf parameter Tern knows,
 * with its type, default, bounds and one sentence of documentation.
 *
 * Mail layer; no privileges of its own. This one table drives the
 * defaults, load-time validation (config.c), ternconf -d/-n and the
 * generated parameter page tern-params(5). Names and defaults are
 * Postfix's (postconf -d of Postfix 3.7) unless a row says otherwise;
 * Tern-only names exist only where Postfix has no such concept.
 *
 * Rows MUST stay sorted by name (strcmp order): param_find() is a
 * binary search and test_params checks the order.
 */
#include "compat.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The slots P_name points at (param_names.h): defined here, beside the table. */
#define PARAM_NAME_SLOTS_DEFINE
#include "mail/config.h"

#ifndef TERN_CONF_DIR
#define TERN_CONF_DIR "/etc/tern"
#endif
#ifndef TERN_QUEUE_DIR
#define TERN_QUEUE_DIR "/var/spool/tern"
#endif
#ifndef TERN_DATA_DIR
#define TERN_DATA_DIR "/var/lib/tern"
#endif
#ifndef TERN_DAEMON_DIR
#define TERN_DAEMON_DIR "/usr/libexec/tern"
#endif
#ifndef TERN_COMMAND_DIR
#define TERN_COMMAND_DIR "/usr/sbin"
#endif
/* mailq and newaliases are installed in bindir (make install's links). */
#ifndef TERN_BIN_DIR
#define TERN_BIN_DIR "/usr/bin"
#endif
#ifndef TERN_USER
#define TERN_USER "tern"
#endif
#ifndef TERN_DROP_GROUP
#define TERN_DROP_GROUP "terndrop"
#endif
#ifndef TERN_VERSION
#define TERN_VERSION "0"
#endif

#define DAY 86400LL
/* Sizes are bytes in a long long; keep well clear of overflow. */
#define SIZE_MAX_LIMIT (1LL << 50)

#define STR(n, d, doc_, ...) \
	{ .name = (n), .type = PARAM_STRING, .def = (d), .doc = (doc_), __VA_ARGS__ }
#define STRC(n, d, ch, doc_, ...) \
	{ .name = (n), .type = PARAM_STRING, .def = (d), .choices = (ch), .doc = (doc_), __VA_ARGS__ }
#define CSTR(n, doc_, ...) \
	{ .name = (n), .type = PARAM_STRING, .def = NULL, .flags = PARAM_F_COMPUTED, .doc = (doc_), __VA_ARGS__ }
#define RAW(n, d, doc_, ...) \
	{ .name = (n), .type = PARAM_STRING, .def = (d), .flags = PARAM_F_RAW, .doc = (doc_), __VA_ARGS__ }
#define RAWL(n, d, doc_, ...) \
	{ .name = (n), .type = PARAM_LIST, .def = (d), .flags = PARAM_F_RAW, .doc = (doc_), __VA_ARGS__ }
#define BOOL(n, d, doc_, ...) \
	{ .name = (n), .type = PARAM_BOOL, .def = (d), .doc = (doc_), __VA_ARGS__ }
#define INT(n, d, lo, hi, doc_, ...) \
	{ .name = (n), .type = PARAM_INT, .def = (d), .min = (lo), .max = (hi), .doc = (doc_), __VA_ARGS__ }
#define TIME(n, d, u, lo, hi, doc_, ...) \
	{ .name = (n), .type = PARAM_TIME, .def = (d), .unit = (u), .min = (lo), .max = (hi), .doc = (doc_), __VA_ARGS__ }
#define SIZE(n, d, lo, hi, doc_, ...) \
	{ .name = (n), .type = PARAM_SIZE, .def = (d), .min = (lo), .max = (hi), .doc = (doc_), __VA_ARGS__ }
#define LIST(n, d, doc_, ...) \
	{ .name = (n), .type = PARAM_LIST, .def = (d), .doc = (doc_), __VA_ARGS__ }
#define LISTC(n, d, ch, doc_, ...) \
	{ .name = (n), .type = PARAM_LIST, .def = (d), .choices = (ch), .doc = (doc_), __VA_ARGS__ }
#define MAPS(n, d, doc_, ...) \
	{ .name = (n), .type = PARAM_MAPS, .def = (d), .doc = (doc_), __VA_ARGS__ }

/*
 * A row that Tern accepts but does not act on ends in
 * NOT_IMPLEMENTED("what happens instead"): setting it draws a warning
 * from ternd at every start and reload, from tern check and ternconf -n,
 * and tern-params(5) says so. tests/check-params fails the build's
 * checks when a row without it is read by no program.
 */
#define NOT_IMPLEMENTED(what) .unimplemented = (what)
/* Some of a LISTC row's words only: NOT_IMPLEMENTED_WORDS("w1 w2", "what happens instead"). */
#define NOT_IMPLEMENTED_WORDS(words, what) \
	.unimplemented_choices = (words), .unimplemented_choices_why = (what)

const struct param_def param_table[] = {
	STR("2bounce_notice_recipient", "postmaster",
	    "Recipient of bounces that could not be delivered (double bounces), when notify_classes lists 2bounce or bounce; otherwise they are discarded, as in Postfix."),
	MAPS("alias_database", "hash:/etc/aliases",
	    "The alias databases that newaliases and sendmail -bi rebuild."),
	MAPS("alias_maps", "hash:/etc/aliases",
	     "The alias tables local delivery looks recipients up in, first match wins."),
	LISTC("allow_mail_to_commands", "alias, forward", "alias forward include",
	      "Where a |command delivery is allowed: in aliases, ~/.forward files and/or :include: files."),
	LISTC("allow_mail_to_files", "alias, forward", "alias forward include",
	      "Where a /file delivery is allowed: in aliases, ~/.forward files and/or :include: files."),
	BOOL("allow_min_user", "no",
	     "Whether addresses that start with a dash are accepted (they could be taken for command options); with no, smtpd answers 501 to such a MAIL FROM or RCPT TO, sendmail refuses them on its command line, and the queue manager bounces such a recipient."),
	BOOL("allow_percent_hack", "yes",
	     "Whether user%domain (and user%domain@ a domain of mydestination) means user@domain; the relay check sees the result, so an outside client still cannot relay through it."),
	LIST("alternate_config_directories", "",
	     "Configuration directories besides the default that unprivileged users may select with -C or TERN_CONFIG_DIR for terndrop."),
	TIME("anvil_rate_time_unit", "60s", 's', 1, 100 * DAY,
	     "The time unit over which client connection, message and recipient rates are counted."),
	BOOL("append_at_myorigin", "yes",
	     "Whether a bare local part in a locally submitted address gets @$myorigin appended."),
	BOOL("append_dot_mydomain", "no",
	     "Whether a domain without a dot in an envelope address (or a header address of local mail) gets .$mydomain appended (off, as in Postfix 3)."),
	LIST("authorized_submit_users", "static:anyone",
	     "Users allowed to submit mail with sendmail; static:anyone allows every user."),
	BOOL("biff", "no",
	     "Whether local delivery tells the comsat service (UDP to 127.0.0.1, the port of biff/udp in /etc/services) of each message written to an mbox mailbox, as \"user@offset\", once it is on disk; a lost notice never affects the delivery, and Maildir and /file deliveries send none. Tern's default is no where Postfix's is yes: few systems still run comsat, and on a busy host it is a datagram and a services lookup per message for nobody."),
	STR("bounce_notice_recipient", "postmaster",
	    "Recipient of the postmaster copies (headers only) of bounces, when notify_classes lists bounce."),
	TIME("bounce_queue_lifetime", "5d", 'd', 0, 10000 * DAY,
	     "How long a bounce message stays in the queue before it is given up."),
	SIZE("bounce_size_limit", "50000", 1, SIZE_MAX_LIMIT,
	     "The largest amount of the original message, in bytes, that a bounce returns."),
	BOOL("broken_sasl_auth_clients", "no",
	     "Whether the AUTH capability is also announced as AUTH=, for clients that only know that old form."),
	MAPS("canonical_maps", "",
	     "Tables that rewrite sender and recipient addresses in the envelope and headers."),
	STR("command_directory", TERN_COMMAND_DIR,
	    "The directory that holds Tern's administrative commands."),
	TIME("command_time_limit", "1000s", 's', 1, 100 * DAY,
	     "How long a |command delivery may run before it is killed."),
	CSTR("config_directory",
	     "The configuration directory in effect: -c, $TERN_CONFIG_DIR or the compiled-in default."),
	INT("corrupt_queue_limit", "1000", 0, 100000000,
	    "Tern only: the most files kept in the queue's corrupt/ directory (Postfix's has no bound), where pickup and the queue manager set aside queue files that do not parse; when one more is set aside, the oldest beyond the limit are removed, each with a warning in the log naming it; 0 means no limit. tern check warns while corrupt/ holds any file."),
	STR("daemon_directory", TERN_DAEMON_DIR,
	    "The directory that holds Tern's daemon programs."),
	TIME("daemon_timeout", "18000s", 's', 1, 100 * DAY,
	     "How long a daemon process may spend on one request before it gives up.",
	    NOT_IMPLEMENTED("only the timeouts of each step apply")),
	STR("data_directory", TERN_DATA_DIR,
	    "The directory for Tern's own writable data (caches, locks), owned by mail_owner."),
	STR("default_database_type", "hash",
	    "The map type that newaliases and ternmap use when none is given."),
	INT("default_destination_concurrency_limit", "20", 1, 10000,
	    "The largest number of parallel deliveries to one destination."),
	INT("default_destination_recipient_limit", "50", 1, 100000,
	    "The largest number of recipients per message delivery (for SMTP: per transaction).",
	    NOT_IMPLEMENTED("the smtp delivery program does not read it yet")),
	STR("default_privs", "nobody",
	    "The user whose rights deliveries to commands and files from root-owned aliases run with."),
	INT("default_process_limit", "100", 1, 100000,
	    "The largest number of processes of one service that ternd runs at once."),
	STR("default_transport", "smtp",
	    "The transport for domains that are neither local nor in relay_domains (and match no transport_maps entry): smtp, or transport:nexthop as in transport_maps (error:text bounces, retry:text defers); without a next hop, relayhost or the recipient domain."),
	STR("delay_notice_recipient", "postmaster",
	    "Recipient of the postmaster copies (headers only) of delay warnings, when notify_classes lists delay."),
	TIME("delay_warning_time", "0h", 'h', 0, 10000 * DAY,
	     "After how long a still-undelivered message gets a delay warning to its sender; 0 turns warnings off."),
	INT("deliver_lock_attempts", "20", 1, 1000,
	    "How many times local delivery tries to lock a mailbox before it defers."),
	TIME("deliver_lock_delay", "1s", 's', 1, 3600,
	     "How long local delivery waits between attempts to lock a mailbox."),
	INT("delivery_nice", "10", 0, 19,
	    "Tern only: how much lower than the SMTP server's the scheduling priority of the queue manager, its delivery processes and the local delivery agent (with the commands it runs) is, as with nice(1): when the CPU is short, SMTP sessions go first and deliveries catch up after; 0 gives both the same."),
	BOOL("disable_mime_output_conversion", "no",
	     "Whether 8-bit mail to a server that does not announce 8BITMIME is sent as it is instead of converted to quoted-printable."),
	BOOL("disable_vrfy_command", "yes",
	     "Whether the SMTP VRFY command is refused (on: it lets anyone probe for valid addresses)."),
	STR("dns_trust_anchor_file", "/usr/share/dns/root.key",
	    "Tern only: the DNSSEC trust anchors (DNSKEY or DS records, zone file syntax) that DNS answers are validated against when smtp_dns_support_level is dnssec; the default is the root key of Debian's dns-root-data. A name no anchor covers is answered as insecure; an answer that fails validation is never used."),
	STR("double_bounce_sender", "double-bounce",
	    "The sender address of bounces of bounces; mail to it is discarded."),
	STR("empty_address_recipient", "MAILER-DAEMON",
	    "Where mail addressed to the null address <> goes.",
	    NOT_IMPLEMENTED("mail addressed to <> is refused")),
	STR("error_notice_recipient", "postmaster",
	    "Recipient of the notices sent for the resource and software notify classes."),
	BOOL("expand_owner_alias", "no",
	     "Whether copies of mail to an alias NAME that has an owner-NAME alias are sent on with the value of owner-NAME as their envelope sender (with no: owner-NAME@domain itself). The value is used when it is one address (a bare name gets the recipient's domain); a list, |command, /file or :include: leaves owner-NAME as the sender. Needs owner_request_special."),
	LIST("export_environment", "TZ TERN_CONFIG_DIR LANG",
	     "The environment variables passed on to |command deliveries (besides those Tern sets)."),
	RAWL("forward_path", "$home/.forward${recipient_delimiter}${extension}, $home/.forward",
	     "The .forward files local delivery looks for, first found wins; expanded per recipient ($home, $user, $extension, $recipient_delimiter, ...)."),
	SIZE("header_block_size_limit", "1024000", 0, SIZE_MAX_LIMIT,
	     "Tern only: the largest size, in bytes, of a message's whole header block; a message with more is refused (smtpd answers 554 5.7.1 with the reason, a message from sendmail is returned to its sender), where Postfix, which has no such bound, takes it; the block is held in memory while it is read, so this bounds what one client can make the server hold. 0 means no limit (message_size_limit still applies)."),
	SIZE("header_size_limit", "102400", 1, SIZE_MAX_LIMIT,
	     "The largest size, in bytes, of one message header (with its continuation lines): the excess of a longer one is dropped, with a warning in the log, and the headers after it stay headers, as in Postfix."),
	RAW("home_mailbox", "",
	    "Where local delivery writes mail, relative to the recipient's home; a name ending in / is a Maildir; empty means mail_spool_directory."),
	INT("hopcount_limit", "50", 1, 10000,
	    "The largest number of Received: headers a message may carry before it is bounced as a loop."),
	LIST("inet_interfaces", "all",
	     "The network addresses the SMTP server listens on: all, loopback-only, or a list of addresses."),
	LISTC("inet_protocols", "all", "all ipv4 ipv6",
	      "The IP versions Tern uses: ipv4, ipv6 or all."),
	INT("line_length_limit", "2048", 80, 1000000,
	    "Message lines longer than this many bytes are broken, and SMTP command lines longer than it are refused."),
	STR("local_command_shell", "",
	    "The shell that runs |command deliveries; empty runs simple commands directly and others with /bin/sh -c."),
	INT("local_destination_batch_limit", "32", 1, 256,
	    "Tern only: how many messages waiting for one local recipient the queue manager hands one delivery process at once, which the local delivery agent then makes durable with one file system sync; 1 delivers one message at a time."),
	INT("local_destination_concurrency_limit", "2", 1, 10000,
	    "The largest number of parallel local deliveries to one recipient."),
	MAPS("local_login_sender_maps", "static:*",
	     "Which envelope senders each login name may use with sendmail -f; static:* allows any."),
	STR("local_maildir_base", "",
	    "Tern only: when set, every local recipient is delivered, with no system account, into the Maildir $local_maildir_base/LOCALPART/."),
	STR("mail_name", "Tern",
	    "The name of the mail system, shown in the SMTP greeting and in headers."),
	STR("mail_owner", TERN_USER,
	    "The unprivileged user that owns the queue and runs Tern's daemons."),
	STR("mail_spool_directory", "/var/mail",
	    "The directory of the users' mbox files."),
	STR("mail_version", TERN_VERSION,
	    "The version of Tern."),
	RAW("mailbox_command", "",
	    "A command that local delivery pipes a system account's mail to instead of writing the mailbox itself, run as the recipient with HOME, USER, LOGNAME, SHELL, LOCAL, DOMAIN, EXTENSION, RECIPIENT, ORIGINAL_RECIPIENT and SENDER in its environment (e.g. /usr/bin/procmail -a \"$EXTENSION\"); as in Postfix, $names in it are not expanded by Tern but by the shell, from the environment; aliases and ~/.forward come first, and with local_maildir_base it is not used."),
	LISTC("mailbox_delivery_lock", "fcntl, dotlock", "fcntl flock dotlock",
	      "How local delivery locks an mbox file: fcntl, flock and/or dotlock."),
	SIZE("mailbox_size_limit", "51200000", 0, SIZE_MAX_LIMIT,
	     "The largest size in bytes of an mbox file or of one Maildir message; 0 means no limit."),
	STR("maillog_file", "",
	    "A file that log lines are appended to instead of being sent to syslog; empty means syslog."),
	STRC("mailq_format", "sendmail", "sendmail postfix",
	     "Tern only: the layout mailq prints, sendmail's or Postfix's."),
	STR("mailq_path", TERN_BIN_DIR "/mailq",
	    "Where the mailq command is installed; tern check warns when it is not Tern's sendmail (when main.cf sets it, or on the system's own configuration)."),
	TIME("max_idle", "100s", 's', 1, 100 * DAY,
	     "How long an idle daemon process waits for work before it exits."),
	INT("max_use", "100", 1, 1000000000,
	    "How many requests a daemon process serves before it exits."),
	TIME("maximal_backoff_time", "4000s", 's', 1, 10000 * DAY,
	     "The longest time a deferred message waits between delivery attempts."),
	TIME("maximal_queue_lifetime", "5d", 'd', 0, 10000 * DAY,
	     "How long a message may stay in the queue before it is bounced as undeliverable."),
	SIZE("message_size_limit", "10240000", 0, SIZE_MAX_LIMIT,
	     "The largest message, in bytes, that Tern accepts; 0 means no limit."),
	TIME("milter_command_timeout", "30s", 's', 1, 100 * DAY,
	     "How long Tern waits for a milter to take an SMTP command (or a macro list) and answer it; a group in smtpd_milters or non_smtpd_milters may set it per milter (command_timeout). Tern waits at most about 24 days, whatever is set."),
	STR("milter_connect_macros", "j {daemon_name} {daemon_addr} v _",
	    "The macros sent to milters with the connection, separated by commas or white space; a one-letter name may stand bare or in braces (j, {j}), a longer one is sent in braces ({daemon_name}, also when written daemon_name). A milter that asks for its own list (SMFIR_SETSYMLIST) gets that instead."),
	TIME("milter_connect_timeout", "30s", 's', 1, 100 * DAY,
	     "How long Tern waits to connect to a milter and agree on the protocol options with it; a group in smtpd_milters or non_smtpd_milters may set it per milter (connect_timeout). Tern waits at most about 24 days, whatever is set."),
	TIME("milter_content_timeout", "300s", 's', 1, 100 * DAY,
	     "How long Tern waits for a milter to take message content (headers, body, end of message) and answer it; a group in smtpd_milters or non_smtpd_milters may set it per milter (content_timeout). Tern waits at most about 24 days, whatever is set."),
	STR("milter_data_macros", "i",
	    "The macros sent to milters with the DATA command (same syntax as milter_connect_macros)."),
	STRC("milter_default_action", "tempfail", "accept reject tempfail quarantine",
	     "What Tern does when a milter cannot be reached, fails or times out: accept (go on as if that milter were not there), reject (5xx to this and every later command of the session), tempfail (4xx likewise) or quarantine (accept the message, but put it on hold); a group in smtpd_milters or non_smtpd_milters may set it per milter (default_action)."),
	STR("milter_end_of_data_macros", "i",
	    "The macros sent to milters at the end of the message (same syntax as milter_connect_macros)."),
	STR("milter_end_of_header_macros", "i",
	    "The macros sent to milters at the end of the headers (same syntax as milter_connect_macros)."),
	STR("milter_header_checks", "",
	    "Tables in header_checks(5) form applied to the headers that milters add or change; empty means none."),
	STR("milter_helo_macros", "{tls_version} {cipher} {cipher_bits} {cert_subject} {cert_issuer}",
	    "The macros sent to milters with HELO or EHLO (same syntax as milter_connect_macros)."),
	STR("milter_macro_daemon_name", "$myhostname",
	    "The value of the {daemon_name} milter macro."),
	STR("milter_macro_defaults", "",
	    "Values for milter macros that Tern has none for in a session, as name=value or {name}=value, separated by commas or white space; a pair whose value holds commas or white space is written in braces, { name = value }, where white space after {, around = and before } does not count. Example: milter_macro_defaults = auth_type=none, { {client_name} = unknown client }."),
	STR("milter_macro_v", "$mail_name $mail_version",
	    "The value of the v milter macro."),
	STR("milter_mail_macros", "i {auth_type} {auth_authen} {auth_author} {mail_addr} {mail_host} {mail_mailer}",
	    "The macros sent to milters with MAIL FROM (same syntax as milter_connect_macros)."),
	INT("milter_protocol", "6", 2, 6,
	    "The milter protocol version Tern offers, from 2 to 6 (a number only: Postfix's extensions such as no_header_reply are not accepted); a group in smtpd_milters or non_smtpd_milters may set it per milter (protocol)."),
	STR("milter_rcpt_macros", "i {rcpt_addr} {rcpt_host} {rcpt_mailer}",
	    "The macros sent to milters with RCPT TO (same syntax as milter_connect_macros)."),
	STR("milter_unknown_command_macros", "",
	    "The macros sent to milters with an SMTP command that Tern does not know (same syntax as milter_connect_macros)."),
	TIME("minimal_backoff_time", "300s", 's', 1, 10000 * DAY,
	     "The shortest time a deferred message waits between delivery attempts."),
	LIST("mydestination", "$myhostname, localhost.$mydomain, localhost",
	     "The domains this host delivers locally."),
	CSTR("mydomain",
	     "The host's domain: myhostname without its first label, or localdomain."),
	CSTR("myhostname",
	     "The host's fully qualified name: the system host name (no DNS lookup), with .$mydomain or .localdomain appended when it has no dot."),
	LIST("mynetworks", "127.0.0.1/32, [::1]/128",
	     "The trusted clients allowed to relay (Tern's default is only the loopback addresses, whatever the host's interfaces)."),
	STR("myorigin", "$myhostname",
	    "The domain that locally submitted mail appears to come from."),
	STR("newaliases_path", TERN_BIN_DIR "/newaliases",
	    "Where the newaliases command is installed; tern check warns when it is not Tern's sendmail (when main.cf sets it, or on the system's own configuration)."),
	LIST("non_smtpd_milters", "",
	     "Milters applied to mail that does not arrive over SMTP (sendmail, terndrop), picked up by pickup; same syntax as smtpd_milters."),
	LISTC("notify_classes", "resource, software", "bounce 2bounce data delay policy protocol resource software",
	      "Which problems are reported to the postmaster (all notices have the sender $double_bounce_sender, so a failed one is only logged): bounce, a copy of each bounce with the headers of the message only, to bounce_notice_recipient (unlike Postfix, no transcripts of rejected SMTP sessions), and implies 2bounce; 2bounce, bounces that could not be delivered, to 2bounce_notice_recipient (without 2bounce or bounce they are discarded, as in Postfix); delay, a copy of each delay warning, headers only, to delay_notice_recipient; resource, a short notice to error_notice_recipient when pickup must defer a submitted message because cleanup cannot queue it (a queue file write error, a full disk, a table that does not answer); software, the same when pickup or the queue manager moves a message that does not parse to corrupt/. Resource and software notices are held back to one a minute per process and class.",
	    NOT_IMPLEMENTED_WORDS("data policy protocol", "Tern sends no SMTP session transcripts")),
	BOOL("owner_request_special", "yes",
	     "Whether owner-NAME and NAME-request addresses are treated as list owner addresses."),
	LISTC("prepend_delivered_header", "command, file, forward", "command file forward",
	      "For which deliveries local delivery adds a Delivered-To: header: command (|commands and mailbox_command), file (/files, mbox and Maildir mailboxes, as in Postfix) and forward (copies sent on; without it a forwarding loop is caught only by hopcount_limit)."),
	LISTC("propagate_unmatched_extensions", "canonical, virtual", "canonical virtual alias forward include generic",
	      "Where an address extension is carried over when user+ext@domain matched a table only as user@domain (or user): canonical (canonical_maps, sender_ and recipient_canonical_maps) and virtual (virtual_alias_maps) in cleanup, alias (aliases), forward (a .forward rather than .forward+ext) and include (the :include: files of such an alias) in local delivery; the addresses of the result get the extension (user+ext -> joe+ext@host), |commands, /files and \\user do not. An @domain match carries nothing over. Needs recipient_delimiter.",
	    NOT_IMPLEMENTED_WORDS("generic", "Tern has no smtp_generic_maps")),
	LIST("proxy_interfaces", "",
	     "Addresses on which mail reaches this host through a proxy or NAT, counted as the host's own.",
	    NOT_IMPLEMENTED("only the addresses in inet_interfaces count as this host's own")),
	STR("queue_directory", TERN_QUEUE_DIR,
	    "The directory of the mail queue."),
	STRC("queue_directory_sync", "auto", "auto always",
	     "Tern only: how a queue file's rename to its queue id is made durable before the 250 (or terndrop's exit): always fsyncs the directory after the file, as on any file system; auto does not on ext4 (run by the ext4 driver, with a journal or without) and on XFS, where the queue file is renamed first and its own fsync then commits the rename as well, one disk cache flush less per message; with shared sync (smtpd_commit_syncfs) a batch's syncfs covers the renames only with a journal (ext4 with one, XFS), so on ext4 without one the directory is still fsynced after it (a journal is recommended for the queue: without one, on kernels 5.5 to 6.4 an fsync of a file or directory that was written back since its change returns without writing the new entry or flushing the disk cache, whichever order is used); set always on a setup whose file system or storage stack lies about that (the choice is made per queue directory when a program first writes into it)."),
	SIZE("queue_minfree", "0", 0, SIZE_MAX_LIMIT,
	     "The free space, in bytes, the queue file system must keep: with no more free, smtpd answers MAIL FROM with 452 4.3.1 (as it also does with less than 1.5 x message_size_limit free) and sendmail exits 75; 0 means only the 1.5 x rule of smtpd."),
	INT("queue_recycle_limit", "10000", 0, 10000000,
	    "Tern only: how many spent queue files are kept, emptied, in queue_directory/recycle/ to be reused for new mail instead of being unlinked (the queue manager trims the rest each minute); 0 unlinks every one."),
	TIME("queue_run_delay", "300s", 's', 1, 10000 * DAY,
	     "How often the queue manager scans the deferred queue."),
	MAPS("recipient_canonical_maps", "",
	     "Tables that rewrite recipient addresses in the envelope and headers."),
	STR("recipient_delimiter", "",
	    "The characters that separate a user name from an address extension (user+tag); empty turns extensions off. With it, user+tag@domain that is not in a canonical or virtual alias table is looked up as user@domain (and user for a local domain) too, as in Postfix (see propagate_unmatched_extensions)."),
	LIST("relay_domains", "",
	     "Domains (with their subdomains; also .domain, !domain, /file and type:table items) that smtpd accepts mail for from any client and sends on over SMTP, as a backup MX or gateway; Tern has no parent_domain_matches_subdomains: a name always covers its subdomains."),
	MAPS("relay_recipient_maps", "",
	     "When set, the only recipients smtpd accepts in relay_domains (looked up as the address, the address without extension, then @domain); others get 550 5.1.1 User unknown in relay recipient table. Empty accepts any."),
	STR("relay_transport", "relay",
	    "The transport for the domains in relay_domains: relay (the smtp program, with its own concurrency per next hop), or transport:nexthop as in transport_maps; without a next hop, relayhost or the recipient domain."),
	STR("relayhost", "",
	    "The host that non-local mail is sent through instead of to the recipient domain's MX; empty sends directly."),
	MAPS("sender_canonical_maps", "",
	     "Tables that rewrite sender addresses in the envelope and headers."),
	STR("sendmail_path", TERN_COMMAND_DIR "/sendmail",
	    "Where the sendmail command is installed; tern check warns when it is not Tern's sendmail (when main.cf sets it, or on the system's own configuration)."),
	STR("setgid_group", TERN_DROP_GROUP,
	    "The group that terndrop runs set-group-ID as, which alone may write to maildrop/."),
	STRC("smtp_address_preference", "any", "any ipv4 ipv6",
	     "Which address family the SMTP client tries first when a host has both: any (in random order), ipv4 or ipv6."),
	STR("smtp_bind_address", "",
	    "The local IPv4 address the SMTP client connects from; empty lets the kernel choose."),
	STR("smtp_bind_address6", "",
	    "The local IPv6 address the SMTP client connects from; empty lets the kernel choose."),
	TIME("smtp_connect_timeout", "30s", 's', 1, 3600,
	     "How long the SMTP client waits for a TCP connection to a server."),
	TIME("smtp_connection_cache_time_limit", "2s", 's', 1, 3600,
	     "How long the SMTP client keeps an idle connection open for the next message to the same destination."),
	TIME("smtp_connection_reuse_time_limit", "300s", 's', 1, 86400,
	     "How long one SMTP connection may be reused for further messages after it was opened."),
	TIME("smtp_data_done_timeout", "600s", 's', 1, 86400,
	     "How long the SMTP client waits for the reply to the end of the message data."),
	TIME("smtp_data_init_timeout", "120s", 's', 1, 86400,
	     "How long the SMTP client waits for the reply to DATA."),
	TIME("smtp_data_xfer_timeout", "180s", 's', 1, 86400,
	     "How long the SMTP client may wait for the server to take more message data."),
	STR("smtp_destination_concurrency_limit", "$default_destination_concurrency_limit",
	    "The largest number of parallel SMTP deliveries to one next hop (the queue manager counts the smtp and relay transports apart, with this one limit for both); a value that is not a number from 1 to 10000 gives default_destination_concurrency_limit, with a warning."),
	STR("smtp_destination_recipient_limit", "$default_destination_recipient_limit",
	    "The largest number of recipients in one SMTP transaction; more are sent in further transactions on the same connection."),
	STRC("smtp_dns_support_level", "", "disabled enabled dnssec",
	     "DNS in the SMTP client: disabled (relayhost and transport next hops must be [address] or resolve through the host's name service), enabled (MX and address lookups; the default when empty), dnssec (answers validated against dns_trust_anchor_file, needed for DANE)."),
	STR("smtp_helo_name", "$myhostname",
	    "The name the SMTP client sends in EHLO and HELO."),
	TIME("smtp_helo_timeout", "300s", 's', 1, 86400,
	     "How long the SMTP client waits for the greeting and for the reply to EHLO or HELO."),
	LISTC("smtp_host_lookup", "dns", "dns native",
	      "How the SMTP client finds server addresses: dns (MX, A and AAAA records), native (the host's name service, getaddrinfo), or both in that order."),
	INT("smtp_line_length_limit", "998", 0, 1000000,
	    "Lines of the message longer than this are broken when sent over SMTP (a header line by folding, a body line with a line break), so that no line over the RFC 5322 limit leaves the host; 0 sends them as they are."),
	TIME("smtp_mail_timeout", "300s", 's', 1, 86400,
	     "How long the SMTP client waits for the reply to MAIL FROM."),
	BOOL("smtp_mta_sts", "yes",
	     "Tern only: whether the SMTP client applies a domain's MTA-STS policy (RFC 8461): with mode enforce, mail goes only to the MX hosts the policy names, over TLS with a verified certificate; with mode testing, failures are only logged; policies are fetched over HTTPS (verified against smtp_tls_CAfile or the system's CAs) and cached in data_directory/mta-sts until their max_age runs out."),
	INT("smtp_mx_address_limit", "5", 0, 1000,
	    "The largest number of server addresses the SMTP client tries for one delivery; 0 means no limit."),
	INT("smtp_mx_session_limit", "2", 0, 1000,
	    "The largest number of SMTP sessions (connections that got a greeting) the client has for one delivery before it defers; 0 means no limit."),
	TIME("smtp_quit_timeout", "300s", 's', 1, 86400,
	     "How long the SMTP client waits for the reply to QUIT."),
	TIME("smtp_rcpt_timeout", "300s", 's', 1, 86400,
	     "How long the SMTP client waits for the reply to RCPT TO."),
	BOOL("smtp_sasl_auth_enable", "no",
	     "Whether the SMTP client authenticates to servers that smtp_sasl_password_maps has a password for."),
	LIST("smtp_sasl_mechanism_filter", "",
	     "The AUTH mechanisms the SMTP client may use (of PLAIN and LOGIN); empty allows both."),
	MAPS("smtp_sasl_password_maps", "",
	     "Tables of user:password per server, looked up as [host]:port, [host], host:port or host (the relayhost or transport next hop as written), then the domain."),
	LISTC("smtp_sasl_security_options", "noplaintext, noanonymous", "noanonymous noplaintext nodictionary noactive mutual_auth",
	      "Which AUTH mechanisms the SMTP client may use without TLS: noplaintext keeps PLAIN and LOGIN (the only ones Tern has) for TLS sessions."),
	LISTC("smtp_sasl_tls_security_options", "noanonymous", "noanonymous noplaintext nodictionary noactive mutual_auth",
	      "The same as smtp_sasl_security_options, for sessions with TLS. Tern's default, noanonymous, lets PLAIN and LOGIN go over TLS; Postfix's ($smtp_sasl_security_options) would refuse them everywhere unless changed, which is what satellite setups always change."),
	BOOL("smtp_skip_5xx_greeting", "yes",
	     "Whether a 5xx greeting makes the SMTP client try the next server instead of bouncing the mail."),
	TIME("smtp_starttls_timeout", "300s", 's', 1, 86400,
	     "How long the SMTP client may take for the TLS handshake after STARTTLS."),
	STR("smtp_tls_CAfile", "",
	    "A file of trusted CA certificates (PEM) for verifying servers at levels verify and secure, and for MTA-STS; empty uses the system's store."),
	STR("smtp_tls_CApath", "",
	    "A directory of trusted CA certificates (hashed names, c_rehash) for the SMTP client; empty uses the system's store."),
	STRC("smtp_tls_ciphers", "medium", "high medium low export null",
	     "The cipher grade of opportunistic TLS (level may) in the SMTP client: high, or medium (low, export and null mean medium: Tern never offers weaker, unauthenticated or unencrypted suites)."),
	STRC("smtp_tls_mandatory_ciphers", "medium", "high medium low export null",
	     "The cipher grade of mandatory TLS (encrypt and above) in the SMTP client: high, or medium (low, export and null mean medium)."),
	LIST("smtp_tls_mandatory_protocols", ">=TLSv1",
	     "The TLS versions the SMTP client allows with mandatory TLS (encrypt and above): >=TLSv1.2, <=TLSv1.3, or !SSLv3, !TLSv1 lists; never below TLSv1.2."),
	MAPS("smtp_tls_policy_maps", "",
	     "Tables of TLS policy per next hop ([host]:port, [host], domain, .parent): a level (none, may, encrypt, dane, dane-only, verify, secure) with match= (names separated by colons), protocols= and ciphers= attributes, as Postfix writes them. An entry Tern cannot read (fingerprint, another attribute) defers the mail instead of lowering the level."),
	LIST("smtp_tls_protocols", ">=TLSv1",
	     "The TLS versions the SMTP client allows with opportunistic TLS (level may); never below TLSv1.2, whatever the list says."),
	LIST("smtp_tls_secure_cert_match", "nexthop, dot-nexthop",
	     "What a server certificate must name at level secure: nexthop (the next-hop domain), dot-nexthop (a subdomain of it), hostname (the MX host), or literal names."),
	STRC("smtp_tls_security_level", "may", "none may encrypt dane dane-only verify secure",
	     "SMTP client TLS: none, may (STARTTLS when offered, no certificate check, cleartext when it fails as Postfix falls back), encrypt (TLS required, no check), dane and dane-only (TLSA records validated with DNSSEC; without smtp_dns_support_level = dnssec dane acts as may), verify (a certificate from a trusted CA that names the MX host), secure (one that names the next-hop domain). Tern's default is may; Postfix's is none, which Debian's package sets to may."),
	LIST("smtp_tls_verify_cert_match", "hostname",
	     "What a server certificate must name at level verify: hostname (the MX host name), nexthop, dot-nexthop, or literal names."),
	STR("smtpd_banner", "$myhostname ESMTP $mail_name",
	    "The text after the 220 code of the SMTP greeting; it must start with the host name."),
	INT("smtpd_client_auth_rate_limit", "0", 0, 1000000000,
	    "The largest number of AUTH commands a client may send per anvil_rate_time_unit; 0 means no limit."),
	INT("smtpd_client_connection_count_limit", "50", 0, 1000000000,
	    "The largest number of simultaneous connections one client may have; 0 means no limit."),
	INT("smtpd_client_connection_rate_limit", "0", 0, 1000000000,
	    "The largest number of connections a client may make per anvil_rate_time_unit; 0 means no limit."),
	LIST("smtpd_client_event_limit_exceptions", "$mynetworks",
	     "Clients exempt from the connection, message and recipient limits."),
	INT("smtpd_client_message_rate_limit", "0", 0, 1000000000,
	    "The largest number of messages a client may send per anvil_rate_time_unit; 0 means no limit."),
	INT("smtpd_client_recipient_rate_limit", "0", 0, 1000000000,
	    "The largest number of recipients a client may give per anvil_rate_time_unit; 0 means no limit."),
	LIST("smtpd_client_restrictions", "",
	     "Restrictions applied when a client connects."),
	BOOL("smtpd_commit_syncfs", "yes",
	     "Tern only: queue files that smtpd's commit threads finish at the same time are made durable by one syncfs(2) of the queue file system instead of one fsync each (the directory is still fsynced after their renames)."),
	INT("smtpd_commit_threads", "8", 0, 256,
	    "Tern only: threads of smtpd that make queue files durable, so that one session's fsync never stalls the others; the only session open commits on the event loop when no commit is in flight (0: every session does)."),
	LIST("smtpd_data_restrictions", "",
	     "Restrictions applied at the DATA command."),
	BOOL("smtpd_delay_reject", "yes",
	     "Whether client, HELO and sender restrictions are applied at RCPT TO instead of earlier."),
	LIST("smtpd_dns_servers", "",
	     "Tern only: the name servers (IPv4 address, optionally :port; at most 3) that smtpd asks for reject_unknown_sender_domain and reject_unknown_recipient_domain instead of those of /etc/resolv.conf (empty: the system's)."),
	INT("smtpd_dns_threads", "4", 0, 256,
	    "Tern only: threads of smtpd that do the DNS lookups of the restrictions, so that a slow name server never stalls other sessions (0: on the event loop)."),
	LIST("smtpd_end_of_data_restrictions", "",
	     "Restrictions applied at the end of the message."),
	TIME("smtpd_error_sleep_time", "1s", 's', 0, 3600,
	     "How long the SMTP server waits before an error reply once the soft error limit is reached."),
	BOOL("smtpd_forbid_bare_newline", "yes",
	     "Whether a bare LF or bare CR in a command or in message data is refused (on: it stops SMTP smuggling)."),
	BOOL("smtpd_forbid_unauth_pipelining", "yes",
	     "Whether a client that sends commands ahead without having been offered PIPELINING is disconnected."),
	TIME("smtpd_greet_pause", "0s", 's', 0, 300,
	     "Tern only: how long smtpd waits before its greeting to clients outside smtpd_client_event_limit_exceptions; one that talks first is refused (an early talker)."),
	INT("smtpd_hard_error_limit", "20", 1, 100000,
	    "After this many errors in one session the SMTP server disconnects."),
	BOOL("smtpd_helo_required", "no",
	     "Whether a client must send HELO or EHLO before MAIL FROM."),
	LIST("smtpd_helo_restrictions", "",
	     "Restrictions applied to the HELO or EHLO name."),
	INT("smtpd_junk_command_limit", "100", 1, 100000,
	    "The largest number of NOOP, RSET, VRFY, ETRN and HELP commands per session that do not count as errors."),
	LIST("smtpd_milters", "",
	     "Milters applied to mail that arrives over SMTP, asked in the order listed, separated by commas or white space. Each is unix:/path (also local:/path, or the bare /path; the path must be absolute, where Postfix would take a relative one from queue_directory), inet:host:port, inet:[address]:port, inet6:[address]:port or inet6:address:port (an IPv6 address after inet: must be in brackets; the port is a number from 1 to 65535, not a service name), or, as in Postfix 3.0, a group in braces that gives one milter its own settings: { inet:127.0.0.1:8891, default_action = accept, command_timeout = 5s }. A group holds the address first, then any of connect_timeout, command_timeout, content_timeout (times as in main.cf, in seconds without a unit), default_action (accept, reject, tempfail or quarantine) and protocol (2 to 6), written name = value or name=value; what a group does not set comes from milter_connect_timeout, milter_command_timeout, milter_content_timeout, milter_default_action and milter_protocol. A list that does not parse (an unknown setting or address type, a bad port, a relative or empty path, braces that do not balance) is an error: tern check and tern start refuse it, naming the parameter, the word at fault and the main.cf or master.cf line."),
	INT("smtpd_min_data_rate", "500", 1, 1000000000,
	    "The slowest rate, in bytes per second, at which DATA and BDAT content must arrive: the content starts with smtpd_timeout to arrive in, and each read of N bytes adds N/smtpd_min_data_rate seconds, never more than smtpd_timeout ahead. Tern applies it always, as Postfix does with smtpd_per_record_deadline = yes (Postfix applies it only then, by default under stress)."),
	STR("smtpd_policy_service_default_action", "451 4.3.5 Server configuration problem",
	    "The access(5) action that check_policy_service uses when its policy server cannot be reached or does not answer in time (never an accept by accident)."),
	TIME("smtpd_policy_service_max_idle", "300s", 's', 1, 100 * DAY,
	     "How long smtpd keeps an idle connection to a policy server for the next request."),
	TIME("smtpd_policy_service_max_ttl", "1000s", 's', 1, 100 * DAY,
	     "How long smtpd uses one connection to a policy server before it opens a new one."),
	STR("smtpd_policy_service_policy_context", "",
	    "A string sent to policy servers as the policy_context attribute, to tell apart the places a server is called from."),
	INT("smtpd_policy_service_request_limit", "0", 0, 1000000000,
	    "How many requests smtpd sends over one connection to a policy server before it opens a new one; 0 means no limit."),
	TIME("smtpd_policy_service_retry_delay", "1s", 's', 0, 3600,
	     "How long smtpd waits before it tries a failed policy server again."),
	TIME("smtpd_policy_service_timeout", "100s", 's', 1, 100 * DAY,
	     "How long one policy server request may take (connect, send and answer) before smtpd gives up on that try."),
	INT("smtpd_policy_service_try_limit", "2", 1, 100,
	    "How many times smtpd tries a policy server per request before it uses smtpd_policy_service_default_action."),
	INT("smtpd_recipient_limit", "1000", 1, 100000000,
	    "The largest number of recipients one message may have over SMTP."),
	INT("smtpd_recipient_overshoot_limit", "1000", 1, 100000000,
	    "The number of recipients beyond smtpd_recipient_limit that count as an error."),
	LIST("smtpd_recipient_restrictions", "",
	     "Restrictions applied at RCPT TO, after smtpd_relay_restrictions; check_policy_service inet:host:port or unix:path asks a policy server (Postfix's policy delegation protocol)."),
	BOOL("smtpd_reject_unlisted_recipient", "yes",
	     "Whether RCPT TO is refused for an unknown local or virtual recipient."),
	BOOL("smtpd_reject_unlisted_sender", "no",
	     "Whether MAIL FROM is refused for an unknown sender address in a domain of this host."),
	LIST("smtpd_relay_restrictions", "permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination",
	     "Restrictions that decide at RCPT TO whether mail is relayed (Tern refuses with 554 5.7.1, not Postfix's deferring 454)."),
	BOOL("smtpd_sasl_auth_enable", "no",
	     "Whether the SMTP server offers AUTH."),
	BOOL("smtpd_sasl_authenticated_header", "no",
	     "Whether the Received: header of mail sent after AUTH says (Authenticated sender: user)."),
	TIME("smtpd_sasl_failure_delay", "1s", 's', 0, 3600,
	     "Tern only: how long smtpd holds its answer after a client address's first failed AUTH; each further failure from that address (across sessions) doubles it, up to smtpd_sasl_failure_max_delay (0: off)."),
	TIME("smtpd_sasl_failure_max_delay", "30s", 's', 0, 3600,
	     "Tern only: the longest smtpd_sasl_failure_delay grows to for one client address."),
	MAPS("smtpd_sasl_password_maps", "",
	     "Tern only: for smtpd_sasl_type = tern, tables of user names and crypt(3) password hashes."),
	STR("smtpd_sasl_path", "private/auth",
	    "For smtpd_sasl_type = dovecot, Dovecot's authentication socket, relative to queue_directory unless absolute."),
	LISTC("smtpd_sasl_security_options", "noanonymous",
	      "noanonymous noplaintext nodictionary noactive mutual_auth forward_secrecy",
	      "Which SASL mechanisms AUTH offers and accepts before TLS: noplaintext drops PLAIN and LOGIN, noanonymous ANONYMOUS, nodictionary all but EXTERNAL, noactive all but EXTERNAL and GSSAPI, mutual_auth keeps DIGEST-MD5, SCRAM and GSSAPI (Tern judges mechanisms by name, also Dovecot's)."),
	INT("smtpd_sasl_threads", "8", 0, 256,
	    "Tern only: threads of smtpd that run AUTH exchanges with the SASL backend, so that a slow answer never stalls other sessions (0: on the event loop)."),
	LISTC("smtpd_sasl_tls_security_options", "$smtpd_sasl_security_options",
	      "noanonymous noplaintext nodictionary noactive mutual_auth forward_secrecy",
	      "The same as smtpd_sasl_security_options, for sessions once TLS is on."),
	STRC("smtpd_sasl_type", "dovecot", "dovecot tern",
	     "The AUTH backend: dovecot (Dovecot's authentication socket) or tern (crypt(3) hashes in smtpd_sasl_password_maps)."),
	LIST("smtpd_sender_restrictions", "",
	     "Restrictions applied to the MAIL FROM address."),
	TIME("smtpd_session_time_limit", "3600s", 's', 0, 100 * DAY,
	     "Tern only: the longest an SMTP session may last from its connection, whatever the client does; then it gets 421 4.4.2 and is closed (0: no limit). Postfix has no such limit."),
	INT("smtpd_soft_error_limit", "10", 1, 100000,
	    "After this many errors in one session the SMTP server waits smtpd_error_sleep_time before each reply."),
	TIME("smtpd_starttls_timeout", "300s", 's', 1, 100 * DAY,
	     "How long a TLS handshake (after STARTTLS, or on a wrapper-mode port) may take, from its start to its end, before the connection is closed; a client that trickles its handshake gains nothing. Postfix applies it to each read and write instead."),
	TIME("smtpd_timeout", "300s", 's', 1, 100 * DAY,
	     "How long the SMTP server waits for a client: for the next command, for a command line to end from its first byte (a client that trickles a line byte by byte gains nothing), and the time DATA or BDAT content starts with (see smtpd_min_data_rate); then it answers 421 4.4.2 and disconnects."),
	BOOL("smtpd_tls_auth_only", "yes",
	     "Whether AUTH is offered only over TLS; Tern's default is yes (Postfix's is no), so that passwords never cross the network in clear text unless this is set to no."),
	STR("smtpd_tls_cert_file", "",
	    "The SMTP server's PEM certificate; STARTTLS is offered only when it is set."),
	LIST("smtpd_tls_chain_files", "",
	     "PEM files with keys and certificate chains, an alternative to smtpd_tls_cert_file and smtpd_tls_key_file."),
	STRC("smtpd_tls_ciphers", "medium", "export low medium high null",
	     "The cipher grade for opportunistic TLS 1.2: high leaves out SHA-1, CAMELLIA and ARIA suites; Tern treats every lower grade as medium."),
	STR("smtpd_tls_key_file", "$smtpd_tls_cert_file",
	    "The private key of the SMTP server's certificate."),
	INT("smtpd_tls_loglevel", "0", 0, 4,
	    "How much the SMTP server logs about TLS: 0 only failed handshakes, 1 one line per session with protocol and cipher, 2 and up also each handshake step and alert."),
	STRC("smtpd_tls_mandatory_ciphers", "medium", "export low medium high null",
	     "The cipher grade (as smtpd_tls_ciphers) where TLS is required: smtpd_tls_security_level = encrypt or smtpd_tls_wrappermode = yes."),
	LIST("smtpd_tls_mandatory_protocols", ">=TLSv1.2",
	     "The TLS versions accepted where TLS is required (encrypt, wrapper mode), in the syntax of smtpd_tls_protocols."),
	LIST("smtpd_tls_protocols", ">=TLSv1.2",
	     "The TLS versions accepted for opportunistic STARTTLS, Postfix's syntax (>=TLSv1.2, <=TLSv1.3, !TLSv1.2, TLSv1.3; separated by commas, spaces or colons); Tern never goes below TLS 1.2."),
	STRC("smtpd_tls_security_level", "", "none may encrypt",
	     "none, may (offer STARTTLS) or encrypt (require it); empty means may when a certificate is set, else none."),
	TIME("smtpd_tls_session_cache_timeout", "3600s", 's', 0, 100 * DAY,
	     "How long a TLS session may be resumed."),
	BOOL("smtpd_tls_wrappermode", "no",
	     "Whether the listener speaks TLS from the first byte (port 465, submissions) instead of STARTTLS."),
	BOOL("smtputf8_enable", "yes",
	     "Whether SMTPUTF8 is offered and UTF-8 addresses are accepted."),
	BOOL("soft_bounce", "no",
	     "Whether every bounce is turned into a deferral (for testing configurations)."),
	TIME("stale_lock_time", "500s", 's', 1, 100 * DAY,
	     "After how long a dot-lock file is considered left over and removed; one whose holder's process id is gone is removed at once."),
	BOOL("strict_mailbox_ownership", "yes",
	     "Whether local delivery refuses an mbox file not owned by the recipient."),
	BOOL("strict_rfc821_envelopes", "no",
	     "Whether MAIL FROM and RCPT TO addresses (smtpd and sendmail -bs) must be in angle brackets with no phrase or comment around them: with yes a bare address gets 501 5.1.7 (sender) or 501 5.1.3 (recipient), as in Postfix; with no bare addresses are tolerated."),
	BOOL("swap_bangpath", "yes",
	     "Whether a UUCP address site!user (also site!user@ a domain of mydestination) means user@site."),
	STRC("syslog_facility", "mail",
	     "auth authpriv cron daemon ftp kern lpr mail news syslog user uucp local0 local1 local2 local3 local4 local5 local6 local7",
	     "The syslog(3) facility of Tern's log lines when maillog_file is empty."),
	STR("syslog_name", "tern",
	    "The name that starts the program name in log lines, in syslog and in maillog_file (tern/smtpd); Postfix's default is postfix, or the instance name."),
	MAPS("transport_maps", "",
	     "Tables that route recipients, looked up as the address, the address without its extension, the domain, then .parent for each parent domain; the value is transport:nexthop: smtp:[host]:port, smtp:host, relay:..., local:, error:text (bounces; text may start with a 5.X.Y code), retry:text (defers), discard:text (marks delivered). An empty transport keeps the default one; an empty next hop means relayhost or the recipient domain (smtp, relay) or the domain (local). A failed lookup defers."),
	LIST("trusted_users", "",
	     "Tern only: users besides root, daemon and uucp who may set the sender with sendmail -f without an X-Authentication-Warning: header."),
	INT("unknown_local_recipient_reject_code", "550", 400, 599,
	    "The SMTP code (550, or e.g. 450 to have senders retry) with which smtpd refuses a local recipient that is no alias, account or local_maildir_base user."),
	LIST("virtual_alias_domains", "$virtual_alias_maps",
	     "Domains whose every address is an alias in virtual_alias_maps."),
	INT("virtual_alias_expansion_limit", "1000", 1, 1000000,
	    "The largest number of addresses one virtual alias expands to."),
	MAPS("virtual_alias_maps", "",
	     "Tables that redirect addresses to other local or remote addresses."),
	INT("virtual_alias_recursion_limit", "1000", 1, 1000000,
	    "The deepest nesting of virtual alias expansions."),
};

const unsigned param_count = sizeof(param_table) / sizeof(param_table[0]);

static int param_cmp(const void *key, const void *elem)
{
	return strcmp(key, ((const struct param_def *)elem)->name);
}

/* One slot per row, in the table's order (param_names.awk makes both from the rows). */
_Static_assert(sizeof(param_name_slot) / sizeof(param_name_slot[0]) ==
	       sizeof(param_table) / sizeof(param_table[0]),
	       "param_names.h has a slot for every row of param_table");

/*
 * A P_name is the slot of its row's index: the row at once (the daemons
 * look up dozens of parameters per message). Any other name (from
 * main.cf, a $name in a value, ternconf's arguments) by binary search.
 */
const struct param_def *param_find(const char *name)
{
	if (name == NULL)
		return NULL;
	uintptr_t off = (uintptr_t)name - (uintptr_t)param_name_slot;
	if (off < sizeof(param_name_slot) && off % PARAM_NAME_SLOT == 0)
		return &param_table[off / PARAM_NAME_SLOT];
	return bsearch(name, param_table, param_count, sizeof(param_table[0]), param_cmp);
}

/*
 * The host name as the system knows it, without any DNS lookup (an
 * instance must never need DNS). gethostname() may truncate without a
 * NUL, hence the explicit terminator.
 */
static const char *system_host_name(void)
{
	static char host[256];
	if (host[0] == '\0') {
		if (gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0')
			strlcpy(host, "localhost", sizeof(host));
		host[sizeof(host) - 1] = '\0';
	}
	return host;
}

/*
 * As Postfix: a host name without a dot gets ".localdomain" (config.c
 * uses $mydomain instead when main.cf sets it); mydomain is myhostname
 * without its first label, or "localdomain".
 */
const char *param_default(const struct param_def *p)
{
	static char fqdn[300];

	if (p == NULL)
		return NULL;
	if (p->def != NULL)
		return p->def;
	if (strcmp(p->name, "myhostname") == 0) {
		const char *host = system_host_name();
		if (strchr(host, '.') != NULL)
			return host;
		strlcpy(fqdn, host, sizeof(fqdn));
		strlcat(fqdn, ".localdomain", sizeof(fqdn));
		return fqdn;
	}
	if (strcmp(p->name, "mydomain") == 0) {
		const char *dot = strchr(system_host_name(), '.');
		return dot != NULL && dot[1] != '\0' ? dot + 1 : "localdomain";
	}
	if (strcmp(p->name, "config_directory") == 0)
		return config_default_dir();
	return "";
}

const char *param_type_name(enum param_type type)
{
	switch (type) {
	case PARAM_STRING: return "string";
	case PARAM_BOOL: return "boolean";
	case PARAM_INT: return "integer";
	case PARAM_TIME: return "time";
	case PARAM_SIZE: return "size";
	case PARAM_LIST: return "list";
	case PARAM_MAPS: return "maps";
	}
	return "string";
}
