#!/bin/sh
# t_queue_checksum.sh - a queue file written in an earlier boot is read
# only if its checksum holds (lib/mail/qfile.h, format version 2): what a
# crash can leave when a message was written over a spare and the system
# stopped before its fsync ended. Such a file goes to corrupt/ with a log
# line and is not delivered; the same file whole is delivered, and so is
# a file of this boot (whose content the page cache holds as written).
# Files of an earlier boot are made here from a real one by changing the
# boot its end record names, which the checksum does not cover.
. "$(dirname "$0")/lib.sh"

tern_instance
qdir=$(ternconf -c "$TERN_DIR" -h queue_directory 2>/dev/null) || qdir="$TERN_DIR/queue"
tern_start

send() {
	reply=$(smtp_send someone@example.org keep@localhost "$1")
	case $reply in 250*) ;; *) fail "SMTP DATA reply for $1: $reply" ;; esac
}
_spare_there() { [ -n "$(ls "$qdir/recycle")" ]; }

send "checksum sample"
wait_for_mail keep 1
wait_for "the spent file in recycle/" _spare_there
wait_for_log ": removed"
tern_stop
id=$(ls "$qdir/recycle" | head -n 1)
[ -n "$id" ] || fail "no spare after the delivery"
sample="$TERN_DIR/sample"
cp "$qdir/recycle/$id" "$sample" || fail "cp"
grep -aqx 'TERNQ 2' "$sample" || fail "the queue file is not format 2: $(head -c 100 "$sample")"
[ $(( $(stat -c %s "$sample") % 4096 )) = 0 ] || fail "the queue file is not padded to 4096"
rm -f "$qdir"/recycle/*	# no spare: the ids below are made from it

# Pending again (status bytes are outside the checksum), and from another boot.
other_boot() {	# FILE: the end record's boot field set to another boot's
	perl -0777 -pi -e 's/^R[A-Z]/R-/mg; s/\nE [0-9a-f]{32} /\nE 0123456789abcdef0123456789abcdef /' "$1"
}
other_boot "$sample"
grep -aq '^E 0123456789abcdef0123456789abcdef ' "$sample" || fail "cannot set the boot: $(tail -c 4096 "$sample" | tr -d '\000')"

# One content byte changed: the checksum catches it.
cp "$sample" "$qdir/incoming/$id"
perl -0777 -pi -e 's/checksum sample/checksum simple/' "$qdir/incoming/$id"
grep -aq 'checksum simple' "$qdir/incoming/$id" || fail "cannot change the content"
chown "$(stat -c %U "$qdir/incoming")" "$qdir/incoming/$id"
tern_start
wait_for_log "$id: .*checksum"
wait_for "the file in corrupt/" test -e "$qdir/corrupt/$id"
sleep 1
[ "$(ls "$TERN_DIR/mail/keep/new" | wc -l)" = 1 ] || fail "the file whose checksum fails was delivered"

# The same file whole: delivered.
tern_stop
rm -f "$qdir/corrupt/$id"
cp "$sample" "$qdir/incoming/$id"
chown "$(stat -c %U "$qdir/incoming")" "$qdir/incoming/$id"
tern_start
wait_for_mail keep 2
[ "$(grep -c "$id: .*checksum" "$TERN_DIR/maillog")" = 1 ] || fail "the whole file was called corrupt"
grep -a 'checksum simple' "$TERN_DIR"/mail/keep/new/* && fail "the changed content was delivered"
pass
