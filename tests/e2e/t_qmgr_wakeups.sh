#!/bin/sh
# t_qmgr_wakeups.sh - what qmgr and its delivery processes no longer do
# per message, counted with strace on the running qmgr and its children:
# - no waitpid per turn of its loop: children are reaped after SIGCHLD
#   only (and a delivery process retired by max_use still is);
# - incoming/ stays open: no open of it per look; active/ too: its fsync
#   after a look that moved mail is the fsync alone;
# - wake-up datagrams are read with one recvmmsg, and while a look into
#   incoming/ is already due (within the 20 ms gap after the last one)
#   the ones that come wait in the socket for it: at most two reads of
#   the socket per look, however many datagrams came;
# - the local agent's receive timeout is set only when it changes: two
#   batches of the same size set it once, not twice each.
# Every message is delivered all the same.
. "$(dirname "$0")/lib.sh"

need_root
need_cmd strace python3
# Under memcheck the calls counted would be valgrind's.
[ -z "${TERN_VALGRIND_DIR:-}" ] || skip "counts system calls of the programs themselves"
tern_instance
ternconf -c "$TERN_DIR" -e max_use=4 >/dev/null || fail "ternconf -e"
# LeakSanitizer cannot run under ptrace (a sanitizer build's delivery
# process retired while traced would end with a fatal LSan report): leak
# checks are off for this instance's programs only.
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
export ASAN_OPTIONS
tern_start

_qmgr_up() { q=$(tern_qmgr_pid); [ -n "$q" ]; }
wait_for "qmgr" _qmgr_up
q=$(tern_qmgr_pid)
# Its start-up (which opens incoming/ and active/ to keep them) is done.
wait_for_log "tern/qmgr\\[$q\\]: started"
trace=$TERN_DIR/trace
strace -f -q -o "$trace" -p "$q" 2>/dev/null &
tracer=$!
at_cleanup "kill $tracer 2>/dev/null"
wait_for_trace "$q"

# 1. Six messages one at a time, each delivered before the next: with
# max_use=4 the delivery process is retired and replaced once. The mail is
# in new/ before local answers: waiting for the status line too means the
# worker is idle again, so that the next message is not given to another.
_sent() { [ "$(grep -cE 'to=<keep@localhost>.*status=sent' "$TERN_DIR/maillog")" -ge "$1" ]; }
i=1
while [ $i -le 6 ]; do
	printf 'Subject: one %s\n\nhello\n' "$i" | sendmail -C "$TERN_DIR" -i keep@localhost \
		|| fail "sendmail exited $?"
	wait_for_mail keep "$i"
	wait_for "the delivery of message $i logged" _sent "$i"
	i=$((i + 1))
done

# 2. Two batches of three: qmgr is stopped while they are queued, so one
# look takes each three in together (one batch to local).
batch() {
	kill -STOP "$q"
	_before=$(ls "$TERN_DIR/queue/incoming" | wc -l)
	for _n in 1 2 3; do
		printf 'Subject: batch %s %s\n\nhello\n' "$1" "$_n" | sendmail -C "$TERN_DIR" -i keep@localhost \
			|| { kill -CONT "$q"; fail "sendmail exited $?"; }
	done
	_three_in() { [ "$(ls "$TERN_DIR/queue/incoming" | wc -l)" -ge $((_before + 3)) ]; }
	wait_for "three messages in incoming/" _three_in
	kill -CONT "$q"
	wait_for_mail keep "$2"
}
batch 1 9
batch 2 12
grep -q 'batch 2 3' "$TERN_DIR"/mail/keep/new/* || fail "the last message is missing"

# 3. Thirty wake-ups a millisecond apart, with no mail: most arrive
# within the gap after a look.
python3 - "$TERN_DIR/queue/private/qmgr" <<'EOP' || fail "sending wake-ups"
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
for i in range(30):
    s.sendto(b"W", sys.argv[1])
    time.sleep(0.001)
EOP
sleep 1.5
kill -INT "$tracer"
wait "$tracer" 2>/dev/null

main=$(grep "^$q " "$trace")
waits=$(echo "$main" | grep -c 'wait4(')
ends=$(grep -c '+++ exited with' "$trace")
opens=$(echo "$main" | grep -Ec 'openat\(AT_FDCWD, "incoming"')
aopens=$(echo "$main" | grep -Ec 'openat\(AT_FDCWD, "active", [^)]*O_DIRECTORY')
syncs=$(echo "$main" | grep -Ec '^[0-9]+ +fsync\(')
timeouts=$(grep -c 'SO_RCVTIMEO' "$trace")
connects=$(grep -c 'connect(.*private/local' "$trace")
# A look reads the directory to its end: a getdents64 that returns 0.
looks=$(echo "$main" | grep -Ec 'getdents64\(.*\) = 0$')
reads=$(echo "$main" | grep -Ec 'recvmmsg\(|recvfrom\([0-9]+, "[WFD]"|recvfrom\([0-9]+, 0x[0-9a-f]+, 64,')
echo "wait4 $waits (children ended $ends), opens of incoming $opens, of active $aopens (fsyncs $syncs), SO_RCVTIMEO $timeouts (connections $connects), looks $looks, reads of the wake socket $reads"
[ "$ends" -ge 1 ] || fail "no delivery process was retired (max_use=4, 12 messages)"
[ "$waits" -le $((2 * ends + 1)) ] || fail "qmgr called wait4 $waits times for $ends children ended"
[ "$opens" -eq 0 ] || fail "qmgr opened incoming/ $opens times"
[ "$syncs" -ge 1 ] || fail "no fsync of active/ seen"
[ "$aopens" -eq 0 ] || fail "qmgr opened active/ $aopens times"
# One per connection (set at connect), and one per batch at most (3
# instead of 1; the second batch on the same connection needs none), not
# the batch's and the reset after it.
[ "$connects" -ge 1 ] || fail "no connection to local seen"
[ "$timeouts" -le $((connects + 2)) ] || fail "the local agent's timeout was set $timeouts times"
[ "$looks" -ge 1 ] || fail "no look into incoming/ seen"
[ "$reads" -le $((2 * looks + 2)) ] || fail "$reads reads of the wake-up socket for $looks looks into incoming/"
n=$(ls "$TERN_DIR/mail/keep/new" | wc -l)
[ "$n" -eq 12 ] || fail "$n messages delivered, 12 sent"
pass
