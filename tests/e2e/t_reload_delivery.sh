#!/bin/sh
# t_reload_delivery.sh - tern reload never breaks a delivery or a session
# (ternd(8), local(8)): while a burst of messages, over SMTP and through
# sendmail, is delivered into one system user's mbox under a dot-lock,
# ternd reloads again and again. Every message arrives exactly once
# (counted by a unique header), none is deferred for a lock, no lock is
# left behind, every SMTP client gets its 250, and a session open across
# a reload completes its message. Then a dot-lock left by a holder that
# is gone (a pid that no longer exists) does not hold up the mailbox for
# stale_lock_time, and local, stopped with SIGTERM in the middle of a
# delivery, leaves no lock behind.
here=$(dirname "$0")
[ -f "$here/lib.sh" ] || { echo "skip: tests/e2e/lib.sh is missing"; exit 77; }
. "$here/lib.sh"
need_root
for p in sendmail local qmgr pickup smtpd ternconf; do
	[ -x "$TERN_TOP/stage/$p" ] || skip "$p is not built"
done
need_cmd python3

u=ternrl1_$$
test_user_add $u
tern_instance
spool="$TERN_DIR/spool"
mkdir -p "$spool" && chmod 1777 "$spool"
ternconf -X local_maildir_base || fail "ternconf -X"
# A lock left behind would block for an hour: the test would see it.
ternconf -e "mail_spool_directory = $spool" "mailbox_delivery_lock = fcntl, dotlock" \
	"stale_lock_time = 3600s" || fail "ternconf -e"
tern_start
box="$spool/$u"

# One session opened before the reloads, finished after the first one.
python3 - "$TERN_PORT" "$u@localhost" "$TERN_DIR/held" > "$TERN_DIR/held.out" 2>&1 <<'PY' &
import os, smtplib, sys, time
port, rcpt, flag = int(sys.argv[1]), sys.argv[2], sys.argv[3]
s = smtplib.SMTP("127.0.0.1", port, timeout=60)
s.ehlo("held.example")
s.mail("sender@example.org")
s.rcpt(rcpt)
open(flag + ".ready", "w").close()
while not os.path.exists(flag + ".go"):
    time.sleep(0.05)
code, _ = s.data("From: sender@example.org\r\nX-Reload-Test: held\r\n\r\nacross a reload\r\n")
print("DATA", code)
s.quit()
PY
held=$!
wait_for "the held session" test -e "$TERN_DIR/held.ready"

# The burst: 40 SMTP sessions one after the other, 40 sendmail submissions.
n=40
python3 - "$TERN_PORT" "$u@localhost" "$n" > "$TERN_DIR/smtp.out" 2>&1 <<'PY' &
import smtplib, sys
port, rcpt, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
bad = 0
for i in range(n):
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=60) as s:
            code, _ = s.sendmail("sender@example.org", [rcpt],
                "From: sender@example.org\r\nX-Reload-Test: smtp-%d\r\n\r\nmessage %d\r\n" % (i, i)) or (250, b"")
    except Exception as e:
        print("message", i, "failed:", e)
        bad += 1
print("failed", bad)
PY
smtp=$!
(
	i=0
	while [ $i -lt $n ]; do
		printf 'From: sender@example.org\nX-Reload-Test: sendmail-%d\n\nmessage %d\n' $i $i |
			sendmail -f sender@example.org $u@localhost || echo "sendmail $i exited $?"
		i=$((i + 1))
	done
) > "$TERN_DIR/sendmail.out" 2>&1 &
sm=$!

reloads=0
while [ $reloads -lt 6 ]; do
	sleep 0.4
	tern_reload
	reloads=$((reloads + 1))
	[ $reloads = 1 ] && touch "$TERN_DIR/held.go"
done
wait $held; wait $smtp; wait $sm
grep -q "^DATA 250" "$TERN_DIR/held.out" || { cat "$TERN_DIR/held.out"; show_log; fail "the session open across a reload did not complete"; }
grep -q "^failed 0" "$TERN_DIR/smtp.out" || { cat "$TERN_DIR/smtp.out"; fail "SMTP submissions failed during reloads"; }
[ -s "$TERN_DIR/sendmail.out" ] && { cat "$TERN_DIR/sendmail.out"; fail "sendmail failed during reloads"; }

total=$((2 * n + 1))
got() { [ "$(grep -c '^X-Reload-Test: ' "$box" 2>/dev/null || echo 0)" -ge "$1" ]; }
wait_for "$total messages in the mbox" got $total
# A duplicate would come from a message still queued (delivered, not yet
# marked done): once the queue is empty, none can come any more.
wait_for "the queue to empty" tern_queue_empty
dups=$(grep '^X-Reload-Test: ' "$box" | sort | uniq -d)
[ -z "$dups" ] || fail "delivered twice: $dups"
[ "$(grep -c '^X-Reload-Test: ' "$box")" = $total ] || fail "$(grep -c '^X-Reload-Test: ' "$box") messages, not $total"
if grep -q "cannot lock" "$TERN_DIR/maillog"; then
	grep "cannot lock" "$TERN_DIR/maillog" >&2
	fail "a delivery was deferred for a lock"
fi
# The last message is in the mbox before its delivery ends: local removes
# the lock after the write and its fsync, which a busy disk can make slow.
wait_for "the mailbox's lock to be removed (left behind?): $box.lock" test ! -e "$box.lock"
grep -q "reload: no new sessions" "$TERN_DIR/maillog" || fail "smtpd did not drain on reload"

# A lock whose holder is gone: broken at once, not after stale_lock_time.
sh -c 'echo $$ > "$1"' sh "$box.lock"
printf 'From: sender@example.org\nX-Reload-Test: after-stale\n\nx\n' | sendmail -f sender@example.org $u@localhost
wait_for "delivery past a dead holder's lock" grep -q '^X-Reload-Test: after-stale' "$box"
wait_for_log "removing stale lock $box.lock"

# A lock whose holder lives: it waits (deferred once attempts run out).
ternconf -e "deliver_lock_attempts = 2" "deliver_lock_delay = 1s" || fail "ternconf -e"
tern_reload
sleep 1000 & holder=$!
at_cleanup "kill $holder 2>/dev/null"
echo $holder > "$box.lock"
printf 'From: sender@example.org\nX-Reload-Test: live-lock\n\nx\n' | sendmail -f sender@example.org $u@localhost
wait_for_log "cannot lock mailbox $box: $box.lock exists"
grep -q '^X-Reload-Test: live-lock' "$box" && fail "delivered past a live holder's lock"
kill $holder
rm -f "$box.lock"

# Stopped in the middle of an mbox delivery: no lock left. A mailbox_command
# would run without a lock; a FIFO as the mbox would be refused. Hold the
# delivery on the fcntl lock instead, taken here, and stop Tern meanwhile.
ternconf -e "deliver_lock_attempts = 30" || fail "ternconf -e"
tern_reload
python3 - "$box" "$TERN_DIR/fl" <<'PY' &
import fcntl, os, sys, time
f = open(sys.argv[1], "a")
fcntl.lockf(f, fcntl.LOCK_EX)
open(sys.argv[2] + ".ready", "w").close()
time.sleep(30)
PY
locker=$!
at_cleanup "kill $locker 2>/dev/null"
wait_for "the fcntl lock" test -e "$TERN_DIR/fl.ready"
printf 'From: sender@example.org\nX-Reload-Test: stopped\n\nx\n' | sendmail -f sender@example.org $u@localhost
wait_for "local holding the dot-lock" test -e "$box.lock"
tern_stop
kill $locker 2>/dev/null
[ ! -e "$box.lock" ] || fail "local stopped by tern stop left $box.lock"
pass
