#!/bin/sh
# t_smtpd_dsn.sh - the DSN parameters of RFC 3461 given over SMTP are
# carried into the queue and honoured by the notices (RFC 3464):
# NOTIFY=NEVER gets no bounce, NOTIFY=SUCCESS gets an "Action: delivered"
# notice on local delivery, RET=HDRS returns the headers only and
# RET=FULL the whole message, ENVID comes back as Original-Envelope-Id
# and ORCPT as Original-Recipient (both xtext-decoded), and without
# NOTIFY a delivery is silent while a failure bounces; the same through
# sendmail -bs.
. "$(dirname "$0")/lib.sh"
for p in smtpd local qmgr pickup ternconf ternqueue; do
	[ -x "$TERN_TOP/stage/$p" ] || skip "$p is not built"
done
need_cmd python3

tern_instance
echo 'reject "|exit 67"' > "$TERN_DIR/aliases.map"
ternconf -e "alias_maps = texthash:$TERN_DIR/aliases.map" || fail "ternconf -e"
tern_start
wait_for_port "$TERN_PORT"

count() { ls "$TERN_DIR/mail/$1/new" 2>/dev/null | wc -l; }

# dsn_send SENDER RCPT SUBJECT "MAIL PARAMS" "RCPT PARAMS": one message over SMTP.
dsn_send() {
	python3 - "$TERN_PORT" "$@" <<'EOP' || fail "SMTP transaction for $3"
import smtplib, sys
port, sender, rcpt, subject, mopts, ropts = int(sys.argv[1]), *sys.argv[2:7]
msg = "From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\n\r\nbody line of %s\r\n" % (sender, rcpt, subject, subject)
with smtplib.SMTP("127.0.0.1", port, timeout=60) as s:
    s.ehlo("dsn.example")
    assert s.has_extn("dsn"), "DSN not offered"
    code, text = s.mail(sender, mopts.split())
    assert code == 250, (code, text)
    code, text = s.rcpt(rcpt, ropts.split())
    assert code == 250, (code, text)
    code, text = s.data(msg)
    assert code == 250, (code, text)
EOP
}

# The queue file keeps what the client said (the attributes and the recipient's record).
dsn_send s0@localhost rcpt0@localhost queued 'RET=HDRS ENVID=Q+2Bid' 'NOTIFY=SUCCESS,DELAY ORCPT=rfc822;o+2Bq@example.com'
wait_for_mail rcpt0 1
wait_for_mail s0 1

# NOTIFY=NEVER: the failure is logged, nobody is told.
dsn_send s1@localhost reject@localhost never '' 'NOTIFY=NEVER'
wait_for_log 'to=<reject@localhost>.*status=bounced'
dsn_send x@localhost s1@localhost marker '' ''
wait_for_mail s1 1
wait_queue_empty
[ "$(count s1)" = 1 ] || fail "NOTIFY=NEVER still sent a notice"
grep -q '^Subject: marker' "$(tern_newest_mail s1)" || fail "s1 got something else than the marker"

# NOTIFY=SUCCESS: a delivery notice with ENVID and ORCPT, headers only by default.
dsn_send s2@localhost rcpt2@localhost success 'ENVID=env+2Bid+3D2' 'NOTIFY=SUCCESS ORCPT=rfc822;orig+2Btag@example.com'
wait_for_mail rcpt2 1
wait_for_mail s2 1
n=$(tern_newest_mail s2)
grep -q '^Subject: Successful Mail Delivery Report' "$n" || fail "no success notice: $(cat "$n")"
grep -q '^Action: delivered' "$n" || fail "no Action: delivered"
grep -q '^Status: 2\.0\.0' "$n" || fail "no Status: 2.0.0"
grep -q '^Final-Recipient: rfc822; rcpt2@localhost' "$n" || fail "no Final-Recipient"
grep -q '^Original-Envelope-Id: env+id=2$' "$n" || fail "ENVID not decoded into Original-Envelope-Id: $(grep -i envelope "$n")"
grep -Eq '^Original-Recipient: rfc822; ?orig\+tag@example\.com$' "$n" \
	|| fail "ORCPT not in Original-Recipient: $(grep -i original-recipient "$n")"
grep -q '^Return-Path: <>' "$n" || fail "the notice does not have the null sender"

# Without NOTIFY a delivery is silent.
dsn_send s3@localhost rcpt3@localhost silent '' ''
wait_for_mail rcpt3 1
dsn_send x@localhost s3@localhost marker '' ''
wait_for_mail s3 1
wait_queue_empty
[ "$(count s3)" = 1 ] || fail "a delivery without NOTIFY produced a notice"

# RET=HDRS on a failure: the headers come back, not the body; ENVID and ORCPT too.
dsn_send s4@localhost reject@localhost hdrs 'RET=HDRS ENVID=hdrs-1' 'ORCPT=rfc822;list+2Breject@example.org'
wait_for_mail s4 1
n=$(tern_newest_mail s4)
grep -q '^Subject: Undelivered Mail Returned to Sender' "$n" || fail "no bounce for RET=HDRS"
grep -q '^Action: failed' "$n" || fail "no Action: failed"
grep -q '^Content-Type: text/rfc822-headers' "$n" || fail "RET=HDRS did not return the headers only"
grep -q '^Subject: hdrs' "$n" || fail "RET=HDRS did not return the headers"
grep -q '^body line of hdrs' "$n" && fail "RET=HDRS returned the body"
grep -q '^Original-Envelope-Id: hdrs-1$' "$n" || fail "no Original-Envelope-Id in the bounce"
grep -Eq '^Original-Recipient: rfc822; ?list\+reject@example\.org$' "$n" || fail "no Original-Recipient in the bounce"

# RET=FULL: the whole message comes back.
dsn_send s5@localhost reject@localhost full 'RET=FULL' 'NOTIFY=FAILURE'
wait_for_mail s5 1
n=$(tern_newest_mail s5)
grep -q '^Content-Type: message/rfc822' "$n" || fail "RET=FULL did not return message/rfc822"
grep -q '^body line of full' "$n" || fail "RET=FULL did not return the body"
grep -q '^Original-Envelope-Id' "$n" && fail "Original-Envelope-Id without ENVID"

# sendmail -bs runs the same SMTP engine: its DSN parameters count too.
printf 'EHLO bs.example\r\nMAIL FROM:<s7@localhost> ENVID=bs+2Bid\r\nRCPT TO:<rcpt7@localhost> NOTIFY=SUCCESS ORCPT=rfc822;bs+2Borig@example.com\r\nDATA\r\nSubject: via-bs\r\n\r\nx\r\n.\r\nQUIT\r\n' |
	sendmail -bs >"$TERN_DIR/bs.out" 2>&1 || fail "sendmail -bs: $(cat "$TERN_DIR/bs.out")"
grep -q '^250 2\.0\.0 Ok: queued as' "$TERN_DIR/bs.out" || fail "sendmail -bs: $(cat "$TERN_DIR/bs.out")"
wait_for_mail s7 1
n=$(tern_newest_mail s7)
grep -q '^Action: delivered' "$n" || fail "-bs NOTIFY=SUCCESS: no delivered notice"
grep -q '^Original-Envelope-Id: bs+id$' "$n" || fail "-bs ENVID lost"
grep -Eq '^Original-Recipient: rfc822; ?bs\+orig@example\.com$' "$n" || fail "-bs ORCPT lost"

# No NOTIFY on a failure: a bounce (FAILURE is the default).
dsn_send s6@localhost reject@localhost default '' ''
wait_for_mail s6 1
grep -q '^Action: failed' "$(tern_newest_mail s6)" || fail "no bounce without NOTIFY"
pass
