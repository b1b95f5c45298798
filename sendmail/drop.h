/*
 * drop.h - the maildrop writer: what runs with the group setgid_group.
 *
 * Shared by terndrop(8) (its whole main) and by sendmail(8), whose
 * set-group-ID copy either opens its maildrop file itself at entry
 * (drop_direct_open, a plain submission) or forks a child running
 * drop_serve(), before it reads anything of its caller's, and then
 * drops the group for good (sendmail_priv.c). Every function here but
 * drop_direct_feed/finish runs with the group held, so each reads
 * only: the kernel's real uid, the default
 * main.cf (and a directory it lists in alternate_config_directories),
 * and the record stream of lib/mail/droprec.h, checked strictly.
 */
#ifndef TERN_SENDMAIL_DROP_H
#define TERN_SENDMAIL_DROP_H

#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"

/*
 * First thing, before any input: descriptors 0-2 open, signal handlers
 * that only unlink the temporary file and _exit, umask 077, the one
 * environment value kept (TERN_CONFIG_DIR) saved and the environment
 * cleared. prog is the program named in messages ("terndrop" or
 * "sendmail": the one that must be set-group-ID).
 */
void drop_harden(const char *prog);

/*
 * Load the configuration: wanted (-C) or the saved TERN_CONFIG_DIR or
 * the default. A non-default directory is honoured for an unprivileged
 * caller of a set-id process only when the default main.cf lists it in
 * alternate_config_directories. Exits with a sysexits status otherwise.
 */
void drop_config(const char *wanted);

/*
 * Read one record stream from fd (in holds bytes already read, from
 * offset off on), check it (authorized_submit_users, local_login_sender_maps,
 * message_size_limit, queue_minfree) and write one durable maildrop
 * file; its id into id. Returns 0; exits with a sysexits status and one
 * line on standard error on any failure, leaving no file behind.
 */
int drop_message(int fd, struct buf *in, size_t off, char *id, size_t idlen);

/*
 * The privileged child of a set-group-ID sendmail: reads one request
 * on fd, a record 'Q' of droprec.h framing whose data is an operation
 * letter followed by the configuration directory the caller asked for
 * (empty for the default):
 *   'D'  the record stream of one message follows (drop_message);
 *   'P'  list the queue on standard output, as mailq shows it.
 * End of input before a request: exit 0, nothing done.
 */
void drop_serve(int fd) __attribute__((noreturn));

/*
 * One-process submission (plain -bm/-t of a set-group-ID sendmail,
 * sendmail_priv.c). drop_direct_open() runs while the group is held,
 * before anything of the caller's but its -C or TERN_CONFIG_DIR is
 * read: signal handlers that truncate the file, umask 077, the
 * configuration (drop_config(wanted)), authorized_submit_users,
 * queue_minfree, then the maildrop file under its final name, mode
 * 0200, first record written (qfile_create_final). Exits with a
 * sysexits status on failure, leaving nothing behind. After it the
 * caller drops the group for good; any later exit but a successful
 * drop_direct_finish() truncates the file (atexit and the signal
 * handlers) and leaves it 0200 for pickup to remove.
 * drop_direct_feed() takes whole records of droprec.h (the stream
 * drop_message reads) and applies the same checks; a bad one exits.
 * drop_direct_finish() after the E record: commit (qfile_commit_final),
 * log, wake pickup; EX_OK, or exits EX_TEMPFAIL.
 */
void drop_direct_open(const char *wanted);
void drop_direct_feed(const char *data, size_t len);
int drop_direct_finish(char *id, size_t idlen);

#define DROP_REQ_DROP	'D'
#define DROP_REQ_LIST	'P'

#endif
