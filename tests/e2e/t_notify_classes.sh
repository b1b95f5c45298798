#!/bin/sh
# t_notify_classes.sh - notify_classes and the *_notice_recipient
# parameters, as Postfix does them: with the default (resource,
# software) an undeliverable bounce is discarded, the postmaster gets no
# copies of bounces, and a file that does not parse in maildrop/ brings a
# software notice to error_notice_recipient; with bounce and delay listed,
# bounce_notice_recipient gets a headers-only copy of each bounce,
# delay_notice_recipient one of each delay warning, and a bounce of a
# bounce goes to 2bounce_notice_recipient (bounce implies 2bounce).
# resource: pickup on a full disk (TERN_QFILE_FAULT, see lib/mail/qfile.h)
# defers the message and tells error_notice_recipient.
# Listing a class Tern does not implement draws a warning naming it.
here=$(dirname "$0")
[ -f "$here/lib.sh" ] || { echo "skip: tests/e2e/lib.sh is missing"; exit 77; }
. "$here/lib.sh"
for p in sendmail local qmgr pickup ternconf ternqueue; do
	[ -x "$TERN_TOP/stage/$p" ] || skip "$p is not built"
done

tern_instance
{
	echo "reject \"|exit 67\""
	echo "slow \"|exit 75\""
} > "$TERN_DIR/aliases.map"
ternconf -e "alias_maps = texthash:$TERN_DIR/aliases.map" "2bounce_notice_recipient = pm2" \
	"bounce_notice_recipient = pmb" "delay_notice_recipient = pmd" \
	"error_notice_recipient = pme" || fail "ternconf -e"
tern_start

msg() { printf 'Subject: %s\n\nbody line of %s\n' "$1" "$1"; }
count() { ls "$TERN_DIR/mail/$1/new" 2>/dev/null | wc -l; }

# Defaults: a bounce goes to its sender only; a bounce of a bounce is dropped.
msg plain | submit -f s1@localhost reject@localhost || fail "submit"
wait_for_mail s1 1
msg double | submit -f '<>' reject@localhost || fail "submit -f <>"
wait_for_log 'undeliverable bounce discarded'
# software: a file that does not parse in maildrop/ goes to corrupt/, and pme is told.
echo "not a queue file" > "$TERN_DIR/queue/maildrop/junk1"
wait_for_mail pme 1
n=$(tern_newest_mail pme)
grep -q '^Subject: Postmaster Warning: software error' "$n" || fail "no software notice subject"
grep -q 'junk1' "$n" || fail "the software notice does not name the file"
grep -q '^Return-Path: <double-bounce@' "$n" || fail "the software notice is not from double-bounce@"
msg marker | submit -f x@localhost s1@localhost || fail "marker"
wait_for_mail s1 2
wait_queue_empty
[ "$(count pmb)" = 0 ] || fail "bounce_notice_recipient got mail without the bounce class"
[ "$(count pm2)" = 0 ] || fail "a double bounce was sent without the 2bounce class"

# A class Tern does not implement is named in a warning.
ternconf -e "notify_classes = bounce, delay, policy" || fail "ternconf -e notify_classes"
out=$(ternconf -n 2>&1 >/dev/null)
echo "$out" | grep -q 'notify_classes lists policy, but Tern does not implement it' ||
	fail "no warning for the policy class: $out"
echo "$out" | grep -q 'lists bounce' && fail "the bounce class drew a warning"

# bounce and delay.
tern_stop
ternconf -e "notify_classes = bounce, delay" "delay_warning_time = 2s" \
	"maximal_queue_lifetime = 1h" "minimal_backoff_time = 1s" "maximal_backoff_time = 2s" \
	"queue_run_delay = 1s" || fail "ternconf -e"
tern_start
msg copied | submit -f s2@localhost reject@localhost || fail "submit"
wait_for_mail s2 1
wait_for_mail pmb 1
n=$(tern_newest_mail pmb)
grep -q '^Subject: Postmaster Copy: Undelivered Mail' "$n" || fail "no postmaster copy subject"
grep -q '^Return-Path: <double-bounce@' "$n" || fail "the postmaster copy is not from double-bounce@"
grep -q '^Content-Type: text/rfc822-headers' "$n" || fail "the postmaster copy is not headers only"
grep -q '^Subject: copied' "$n" || fail "the postmaster copy lacks the message's headers"
grep -q '^body line of copied' "$n" && fail "the postmaster copy holds the body"
msg double2 | submit -f '<>' reject@localhost || fail "submit -f <>"
wait_for_mail pm2 1
grep -q '^Final-Recipient: rfc822; reject@localhost' "$(tern_newest_mail pm2)" ||
	fail "no double bounce for 2bounce_notice_recipient"
msg late | submit -f s3@localhost slow@localhost || fail "submit"
wait_for_mail s3 1
grep -q '^Subject: Delayed Mail' "$(tern_newest_mail s3)" || fail "the sender got no delay warning"
wait_for_mail pmd 1
n=$(tern_newest_mail pmd)
grep -q '^Subject: Postmaster Warning: Delayed Mail' "$n" || fail "no postmaster delay copy"
grep -q '^Subject: late' "$n" || fail "the delay copy lacks the message's headers"

# resource (a default class): the first queue file write fails with ENOSPC.
tern_stop
ternconf -e "notify_classes = resource" || fail "ternconf -e"
msg full | submit -f s4@localhost rcpt4@localhost || fail "submit while stopped"
: > "$TERN_DIR/maillog"
TERN_QFILE_FAULT=write:1:ENOSPC pickup -c "$TERN_DIR" >/dev/null 2>&1 &
pid=$!
wait_for_log 'postmaster resource notification'
wait_for "the deferred message to be picked up" sh -c "[ -z \"\$(ls -A '$TERN_DIR/queue/maildrop')\" ]"
kill $pid
wait $pid 2>/dev/null
grep -q 'deferred: .*No space left' "$TERN_DIR/maillog" || fail "pickup did not defer on the full disk"
tern_start
wait_for_mail rcpt4 1
wait_for_mail pme 2
n=$(tern_newest_mail pme)
grep -q '^Subject: Postmaster Warning: resource problem' "$n" || fail "no resource notice subject"
grep -q 'No space left' "$n" || fail "the resource notice does not say what happened"
pass
