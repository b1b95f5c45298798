#!/bin/sh
# t_smtp_client_service.sh - the smtp-client service (smtp/smtp) starts
# with the instance, qmgr hands it a relay recipient (transport_maps
# smtp:[127.0.0.1]:PORT, a port where nothing listens) over
# private/smtp-client, and what the smtp program answers reaches the log
# line and mailq as the deferral reason. The answer checked here is the
# placeholder client's ("smtp client not built"); with the SMTP client in
# place it is the connection failure instead. A bad
# smtp_destination_concurrency_limit gets a warning and the default.
here=$(dirname "$0")
[ -f "$here/lib.sh" ] || { echo "skip: tests/e2e/lib.sh is missing"; exit 77; }
. "$here/lib.sh"
for p in sendmail local qmgr pickup smtp ternconf ternqueue; do
	[ -x "$TERN_TOP/stage/$p" ] || skip "$p is not built"
done

tern_instance
grep -q '^smtp-client  *unix .* smtp$' "$TERN_DIR/master.cf" || fail "tern init wrote no smtp-client service"
dead=$(free_port)
printf 'relay.example\tsmtp:[127.0.0.1]:%s\n' "$dead" > "$TERN_DIR/transport"
# A limit that is no number: the default limit, and a warning.
ternconf -e "transport_maps = texthash:$TERN_DIR/transport" "smtp_destination_concurrency_limit = many" ||
	fail "ternconf -e"
tern_start
wait_for "the smtp-client socket" test -S "$TERN_DIR/queue/private/smtp-client"

printf 'Subject: out\n\nbody\n' | submit -f alice@localhost u@relay.example || fail "submit"
wait_for_log 'to=<u@relay\.example>, relay=[^,]+, delay=[0-9.]+, delays=[0-9.]+/[0-9.]+/0/[0-9.]+, dsn=4\.[0-9.]+, status=deferred \(.+\)'
reason=$(sed -n 's/.*to=<u@relay\.example>.*status=deferred (\(.*\))$/\1/p' "$TERN_DIR/maillog" | head -n 1)
case "$reason" in
"smtp client not built"|*"127.0.0.1"*) ;;
*) fail "unexpected deferral reason: $reason" ;;
esac
# The attempt logs the deferral before it writes the reason into defer/ID,
# where mailq reads it (qmgr_deliver.c): wait for that file.
id=$(sed -n 's/.*: \([0-9A-Za-z]*\): to=<u@relay\.example>.*status=deferred.*/\1/p' "$TERN_DIR/maillog" | head -n 1)
[ -n "$id" ] || fail "no queue id in the log"
wait_for "defer/$id" test -f "$TERN_DIR/queue/defer/$id"
ternqueue -j | python3 -c '
import json, sys
m = json.loads(sys.stdin.read().splitlines()[0])
assert m["recipients"] == [{"address": "u@relay.example", "delay_reason": sys.argv[1]}], m
' "$reason" || fail "mailq does not show the reason: $(ternqueue -j)"
wait_for_log 'smtp_destination_concurrency_limit: "many" is not a number from 1 to 10000; using default_destination_concurrency_limit \(20\)'
pass
