#!/bin/sh
# t_smtpd_milter_watch.sh - smtpd keeps a milter's socket in its epoll set
# between the milter's events; what that must survive:
#   - a milter that sends a packet nobody asked for right after its
#     CONNECT answer, and one that closes its connection there (EOF while
#     smtpd expects nothing): smtpd must not spin on the readable socket
#     while the session is idle (its CPU time over the idle stretch stays
#     near zero: a level-triggered event handled by doing nothing would
#     use a CPU), and the next event finds the fault (default_action
#     accept: the message goes through without the milter);
#   - a chain whose first milter fails while smtpd watches its socket,
#     so that the second milter's socket gets the same descriptor number:
#     smtpd must watch the new socket (a registration it believed it still
#     had would lose every reply: the session would hang).
# smtpd runs by hand (unprivileged after start).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/smtpd_lib.sh"
tern_instance
. "$(dirname "$0")/smtpd_milter_lib.sh"

garbage_launch g_unasked unasked
garbage_launch g_idleclose idleclose
garbage_launch g_close close
milter_launch ok1 addheader:X-Checked:yes
milter_launch ok2 addheader:X-Checked:yes
for n in g_unasked g_idleclose g_close ok1 ok2; do milter_ready $n; done
smtpd_start -o milter_default_action=accept -o milter_command_timeout=5s \
	-o "smtpd_milters=unix:$MD/f.sock, unix:$MD/g.sock"

# CPU ticks (user + system, all threads) smtpd has used so far.
ticks() { awk '{ print $14 + $15 }' "/proc/$SMTPD_PID/stat"; }

# The faulty milter last: its socket is the one watched after CONNECT.
milter_link f ok1
for mode in unasked idleclose; do
	WHAT="milter_garbage.py $mode"
	milter_link g "g_$mode"
	queue_clear
	: >"$MD/g_$mode.log"
	# The session idles after the greeting while the milter's bytes or EOF wait.
	python3 "$TERN_TOP/tests/e2e/milter_smtp.py" "$SMTPD_PORT" SLEEP:4 "$EHLO" \
		"MAIL FROM:<a@localhost>" "RCPT TO:<postmaster@localhost>" DATA "$MSG" QUIT \
		>"$OUT.raw" 2>&1 &
	client=$!
	wait_for "$WHAT: the milter's unasked bytes or EOF" grep -q "sent $mode" "$MD/g_$mode.log"
	t0=$(ticks)
	sleep 2
	t1=$(ticks)
	wait $client || { cat "$OUT.raw" >&2; fail "$WHAT: smtp client failed"; }
	# A spinning loop takes 100 ticks a second of a free CPU; an idle one none.
	[ $((t1 - t0)) -lt 25 ] || fail "$WHAT: smtpd used $((t1 - t0)) CPU ticks while the session idled"
	sed -e 's/queued as [0-9A-F]*/queued as ID/' "$OUT.raw" >"$OUT"
	grep -q "^250 2.0.0 Ok: queued as ID$" "$OUT" || { cat "$OUT" >&2; fail "$WHAT: message not queued"; }
	grep -qx 'X-Checked: yes' "$TERN_DIR/queue/incoming/$(last_qid)" ||
		fail "$WHAT: the first milter did not see the message"
	smtpd_alive "$WHAT"
done
grep -q "milter unix:$MD/g.sock: helo: unknown milter reply; default_action = accept" "$SMTPD_OUT" ||
	{ tail -n 20 "$SMTPD_OUT" >&2; fail "the unasked packet was not noticed at HELO"; }
grep -Eq "milter unix:$MD/g.sock: helo: (Broken pipe|connection closed by the milter); default_action = accept" "$SMTPD_OUT" ||
	fail "the closed milter was not noticed at HELO"

# The first milter closes during negotiation: its descriptor number is free
# for the second milter's socket, which must still be watched.
WHAT="first milter closed, second on the same descriptor"
milter_link f g_close
milter_link g ok2
for i in 1 2 3; do
	queue_clear
	send_one
	replies_are "$WHAT" <<X
$ONE_OK
250 2.0.0 Ok: queued as ID
221 2.0.0 Bye
X
	grep -qx 'X-Checked: yes' "$TERN_DIR/queue/incoming/$(last_qid)" ||
		fail "$WHAT: the second milter did not see the message"
done
grep -q "milter unix:$MD/f.sock: negotiation: connection closed by the milter; default_action = accept" \
	"$SMTPD_OUT" || fail "$WHAT: no log line"
smtpd_alive "$WHAT"
pass
