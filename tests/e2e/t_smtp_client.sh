#!/bin/sh
# t_smtp_client.sh - more of the smtp program's dialogue, against
# smtp_peer.py peers on the private network of netlib.sh: a server that
# refuses EHLO gets HELO (and the mail); smtp_destination_recipient_limit
# = 2 sends five recipients in three transactions over one connection;
# smtp_bind_address is the source address the server sees; a 554 greeting
# at the first MX sends the mail to the next (smtp_skip_5xx_greeting); the
# per-recipient log line of a delivery over TLS says so (", tls=...",
# after the status text, qmgr_settle.c).
# Needs root (network namespace, port 25).
here=$(dirname "$0")
[ -f "$here/lib.sh" ] || { echo "skip: tests/e2e/lib.sh is missing"; exit 77; }
. "$here/lib.sh"
. "$here/netlib.sh"
smtp_test_begin --tls -- "$@"

c=$NET_DIR/certs
test_cert mx.tlslog.test "$c" self
dns_mx_zones helo.test=127.0.0.2 limit.test=127.0.0.3 bind.test=127.0.0.4 tlslog.test=127.0.0.7
dns_zone g554.test >/dev/null <<EOF
@    MX 10 a
@    MX 20 b
a    A  127.0.0.5
b    A  127.0.0.6
EOF
z=$NET_DIR/zones
dns_start "$z/helo.test.zone" "$z/limit.test.zone" "$z/bind.test.zone" "$z/g554.test.zone" "$z/tlslog.test.zone"

peer_start helo 127.0.0.2 25 --record "$NET_DIR/helo.json" --reply 'ehlo=502 5.5.2 Error: command not recognized'
peer_start limit 127.0.0.3 25 --record "$NET_DIR/limit.json"
peer_start bind 127.0.0.4 25 --record "$NET_DIR/bind.json"
peer_start a554 127.0.0.5 25 --record "$NET_DIR/a554.json" --greeting '554 5.3.2 not now'
peer_start b554 127.0.0.6 25 --record "$NET_DIR/b554.json"
peer_start tlslog 127.0.0.7 25 --record "$NET_DIR/tlslog.json" --cert "$c/mx.tlslog.test.pem" --key "$c/mx.tlslog.test.key"

tern_instance
ternconf -e "smtp_destination_recipient_limit = 2" || fail "ternconf -e"
tern_start
log=$TERN_DIR/maillog
field() { python3 -c 'import json,sys; m=json.loads(open(sys.argv[1]).read().splitlines()[int(sys.argv[2])-1]); print(eval(sys.argv[3]))' "$@"; }
send() { _to=$1; shift; printf 'Subject: to %s\n\nbody\n' "$_to" | sendmail -i -f alice@localhost "$_to" "$@" || fail "sendmail $_to"; }

send u@helo.test
send r1@limit.test r2@limit.test r3@limit.test r4@limit.test r5@limit.test
send u@g554.test
send u@tlslog.test

# EHLO refused: HELO.
peer_wait_messages "$NET_DIR/helo.json" 1
[ "$(field "$NET_DIR/helo.json" 1 'm["esmtp"]')" = False ] || fail "no HELO fallback: $(cat "$NET_DIR/helo.json")"
wait_for_log 'to=<u@helo\.test>,.* status=sent'

# Two recipients per transaction, one connection.
peer_wait_messages "$NET_DIR/limit.json" 3
python3 - "$NET_DIR/limit.json" <<'EOF' || fail "recipient limit: $(cat "$NET_DIR/limit.json")"
import json, sys
ms = [json.loads(l) for l in open(sys.argv[1]).read().splitlines()]
assert len(ms) == 3, len(ms)
assert sorted(len(m["accepted"]) for m in ms) == [1, 2, 2], [m["accepted"] for m in ms]
assert sorted(a for m in ms for a in m["accepted"]) == ["r%d@limit.test" % i for i in range(1, 6)]
assert len({m["conn"] for m in ms}) == 1, [m["conn"] for m in ms]
EOF

# 554 greeting at the first MX: the second gets it.
peer_wait_messages "$NET_DIR/b554.json" 1
wait_for_log 'to=<u@g554\.test>, relay=b\.g554\.test\[127\.0\.0\.6\]:25,.* status=sent'

# smtp_bind_address: the source address the server sees.
ternconf -e "smtp_bind_address = 127.0.0.44" || fail "ternconf -e"
tern_reload
sleep 1
send u@bind.test
peer_wait_messages "$NET_DIR/bind.json" 1
field "$NET_DIR/bind.json" 1 'm["peer"]' | grep -q '127\.0\.0\.44' ||
	fail "source address: $(field "$NET_DIR/bind.json" 1 'm["peer"]')"

# TLS in the per-recipient log line.
peer_wait_messages "$NET_DIR/tlslog.json" 1
wait_for_log 'to=<u@tlslog\.test>,.* status=sent'
grep 'to=<u@tlslog\.test>,.* status=sent' "$log" | grep -q 'TLS' ||
	fail "the log line of a delivery over TLS does not say TLS: $(grep 'u@tlslog' "$log")"
pass
