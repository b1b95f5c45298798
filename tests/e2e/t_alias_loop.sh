#!/bin/sh
# t_alias_loop.sh - alias loops in an instance's aliases(5) file bounce as
# in sendmail and Postfix: ping -> pong -> ping comes back to the sender
# as an RFC 3464 report with Status: 5.4.6 ("mail forwarding loop"),
# while an alias that lists itself (echo: echo, bob) still delivers to
# the mailbox echo and to bob. Runs as root or as any user.
. "$(dirname "$0")/lib.sh"

tern_instance
cat >> "$TERN_DIR/aliases" <<'EOA'
ping: pong
pong: ping
echo: echo, bob
EOA
newaliases -C "$TERN_DIR" >/dev/null || fail "newaliases -C exited $?"
tern_start

printf 'From: sender@localhost\nSubject: round and round\n\nx\n' |
	submit -f sender@localhost ping@localhost || fail "submission exited $?"
wait_for_mail sender 1
b=$(tern_newest_mail sender)
grep -q '^Subject: Undelivered Mail Returned to Sender' "$b" || fail "no bounce: $(cat "$b")"
grep -q 'report-type=delivery-status' "$b" || fail "not a multipart/report"
grep -q '^Final-Recipient: rfc822; ping@localhost' "$b" || fail "no Final-Recipient ping"
grep -q '^Action: failed' "$b" || fail "no Action: failed"
grep -q '^Status: 5\.4\.6' "$b" || fail "no Status: 5.4.6: $(grep '^Status:' "$b")"
grep -qi 'mail forwarding loop' "$b" || fail "the bounce does not say it is a loop"
grep -q '^Subject: round and round' "$b" || fail "the original headers are not returned"
for name in ping pong; do
	[ ! -d "$TERN_DIR/mail/$name" ] || fail "a looping message was delivered to $name"
done

printf 'From: sender@localhost\nSubject: myself and bob\n\ny\n' |
	submit -f sender@localhost echo@localhost || fail "submission exited $?"
wait_for_mail echo 1
wait_for_mail bob 1
grep -q '^Subject: myself and bob' "$(tern_newest_mail echo)" || fail "echo's mailbox has another message"
# A bounce is queued before the recipients it reports are marked, and
# stays in the queue until delivered: once the queue is empty, any bounce
# of this message is in the sender's mailbox.
wait_queue_empty
[ "$(ls "$TERN_DIR/mail/sender/new" | wc -l)" = 1 ] || fail "the self-referencing alias bounced"
pass
