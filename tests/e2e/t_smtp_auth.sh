#!/bin/sh
# t_smtp_auth.sh - the satellite setup: relayhost = [smart.test]:587, a
# smarthost that requires AUTH after STARTTLS, the password in
# smtp_sasl_password_maps (a hash: table made by ternmap): the mail goes
# through authenticated over TLS; a wrong password defers it with the
# server's reply as the reason; a smarthost without STARTTLS never sees
# AUTH (the password is not sent in clear) and the mail is deferred.
# Peers are smtp_peer.py on the private network of netlib.sh, and a
# second Tern instance whose submission service (587, STARTTLS and AUTH
# required, smtpd_sasl_type = tern) takes the mail with the password.
# Needs root (network namespace).
here=$(dirname "$0")
[ -f "$here/lib.sh" ] || { echo "skip: tests/e2e/lib.sh is missing"; exit 77; }
. "$here/lib.sh"
. "$here/netlib.sh"
smtp_test_begin --ca ternmap -- "$@"

c=$NET_DIR/certs
test_cert smart.test "$c" "$NET_DIR/ca"
test_cert ternsmart.test "$c" "$NET_DIR/ca"
dns_zone smart.test >/dev/null <<EOF
@    A  127.0.0.10
EOF
dns_zone ternsmart.test >/dev/null <<EOF
@    A  127.0.0.20
EOF
dns_start "$NET_DIR/zones/smart.test.zone" "$NET_DIR/zones/ternsmart.test.zone"

peer_start smart 127.0.0.10 587 --record "$NET_DIR/smart.json" --cert "$c/smart.test.pem" \
	--key "$c/smart.test.key" --auth 'sat:s3cret pass' --require-auth
peer_start wrongpw 127.0.0.11 587 --record "$NET_DIR/wrongpw.json" --cert "$c/smart.test.pem" \
	--key "$c/smart.test.key" --auth 'sat:other' --require-auth
peer_start clear 127.0.0.12 587 --record "$NET_DIR/clear.json" --auth 'sat:s3cret pass' --require-auth

# Tern as the smarthost: its submission service on 127.0.0.20:587.
tern_peer_start 127.0.0.20 ternsmart.test
echo 'submission inet 587 required required - 1 smtpd' >> "$TERN_PEER_DIR/master.cf"
printf 'sat %s\n' "$(openssl passwd -6 'tern pass')" > "$TERN_PEER_DIR/sasl_users"
ternconf -e "smtpd_tls_cert_file = $c/ternsmart.test.pem" "smtpd_tls_key_file = $c/ternsmart.test.key" \
	"smtpd_sasl_type = tern" "smtpd_sasl_password_maps = texthash:$TERN_PEER_DIR/sasl_users" ||
	fail "ternconf -e in the peer"
tern_reload
wait_for_tcp 127.0.0.20 587

tern_instance
cat > "$TERN_DIR/sasl_passwd" <<EOF
[smart.test]:587	sat:s3cret pass
[ternsmart.test]:587	sat:tern pass
[127.0.0.11]:587	sat:s3cret pass
[127.0.0.12]:587	sat:s3cret pass
EOF
ternmap hash:"$TERN_DIR/sasl_passwd" || fail "ternmap"
cat > "$TERN_DIR/transport" <<EOF
wrongpw.example	smtp:[127.0.0.11]:587
clear.example	smtp:[127.0.0.12]:587
ternsmart.test	smtp:[ternsmart.test]:587
EOF
ternconf -e "relayhost = [smart.test]:587" "smtp_sasl_auth_enable = yes" \
	"smtp_sasl_password_maps = hash:$TERN_DIR/sasl_passwd" \
	"transport_maps = texthash:$TERN_DIR/transport" || fail "ternconf -e"
tern_start
log=$TERN_DIR/maillog
field() { python3 -c 'import json,sys; m=json.loads(open(sys.argv[1]).read().splitlines()[int(sys.argv[2])-1]); print(eval(sys.argv[3]))' "$@"; }

for to in u@far.example u@wrongpw.example u@clear.example user@ternsmart.test; do
	printf 'Subject: via the smarthost\n\nbody\n' | sendmail -i -f alice@localhost "$to" || fail "sendmail $to"
done

# The right password, over TLS.
peer_wait_messages "$NET_DIR/smart.json" 1
[ "$(field "$NET_DIR/smart.json" 1 'm["auth"]')" = sat ] || fail "not authenticated: $(cat "$NET_DIR/smart.json")"
[ "$(field "$NET_DIR/smart.json" 1 'm["tls"] is not None')" = True ] || fail "AUTH without TLS"
wait_for_log 'to=<u@far\.example>, relay=smart\.test\[127\.0\.0\.10\]:587,.* status=sent'

# A wrong password: deferred, the server's reply in the reason.
wait_for_log 'to=<u@wrongpw\.example>,.* status=deferred'
grep 'to=<u@wrongpw\.example>.*status=deferred' "$log" | grep -q '535 5\.7\.8' ||
	fail "wrong password reason: $(grep 'u@wrongpw' "$log")"
[ -s "$NET_DIR/wrongpw.json" ] && fail "mail went through with a wrong password"

# No STARTTLS: no AUTH on the wire (the password stays home), deferred.
wait_for_log 'to=<u@clear\.example>,.* status=deferred'
grep -aqi '^AUTH' "$NET_DIR/clear.json.raw" && fail "AUTH sent without TLS: $(cat "$NET_DIR/clear.json.raw")"
grep -aqi '^MAIL' "$NET_DIR/clear.json.raw" && fail "mail sent unauthenticated to a smarthost with a password"
grep 'to=<u@clear\.example>.*status=deferred' "$log" | grep -qi 'auth' ||
	fail "no-TLS reason: $(grep 'u@clear' "$log")"

# Tern's own submission service: authenticated, then delivered there.
wait_for "the Tern smarthost to deliver" sh -c "grep -rqs 'Subject: via the smarthost' '$TERN_PEER_DIR/mail/user/new'"
wait_for_log 'to=<user@ternsmart\.test>, relay=ternsmart\.test\[127\.0\.0\.20\]:587,.* status=sent'
grep -q 'sasl_username=sat' "$TERN_PEER_DIR/maillog" || fail "the Tern smarthost logged no AUTH: $(cat "$TERN_PEER_DIR/maillog")"
pass
