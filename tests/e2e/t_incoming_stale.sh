#!/bin/sh
# t_incoming_stale.sh - temporary queue files that a writer killed
# between create and commit leaves in incoming/ (".tmp.PID...") are
# removed when the queue manager starts, once their writer is gone;
# nothing in them was acknowledged. Kept: the file of a live writer
# (smtpd may be at work while qmgr starts) and a file with a second name
# (a system crash can leave one as another name of a committed message).
. "$(dirname "$0")/lib.sh"

need_root
tern_instance
owner=$(ternconf -h mail_owner) || fail "ternconf mail_owner"
qdir=$(ternconf -h queue_directory 2>/dev/null) || qdir="$TERN_DIR/queue"

# A pid that is surely gone: a process that ran and was reaped.
sh -c 'exit 0' & dead=$!
wait $dead
kill -0 "$dead" 2>/dev/null && skip "pid $dead came back already"
stale="$qdir/incoming/.tmp.$dead.0.123456"
live="$qdir/incoming/.tmp.$$.0.123456"
linked="$qdir/incoming/.tmp.$dead.1.123456"
printf 'TERNQ 1\nT 1.000000\nI half\n' >"$stale"
printf 'TERNQ 1\n' >"$live"
printf 'TERNQ 1\n' >"$linked"
ln "$linked" "$qdir/incoming/second-name" || fail "ln"
chown "$owner" "$stale" "$live" "$linked"

tern_start
wait_for_log "removed incoming/\\.tmp\\.$dead\\.0\\.123456, left by process $dead"
# qmgr's look at incoming/ at start is over (the other files may come
# after the stale one in it) once it logs that it started.
wait_for_log "tern/qmgr\\[[0-9]+\\]: started, "
[ -e "$stale" ] && fail "the stale temporary file is still there"
[ -e "$live" ] || fail "the file of a live writer ($$) was removed"
[ -e "$linked" ] || fail "a file with a second name was removed"
# And the queue works: a message goes through.
echo "Subject: after" | submit -i postmaster@localhost || fail "sendmail failed"
wait_for_log "status=sent"
rm -f "$live" "$linked" "$qdir/incoming/second-name"
pass
