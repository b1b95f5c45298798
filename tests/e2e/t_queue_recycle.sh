#!/bin/sh
# t_queue_recycle.sh - spent queue files are reused (lib/mail/qrecycle.h):
# a delivered message's file waits in recycle/ as it is (its message, its
# blocks), and the next message taken in over SMTP is written over it
# (same inode, which the queue id ends with); with queue_recycle_limit = 0
# files are unlinked. A name that a crash left pointing at a spare is
# removed at the next start, with a log line, and neither delivered nor
# called corrupt.
. "$(dirname "$0")/lib.sh"

tern_instance
qdir=$(ternconf -c "$TERN_DIR" -h queue_directory 2>/dev/null) || qdir="$TERN_DIR/queue"
tern_start

spares() { ls "$qdir/recycle" | wc -l; }
# Functions for wait_for, so that each try looks again (an argument's
# "$(...)" would be expanded once, before the first try).
_spare_there() { [ "$(spares)" -ge 1 ]; }
_queue_empty() { [ -z "$(ls -A "$qdir/incoming" "$qdir/active" | grep -v :)" ]; }
send() {
	reply=$(smtp_send someone@example.org keep@localhost "$1")
	case $reply in 250*) ;; *) fail "SMTP DATA reply for $1: $reply" ;; esac
}

send first
wait_for_mail keep 1
wait_for "the spent file in recycle/" _spare_there
spare=$(ls "$qdir/recycle" | head -n 1)
grep -aqx "I $spare" "$qdir/recycle/$spare" || fail "recycle/$spare does not hold its own message as it was"
ino=$(stat -c %i "$qdir/recycle/$spare")
sleep 1.2	# smtpd looks at an empty pool again after a second

send second
wait_for_mail keep 2
# The delivery's to= line is logged once local has answered, after the
# mail is in new/: wait for the second one, else the last is the first's.
_two_logged() { [ "$(grep -c ': to=<keep@localhost>' "$TERN_DIR/maillog")" -ge 2 ]; }
wait_for "the second delivery's log line" _two_logged
id=$(grep -o '[0-9A-F]*: to=<keep@localhost>' "$TERN_DIR/maillog" | tail -n 1 | cut -d: -f1)
[ -n "$id" ] || fail "no delivery logged for the second message"
# The id ends with the inode number in hex: the spare was reused.
case $id in *"$(printf '%X' "$ino")") ;; *) fail "queue id $id does not reuse inode $ino" ;; esac

# A stale second name of the spare, as a crash can leave in active/.
# The file goes to recycle/ after the to= line, before "removed"; a stop
# in between would kill the delivery process with the file still active.
wait_for_log "$id: removed"
tern_stop
spare=$(ls "$qdir/recycle" | head -n 1)
[ -n "$spare" ] || fail "no spare file after the second delivery"
ln "$qdir/recycle/$spare" "$qdir/active/$spare" || fail "ln"
before=$(grep -c "$spare: to=" "$TERN_DIR/maillog")
tern_start
wait_for_log "$spare: stale name of a reused queue file"
wait_for "the stale name gone" test ! -e "$qdir/active/$spare"
[ -e "$qdir/recycle/$spare" ] || fail "the spare itself was removed"
[ -z "$(ls -A "$qdir/corrupt")" ] || fail "the stale name went to corrupt/"
[ "$(grep -c "$spare: to=" "$TERN_DIR/maillog")" = "$before" ] || fail "the stale name was delivered"

# Off: delivered files are unlinked and the pool is not used.
ternconf -c "$TERN_DIR" -e queue_recycle_limit=0 >/dev/null || fail "ternconf -e"
tern_stop
rm -f "$qdir"/recycle/*
tern_start
send third
wait_for_mail keep 3
wait_for "the queue to empty" _queue_empty
sleep 1
[ "$(spares)" = 0 ] || fail "queue_recycle_limit = 0 still kept $(spares) file(s)"
pass
