#!/bin/sh
# t_smtpd_delivery.sh - the whole path through SMTP: ternd starts smtpd
# with the socket it bound (service smtp of master.cf), a message sent
# with smtplib is queued and delivered into the instance's Maildir, with
# the Received: header smtpd's attributes produce; a relay attempt from
# outside mynetworks is refused and nothing reaches the queue.
. "$(dirname "$0")/lib.sh"

tern_instance
tern_start
wait_for_port "$TERN_PORT"
smtp_send sender@example.org bob@localhost "through-smtpd" >/dev/null || fail "smtp_send"
wait_for_mail bob
f=$(tern_newest_mail bob)
grep -q '^Subject: through-smtpd' "$f" || fail "wrong message: $(cat "$f")"
grep -Eq '^Received: from test\.example \(localhost \[127\.0\.0\.1\]\)' "$f" \
	|| fail "Received: header: $(grep -A2 '^Received:' "$f")"
grep -q 'with ESMTP id' "$f" || fail "protocol missing from Received:"
wait_for_log 'client=localhost\[127\.0\.0\.1\]'
wait_for_log 'to=<bob@localhost>.*status=sent'

python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.2", 0))' 2>/dev/null || pass
python3 - "$TERN_PORT" <<'EOP' || fail "relay from 127.0.0.2 was not refused"
import smtplib, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=30, source_address=("127.0.0.2", 0))
s.ehlo("outside.example")
s.mail("spam@example.net")
code, msg = s.rcpt("victim@example.com")
assert code == 554 and b"5.7.1" in msg, (code, msg)
EOP
wait_for_log 'NOQUEUE: reject: RCPT from unknown\[127\.0\.0\.2\]: 554 5\.7\.1'
pass
