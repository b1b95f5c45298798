#!/bin/sh
# t_local_batch.sh - local answers a batch of requests (lproto.h
# "Batches") only after its last request, in order, and makes its Maildir
# files durable together: no file is in new/ and no answer comes before
# the request with hold 0, then every file is in new/ and the log says
# "synced 3 maildir deliveries at once". A connection that ends in the
# middle of a batch leaves none of its files (neither in new/ nor in
# tmp/) and gets no answer. A batch of one (what qmgr sends when it does
# not batch) is answered at once.
#
# The test speaks the protocol to local's socket itself
# (lproto_client.py); the instance's qmgr is off (lbatchlib.sh).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lbatchlib.sh"

need_root
need_cmd python3
lbatch_instance
tern_start
wait_for "local's socket" test -S "$QDIR/private/local"
count() { ls "$MD/$1" 2>/dev/null | wc -l; }

# (a) three requests, hold 1, 1, 0.
lclient full sent $REQS || { show_log; fail "batch of three"; }
[ "$(count new)" -eq 3 ] || fail "want 3 files in new/, have: $(ls "$MD/new")"
[ "$(count tmp)" -eq 0 ] || fail "files left in tmp/: $(ls "$MD/tmp")"
for k in 1 2 3; do
	grep -qs "message number $k" "$MD"/new/* || fail "message $k is not in new/"
done
wait_for_log "synced 3 maildir deliveries at once"

# (b) two requests with hold 1, then the connection ends: nothing stays.
set -- $REQS
lclient abort sent "$1" "$2" || { show_log; fail "broken-off batch"; }
_tmp_empty() { [ "$(count tmp)" -eq 0 ]; }
wait_for "the broken-off batch's files removed from tmp/" _tmp_empty
wait_for_log "connection ended before its batch: 2 maildir deliveries removed"
[ "$(count new)" -eq 3 ] || fail "the broken-off batch left files in new/: $(ls "$MD/new")"

# (c) a batch of one.
lclient full sent "$3" || { show_log; fail "batch of one"; }
[ "$(count new)" -eq 4 ] || fail "the single request's file is not in new/"
[ "$(count tmp)" -eq 0 ] || fail "files left in tmp/ after the single request"
grep -c "synced [0-9]* maildir deliveries" "$TERN_DIR/maillog" | grep -qx 1 ||
	fail "a batch of one was logged as a batch"
pass
