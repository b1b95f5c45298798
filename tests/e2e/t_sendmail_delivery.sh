#!/bin/sh
# t_sendmail_delivery.sh - mail from the programs that call sendmail
# reaches the mailbox in a running instance (tern init, local_maildir_base):
# cron, cronie (-t -f and -f '<>'), PHP mail() (-t -i with Bcc: every
# recipient gets it, nobody sees the Bcc:), mutt, mailx, git send-email,
# and sendmail -bs; and mail submitted while the instance is stopped
# waits in maildrop/ and is delivered after tern start.
here=$(dirname "$0")
[ -f "$here/lib.sh" ] || { echo "skip: tests/e2e/lib.sh is missing"; exit 77; }
. "$here/lib.sh"
for p in sendmail terndrop pickup qmgr local; do
	[ -x "$TERN_TOP/stage/$p" ] || skip "$p is not built"
done

tern_instance
tern_start

# wait_for_quiet CMD...: like wait_for, but returns 1 instead of failing.
wait_for_quiet() {
	_end=$(( $(date +%s) + TERN_WAIT ))
	while ! "$@" >/dev/null 2>&1; do
		[ "$(date +%s)" -lt "$_end" ] || return 1
		sleep 0.1
	done
}

# has_mail USER PATTERN: some message for USER contains PATTERN (grep -E).
has_mail() { grep -Eqs -- "$2" "$TERN_DIR/mail/$1/new/"* ; }
wait_mail() { wait_for "mail for $1 matching /$2/" has_mail "$1" "$2"; }

# Debian cron
printf 'Subject: cron-job\n\ncron output\n' | sendmail -FCronDaemon -i -B8BITMIME -oem cronuser ||
	fail "cron: sendmail exited $?"
wait_mail cronuser '^Subject: cron-job'
has_mail cronuser '^From: CronDaemon <' || fail "cron: no From: with the full name"

# cronie
printf 'To: cronie\nSubject: cronie-job\n\nx\n' | sendmail -FCronDaemon -i -odi -oem -oi -t -f root ||
	fail "cronie: exited $?"
wait_mail cronie '^Subject: cronie-job'
printf 'To: cronie\nSubject: cronie-null\n\nx\n' | sendmail -FCronDaemon -i -odi -oem -oi -t -f '<>' ||
	fail "cronie -f '<>': exited $?"
wait_mail cronie '^Subject: cronie-null'

# PHP mail(): -t -i, CRLF lines, Bcc
printf 'To: php-to@localhost\r\nCc: php-cc@localhost\r\nBcc: php-bcc@localhost\r\nSubject: php-mail\r\n\r\nline\r\n.\r\nafter\r\n' |
	sendmail -t -i || fail "php: exited $?"
for u in php-to php-cc php-bcc; do
	wait_mail "$u" '^Subject: php-mail'
	has_mail "$u" '^[Bb][Cc][Cc]:' && fail "php: $u sees the Bcc: header"
	has_mail "$u" '^after' || fail "php: text after the lone dot lost for $u"
done

# mutt, mailx, git send-email
printf 'From: m@localhost\nTo: mutt@localhost\nSubject: mutt-mail\n\nx\n' | sendmail -oem -oi -- mutt@localhost ||
	fail "mutt: exited $?"
printf 'Subject: mailx-mail\n\nx\n' | sendmail -i -- mailx1 mailx2@localhost || fail "mailx: exited $?"
printf 'From: dev@localhost\nSubject: [PATCH] git-mail\n\nx\n' | sendmail -i -f dev@localhost gitlist ||
	fail "git: exited $?"
wait_mail mutt '^Subject: mutt-mail'
wait_mail mailx1 '^Subject: mailx-mail'
wait_mail mailx2 '^Subject: mailx-mail'
wait_mail gitlist '^Subject: \[PATCH\] git-mail'
has_mail gitlist '^Return-Path: <dev@localhost>' || fail "git: envelope sender not dev@localhost"

# sendmail -bs
printf 'HELO client\r\nMAIL FROM:<bs@localhost>\r\nRCPT TO:<bsuser@localhost>\r\nDATA\r\nSubject: bs-mail\r\n\r\nx\r\n.\r\nQUIT\r\n' |
	sendmail -bs >"$TERN_DIR/bs.out" 2>&1 || fail "-bs exited $?: $(cat "$TERN_DIR/bs.out")"
grep -q '^250 2.0.0' "$TERN_DIR/bs.out" || fail "-bs: $(cat "$TERN_DIR/bs.out")"
wait_mail bsuser '^Subject: bs-mail'

# Submission while stopped: exit 0, the mail waits, and arrives after start.
tern_stop
printf 'Subject: while-stopped\n\nx\n' | sendmail stopped@localhost || fail "submission while stopped: exit $?"
qdir=$(ternconf -h queue_directory) || fail "ternconf -h queue_directory"
[ -n "$(ls -A "$qdir/maildrop")" ] || fail "nothing waiting in maildrop/ while stopped"
has_mail stopped 'while-stopped' && fail "delivered while stopped?"
tern_start
wait_mail stopped '^Subject: while-stopped'

# A waiting message that cleanup refuses for good (the size limit went down
# while it waited) goes back to its sender instead of vanishing.
tern_stop
head -c 60000 /dev/zero | tr '\0' z | fold -w 50 | sed '1i\
Subject: too-big-later
' | sendmail -f bigsender@localhost bigrcpt@localhost || fail "big submission while stopped: exit $?"
ternconf -e 'message_size_limit = 40000' || fail "ternconf -e"
tern_start
wait_mail bigsender 'too-big-later'
has_mail bigsender '^Content-Type: multipart/report' || fail "the returned message is not a DSN"
# pickup removes the file once the bounce is queued: the bounce can be
# delivered before that removal.
maildrop_clean() { [ -z "$(find "$qdir/maildrop" -mindepth 1 \( ! -perm 0200 -o ! -empty \))" ]; }
wait_for "the refused message to leave maildrop/" maildrop_clean
has_mail bigrcpt 'too-big-later' && fail "the refused message was delivered"
ternconf -e 'message_size_limit = 10240000' || fail "ternconf -e"
tern_reload

# virtual_alias_maps and canonical_maps, set up with Tern's tools, apply to sendmail's mail.
printf 'sales@localhost  ann, bob@localhost\n' >"$TERN_DIR/virtual"
printf 'oldname@localhost  newname@localhost\n' >"$TERN_DIR/canonical"
ternmap "hash:$TERN_DIR/virtual" || fail "ternmap virtual"
ternmap "hash:$TERN_DIR/canonical" || fail "ternmap canonical"
ternconf -e "virtual_alias_maps = hash:$TERN_DIR/virtual" "canonical_maps = hash:$TERN_DIR/canonical" ||
	fail "ternconf -e"
tern_reload
printf 'Subject: to-sales\n\nx\n' | sendmail -f oldname@localhost sales@localhost || fail "virtual: exit $?"
wait_mail ann '^Subject: to-sales'
wait_mail bob '^Subject: to-sales'
has_mail bob '^Return-Path: <newname@localhost>' || fail "canonical_maps did not rewrite the sender"

# mailq / -bp (sendmail's layout by default) and -q (flush) on the running instance.
# A delivery interrupted by the reloads above may have been deferred: flush first.
sendmail -q || fail "sendmail -q exited $?"
if ! TERN_WAIT=$TERN_WAIT wait_for_quiet tern_queue_empty; then
	mailq >&2
	fail "the queue did not empty"
fi
mailq | grep -q 'Total requests: 0' || fail "mailq: $(mailq 2>&1)"
sendmail -bp | grep -q 'is empty' || fail "sendmail -bp: $(sendmail -bp 2>&1)"
sendmail -q || fail "sendmail -q exited $?"
sendmail -qRlocalhost || fail "sendmail -qR exited $?"

# -bC checks the configuration; -bd starts the mail system (tern start).
sendmail -bC >/dev/null 2>&1 || fail "sendmail -bC exited $?"
tern_stop
tern -c "$TERN_DIR" status >/dev/null 2>&1 && fail "still running after tern stop"
sendmail -bd >/dev/null 2>&1 || fail "sendmail -bd exited $?"
tern -c "$TERN_DIR" status >/dev/null 2>&1 || fail "sendmail -bd did not start the mail system"
printf 'Subject: after-bd\n\nx\n' | sendmail bduser || fail "submission after -bd"
wait_mail bduser '^Subject: after-bd'
pass
