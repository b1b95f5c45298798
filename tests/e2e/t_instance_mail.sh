#!/bin/sh
# t_instance_mail.sh - what the README's first command promises: an
# instance made by tern init, started with tern start, takes a message by
# SMTP and one from sendmail, and delivers both into
# DIR/mail/LOCALPART/new/ with no system account for the recipients;
# tern stop then leaves no process. Skips until every daemon is built.
. "$(dirname "$0")/lib.sh"

for p in ternd smtpd pickup qmgr local sendmail terndrop; do
	[ -x "$TERN_TOP/stage/$p" ] || skip "stage/$p is not built yet"
done

tern_instance
tern_start
reply=$(smtp_send sender@example.org "nobody-$$@localhost" "by smtp $$") || fail "SMTP refused: $reply"
wait_for_mail "nobody-$$"
msg=$(tern_newest_mail "nobody-$$")
grep -q "^Subject: by smtp $$" "$msg" || fail "delivered message lacks its subject: $msg"

printf 'Subject: by sendmail %s\n\nhello\n' "$$" | sendmail -C "$TERN_DIR" -i "other-$$@localhost" \
	|| fail "sendmail exited $?"
wait_for_mail "other-$$"
grep -q "^Subject: by sendmail $$" "$(tern_newest_mail "other-$$")" || fail "sendmail message lacks its subject"

pid=$(tern status | sed -n 's/.*pid \([0-9]*\).*/\1/p')
tern_stop
left=$(ps -eo pid=,ppid= | awk -v p="$pid" '$2 == p { print $1 }')
[ -z "$left" ] || fail "processes of the master left after stop: $left"

# Without root, as its owner; and the same when root starts it.
[ "$(id -u)" = 0 ] || pass
user=ternmail$$
test_user_add "$user"
runuser -u "$user" -- test -x "$TERN_TOP/stage/tern" || pass	# build tree not reachable
d=$(mktemp -d /tmp/tern-test.XXXXXX)
chown "$user" "$d"
at_cleanup "tern -c '$d/i' stop; rm -rf '$d'"
out=$(runuser -u "$user" -- tern init "$d/i") || fail "tern init as $user"
TERN_DIR=$d/i TERN_PORT=$(echo "$out" | tail -n 1 | sed 's/.*://')
grep -qx "mail_owner = $user" "$TERN_DIR/main.cf" || fail "mail_owner is not $user"
for who in "$user" root; do
	if [ "$who" = root ]; then
		tern -c "$TERN_DIR" start >/dev/null || fail "root cannot start $user's instance"
	else
		runuser -u "$user" -- tern -c "$TERN_DIR" start >/dev/null || fail "$user cannot start the instance"
	fi
	rcpt="by-$who-$$"
	smtp_send sender@example.org "$rcpt@localhost" "started by $who" >/dev/null || fail "SMTP refused ($who)"
	wait_for_mail "$rcpt"
	f=$(tern_newest_mail "$rcpt")
	[ "$(stat -c %U "$f")" = "$user" ] || fail "started by $who: $f belongs to $(stat -c %U "$f"), not $user"
	procs=$(pgrep -f -- "-c $TERN_DIR\$")
	[ "$(echo "$procs" | wc -w)" -ge 5 ] || fail "started by $who: only $(echo "$procs" | wc -w) processes"
	for p in $procs; do
		u=$(ps -o user= -p "$p")
		c=$(ps -o comm= -p "$p")
		case $c in ternd|local) [ "$who" = root ] && continue ;; esac
		[ "$u" = "$user" ] || fail "started by $who: $c runs as $u"
	done
	tern -c "$TERN_DIR" stop >/dev/null || fail "stop ($who)"
done
pass
