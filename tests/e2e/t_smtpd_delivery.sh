#!/bin/sh
# t_smtpd_delivery.sh - the whole path through SMTP: ternd starts smtpd
# with the socket it bound (service smtp of master.cf), a message sent
# with smtplib is queued and delivered into the instance's Maildir, with
# the Received: header smtpd's attributes produce; SMTP mail gets the same
# cleanup as mail from sendmail (canonical and virtual rewriting, missing
# headers added); a relay attempt from
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

# The same cleanup as local submission: sender_canonical_maps and
# virtual_alias_maps rewrite, and missing From:, Date: and Message-ID:
# are added, for a message over SMTP exactly as for one from sendmail.
tern_stop
printf 'old@example.org new@example.org\n' > "$TERN_DIR/canonical"
printf 'team@virt.example carol@localhost\n' > "$TERN_DIR/virtual"
ternconf -e "sender_canonical_maps = texthash:$TERN_DIR/canonical" \
	"virtual_alias_domains = virt.example" "virtual_alias_maps = texthash:$TERN_DIR/virtual" \
	|| fail "ternconf -e"
tern_start
wait_for_port "$TERN_PORT"
printf 'Subject: cleanup-smtp\n\nbody\n' | TERN_SUBMIT=smtp submit -f old@example.org team@virt.example \
	|| fail "SMTP submission"
printf 'Subject: cleanup-sendmail\n\nbody\n' | sendmail -f old@example.org team@virt.example \
	|| fail "sendmail submission"
wait_for_mail carol 2
for m in "$TERN_DIR"/mail/carol/new/*; do
	subj=$(sed -n 's/^Subject: //p' "$m")
	grep -q '^Return-Path: <new@example.org>' "$m" || fail "$subj: sender_canonical_maps not applied"
	grep -q '^Delivered-To: carol@localhost' "$m" || fail "$subj: virtual alias not expanded"
	grep -Eq '^From: (.*<)?new@example\.org' "$m" || fail "$subj: no From: added"
	grep -q '^Date: ' "$m" || fail "$subj: no Date: added"
	grep -q '^Message-ID: <.*@' "$m" || fail "$subj: no Message-ID: added"
done
grep -q '^Subject: cleanup-smtp' "$TERN_DIR"/mail/carol/new/* || fail "the SMTP message is missing"
grep -A1 '^Received: from submit\.example' "$TERN_DIR"/mail/carol/new/* | grep -q 'with ESMTP' \
	|| fail "the SMTP copy has no Received: from smtpd"

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
