#!/bin/sh
# t_qmgr_unreadable.sh - a queue file qmgr cannot read (every read of it
# fails with EIO: TERN_QFILE_FAULT in the environment ternd gives qmgr, as
# a failing disk would) is neither delivered nor set aside nor lost: it is
# deferred with the backoff, defer/ID notes since when it fails, the
# second attempt in a row that fails tells error_notice_recipient once
# (notify_classes resource); the notice, unreadable as well, brings no
# notice of its own within the hour such notices keep apart (and its
# defer/ file says it is still to be told of). Once the disk reads again
# the message is delivered and the notice arrives. mailq lists it meanwhile.
. "$(dirname "$0")/lib.sh"

need_cmd python3
tern_instance
qdir=$(ternconf -h queue_directory) || fail "ternconf queue_directory"
: > "$TERN_DIR/transport"
ternconf -e "error_notice_recipient = pme" minimal_backoff_time=3600s maximal_backoff_time=3600s \
	queue_run_delay=3600s "transport_maps = texthash:$TERN_DIR/transport" || fail "ternconf -e"
TERN_QFILE_FAULT=readfile:1:EIO:all tern -c "$TERN_DIR" start >/dev/null || { show_log; fail "tern start"; }
at_cleanup "tern -c $TERN_DIR stop"

notices() { grep -c 'postmaster resource notification' "$TERN_DIR/maillog"; }
attempts() { grep -c "$id: cannot read queue file active/$id: Input/output error; deferred" "$TERN_DIR/maillog"; }
_attempted() { [ "$(attempts)" -ge "$1" ]; }
_deferred() { [ -f "$qdir/deferred/$1" ] && [ -f "$qdir/defer/$1" ]; }

smtp_send s1@localhost bob@localhost unreadable >/dev/null || { show_log; fail "smtp_send"; }
wait_for_log ': cannot read queue file active/[0-9A-F]*: Input/output error; deferred'
id=$(sed -n 's/.*: warning: \([0-9A-F]*\): cannot read queue file active.*; deferred$/\1/p' "$TERN_DIR/maillog" |
	head -n 1)
[ -n "$id" ] || { show_log; fail "no queue id in the log"; }
wait_for "$id in deferred/, with its defer/ file" _deferred "$id"

# 1. The first failure: deferred with the backoff, noted, nobody told yet.
grep -q '^U [1-9][0-9]* 0$' "$qdir/defer/$id" || fail "defer/$id: $(cat "$qdir/defer/$id")"
[ $(($(stat -c %Y "$qdir/deferred/$id") - $(date +%s))) -gt 3000 ] || fail "$id is due again at once"
[ "$(notices)" = 0 ] || fail "a notice after one failed attempt"
[ -z "$(ls -A "$qdir/corrupt")" ] || fail "corrupt/ is not empty: $(ls "$qdir/corrupt")"

# The listing shows it all the same (asked of qmgr, whose reads fail too,
# by a user who may only use its socket): "(unreadable)", the error, the
# id's second for its arrival.
if [ "$(id -u)" = 0 ]; then
	test_user_add ternunr_$$
	pubgid=$(stat -c %g "$qdir/public")
	setpriv --reuid=ternunr_$$ --regid="$(id -g ternunr_$$)" --groups="$pubgid" \
		"$TERN_TOP/stage/ternqueue" -j >"$TERN_DIR/list.json" 2>&1 || fail "ternqueue -j: $(cat "$TERN_DIR/list.json")"
	python3 - "$id" "$TERN_DIR/list.json" <<'EOP' || fail "the listing: $(cat "$TERN_DIR/list.json")"
import json, sys
qid, path = sys.argv[1], sys.argv[2]
m = [json.loads(line) for line in open(path) if line.strip()]
e = [x for x in m if x["queue_id"] == qid]
assert len(e) == 1, m
e = e[0]
assert e["queue_name"] == "deferred" and e["sender"] == "(unreadable)", e
assert e["arrival_time"] == int(qid[:8], 16), e
assert e["recipients"] == [{"address": "(unreadable)",
                            "delay_reason": "queue file unreadable: Input/output error"}], e
EOP
fi

# 2. The second in a row: the postmaster is told, once; the file stays queued.
tern -c "$TERN_DIR" flush >/dev/null || fail "tern flush"
wait_for "a second attempt" _attempted 2
wait_for_log "$id: postmaster resource notification: "
nid=$(sed -n "s/.*$id: postmaster resource notification: \([0-9A-F]*\)$/\1/p" "$TERN_DIR/maillog")
grep -q "$id: queue file unreadable at two attempts in a row; left in the queue" "$TERN_DIR/maillog" ||
	fail "no warning for the second failure"
wait_for "$id in deferred/ again" _deferred "$id"
grep -q '^U [1-9][0-9]* [1-9][0-9]*$' "$qdir/defer/$id" || fail "defer/$id: $(cat "$qdir/defer/$id")"

# 3. More attempts, of the message and of the notice (unreadable too): no more notices.
wait_for "the notice $nid deferred" _deferred "$nid"
tern -c "$TERN_DIR" flush >/dev/null || fail "tern flush"
wait_for "a third attempt" _attempted 3
_notice_again() { grep -q "$nid: cannot read queue file active/$nid: Input/output error; deferred" \
	"$TERN_DIR/maillog" && [ "$(grep -c "$nid: cannot read" "$TERN_DIR/maillog")" -ge 2 ]; }
wait_for "a second attempt of the notice" _notice_again
wait_for "$id in deferred/ again" _deferred "$id"
[ "$(notices)" = 1 ] || fail "$(notices) notices, want 1"
_nid_noted() { grep -q '^U [1-9][0-9]* 0$' "$qdir/defer/$nid" 2>/dev/null; }
wait_for "defer/$nid: failing, nobody told yet" _nid_noted
grep -q '^U [1-9][0-9]* [1-9][0-9]*$' "$qdir/defer/$id" || fail "defer/$id: $(cat "$qdir/defer/$id")"
grep -q "$nid: postmaster resource notification" "$TERN_DIR/maillog" && fail "a notice about the notice"
grep -q "$nid: queue file unreadable at two attempts in a row" "$TERN_DIR/maillog" || fail "no warning for the notice's second failure"
[ "$(ls "$TERN_DIR/mail/bob/new" 2>/dev/null | wc -l)" = 0 ] || fail "bob got mail"
[ -z "$(ls -A "$qdir/corrupt")" ] || fail "corrupt/ is not empty: $(ls "$qdir/corrupt")"

# 4. The disk reads again: an attempt that reads the message (bob deferred
# on purpose) drops the U line; then it is delivered, and the notice arrives.
tern_stop
printf 'bob@localhost\tretry:4.4.1 held here on purpose\n' > "$TERN_DIR/transport"
tern_start
tern -c "$TERN_DIR" flush >/dev/null || fail "tern flush"
_read_again() { grep -q 'held here on purpose' "$qdir/defer/$id" 2>/dev/null; }
wait_for "an attempt that reads $id" _read_again
wait_for "$id in deferred/" _deferred "$id"
grep -q '^U ' "$qdir/defer/$id" && fail "defer/$id still has its U line: $(cat "$qdir/defer/$id")"
: > "$TERN_DIR/transport"
tern -c "$TERN_DIR" flush >/dev/null || fail "tern flush"
wait_for_mail bob 1
wait_for_mail pme 1
n=$(tern_newest_mail pme)
grep -q "$id" "$n" || fail "the notice does not name $id"
grep -q 'unreadable (I/O error) at two' "$n" || fail "the notice does not say why"
wait_queue_empty
[ ! -e "$qdir/defer/$id" ] && [ ! -e "$qdir/defer/$nid" ] || fail "defer/ files left: $(ls "$qdir/defer")"
pass
