#!/bin/sh
# t_qmgr_recycle_give.sh - a delivered message's queue file goes into the
# pool of spare files (queue/recycle/) with one rename: emptied under its
# own name in active/, then moved (no second name in the pool, counted
# with strace on qmgr and its delivery processes); and an empty file that
# such a move cut short leaves in active/ is recycled quietly when qmgr
# meets it, not set aside in corrupt/ with a notice.
. "$(dirname "$0")/lib.sh"

need_root
need_cmd strace
[ -z "${TERN_VALGRIND_DIR:-}" ] || skip "counts system calls of the programs themselves"
tern_instance
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"	# LSan cannot run under ptrace
export ASAN_OPTIONS
q=$TERN_DIR/queue

# What a give cut short leaves: an empty file under a message's name in active/.
cut=6B13FE00000000A0001
: > "$q/active/$cut"
chown "$(stat -c %u:%g "$q/active")" "$q/active/$cut"
chmod 600 "$q/active/$cut"
tern_start
wait_for_log "$cut: empty queue file, left by an interrupted removal; recycled"
[ -f "$q/recycle/$cut" ] || fail "the empty file did not go into the pool"
[ ! -e "$q/active/$cut" ] || fail "the empty file is still in active/"
[ -z "$(ls "$q/corrupt" 2>/dev/null)" ] || fail "set aside in corrupt/: $(ls "$q/corrupt")"
grep -q "$cut: corrupt" "$TERN_DIR/maillog" && fail "reported as a corrupt queue file"

master=$(awk '{print $1; exit}' "$q/pid/master.pid")
qm=$(ps -eo pid=,ppid=,comm= | awk -v m="$master" '$2 == m && $3 == "qmgr" { print $1 }')
[ -n "$qm" ] || fail "no qmgr"
trace=$TERN_DIR/trace
# qmgr and its delivery processes (one may be running already).
# shellcheck disable=SC2046
strace -f -q -e trace=rename,renameat,renameat2 -o "$trace" -p "$qm" \
	$(for c in $(pgrep -P "$qm"); do echo "-p $c"; done) 2>/dev/null &
tracer=$!
at_cleanup "kill $tracer 2>/dev/null"
sleep 0.5	# strace has attached
for i in 1 2 3; do
	printf 'Subject: give %s\n\nhello\n' "$i" | sendmail -C "$TERN_DIR" -i keep@localhost \
		|| fail "sendmail exited $?"
	wait_for_mail keep "$i"
done
sleep 0.5
kill "$tracer"; wait "$tracer" 2>/dev/null
gives=$(grep -c 'rename.*"active/[0-9A-F]*",.*recycle/' "$trace")
dots=$(grep -c 'recycle/\.' "$trace")
[ "$gives" = 3 ] || { cat "$trace" >&2; fail "$gives renames from active/ into the pool for 3 messages, want 3"; }
[ "$dots" = 0 ] || { cat "$trace" >&2; fail "$dots renames through a dot name in the pool"; }
pass
