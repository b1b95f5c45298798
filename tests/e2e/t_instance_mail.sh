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
pass
