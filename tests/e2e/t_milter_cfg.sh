#!/bin/sh
# t_milter_cfg.sh - tern check and tern start refuse a smtpd_milters or
# non_smtpd_milters that does not parse (and a bad milter macro list),
# naming the main.cf line, or the master.cf line of a service's -o, the
# parameter and the word at fault; a good list, { } groups included,
# passes (with only the warning that milters are not applied yet).
. "$(dirname "$0")/lib.sh"

tern_instance
cf="$TERN_DIR/main.cf"
mcf="$TERN_DIR/master.cf"
out="$TERN_DIR/check.out"
cp "$cf" "$cf.orig"

line_of() { grep -n "$1" "$2" | head -1 | cut -d: -f1; }
# bad_main SETTING MESSAGE: with SETTING appended to main.cf, tern check
# exits 78 and says "error: main.cf, line N: MESSAGE"; tern start refuses.
bad_main() {
	cp "$cf.orig" "$cf"
	printf '%s\n' "$1" >> "$cf"
	n=$(line_of "^${1%% *}" "$cf")
	tern check >"$out" 2>&1
	rc=$?
	[ $rc = 78 ] || { cat "$out" >&2; fail "tern check exits $rc, not 78, for: $1"; }
	grep -qF "error: $cf, line $n: $2" "$out" || { cat "$out" >&2; fail "tern check does not say: $cf, line $n: $2"; }
	tern start >/dev/null 2>"$out" && { tern stop >/dev/null; fail "tern start accepts: $1"; }
	grep -qF "$2" "$out" || { cat "$out" >&2; fail "tern start does not say: $2"; }
}

# Good lists: no error, no warning.
cat >> "$cf" <<'CF'
smtpd_milters = unix:/run/opendkim/sock, inet:127.0.0.1:8891
    { inet6:[::1]:8892, default_action = accept, command_timeout = 5s, protocol = 4 }
non_smtpd_milters = { local:/run/m, content_timeout=1m }
milter_macro_defaults = auth_type=none, { {client_name} = unknown client }
CF
tern check >"$out" 2>&1
rc=$?
[ $rc = 0 ] || { cat "$out" >&2; fail "tern check exits $rc on good milter lists"; }
grep -q "error" "$out" && { cat "$out" >&2; fail "tern check finds an error in good milter lists"; }

bad_main 'smtpd_milters = inet:127.0.0.1:0' 'smtpd_milters: bad port "0" in "inet:127.0.0.1:0"'
bad_main 'smtpd_milters = { inet:127.0.0.1:8891, default_action = bounce }' 'smtpd_milters: bad default_action "bounce"'
bad_main 'smtpd_milters = { inet:127.0.0.1:8891, timeout = 5s }' 'smtpd_milters: unknown setting "timeout"'
bad_main 'smtpd_milters = { inet:127.0.0.1:8891, protocol = 4' 'smtpd_milters: unbalanced { in'
bad_main 'non_smtpd_milters = unix:milter.sock' 'non_smtpd_milters: socket path "milter.sock" is relative in "unix:milter.sock"'
bad_main 'non_smtpd_milters = inet:milter host:25' 'non_smtpd_milters: missing :port in "inet:milter"'
bad_main 'milter_connect_macros = j {}' 'milter_connect_macros: bad macro name "{}"'
bad_main 'milter_macro_defaults = auth_type' 'milter_macro_defaults: "auth_type" is not name=value'

# A service's -o: its master.cf line.
cp "$cf.orig" "$cf"
cp "$mcf" "$mcf.orig"
sed -i 's|^\(smtp .*smtpd\)$|\1 -o smtpd_milters=inet:127.0.0.1:99999|' "$mcf"
n=$(line_of '^smtp ' "$mcf")
grep -q 'smtpd_milters=inet' "$mcf" || fail "could not add -o to master.cf: $(cat "$mcf")"
tern check >"$out" 2>&1
rc=$?
[ $rc = 78 ] || { cat "$out" >&2; fail "tern check exits $rc, not 78, for a bad -o smtpd_milters"; }
grep -qF "error: $mcf, line $n: service smtp: -o: smtpd_milters: bad port \"99999\"" "$out" ||
	{ cat "$out" >&2; fail "bad -o smtpd_milters: no master.cf line"; }
tern start >/dev/null 2>&1 && { tern stop >/dev/null; fail "tern start accepts a bad -o smtpd_milters"; }
# An -o of a milter_* setting checks the main.cf list with it.
cp "$mcf.orig" "$mcf"
sed -i 's|^\(smtp .*smtpd\)$|\1 -o milter_rcpt_macros={a|' "$mcf"
tern check >"$out" 2>&1
[ $? = 78 ] || { cat "$out" >&2; fail "tern check accepts a bad -o milter_rcpt_macros"; }
grep -qF "error: $mcf, line $n: service smtp: -o: milter_rcpt_macros: bad macro name \"{a\"" "$out" ||
	{ cat "$out" >&2; fail "bad -o milter_rcpt_macros: no master.cf line"; }
cp "$mcf.orig" "$mcf"
tern check >"$out" 2>&1 || { cat "$out" >&2; fail "tern check fails once all is put back"; }
pass
