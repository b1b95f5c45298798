#!/bin/sh
# t_smtpd_milter_slow.sh - smtpd_milters: a slow milter holds only its own
# session. While session A waits 10 s for the milter's answer to RCPT
# (tests/e2e/milter_act stalls for that recipient only; the command
# timeout is long), session B to the same smtpd, whose recipient the
# milter answers at once, is done before A ends; then A
# completes too. smtpd runs by hand (unprivileged after start).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/smtpd_lib.sh"
tern_instance
. "$(dirname "$0")/smtpd_milter_lib.sh"

milter_start s stall@rcpt=slow@localhost:10 addheader:X-Seen:yes
smtpd_start -o milter_command_timeout=30s -o "smtpd_milters=unix:$MD/s.sock"
python3 "$TERN_TOP/tests/e2e/milter_smtp.py" "$SMTPD_PORT" "$EHLO" "MAIL FROM:<a@localhost>" \
	"RCPT TO:<slow@localhost>" DATA "$MSG" QUIT >"$TERN_DIR/a.out" 2>&1 &
apid=$!
at_cleanup "kill $apid"
wait_for "session A's RCPT at the milter" grep -q '^rcpt conn=[0-9]* arg="<slow@localhost>"' "$MD/s.log"
# B must be over while A still waits: no wall-clock bound, which a loaded
# machine would break, only the order of the two.
send_one
kill -0 $apid 2>/dev/null || fail "session A was over before session B ended: $(cat "$TERN_DIR/a.out")"
replies_are "session B" <<X
$ONE_OK
250 2.0.0 Ok: queued as ID
221 2.0.0 Bye
X
wait $apid || fail "session A's client failed: $(cat "$TERN_DIR/a.out")"
sed -e 's/queued as [0-9A-F]*/queued as ID/' "$TERN_DIR/a.out" >"$OUT"
replies_are "session A" <<X
$ONE_OK
250 2.0.0 Ok: queued as ID
221 2.0.0 Bye
X
[ "$(queued_count 'X-Seen: yes')" = 2 ] || fail "not both messages queued filtered"
smtpd_alive slow
pass
