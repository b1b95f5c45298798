#!/bin/sh
# t_local_batch.sh - local answers a batch of requests (lproto.h
# "Batches") only after its last request, in order, and makes its Maildir
# files durable together: no file is in new/ and no answer comes before
# the request with hold 0, then every file is in new/ and the log says
# "synced 3 maildir deliveries at once". A connection that ends in the
# middle of a batch leaves none of its files (neither in new/ nor in
# tmp/) and gets no answer. A batch of one (what qmgr sends when it does
# not batch) is answered at once. A batch for two system users
# (home_mailbox Maildir/), one of whom may not read his new/ (local then
# syncs through the file, as the user), delivers into both.
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

# (d) two system users, requests alternating between them.
u1=ternlb1_$$ u2=ternlb2_$$
for u in $u1 $u2; do test_user_add $u; done
home() { getent passwd "$1" | cut -d: -f6; }
mkdir -p "$(home $u2)/Maildir/tmp" "$(home $u2)/Maildir/new" "$(home $u2)/Maildir/cur" &&
	chown -R $u2 "$(home $u2)/Maildir" && chmod 0300 "$(home $u2)/Maildir/new" ||
	fail "cannot make $u2's Maildir"
ternconf -X local_maildir_base || fail "ternconf -X"
ternconf -e "home_mailbox = Maildir/" || fail "ternconf -e"
tern_reload
lbatch_qfiles $u1@localhost
set -- $REQS
lbatch_qfiles $u2@localhost
reqs="$1:$u1@localhost $(echo $REQS | cut -d' ' -f1):$u2@localhost"
reqs="$reqs $2:$u1@localhost $(echo $REQS | cut -d' ' -f2):$u2@localhost"
MD="$(home $u1)/Maildir:$(home $u2)/Maildir"
lclient full sent $reqs || { show_log; fail "batch for two users"; }
for u in $u1 $u2; do
	[ "$(ls "$(home $u)/Maildir/new" | wc -l)" -eq 2 ] || fail "want 2 files in $u's new/"
	[ "$(ls "$(home $u)/Maildir/tmp" | wc -l)" -eq 0 ] || fail "files left in $u's tmp/"
	[ "$(stat -c %U "$(home $u)/Maildir/new/$(ls "$(home $u)/Maildir/new" | head -n 1)")" = $u ] ||
		fail "$u's messages do not belong to $u"
done
wait_for_log "synced 4 maildir deliveries at once"
pass
