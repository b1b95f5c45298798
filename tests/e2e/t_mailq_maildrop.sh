#!/bin/sh
# t_mailq_maildrop.sh - mailq, sendmail -bp and ternqueue -p/-j list mail
# that waits in maildrop/ (submitted, not yet picked up), marked '^'
# ("queue_name": "maildrop" in JSON): while Tern is stopped for root and
# mail_owner, who read maildrop/ directly (anyone else is told the mail
# system is down, exit 69), and while it runs for anyone through the
# queue manager's listing socket. After start the mail is picked up and
# delivered, and the listing is empty again.
. "$(dirname "$0")/lib.sh"

tern_instance
qdir=$(ternconf -h queue_directory) || fail "ternconf -h queue_directory"

# Stopped: the message waits in maildrop/ and the listing shows it.
printf 'From: alice@localhost\nSubject: waiting\n\nx\n' |
	sendmail -f alice@localhost bob@localhost || fail "submission while stopped: exit $?"
id=$(ls "$qdir/maildrop")
[ -n "$id" ] || fail "nothing in maildrop/"
out=$(mailq) || fail "mailq exited $?: $out"
echo "$out" | grep -Eq "^$id\\^ +[0-9]+ .* <alice@localhost>\$" ||
	fail "mailq does not show $id marked ^: $out"
echo "$out" | grep -Eq "^[[:space:]]+<bob@localhost>\$" || fail "mailq lacks the recipient: $out"
echo "$out" | grep -q "Total requests: 1\$" || fail "mailq does not count it: $out"
[ "$(sendmail -bp)" = "$out" ] || fail "sendmail -bp differs from mailq: $(sendmail -bp 2>&1)"
ternqueue -j | python3 -c '
import json, sys
m = [json.loads(l) for l in sys.stdin]
assert len(m) == 1, m
assert m[0]["queue_name"] == "maildrop" and m[0]["queue_id"] == sys.argv[1], m
assert m[0]["sender"] == "alice@localhost", m
assert m[0]["recipients"] == [{"address": "bob@localhost"}], m
' "$id" || fail "ternqueue -j: $(ternqueue -j 2>&1)"
ternconf -e "mailq_format = postfix" || fail "ternconf -e"
ternqueue -p | grep -Eq "^$id\\^ +[0-9]+ .* alice@localhost\$" ||
	fail "ternqueue -p (postfix layout) does not mark $id: $(ternqueue -p 2>&1)"

if [ "$(id -u)" = 0 ]; then
	# Anyone else cannot list maildrop/ (mode 1730): while stopped, no listing.
	test_user_add ternmd1_$$
	pubgid=$(stat -c %g "$qdir/public")
	as_user() { setpriv --reuid=ternmd1_$$ --regid="$(id -g ternmd1_$$)" --groups="$pubgid" "$@"; }
	as_user "$TERN_TOP/stage/ternqueue" -p >"$TERN_DIR/unpriv.out" 2>&1
	rc=$?
	[ "$rc" = 69 ] || fail "an unprivileged listing while stopped exited $rc: $(cat "$TERN_DIR/unpriv.out")"
	grep -q 'mail system is down' "$TERN_DIR/unpriv.out" ||
		fail "the unprivileged user is not told why: $(cat "$TERN_DIR/unpriv.out")"
	grep -q "$id" "$TERN_DIR/unpriv.out" && fail "an unprivileged user saw the maildrop file"

	# Running without pickup: the queue manager's listing shows maildrop/ to anyone.
	cp "$TERN_DIR/master.cf" "$TERN_DIR/master.cf.orig"
	sed -i 's/^pickup /#pickup /' "$TERN_DIR/master.cf"
	tern_start
	as_user "$TERN_TOP/stage/ternqueue" -j | grep -q "\"queue_name\": \"maildrop\", \"queue_id\": \"$id\"" ||
		fail "the listing socket does not show maildrop/: $(as_user "$TERN_TOP/stage/ternqueue" -j 2>&1)"
	as_user "$TERN_TOP/stage/ternqueue" -p | grep -q "^$id^ " ||
		fail "the listing socket does not mark $id"
	tern_stop
	mv "$TERN_DIR/master.cf.orig" "$TERN_DIR/master.cf"
fi

# Started: picked up, delivered, and gone from the listing.
tern_start
wait_for_mail bob 1
grep -q '^Subject: waiting' "$(tern_newest_mail bob)" || fail "bob got another message"
wait_for "an empty queue" sh -c "ternqueue -p | grep -q '^Mail queue is empty\$'"
[ -z "$(ls "$qdir/maildrop")" ] || fail "maildrop/ is not empty after start"
pass
