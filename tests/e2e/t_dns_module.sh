#!/bin/sh
# t_dns_module.sh - the DNS module (lib/mail/dns.c) against a real name
# server, through the dnsq test program: MX order and null MX, a domain
# with an address but no MX, AAAA, TXT, PTR, CNAMEs, NXDOMAIN, a refused
# query; and with DNSSEC, a zone knot signs itself (secure MX, TLSA and
# NXDOMAIN), an unsigned zone (insecure, still answered) and a zone whose
# trust anchor is wrong (bogus: no data, DNS_BOGUS); concurrent lookups
# from several threads on the one resolver context.
# Hermetic: runs as root in a network and mount namespace of its own
# (unshare -n -m), where knotd listens on 127.0.0.1:53 and a test
# resolv.conf is bind-mounted over /etc/resolv.conf.
here=$(dirname "$0")
[ -f "$here/lib.sh" ] || { echo "skip: tests/e2e/lib.sh is missing"; exit 77; }
. "$here/lib.sh"
need_root
need_cmd unshare mount ip knotd kdig
dnsq=$TERN_TOP/tests/e2e/dnsq
[ -x "$dnsq" ] || skip "tests/e2e/dnsq is not built"
if [ -z "${TERN_DNS_NS:-}" ]; then
	unshare -n -m true 2>/dev/null || skip "unshare -n -m does not work here"
	trap - EXIT INT TERM
	TERN_DNS_NS=1 exec unshare -n -m sh "$0" "$@"
fi
mount --make-rprivate / || fail "mount --make-rprivate"
ip link set lo up || fail "ip link set lo up"

D=$(mktemp -d /tmp/t_dns_module.XXXXXX) || fail "mktemp"
at_cleanup "rm -rf '$D'"
mkdir -p "$D/zones" "$D/db" "$D/run"
echo "nameserver 127.0.0.1" > "$D/resolv.conf"
mount --bind "$D/resolv.conf" /etc/resolv.conf || fail "bind-mount resolv.conf"

soa() { echo "@ 300 SOA ns.$1. hostmaster.$1. 1 3600 600 86400 300
@ 300 NS ns.$1.
ns 300 A 127.0.0.1"; }

{ soa plain.example; cat <<'EOF'
@ 300 MX 20 mx3
@ 300 MX 10 mx1
@ 300 MX 10 mx2
@ 300 MX 10 mx4
mx1 300 A 192.0.2.1
mx1 300 AAAA 2001:db8::1
mx2 300 A 192.0.2.2
mx3 300 A 192.0.2.3
mx4 300 A 192.0.2.4
nullmx 300 MX 0 .
amx 300 A 192.0.2.10
alias 300 CNAME mx1
dangling 300 CNAME nowhere
@ 300 TXT "v=spf1 " "ip4:192.0.2.0/24 -all"
EOF
} > "$D/zones/plain.example.zone"
{ soa 1.168.192.in-addr.arpa; echo "1 300 PTR mx1.plain.example."; } > "$D/zones/1.168.192.in-addr.arpa.zone"
for z in signed.example bogus.example; do
	{ soa $z; cat <<'EOF'
@ 300 MX 10 mx
mx 300 A 192.0.2.20
_25._tcp.mx 300 TLSA 3 1 1 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
EOF
	} > "$D/zones/$z.zone"
done

cat > "$D/knot.conf" <<EOF
server:
    rundir: "$D/run"
    listen: [ 127.0.0.1@53, 127.0.0.1@5353 ]
database:
    storage: "$D/db"
log:
  - target: "$D/knot.log"
    any: info
template:
  - id: default
    storage: "$D/zones"
    file: "%s.zone"
zone:
  - domain: plain.example
  - domain: 1.168.192.in-addr.arpa
  - domain: signed.example
    dnssec-signing: on
  - domain: bogus.example
    dnssec-signing: on
EOF
knotd -c "$D/knot.conf" >"$D/knotd.out" 2>&1 &
knot_pid=$!
at_cleanup "kill $knot_pid"
signed() { kdig +time=1 +tries=1 @127.0.0.1 +dnssec SOA "$1" 2>/dev/null | grep -q RRSIG; }
wait_for "knotd serving the signed zones" sh -c "kdig +time=1 +tries=1 @127.0.0.1 +dnssec SOA signed.example | grep -q RRSIG && kdig +time=1 +tries=1 @127.0.0.1 +dnssec SOA bogus.example | grep -q RRSIG"

# The trust anchors: signed.example's own DNSKEY records, and for bogus.example
# a DS that matches none of its keys.
kdig @127.0.0.1 DNSKEY signed.example +noall +answer > "$D/anchors" || fail "kdig DNSKEY"
grep -q DNSKEY "$D/anchors" || fail "no DNSKEY for signed.example"
echo "bogus.example. 300 IN DS 12345 13 2 0000000000000000000000000000000000000000000000000000000000000000" >> "$D/anchors"

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
last="MX plain.example"
q 0 MX plain.example
has "OK insecure canon=plain.example"
has "MX 20 mx3.plain.example"
[ "$(sed -n 2,4p "$out" | cut -d' ' -f2 | sort -u)" = 10 ] || { cat "$out" >&2; fail "MX not sorted by preference"; }
[ "$(sed -n 5p "$out")" = "MX 20 mx3.plain.example" ] || { cat "$out" >&2; fail "the 20 is not last"; }
# Equal preferences come in changing order: over 30 lookups, more than one
# host is first.
: > "$D/firsts"
i=0
while [ $i -lt 30 ]; do
	"$dnsq" MX plain.example | sed -n 2p >> "$D/firsts"
	i=$((i + 1))
done
[ "$(sort -u "$D/firsts" | wc -l)" -ge 2 ] || fail "equal-preference MX hosts are not shuffled"

last="MX nullmx.plain.example"; q 0 MX nullmx.plain.example
has "MX 0 ."
has "null MX"
last="MX amx.plain.example"; q 1 MX amx.plain.example
has "NODATA insecure canon=amx.plain.example"
has "why: no MX record"
last="A amx.plain.example"; q 0 A amx.plain.example
has "A 192.0.2.10"
last="AAAA mx1.plain.example"; q 0 AAAA mx1.plain.example
has "AAAA 2001:db8::1"
last="TXT plain.example"; q 0 TXT plain.example
has "TXT v=spf1 ip4:192.0.2.0/24 -all"
last="A alias.plain.example"; q 0 A alias.plain.example
has "OK insecure canon=mx1.plain.example"
has "A 192.0.2.1"
last="A dangling.plain.example"; q 1 A dangling.plain.example
has "NXDOMAIN insecure canon=nowhere.plain.example"
last="MX nosuch.plain.example"; q 1 MX nosuch.plain.example
has "NXDOMAIN insecure canon=nosuch.plain.example"
has "why: Host not found"
last="PTR 192.168.1.1"; q 0 PTR 192.168.1.1
has "PTR mx1.plain.example"
# knot is not authoritative for example.com and refuses; the resolver
# makes that a SERVFAIL: a temporary failure.
last="MX example.com"; q 75 MX example.com
has "TEMPFAIL insecure canon=example.com"
has "why: SERVFAIL"
# Servers given instead of resolv.conf.
last="-S MX plain.example"; q 0 -S "127.0.0.1@5353" MX nullmx.plain.example
has "null MX"
# Without -s the signed zone answers too, never as secure.
last="MX signed.example"; q 0 MX signed.example
has "OK insecure canon=signed.example"
last="MX bogus.example (no dnssec)"; q 0 MX bogus.example
has "MX 10 mx.bogus.example"

# --- With DNSSEC.
export DNSQ_ANCHOR="$D/anchors"
last="-s MX signed.example"; q 0 -s MX signed.example
has "OK secure canon=signed.example"
has "MX 10 mx.signed.example"
last="-s TLSA"; q 0 -s TLSA _25._tcp.mx.signed.example
has "OK secure canon=_25._tcp.mx.signed.example"
has "TLSA 3 1 1 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
last="-s MX nosuch.signed.example"; q 1 -s MX nosuch.signed.example
has "NXDOMAIN secure canon=nosuch.signed.example"
last="-s MX mx.signed.example"; q 1 -s MX mx.signed.example
has "NODATA secure canon=mx.signed.example"
# No anchor covers plain.example: answered, insecure.
last="-s MX plain.example"; q 0 -s MX plain.example
has "OK insecure canon=plain.example"
# A wrong anchor: bogus, and none of the data.
last="-s MX bogus.example"; q 2 -s MX bogus.example
grep -q "^BOGUS insecure" "$out" || { cat "$out" >&2; fail "bogus.example not BOGUS"; }
grep -q "^why: bogus: " "$out" || { cat "$out" >&2; fail "no reason for bogus"; }
grep -q "^MX" "$out" && fail "data of a bogus answer was used"
last="-s TLSA bogus"; q 2 -s TLSA _25._tcp.mx.bogus.example
grep -q "^TLSA" "$out" && fail "TLSA of a bogus answer was used"
# A missing anchor file is an error at set-up, not at the first lookup.
"$dnsq" -s -a "$D/none" MX signed.example > "$out" 2>&1 && fail "dnsq ran without its anchor file"
grep -q "trust anchor file" "$out" || { cat "$out" >&2; fail "no trust anchor error"; }

# --- Threads on the one context: same answers (dnsq compares them).
last="-t 8 -s MX signed.example"; q 0 -t 8 -s MX signed.example
has "OK secure canon=signed.example"
last="-t 8 MX plain.example"; q 0 -t 8 MX plain.example
last="-t 8 -s MX bogus.example"; q 2 -t 8 -s MX bogus.example
pass
