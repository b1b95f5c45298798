#!/bin/sh
# t_smtpd_milter_garbage.sh - smtpd_milters against a milter that breaks
# the protocol (tests/e2e/milter_garbage.py, each of its modes): the
# default action (tempfail here) applies, the log says why and names the
# milter, smtpd closes the milter connection, stays up, and the next
# message goes through. Then a slow milter holds only its own session:
# while one session waits 6 s for a milter's answer to RCPT, another
# session to the same smtpd, whose recipient the milter answers at once,
# is done (in under 4 s) before the first one ends. smtpd runs by hand (unprivileged after
# start); tests/e2e/milter_act is the good milter.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/smtpd_lib.sh"
tern_instance
. "$(dirname "$0")/smtpd_milter_lib.sh"

smtpd_start -o milter_default_action=tempfail -o milter_connect_timeout=1s \
	-o milter_command_timeout=1s -o "smtpd_milters=unix:$MD/f.sock"
for mode in garbage:"unknown milter reply" oversized:"milter packet larger than the negotiated data size" \
	close:"connection closed by the milter" hang:timeout short:timeout \
	text:"milter packet larger than the negotiated data size"; do
	why=${mode#*:}
	mode=${mode%%:*}
	WHAT="milter_garbage.py $mode"
	milter_stop f
	garbage_start f "$mode"
	send_one
	greeting_refused "$TMP"
	[ "$(incoming_count)" = 0 ] || fail "$WHAT: a message was queued"
	grep -q "warning: localhost \[127.0.0.1\]: milter unix:$MD/f.sock: negotiation: $why; default_action = tempfail" \
		"$TERN_DIR/smtpd.out" || { tail -n 5 "$TERN_DIR/smtpd.out" >&2; fail "$WHAT: no log line \"$why\""; }
	smtpd_alive "$WHAT"
	# smtpd let go of the milter's connection.
	[ "$mode" = close ] || wait_for "$WHAT: smtpd closes the milter connection" grep -q "conn 1 peer closed" "$MD/f.log"
	next_ok
done
smtpd_stop
milter_stop f

# ---- a slow milter holds only its own session ----
milter_start s stall@rcpt=slow@localhost:6 addheader:X-Seen:yes
smtpd_start -o milter_command_timeout=30s -o "smtpd_milters=unix:$MD/s.sock"
python3 "$TERN_TOP/tests/e2e/milter_smtp.py" "$SMTPD_PORT" "$EHLO" "MAIL FROM:<a@localhost>" \
	"RCPT TO:<slow@localhost>" DATA "$MSG" QUIT >"$TERN_DIR/a.out" 2>&1 &
apid=$!
at_cleanup "kill $apid"
wait_for "session A's RCPT at the milter" grep -q '^rcpt conn=[0-9]* arg="<slow@localhost>"' "$MD/s.log"
t0=$(date +%s.%N)
send_one
t1=$(date +%s.%N)
kill -0 $apid 2>/dev/null || fail "session A was over before session B ended: $(cat "$TERN_DIR/a.out")"
took=$(python3 -c "print(int(($t1 - $t0) * 1000))")
[ "$took" -lt 4000 ] || fail "session B took $took ms while A waited for the milter"
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
