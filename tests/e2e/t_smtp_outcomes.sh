#!/bin/sh
# t_smtp_outcomes.sh - what the smtp program makes of a server's answers,
# on the private network of netlib.sh: in one message, one recipient
# accepted (delivered), one refused with 550 (bounced at once, the DSN names
# the server in Remote-MTA and its reply in Diagnostic-Code: smtp; 550 ...)
# and one refused with 451 (deferred, the reason shown by mailq); a 421
# greeting sends the mail to the next MX; a 554 greeting with
# smtp_skip_5xx_greeting = no bounces it, the log naming that server; a connection dropped in the
# middle of DATA defers the message and loses nothing (tern flush then
# delivers it); a server that stalls after the end of data beyond
# smtp_data_done_timeout defers it; the log line per recipient has
# Postfix's shape: to=<...>, relay=host[addr]:25, delay=..., delays=...,
# dsn=2.0.0, status=sent (250 ...).
# Needs root (network namespace, port 25).
here=$(dirname "$0")
[ -f "$here/lib.sh" ] || { echo "skip: tests/e2e/lib.sh is missing"; exit 77; }
. "$here/lib.sh"
. "$here/netlib.sh"
smtp_test_begin -- "$@"

dns_zone out.test >/dev/null <<EOF
@    MX 10 mx1
mx1  A  127.0.0.2
EOF
dns_zone g421.test >/dev/null <<EOF
@    MX 10 a
@    MX 20 b
a    A  127.0.0.3
b    A  127.0.0.4
EOF
dns_zone drop.test >/dev/null <<EOF
@    MX 10 d
d    A  127.0.0.5
EOF
dns_zone stall.test >/dev/null <<EOF
@    MX 10 s
s    A  127.0.0.6
EOF
dns_mx_zones g554.test=127.0.0.7
z=$NET_DIR/zones
dns_start "$z/out.test.zone" "$z/g421.test.zone" "$z/drop.test.zone" "$z/stall.test.zone" "$z/g554.test.zone"

peer_start mx1 127.0.0.2 25 --record "$NET_DIR/mx1.json" \
	--rcpt 'bad@out.test=550 5.1.1 <bad@out.test>: no such user' \
	--rcpt 'later@out.test=451 4.2.0 <later@out.test>: try again later'
peer_start a421 127.0.0.3 25 --record "$NET_DIR/a421.json" --greeting '421 4.3.2 busy'
peer_start b421 127.0.0.4 25 --record "$NET_DIR/b421.json"
peer_start drop 127.0.0.5 25 --record "$NET_DIR/drop.json" --drop body --fault-count 1
peer_start stall 127.0.0.6 25 --record "$NET_DIR/stall.json" --stall eod=20
peer_start g554 127.0.0.7 25 --record "$NET_DIR/g554.json" --greeting '554 5.3.2 no mail here'

tern_instance
ternconf -e "smtp_data_done_timeout = 3s" "smtp_skip_5xx_greeting = no" || fail "ternconf -e"
tern_start

send() { _to=$1; _s=$2; shift 2; printf 'Subject: %s\n\nbody of %s\n' "$_s" "$_s" |
	sendmail -i -f alice@localhost "$_to" "$@" || fail "sendmail $_to"; }

# One message, three recipients, three outcomes.
send good@out.test mixed bad@out.test later@out.test
peer_wait_messages "$NET_DIR/mx1.json" 1
python3 - "$NET_DIR/mx1.json" <<'EOF' || fail "mx1 recorded: $(cat "$NET_DIR/mx1.json")"
import json, sys
m = json.loads(open(sys.argv[1]).readline())
assert m["accepted"] == ["good@out.test"], m["accepted"]
assert "Subject: mixed" in m["data"]
EOF
wait_for_log 'to=<good@out\.test>,'
wait_for_log 'to=<bad@out\.test>,'
wait_for_log 'to=<later@out\.test>,'
log=$TERN_DIR/maillog
# Postfix's shape, the reply of the server in the parentheses.
grep -Eq 'to=<good@out\.test>, relay=mx1\.out\.test\[127\.0\.0\.2\]:25, delay=[0-9.]+, delays=[0-9.]+/[0-9.]+/[0-9.]+/[0-9.]+, dsn=2\.0\.0, status=sent \(250 .*\)$' "$log" ||
	fail "sent line: $(grep 'good@out' "$log")"
grep -Eq 'to=<bad@out\.test>, relay=mx1\.out\.test\[127\.0\.0\.2\]:25, delay=[0-9.]+, delays=[^,]+, dsn=5\.1\.1, status=bounced \(.*550 5\.1\.1 <bad@out\.test>: no such user.*\)' "$log" ||
	fail "bounced line: $(grep 'bad@out' "$log")"
grep -Eq 'to=<later@out\.test>, relay=mx1\.out\.test\[127\.0\.0\.2\]:25, delay=[0-9.]+, delays=[^,]+, dsn=4\.2\.0, status=deferred \(.*451 4\.2\.0 <later@out\.test>: try again later.*\)' "$log" ||
	fail "deferred line: $(grep 'later@out' "$log")"
wait_for_mail alice 1
b=$(tern_newest_mail alice)
grep -q '^Final-Recipient: rfc822; *bad@out\.test' "$b" || fail "bounce: $(cat "$b")"
grep -q 'later@out\.test' "$b" && fail "the bounce names the deferred recipient: $(cat "$b")"
grep -q 'good@out\.test' "$b" && fail "the bounce names the delivered recipient: $(cat "$b")"
grep -qi '^Remote-MTA: dns; *mx1\.out\.test' "$b" || fail "no Remote-MTA: $(cat "$b")"
grep -qi '^Diagnostic-Code: smtp; *550 5\.1\.1 <bad@out\.test>: no such user' "$b" || fail "no Diagnostic-Code: $(cat "$b")"
# The attempt queues the bounce and logs before it writes defer/ID (the
# reason mailq shows) and moves the file to deferred/ (qmgr_deliver.c).
# in_deferred RCPT: wait for the message deferred for RCPT to be there.
in_deferred() {
	_id=$(sed -n "s/.*: \([0-9A-Za-z]*\): to=<$1>.*status=deferred.*/\1/p" "$log" | head -n 1)
	[ -n "$_id" ] || fail "no queue id for $1 in the log"
	wait_for "$_id in deferred/" test -f "$TERN_DIR/queue/deferred/$_id"
}
in_deferred 'later@out\.test'
q=$(mailq)
echo "$q" | grep -q 'try again later' || fail "mailq lacks the deferral reason: $q"
echo "$q" | grep -q 'later@out\.test' || fail "mailq lacks the deferred recipient: $q"
echo "$q" | grep -q 'bad@out\.test' && fail "mailq still lists the bounced recipient: $q"

# 421 greeting at the first MX: the second one gets the mail.
send u@g421.test g421
peer_wait_messages "$NET_DIR/b421.json" 1
wait_for_log 'to=<u@g421\.test>, relay=b\.g421\.test\[127\.0\.0\.4\]:25,.* status=sent'
[ -s "$NET_DIR/a421.json" ] && fail "the 421 peer recorded a message"

# A 554 greeting with smtp_skip_5xx_greeting = no: bounced, and the log
# names the server that refused (not relay=none).
send u@g554.test g554
wait_for_log 'to=<u@g554\.test>,.* status=bounced'
grep -Eq 'to=<u@g554\.test>, relay=mx\.g554\.test\[127\.0\.0\.7\]:25, .*dsn=5\.3\.2, status=bounced \(.*554 5\.3\.2 no mail here' "$log" ||
	fail "5xx greeting bounce: $(grep 'u@g554' "$log")"

# Dropped in the middle of DATA: deferred, then delivered by a new attempt.
send u@drop.test drop
wait_for_log 'to=<u@drop\.test>,.* status=deferred'
grep -q 'to=<u@drop\.test>.*status=sent' "$log" && fail "a dropped transfer logged as sent"
mailq | grep -q 'u@drop\.test' || fail "the dropped message is not in the queue: $(mailq)"
# A flush makes due only what is in deferred/.
in_deferred 'u@drop\.test'
tern flush || fail "tern flush"
peer_wait_messages "$NET_DIR/drop.json" 1
wait_for_log 'to=<u@drop\.test>,.* status=sent'
python3 - "$NET_DIR/drop.json" <<'EOF' || fail "drop peer recorded: $(cat "$NET_DIR/drop.json")"
import json, sys
lines = open(sys.argv[1]).read().splitlines()
assert len(lines) == 1, lines
m = json.loads(lines[0])
assert m["conn"] == 2, m["conn"]
assert "body of drop" in m["data"], m["data"]
EOF

# A stall after the end of data beyond smtp_data_done_timeout: deferred.
send u@stall.test stall
wait_for_log 'to=<u@stall\.test>,.* status=deferred'
grep -q 'to=<u@stall\.test>.*status=sent' "$log" && fail "a stalled transfer logged as sent"
grep 'to=<u@stall\.test>.*status=deferred' "$log" | grep -qi 'time' ||
	fail "the stall's deferral does not say timeout: $(grep 'u@stall' "$log")"
pass
