#!/bin/sh
# t_smtp_relay.sh - remote recipients leave over SMTP: Tern relays to a
# private Postfix (relayhost = [127.0.0.1]:PORT) that takes remote.example
# as its own; the message arrives intact (lines starting with "." survive
# dot-stuffing), over STARTTLS, the log says relay=127.0.0.1[127.0.0.1]:PORT and
# status=sent with Postfix's reply; the recipient Postfix refuses at RCPT
# comes back as a bounce quoting its reply; the queue is empty after.
# Needs root and Debian's postfix package.
here=$(dirname "$0")
[ -f "$here/lib.sh" ] || { echo "skip: tests/e2e/lib.sh is missing"; exit 77; }
. "$here/lib.sh"
. "$here/postfix.sh"
need_root
pf_available >/dev/null || skip "$(pf_available)"
for p in sendmail local qmgr pickup ternqueue ternconf; do
	[ -x "$TERN_TOP/stage/$p" ] || skip "$p is not built"
done

pf=$(mktemp -d /tmp/tern-pf.XXXXXX)
at_cleanup "pf_stop '$pf'; rm -rf '$pf'"
pfport=$(pf_free_port)
pf_setup "$pf" "$pfport" >/dev/null || fail "pf_setup"
# Postfix offers STARTTLS with a certificate made here: Tern's client uses it.
need_cmd openssl
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost \
	-keyout "$pf/etc/key.pem" -out "$pf/etc/cert.pem" >/dev/null 2>&1 || fail "openssl req"
pf_set "$pf" "mydestination = localhost, remote.example" "smtpd_tls_security_level = may" \
	"smtpd_tls_cert_file = $pf/etc/cert.pem" "smtpd_tls_key_file = $pf/etc/key.pem" \
	"smtpd_tls_loglevel = 1" || fail "pf_set"
pf_start "$pf" >/dev/null || fail "postfix did not start"

tern_instance
ternconf -e "relayhost = [127.0.0.1]:$pfport" || fail "ternconf -e"
tern_start

printf 'Subject: relayed\n\nfirst line\n.leading dot\n..two dots\n.\nlast line\n' |
	sendmail -i -f alice@localhost keep@remote.example nosuchuser@remote.example || fail "sendmail"

wait_for "the message in Postfix's Maildir" sh -c "ls '$pf/mail/keep/new' 2>/dev/null | grep -q ."
got="$pf/mail/keep/new/$(ls "$pf/mail/keep/new" | head -n 1)"
grep -q '^Subject: relayed$' "$got" || fail "no subject in the relayed message"
sed -n '/^$/,$p' "$got" | tail -n +2 > "$TERN_DIR/body"
printf 'first line\n.leading dot\n..two dots\n.\nlast line\n' | cmp -s - "$TERN_DIR/body" ||
	fail "the body changed on the way: $(cat "$TERN_DIR/body")"

wait_for "Postfix's refusal to come back as a bounce" sh -c "ls '$TERN_DIR/mail/alice/new' 2>/dev/null | grep -q ."
b=$(tern_newest_mail alice)
grep -q '^Action: failed' "$b" || fail "no Action: failed"
grep -q '^Final-Recipient: rfc822; nosuchuser@remote.example' "$b" || fail "wrong Final-Recipient"
grep -Eq "host 127\\.0\\.0\\.1\\[127\\.0\\.0\\.1\\]:$pfport said: 550 " "$b" || fail "the bounce does not quote Postfix"
grep -q '(in reply to RCPT TO command)' "$b" || fail "no 'in reply to RCPT TO command'"
# Logged once Postfix's 250 is read, which may be after Postfix delivered the copy.
wait_for_log "to=<keep@remote.example>, relay=127\\.0\\.0\\.1\\[127\\.0\\.0\\.1\\]:$pfport, delay=[0-9.]+, delays=[0-9.]+/[0-9.]+/[0-9.]+/[0-9.]+, dsn=2\\.0\\.0, status=sent \\(250 2\\.0\\.0 Ok: ([0-9]+ bytes )?queued as "
# Logged after the bounce is queued (the notice first, then the mark and the line),
# so the bounce can be delivered before it.
wait_for_log "to=<nosuchuser@remote.example>, relay=127\\.0\\.0\\.1\\[127\\.0\\.0\\.1\\]:$pfport, delay=[0-9.]+, delays=[0-9./]+, dsn=5\\.1\\.1, status=bounced"
grep -Eq "TLS connection established to 127\.0\.0\.1\[127\.0\.0\.1\]:$pfport: TLSv1\.[23] with cipher" \
	"$TERN_DIR/maillog" || fail "Tern did not use STARTTLS"
# Postfix's processes hand their log lines to postlogd, which writes them in its own time.
wait_for "Postfix's log of the TLS connection" grep -q 'TLS connection established from' "$pf/maillog"
wait_for "an empty queue" sh -c "ternqueue -j | grep -vq . ; [ -z \"\$(ternqueue -j)\" ]"
pass
