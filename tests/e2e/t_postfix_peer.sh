#!/bin/sh
# t_postfix_peer.sh - the private Postfix of tests/e2e/postfix.sh works as
# a peer: it starts on a free loopback port, accepts mail over SMTP,
# delivers keep@localhost into its Maildir, throws sink@localhost away,
# refuses unknown users, and stops cleanly. Other tests rely on it.
# Runs as root (Postfix's master starts as root).
here=$(cd "$(dirname "$0")" && pwd)
. "$here/postfix.sh"

why=$(pf_available) || { echo "skip: $why"; exit 77; }
command -v smtp-source >/dev/null 2>&1 || { echo "skip: no smtp-source"; exit 77; }

d=$(mktemp -d /tmp/tern-t-postfix.XXXXXX)
cleanup() { pf_stop "$d"; rm -rf "$d"; }
trap cleanup EXIT INT TERM
fail() { echo "FAIL: $*"; tail -20 "$d/maillog" 2>/dev/null; exit 1; }

port=$(pf_free_port)
pf_setup "$d" "$port" || fail "pf_setup"
pf_start "$d" || fail "pf_start"
[ -n "$(pf_master_pid "$d")" ] || fail "no master pid"

smtp-source -m 3 -l 200 -f a@localhost -t keep@localhost "127.0.0.1:$port" ||
	fail "smtp-source to keep@localhost"
smtp-source -s 2 -m 4 -l 200 -f a@localhost -t sink@localhost "127.0.0.1:$port" ||
	fail "smtp-source to sink@localhost"
# An unknown local user is refused at RCPT, so smtp-source fails.
smtp-source -m 1 -f a@localhost -t nobody-here@localhost "127.0.0.1:$port" 2>/dev/null &&
	fail "unknown recipient accepted"

n=0
while [ "$(ls "$d/mail/keep/new" 2>/dev/null | wc -l)" -lt 3 ] && [ $n -lt 600 ]; do
	sleep 0.1; n=$((n + 1))
done
[ "$(ls "$d/mail/keep/new" | wc -l)" -eq 3 ] || fail "keep@localhost did not get 3 messages"
n=0
until pf_queue_empty "$d" || [ $n -ge 600 ]; do sleep 0.1; n=$((n + 1)); done
pf_queue_empty "$d" || fail "queue did not drain"
# Postfix writes maillog_file through postlogd: the line may come after the queue is empty.
n=0
until grep -q 'to=<sink@localhost>.*status=sent' "$d/maillog" || [ $n -ge 600 ]; do sleep 0.1; n=$((n + 1)); done
grep -q 'to=<sink@localhost>.*status=sent' "$d/maillog" || fail "no delivery to sink@localhost logged"

pid=$(pf_master_pid "$d")
pf_stop "$d"
kill -0 "$pid" 2>/dev/null && fail "master still running after pf_stop"
echo "PASS"
exit 0
