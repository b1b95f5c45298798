#!/bin/sh
# t_smtpd_milter_fail.sh - smtpd_milters when a milter fails: nothing
# listening on its socket under each milter_default_action (accept: the
# mail is queued unfiltered; reject: 5xx; tempfail: 4xx; quarantine:
# queued into queue/hold), the per-milter default_action overriding the
# global one, a milter stalling past milter_command_timeout at RCPT and
# past milter_content_timeout at end of message (the default action
# applies, the log names the milter), a milter that exits mid-message.
# smtpd stays up throughout and the next message goes through. smtpd
# runs by hand (unprivileged after start); tests/e2e/milter_act is the
# milter.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/smtpd_lib.sh"
tern_instance
. "$(dirname "$0")/smtpd_milter_lib.sh"

dead=$MD/nobody.sock
# Every smtpd and every milter up front, started at once: smtpd and
# Python start slowly on a loaded machine. The milters of the f.sock
# cases each have a socket of their own, f.sock is linked to the case's.
smtpd_ports 6
smtpd_launch acc_dead -o milter_default_action=accept -o "smtpd_milters=unix:$dead"
smtpd_launch acc_f -o milter_default_action=accept -o "smtpd_milters=unix:$MD/f.sock"
smtpd_launch rej_dead -o milter_default_action=reject -o "smtpd_milters=unix:$dead"
smtpd_launch over -o milter_default_action=reject -o "smtpd_milters={ unix:$dead, default_action = accept }"
smtpd_launch quar -o milter_default_action=quarantine -o "smtpd_milters=unix:$dead"
# Its timeouts are short of the stalls (10 s), not as short as can be: the
# good milter of next_ok answers under them too, on a loaded machine.
smtpd_launch tmp_f -o milter_default_action=tempfail -o milter_command_timeout=3s \
	-o milter_content_timeout=4s -o "smtpd_milters=unix:$MD/f.sock"
smtpd_ready acc_dead acc_f rej_dead over quar tmp_f
milter_launch exit_eoh exit@eoh addheader:X-Never:1
milter_launch stall_rcpt stall@rcpt=slow@localhost:10
milter_launch stall_eom stall@eom:10
milter_launch exit_data exit@data
milter_launch ok addheader:X-Checked:yes
for n in exit_eoh stall_rcpt stall_eom exit_data ok; do milter_ready $n; done
queued() { [ "$(incoming_count)" = "$1" ] || fail "$WHAT: $(incoming_count) messages in incoming/, not $1"; }
held() { [ "$(hold_count)" = "$1" ] || fail "$WHAT: $(hold_count) messages in hold/, not $1"; }
# ---- nothing listening, each milter_default_action ----
WHAT="nothing listening, accept"
smtpd_use acc_dead
send_one
replies_are "$WHAT" <<X
$ONE_OK
250 2.0.0 Ok: queued as ID
221 2.0.0 Bye
X
queued 1
grep -q "warning: localhost \[127.0.0.1\]: milter unix:$dead: connect: .*; default_action = accept" "$SMTPD_OUT" ||
	fail "$WHAT: no log line naming the milter"
queue_clear
# A milter that exits in the middle of the message (after the headers), accept:
WHAT="milter exits at eoh, accept"
smtpd_use acc_f
milter_link f exit_eoh
send_one
replies_are "$WHAT" <<X
$ONE_OK
250 2.0.0 Ok: queued as ID
221 2.0.0 Bye
X
queued 1
grep -q '^X-Never' "$TERN_DIR"/queue/incoming/* && fail "$WHAT: an edit of the dead milter was applied"
grep -q "milter unix:$MD/f.sock: .*connection closed by the milter; default_action = accept" "$SMTPD_OUT" ||
	fail "$WHAT: no log line naming the milter"
next_ok

WHAT="nothing listening, reject"
smtpd_use rej_dead
send_one
greeting_refused "550 5.5.0 Service unavailable"
queued 0
# The per-milter setting wins over milter_default_action.
WHAT="nothing listening, { default_action = accept } over reject"
smtpd_use over
send_one
replies_are "$WHAT" <<X
$ONE_OK
250 2.0.0 Ok: queued as ID
221 2.0.0 Bye
X
queued 1
queue_clear

WHAT="nothing listening, quarantine"
smtpd_use quar
send_one
replies_are "$WHAT" <<X
$ONE_OK
250 2.0.0 Ok: queued as ID
221 2.0.0 Bye
X
queued 0
held 1
[ -f "$TERN_DIR/queue/hold/$(last_qid)" ] || fail "$WHAT: not held under its queue id"
queue_clear

# ---- tempfail: nothing listening, stalls, exit ----
smtpd_use tmp_f
WHAT="nothing listening, tempfail"
rm -f "$MD/f.sock"
send_one
greeting_refused "$TMP"
queued 0
smtpd_alive "$WHAT"

# The milter goes on after its 10 s stall: the 4xx reply (not a 250) is the
# timeout's. No wall-clock bound: a loaded machine (tests running side by
# side) can take longer than the timeout just to start the client.
WHAT="stall at rcpt past milter_command_timeout=3s"
milter_link f stall_rcpt
smtp "$EHLO" "MAIL FROM:<a@localhost>" "RCPT TO:<slow@localhost>" QUIT
replies_are "$WHAT" <<X
$GREET
$EHLO_R
250 2.1.0 Ok
$TMP
221 2.0.0 Bye
X
grep -q "warning: localhost \[127.0.0.1\]: milter unix:$MD/f.sock: rcpt: timeout; default_action = tempfail" \
	"$SMTPD_OUT" || fail "$WHAT: no log line naming the milter"
next_ok

WHAT="stall at eom past milter_content_timeout=4s"
milter_link f stall_eom
send_one
replies_are "$WHAT" <<X
$ONE_OK
$TMP
221 2.0.0 Bye
X
queued 0
grep -q "warning: localhost \[127.0.0.1\]: milter unix:$MD/f.sock: eom: timeout; default_action = tempfail" \
	"$SMTPD_OUT" || fail "$WHAT: no log line naming the milter"
next_ok

WHAT="milter exits at data, tempfail"
milter_link f exit_data
send_one
replies_are "$WHAT" <<X
$GREET
$EHLO_R
250 2.1.0 Ok
250 2.1.5 Ok
$TMP
(no message sent)
221 2.0.0 Bye
X
queued 0
grep -q "milter unix:$MD/f.sock: data: connection closed by the milter; default_action = tempfail" "$SMTPD_OUT" ||
	fail "$WHAT: no log line naming the milter"
next_ok
pass
