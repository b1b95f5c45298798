#!/bin/sh
# t_smtpd_milter_replies.sh - smtpd_milters: reject and tempfail of a
# milter (tests/e2e/milter_act) at connect, HELO, MAIL, RCPT (that
# recipient only), DATA and end of message, as the SMTP client sees them,
# replies read whole, and what is queued. smtpd runs by hand
# (unprivileged after start). Every case's milter is started up front on
# a socket of its own; the socket smtpd uses is linked to the case's.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/smtpd_lib.sh"
tern_instance
. "$(dirname "$0")/smtpd_milter_lib.sh"

for a in reject tempfail; do
	for st in connect helo mail data eom; do milter_launch ${a}_$st $a@$st; done
done
milter_launch rcpt reject@rcpt=bad@localhost 'tempfail@rcpt=<TMP@localhost>'
for a in reject tempfail; do
	for st in connect helo mail data eom; do milter_ready ${a}_$st; done
done
milter_ready rcpt
smtpd_start -o smtpd_milters=unix:$MD/r.sock -o milter_content_timeout=2s
# One session: three recipients, then the message.
three() {
	smtp "$EHLO" "MAIL FROM:<a@localhost>" "RCPT TO:<bad@localhost>" "RCPT TO:<tmp@localhost>" \
		"RCPT TO:<postmaster@localhost>" DATA "$MSG" QUIT
}
# case WHAT NAME: the milter NAME behind r.sock, one session; replies in $OUT.
case_() {
	WHAT=$1
	queue_clear
	milter_link r "$2"
	three
	smtpd_alive "$WHAT"
}
queued() { [ "$(incoming_count)" = "$1" ] || fail "$WHAT: $(incoming_count) messages queued, not $1"; }
ALL_OK="250 2.1.0 Ok
250 2.1.5 Ok
250 2.1.5 Ok
250 2.1.5 Ok
354 End data with <CR><LF>.<CR><LF>"

for a in reject tempfail; do
	[ $a = reject ] && R=$REJ || R=$TMP
	case_ "$a at connect" ${a}_connect
	replies_are "$WHAT" <<X
$R
$DENIED
$DENIED
$DENIED
$DENIED
$DENIED
$DENIED
(no message sent)
221 2.0.0 Bye
X
	queued 0
	# As Postfix: a refused HELO refuses only the HELO.
	case_ "$a at helo" ${a}_helo
	replies_are "$WHAT" <<X
$GREET
$R
$ALL_OK
250 2.0.0 Ok: queued as ID
221 2.0.0 Bye
X
	queued 1
	case_ "$a at mail" ${a}_mail
	replies_are "$WHAT" <<X
$GREET
$EHLO_R
$R
503 5.5.1 Error: need MAIL command
503 5.5.1 Error: need MAIL command
503 5.5.1 Error: need MAIL command
503 5.5.1 Error: need MAIL command
(no message sent)
221 2.0.0 Bye
X
	queued 0
	case_ "$a at data" ${a}_data
	replies_are "$WHAT" <<X
$GREET
$EHLO_R
250 2.1.0 Ok
250 2.1.5 Ok
250 2.1.5 Ok
250 2.1.5 Ok
$R
(no message sent)
221 2.0.0 Bye
X
	queued 0
	[ $a = reject ] && R="550 5.7.1 Message content rejected"
	case_ "$a at eom" ${a}_eom
	replies_are "$WHAT" <<X
$GREET
$EHLO_R
$ALL_OK
$R
221 2.0.0 Bye
X
	queued 0
done

case_ "reject and tempfail at rcpt" rcpt
replies_are "$WHAT" <<X
$GREET
$EHLO_R
250 2.1.0 Ok
$REJ
$TMP
250 2.1.5 Ok
354 End data with <CR><LF>.<CR><LF>
250 2.0.0 Ok: queued as ID
221 2.0.0 Bye
X
queued 1
grep -ah '^R-' "$TERN_DIR"/queue/incoming/* >"$OUT"	# -a: NULs pad a queue file
printf 'R-0\tpostmaster@localhost\t\n' | replies_are "$WHAT: recipients queued"

smtpd_alive replies
# The queue file made at MAIL FROM (for the macro i) goes with every
# transaction that ended without a message: none is left behind.
left=$(ls -A "$TERN_DIR/queue/incoming" | grep '^\.tmp\.' || true)
[ -z "$left" ] || fail "temporary queue files left behind: $left"
pass
