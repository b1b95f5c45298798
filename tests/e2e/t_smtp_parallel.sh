#!/bin/sh
# t_smtp_parallel.sh - a slow destination does not hold up the others:
# with a server that takes 20 s to greet at one domain's MX, mail queued
# after it for another domain is delivered in seconds, and the slow one
# is still delivered when its server answers (smtp_helo_timeout is longer).
# Peers are smtp_peer.py on the private network of netlib.sh.
# Needs root (network namespace, port 25).
here=$(dirname "$0")
[ -f "$here/lib.sh" ] || { echo "skip: tests/e2e/lib.sh is missing"; exit 77; }
. "$here/lib.sh"
. "$here/netlib.sh"
smtp_test_begin -- "$@"

dns_mx_zones slow.test=127.0.0.2 fast.test=127.0.0.3
dns_start "$NET_DIR/zones/slow.test.zone" "$NET_DIR/zones/fast.test.zone"
peer_start slow 127.0.0.2 25 --record "$NET_DIR/slow.json" --stall greeting=20
peer_start fast 127.0.0.3 25 --record "$NET_DIR/fast.json"

tern_instance
tern_start
printf 'Subject: slow\n\nbody\n' | sendmail -i -f alice@localhost u@slow.test || fail "sendmail"
# The slow delivery has begun: its server saw the connection.
wait_for "the slow peer's connection" grep -q 'conn 1: from' "$NET_DIR/slow.log"
t0=$(date +%s)
printf 'Subject: fast\n\nbody\n' | sendmail -i -f alice@localhost u@fast.test || fail "sendmail"
# Any time short of the slow server's 20 s proves the point: the fast
# message did not wait for the slow one (a loaded machine running a
# sanitizer build can take more than the 10 s this used to allow).
TERN_WAIT=18 peer_wait_messages "$NET_DIR/fast.json" 1
t1=$(date +%s)
[ -s "$NET_DIR/slow.json" ] && fail "the slow peer answered too early for this test to mean anything"
echo "fast delivered after $((t1 - t0)) s while the slow one waits"
peer_wait_messages "$NET_DIR/slow.json" 1
wait_for_log 'to=<u@slow\.test>,.* status=sent'
pass
