#!/bin/sh
# t_queue_short_link.sh - second names of queue files whose link count a
# crash left short (ext4 without a journal, no e2fsck since the crash):
# two names for one inode that counts one link. Unlinking either name
# would free the inode under the other, which a writer may then take for
# a new message; qmgr moves such a name, and the pool's name of the same
# inode, into corrupt/links/ (qrecycle_park), where neither the pool nor
# corrupt_queue_limit's trim looks, logs that e2fsck is to be run, and
# neither delivers the name nor unlinks anything. Two cases (qfile.c,
# QF_LINKS): a name in active/ of a spare in recycle/ (a give the crash
# half undid; the spare is made pending again and from an earlier boot,
# as only such a file with one link is looked up in the pool: status bytes
# and the end record's boot are outside the checksum), and a name in
# active/ of a live deferred message (whose queue id ends with the inode
# number). The names are made with debugfs's ln, which leaves the link
# count alone, on a journal-less ext4 of the test's own. A third case: a
# temporary name in incoming/ of a held message (what a crash can leave of
# a commit into hold/), which qmgr would otherwise remove as left by a
# writer that is gone.
. "$(dirname "$0")/lib.sh"
need_root
need_cmd mkfs.ext4 debugfs perl

tern_instance
ternconf -c "$TERN_DIR" -e 'transport_maps = inline:{ { later@localhost = retry:4.4.1 not now } }' >/dev/null \
	|| fail "ternconf -e transport_maps"
tern_queue_ext4 -O ^has_journal
qdir=$TERN_DIR/queue
tern_start

send() {
	reply=$(smtp_send someone@example.org "$1" "$2")
	case $reply in 250*) ;; *) fail "SMTP DATA reply for $2: $reply" ;; esac
}
_spare_there() { [ -n "$(ls "$qdir/recycle")" ]; }
_deferred_there() { [ -n "$(ls "$qdir/deferred")" ]; }
# The deferred one first: a commit after the delivery could take the spare.
send later@localhost "deferred sample"
wait_for "a deferred message" _deferred_there
send keep@localhost "short link sample"
wait_for_mail keep 1
wait_for "the spent file in recycle/" _spare_there
wait_for_log ": removed"
tern_stop
spare=$(ls "$qdir/recycle" | head -n 1)
live=$(ls "$qdir/deferred" | head -n 1)
[ -n "$spare" ] && [ -n "$live" ] || fail "no spare or no deferred message"
spare_ino=$(stat -c %i "$qdir/recycle/$spare")
live_ino=$(stat -c %i "$qdir/deferred/$live")
# A queue id of the same form for the live message's second name: its
# last character changed, so that it names no file of this queue.
case $live in *0) other=${live%0}1 ;; *) other=${live%?}0 ;; esac
[ "$other" != "$spare" ] || fail "the names made up collide"

# In place (same inode): every recipient pending, the boot another one's.
perl -e '
	open(my $f, "+<", $ARGV[0]) or die "$ARGV[0]: $!\n";
	local $/; my $s = <$f>;
	$s =~ s/^R[A-Z]/R-/mg;
	$s =~ s/\nE [0-9a-f]{32} /\nE 0123456789abcdef0123456789abcdef / or die "no end record\n";
	seek($f, 0, 0) or die "seek: $!\n"; print $f $s or die "write: $!\n"; close($f) or die "close: $!\n";
' "$qdir/recycle/$spare" || fail "cannot edit recycle/$spare"
[ "$(stat -c %i "$qdir/recycle/$spare")" = "$spare_ino" ] || fail "the edit changed the spare's inode"

# ln_short FROM TO: TO a second name of FROM's inode, its count left alone
# (the file system unmounted meanwhile; the instance is stopped).
ln_short() {
	umount "$qdir" || fail "umount"
	debugfs -w -R "ln $1 $2" "$TERN_DIR/queue.img" >"$TERN_DIR/debugfs.out" 2>&1 \
		|| { cat "$TERN_DIR/debugfs.out" >&2; fail "debugfs ln $1 $2"; }
	mount -o loop "$TERN_DIR/queue.img" "$qdir" || fail "mount again"
	[ "$(stat -c %i "$qdir/$2")" = "$(stat -c %i "$qdir/$1")" ] || fail "$2 is not $1's inode: $(ls -li "$qdir/${1%/*}" "$qdir/${2%/*}" 2>&1; cat "$TERN_DIR/debugfs.out")"
	[ "$(stat -c %h "$qdir/$2")" = 1 ] || fail "$2: the link count is not short"
}
links=$qdir/corrupt/links
delivered=$(grep -c "$spare: to=\|$other: to=" "$TERN_DIR/maillog")

# One case at a time: each sends postmaster a notice, whose queue file may
# be a spare from the pool. qmgr trims the pool at its start, all of it on
# this small file system (room is short for a 10 MB message_size_limit):
# never the pool's name of a file with a second name in the queue.
ln_short "recycle/$spare" "active/$spare"
tern_start
wait_for_log "$spare: .*short link count \(run e2fsck\); moved to corrupt/links/ with the pool's name"
wait_for "the name gone from active/" test ! -e "$qdir/active/$spare"
[ "$(stat -c %i "$links/$spare.active")" = "$spare_ino" ] || fail "no $spare.active in corrupt/links/"
[ "$(stat -c %i "$links/$spare.recycle")" = "$spare_ino" ] || fail "the pool's name was not parked"
[ ! -e "$qdir/recycle/$spare" ] || fail "the spare is still in the pool"
tern check >"$TERN_DIR/check.out" 2>&1
grep -q "2 names of queue files whose link count a crash left short.*run e2fsck" "$TERN_DIR/check.out" \
	|| fail "tern check does not tell: $(cat "$TERN_DIR/check.out")"
tern_stop

ln_short "deferred/$live" "active/$other"
tern_start
wait_for_log "$other: .*holds queue id $live, written into this inode.*moved to corrupt/links/: "
wait_for "the name gone from active/" test ! -e "$qdir/active/$other"
[ "$(stat -c %i "$links/$other.active")" = "$live_ino" ] || fail "no $other.active in corrupt/links/"

[ "$(stat -c %i "$qdir/deferred/$live")" = "$live_ino" ] || fail "the deferred message lost its name"
grep -aqx "I $live" "$qdir/deferred/$live" || fail "the deferred message's file changed"

# A commit into hold/ renames its temporary file across directories, and a
# crash can leave the temporary name with the count short: qmgr's removal
# of temporary files left by writers that are gone parks it instead.
ternqueue -h "$live" || fail "ternqueue -h $live"
wait_for "the message in hold/" test -e "$qdir/hold/$live"
tern_stop
temp=.tmp.2147483000.1.1	# a process id that no process has
ln_short "hold/$live" "incoming/$temp"
tern_start
wait_for_log "incoming/$temp: a second name of queue file $live with one link counted.*corrupt/links/"
[ ! -e "$qdir/incoming/$temp" ] || fail "the temporary name is still in incoming/"
[ "$(stat -c %i "$links/$live.incoming")" = "$live_ino" ] || fail "no $live.incoming in corrupt/links/"
[ "$(stat -c %i "$qdir/hold/$live")" = "$live_ino" ] || fail "the held message lost its name"
# corrupt_queue_limit's trim removes regular files of corrupt/ only: with
# a limit of 1, two junk files moved there (deferred files that do not
# parse, taken at a flush) make it remove the older; the parked names stay.
ternconf -c "$TERN_DIR" -e corrupt_queue_limit=1 >/dev/null || fail "ternconf -e corrupt_queue_limit"
started=$(grep -c 'qmgr\[.*: started' "$TERN_DIR/maillog")
tern_reload
# The flush below goes to the new qmgr (one being stopped drops it).
_restarted() { [ "$(grep -c 'qmgr\[.*: started' "$TERN_DIR/maillog")" -gt "$started" ]; }
wait_for "qmgr started again" _restarted
made=0
for c in 5 6 7 8 9; do
	junk=${live%?}$c	# names no file of this queue
	[ "$junk" != "$live" ] && [ "$junk" != "$other" ] && [ "$made" -lt 2 ] || continue
	echo "not a queue file" >"$qdir/deferred/$junk" || fail "junk file"
	chown "$(stat -c %u "$qdir/deferred")" "$qdir/deferred/$junk"
	touch -d '1 hour ago' "$qdir/deferred/$junk"
	made=$((made + 1))
done
ternqueue -f >/dev/null || fail "ternqueue -f"
wait_for_log "removed: more than corrupt_queue_limit \(1\)"
[ "$(stat -c %i "$links/$spare.active")" = "$spare_ino" ] || fail "a parked name was removed"
[ "$(stat -c %i "$links/$other.active")" = "$live_ino" ] || fail "a parked name was removed"
[ "$(grep -c "$spare: to=\|$other: to=" "$TERN_DIR/maillog")" = "$delivered" ] || fail "a parked name was delivered"
[ "$(ls "$TERN_DIR/mail/keep/new" | wc -l)" = 1 ] || fail "a second copy reached the mailbox"
pass
