#!/bin/sh
# t_smtp_postfix_peer.sh - the smtp program delivers to real MTAs found
# through their MX records on the private network of netlib.sh: Debian's
# Postfix (its own configuration and queue) and a second
# Tern instance; each keeps the message with its content whole (a
# dot-leading line, 8-bit text, two recipients in one transaction) and
# the sending Tern logs status=sent with the peer's queue id.
# Needs root (network namespace, port 25, Postfix).
here=$(dirname "$0")
[ -f "$here/lib.sh" ] || { echo "skip: tests/e2e/lib.sh is missing"; exit 77; }
. "$here/lib.sh"
. "$here/netlib.sh"
smtp_test_begin smtpd -- "$@"

dns_zone postfix.test >/dev/null <<EOF
@    MX 10 mx
mx   A  127.0.0.4
EOF
dns_zone ternpeer.test >/dev/null <<EOF
@    MX 10 mx
mx   A  127.0.0.7
EOF
dns_start "$NET_DIR/zones/postfix.test.zone" "$NET_DIR/zones/ternpeer.test.zone"

postfix_peer_start 127.0.0.4 25 "$NET_DIR/pf" postfix.test
tern_peer_start 127.0.0.7 ternpeer.test
tern_instance
tern_start
log=$TERN_DIR/maillog

msg() {
	printf 'Subject: to %s\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n' "$1"
	printf 'first\n.leading dot\ncaf\303\251\nlast\n'
}
msg postfix | sendmail -i -B8BITMIME -f alice@localhost keep@postfix.test other@postfix.test || fail "sendmail postfix"
msg tern | sendmail -i -B8BITMIME -f alice@localhost user@ternpeer.test user2@ternpeer.test || fail "sendmail tern"

# Postfix: both recipients in its Maildir (every recipient of the domain goes there).
wait_for "Postfix to keep two messages" sh -c "[ \$(grep -rls 'Subject: to postfix' '$NET_DIR/pf/mail/keep/new' | wc -l) -ge 2 ]"
f=$(grep -rls 'Subject: to postfix' "$NET_DIR/pf/mail/keep/new" | head -n 1)
grep -q '^\.leading dot$' "$f" || fail "Postfix got the dot line wrong: $(cat "$f")"
grep -q "^caf$(printf '\303\251')\$" "$f" || fail "Postfix got the 8-bit line wrong: $(cat "$f")"
wait_for_log 'to=<keep@postfix\.test>, relay=mx\.postfix\.test\[127\.0\.0\.4\]:25,.* dsn=2\.0\.0, status=sent \(250 .*queued as'
wait_for_log 'to=<other@postfix\.test>, relay=mx\.postfix\.test\[127\.0\.0\.4\]:25,.* status=sent'

# The second Tern: each user's Maildir.
for u in user user2; do
	wait_for "the Tern peer to deliver to $u" sh -c "grep -rqs 'Subject: to tern' '$TERN_PEER_DIR/mail/$u/new'"
done
f=$(grep -rls 'Subject: to tern' "$TERN_PEER_DIR/mail/user/new" | head -n 1)
grep -q '^\.leading dot$' "$f" || fail "Tern peer got the dot line wrong: $(cat "$f")"
grep -q "^caf$(printf '\303\251')\$" "$f" || fail "Tern peer got the 8-bit line wrong: $(cat "$f")"
wait_for_log 'to=<user@ternpeer\.test>, relay=mx\.ternpeer\.test\[127\.0\.0\.7\]:25,.* status=sent'
wait_for_log 'to=<user2@ternpeer\.test>, relay=mx\.ternpeer\.test\[127\.0\.0\.7\]:25,.* status=sent'
pass
