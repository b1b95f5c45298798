#!/bin/sh
# t_qmgr_defer_cleared.sh - a message deferred once keeps its reasons in
# defer/ID for mailq; when a later attempt delivers it, that file goes
# with the queue file. The delivery process removes defer/ID only when
# the attempt found one at its start (qmgr_deliver.c), so this is the
# test that an earlier attempt's file is still found and removed; a
# message delivered at its first attempt leaves no defer/ID either.
here=$(dirname "$0")
[ -f "$here/lib.sh" ] || { echo "skip: tests/e2e/lib.sh is missing"; exit 77; }
. "$here/lib.sh"
for p in sendmail local qmgr pickup ternconf ternqueue; do
	[ -x "$TERN_TOP/stage/$p" ] || skip "$p is not built"
done

tern_instance
qdir=$(ternconf -h queue_directory) || fail "ternconf queue_directory"
printf 'later.example\tretry:4.4.1 held here on purpose\n' > "$TERN_DIR/transport"
ternconf -e "transport_maps = texthash:$TERN_DIR/transport" || fail "ternconf -e"
tern_start

printf 'Subject: later\n\nbody\n' | submit -f s1@localhost Bob@later.example || fail "submit"
wait_for_log 'to=<Bob@later\.example>, relay=none, .*status=deferred \(held here on purpose\)'
id=$(sed -n 's/.*: \([0-9A-Za-z]*\): to=<Bob@later\.example>.*status=deferred.*/\1/p' "$TERN_DIR/maillog" | head -n 1)
[ -n "$id" ] || fail "no queue id in the log"
# The attempt logs each recipient before it writes defer/ID and moves the
# file (as Postfix's agents log before qmgr moves it): wait for the move.
wait_for "$id in deferred/" test -f "$qdir/deferred/$id"
grep -q 'held here on purpose' "$qdir/defer/$id" || fail "defer/$id does not hold the reason"

# Now deliverable: the next attempt delivers it and must take defer/ID along.
printf 'later.example\tlocal:\n' > "$TERN_DIR/transport"
tern_reload
tern -c "$TERN_DIR" flush >/dev/null 2>&1 || fail "tern flush"
wait_for_mail bob 1
wait_for_log "$id: removed"
[ -e "$qdir/defer/$id" ] && fail "defer/$id outlived its delivered message"
[ -e "$qdir/deferred/$id" ] && fail "$id is still in deferred/"

# Delivered at the first attempt: no defer/ID is ever made.
printf 'Subject: now\n\nbody\n' | submit -f s2@localhost Bob@later.example || fail "submit 2"
wait_for_mail bob 2
# The mail is in new/ before local answers: the attempt ends (and would
# write a defer/ID) and the file leaves active/ only by its "removed" line.
id2=$(sed -n 's/.*: \([0-9A-Za-z]*\): from=<s2@localhost>, size=.*/\1/p' "$TERN_DIR/maillog" | head -n 1)
[ -n "$id2" ] || fail "no queue id in the log for the second message"
wait_for_log "$id2: removed"
[ -z "$(ls -A "$qdir/defer")" ] || fail "defer/ is not empty: $(ls -A "$qdir/defer")"
[ "$(ternqueue -j | wc -l)" = 0 ] || fail "the queue is not empty: $(ternqueue -j)"
pass
