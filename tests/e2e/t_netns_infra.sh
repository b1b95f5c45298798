#!/bin/sh
# t_netns_infra.sh - the private network of tests/e2e/netlib.sh works, with
# the SMTP client Tern has: inside a network namespace of the test's own,
# knot serves example.test (MX mx1 -> 127.0.0.2) and a DNSSEC-signed zone
# whose answers validate through libunbound with the test's trust anchor
# (and do not with a wrong anchor or a forged RRset); a Tern instance sends
# mail for user@example.test, found through that MX, to smtp_peer.py on
# 127.0.0.2:25, which records it (CRLF and dot-stuffing on the wire);
# smtp-sink, a private Postfix and a second Tern at other MX hosts receive
# theirs; an
# HTTPS server with a certificate from the test CA serves an MTA-STS policy;
# a forged RRset is bogus; a peer listens on an IPv6 address added to lo;
# the host's /etc/resolv.conf and mount table are untouched.
# Needs root (namespaces, port 25, Postfix).
here=$(dirname "$0")
[ -f "$here/lib.sh" ] || { echo "skip: tests/e2e/lib.sh is missing"; exit 77; }
. "$here/lib.sh"
. "$here/netlib.sh"
need_root
for p in sendmail qmgr pickup ternconf; do
	[ -x "$TERN_TOP/stage/$p" ] || skip "$p is not built"
done
# The host's resolver file as the test starts, checked again at the end.
[ -n "${TERN_NETNS:-}" ] || { TERN_HOST_RESOLV=$(cksum < /etc/resolv.conf); export TERN_HOST_RESOLV; }
netns_enter "$@"
need_cmd knotd kdig unbound-host smtp-sink curl openssl

# The namespace has only lo and the test's resolver file.
[ "$(ip -o link show | wc -l)" -eq 1 ] || fail "more than lo in the namespace: $(ip -o link show)"
grep -qx 'nameserver 127.0.0.1' /etc/resolv.conf || fail "resolv.conf in the namespace: $(cat /etc/resolv.conf)"

# Zones: example.test (plain), signed.test (signed, with a TLSA record
# for its MX's certificate), and one MX each for the other peers.
test_ca_make "$NET_DIR/ca"
test_cert mx.signed.test "$NET_DIR/certs" "$NET_DIR/ca"
test_cert mta-sts.example.test "$NET_DIR/certs" "$NET_DIR/ca"
tlsa=$(tlsa_record "$NET_DIR/certs/mx.signed.test.pem")
dns_zone example.test >/dev/null <<EOF
@        MX 10 mx1
mx1      A  127.0.0.2
mta-sts  A  127.0.0.6
_mta-sts TXT "v=STSv1; id=1"
EOF
dns_zone sink.test >/dev/null <<EOF
@   MX 10 mx
mx  A  127.0.0.3
EOF
dns_zone postfix.test >/dev/null <<EOF
@   MX 10 mx
mx  A  127.0.0.4
EOF
dns_zone ternpeer.test >/dev/null <<EOF
@   MX 10 mx
mx  A  127.0.0.7
EOF
dns_zone signed.test >/dev/null <<EOF
@            MX 10 mx
mx           A  127.0.0.5
_25._tcp.mx  TLSA $tlsa
EOF
dns_sign signed.test
z=$NET_DIR/zones
dns_start "$z/example.test.zone" "$z/sink.test.zone" "$z/postfix.test.zone" "$z/ternpeer.test.zone" \
	"$z/signed.test.zone"
[ "$(dns_query example.test MX)" = "10 mx1.example.test." ] || fail "MX of example.test: $(dns_query example.test MX)"
# getaddrinfo in the namespace asks knot (hosts: files dns).
getent hosts mx1.example.test | grep -q '^127\.0\.0\.2 ' || fail "getaddrinfo: $(getent hosts mx1.example.test)"

# DNSSEC: secure with the anchor, insecure outside it, bogus with a wrong
# anchor and for a forged RRset.
dns_trust_anchor signed.test "$NET_DIR/anchor"
dns_trust_anchor_bogus signed.test "$NET_DIR/wrong-anchor"
out=$(dns_validate _25._tcp.mx.signed.test TLSA "$NET_DIR/anchor")
echo "$out" | grep -qi "TLSA record $tlsa (secure)" || fail "TLSA not secure: $out"
out=$(dns_validate example.test MX "$NET_DIR/anchor")
echo "$out" | grep -q '(insecure)' || fail "example.test not insecure: $out"
out=$(dns_validate signed.test MX "$NET_DIR/wrong-anchor")
echo "$out" | grep -q 'BOGUS' || fail "a wrong anchor validated: $out"

# Peers: smtp_peer.py at example.test's MX (port 25 in the namespace),
# smtp-sink, a private Postfix, the MTA-STS policy server.
peer_start mx1 127.0.0.2 25 --record "$NET_DIR/mx1.json"
sink_start 127.0.0.3 25 "$NET_DIR/sink"
postfix_peer_start 127.0.0.4 25 "$NET_DIR/pf" postfix.test
mkdir -p "$NET_DIR/www/.well-known"
printf 'version: STSv1\r\nmode: enforce\r\nmx: mx1.example.test\r\nmax_age: 86400\r\n' > "$NET_DIR/www/.well-known/mta-sts.txt"
https_start 127.0.0.6 "$NET_DIR/certs/mta-sts.example.test.pem" "$NET_DIR/certs/mta-sts.example.test.key" "$NET_DIR/www"
hdr=$(curl -sS --cacert "$NET_DIR/ca/ca.pem" -D - -o "$NET_DIR/policy" \
	https://mta-sts.example.test/.well-known/mta-sts.txt) || fail "curl of the MTA-STS policy failed"
echo "$hdr" | grep -qi '^content-type: text/plain' || fail "policy Content-Type: $hdr"
cmp -s "$NET_DIR/policy" "$NET_DIR/www/.well-known/mta-sts.txt" || fail "policy body differs"

# Tern sends through the MX records it finds with the system resolver, one
# message to each peer, a second Tern instance among them.
tern_peer_start 127.0.0.7 ternpeer.test
tern_instance
tern_start
printf 'Subject: over the namespace\n\nfirst\n.leading dot\nlast\n' |
	sendmail -i -f alice@localhost user@example.test || fail "sendmail to example.test"
printf 'Subject: to the sink\n\nbody\n' | sendmail -i -f alice@localhost user@sink.test || fail "sendmail to sink.test"
printf 'Subject: to postfix\n\nbody\n' | sendmail -i -f alice@localhost user@postfix.test || fail "sendmail to postfix.test"

peer_wait_messages "$NET_DIR/mx1.json" 1
python3 - "$NET_DIR/mx1.json" <<'EOF' || fail "the recorded message: $(cat "$NET_DIR/mx1.json")"
import json, sys
m = json.loads(open(sys.argv[1]).readline())
assert m["mail_from"] == "alice@localhost", m["mail_from"]
assert m["accepted"] == ["user@example.test"], m["accepted"]
assert "Subject: over the namespace\r\n" in m["data"], m["data"]
assert "\r\n.leading dot\r\nlast\r\n" in m["data"], m["data"]
assert not m["bare_lf"] and not m["bare_cr"]
EOF
grep -q '^\.\.leading dot' "$NET_DIR/mx1.json.raw" || fail "no dot-stuffed line on the wire"
wait_for "smtp-sink to get its message" grep -rqs 'to the sink' "$NET_DIR/sink"
printf 'Subject: to tern\n\nbody\n' | sendmail -i -f alice@localhost user@ternpeer.test || fail "sendmail to ternpeer.test"
wait_for "the Tern peer to deliver its message" sh -c "grep -rqs 'Subject: to tern' '$TERN_PEER_DIR/mail/user/new'"
wait_for "Postfix to keep its message" sh -c "grep -rqs 'Subject: to postfix' '$NET_DIR/pf/mail/keep/new'"
# Logged once the peer's 250 is read, which may be after the peer recorded the message.
wait_for_log 'to=<user@example.test>, relay=mx1\.example\.test\[127\.0\.0\.2\]:25,.*status=sent'

# A forged TLSA RRset under the old signature is bogus, the rest of the
# zone still validates with the same anchor (knot kept its keys).
dns_zone_bogus signed.test _25._tcp.mx TLSA "3 1 1 $(printf '%064d' 0)"
out=$(dns_validate _25._tcp.mx.signed.test TLSA "$NET_DIR/anchor")
echo "$out" | grep -q 'BOGUS' || fail "a forged TLSA record validated: $out"
out=$(dns_validate signed.test MX "$NET_DIR/anchor")
echo "$out" | grep -q '(secure)' || fail "signed.test MX not secure after the forgery: $out"

# IPv6: an address of the namespace's own, a peer on it.
netns_addr fd00::25
peer_start v6 fd00::25 25
python3 -c 'import socket; socket.create_connection(("fd00::25", 25), timeout=5).close()' ||
	fail "no peer on [fd00::25]:25"

# The host saw none of it.
if [ -r /proc/1/root/etc/resolv.conf ] && [ -n "${TERN_HOST_RESOLV:-}" ]; then
	[ "$(cksum < /proc/1/root/etc/resolv.conf)" = "$TERN_HOST_RESOLV" ] || fail "the host's /etc/resolv.conf changed"
	grep -q "$NET_DIR" /proc/1/mountinfo && fail "a mount of the test shows in the host's mount table"
fi
pass
