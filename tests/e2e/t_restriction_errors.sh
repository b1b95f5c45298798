#!/bin/sh
# t_restriction_errors.sh - a mistake in an SMTP restriction list is an
# error with the file and line wherever Tern reads the list: tern check
# (main.cf and master.cf -o overrides, also a table that does not open),
# tern start (refuses to start), ternconf -e (refuses to write), and
# smtpd itself (logs it and answers RCPT with 451 4.3.5, never a relay).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/smtpd_lib.sh"

tern_instance
cp "$TERN_DIR/main.cf" "$TERN_DIR/main.cf.good"
n=$(($(wc -l < "$TERN_DIR/main.cf") + 1))
echo "smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destinaton" >> "$TERN_DIR/main.cf"
echo "smtpd_sender_restrictions = check_sender_access hashh:$TERN_DIR/senders" >> "$TERN_DIR/main.cf"

tern check >"$TERN_DIR/out" 2>&1; rc=$?
[ $rc = 78 ] || { cat "$TERN_DIR/out" >&2; fail "tern check: exit $rc, want 78"; }
grep -qF "$TERN_DIR/main.cf:$n: smtpd_recipient_restrictions: unknown restriction \"reject_unauth_destinaton\"" "$TERN_DIR/out" \
	|| { cat "$TERN_DIR/out" >&2; fail "tern check: no file:line for the unknown restriction"; }
grep -qF "$TERN_DIR/main.cf:$((n + 1)): smtpd_sender_restrictions: check_sender_access \"hashh:$TERN_DIR/senders\": unknown table type \"hashh\"" "$TERN_DIR/out" \
	|| { cat "$TERN_DIR/out" >&2; fail "tern check: no file:line for the unknown table type"; }

tern start >"$TERN_DIR/out" 2>&1; rc=$?
[ $rc = 78 ] || { tern stop >/dev/null 2>&1; cat "$TERN_DIR/out" >&2; fail "tern start: exit $rc, want 78"; }
grep -qF "main.cf:$n: smtpd_recipient_restrictions" "$TERN_DIR/out" || fail "tern start: $(cat "$TERN_DIR/out")"

# smtpd started anyway (by hand) refuses mail and says why, with the line.
smtpd_start
dialog broken_restriction.dlg
grep -qF "main.cf:$((n + 1)): smtpd_sender_restrictions" "$TERN_DIR/smtpd.out" "$TERN_DIR/maillog" 2>/dev/null \
	|| { show_log; cat "$TERN_DIR/smtpd.out" >&2; fail "smtpd: no file:line in its error"; }
smtpd_stop

# ternconf -e refuses to write a broken list, and writes a good one.
cp "$TERN_DIR/main.cf.good" "$TERN_DIR/main.cf"
ternconf -e "smtpd_helo_restrictions = permit_mynetwork, reject_non_fqdn_helo_hostname" >"$TERN_DIR/out" 2>&1; rc=$?
[ $rc = 78 ] || fail "ternconf -e: exit $rc, want 78"
grep -qF 'smtpd_helo_restrictions: unknown restriction "permit_mynetwork"' "$TERN_DIR/out" || fail "ternconf -e: $(cat "$TERN_DIR/out")"
cmp -s "$TERN_DIR/main.cf" "$TERN_DIR/main.cf.good" || fail "ternconf -e wrote a broken list"
ternconf -e "smtpd_recipient_restrictions = check_policy_service 127.0.0.1:10023" >"$TERN_DIR/out" 2>&1 \
	&& fail "ternconf -e accepted a policy server without inet:"
grep -qF 'check_policy_service "127.0.0.1:10023": expected inet:host:port or unix:pathname' "$TERN_DIR/out" \
	|| fail "ternconf -e: $(cat "$TERN_DIR/out")"
ternconf -e "smtpd_recipient_restrictions = permit_mynetworks, check_policy_service { inet:127.0.0.1:10023, timeout=5s }, reject_unauth_destination" \
	|| fail "ternconf -e refused a good list"
tern check >"$TERN_DIR/out" 2>&1 || { cat "$TERN_DIR/out" >&2; fail "tern check: a good list refused"; }

# master.cf -o overrides are checked too, with master.cf's line.
cp "$TERN_DIR/master.cf" "$TERN_DIR/master.cf.good"
printf '%s\n' "$(grep -m1 '^smtp ' "$TERN_DIR/master.cf") -o smtpd_client_restrictions=permit_mynetworks,rejekt" > "$TERN_DIR/master.cf.new"
grep -v '^smtp ' "$TERN_DIR/master.cf" >> "$TERN_DIR/master.cf.new"
mv "$TERN_DIR/master.cf.new" "$TERN_DIR/master.cf"
tern check >"$TERN_DIR/out" 2>&1; rc=$?
[ $rc = 78 ] || { cat "$TERN_DIR/out" >&2; fail "tern check with a bad -o: exit $rc"; }
grep -qE "master.cf:[0-9]+: service smtp: smtpd_client_restrictions: unknown restriction \"rejekt\"" "$TERN_DIR/out" \
	|| { cat "$TERN_DIR/out" >&2; fail "tern check: no master.cf line for the -o override"; }
cp "$TERN_DIR/master.cf.good" "$TERN_DIR/master.cf"
pass
