#!/bin/sh
# t_crash.sh - no mail lost (issue 3, item 9): the whole instance is
# killed with SIGKILL (master and every process under it, at once) twice:
# during a burst of submissions, and while queued mail is being
# delivered. After a restart every message whose sendmail exited 0 must
# be delivered; duplicates (allowed: at least once) are counted and
# reported.
# e2e: slow (kill -9 trials)
here=$(dirname "$0")
[ -f "$here/lib.sh" ] || { echo "skip: tests/e2e/lib.sh is missing"; exit 77; }
. "$here/lib.sh"
for p in sendmail local qmgr pickup ternconf ternqueue; do
	[ -x "$TERN_TOP/stage/$p" ] || skip "$p is not built"
done
: "${CRASH_MESSAGES:=200}"

tern_instance
# Mail deferred by the crash (a delivery that lost its local agent) is retried within seconds.
ternconf -e "queue_run_delay = 1s" "minimal_backoff_time = 1s" "maximal_backoff_time = 2s" ||
	fail "ternconf -e"
tern_start
work="$TERN_DIR/crash"
mkdir -p "$work"

# The instance's processes: the master and everything below it.
tree() {
	_pids=$1
	_new=$1
	while [ -n "$_new" ]; do
		_next=""
		for _p in $_new; do
			_next="$_next $(ps -o pid= --ppid "$_p" 2>/dev/null)"
		done
		_new=$(echo $_next)
		_pids="$_pids $_new"
	done
	echo $_pids
}
kill_instance() {
	_master=$(tern status 2>/dev/null | sed -n 's/.*pid \([0-9]*\).*/\1/p')
	[ -n "$_master" ] || fail "no master pid from tern status"
	kill -STOP "$_master"	# no restarts while we collect the tree
	_all=$(tree "$_master")
	kill -KILL $_all 2>/dev/null
	for _p in $_all; do
		wait_for "process $_p to die" sh -c "! kill -0 $_p 2>/dev/null || grep -q '^State:.*Z' /proc/$_p/status"
	done
	echo "killed $(echo $_all | wc -w) processes" >&2
}

# send_burst FIRST LAST: one sendmail per message, 4 at a time; record those that exited 0.
send_burst() {
	_i=$1
	while [ "$_i" -le "$2" ]; do
		for _k in 1 2 3 4; do
			[ "$_i" -le "$2" ] || break
			(printf 'Subject: crash-%s\n\nmessage %s\n' "$_i" "$_i" |
				sendmail -f sender@localhost "u$((_i % 5))@localhost" && echo "$_i" >> "$work/ok") &
			_i=$((_i + 1))
		done
		wait
	done
}

delivered_count() { grep -l "^Subject: crash-$1\$" "$TERN_DIR"/mail/u*/new/* 2>/dev/null | wc -l; }
all_delivered() {
	for _n in $(cat "$work/ok"); do
		[ "$(delivered_count "$_n")" -ge 1 ] || return 1
	done
}
# Like wait_for, but say which messages are missing and what the queue holds.
wait_all_delivered() {
	_end=$(( $(date +%s) + TERN_WAIT ))
	while ! all_delivered; do
		if [ "$(date +%s)" -ge "$_end" ]; then
			for _n in $(cat "$work/ok"); do
				[ "$(delivered_count "$_n")" -ge 1 ] || echo "missing: crash-$_n" >&2
			done
			ternqueue -p >&2
			ls -la "$TERN_DIR"/queue/* >&2
			fail "timed out after ${TERN_WAIT}s waiting for $1"
		fi
		sleep 0.2
	done
}

# 1. Kill during a burst of submissions.
: > "$work/ok"
half=$((CRASH_MESSAGES / 2))
send_burst 1 "$half" &
burst=$!
wait_for "the first deliveries" sh -c "ls '$TERN_DIR'/mail/u*/new 2>/dev/null | grep -q ."
kill_instance
wait $burst
tern_start
wait_all_delivered "every accepted message of the first burst"

# 2. Kill while queued mail is being delivered.
tern_stop
send_burst $((half + 1)) "$CRASH_MESSAGES"	# waits in maildrop/
before=$(ls "$TERN_DIR"/mail/u*/new 2>/dev/null | wc -l)
tern_start
wait_for "deliveries to start" sh -c "[ \$(ls '$TERN_DIR'/mail/u*/new | wc -l) -gt $before ]"
kill_instance
tern_start
wait_all_delivered "every accepted message"

accepted=$(wc -l < "$work/ok")
dups=0
for n in $(cat "$work/ok"); do
	c=$(delivered_count "$n")
	[ "$c" -gt 1 ] && dups=$((dups + c - 1))
done
echo "accepted $accepted of $CRASH_MESSAGES, all delivered, $dups duplicate(s)"
[ "$accepted" -ge "$half" ] || fail "only $accepted submissions succeeded"
pass
