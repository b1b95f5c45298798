#!/bin/sh
# t_smtpd_milter_flow.sh - smtpd_milters: the answers of a milter
# (tests/e2e/milter_act) that change the course of a message, as the SMTP
# client sees them, replies read whole: multi-line reply codes (RCPT, end
# of message) and one-line ones (connect, MAIL); discard at RCPT and at
# end of message (250, nothing queued, the milter hears no more); accept
# at MAIL (the milter hears nothing more of that message); skip at the
# body (the milter gets one chunk, the queue the whole body); progress
# keeping a short milter_content_timeout from firing. Then two milters in
# a chain: the second sees the header the first added, and never a
# recipient or MAIL the first rejected. smtpd runs by hand (unprivileged
# after start). Every milter is started up front on a socket of its own
# (one per case); the socket smtpd uses is linked to the case's.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/smtpd_lib.sh"
tern_instance
. "$(dirname "$0")/smtpd_milter_lib.sh"

milter_launch rc_rcpt 'replycode@rcpt=bad@localhost:554:5.7.1:line one:line two'
milter_launch rc_eom 'replycode@eom:452:4.3.1:full:try later\: soon'
milter_launch rc_connect 'replycode@connect:554:5.7.1:go away'
milter_launch rc_mail 'replycode@mail:553:5.1.8:sender no good'
milter_launch discard_eom discard@eom
milter_launch discard_rcpt discard@rcpt=tmp@localhost
milter_launch accept_mail accept@mail
milter_launch progress progress@eom:4
milter_launch skip skip@body
milter_launch c1_rcpt addheader:X-First-Milter:added reject@rcpt=bad@localhost
milter_launch c1_mail reject@mail
milter_launch c2
smtpd_ports 2
smtpd_launch one -o smtpd_milters=unix:$MD/r.sock -o milter_content_timeout=2s
smtpd_launch chain -o "smtpd_milters=unix:$MD/c1.sock, unix:$MD/c2.sock"
for n in rc_rcpt rc_eom rc_connect rc_mail discard_eom discard_rcpt accept_mail progress skip \
	c1_rcpt c1_mail c2; do
	milter_ready $n
done
smtpd_ready one chain
smtpd_use one
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

case_ "multi-line replycode at rcpt" rc_rcpt
replies_are "$WHAT" <<X
$GREET
$EHLO_R
250 2.1.0 Ok
554-5.7.1 line one|554 5.7.1 line two
250 2.1.5 Ok
250 2.1.5 Ok
354 End data with <CR><LF>.<CR><LF>
250 2.0.0 Ok: queued as ID
221 2.0.0 Bye
X
queued 1

case_ "multi-line replycode at eom" rc_eom
replies_are "$WHAT" <<X
$GREET
$EHLO_R
$ALL_OK
452-4.3.1 full|452 4.3.1 try later: soon
221 2.0.0 Bye
X
queued 0

case_ "replycode at connect" rc_connect
replies_are "$WHAT" <<X
554 5.7.1 go away
$DENIED
$DENIED
$DENIED
$DENIED
$DENIED
$DENIED
(no message sent)
221 2.0.0 Bye
X

case_ "replycode at mail" rc_mail
replies_are "$WHAT" <<X
$GREET
$EHLO_R
553 5.1.8 sender no good
503 5.5.1 Error: need MAIL command
503 5.5.1 Error: need MAIL command
503 5.5.1 Error: need MAIL command
503 5.5.1 Error: need MAIL command
(no message sent)
221 2.0.0 Bye
X

for st in eom rcpt=tmp@localhost; do
	case_ "discard at $st" "discard_${st%%=*}"
	replies_are "$WHAT" <<X
$GREET
$EHLO_R
$ALL_OK
250 2.0.0 Ok
221 2.0.0 Bye
X
	queued 0
	[ "$(hold_count)" = 0 ] || fail "$WHAT: a message in hold/"
done
# Discarded at the 2nd RCPT: the milter hears nothing more of the message.
milter_conn_log discard_rcpt | grep -q '^rcpt conn=1 arg="<postmaster@localhost>"' && fail "discard at rcpt: the milter still got the next RCPT"
milter_conn_log discard_rcpt | grep -qE '^(data|eoh|eom) ' && fail "discard at rcpt: the milter still got the message"

case_ "accept at mail" accept_mail
replies_are "$WHAT" <<X
$GREET
$EHLO_R
$ALL_OK
250 2.0.0 Ok: queued as ID
221 2.0.0 Bye
X
queued 1
milter_conn_log accept_mail | grep -q '^mail conn=1 ' || fail "$WHAT: the milter did not see MAIL"
milter_conn_log accept_mail | grep -E '^(rcpt|data|header|eoh|body|eom) ' && fail "$WHAT: the milter still got callbacks"

case_ "progress at eom past milter_content_timeout=2s" progress
replies_are "$WHAT" <<X
$GREET
$EHLO_R
$ALL_OK
250 2.0.0 Ok: queued as ID
221 2.0.0 Bye
X
queued 1
[ "$(milter_conn_log progress | grep -c '^act conn=1 stage=eom progress rc=0$')" -ge 3 ] || fail "$WHAT: no progress sent"

# skip at body: a body of 3 chunks; the milter gets the first only, the queue all of it.
python3 -c '
import sys
sys.stdout.buffer.write(b"Subject: big\r\n\r\n" + b"".join(b"%05d %s\r\n" % (i, b"x" * 90) for i in range(2000)))' >"$TERN_DIR/big.msg"
queue_clear
milter_link r skip
smtp "$EHLO" "MAIL FROM:<a@localhost>" "RCPT TO:<postmaster@localhost>" DATA "MSGFILE:$TERN_DIR/big.msg" QUIT
replies_are "skip at body" <<X
$GREET
$EHLO_R
250 2.1.0 Ok
250 2.1.5 Ok
354 End data with <CR><LF>.<CR><LF>
250 2.0.0 Ok: queued as ID
221 2.0.0 Bye
X
[ "$(milter_conn_log skip | grep -c '^body ')" = 1 ] || fail "skip: the milter got $(milter_conn_log skip | grep -c '^body ') body chunks, not 1"
milter_conn_log skip | grep -q '^eom ' || fail "skip: no eom after skip"
qf=$(find "$TERN_DIR/queue/incoming" -type f)
[ "$(sed -n '/^M /,$p' "$qf" | grep -c '^[0-9]\{5\} x')" = 2000 ] || fail "skip: the queued body is not whole"

# ---- a chain of two ----
queue_clear
smtpd_use chain
milter_link c1 c1_rcpt
three
replies_are "chain" <<X
$GREET
$EHLO_R
250 2.1.0 Ok
$REJ
250 2.1.5 Ok
250 2.1.5 Ok
354 End data with <CR><LF>.<CR><LF>
250 2.0.0 Ok: queued as ID
221 2.0.0 Bye
X
milter_conn_log c1_rcpt | grep -q '^rcpt conn=1 arg="<bad@localhost>"' || fail "chain: the first milter did not see bad@"
milter_conn_log c2 | grep -q 'bad@localhost' && fail "chain: the second milter saw the recipient the first rejected"
milter_conn_log c2 | grep -q '^rcpt conn=1 arg="<tmp@localhost>"' || fail "chain: the second milter did not see tmp@"
milter_conn_log c2 | grep -q '^header conn=1 name="X-First-Milter" value="added"' ||
	{ milter_conn_log c2 >&2; fail "chain: the second milter did not see the first one's header"; }
milter_conn_log c1_rcpt | grep -q 'X-First-Milter' && fail "chain: the first milter saw its own header"
qf=$(find "$TERN_DIR/queue/incoming" -type f)
grep -qx 'X-First-Milter: added' "$qf" || fail "chain: header not queued"
# A reject by the first at MAIL: the second never hears of MAIL.
milter_link c1 c1_mail
: >"$MD/c2.log"
send_one
grep -q '^mail ' "$MD/c2.log" && fail "chain: the second milter saw a MAIL the first rejected"
grep -q "^$REJ\$" "$OUT" || fail "chain: MAIL not rejected"
smtpd_alive chain
pass
