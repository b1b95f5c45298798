#!/bin/sh
# t_smtpd_milter_garbage.sh - smtpd_milters against a milter that breaks
# the protocol (tests/e2e/milter_garbage.py, each of its modes): the
# default action (tempfail here) applies, the log says why and names the
# milter, smtpd closes the milter connection, stays up, and the next
# message goes through. smtpd runs by hand (unprivileged after start);
# tests/e2e/milter_act is the good milter.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/smtpd_lib.sh"
tern_instance
. "$(dirname "$0")/smtpd_milter_lib.sh"

# Every milter up front, each on its own socket (Python starts slowly on a
# loaded machine): one milter_garbage.py per mode and the good milter of
# next_ok; smtpd's f.sock is made a link to the case's socket.
modes="garbage oversized close hang short text"
for mode in $modes; do garbage_launch "g_$mode" "$mode"; done
milter_launch ok addheader:X-Checked:yes
for mode in $modes; do milter_ready "g_$mode"; done
milter_ready ok
# 3 s, not less: the good milter of next_ok answers under the same
# timeouts, on a loaded machine too.
smtpd_start -o milter_default_action=tempfail -o milter_connect_timeout=3s \
	-o milter_command_timeout=3s -o "smtpd_milters=unix:$MD/f.sock"
for mode in garbage:"unknown milter reply" oversized:"milter packet larger than the negotiated data size" \
	close:"connection closed by the milter" hang:timeout short:timeout \
	text:"milter packet larger than the negotiated data size"; do
	why=${mode#*:}
	mode=${mode%%:*}
	WHAT="milter_garbage.py $mode"
	milter_link f "g_$mode"
	logged=$(wc -l <"$TERN_DIR/smtpd.out")
	send_one
	greeting_refused "$TMP"
	[ "$(incoming_count)" = 0 ] || fail "$WHAT: a message was queued"
	# (this case's lines only: an earlier case may have logged the same reason)
	tail -n +$((logged + 1)) "$TERN_DIR/smtpd.out" |
		grep -q "warning: localhost \[127.0.0.1\]: milter unix:$MD/f.sock: negotiation: $why; default_action = tempfail" ||
		{ tail -n 5 "$TERN_DIR/smtpd.out" >&2; fail "$WHAT: no log line \"$why\""; }
	smtpd_alive "$WHAT"
	# smtpd let go of the milter's connection.
	[ "$mode" = close ] || wait_for "$WHAT: smtpd closes the milter connection" grep -q "conn 1 peer closed" "$MD/g_$mode.log"
	next_ok
done
pass
