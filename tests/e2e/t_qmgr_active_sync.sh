#!/bin/sh
# t_qmgr_active_sync.sh - qmgr's fsync of active/ after a look that moved
# mail there, counted with strace, with the queue on an ext4 of the
# test's own (a loop device): on one with a journal none (the rename is
# atomic across a crash: qfile_renames_atomic), unless
# queue_directory_sync = always; on one without, one per look (a crash
# could otherwise keep neither name). Every message is delivered in all
# three.
. "$(dirname "$0")/lib.sh"

need_root
need_cmd strace mkfs.ext4 mount umount
# Under memcheck the calls counted would be valgrind's.
[ -z "${TERN_VALGRIND_DIR:-}" ] || skip "counts system calls of the programs themselves"
tern_instance
# LeakSanitizer cannot run under ptrace: leak checks off for this instance.
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
export ASAN_OPTIONS
N=3
sent=0

# count LABEL: N messages one at a time (each look moves one) under strace
# of qmgr; prints how many fsyncs of active/ qmgr made.
count() {
	tern_start
	master=$(awk '{print $1; exit}' "$TERN_DIR/queue/pid/master.pid")
	_qmgr() { q=$(ps -eo pid=,ppid=,comm= | awk -v m="$master" '$2 == m && $3 == "qmgr" { print $1 }'); [ -n "$q" ]; }
	wait_for "qmgr" _qmgr
	wait_for_log "tern/qmgr\\[$q\\]: started"
	trace=$TERN_DIR/trace.$1
	strace -f -qq -y -e trace=fsync,fdatasync,syncfs -o "$trace" -p "$q" 2>/dev/null &
	tracer=$!
	wait_for_trace "$q"
	i=0
	while [ $i -lt $N ]; do
		sent=$((sent + 1))
		printf 'Subject: %s %s\n\nhello\n' "$1" "$i" | sendmail -C "$TERN_DIR" -i keep@localhost \
			|| fail "$1: sendmail exited $?"
		wait_for_mail keep "$sent"
		i=$((i + 1))
	done
	tern_stop
	wait "$tracer" 2>/dev/null
	grep -Ec '^[0-9]+ +(fsync|fdatasync|syncfs)\([0-9]+<[^>]*/queue/active>' "$trace"
}

# expect LABEL N: the count is N.
expect() {
	got=$(count "$1")
	[ "$got" = "$2" ] || { cat "$TERN_DIR/trace.$1" >&2; fail "$1: $got fsyncs of active/, want $2"; }
}

tern_queue_ext4
[ "$(cat /sys/fs/ext4/"$(basename "$(readlink "/sys/dev/block/$(mountpoint -d "$TERN_DIR/queue")")")"/journal_task)" != "<none>" ] \
	|| fail "the test's ext4 has no journal"
expect journal 0
ternconf -e queue_directory_sync=always >/dev/null || fail "ternconf -e"
expect journal-always $N
ternconf -e queue_directory_sync=auto >/dev/null || fail "ternconf -e"
tern_queue_ext4 -O ^has_journal
expect no-journal $N
pass
