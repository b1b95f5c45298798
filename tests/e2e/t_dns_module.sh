#!/bin/sh
# t_dns_module.sh - the DNS module (lib/mail/dns.c) against a real name
# server, through the dnsq test program: MX order and shuffling, null MX,
# a domain with an address but no MX, AAAA, TXT, PTR of a private address,
# CNAMEs, NXDOMAIN, a refused query, names under .test; with DNSSEC, zones
# knot signs itself (secure MX, TLSA, NXDOMAIN, NODATA), an unsigned zone
# (insecure, still answered), a zone whose trust anchor is wrong and one
# with a forged TLSA RRset (bogus: DNS_BOGUS and none of the data);
# concurrent lookups from several threads on the one resolver context; a
# resolver that never answers ends a lookup at Tern's deadline.
# Hermetic: runs as root in a network and mount namespace of its own
# (tests/e2e/netlib.sh), where knotd listens on 127.0.0.1:53 and the
# namespace's /etc/resolv.conf names it.
here=$(dirname "$0")
[ -f "$here/lib.sh" ] || { echo "skip: tests/e2e/lib.sh is missing"; exit 77; }
. "$here/lib.sh"
. "$here/netlib.sh"
dnsq=$TERN_TOP/tests/e2e/dnsq
[ -x "$dnsq" ] || skip "tests/e2e/dnsq is not built"
netns_enter "$@"
D=$NET_DIR

dns_zone plain.test >/dev/null <<'EOF'
@ MX 20 mx3
@ MX 10 mx1
@ MX 10 mx2
@ MX 10 mx4
mx1 A 192.0.2.1
mx1 AAAA 2001:db8::1
mx2 A 192.0.2.2
mx3 A 192.0.2.3
mx4 A 192.0.2.4
nullmx MX 0 .
amx A 192.0.2.10
alias CNAME mx1
dangling CNAME nowhere
@ TXT "v=spf1 " "ip4:192.0.2.0/24 -all"
EOF
dns_zone 1.168.192.in-addr.arpa >/dev/null <<'EOF'
1 PTR mx1.plain.test.
EOF
for z in signed.test bogus.test forged.test; do
	dns_zone $z >/dev/null <<'EOF'
@ MX 10 mx
mx A 192.0.2.20
_25._tcp.mx TLSA 3 1 1 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
EOF
	dns_sign $z
done
dns_start "$D"/zones/*.zone
# The trust anchors: the real keys of signed.test and forged.test, a key
# bogus.test does not have.
dns_trust_anchor signed.test "$D/anchors"
dns_trust_anchor forged.test "$D/anchors"
dns_trust_anchor_bogus bogus.test "$D/anchors"
# forged.test's TLSA RRset changed under its old signature.
dns_zone_bogus forged.test _25._tcp.mx TLSA "3 1 1 ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"

out=$D/out
# q EXPECTED-RC DNSQ-ARGS...: run dnsq, keep its output in $out.
q() {
	want=$1
	shift
	"$dnsq" "$@" > "$out" 2>"$D/err"
	rc=$?
	[ "$rc" = "$want" ] || { cat "$out" "$D/err" >&2; fail "dnsq $*: exit $rc, wanted $want"; }
}
has() { grep -qx "$1" "$out" || { cat "$out" >&2; fail "no line \"$1\" (dnsq $last)"; }; }

# --- Without DNSSEC: the unsigned zone, resolv.conf's server.
last="MX plain.test"
q 0 MX plain.test
has "OK insecure canon=plain.test"
has "MX 20 mx3.plain.test"
[ "$(sed -n 2,4p "$out" | cut -d' ' -f2 | sort -u)" = 10 ] || { cat "$out" >&2; fail "MX not sorted by preference"; }
[ "$(sed -n 5p "$out")" = "MX 20 mx3.plain.test" ] || { cat "$out" >&2; fail "the 20 is not last"; }
# Equal preferences come in changing order: over 30 lookups, more than one
# host is first.
: > "$D/firsts"
i=0
while [ $i -lt 30 ]; do
	"$dnsq" MX plain.test | sed -n 2p >> "$D/firsts"
	i=$((i + 1))
done
[ "$(sort -u "$D/firsts" | wc -l)" -ge 2 ] || fail "equal-preference MX hosts are not shuffled"

last="MX nullmx.plain.test"; q 0 MX nullmx.plain.test
has "MX 0 ."
has "null MX"
last="MX amx.plain.test"; q 1 MX amx.plain.test
has "NODATA insecure canon=amx.plain.test"
has "why: no MX record"
last="A amx.plain.test"; q 0 A amx.plain.test
has "A 192.0.2.10"
last="AAAA mx1.plain.test"; q 0 AAAA mx1.plain.test
has "AAAA 2001:db8::1"
last="TXT plain.test"; q 0 TXT plain.test
has "TXT v=spf1 ip4:192.0.2.0/24 -all"
last="A alias.plain.test"; q 0 A alias.plain.test
has "OK insecure canon=mx1.plain.test"
has "A 192.0.2.1"
last="A dangling.plain.test"; q 1 A dangling.plain.test
has "NXDOMAIN insecure canon=nowhere.plain.test"
last="MX nosuch.plain.test"; q 1 MX nosuch.plain.test
has "NXDOMAIN insecure canon=nosuch.plain.test"
has "why: Host not found"
last="PTR 192.168.1.1"; q 0 PTR 192.168.1.1
has "PTR mx1.plain.test"
# knot is not authoritative for example.com and refuses; the resolver
# makes that a SERVFAIL: a temporary failure.
last="MX example.com"; q 75 MX example.com
has "TEMPFAIL insecure canon=example.com"
has "why: SERVFAIL"
# Servers given instead of resolv.conf (the namespace's, emptied for this).
cp /etc/resolv.conf "$D/resolv.save"
: > /etc/resolv.conf
last="-S MX nullmx.plain.test"; q 0 -S "127.0.0.1@53" MX nullmx.plain.test
has "null MX"
cat "$D/resolv.save" > /etc/resolv.conf
# Without -s the signed zone answers too, never as secure.
last="MX signed.test"; q 0 MX signed.test
has "OK insecure canon=signed.test"
last="MX bogus.test (no dnssec)"; q 0 MX bogus.test
has "MX 10 mx.bogus.test"

# --- With DNSSEC.
export DNSQ_ANCHOR="$D/anchors"
last="-s MX signed.test"; q 0 -s MX signed.test
has "OK secure canon=signed.test"
has "MX 10 mx.signed.test"
last="-s TLSA"; q 0 -s TLSA _25._tcp.mx.signed.test
has "OK secure canon=_25._tcp.mx.signed.test"
has "TLSA 3 1 1 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
last="-s MX nosuch.signed.test"; q 1 -s MX nosuch.signed.test
has "NXDOMAIN secure canon=nosuch.signed.test"
last="-s MX mx.signed.test"; q 1 -s MX mx.signed.test
has "NODATA secure canon=mx.signed.test"
# No anchor covers plain.test: answered, insecure.
last="-s MX plain.test"; q 0 -s MX plain.test
has "OK insecure canon=plain.test"
# A wrong anchor: bogus, and none of the data.
last="-s MX bogus.test"; q 2 -s MX bogus.test
grep -q "^BOGUS insecure" "$out" || { cat "$out" >&2; fail "bogus.test not BOGUS"; }
grep -q "^why: bogus: " "$out" || { cat "$out" >&2; fail "no reason for bogus"; }
grep -q "^MX" "$out" && fail "data of a bogus answer was used"
last="-s TLSA bogus"; q 2 -s TLSA _25._tcp.mx.bogus.test
grep -q "^TLSA" "$out" && fail "TLSA of a bogus answer was used"
# A forged RRset in a zone that otherwise validates: only it is bogus.
last="-s TLSA forged"; q 2 -s TLSA _25._tcp.mx.forged.test
grep -q "^BOGUS" "$out" || { cat "$out" >&2; fail "forged TLSA not BOGUS"; }
grep -q "^TLSA" "$out" && fail "a forged TLSA record was used"
last="-s MX forged.test"; q 0 -s MX forged.test
has "OK secure canon=forged.test"
# A missing anchor file is an error at set-up, not at the first lookup.
"$dnsq" -s -a "$D/none" MX signed.test > "$out" 2>&1 && fail "dnsq ran without its anchor file"
grep -q "trust anchor file" "$out" || { cat "$out" >&2; fail "no trust anchor error"; }

# --- A resolver that takes questions and never answers: the lookup ends
# at Tern's own deadline (DNS_LOOKUP_DEADLINE_S, 30 s; 3 s here with -d),
# TEMPFAIL with its reason, not at libunbound's give-up ("SERVFAIL",
# about 35 s later).
python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 5353))
open(sys.argv[1], "w").write("ready\n")
while True:
    s.recvfrom(4096)
' "$D/mute.ready" &
mute=$!
at_cleanup "kill $mute"
wait_for "the silent resolver" test -s "$D/mute.ready"
began=$(date +%s)
last="-d 3 -S 127.0.0.1@5353 MX plain.test"; q 75 -d 3 -S 127.0.0.1@5353 MX plain.test
took=$(($(date +%s) - began))
grep -q "no answer from the DNS server within 3 s" "$out" "$D/err" ||
	{ cat "$out" "$D/err" >&2; fail "a silent resolver's lookup did not end at the deadline"; }
[ "$took" -ge 2 ] && [ "$took" -le 20 ] || fail "a 3 s deadline took $took s"
last="-d 3 -t 4 -S 127.0.0.1@5353 A plain.test"; q 75 -d 3 -t 4 -S 127.0.0.1@5353 A plain.test
kill "$mute"

# --- Threads on the one context: same answers (dnsq compares them).
last="-t 8 -s MX signed.test"; q 0 -t 8 -s MX signed.test
has "OK secure canon=signed.test"
last="-t 8 MX plain.test"; q 0 -t 8 MX plain.test
last="-t 8 -s MX bogus.test"; q 2 -t 8 -s MX bogus.test
pass
