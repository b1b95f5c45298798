#!/bin/sh
# t_smtpd_relay_domains.sh - relay_domains, relay_recipient_maps and
# unknown_local_recipient_reject_code, from a client outside mynetworks
# (127.0.0.2): a backup MX takes mail for its relay domains (a name with
# its subdomains, a /file, a table) and nothing else; with
# relay_recipient_maps only the listed recipients (550 5.1.1 User
# unknown in relay recipient table); an unknown local user gets the
# configured code. Then a running instance relays what it accepted for a
# relay domain to the next hop over SMTP (tests/e2e/dsn_sink.py, as the
# relayhost), not to a local mailbox.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/smtpd_lib.sh"
for p in smtpd local qmgr pickup ternconf ternqueue; do
	[ -x "$TERN_TOP/stage/$p" ] || skip "$p is not built"
done

tern_instance
python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.2", 0))' 2>/dev/null \
	|| skip "cannot use 127.0.0.2 as a source address"
export DIALOG_SOURCE=127.0.0.2

printf '# relay domains\nfiled.example  # from a file\n' > "$TERN_DIR/relay_domains"
printf 'mapped.example OK\n' > "$TERN_DIR/relay_map"
RELAY="relay_domains=relay.example $TERN_DIR/relay_domains texthash:$TERN_DIR/relay_map"

# relay_domains without relay_recipient_maps: anyone there, nothing elsewhere.
smtpd_start -o "$RELAY" -o smtpd_soft_error_limit=100
cat > "$TERN_DIR/open.dlg" <<'EOD'
< 220
> EHLO outside.example
< 250 CHUNKING
> MAIL FROM:<someone@outside.example>
< 250 2\.1\.0
> RCPT TO:<anyone@relay.example>
< 250 2\.1\.5
> RCPT TO:<anyone@mx.sub.relay.example>
< 250 2\.1\.5
> RCPT TO:<anyone@filed.example>
< 250 2\.1\.5
> RCPT TO:<anyone@mail.mapped.example>
< 250 2\.1\.5
> RCPT TO:<victim@example.com>
< 554 5\.7\.1 <victim@example\.com>: Relay access denied
> RCPT TO:<victim@notrelay.example>
< 554 5\.7\.1 <victim@notrelay\.example>: Relay access denied
> RCPT TO:<victim@relay.example.evil.test>
< 554 5\.7\.1 .*Relay access denied
> RCPT TO:<victim%example.com@relay.example>
< 554 5\.7\.1 .*Relay access denied
> RCPT TO:<"victim@example.com"@relay.example>
< 554 5\.7\.1 .*Relay access denied
> DATA
< 354
> Subject: relay-domains-open
>
> for the relay domains
> .
< 250 2\.0\.0 Ok: queued
> QUIT
< 221
EOD
$DIALOG 127.0.0.1 "$SMTPD_PORT" "$TERN_DIR/open.dlg" || { show_log; fail "relay_domains dialogue"; }
f=$(queued_with 'Subject: relay-domains-open')
[ "$(echo "$f" | wc -w)" = 1 ] || fail "want one queued message"
rcpts=$(sed -n '/^M /q;p' "$f" | awk -F'\t' '/^R/ {print $2}' | sort | tr '\n' ' ')
[ "$rcpts" = "anyone@filed.example anyone@mail.mapped.example anyone@mx.sub.relay.example anyone@relay.example " ] ||
	fail "queued recipients: $rcpts"
smtpd_stop

# relay_recipient_maps: only the listed recipients (full address, without extension, @domain).
printf 'known@relay.example OK\ntagged@relay.example OK\n@filed.example OK\n' > "$TERN_DIR/relay_recipients"
smtpd_start -o "$RELAY" -o "relay_recipient_maps=texthash:$TERN_DIR/relay_recipients" \
	-o recipient_delimiter=+
cat > "$TERN_DIR/listed.dlg" <<'EOD'
< 220
> EHLO outside.example
< 250 CHUNKING
> MAIL FROM:<someone@outside.example>
< 250 2\.1\.0
> RCPT TO:<known@relay.example>
< 250 2\.1\.5
> RCPT TO:<Known@RELAY.example>
< 250 2\.1\.5
> RCPT TO:<tagged+list@relay.example>
< 250 2\.1\.5
> RCPT TO:<whoever@filed.example>
< 250 2\.1\.5
> RCPT TO:<nobody@relay.example>
< 550 5\.1\.1 <nobody@relay\.example>: Recipient address rejected: User unknown in relay recipient table
> RCPT TO:<anyone@mail.mapped.example>
< 550 5\.1\.1 <anyone@mail\.mapped\.example>: Recipient address rejected: User unknown in relay recipient table
> QUIT
< 221
EOD
$DIALOG 127.0.0.1 "$SMTPD_PORT" "$TERN_DIR/listed.dlg" || { show_log; fail "relay_recipient_maps dialogue"; }
grep -q 'NOQUEUE: reject: RCPT from unknown\[127\.0\.0\.2\]: 550 5\.1\.1 <nobody@relay\.example>: Recipient address rejected: User unknown in relay recipient table; from=<someone@outside\.example> to=<nobody@relay\.example>' \
	"$TERN_DIR/maillog" || { show_log; fail "no reject log line for the unlisted relay recipient"; }
# From mynetworks too: the table says who exists, whoever asks.
cat > "$TERN_DIR/listed_inside.dlg" <<'EOD'
< 220
> EHLO inside.example
< 250 CHUNKING
> MAIL FROM:<someone@inside.example>
< 250 2\.1\.0
> RCPT TO:<nobody@relay.example>
< 550 5\.1\.1 .*User unknown in relay recipient table
> RCPT TO:<anyone@example.com>
< 250 2\.1\.5
> QUIT
< 221
EOD
DIALOG_SOURCE= $DIALOG 127.0.0.1 "$SMTPD_PORT" "$TERN_DIR/listed_inside.dlg" || fail "relay_recipient_maps from mynetworks"
smtpd_stop

# unknown_local_recipient_reject_code: 450 keeps the sender retrying (4.1.1).
smtpd_start -o local_maildir_base= -o unknown_local_recipient_reject_code=450
cat > "$TERN_DIR/local.dlg" <<'EOD'
< 220
> EHLO outside.example
< 250 CHUNKING
> MAIL FROM:<someone@outside.example>
< 250 2\.1\.0
> RCPT TO:<no-such-user-xyzzy@localhost>
< 450 4\.1\.1 <no-such-user-xyzzy@localhost>: Recipient address rejected: User unknown in local recipient table
> RCPT TO:<root@localhost>
< 250 2\.1\.5
> QUIT
< 221
EOD
$DIALOG 127.0.0.1 "$SMTPD_PORT" "$TERN_DIR/local.dlg" || fail "unknown_local_recipient_reject_code dialogue"
smtpd_stop

# A running instance sends what it took for a relay domain on over SMTP.
need_cmd python3
sinkport=$(free_port)
sinklog=$TERN_DIR/sink.log
python3 "$TERN_TOP/tests/e2e/dsn_sink.py" "$sinkport" no "$sinklog" &
sinkpid=$!
at_cleanup "kill $sinkpid"
wait_for_port "$sinkport"
ternconf -e "relay_domains = relay.example" "relayhost = [127.0.0.1]:$sinkport" || fail "ternconf -e"
tern_start
wait_for_port "$TERN_PORT"
cat > "$TERN_DIR/deliver.dlg" <<'EOD'
< 220
> EHLO outside.example
< 250 CHUNKING
> MAIL FROM:<someone@outside.example>
< 250 2\.1\.0
> RCPT TO:<user@relay.example>
< 250 2\.1\.5
> RCPT TO:<victim@example.com>
< 554 5\.7\.1 .*Relay access denied
> DATA
< 354
> Subject: relay-domains-delivery
>
> backup MX
> .
< 250 2\.0\.0 Ok: queued
> QUIT
< 221
EOD
$DIALOG 127.0.0.1 "$TERN_PORT" "$TERN_DIR/deliver.dlg" || { show_log; fail "delivery dialogue"; }
wait_for_log "to=<user@relay\\.example>, relay=127\\.0\\.0\\.1\\[127\\.0\\.0\\.1\\]:$sinkport, .*status=sent"
grep -qx 'RCPT TO:<user@relay.example>' "$sinklog" || fail "the next hop saw no RCPT for user@relay.example: $(cat "$sinklog")"
grep -q 'victim@example.com' "$sinklog" && fail "a refused recipient was relayed"
[ -z "$(ls "$TERN_DIR/mail" 2>/dev/null)" ] || fail "relay-domain mail went to a local mailbox: $(ls -R "$TERN_DIR/mail")"
pass
