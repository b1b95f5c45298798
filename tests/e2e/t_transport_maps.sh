#!/bin/sh
# t_transport_maps.sh - routing by transport_maps without any SMTP peer:
# error:CODE text bounces with that code and text (and the sender's
# notice says so), retry:text keeps the recipient deferred with the text
# as the reason that mailq shows, discard: marks it delivered with
# status=sent (discarded), local: delivers a remote domain to the local
# mailbox of its local part, a .parent key covers subdomains, and
# default_transport = error bounces whatever is left; every log line has
# Postfix's to=, relay=, delay=, delays=a/b/c/d, dsn=, status= shape.
here=$(dirname "$0")
[ -f "$here/lib.sh" ] || { echo "skip: tests/e2e/lib.sh is missing"; exit 77; }
. "$here/lib.sh"
for p in sendmail local qmgr pickup ternconf ternqueue; do
	[ -x "$TERN_TOP/stage/$p" ] || skip "$p is not built"
done

tern_instance
cat > "$TERN_DIR/transport" <<'MAP'
bounced.example	error:5.7.1 no mail for bounced.example
later.example	retry:4.4.1 held here on purpose
gone.example	discard:
inside.example	local:
.deep.example	error:subdomain refused
MAP
ternconf -e "transport_maps = texthash:$TERN_DIR/transport" "default_transport = error:5.7.9 no outside mail" ||
	fail "ternconf -e"
tern_start

msg() { printf 'Subject: %s\n\nbody of %s\n' "$1" "$1"; }
shape='relay=none, delay=[0-9.]+, delays=[0-9.]+/[0-9.]+/0/[0-9.]+, dsn='

# error: a bounce with the table's code and text.
msg err | submit -f s1@localhost u@bounced.example || fail "submit error"
wait_for_log "to=<u@bounced.example>, ${shape}5\.7\.1, status=bounced \(no mail for bounced\.example\)"
wait_for_mail s1 1
n=$(tern_newest_mail s1)
grep -q '^Status: 5\.7\.1$' "$n" || fail "the bounce has no Status: 5.7.1"
grep -q '^Diagnostic-Code: X-Tern; no mail for bounced\.example$' "$n" || fail "the bounce has no diagnostic"
grep -q '^Remote-MTA:' "$n" && fail "a local decision names a Remote-MTA"

# discard: delivered as far as anyone can tell, nothing arrives.
msg disc | submit -f s2@localhost u@gone.example || fail "submit discard"
wait_for_log "to=<u@gone.example>, ${shape}2\.0\.0, status=sent \(discarded\)"

# local: a remote domain delivered to the local part's mailbox.
msg inside | submit -f s3@localhost Bob@inside.example || fail "submit local"
wait_for_mail bob 1
grep -q '^Subject: inside' "$(tern_newest_mail bob)" || fail "bob got something else"
wait_for_log 'to=<Bob@inside\.example>, relay=local, delay=[0-9.]+, delays=[0-9.]+/[0-9.]+/0/[0-9.]+, dsn=2\.'

# .parent key: subdomains, not the domain itself (that one takes default_transport).
msg deep | submit -f s4@localhost u@a.deep.example u@deep.example || fail "submit deep"
wait_for_log "to=<u@a\.deep\.example>, ${shape}5\.0\.0, status=bounced \(subdomain refused\)"
wait_for_log "to=<u@deep\.example>, ${shape}5\.7\.9, status=bounced \(no outside mail\)"

# retry: deferred, and the reason is what mailq shows.
msg later | submit -f s5@localhost u@later.example || fail "submit retry"
wait_for_log "to=<u@later\.example>, ${shape}4\.4\.1, status=deferred \(held here on purpose\)"
wait_for "the reason in mailq" sh -c 'ternqueue -j | grep -q "\"delay_reason\": *\"held here on purpose\""'

# Nothing else is left in the queue, once the bounces and the files of the
# messages logged above are through (each is removed after its log line).
only_deferred_left() { [ "$(ternqueue -j | wc -l)" = 1 ]; }
wait_for "only the deferred message in the queue" only_deferred_left
pass
