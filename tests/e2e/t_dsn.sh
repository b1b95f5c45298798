#!/bin/sh
# t_dsn.sh - delivery status notifications end to end: -N never
# suppresses the bounce, -N success produces "Action: delivered", -R full
# returns the whole message, a bounce of a bounce (sender <>) goes to
# 2bounce_notice_recipient from double-bounce@ (notify_classes lists
# 2bounce; t_notify_classes.sh has the rest), and the errors of a list
# with an owner- alias go to the owner instead of the sender; soft_bounce
# keeps a failure queued as a deferral.
here=$(dirname "$0")
[ -f "$here/lib.sh" ] || { echo "skip: tests/e2e/lib.sh is missing"; exit 77; }
. "$here/lib.sh"
for p in sendmail local qmgr pickup ternconf ternqueue; do
	[ -x "$TERN_TOP/stage/$p" ] || skip "$p is not built"
done

tern_instance
{
	echo "reject \"|exit 67\""
	echo "lst ann, \"|exit 67\""
	echo "owner-lst listowner"
} > "$TERN_DIR/aliases.map"
ternconf -e "alias_maps = texthash:$TERN_DIR/aliases.map" "2bounce_notice_recipient = pm" \
	"notify_classes = resource, software, 2bounce" ||
	fail "ternconf -e"
tern_start

msg() { printf 'Subject: %s\n\nbody line of %s\n' "$1" "$1"; }
count() { ls "$TERN_DIR/mail/$1/new" 2>/dev/null | wc -l; }

# -N never: the failure is logged, nobody is told.
msg never | submit -N never -f s1@localhost reject@localhost || fail "submit -N never"
wait_for_log 'to=<reject@localhost>.*status=bounced'
# A marker sent afterwards arrives after any notice would have.
msg marker | submit -f x@localhost s1@localhost || fail "sendmail marker"
wait_for_mail s1 1
wait_queue_empty
[ "$(count s1)" = 1 ] || fail "-N never still sent a notice"
grep -q '^Subject: marker' "$(tern_newest_mail s1)" || fail "s1 got something else than the marker"

# -N success: a delivery notice.
msg success | submit -N success,failure -f s2@localhost rcpt2@localhost || fail "sendmail -N success"
wait_for_mail rcpt2 1
wait_for_mail s2 1
n=$(tern_newest_mail s2)
grep -q '^Subject: Successful Mail Delivery Report' "$n" || fail "no success notice subject"
grep -q '^Action: delivered' "$n" || fail "no Action: delivered"
grep -q '^Status: 2\.0\.0' "$n" || fail "no Status: 2.0.0"

# -R full: the whole message comes back.
msg full | submit -R full -f s3@localhost reject@localhost || fail "sendmail -R full"
wait_for_mail s3 1
n=$(tern_newest_mail s3)
grep -q '^Content-Type: message/rfc822' "$n" || fail "RET=FULL did not return message/rfc822"
grep -q '^body line of full' "$n" || fail "RET=FULL did not return the body"
msg hdrs | submit -R hdrs -f s4@localhost reject@localhost || fail "sendmail -R hdrs"
wait_for_mail s4 1
n=$(tern_newest_mail s4)
grep -q '^Content-Type: text/rfc822-headers' "$n" || fail "RET=HDRS did not return the headers only"
grep -q '^body line of hdrs' "$n" && fail "RET=HDRS returned the body"

# A bounce of a bounce: to 2bounce_notice_recipient, from double-bounce@.
msg double | submit -f '<>' reject@localhost || fail "sendmail -f <>"
wait_for_mail pm 1
n=$(tern_newest_mail pm)
grep -q '^Return-Path: <double-bounce@' "$n" || fail "the postmaster notice is not from double-bounce@"
grep -q '^Final-Recipient: rfc822; reject@localhost' "$n" || fail "no Final-Recipient in the postmaster notice"

# owner-lst receives the errors of lst's members; the sender hears nothing.
msg listed | submit -f s5@localhost lst@localhost || fail "sendmail to the list"
wait_for_mail ann 1
wait_for_mail listowner 1
grep -q '^Action: failed' "$(tern_newest_mail listowner)" || fail "the owner got no failure notice"
msg marker | submit -f x@localhost s5@localhost || fail "sendmail marker"
wait_for_mail s5 1
wait_queue_empty
[ "$(count s5)" = 1 ] || fail "the sender got the list's error"

# soft_bounce = yes: the failure stays in the queue as a deferral.
tern_stop
ternconf -e "soft_bounce = yes" || fail "ternconf -e"
tern_start
msg soft | submit -f s6@localhost reject@localhost || fail "sendmail soft"
wait_for_log 'to=<reject@localhost>.*dsn=4\.1\.1, status=deferred'
ternqueue -j | grep -q '"address": "reject@localhost"' || fail "the soft bounce is not in the queue"
pass
