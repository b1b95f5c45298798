/*
 * qwake.h - wake the queue manager.
 *
 * Mail layer, no privileges of its own. cleanup calls qwake_send() after
 * every commit into incoming/ (so delivery starts at once, not at the
 * next scan); a lost wake-up only delays delivery until qmgr's next
 * one-second scan, so errors are ignored. The channel is a UNIX datagram
 * socket at queue_directory/private/qmgr, bound by qmgr; each datagram is
 * one request word: "W" new mail in incoming/, "F" flush (retry all
 * deferred mail now), "D" look at deferred/ now for mail that is due
 * (after a filtered flush made some of it due). Tools that are not Tern's own processes use the
 * public stream socket public/qmgr instead (daemon_trigger(..., "flush")).
 */
#ifndef TERN_MAIL_QWAKE_H
#define TERN_MAIL_QWAKE_H

#define QWAKE_NEW	"W"
#define QWAKE_FLUSH	"F"
#define QWAKE_DUE	"D"
#define QWAKE_SOCKET	"private/qmgr"	/* relative to queue_directory */

/* Send one request word to QUEUE_DIR/private/qmgr; 0 sent, -1 not (ignored by callers). */
int qwake_send(const char *queue_dir, const char *request);
/* The same to an explicit socket path (cleanup keeps the path it was given). */
int qwake_send_path(const char *socket_path, const char *request);

#endif
