#!/bin/sh
# t_queue_minfree.sh - too little room in the queue file system refuses
# new mail before it is taken: with queue_minfree above the free space
# of the test's file system (1 PB), smtpd answers MAIL FROM with 452
# 4.3.1 Insufficient system storage (also when 1.5 x message_size_limit
# is not free, as Postfix's smtpd), sendmail exits 75 with one clear
# line and queues nothing, sendmail -bs answers 452; with a normal
# queue_minfree mail is accepted as before.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/smtpd_lib.sh"
[ -x "$TERN_TOP/stage/sendmail" ] || skip "sendmail is not built"

PB=1000000000000000
tern_instance
avail=$(df -P -B1 "$TERN_DIR/queue" | awk 'NR == 2 {print $4}')
[ -n "$avail" ] && [ "$avail" -lt "$PB" ] || skip "the queue file system has 1 PB free"

refused() {
	cat > "$TERN_DIR/refused.dlg" <<'EOD'
< 220
> EHLO client.example
< 250 CHUNKING
> MAIL FROM:<a@example.org>
< 452 4\.3\.1 Insufficient system storage
> RSET
< 250
> MAIL FROM:<a@example.org>
< 452 4\.3\.1 Insufficient system storage
> QUIT
< 221
EOD
	$DIALOG 127.0.0.1 "$SMTPD_PORT" "$TERN_DIR/refused.dlg" || { show_log; fail "$1: MAIL FROM was not refused"; }
}

# smtpd: queue_minfree above the free space.
smtpd_start -o queue_minfree=$PB
refused "queue_minfree = 1 PB"
grep -q 'NOQUEUE: reject: MAIL from localhost\[127\.0\.0\.1\]: 452 4\.3\.1 Insufficient system storage' \
	"$TERN_DIR/maillog" || { show_log; fail "no reject log line"; }
grep -q "warning: not enough free space in the queue file system .*queue_minfree is $PB" "$TERN_DIR/maillog" ||
	{ show_log; fail "no warning naming queue_minfree"; }
smtpd_stop

# smtpd: 1.5 x message_size_limit must be free, whatever queue_minfree.
smtpd_start -o queue_minfree=0 -o message_size_limit=$PB
refused "message_size_limit = 1 PB"
grep -q 'warning: not enough free space .*1\.5 x message_size_limit' "$TERN_DIR/maillog" ||
	{ show_log; fail "no warning naming message_size_limit"; }
smtpd_stop

# smtpd: a normal value takes mail.
smtpd_start -o queue_minfree=1000000
cat > "$TERN_DIR/ok.dlg" <<'EOD'
< 220
> EHLO client.example
< 250 CHUNKING
> MAIL FROM:<a@example.org>
< 250 2\.1\.0
> RCPT TO:<postmaster@localhost>
< 250 2\.1\.5
> DATA
< 354
> Subject: minfree-ok
>
> fits
> .
< 250 2\.0\.0 Ok: queued
> QUIT
< 221
EOD
$DIALOG 127.0.0.1 "$SMTPD_PORT" "$TERN_DIR/ok.dlg" || { show_log; fail "a normal queue_minfree refused mail"; }
[ "$(queued_count 'Subject: minfree-ok')" = 1 ] || fail "the message was not queued"
smtpd_stop

# sendmail: 75 and one line naming queue_minfree; nothing in maildrop/.
drop=$TERN_DIR/queue/maildrop
ternconf -e "queue_minfree = $PB" || fail "ternconf -e"
printf 'Subject: minfree\n\nno room\n' | sendmail -i postmaster@localhost 2>"$TERN_DIR/err"
rc=$?
[ $rc = 75 ] || fail "sendmail exited $rc, want 75 (EX_TEMPFAIL): $(cat "$TERN_DIR/err")"
grep -q "queue_minfree is $PB.*try again later" "$TERN_DIR/err" || fail "unclear message: $(cat "$TERN_DIR/err")"
[ -z "$(ls -A "$drop")" ] || fail "maildrop/ holds $(ls -A "$drop")"
# sendmail -bs: 452 at MAIL FROM.
printf 'EHLO me\r\nMAIL FROM:<a@example.org>\r\nQUIT\r\n' | sendmail -bs > "$TERN_DIR/bs.out" 2>&1
grep -q '^452 4\.3\.1 Insufficient system storage' "$TERN_DIR/bs.out" || fail "sendmail -bs: $(cat "$TERN_DIR/bs.out")"
[ -z "$(ls -A "$drop")" ] || fail "sendmail -bs queued: $(ls -A "$drop")"

# A normal value: sendmail queues as before.
ternconf -e "queue_minfree = 1000000" || fail "ternconf -e"
printf 'Subject: minfree\n\nroom\n' | sendmail -i postmaster@localhost || fail "sendmail with room exited $?"
[ "$(ls "$drop" | wc -l)" = 1 ] || fail "maildrop/ holds $(ls -A "$drop")"
pass
