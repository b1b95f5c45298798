#!/bin/sh
# t_crash_retry.sh - a delivery interrupted by a kill -9 is retried at
# once, not after minimal_backoff_time (300 s here, the default): (a) the
# local delivery agent killed in the middle of a delivery, (b) qmgr's
# delivery process killed in the middle of one; (c) a second interruption
# in a row of the same message backs off as usual, so a message that
# kills its delivery never spins. The command of alias "slow" sleeps the
# first time it runs for a message and appends the message the next time.
. "$(dirname "$0")/lib.sh"

need_root
need_cmd python3
tern_instance
out="$TERN_DIR/out"
mkdir -p "$out" && chmod 1777 "$out"
{
	echo "slow \"|/bin/sh -c 'if [ -e $out/started ]; then cat >> $out/slow; else touch $out/started; sleep 600; fi'\""
	echo "stuck \"|/bin/sh -c 'mktemp $out/stuck.XXXXXX; sleep 600'\""
} > "$TERN_DIR/aliases.map"
ternconf -e "alias_maps = texthash:$TERN_DIR/aliases.map" || fail "ternconf -e"
[ "$(ternconf -h minimal_backoff_time)" = 300s ] || fail "minimal_backoff_time is not 300s"
tern_start
master=$(cat "$TERN_DIR/queue/pid/master.pid")

# pids PATTERN: processes of the instance (its master's session) whose name is PATTERN.
pids() { ps -eo pid=,sid=,comm= | awk -v s="$master" -v c="$1" '$2 == s && $3 == c { print $1 }'; }
# The delivery processes: qmgr's children.
workers() {
	_q=$(ps -eo pid=,ppid=,comm= | awk -v m="$master" '$2 == m && $3 == "qmgr" { print $1 }')
	ps -eo pid=,ppid=,comm= | awk -v q="$_q" '$2 == q && $3 == "qmgr" { print $1 }'
}
send() { printf 'Subject: %s\n\nmessage %s\n' "$2" "$2" | sendmail -i "$1@localhost" || fail "sendmail"; }
stop_sleepers() { for p in $(pids sleep); do kill "$p" 2>/dev/null; done; }

# (a) The local delivery agent killed while the command runs.
send slow a
wait_for "the first run of the command" sh -c "ls '$out' | grep -q '^started'"
kill -KILL $(pids local)
stop_sleepers
start=$(date +%s)
wait_for "message a retried" grep -q "^message a" "$out/slow"
took=$(( $(date +%s) - start ))
echo "(a) delivered ${took}s after the local delivery agent was killed"
[ "$took" -lt 60 ] || fail "(a) took ${took}s"
wait_for_log "a delivery agent went away; retried at once"

# (b) qmgr's delivery process killed while the command runs.
rm -f "$out/started"
send slow b
wait_for "the first run of the command" sh -c "ls '$out' | grep -q '^started'"
w=$(workers)
[ -n "$w" ] || fail "no delivery process"
kill -KILL $w
stop_sleepers
start=$(date +%s)
wait_for "message b retried" grep -q "^message b" "$out/slow"
took=$(( $(date +%s) - start ))
echo "(b) delivered ${took}s after the delivery process was killed"
[ "$took" -lt 60 ] || fail "(b) took ${took}s"
wait_for_log "ended abnormally .*retried at once"

# (c) Interrupted twice in a row: the second time it waits for the backoff.
send stuck c
wait_for "the first run" sh -c "ls '$out' | grep -q '^stuck'"
kill -KILL $(pids local)
stop_sleepers
wait_for "the second run" sh -c "[ \$(ls '$out' | grep -c '^stuck') -ge 2 ]"
kill -KILL $(pids local)
stop_sleepers
_deferred() { [ -n "$(ls "$TERN_DIR/queue/deferred")" ]; }
wait_for "message c deferred" _deferred
f=$(ls "$TERN_DIR"/queue/deferred/* | head -n 1)
due=$(( $(stat -c %Y "$f") - $(date +%s) ))
[ "$due" -gt 200 ] || fail "(c) the second interruption is retried in ${due}s, not after the backoff"
sleep 3
[ "$(ls "$out" | grep -c '^stuck')" -eq 2 ] || fail "(c) the stuck message was tried again at once"
pass
