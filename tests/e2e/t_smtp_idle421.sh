#!/bin/sh
# t_smtp_idle421.sh - a server that closes a cached connection with an
# unasked 421 (its idle timeout, smtp_peer.py --idle-421): the smtp
# program logs the server's own reply, not a protocol error, and the next
# message goes over a new connection.
# Needs root (network namespace, port 25).
here=$(dirname "$0")
[ -f "$here/lib.sh" ] || { echo "skip: tests/e2e/lib.sh is missing"; exit 77; }
. "$here/lib.sh"
. "$here/netlib.sh"
smtp_test_begin -- "$@"

dns_mx_zones idle.test=127.0.0.2
dns_start "$NET_DIR/zones/idle.test.zone"
peer_start idle 127.0.0.2 25 --record "$NET_DIR/idle.json" --idle-421 1

tern_instance
ternconf -e "smtp_connection_cache_time_limit = 60s" || fail "ternconf -e"
tern_start
log=$TERN_DIR/maillog
send() { printf 'Subject: %s\n\nbody\n' "$1" | sendmail -i -f alice@localhost "$1@idle.test" || fail "sendmail $1"; }

send one
peer_wait_messages "$NET_DIR/idle.json" 1
wait_for_log 'to=<one@idle\.test>,.* status=sent'
# The connection stays cached until the server's idle 421.
wait_for "the peer's idle 421" grep -q 'idle 421' "$NET_DIR/idle.log"
# The peer logs that before it sends the 421 and closes: wait until the
# cached connection is in CLOSE_WAIT (its FIN follows the 421), or the
# next message could find the connection still quiet and reuse it.
peer_closed() { grep -Eq '^ *[0-9]+: [0-9A-F]{8}:[0-9A-F]{4} 0200007F:0019 08 ' /proc/net/tcp; }
wait_for "the idle connection closed by the peer" peer_closed
send two
peer_wait_messages "$NET_DIR/idle.json" 2
wait_for_log 'to=<two@idle\.test>,.* status=sent'
grep -q 'said: 421 4\.4\.2 peer\.test Error: timeout exceeded (while the cached connection was idle)' "$log" ||
	fail "the server's 421 is not logged: $(grep -i 'idle\|421\|protocol' "$log")"
grep -qi 'protocol error' "$log" && fail "logged as a protocol error: $(grep -i 'protocol error' "$log")"
python3 - "$NET_DIR/idle.json" <<'PY' || fail "connections: $(cat "$NET_DIR/idle.json")"
import json, sys
ms = [json.loads(l) for l in open(sys.argv[1]).read().splitlines()]
assert len({m["conn"] for m in ms}) == 2, [m["conn"] for m in ms]
PY
pass
