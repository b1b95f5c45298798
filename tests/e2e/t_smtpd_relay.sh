#!/bin/sh
# t_smtpd_relay.sh - smtpd never relays for strangers: the open-relay
# battery from 127.0.0.2 (outside mynetworks), relaying from 127.0.0.1,
# unknown local and virtual recipients refused at RCPT, access maps, and
# log lines that fail2ban-style filters match.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/smtpd_lib.sh"

tern_instance
python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.2", 0))' 2>/dev/null \
	|| skip "cannot use 127.0.0.2 as a source address"
# (The battery makes many errors: no slow-down, no disconnection.)
smtpd_start -o smtpd_soft_error_limit=1000 -o smtpd_hard_error_limit=1000
DIALOG_SOURCE=127.0.0.2 dialog relay_outside.dlg
# What was queued from the battery: one message for the local recipients only.
f=$(queued_with 'Subject: relay-battery')
[ "$(echo "$f" | wc -w)" = 1 ] || fail "relay battery: want one queued message"
rcpts=$(sed -n '/^M /q;p' "$f" | awk -F'\t' '/^R/ {print $2}')
[ -n "$rcpts" ] || fail "relay battery: no recipient record in $f"
echo "$rcpts" | grep -v '@localhost$' && fail "relay battery queued a remote recipient: $rcpts"
dialog relay_inside.dlg
grep -q 'NOQUEUE: reject: RCPT from unknown\[127\.0\.0\.2\]: 554 5\.7\.1 <victim@example\.com>: Relay access denied; from=<spammer@example\.net> to=<victim@example\.com> proto=ESMTP helo=<relay-test\.example>' \
	"$TERN_DIR/maillog" || { show_log; fail "no fail2ban-style reject line"; }
smtpd_stop

# Normal local delivery rules: unknown users are refused, aliases and
# virtual alias targets are known.
cat > "$TERN_DIR/aliases" <<EOA
known-alias root
EOA
cat > "$TERN_DIR/virtual" <<EOV
alias-target@virtual.example root@localhost
EOV
smtpd_start -o local_maildir_base= -o "alias_maps=texthash:$TERN_DIR/aliases" \
	-o virtual_alias_domains=virtual.example -o "virtual_alias_maps=texthash:$TERN_DIR/virtual"
DIALOG_SOURCE=127.0.0.2 dialog unknown_user.dlg
smtpd_stop

# Access maps.
printf 'blocked-helo.example REJECT go away\n' > "$TERN_DIR/helo_access"
printf 'bad.example REJECT\ndefer.example 451 4.7.1 try later\ngood.example OK\n' > "$TERN_DIR/sender_access"
printf 'blocked@localhost 550 5.7.2 no mail for you\n' > "$TERN_DIR/rcpt_access"
printf '127.0.0.2 DUNNO\n127.0.0.3 REJECT\n127.0.0.4 421 4.7.0 closing\n' > "$TERN_DIR/client_access"
ACCESS="-o smtpd_client_restrictions=check_client_access,texthash:$TERN_DIR/client_access
	-o smtpd_helo_restrictions=check_helo_access,texthash:$TERN_DIR/helo_access
	-o smtpd_sender_restrictions=check_sender_access,texthash:$TERN_DIR/sender_access
	-o smtpd_recipient_restrictions=check_recipient_access,texthash:$TERN_DIR/rcpt_access"
# shellcheck disable=SC2086
smtpd_start $ACCESS
DIALOG_SOURCE=127.0.0.2 dialog access_maps.dlg
DIALOG_SOURCE=127.0.0.3 dialog delay_reject_yes.dlg
grep -q 'NOQUEUE: reject: RCPT from unknown\[127\.0\.0\.3\]: 554 5\.7\.1 <unknown\[127\.0\.0\.3\]>: Client host rejected: Access denied; from=<spammer@bad\.example> to=<postmaster@localhost> proto=ESMTP helo=<blocked-helo\.example>$' \
	"$TERN_DIR/maillog" || { show_log; fail "no RCPT-time client reject line"; }
smtpd_stop

# smtpd_data_restrictions and smtpd_end_of_data_restrictions.
smtpd_start -o smtpd_data_restrictions=reject_multi_recipient_bounce \
	-o "smtpd_end_of_data_restrictions=check_sender_access texthash:$TERN_DIR/sender_access"
dialog data_restrictions.dlg
[ "$(queued_count 'Subject: eod-refused')" = 0 ] || fail "a message refused at end of data was queued"
[ "$(queued_count 'Subject: eod-single-bounce')" = 1 ] || fail "a single-recipient bounce was not queued"
grep -q 'NOQUEUE: reject: DATA from localhost\[127\.0\.0\.1\]: 550 5\.5\.3 <DATA>: Data command rejected: Multi-recipient bounce; from=<> proto=ESMTP helo=<c\.example>$' \
	"$TERN_DIR/maillog" || fail "no DATA reject log line"
grep -q 'NOQUEUE: reject: END-OF-MESSAGE from localhost\[127\.0\.0\.1\]: 554 5\.7\.1 <spammer@bad\.example>: Sender address rejected' \
	"$TERN_DIR/maillog" || fail "no END-OF-MESSAGE reject log line"
smtpd_stop

# smtpd_delay_reject = no: the same tables answer at connect, HELO and MAIL FROM.
# shellcheck disable=SC2086
smtpd_start $ACCESS -o smtpd_delay_reject=no
DIALOG_SOURCE=127.0.0.2 dialog delay_reject_no.dlg
for line in \
	'NOQUEUE: reject: HELO from unknown\[127\.0\.0\.2\]: 554 5\.7\.1 <blocked-helo\.example>: Helo command rejected: go away; proto=SMTP helo=<blocked-helo\.example>$' \
	'NOQUEUE: reject: EHLO from unknown\[127\.0\.0\.2\]: 554 5\.7\.1 <blocked-helo\.example>: Helo command rejected: go away; proto=ESMTP helo=<blocked-helo\.example>$' \
	'NOQUEUE: reject: MAIL from unknown\[127\.0\.0\.2\]: 554 5\.7\.1 <spammer@bad\.example>: Sender address rejected: Access denied; from=<spammer@bad\.example> proto=ESMTP helo=<fine\.example>$' \
	'NOQUEUE: reject: CONNECT from unknown\[127\.0\.0\.3\]: 554 5\.7\.1 <unknown\[127\.0\.0\.3\]>: Client host rejected: Access denied; proto=SMTP$' \
	'NOQUEUE: reject: CONNECT from unknown\[127\.0\.0\.4\]: 421 4\.7\.0 <unknown\[127\.0\.0\.4\]>: Client host rejected: closing; proto=SMTP$'; do
	grep -q "$line" "$TERN_DIR/maillog" || { show_log; fail "no log line matching: $line"; }
done
smtpd_stop

# A client map that rejects: even mynetworks clients are refused first.
printf '127.0.0.1 REJECT\n' > "$TERN_DIR/client_access"
smtpd_start -o "smtpd_client_restrictions=check_client_access texthash:$TERN_DIR/client_access"
cat > "$TERN_DIR/client.dlg" <<'EOD'
< 220
> HELO c.example
< 250
> MAIL FROM:<a@example.org>
< 250
> RCPT TO:<postmaster@localhost>
< 554 5\.7\.1 <localhost\[127\.0\.0\.1\]>: Client host rejected: Access denied
EOD
$DIALOG 127.0.0.1 "$SMTPD_PORT" "$TERN_DIR/client.dlg" || fail "check_client_access REJECT"
smtpd_stop

# A restriction smtpd does not know: mail is refused (451), never relayed.
before=$(ls "$TERN_DIR/queue/incoming" | wc -l)
smtpd_start -o "smtpd_relay_restrictions=permit_everything_please"
cat > "$TERN_DIR/broken.dlg" <<'EOD'
< 220
> HELO c.example
< 250
> MAIL FROM:<a@example.org>
< 250
> RCPT TO:<victim@example.com>
< 451 4\.3\.5
EOD
DIALOG_SOURCE=127.0.0.2 $DIALOG 127.0.0.1 "$SMTPD_PORT" "$TERN_DIR/broken.dlg" || fail "broken restriction must refuse"
[ "$(ls "$TERN_DIR/queue/incoming" | wc -l)" = "$before" ] || fail "something was queued"
pass
