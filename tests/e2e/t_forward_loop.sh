#!/bin/sh
# t_forward_loop.sh - .forward loops bounce as alias loops do: user A's
# .forward names B and B's names A, so mail for A comes back to its sender
# as an RFC 3464 report with Status: 5.4.6; a .forward that names its own
# user ("C, D") still delivers to C's mailbox and to D. System accounts
# (no local_maildir_base), so root only.
. "$(dirname "$0")/lib.sh"
need_root

a=ternfl1_$$ b=ternfl2_$$ c=ternfl3_$$ d=ternfl4_$$ s=ternfl5_$$
for u in $a $b $c $d $s; do test_user_add $u; done
home() { getent passwd "$1" | cut -d: -f6; }
dotforward() {	# dotforward USER TEXT
	printf '%s\n' "$2" > "$(home "$1")/.forward"
	chown "$1" "$(home "$1")/.forward"
}

tern_instance
spool="$TERN_DIR/spool"
mkdir -p "$spool" && chmod 1777 "$spool"
ternconf -X local_maildir_base || fail "ternconf -X"
ternconf -e "mail_spool_directory = $spool" || fail "ternconf -e"
dotforward $a "$b@localhost"
dotforward $b "$a"
dotforward $c "$c, $d@localhost"
tern_start

count() { grep -c '^From ' "$spool/$1" 2>/dev/null || echo 0; }
at_least() { [ "$(count "$1")" -ge "$2" ]; }

printf 'From: %s@localhost\nSubject: forwarded round\n\nx\n' $s |
	submit -f $s@localhost $a@localhost || fail "submission exited $?"
wait_for "the bounce for $s" at_least $s 1
grep -q 'report-type=delivery-status' "$spool/$s" || fail "not a multipart/report: $(cat "$spool/$s")"
grep -q "^Final-Recipient: rfc822; $a@localhost" "$spool/$s" || fail "no Final-Recipient $a"
grep -q '^Status: 5\.4\.6' "$spool/$s" || fail "no Status: 5.4.6: $(grep '^Status:' "$spool/$s")"
grep -qi 'mail forwarding loop' "$spool/$s" || fail "the bounce does not say it is a loop"
for u in $a $b; do
	[ "$(count $u)" = 0 ] || fail "a looping message was delivered to $u"
done

printf 'From: %s@localhost\nSubject: keep and pass on\n\ny\n' $s |
	submit -f $s@localhost $c@localhost || fail "submission exited $?"
wait_for "the copy kept by $c" at_least $c 1
wait_for "the copy for $d" at_least $d 1
# A bounce is queued before the recipients it reports are marked, and
# stays in the queue until delivered: once the queue is empty, any bounce
# of this message is in the sender's mailbox.
wait_queue_empty
[ "$(count $s)" = 1 ] || fail "a .forward naming its own user bounced"
pass
