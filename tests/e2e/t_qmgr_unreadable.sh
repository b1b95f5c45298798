#!/bin/sh
# t_qmgr_unreadable.sh - a queue file qmgr cannot read (every read of it
# fails with EIO: TERN_QFILE_FAULT in the environment ternd gives qmgr, as
# a failing disk would) is neither delivered nor lost. While its id is
# younger than maximal_queue_lifetime it stays queued and is tried again
# with the backoff; past it, it goes whole to corrupt/ and
# error_notice_recipient is told (notify_classes resource); the notice,
# written meanwhile, arrives once the disk reads again.
. "$(dirname "$0")/lib.sh"

need_cmd python3
tern_instance
qdir=$(ternconf -h queue_directory) || fail "ternconf queue_directory"
life=8
ternconf -e "error_notice_recipient = pme" maximal_queue_lifetime=${life}s minimal_backoff_time=3600s \
	maximal_backoff_time=3600s queue_run_delay=3600s || fail "ternconf -e"
TERN_QFILE_FAULT=readfile:1:EIO:all tern -c "$TERN_DIR" start >/dev/null || { show_log; fail "tern start"; }
at_cleanup "tern -c $TERN_DIR stop"

smtp_send s1@localhost bob@localhost unreadable >/dev/null || { show_log; fail "smtp_send"; }
wait_for_log ': cannot open queue file: cannot read queue file'
id=$(sed -n 's/.*qmgr\[[0-9]*\]: warning: \([0-9A-F]*\): cannot open queue file.*/\1/p' "$TERN_DIR/maillog" | head -n 1)
[ -n "$id" ] || { show_log; fail "no queue id in the log"; }
_deferred() { [ -f "$qdir/deferred/$id" ]; }
wait_for "$id in deferred/" _deferred

# 1. Young: kept for the next attempt, nothing set aside, nothing delivered.
[ -z "$(ls -A "$qdir/corrupt")" ] || fail "corrupt/ is not empty: $(ls "$qdir/corrupt")"
grep -q 'past maximal_queue_lifetime' "$TERN_DIR/maillog" && fail "a young file was set aside"
[ "$(ls "$TERN_DIR/mail/bob/new" 2>/dev/null | wc -l)" = 0 ] || fail "bob got mail"

# 2. Past maximal_queue_lifetime (by its id's second): corrupt/, whole, and a notice.
made=$(printf '%d' "0x$(echo "$id" | cut -c1-8)")
_old() { [ $(($(date +%s) - made)) -gt "$life" ]; }
wait_for "$id to be older than ${life}s" _old
tern -c "$TERN_DIR" flush >/dev/null || fail "tern flush"
wait_for_log "$id: cannot read queue file.*past maximal_queue_lifetime; moved to corrupt/, its sender not told"
[ -f "$qdir/corrupt/$id" ] || fail "$id is not in corrupt/"
grep -q '^Subject: unreadable' "$qdir/corrupt/$id" || fail "corrupt/$id does not hold the message"
[ ! -e "$qdir/deferred/$id" ] && [ ! -e "$qdir/active/$id" ] || fail "$id is still queued"
wait_for_log "$id: postmaster resource notification: "

# 3. The disk reads again: the notice arrives, bob's message stays set aside.
tern_stop
tern_start
tern -c "$TERN_DIR" flush >/dev/null || fail "tern flush"
wait_for_mail pme 1
n=$(tern_newest_mail pme)
grep -q "$id" "$n" || fail "the notice does not name $id"
grep -q 'unreadable (I/O error) past maximal_queue_lifetime' "$n" || fail "the notice does not say why"
wait_queue_empty
[ "$(ls "$TERN_DIR/mail/bob/new" 2>/dev/null | wc -l)" = 0 ] || fail "bob got mail"
[ -f "$qdir/corrupt/$id" ] || fail "$id left corrupt/"
pass
