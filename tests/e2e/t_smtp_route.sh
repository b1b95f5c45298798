#!/bin/sh
# t_smtp_route.sh - where the smtp program sends mail, on the private
# network of netlib.sh: MX hosts in preference order (the first one down,
# the second gets the mail), a domain without MX goes to its A record (or
# its AAAA record, on an IPv6 address of the namespace's own), a
# null MX (RFC 7505) is bounced at once with 5.1.10, a domain that does
# not exist is bounced with 5.1.2 (each bounce reaches the sender's mailbox
# and the log says status=bounced), relayhost [host]:port skips the MX
# lookup while relayhost host does it, transport_maps smtp:[addr]:port,
# error: and discard: routes.
# Needs root (network namespace, port 25).
here=$(dirname "$0")
[ -f "$here/lib.sh" ] || { echo "skip: tests/e2e/lib.sh is missing"; exit 77; }
. "$here/lib.sh"
. "$here/netlib.sh"
smtp_test_begin -- "$@"

# pref.test: mx1 (nobody listens) before mx2; nomx.test: only an A
# record; nullmx.test: "MX 0 ."; rh.test: an A record (for [rh.test]:2526)
# and an MX elsewhere (for relayhost = rh.test).
dns_zone pref.test >/dev/null <<EOF
@    MX 20 mx2
@    MX 10 mx1
mx1  A  127.0.0.2
mx2  A  127.0.0.3
EOF
dns_zone nomx.test >/dev/null <<EOF
@    A  127.0.0.4
EOF
dns_zone nullmx.test >/dev/null <<EOF
@    MX 0 .
@    A  127.0.0.4
EOF
dns_zone rh.test >/dev/null <<EOF
@    A  127.0.0.5
@    MX 10 mxr
mxr  A  127.0.0.6
EOF
dns_zone v6.test >/dev/null <<EOF
@    AAAA fd00::25
EOF
z=$NET_DIR/zones
dns_start "$z/pref.test.zone" "$z/nomx.test.zone" "$z/nullmx.test.zone" "$z/rh.test.zone" "$z/v6.test.zone"
netns_addr fd00::25

peer_start mx2 127.0.0.3 25 --record "$NET_DIR/mx2.json"
peer_start nomx 127.0.0.4 25 --record "$NET_DIR/nomx.json"
peer_start rhA 127.0.0.5 2526 --record "$NET_DIR/rhA.json"
peer_start rhMX 127.0.0.6 25 --record "$NET_DIR/rhMX.json"
peer_start tm 127.0.0.9 2525 --record "$NET_DIR/tm.json"
peer_start v6 fd00::25 25 --record "$NET_DIR/v6.json"

tern_instance
cat > "$TERN_DIR/transport" <<EOF
tm.example	smtp:[127.0.0.9]:2525
err.example	error:5.7.1 no mail here please
gone.example	discard:
EOF
# tern init writes inet_protocols = ipv4; the AAAA case needs IPv6 too.
ternconf -e "transport_maps = texthash:$TERN_DIR/transport" "inet_protocols = all" || fail "ternconf -e"
tern_start

send() { printf 'Subject: %s\n\nbody of %s\n' "$2" "$2" | sendmail -i -f alice@localhost "$1" || fail "sendmail $1"; }
# json FILE N FIELD: FIELD of message N (from 1) recorded by a peer.
rec() { python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).read().splitlines()[int(sys.argv[2])-1])[sys.argv[3]])' "$@"; }

# MX in preference order: mx1 refuses connections, mx2 takes the mail.
send u@pref.test pref
peer_wait_messages "$NET_DIR/mx2.json" 1
[ "$(rec "$NET_DIR/mx2.json" 1 accepted)" = "['u@pref.test']" ] || fail "mx2 got $(cat "$NET_DIR/mx2.json")"
wait_for_log 'to=<u@pref\.test>, relay=mx2\.pref\.test\[127\.0\.0\.3\]:25,.* status=sent'

# No MX: the domain's own address.
send u@nomx.test nomx
peer_wait_messages "$NET_DIR/nomx.json" 1
wait_for_log 'to=<u@nomx\.test>, relay=nomx\.test\[127\.0\.0\.4\]:25,.* status=sent'

# No MX, only an AAAA record.
send u@v6.test v6
peer_wait_messages "$NET_DIR/v6.json" 1
wait_for_log 'to=<u@v6\.test>, relay=v6\.test\[fd00::25\]:25,.* status=sent'

# Null MX: bounced at once (not deferred), though the domain has an A record.
send u@nullmx.test nullmx
wait_for_log 'to=<u@nullmx\.test>,.* dsn=5\.1\.10, status=bounced'
grep -q 'to=<u@nullmx\.test>.*status=deferred' "$TERN_DIR/maillog" && fail "null MX deferred first"
wait_for_mail alice 1
b=$(tern_newest_mail alice)
grep -q '^Final-Recipient: rfc822; *u@nullmx\.test' "$b" || fail "bounce does not name u@nullmx.test: $(cat "$b")"
grep -q '^Status: 5\.1\.10' "$b" || fail "bounce status is not 5.1.10: $(cat "$b")"
[ "$(wc -l < "$NET_DIR/nomx.json")" = 1 ] || fail "the null MX domain's A record got mail"

# A domain that does not exist: bounced with 5.1.2.
send u@nothere.pref.test nxdomain
wait_for_log 'to=<u@nothere\.pref\.test>,.* dsn=5\.1\.2, status=bounced'
wait_for_mail alice 2
b=$(tern_newest_mail alice)
grep -q '^Status: 5\.1\.2' "$b" || fail "NXDOMAIN bounce status is not 5.1.2: $(cat "$b")"

# transport_maps: smtp:[addr]:port, error:, discard:.
send u@tm.example tm
peer_wait_messages "$NET_DIR/tm.json" 1
wait_for_log 'to=<u@tm\.example>, relay=127\.0\.0\.9\[127\.0\.0\.9\]:2525,.* status=sent'
send u@err.example err
wait_for_log 'to=<u@err\.example>,.* dsn=5\.7\.1, status=bounced \(no mail here please\)'
wait_for_mail alice 3
send u@gone.example gone
wait_for_log 'to=<u@gone\.example>,.* status=sent'

# relayhost [host]:port: the A record of rh.test, port 2526, no MX lookup.
ternconf -e "relayhost = [rh.test]:2526" || fail "ternconf -e"
tern_reload
sleep 1
send u@pref.test viarelay1
peer_wait_messages "$NET_DIR/rhA.json" 1
[ "$(rec "$NET_DIR/rhA.json" 1 accepted)" = "['u@pref.test']" ] || fail "[rh.test]:2526 got $(cat "$NET_DIR/rhA.json")"
wait_for_log 'to=<u@pref\.test>, relay=rh\.test\[127\.0\.0\.5\]:2526,.* status=sent'

# relayhost host: rh.test's MX.
ternconf -e "relayhost = rh.test" || fail "ternconf -e"
tern_reload
sleep 1
send u@nomx.test viarelay2
peer_wait_messages "$NET_DIR/rhMX.json" 1
[ "$(rec "$NET_DIR/rhMX.json" 1 accepted)" = "['u@nomx.test']" ] || fail "rh.test's MX got $(cat "$NET_DIR/rhMX.json")"
wait_for_log 'to=<u@nomx\.test>, relay=mxr\.rh\.test\[127\.0\.0\.6\]:25,.* status=sent'
[ "$(wc -l < "$NET_DIR/mx2.json")" = 1 ] || fail "mx2 got mail through a relayhost"
[ "$(wc -l < "$NET_DIR/nomx.json")" = 1 ] || fail "nomx.test got mail through a relayhost"
pass
