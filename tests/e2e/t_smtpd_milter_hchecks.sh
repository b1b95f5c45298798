#!/bin/sh
# t_smtpd_milter_hchecks.sh - milter_header_checks on the headers a milter
# adds (tests/e2e/milter_act), with a regexp: table: REJECT refuses the
# message at the end of data with the table's text and nothing is
# queued; DISCARD answers 250 and queues nothing; HOLD queues it into
# hold/; IGNORE queues it without that header; REPLACE queues the
# replacement; a header no rule matches is queued as the milter gave it.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/smtpd_lib.sh"
tern_instance
. "$(dirname "$0")/smtpd_milter_lib.sh"

table=$TERN_DIR/milter_header_checks
cat >"$table" <<'T'
/^X-Spam-Flag: YES/	REJECT spam detected
/^X-Drop: yes/		DISCARD dropped by the table
/^X-Hold: yes/		HOLD held by the table
/^X-Ignore:/		IGNORE
/^X-Old: (.*)/		REPLACE X-New: was $1
T
chmod 644 "$table"
for h in X-Spam-Flag:YES X-Drop:yes X-Hold:yes X-Ignore:me X-Old:value X-Fine:yes; do
	milter_launch "$(echo "$h" | tr -dc 'A-Za-z')" "addheader:$h"
done
for n in XSpamFlagYES XDropyes XHoldyes XIgnoreme XOldvalue XFineyes; do milter_ready $n; done
smtpd_start -o smtpd_milters=unix:$MD/r.sock -o "milter_header_checks=regexp:$table"

case_() {
	WHAT=$1
	queue_clear
	milter_link r "$2"
	send_one
	smtpd_alive "$WHAT"
}
data_reply() { sed -n '/^354 /{n;p}' "$OUT"; }

case_ REJECT XSpamFlagYES
[ "$(data_reply)" = "550 5.7.1 spam detected" ] || { cat "$OUT" >&2; fail "REJECT: $(data_reply)"; }
[ "$(incoming_count)" = 0 ] && [ "$(hold_count)" = 0 ] || fail "REJECT: something was queued"

case_ DISCARD XDropyes
[ "$(data_reply)" = "250 2.0.0 Ok" ] || { cat "$OUT" >&2; fail "DISCARD: $(data_reply)"; }
[ "$(incoming_count)" = 0 ] && [ "$(hold_count)" = 0 ] || fail "DISCARD: something was queued"

case_ HOLD XHoldyes
data_reply | grep -q '^250 2.0.0 Ok: queued as ID$' || fail "HOLD: $(data_reply)"
[ "$(incoming_count)" = 0 ] && [ "$(hold_count)" = 1 ] || fail "HOLD: not in hold/ alone"
grep -qx 'X-Hold: yes' "$TERN_DIR"/queue/hold/* || fail "HOLD: the header is missing"

case_ IGNORE XIgnoreme
data_reply | grep -q '^250 2.0.0 Ok: queued as ID$' || fail "IGNORE: $(data_reply)"
grep -q '^X-Ignore:' "$TERN_DIR/queue/incoming/$(last_qid)" && fail "IGNORE: the header was added"

case_ REPLACE XOldvalue
grep -qx 'X-New: was value' "$TERN_DIR/queue/incoming/$(last_qid)" || fail "REPLACE: no X-New: header"
grep -q '^X-Old:' "$TERN_DIR/queue/incoming/$(last_qid)" && fail "REPLACE: X-Old: was kept"

case_ "no match" XFineyes
grep -qx 'X-Fine: yes' "$TERN_DIR/queue/incoming/$(last_qid)" || fail "no match: the header is missing"
pass
