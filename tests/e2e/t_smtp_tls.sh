#!/bin/sh
# t_smtp_tls.sh - the smtp program's TLS policy against smtp_peer.py peers
# on the private network of netlib.sh, with a test CA and a DNSSEC-signed
# zone: at "may" a peer offering STARTTLS gets TLS and one whose handshake
# fails gets the mail in clear; smtp_tls_policy_maps per destination:
# "encrypt" to a peer without STARTTLS defers, "verify" with a certificate
# from the CA in smtp_tls_CAfile delivers and with a wrong-name certificate
# defers; DANE (smtp_dns_support_level = dnssec, dns_trust_anchor_file):
# a TLSA 3 1 1 record matching the peer's certificate delivers, verified by
# DANE (the log says so), a record that does not match defers, and
# dane-only without TLSA records defers.
# Needs root (network namespace, port 25).
here=$(dirname "$0")
[ -f "$here/lib.sh" ] || { echo "skip: tests/e2e/lib.sh is missing"; exit 77; }
. "$here/lib.sh"
. "$here/netlib.sh"
smtp_test_begin --ca -- "$@"

c=$NET_DIR/certs
for h in mx.tls.test mx.hs.test mx.ver.test mx.danebad.test; do
	test_cert "$h" "$c" "$NET_DIR/ca"
done
test_cert other.name "$c" "$NET_DIR/ca"
# The DANE peer's certificate is self-signed: only the TLSA record vouches for it.
test_cert mx.dane.test "$c" self

# name:last octet of the MX address
for d in tls:2 hs:3 plain:4 ver:5 wrong:6; do
	dns_zone "${d%%:*}.test" >/dev/null <<EOF
@    MX 10 mx
mx   A  127.0.0.${d##*:}
EOF
done
dns_zone dane.test >/dev/null <<EOF
@            MX 10 mx
mx           A  127.0.0.7
_25._tcp.mx  TLSA $(tlsa_record "$c/mx.dane.test.pem")
EOF
dns_zone danebad.test >/dev/null <<EOF
@            MX 10 mx
mx           A  127.0.0.8
_25._tcp.mx  TLSA 3 1 1 $(printf '%064d' 0)
EOF
dns_zone daneonly.test >/dev/null <<EOF
@            MX 10 mx
mx           A  127.0.0.9
EOF
z=$NET_DIR/zones
for s in dane danebad daneonly; do dns_sign $s.test; done
dns_start "$z/tls.test.zone" "$z/hs.test.zone" "$z/plain.test.zone" "$z/ver.test.zone" \
	"$z/wrong.test.zone" "$z/dane.test.zone" "$z/danebad.test.zone" "$z/daneonly.test.zone"
for s in dane danebad daneonly; do dns_trust_anchor $s.test "$NET_DIR/anchor"; done

cert() { echo "--cert $c/$1.pem --key $c/$1.key"; }
# shellcheck disable=SC2046
{
	peer_start tls 127.0.0.2 25 --record "$NET_DIR/tls.json" $(cert mx.tls.test)
	peer_start hs 127.0.0.3 25 --record "$NET_DIR/hs.json" $(cert mx.hs.test) --drop handshake
	peer_start plain 127.0.0.4 25 --record "$NET_DIR/plain.json"
	peer_start ver 127.0.0.5 25 --record "$NET_DIR/ver.json" $(cert mx.ver.test)
	peer_start wrong 127.0.0.6 25 --record "$NET_DIR/wrong.json" $(cert other.name)
	peer_start dane 127.0.0.7 25 --record "$NET_DIR/dane.json" $(cert mx.dane.test)
	peer_start danebad 127.0.0.8 25 --record "$NET_DIR/danebad.json" $(cert mx.danebad.test)
	peer_start daneonly 127.0.0.9 25 --record "$NET_DIR/daneonly.json" $(cert mx.ver.test)
}

tern_instance
cat > "$TERN_DIR/tls_policy" <<EOF
plain.test	encrypt
ver.test	verify
wrong.test	verify
dane.test	dane
danebad.test	dane
daneonly.test	dane-only
EOF
ternconf -e "smtp_tls_security_level = may" "smtp_tls_CAfile = $NET_DIR/ca/ca.pem" \
	"smtp_tls_policy_maps = texthash:$TERN_DIR/tls_policy" \
	"smtp_dns_support_level = dnssec" "dns_trust_anchor_file = $NET_DIR/anchor" || fail "ternconf -e"
tern_start
log=$TERN_DIR/maillog

for d in tls hs plain ver wrong dane danebad daneonly; do
	printf 'Subject: to %s\n\nbody\n' "$d" | sendmail -i -f alice@localhost "u@$d.test" || fail "sendmail $d"
done
field() { python3 -c 'import json,sys; m=json.loads(open(sys.argv[1]).read().splitlines()[int(sys.argv[2])-1]); print(eval(sys.argv[3]))' "$@"; }

# may: TLS with the peer that offers it.
peer_wait_messages "$NET_DIR/tls.json" 1
[ "$(field "$NET_DIR/tls.json" 1 'm["tls"] is not None')" = True ] || fail "no TLS at may: $(cat "$NET_DIR/tls.json")"
[ "$(field "$NET_DIR/tls.json" 1 'm["sni"]')" = mx.tls.test ] || fail "SNI: $(field "$NET_DIR/tls.json" 1 'm["sni"]')"
wait_for_log 'to=<u@tls\.test>,.* status=sent'

# may, the handshake fails: in clear.
peer_wait_messages "$NET_DIR/hs.json" 1
[ "$(field "$NET_DIR/hs.json" 1 'm["tls"]')" = None ] || fail "hs: $(cat "$NET_DIR/hs.json")"
wait_for_log 'to=<u@hs\.test>,.* status=sent'

# verify with a certificate of the test CA.
peer_wait_messages "$NET_DIR/ver.json" 1
[ "$(field "$NET_DIR/ver.json" 1 'm["tls"] is not None')" = True ] || fail "ver without TLS"
wait_for_log 'to=<u@ver\.test>,.* status=sent'
grep -q 'Verified TLS connection established to mx\.ver\.test\[127\.0\.0\.5\]:25' "$log" ||
	fail "no Verified TLS line for mx.ver.test: $(grep 'mx.ver' "$log")"

# DANE: the TLSA record matches the self-signed certificate.
peer_wait_messages "$NET_DIR/dane.json" 1
wait_for_log 'to=<u@dane\.test>,.* status=sent'
grep 'mx\.dane\.test' "$log" | grep -q 'Verified' || fail "DANE delivery not logged Verified: $(grep 'dane' "$log")"
grep 'mx\.dane\.test' "$log" | grep -q 'DANE' || fail "DANE delivery not logged as DANE: $(grep 'dane' "$log")"

# The refusals: deferred, nothing delivered.
wait_for_log 'to=<u@plain\.test>,.* status=deferred'
wait_for_log 'to=<u@wrong\.test>,.* status=deferred'
wait_for_log 'to=<u@danebad\.test>,.* status=deferred'
wait_for_log 'to=<u@daneonly\.test>,.* status=deferred'
for d in plain wrong danebad daneonly; do
	[ -s "$NET_DIR/$d.json" ] && fail "$d.test got the message: $(cat "$NET_DIR/$d.json")"
	grep -q "to=<u@$d\.test>.*status=sent" "$log" && fail "$d.test logged as sent"
done
# Tern's own refusal, not words put in the server's mouth.
grep -q 'to=<u@plain\.test>,.* dsn=4\.7\.4, status=deferred (TLS is required, but was not offered by host mx\.plain\.test\[127\.0\.0\.4\]:25)' "$log" ||
	fail "encrypt deferral: $(grep 'u@plain' "$log")"
grep 'to=<u@wrong\.test>.*status=deferred' "$log" | grep -Eqi 'certif|name|verif' ||
	fail "wrong-name deferral reason: $(grep 'u@wrong' "$log")"
grep 'to=<u@danebad\.test>.*status=deferred' "$log" | grep -qi 'tlsa' ||
	fail "TLSA mismatch deferral reason: $(grep 'u@danebad' "$log")"
pass
