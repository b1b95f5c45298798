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
# after start), one milter process after another behind the same socket.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/smtpd_lib.sh"
tern_instance
. "$(dirname "$0")/smtpd_milter_lib.sh"

smtpd_start -o smtpd_milters=unix:$MD/r.sock -o milter_content_timeout=2s
# One session: three recipients, then the message.
three() {
	smtp "$EHLO" "MAIL FROM:<a@localhost>" "RCPT TO:<bad@localhost>" "RCPT TO:<tmp@localhost>" \
		"RCPT TO:<postmaster@localhost>" DATA "$MSG" QUIT
}
# case WHAT SPEC...: a fresh milter with SPECs, one session; replies in $OUT.
case_() {
	WHAT=$1
	shift
	queue_clear
	milter_stop r
	milter_start r "$@"
	three
	smtpd_alive "$WHAT"
}
queued() { [ "$(incoming_count)" = "$1" ] || fail "$WHAT: $(incoming_count) messages queued, not $1"; }
ALL_OK="250 2.1.0 Ok
250 2.1.5 Ok
250 2.1.5 Ok
250 2.1.5 Ok
354 End data with <CR><LF>.<CR><LF>"

case_ "multi-line replycode at rcpt" 'replycode@rcpt=bad@localhost:554:5.7.1:line one:line two'
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

case_ "multi-line replycode at eom" 'replycode@eom:452:4.3.1:full:try later\: soon'
replies_are "$WHAT" <<X
$GREET
$EHLO_R
$ALL_OK
452-4.3.1 full|452 4.3.1 try later: soon
221 2.0.0 Bye
X
queued 0

case_ "replycode at connect" 'replycode@connect:554:5.7.1:go away'
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

case_ "replycode at mail" 'replycode@mail:553:5.1.8:sender no good'
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
	case_ "discard at $st" discard@$st
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
milter_conn_log r | grep -q '^rcpt conn=1 arg="<postmaster@localhost>"' && fail "discard at rcpt: the milter still got the next RCPT"
milter_conn_log r | grep -qE '^(data|eoh|eom) ' && fail "discard at rcpt: the milter still got the message"

case_ "accept at mail" accept@mail
replies_are "$WHAT" <<X
$GREET
$EHLO_R
$ALL_OK
250 2.0.0 Ok: queued as ID
221 2.0.0 Bye
X
queued 1
milter_conn_log r | grep -q '^mail conn=1 ' || fail "$WHAT: the milter did not see MAIL"
milter_conn_log r | grep -E '^(rcpt|data|header|eoh|body|eom) ' && fail "$WHAT: the milter still got callbacks"

case_ "progress at eom past milter_content_timeout=2s" progress@eom:4
replies_are "$WHAT" <<X
$GREET
$EHLO_R
$ALL_OK
250 2.0.0 Ok: queued as ID
221 2.0.0 Bye
X
queued 1
[ "$(milter_conn_log r | grep -c '^act conn=1 stage=eom progress rc=0$')" -ge 3 ] || fail "$WHAT: no progress sent"

# skip at body: a body of 3 chunks; the milter gets the first only, the queue all of it.
python3 -c '
import sys
sys.stdout.buffer.write(b"Subject: big\r\n\r\n" + b"".join(b"%05d %s\r\n" % (i, b"x" * 90) for i in range(2000)))' >"$TERN_DIR/big.msg"
queue_clear
milter_stop r
milter_start r skip@body
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
[ "$(milter_conn_log r | grep -c '^body ')" = 1 ] || fail "skip: the milter got $(milter_conn_log r | grep -c '^body ') body chunks, not 1"
milter_conn_log r | grep -q '^eom ' || fail "skip: no eom after skip"
qf=$(find "$TERN_DIR/queue/incoming" -type f)
[ "$(sed -n '/^M /,$p' "$qf" | grep -c '^[0-9]\{5\} x')" = 2000 ] || fail "skip: the queued body is not whole"
smtpd_stop
milter_stop r

# ---- a chain of two ----
queue_clear
milter_start c1 addheader:X-First-Milter:added reject@rcpt=bad@localhost
milter_start c2
smtpd_start -o "smtpd_milters=unix:$MD/c1.sock, unix:$MD/c2.sock"
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
milter_conn_log c1 | grep -q '^rcpt conn=1 arg="<bad@localhost>"' || fail "chain: the first milter did not see bad@"
milter_conn_log c2 | grep -q 'bad@localhost' && fail "chain: the second milter saw the recipient the first rejected"
milter_conn_log c2 | grep -q '^rcpt conn=1 arg="<tmp@localhost>"' || fail "chain: the second milter did not see tmp@"
milter_conn_log c2 | grep -q '^header conn=1 name="X-First-Milter" value="added"' ||
	{ milter_conn_log c2 >&2; fail "chain: the second milter did not see the first one's header"; }
milter_conn_log c1 | grep -q 'X-First-Milter' && fail "chain: the first milter saw its own header"
qf=$(find "$TERN_DIR/queue/incoming" -type f)
grep -qx 'X-First-Milter: added' "$qf" || fail "chain: header not queued"
# A reject by the first at MAIL: the second never hears of MAIL.
milter_stop c1
milter_start c1 reject@mail
: >"$MD/c2.log"
send_one
grep -q '^mail ' "$MD/c2.log" && fail "chain: the second milter saw a MAIL the first rejected"
grep -q "^$REJ\$" "$OUT" || fail "chain: MAIL not rejected"
smtpd_alive chain
pass
