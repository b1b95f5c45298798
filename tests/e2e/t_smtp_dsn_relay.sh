#!/bin/sh
# t_smtp_dsn_relay.sh - DSN parameters given over SMTP survive a relay
# (RFC 3461 sections 4 and 6.2): to a next hop that offers DSN, RET,
# ENVID, NOTIFY and ORCPT go along (ENVID and ORCPT xtext-encoded again)
# and Tern sends no success notice of its own; to a next hop without DSN
# nothing is passed on and NOTIFY=SUCCESS gets an "Action: relayed"
# notice. The next hop is tests/e2e/dsn_sink.py on loopback (relayhost).
. "$(dirname "$0")/lib.sh"
for p in smtpd local qmgr pickup ternconf ternqueue; do
	[ -x "$TERN_TOP/stage/$p" ] || skip "$p is not built"
done
need_cmd python3

tern_instance
sinkport=$(free_port)
sinklog=$TERN_DIR/sink.log
SINK_PID=""
sink_start() {	# sink_start yes|no
	python3 "$TERN_TOP/tests/e2e/dsn_sink.py" "$sinkport" "$1" "$sinklog" &
	SINK_PID=$!
	at_cleanup "kill $SINK_PID"
	wait_for_port "$sinkport"
}
sink_stop() { kill "$SINK_PID" 2>/dev/null; wait "$SINK_PID" 2>/dev/null; }

ternconf -e "relayhost = [127.0.0.1]:$sinkport" || fail "ternconf -e"
tern_start
wait_for_port "$TERN_PORT"
count() { ls "$TERN_DIR/mail/$1/new" 2>/dev/null | wc -l; }

# send SENDER RCPT SUBJECT "MAIL PARAMS" "RCPT PARAMS"
send() {
	python3 - "$TERN_PORT" "$@" <<'EOP' || fail "SMTP transaction for $3"
import smtplib, sys
port, sender, rcpt, subject, mopts, ropts = int(sys.argv[1]), *sys.argv[2:7]
with smtplib.SMTP("127.0.0.1", port, timeout=60) as s:
    s.ehlo("relay-client.example")
    s.mail(sender, mopts.split())
    code, text = s.rcpt(rcpt, ropts.split())
    assert code == 250, (code, text)
    code, text = s.data("Subject: %s\r\n\r\nbody\r\n" % subject)
    assert code == 250, (code, text)
EOP
}

# A next hop with DSN: everything goes along, encoded as on the way in.
sink_start yes
send s1@localhost far@remote.example with-dsn 'RET=HDRS ENVID=e+2Bx+3Dy' \
	'NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;o+2Bfar@remote.example'
wait_for_log 'to=<far@remote\.example>.*status=sent'
grep -q '^MAIL FROM:<s1@localhost> .*RET=HDRS ENVID=e+2Bx+3Dy$' "$sinklog" \
	|| fail "MAIL without RET/ENVID as given: $(grep '^MAIL' "$sinklog")"
grep -q '^RCPT TO:<far@remote.example> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;o+2Bfar@remote.example$' "$sinklog" \
	|| fail "RCPT without NOTIFY/ORCPT as given: $(grep '^RCPT' "$sinklog")"
# A recipient without ORCPT gets none made up; one with NEVER keeps it.
send s1@localhost plain@remote.example plain '' 'NOTIFY=NEVER'
wait_for_log 'to=<plain@remote\.example>.*status=sent'
grep -q '^RCPT TO:<plain@remote.example> NOTIFY=NEVER$' "$sinklog" \
	|| fail "NOTIFY=NEVER not passed on: $(grep '^RCPT' "$sinklog")"
# The next hop reports success, not Tern: s1 gets only the marker.
send x@localhost s1@localhost marker '' ''
wait_for_mail s1 1
wait_queue_empty
[ "$(count s1)" = 1 ] || fail "a success notice was sent although the next hop does DSN"
sink_stop

# A next hop without DSN: nothing passed on, and a "relayed" notice.
: > "$sinklog"
sink_start no
send s2@localhost far2@remote.example without-dsn 'ENVID=id-2' 'NOTIFY=SUCCESS ORCPT=rfc822;o2@remote.example'
wait_for_log 'to=<far2@remote\.example>.*status=sent'
grep -Eq 'NOTIFY|ORCPT|ENVID|RET=' "$sinklog" && fail "DSN parameters sent to a server without DSN: $(cat "$sinklog")"
wait_for_mail s2 1
n=$(tern_newest_mail s2)
grep -q '^Subject: Successful Mail Delivery Report' "$n" || fail "no success notice: $(cat "$n")"
grep -q '^Action: relayed$' "$n" || fail "the notice does not say relayed: $(grep '^Action' "$n")"
grep -q '^Final-Recipient: rfc822; far2@remote.example' "$n" || fail "no Final-Recipient"
grep -q '^Original-Envelope-Id: id-2$' "$n" || fail "no Original-Envelope-Id"
grep -q '^Original-Recipient: rfc822;o2@remote.example$' "$n" || fail "no Original-Recipient"
pass
