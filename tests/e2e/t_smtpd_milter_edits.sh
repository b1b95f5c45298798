#!/bin/sh
# t_smtpd_milter_edits.sh - smtpd_milters: every end-of-message edit of a
# milter (tests/e2e/milter_act, a libmilter filter) lands in the queue file
# smtpd writes: headers added, inserted at 0, changed and deleted (nth),
# recipients deleted and added (with NOTIFY and ORCPT), the sender changed
# with ESMTP arguments, the body replaced (stored with LF line ends),
# quarantine (queue/hold, not incoming). And what the milter is told:
# connect, HELO, MAIL and RCPT with their ESMTP arguments as sent, the
# headers with Tern's Received:, the body with CRLF, the macros (i from
# MAIL FROM on is the queue id of the reply). Also: the milter parameters
# work from main.cf, not only from -o. smtpd runs by hand, unprivileged
# after start; no ternd.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/smtpd_lib.sh"
tern_instance
. "$(dirname "$0")/smtpd_milter_lib.sh"

# Both milters and smtpds of the first two parts are started at once.
milter_launch m2 'replbody:new body\r\nsecond line\r\n..dot\r\n' quarantine:'held by test'
# ---- header, recipient and sender edits ----
milter_start m1 addheader:X-Milter:yes insheader:0:X-First:1 chgheader:Subject:1:changed \
	chgheader:X-Del:2 delrcpt:'<b@localhost>' addrcpt:'<c@localhost>' \
	addrcpt_par:'<d@localhost>':'NOTIFY=SUCCESS ORCPT=rfc822;orig@example.org' \
	chgfrom:'<new@localhost>':'RET=HDRS ENVID=env1'
milter_ready m2
smtpd_ports 2
smtpd_launch m1 -o smtpd_milters=unix:$MD/m1.sock
smtpd_launch m2 -o smtpd_milters=unix:$MD/m2.sock
smtpd_ready m1 m2
smtpd_use m1
smtp "$EHLO" "MAIL FROM:<a@localhost> SIZE=100 BODY=8BITMIME" "RCPT TO:<postmaster@localhost>" \
	"RCPT TO:<b@localhost> NOTIFY=NEVER" DATA \
	'MSG:Subject: hi\r\nX-Del: one\r\nX-Del: two\r\nX-Del: three\r\nFrom: a@localhost\r\n\r\nline1\r\nline2\r\n' QUIT
replies_are "edits" <<R
220 $MYHOST ESMTP Tern
250-$MYHOST|250-PIPELINING|250-SIZE 10240000|250-ENHANCEDSTATUSCODES|250-8BITMIME|250-DSN|250-SMTPUTF8|250 CHUNKING
250 2.1.0 Ok
250 2.1.5 Ok
250 2.1.5 Ok
354 End data with <CR><LF>.<CR><LF>
250 2.0.0 Ok: queued as ID
221 2.0.0 Bye
R
qid=$(last_qid)
qf=$TERN_DIR/queue/incoming/$qid
[ -f "$qf" ] || fail "no queue file $qf"
cat "$qf" > "$TERN_DIR/qf1"
# The message as stored: X-First on top, Subject changed, the 2nd X-Del gone, X-Milter last.
tr -d '\000' <"$qf" | sed -n '/^M /,/^E [0-9a-f]\{32\} [0-9a-f]\{16\}$/p' | sed '1d;$d' | grep -v '^	' | sed 's/^\(Received\|Date\|Message-ID\):.*/\1:/' >"$OUT"
replies_are "stored message" <<R
X-First: 1
Received:
Subject: changed
X-Del: one
X-Del: three
From: a@localhost
Date:
Message-ID:
X-Milter: yes

line1
line2
R
grep -qx 'S new@localhost' "$qf" || fail "chgfrom: sender not changed: $(cat "$qf")"
grep -qx 'N dsn_ret=HDRS' "$qf" || fail "chgfrom: RET=HDRS not stored: $(cat "$qf")"
grep -qx 'N dsn_envid=env1' "$qf" || fail "chgfrom: ENVID not stored: $(cat "$qf")"
grep -q '^R.*	b@localhost' "$qf" && fail "delrcpt: b@localhost still a recipient: $(cat "$qf")"
grep -q '^R.*	postmaster@localhost' "$qf" || fail "postmaster@localhost lost: $(cat "$qf")"
grep -q '^R.*	c@localhost' "$qf" || fail "addrcpt: c@localhost missing: $(cat "$qf")"
# NOTIFY=SUCCESS is DSN_NOTIFY_SUCCESS (2); the ORCPT is the record's third field.
grep -a '^R-' "$qf" >"$OUT"
replies_are "recipient records" <<R
R-0	postmaster@localhost	
R-0	c@localhost	
R-2	d@localhost	rfc822;orig@example.org
R

# ---- what the milter was told ----
# (a probe of the port may have come first: the one with MAIL is ours.)
c=$(sed -n 's/^mail conn=\([0-9]*\) .*/\1/p' "$MD/m1.log" | head -n 1)
log=$MD/m1.log.$c
grep " conn=$c " "$MD/m1.log" | sed "s/ conn=$c / conn=1 /" >"$log"
port=$(sed -n 's/^connect conn=1 .* port=\([0-9]*\).*/\1/p' "$log")
[ -n "$port" ] && [ "$port" -gt 0 ] || fail "connect: no client port: $(cat "$log")"
M="j=\"$MYHOST\" _=\"localhost [127.0.0.1]\" {daemon_name}=\"$MYHOST\" {daemon_addr}=\"127.0.0.1\" v=\"Tern 0.1.0\""
grep -vE '^(negotiate|header|body|act|close|abort) ' "$log" | sed 's/ sha256=[0-9a-f]*//' >"$OUT"
replies_are "milter log" <<R
connect conn=1 host="localhost" family=inet addr="127.0.0.1" port=$port | $M
helo conn=1 name="client.example" | $M
mail conn=1 arg="<a@localhost>" arg="SIZE=100" arg="BODY=8BITMIME" | i="$qid" $M {mail_mailer}="smtp" {mail_addr}="a@localhost"
rcpt conn=1 arg="<postmaster@localhost>" | i="$qid" $M {mail_mailer}="smtp" {mail_addr}="a@localhost" {rcpt_addr}="postmaster@localhost"
rcpt conn=1 arg="<b@localhost>" arg="NOTIFY=NEVER" | i="$qid" $M {mail_mailer}="smtp" {mail_addr}="a@localhost" {rcpt_addr}="b@localhost"
data conn=1 | i="$qid" $M {mail_mailer}="smtp" {mail_addr}="a@localhost" {rcpt_addr}="b@localhost"
eoh conn=1 | i="$qid" $M {mail_mailer}="smtp" {mail_addr}="a@localhost" {rcpt_addr}="b@localhost"
eom conn=1 bytes=14 crlf=2 lf=0 head="line1\\r\\nline2\\r\\n" | i="$qid" $M {mail_mailer}="smtp" {mail_addr}="a@localhost" {rcpt_addr}="b@localhost"
R
# (libmilter keeps the RCPT stage's {rcpt_addr} for the later callbacks.)
grep '^header ' "$log" | sed 's/; [A-Z][a-z][a-z], .*"$/; DATE"/; s/^\(header conn=1 name="\(Date\|Message-ID\)"\).*/\1/' >"$OUT"
replies_are "headers the milter saw" <<R
header conn=1 name="Received" value="from client.example (localhost [127.0.0.1])\\n\\tby $MYHOST (Tern) with ESMTP id $qid; DATE"
header conn=1 name="Subject" value="hi"
header conn=1 name="X-Del" value="one"
header conn=1 name="X-Del" value="two"
header conn=1 name="X-Del" value="three"
header conn=1 name="From" value="a@localhost"
header conn=1 name="Date"
header conn=1 name="Message-ID"
R
grep -c '^act conn=1 stage=eom .* rc=0$' "$log" >"$OUT"
echo 8 | replies_are "edits acknowledged (rc=0)"
milter_stop m1
queue_clear

# ---- body replaced, message quarantined ----
smtpd_use m2
send_one
replies_are "replbody" <<R
220 $MYHOST ESMTP Tern
250-$MYHOST|250-PIPELINING|250-SIZE 10240000|250-ENHANCEDSTATUSCODES|250-8BITMIME|250-DSN|250-SMTPUTF8|250 CHUNKING
250 2.1.0 Ok
250 2.1.5 Ok
354 End data with <CR><LF>.<CR><LF>
250 2.0.0 Ok: queued as ID
221 2.0.0 Bye
R
qid=$(last_qid)
[ "$(incoming_count)" = 0 ] || fail "quarantined message in incoming/: $(ls "$TERN_DIR/queue/incoming")"
qf=$TERN_DIR/queue/hold/$qid
[ -f "$qf" ] || fail "quarantine: no $qf ($(ls -R "$TERN_DIR/queue"))"
# The body bytes, between the blank line ending the headers and the E record.
tr -d '\000' <"$qf" | sed -n '/^M /,$p' | sed '1,/^$/d' | sed '$d' >"$OUT"	# the end record and its padding go
printf 'new body\nsecond line\n..dot\n' >"$EXPECT"
cmp "$EXPECT" "$OUT" || { od -c "$OUT" >&2; fail "replbody: stored body is not the replacement with LF ends"; }
tr -d '\000' <"$qf" | tail -n 1 | grep -qx 'E [0-9a-f]\{32\} [0-9a-f]\{16\}' || fail "queue file does not end with its end record"
grep -q 'held by test' "$qf" "$SMTPD_OUT" || echo "note: quarantine reason not recorded" >&2
smtpd_alive replbody
milter_stop m2
queue_clear

# ---- the milter parameters from main.cf ----
milter_start m3 tempfail@rcpt=x@localhost
cat >>"$TERN_DIR/main.cf" <<CF
smtpd_milters = { unix:$MD/m3.sock, command_timeout = 7s }, unix:$MD/none.sock
milter_default_action = reject
milter_command_timeout = 1s
CF
smtpd_start
send_one
replies_are "main.cf: the dead 2nd milter rejects (milter_default_action from main.cf)" <<R
550 5.5.0 Service unavailable
503 5.7.0 Error: access denied for localhost[127.0.0.1]
503 5.7.0 Error: access denied for localhost[127.0.0.1]
503 5.7.0 Error: access denied for localhost[127.0.0.1]
503 5.7.0 Error: access denied for localhost[127.0.0.1]
(no message sent)
221 2.0.0 Bye
R
grep -q '^connect conn=1 ' "$MD/m3.log" || fail "main.cf: the first milter was not used"
smtpd_stop
smtpd_start -o milter_default_action=accept
send_one x@localhost
replies_are "main.cf milters, -o milter_default_action=accept" <<R
220 $MYHOST ESMTP Tern
250-$MYHOST|250-PIPELINING|250-SIZE 10240000|250-ENHANCEDSTATUSCODES|250-8BITMIME|250-DSN|250-SMTPUTF8|250 CHUNKING
250 2.1.0 Ok
451 4.7.1 Service unavailable - try again later
554 5.5.1 Error: no valid recipients
(no message sent)
221 2.0.0 Bye
R
smtpd_alive main.cf
pass
