#!/bin/sh
# t_queue_tools.sh - the queue seen and managed from outside: mailq in
# sendmail's and Postfix's layouts (and sendmail -bp), ternqueue -j
# parsed as JSON, -h/-H/-r/-d, -f, a corrupt queue file moved to
# corrupt/, the delay warning and the expiry
# bounce with short lifetimes. Remote mail goes to a relayhost where
# nobody listens, so it stays deferred: queued mail to look at.
here=$(dirname "$0")
[ -f "$here/lib.sh" ] || { echo "skip: tests/e2e/lib.sh is missing"; exit 77; }
. "$here/lib.sh"
for p in sendmail local qmgr pickup ternqueue ternconf; do
	[ -x "$TERN_TOP/stage/$p" ] || skip "$p is not built"
done
need_cmd python3

tern_instance
dead=$(free_port)
ternconf -e "queue_run_delay = 1s" "minimal_backoff_time = 1s" "maximal_backoff_time = 2s" \
	"relayhost = [127.0.0.1]:$dead" || fail "ternconf -e"
why="connect to 127.0.0.1\[127.0.0.1\]:$dead: Connection refused"
tern_start
qdir=$(ternconf -h queue_directory 2>/dev/null) || qdir="$TERN_DIR/queue"

# An empty queue, in both layouts.
out=$(ternqueue -p) || fail "ternqueue -p exited $?"
[ "$out" = "$(printf '%s is empty\n\t\tTotal requests: 0' "$qdir")" ] || fail "empty sendmail layout: '$out'"
out=$(ternqueue -j)
[ -z "$out" ] || fail "ternqueue -j on an empty queue printed '$out'"

printf 'Subject: deferred\n\nx\n' | sendmail -f alice@localhost bob@remote.example || fail "sendmail"
wait_for "the deferral" grep -q "status=deferred ($why)" "$TERN_DIR/maillog"
id=$(sed -n 's/.*: \([0-9A-F]*\): to=<bob@remote.example>.*status=deferred.*/\1/p' "$TERN_DIR/maillog" | head -n 1)
[ -n "$id" ] || fail "no queue id in the log"
# The attempt logs the deferral before it writes the reason into defer/ID
# (qmgr_deliver.c), which the listings below show: wait for that file.
wait_for "defer/$id" test -f "$qdir/defer/$id"

out=$(mailq) || fail "mailq exited $?"
echo "$out" | grep -q "^$(printf '\t\t')$qdir (1 request)$" || fail "no sendmail header: $out"
echo "$out" | grep -q '^-----Q-ID----- --Size-- -----Q-Time----- ------------Sender/Recipient-----------$' ||
	fail "no sendmail column line"
echo "$out" | grep -Eq "^$id[ *] +[0-9]+ [A-Z][a-z]{2} [A-Z][a-z]{2} [ 0-9][0-9] [0-9]{2}:[0-9]{2} <alice@localhost>$" ||
	fail "no sendmail message line: $out"
echo "$out" | grep -q "^                 ($why)\$" || fail "no reason line: $out"
echo "$out" | grep -q "^$(printf '\t\t\t\t\t') <bob@remote.example>$" || fail "no recipient line"
echo "$out" | grep -q "Total requests: 1$" || fail "no total"
# (The status character after the id changes while the message is being retried.)
unstar() { sed 's/^\([0-9A-F]*\)[*]/\1 /'; }
[ "$(sendmail -bp | unstar)" = "$(echo "$out" | unstar)" ] || fail "sendmail -bp differs from mailq"

ternconf -e "mailq_format = postfix" || fail "ternconf -e"
out=$(ternqueue -p)
echo "$out" | head -n 1 | grep -q '^-Queue ID-  --Size-- ----Arrival Time---- -Sender/Recipient-------$' ||
	fail "no Postfix header: $out"
echo "$out" | grep -Eq "^$id\*? +[0-9]+ [A-Z][a-z]{2} [A-Z][a-z]{2} [ 0-9][0-9] [0-9:]{8}  alice@localhost$" ||
	fail "no Postfix message line: $out"
echo "$out" | grep -q " ($why)\$" || fail "no Postfix reason"
echo "$out" | tail -n 1 | grep -q '^-- 0 Kbytes in 1 Request\.$' || fail "no Postfix trailer"

ternqueue -j | python3 -c '
import json, sys
lines = sys.stdin.read().splitlines()
assert len(lines) == 1, lines
m = json.loads(lines[0])
for k in ("queue_name", "queue_id", "arrival_time", "message_size", "forced_expire", "sender", "recipients"):
    assert k in m, k
assert m["queue_id"] == sys.argv[1], m
assert m["sender"] == "alice@localhost"
assert m["recipients"] == [{"address": "bob@remote.example", "delay_reason": sys.argv[2]}], m
assert m["forced_expire"] is False and isinstance(m["arrival_time"], int)
' "$id" "connect to 127.0.0.1[127.0.0.1]:$dead: Connection refused" || fail "ternqueue -j output is wrong"

# A user who cannot read the queue lists and flushes it through qmgr's
# public socket (public/ is open to setgid_group, as Postfix's is to
# postdrop: the user runs with that group, as a setgid ternqueue would).
if [ "$(id -u)" = 0 ]; then
	test_user_add ternqu1_$$
	pubgid=$(stat -c %g "$qdir/public")
	as_user() { setpriv --reuid=ternqu1_$$ --regid="$(id -g ternqu1_$$)" --groups="$pubgid" "$@"; }
	# The message moves between deferred/ and active/ as it is retried: compare the rest,
	# and again when a retry fell between the two listings (seen under the sanitizers).
	same() { sed 's/"queue_name": "[a-z]*", //'; }
	same_listing() { [ "$(as_user "$TERN_TOP/stage/ternqueue" -j | same)" = "$(ternqueue -j | same)" ]; }
	tries=0
	until same_listing; do
		tries=$((tries + 1))
		[ $tries -lt 10 ] || fail "an unprivileged user sees another listing: $(as_user "$TERN_TOP/stage/ternqueue" -j 2>&1) / $(ternqueue -j 2>&1)"
		sleep 0.3
	done
	as_user "$TERN_TOP/stage/ternqueue" -j | grep -q "\"queue_id\": \"$id\"" ||
		fail "the unprivileged listing lacks $id"
	n=$(grep -c "$id: to=<bob@remote.example>.*deferred" "$TERN_DIR/maillog")
	as_user "$TERN_TOP/stage/ternqueue" -f || fail "an unprivileged ternqueue -f failed"
	wait_for "another attempt after an unprivileged flush" \
		sh -c "[ \$(grep -c '$id: to=<bob@remote.example>.*deferred' '$TERN_DIR/maillog') -gt $n ]"
	as_user "$TERN_TOP/stage/ternqueue" -d ALL 2>/dev/null && fail "an unprivileged user could delete"
fi

# Hold, release, requeue, delete.
ternqueue -h "$id" 2>/dev/null || fail "ternqueue -h"
ternqueue -j | grep -q '"queue_name": "hold"' || fail "not in hold after -h"
ternqueue -p | grep -q "^$id!" || fail "no ! for a held message"
ternqueue -H "$id" 2>/dev/null || fail "ternqueue -H"
ternqueue -j | grep -q '"queue_name": "hold"' && fail "still in hold after -H"
n=$(grep -c "$id: to=<bob@remote.example>.*deferred" "$TERN_DIR/maillog")
ternqueue -r "$id" 2>/dev/null || fail "ternqueue -r"
wait_for "another attempt after -r" sh -c "[ \$(grep -c '$id: to=<bob@remote.example>.*deferred' '$TERN_DIR/maillog') -gt $n ]"
ternqueue -f || fail "ternqueue -f"
ternqueue -d ALL 2>/dev/null || fail "ternqueue -d ALL"
wait_for "an empty queue" sh -c "ternqueue -p | grep -q '^Mail queue is empty$'"

# A queue file that does not parse goes to corrupt/ with a log line; qmgr keeps running.
bad=$(echo "$id" | sed 's/.$/0/')
[ "$bad" != "$id" ] || bad=$(echo "$id" | sed 's/.$/1/')
printf 'TERNQ 1\nthis is not a queue file\n' > "$qdir/incoming/.tmp.$bad"
chown "$(stat -c %u:%g "$qdir/incoming")" "$qdir/incoming/.tmp.$bad"	# as if cleanup wrote it
mv "$qdir/incoming/.tmp.$bad" "$qdir/incoming/$bad"
wait_for "the corrupt file in corrupt/" test -f "$qdir/corrupt/$bad"
grep -q "$bad: corrupt queue file" "$TERN_DIR/maillog" || fail "no log line for the corrupt file"
printf 'Subject: after\n\nx\n' | sendmail -f alice@localhost alice@localhost || fail "sendmail"
wait_for_mail alice 1

# Delay warning, then expiry: a bounce to the sender with the reason.
tern_stop
ternconf -e "delay_warning_time = 2s" "maximal_queue_lifetime = 5s" "bounce_queue_lifetime = 5s" ||
	fail "ternconf -e"
tern_start
printf 'Subject: expiring\n\nx\n' | sendmail -f carol@localhost dan@remote.example || fail "sendmail"
wait_for_mail carol 1
# The oldest: on a slow machine the expiry bounce may be in by now too.
first=$TERN_DIR/mail/carol/new/$(ls -tr "$TERN_DIR/mail/carol/new" | head -n 1)
grep -q '^Action: delayed' "$first" || fail "first notice is not a delay warning"
wait_for_mail carol 2
b=$(tern_newest_mail carol)
grep -q '^Subject: Undelivered Mail Returned to Sender' "$b" || fail "no expiry bounce"
grep -q '^Action: failed' "$b" || fail "no Action: failed"
grep -q 'message expired after' "$b" || fail "no expiry reason"
grep -q '^Final-Recipient: rfc822; dan@remote.example' "$b" || fail "no Final-Recipient"
wait_for "an empty queue" sh -c "ternqueue -p | grep -q '^Mail queue is empty$'"
pass
