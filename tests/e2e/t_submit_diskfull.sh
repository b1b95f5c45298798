#!/bin/sh
# t_submit_diskfull.sh - running out of disk space makes sendmail exit 75
# (temporary failure) and loses nothing already queued: first with fault
# injection in the queue layer (every write/fsync/rename of terndrop and
# pickup can fail), then, where the machine allows mounting one, on a
# real full tmpfs.
. "$(dirname "$0")/submitlib.sh"

submit_instance
export TERN_CONFIG_DIR="$SUB_DIR"
drop="$SUB_DIR/queue/maildrop"

# Something queued before the disk fills: one in incoming/, one waiting in maildrop/.
printf 'Subject: first\n\nkeep me\n' | sendmail a@example.net || fail "first submission"
run_pickup
first=$(newest_queue_file)
sum_first=$(md5sum <"$first")
printf 'Subject: second\n\nkeep me too\n' | sendmail b@example.net || fail "second submission"
second=$(ls "$drop")
sum_second=$(md5sum <"$drop/$second")

# What a failed submission may leave: sendmail writes its maildrop file in
# place (mode 0200 until complete) and, once it has dropped the group that
# let it create the file, cannot remove it: before it was made readable it
# is emptied, after (a failed sync) it is given its 0200 back whole, since
# pickup may have it open. pickup reads only 0644 files and removes 0200
# ones later, so what pickup would take is what is not 0200.
deliverable() { find "$1" -mindepth 1 ! -perm 0200 -printf '%f\n'; }

# Every way the queue write can fail: sendmail says 75 and one clear line; nothing is left behind
# but a 0200 file (sendmail writes in place: no rename; terndrop's rename is below).
for fault in open:1:ENOSPC write:1:ENOSPC write:2:ENOSPC fsync:1:EIO fsync:1:EDQUOT; do
	printf 'Subject: big\n\n%s\n' "$(head -c 3000 /dev/zero | tr '\0' x)" |
		TERN_QFILE_FAULT=$fault sendmail c@example.net 2>"$SUB_DIR/err"
	rc=$?
	[ $rc = 75 ] || fail "$fault: sendmail exited $rc, want 75"
	[ "$(wc -l <"$SUB_DIR/err")" = 1 ] || fail "$fault: want one line on stderr: $(cat "$SUB_DIR/err")"
	[ "$(deliverable "$drop")" = "$second" ] || fail "$fault: maildrop/ holds $(ls -lA "$drop")"
	case $fault in open:1:*|write:1:*)
		[ "$(ls -A "$drop")" = "$second" ] || fail "$fault: a file left before the group was dropped: $(ls -lA "$drop")"
	esac
done
# terndrop (sendmail -bs, and anything else that runs it) still writes a temporary file and renames it.
for fault in open:1:ENOSPC write:1:ENOSPC fsync:1:EIO rename:1:EDQUOT; do
	printf 'EHLO x\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<c@example.net>\r\nDATA\r\nSubject: bs\r\n\r\nx\r\n.\r\nQUIT\r\n' |
		TERN_QFILE_FAULT=$fault sendmail -bs >"$SUB_DIR/bs.out" 2>&1
	grep -q '^4[0-9][0-9] ' "$SUB_DIR/bs.out" || fail "$fault: -bs gave no 4xx reply: $(cat "$SUB_DIR/bs.out")"
	[ "$(deliverable "$drop")" = "$second" ] || fail "$fault: -bs left $(ls -lA "$drop")"
done
[ "$(md5sum <"$drop/$second")" = "$sum_second" ] || fail "the waiting message changed"

# pickup on a full disk: the maildrop file stays until cleanup succeeds.
TERN_QFILE_FAULT=write:1:ENOSPC:all pickup -c "$SUB_DIR" >/dev/null 2>&1 &
pid=$!
grep_deferred() { grep -q "deferred: .*No space left" "$SUB_DIR/maillog"; }
wait_for "pickup to defer on a full disk" grep_deferred
kill $pid
wait $pid 2>/dev/null
[ -f "$drop/$second" ] || fail "pickup lost the maildrop file on a full disk"
[ "$(ls "$SUB_DIR/queue/incoming" | wc -l)" = 1 ] || fail "pickup left a partial queue file"
ls -A "$SUB_DIR/queue/incoming" | grep -q '^\.' && fail "pickup left a temporary file"
run_pickup
[ "$(ls "$SUB_DIR/queue/incoming" | wc -l)" = 2 ] || fail "the waiting message was not queued afterwards"
[ "$(md5sum <"$first")" = "$sum_first" ] || fail "the first queued message changed"

# A writer killed outright leaves its temporary file: pickup removes it once it is a day old.
touch -d '2 days ago' "$drop/.tmp.1.2.3"
touch "$drop/.tmp.4.5.6"
run_pickup_once() {
	pickup -c "$SUB_DIR" >/dev/null 2>&1 &
	_p=$!
	wait_for "pickup to remove the stale file" sh -c "! test -e '$drop/.tmp.1.2.3'"
	kill $_p
	wait $_p 2>/dev/null
}
run_pickup_once
[ -e "$drop/.tmp.4.5.6" ] || fail "pickup removed a fresh temporary file"
rm -f "$drop/.tmp.4.5.6"

# A real full file system, when we may mount one.
if [ "$(id -u)" = 0 ]; then
	mnt=$(mktemp -d /tmp/tern-full.XXXXXX)
	if mount -t tmpfs -o size=1m tern-test "$mnt" 2>/dev/null; then
		at_cleanup "umount $mnt; rmdir $mnt"
		submit_instance "$mnt/inst"
		export TERN_CONFIG_DIR="$SUB_DIR"
		printf 'Subject: small\n\nfits\n' | sendmail a@example.net || fail "tmpfs: first submission"
		kept=$(ls "$SUB_DIR/queue/maildrop")
		sum=$(md5sum <"$SUB_DIR/queue/maildrop/$kept")
		dd if=/dev/zero of="$mnt/filler" bs=1k count=2000 2>/dev/null
		head -c 200000 /dev/zero | tr '\0' y | fold -w 70 | sed '1i\
Subject: too big for the disk
' | sendmail b@example.net 2>"$SUB_DIR/../err"
		rc=$?
		[ $rc = 75 ] || fail "tmpfs: sendmail exited $rc on a full disk, want 75"
		[ "$(deliverable "$SUB_DIR/queue/maildrop")" = "$kept" ] || fail "tmpfs: maildrop/ holds $(ls -lA "$SUB_DIR/queue/maildrop")"
		[ "$(md5sum <"$SUB_DIR/queue/maildrop/$kept")" = "$sum" ] || fail "tmpfs: the queued message changed"
		rm -f "$mnt/filler"
		printf 'Subject: again\n\nroom now\n' | sendmail c@example.net || fail "tmpfs: no submission after space came back"
	else
		rmdir "$mnt"
		echo "note: cannot mount a tmpfs here; fault injection only"
	fi
fi
pass
