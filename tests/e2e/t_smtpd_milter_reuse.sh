#!/bin/sh
# t_smtpd_milter_reuse.sh - smtpd keeps a milter connection for the next
# session once a session ended after a whole message (QUIT_NC, protocol
# 6): three sessions of one message each are one connection and one
# negotiation at the milter, each a session of its own there (CONNECT
# each time). A session that ended before a message (EHLO then QUIT) is
# not reused: libmilter answers no CONNECT after QUIT_NC there, so the
# next session connects anew. A milter restarted while its connection
# waited idle is noticed and connected again, with
# milter_default_action = reject so that any failure would show.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/smtpd_lib.sh"
tern_instance
. "$(dirname "$0")/smtpd_milter_lib.sh"

milter_start r addheader:X-Seen:yes
smtpd_start -o "smtpd_milters=unix:$MD/r.sock" -o milter_default_action=reject
negotiations() { grep -c '^negotiate ' "$MD/r.log"; }
connects() { grep -c '^connect ' "$MD/r.log"; }

# smtpd_start's port probe may have made a session of its own: count from here.
n0=$(negotiations)
c0=$(connects)
for i in 1 2 3; do
	send_one
	grep -q "^250 2.0.0 Ok: queued as ID$" "$OUT" || { cat "$OUT" >&2; fail "message $i not queued"; }
done
[ "$(negotiations)" = $((n0 + 1)) ] || { cat "$MD/r.log" >&2; fail "not one negotiation for three sessions"; }
[ "$(connects)" = $((c0 + 3)) ] || fail "not three CONNECTs"
[ "$(queued_count 'X-Seen: yes')" = 3 ] || fail "not all three filtered"

# A session without a message: the next one negotiates anew, and works.
smtp "$EHLO" QUIT
send_one
grep -q "^250 2.0.0 Ok: queued as ID$" "$OUT" || { cat "$OUT" >&2; fail "message after an empty session"; }
[ "$(negotiations)" = $((n0 + 2)) ] || { cat "$MD/r.log" >&2; fail "an empty session's connection was reused"; }

# The milter restarts while its connection is idle: the next session still passes.
milter_stop r
milter_start r addheader:X-Seen:again
send_one
grep -q "^250 2.0.0 Ok: queued as ID$" "$OUT" || { cat "$OUT" >&2; tail "$TERN_DIR/smtpd.out" >&2; fail "message after a milter restart"; }
grep -qx 'X-Seen: again' "$TERN_DIR/queue/incoming/$(last_qid)" || fail "not filtered after the restart"
smtpd_alive reuse
pass
