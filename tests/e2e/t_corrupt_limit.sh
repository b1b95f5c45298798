#!/bin/sh
# t_corrupt_limit.sh - the queue's corrupt/ directory is bounded and
# reported: with corrupt_queue_limit = 3, five files that do not parse
# dropped into maildrop/ leave the three newest in corrupt/, the two
# oldest removed with a log line each; tern check warns of what is left
# (how many, the oldest, where) and is clean again once corrupt/ is empty.
. "$(dirname "$0")/lib.sh"
for p in pickup qmgr ternconf; do
	[ -x "$TERN_TOP/stage/$p" ] || skip "$p is not built"
done

tern_instance
qdir="$TERN_DIR/queue"
out="$TERN_DIR/check.out"
ternconf -e "corrupt_queue_limit = 3" || fail "ternconf -e"
tern check >"$out" 2>&1 || { cat "$out" >&2; fail "tern check fails on a fresh instance"; }
tern_start

for i in 1 2 3 4 5; do
	echo "not a queue file" > "$qdir/maildrop/junk$i"
	wait_for "junk$i in corrupt/" test -f "$qdir/corrupt/junk$i"
done
wait_for_log "junk2: removed: more than corrupt_queue_limit \\(3\\) files"
grep -q "corrupt/junk1: removed: more than corrupt_queue_limit (3) files" "$TERN_DIR/maillog" ||
	{ show_log; fail "no log line for the removal of junk1"; }
left=$(ls "$qdir/corrupt" | tr '\n' ' ')
[ "$left" = "junk3 junk4 junk5 " ] || { show_log; fail "corrupt/ holds: $left"; }

tern check >"$out" 2>&1 && { cat "$out" >&2; fail "tern check passes with files in corrupt/"; }
grep -Eq "warning: $qdir/corrupt: 3 queue files that did not parse, set aside \(oldest junk3, since [0-9-]+ [0-9:]+; corrupt_queue_limit 3\)" "$out" ||
	{ cat "$out" >&2; fail "tern check does not report corrupt/"; }

rm -f "$qdir/corrupt/"*
tern check >"$out" 2>&1 || { cat "$out" >&2; fail "tern check fails once corrupt/ is empty"; }
tern_stop
pass
