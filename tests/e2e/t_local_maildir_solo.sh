#!/bin/sh
# t_local_maildir_solo.sh - a request alone (hold 0: what qmgr sends when
# it does not batch) has its Maildir file committed inside the switch of
# ids that wrote it (local_batch.c, batch_commit_solo): counted with
# strace on local, one switch to the recipient's file-system uid and one
# back (4 setfsuid calls with their checks), not two of each, and inside
# it the same order as a batch: the file's fsync, then its rename into
# new/, then the fsync of new/. A request alone whose rename fails (new/
# not writable) is deferred with 4.2.0 and leaves nothing in tmp/ or new/.
# (That a held request still waits for its batch is t_local_batch's.)
#
# The test speaks the protocol to local's socket itself
# (lproto_client.py); the instance's qmgr is off (lbatchlib.sh).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lbatchlib.sh"

need_root
need_cmd python3 strace
# Under memcheck the calls counted would be valgrind's.
[ -z "${TERN_VALGRIND_DIR:-}" ] || skip "counts system calls of the programs themselves"
lbatch_instance
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
export ASAN_OPTIONS
tern_start
wait_for "local's socket" test -S "$QDIR/private/local"
count() { ls "$MD/$1" 2>/dev/null | wc -l; }
master=$(awk '{print $1; exit}' "$TERN_DIR/queue/pid/master.pid")

# local serves the connection in a child it forks: trace local's
# processes and what they fork, and ternd with what it forks (a local it
# starts later). ternd starts local's processes at once, after binding
# the socket: wait until one runs, since one forked but not yet executed
# would be missed by pgrep, and strace on ternd follows only what ternd
# forks after it attached.
trace=$TERN_DIR/trace
_local_up() { pgrep -f "^local -c $TERN_DIR\$" >/dev/null; }
wait_for "local's process" _local_up
locals=$(pgrep -f "^local -c $TERN_DIR\$")
pids="-p $master"
for p in $locals; do pids="$pids -p $p"; done
strace -f -q -e trace=setfsuid,fsync,rename -o "$trace" $pids 2>/dev/null &
tracer=$!
at_cleanup "kill $tracer 2>/dev/null"
wait_for_trace "$master" $locals

# (a) one request alone.
set -- $REQS
lclient full sent "$3" || { show_log; fail "request alone"; }
[ "$(count new)" -eq 1 ] || fail "the file is not in new/"
[ "$(count tmp)" -eq 0 ] || fail "files left in tmp/: $(ls "$MD/tmp")"
sleep 0.3
kill $tracer; wait $tracer 2>/dev/null
n=$(grep -c 'setfsuid(' "$trace")
[ "$n" -eq 4 ] || { cat "$trace" >&2; fail "want 4 setfsuid calls (one switch and back), have $n"; }
# Inside the switch: fsync of the file, rename into new/, fsync of new/.
awk '/setfsuid\([1-9]/ { inside = 1; next }
	/setfsuid\(0\)/ { inside = 0; next }
	inside && /fsync\(/ && state == 0 { state = 1; next }
	inside && /rename\(.*\/tmp\/.*\/new\// && state == 1 { state = 2; next }
	inside && /fsync\(/ && state == 2 { state = 3; next }
	END { exit state == 3 ? 0 : 1 }' "$trace" ||
	{ cat "$trace" >&2; fail "not fsync, rename, fsync of new/ inside the switch"; }
! grep -q "synced [0-9]* maildir deliveries" "$TERN_DIR/maillog" || fail "a request alone was logged as a batch"

# (b) the rename fails: deferred, nothing left behind.
chmod 0500 "$MD/new" || fail "chmod new/"
lclient full defer "$1" || { show_log; fail "request alone with new/ not writable"; }
chmod 0700 "$MD/new"
[ "$(count new)" -eq 1 ] || fail "a file reached new/ although the rename failed"
[ "$(count tmp)" -eq 0 ] || fail "files left in tmp/: $(ls "$MD/tmp")"
pass
