#!/bin/sh
# t_unimplemented.sh - a parameter Tern accepts but does not implement is
# never silent: ternconf -e and -n warn on standard error (stdout stays a
# valid main.cf), tern check names file and line and exits 1, ternd logs
# a warning at start and at every reload, for main.cf and for master.cf
# -o overrides. An
# unknown name warns too, unless a $reference uses it.
# (tests/unit/test_params walks every flagged row of the table.)
. "$(dirname "$0")/lib.sh"
need_root
tern_instance
W=$(mktemp -d /tmp/t_unimpl.XXXXXX)
at_cleanup "rm -rf $W"

# A clean instance: tern check is quiet and succeeds.
tern -c "$TERN_DIR" check >"$W/out" 2>&1 || { cat "$W/out"; fail "tern check on a fresh instance"; }
grep -q "not implement" "$W/out" && fail "fresh instance: $(cat "$W/out")"

ternconf -e 'proxy_interfaces = 192.0.2.1' 2>"$W/err" || fail "ternconf -e"
grep -q "proxy_interfaces is set, but Tern does not implement it: only the addresses in inet_interfaces count" "$W/err" \
	|| fail "ternconf -e did not warn: $(cat "$W/err")"
line=$(grep -n '^proxy_interfaces' "$TERN_DIR/main.cf" | cut -d: -f1)

ternconf -n >"$W/out" 2>"$W/err" || fail "ternconf -n"
grep -q '^proxy_interfaces = 192.0.2.1$' "$W/out" || fail "ternconf -n output: $(cat "$W/out")"
grep -q "not implement" "$W/out" && fail "ternconf -n put a warning on stdout"
grep -q "main.cf, line $line: proxy_interfaces is set, but Tern does not implement it: only the addresses in inet_interfaces count" "$W/err" \
	|| fail "ternconf -n warning: $(cat "$W/err")"

# An unknown name warns; a name only used as \$name does not.
cat >>"$TERN_DIR/main.cf" <<'CF'
smtpd_miltres = inet:127.0.0.1:8891
my_banner_text = hello
smtpd_banner = $myhostname ESMTP $my_banner_text
CF
uline=$(grep -n '^smtpd_miltres' "$TERN_DIR/main.cf" | cut -d: -f1)

tern -c "$TERN_DIR" check >"$W/out" 2>&1; rc=$?
[ $rc -eq 1 ] || fail "tern check exit $rc: $(cat "$W/out")"
grep -q "main.cf, line $line: proxy_interfaces is set, but Tern does not implement it: only the addresses in inet_interfaces count" "$W/out" \
	|| fail "tern check: $(cat "$W/out")"
grep -q "main.cf, line $uline: unknown parameter: smtpd_miltres" "$W/out" || fail "tern check, unknown name: $(cat "$W/out")"
grep -q "my_banner_text" "$W/out" && fail "a name used as \$my_banner_text drew a warning: $(cat "$W/out")"

# ternd: at start, and again at a reload.
tern_start
wait_for_log "main.cf, line $line: proxy_interfaces is set, but Tern does not implement it: only the addresses in inet_interfaces count"
n1=$(grep -c "proxy_interfaces is set, but Tern does not implement it" "$TERN_DIR/maillog")
# master.cf: a service's -o override.
sed -i 's/^\(smtp[[:space:]]\+inet.*\)$/\1\n  -o daemon_timeout=100s/' "$TERN_DIR/master.cf"
grep -q 'daemon_timeout' "$TERN_DIR/master.cf" || fail "could not add -o to master.cf: $(cat "$TERN_DIR/master.cf")"
tern_reload
n2=$(grep -c "proxy_interfaces is set, but Tern does not implement it" "$TERN_DIR/maillog")
[ "$n2" -gt "$n1" ] || { show_log; fail "no warning at reload ($n1 then $n2)"; }
grep -q "master.cf, line [0-9]*: service smtp sets daemon_timeout, but Tern does not implement it: only the timeouts of each step apply" "$TERN_DIR/maillog" \
	|| { show_log; fail "no warning for the master.cf override"; }
tern -c "$TERN_DIR" check >"$W/out" 2>&1
grep -q "service smtp sets daemon_timeout" "$W/out" || fail "tern check, master.cf: $(cat "$W/out")"

# Removed again: silence.
ternconf -X proxy_interfaces smtpd_miltres 2>/dev/null
sed -i '/daemon_timeout/d' "$TERN_DIR/master.cf"
tern -c "$TERN_DIR" check >"$W/out" 2>&1 || fail "tern check after removal: $(cat "$W/out")"
pass
