#!/bin/sh
# t_qmgr_recycle_give.sh - a delivered message's queue file goes into the
# pool of spare files (queue/recycle/) with one rename: emptied under its
# own name in active/, then moved (no second name in the pool, counted
# with strace on qmgr and its delivery processes). An empty file that
# such a move cut short leaves in active/ is recycled when qmgr meets it
# (with a warning, and its defer log removed), not set aside in corrupt/
# with a notice; but never while another process holds its lock (a
# delivery process whose give is under way: it is left to that one until
# the lock is free), and not when its queue id names another inode (a
# copy: corrupt/, as before).
. "$(dirname "$0")/lib.sh"

need_root
need_cmd strace
[ -z "${TERN_VALGRIND_DIR:-}" ] || skip "counts system calls of the programs themselves"
tern_instance
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"	# LSan cannot run under ptrace
export ASAN_OPTIONS
q=$TERN_DIR/queue
owner=$(stat -c %u:%g "$q/active")

# spent_file: what a give cut short leaves, an empty file in active/
# named by a queue id that names its inode; prints the id.
spent_file() {
	_t=$q/active/.spent
	: > "$_t"
	chown "$owner" "$_t"
	chmod 600 "$_t"
	_id=6B13FE0000000$(printf %X "$(stat -c %i "$_t")")
	mv "$_t" "$q/active/$_id"
	echo "$_id"
}
# in_pool ID: ID's file went into the pool: it is there, or a writer (the
# notice below) took it from there, so its inode is in the queue under
# another name (a temporary one, or a new queue id), neither in active/
# under ID nor in corrupt/. Waited for: a look at the directories one
# after another can miss a file that moves meanwhile.
_in_pool() {
	find "$q" -inum "$(printf %d "0x${1#6B13FE0000000}")" ! -path "$q/active/$1" \
		! -path "$q/corrupt/*" | grep -q .
}
in_pool() { wait_for "the file of $1 in the pool" _in_pool "$1"; }
cut=$(spent_file)
echo "reasons of an earlier attempt" > "$q/defer/$cut"
held=$(spent_file)
# An empty file whose id names another inode (a copy, not a give's).
other=$(spent_file)
copy=6B13FE0000000$(printf %X $(( $(stat -c %i "$q/active/$other") + 1 )))
mv "$q/active/$other" "$q/active/$copy"

# The lock a delivery process holds on a file it works on, held here.
python3 -c 'import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY)
fcntl.flock(fd, fcntl.LOCK_EX)
open(sys.argv[2], "w").close()
time.sleep(600)' "$q/active/$held" "$TERN_DIR/locked" &
holder=$!
at_cleanup "kill $holder 2>/dev/null"
wait_for "the lock on $held" test -e "$TERN_DIR/locked"

tern_start
wait_for_log "$cut: empty queue file .*; recycled"
in_pool "$cut"
[ ! -e "$q/active/$cut" ] || fail "the empty file is still in active/"
# The delivery process removes defer/ID after its warning line.
wait_for "its defer log removed" sh -c "[ ! -e '$q/defer/$cut' ]"
grep -q "warning: $cut: empty queue file" "$TERN_DIR/maillog" || fail "the recycling is not a warning"
grep -q "$cut: corrupt" "$TERN_DIR/maillog" && fail "reported as a corrupt queue file"

wait_for "$copy in corrupt/" test -f "$q/corrupt/$copy"
grep -q "$copy: empty queue file" "$TERN_DIR/maillog" && fail "a copy was recycled"

wait_for_log "$held: in the hands of another delivery process; left to it"
wait_for_log "$held: in the hands of an earlier delivery process; watched"
[ -f "$q/active/$held" ] || fail "a file held by another process left active/"
grep -q "$held: corrupt" "$TERN_DIR/maillog" && fail "a held file was reported as corrupt"
kill "$holder"; wait "$holder" 2>/dev/null
wait_for_log "$held: empty queue file .*; recycled"
in_pool "$held"
[ "$(ls "$q/corrupt")" = "$copy" ] || fail "corrupt/ holds: $(ls "$q/corrupt")"

# The copy's notice to the postmaster has been delivered or deferred
# (it was committed before the copy went to corrupt/).
_drained() { [ -z "$(find "$q/incoming" "$q/active" -type f)" ]; }
wait_for "an empty incoming/ and active/" _drained

master=$(awk '{print $1; exit}' "$q/pid/master.pid")
qm=$(ps -eo pid=,ppid=,comm= | awk -v m="$master" '$2 == m && $3 == "qmgr" { print $1 }')
[ -n "$qm" ] || fail "no qmgr"
trace=$TERN_DIR/trace
# qmgr and its delivery processes (one may be running already).
pids="$qm $(pgrep -P "$qm")"
# shellcheck disable=SC2046
strace -f -e trace=rename,renameat,renameat2 -o "$trace" \
	$(for p in $pids; do echo "-p $p"; done) 2>"$trace.err" &
tracer=$!
at_cleanup "kill $tracer 2>/dev/null"
# (or that it has not: a delivery process that ended meanwhile)
_attached() { [ "$(grep -cE 'Process [0-9]+ attached|No such process' "$trace.err")" -ge "$(echo $pids | wc -w)" ]; }
wait_for "strace attached to $pids" _attached
removed() { grep -c '[0-9A-F]: removed$' "$TERN_DIR/maillog"; }
before=$(removed)
for i in 1 2 3; do
	printf 'Subject: give %s\n\nhello\n' "$i" | sendmail -C "$TERN_DIR" -i keep@localhost \
		|| fail "sendmail exited $?"
	wait_for_mail keep "$i"
done
# Each "removed" line is logged after its give's rename.
_removed3() { [ "$(removed)" -ge $((before + 3)) ]; }
wait_for "three removals" _removed3
kill "$tracer"; wait "$tracer" 2>/dev/null
gives=$(grep -c 'rename.*"active/[0-9A-F]*",.*recycle/' "$trace")
dots=$(grep -c 'recycle/\.' "$trace")
[ "$gives" = 3 ] || { cat "$trace" >&2; fail "$gives renames from active/ into the pool for 3 messages, want 3"; }
[ "$dots" = 0 ] || { cat "$trace" >&2; fail "$dots renames through a dot name in the pool"; }
pass
