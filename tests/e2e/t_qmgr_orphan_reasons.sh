#!/bin/sh
# t_qmgr_orphan_reasons.sh - delay reasons in defer/ of a message that no
# queue holds any more (their removal failed, or a crash came between the
# message's removal and theirs) are removed when qmgr starts; those of a
# message still queued (deferred, or on hold) stay; so does a temporary
# file of the reasons' writer while it lives, not once it is gone.
. "$(dirname "$0")/lib.sh"
need_cmd python3

tern_instance
dead=$(free_port)
ternconf -e "relayhost = [127.0.0.1]:$dead" || fail "ternconf -e"
tern_start
qdir="$TERN_DIR/queue"

# deferred_id RCPT: send to RCPT and wait for its reasons; print its queue id.
deferred_id() {
	printf 'Subject: x\n\nbody\n' | sendmail -i -f alice@localhost "$1" || fail "sendmail"
	wait_for "the deferral of $1" grep -q "to=<$1>.*status=deferred" "$TERN_DIR/maillog"
	_id=$(sed -n "s/.*: \([0-9A-F]*\): to=<$1>.*status=deferred.*/\1/p" "$TERN_DIR/maillog" | head -n 1)
	wait_for "defer/$_id" test -f "$qdir/defer/$_id"
	echo "$_id"
}
kept=$(deferred_id kept@remote.example)
held=$(deferred_id held@remote.example)
gone=$(deferred_id gone@remote.example)
ternqueue -h "$held" || fail "ternqueue -h"
tern_stop

# The third message goes, its reasons stay behind: an orphan.
find "$qdir" -name "$gone" ! -path '*/defer/*' -exec rm {} + || fail "remove $gone"
[ -f "$qdir/defer/$gone" ] || fail "no orphan to test with"
# Temporary files of a writer gone and of one alive (this shell).
sh -c 'exit 0' & dead_pid=$!
wait "$dead_pid"
echo x > "$qdir/defer/.$kept.$dead_pid"
echo x > "$qdir/defer/.$kept.$$"

tern_start
wait_for_log "defer/$gone: removed, the delay reasons of a message no longer queued"
wait_for_log "defer/.$kept.$dead_pid: removed, left by a writer that is gone"
[ -f "$qdir/defer/.$kept.$$" ] || fail "the temporary file of a live writer was removed"
rm -f "$qdir/defer/.$kept.$$"
[ ! -e "$qdir/defer/$gone" ] || fail "the orphan reasons are still there"
[ -f "$qdir/defer/$kept" ] || fail "the reasons of a deferred message were removed"
[ -f "$qdir/defer/$held" ] || fail "the reasons of a held message were removed"
if grep -Eq "defer/($kept|$held): removed" "$TERN_DIR/maillog"; then
	fail "a queued message's reasons were called orphans"
fi
tern_stop
pass
