#!/bin/sh
# t_ternconf.sh - ternconf's command line, side by side with Postfix's
# postconf where Postfix is installed: printing modes, -e/-X/-# edits
# byte for byte as postconf makes them (the seed's
# `postconf -e 'home_mailbox= Mail/'`), $name expansion, defaults equal
# to postconf -d except Tern's deliberate ones, exit 78 with one line on
# a bad value, -c and TERN_CONFIG_DIR, and the generated parameter page.
#
# Needs only the build tree's tools/ternconf and a mktemp directory (no
# instance, no daemon), so it keeps its own small helpers instead of
# tests/e2e/lib.sh.
set -u

top=${TERN_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
tc="$top/tools/ternconf"
[ -x "$tc" ] || { echo "ternconf is not built ($tc)"; exit 77; }

work=$(mktemp -d /tmp/t_ternconf.XXXXXX)
trap 'rm -rf "$work"' EXIT INT TERM
fail() { echo "FAIL: $*" >&2; exit 1; }
have_postconf=no
command -v postconf >/dev/null 2>&1 && have_postconf=yes

T="$work/tern"
P="$work/postfix"
mkdir -p "$T" "$P"
unset TERN_CONFIG_DIR

# 1. A missing main.cf is a configuration error (78); -d needs none.
"$tc" -c "$T" >/dev/null 2>"$work/err"; rc=$?
[ $rc -eq 78 ] || fail "missing main.cf: exit $rc"
grep -q "main.cf" "$work/err" || fail "missing main.cf: $(cat "$work/err")"
"$tc" -c "$T" -d myorigin >"$work/out" || fail "-d without main.cf"
[ "$(cat "$work/out")" = 'myorigin = $myhostname' ] || fail "-d myorigin: $(cat "$work/out")"

# 2. Edits, compared with postconf on the same file.
cat >"$work/main.cf.orig" <<'EOF'
# Tern test configuration: comments and order must survive.
myhostname = mx.example.org

# where mail goes
home_mailbox = old
    continued here
# between
mydestination = $myhostname, localhost
relayhost=[relay.example.org]   
#relayhost = commented.example.org
smtpd_banner = $myhostname ESMTP
EOF
edit_both() {
	cp "$work/main.cf.orig" "$T/main.cf"
	"$tc" -c "$T" "$@" || fail "ternconf $*: exit $?"
	if [ $have_postconf = yes ]; then
		cp "$work/main.cf.orig" "$P/main.cf"
		: >"$P/master.cf"
		postconf -c "$P" "$@" 2>/dev/null || fail "postconf $* failed"
		cmp -s "$T/main.cf" "$P/main.cf" || {
			diff -u "$P/main.cf" "$T/main.cf" >&2
			fail "ternconf $* differs from postconf"
		}
	fi
}
edit_both -e 'home_mailbox= Mail/'
grep -qx 'home_mailbox = Mail/' "$T/main.cf" || fail "-e home_mailbox"
grep -q 'continued here' "$T/main.cf" && fail "-e kept the old continuation line"
grep -qx '# where mail goes' "$T/main.cf" || fail "-e lost a comment"
[ "$("$tc" -c "$T" -h home_mailbox)" = "Mail/" ] || fail "-h home_mailbox"
edit_both -e 'virtual_alias_maps= hash:/etc/tern/maps'
tail -n 1 "$T/main.cf" | grep -qx 'virtual_alias_maps = hash:/etc/tern/maps' || fail "-e append"
edit_both -e 'relayhost =' 'myorigin = example.org'
edit_both -X home_mailbox mydestination no_such_name
grep -q 'home_mailbox\|continued here\|^mydestination' "$T/main.cf" && fail "-X left lines"
edit_both -'#' home_mailbox relayhost
grep -qx '#home_mailbox = old' "$T/main.cf" || fail "-# home_mailbox"
grep -qx '#    continued here' "$T/main.cf" || fail "-# continuation"
grep -qx '#relayhost=\[relay.example.org\]   ' "$T/main.cf" || fail "-# relayhost"
# No temporary file is left behind.
[ "$(ls -A "$T")" = "main.cf" ] || fail "left over: $(ls -A "$T")"

# 3. Printing modes.
cp "$work/main.cf.orig" "$T/main.cf"
printf 'user_var = from-user\nmyorigin = $user_var\n' >>"$T/main.cf"
"$tc" -c "$T" -n >"$work/n" 2>"$work/err" || fail "-n"
cat >"$work/want" <<'EOF'
home_mailbox = old continued here
mydestination = $myhostname, localhost
myhostname = mx.example.org
myorigin = $user_var
relayhost = [relay.example.org]
smtpd_banner = $myhostname ESMTP
user_var = from-user
EOF
diff -u "$work/want" "$work/n" >&2 || fail "-n output"
[ -s "$work/err" ] && fail "-n warned: $(cat "$work/err")"
"$tc" -c "$T" -nx >"$work/nx" || fail "-nx"
grep -qx 'myorigin = from-user' "$work/nx" || fail "-nx myorigin"
grep -qx 'mydestination = mx.example.org, localhost' "$work/nx" || fail "-nx mydestination"
"$tc" -c "$T" -x mydomain smtpd_banner >"$work/x" || fail "-x names"
printf 'mydomain = example.org\nsmtpd_banner = mx.example.org ESMTP\n' | diff -u - "$work/x" >&2 ||
	fail "-x named"
"$tc" -c "$T" -H myorigin relayhost | tr '\n' ' ' | grep -qx 'myorigin relayhost ' || fail "-H"
all=$("$tc" -c "$T" | wc -l)
known=$("$tc" -d | wc -l)
[ "$all" -eq $((known + 1)) ] || fail "no-argument listing has $all lines, table $known (+1 user name)"
"$tc" -c "$T" | grep -qx 'relayhost = \[relay.example.org\]' || fail "listing shows the value as written"
"$tc" -c "$T" | grep -qx 'relay_domains =' || fail "listing shows empty defaults as 'name ='"

# Unknown names: a warning like postconf's, exit 0, the others printed.
"$tc" -c "$T" no_such_param relayhost >"$work/out" 2>"$work/err"; rc=$?
[ $rc -eq 0 ] || fail "unknown name: exit $rc"
grep -q 'warning: no_such_param: unknown parameter' "$work/err" || fail "unknown name warning"
grep -qx 'relayhost = \[relay.example.org\]' "$work/out" || fail "unknown name stopped the rest"

# TERN_CONFIG_DIR picks the directory when -c is not given.
[ "$(TERN_CONFIG_DIR="$T" "$tc" -h myhostname)" = "mx.example.org" ] || fail "TERN_CONFIG_DIR"
[ "$(TERN_CONFIG_DIR="$T" "$tc" -h config_directory)" = "$T" ] || fail "config_directory"

# 4. A bad value: exit 78 and one line naming file, line, parameter, what is allowed.
printf '# comment\nsmtpd_timeout = 5y\n' >"$T/main.cf"
"$tc" -c "$T" >/dev/null 2>"$work/err"; rc=$?
[ $rc -eq 78 ] || fail "bad value: exit $rc"
[ "$(wc -l <"$work/err")" -eq 1 ] || fail "bad value: $(cat "$work/err")"
grep -q "$T/main.cf, line 2: parameter smtpd_timeout: bad value \"5y\": expected a time" "$work/err" ||
	fail "bad value message: $(cat "$work/err")"
for bad in 'biff = perhaps' 'message_size_limit = 10MB' 'smtpd_recipient_limit = 0' \
	'inet_protocols = ipv5' 'alias_maps = nis:mail.aliases' 'mail_name = ${oops' \
	'a = $b
b = $a
myorigin = $a'; do
	printf '%s\n' "$bad" >"$T/main.cf"
	"$tc" -c "$T" myorigin >/dev/null 2>"$work/err"; rc=$?
	[ $rc -eq 78 ] || fail "'$bad': exit $rc"
	[ "$(wc -l <"$work/err")" -eq 1 ] || fail "'$bad': $(cat "$work/err")"
	grep -q "main.cf, line [0-9]*: parameter [a-z_]*: bad value" "$work/err" || fail "'$bad': $(cat "$work/err")"
done
# -e refuses a bad value and leaves the file alone; it can fix a bad one.
printf 'smtpd_timeout = 5y\n' >"$T/main.cf"
"$tc" -c "$T" -e 'message_size_limit = lots' 2>"$work/err"; rc=$?
[ $rc -eq 78 ] || fail "-e bad value: exit $rc"
grep -q 'parameter message_size_limit: bad value "lots"' "$work/err" || fail "-e bad: $(cat "$work/err")"
[ "$(cat "$T/main.cf")" = "smtpd_timeout = 5y" ] || fail "-e bad value changed main.cf"
"$tc" -c "$T" -e 'smtpd_timeout = 5m' || fail "-e could not fix a bad value"
[ "$("$tc" -c "$T" -h smtpd_timeout)" = "5m" ] || fail "fixed value"
"$tc" -c "$T" -e 'no equals sign' 2>/dev/null; rc=$?
[ $rc -eq 64 ] || fail "-e without =: exit $rc"

# 5. $name expansion agrees with postconf -x (which prints values with
# runs of white space folded to one space, so both sides are folded).
fold_space() { tr -s ' \t' '  ' | sed 's/^ //; s/ $//'; }
if [ $have_postconf = yes ]; then
	while IFS= read -r expr; do
		body=$(printf 'e =\nv = val\nw = $v!\nx = $e\nmail_name = %s\n' "$expr")
		printf '%s\n' "$body" >"$T/main.cf"
		printf '%s\n' "$body" >"$P/main.cf"
		want=$(postconf -c "$P" -xh mail_name 2>/dev/null | fold_space) || fail "postconf -x '$expr'"
		got=$("$tc" -c "$T" -xh mail_name 2>/dev/null | fold_space) || fail "ternconf -x '$expr' failed"
		[ "$got" = "$want" ] || fail "'$expr': ternconf '$got', postconf '$want'"
	done <<'EOF'
$v ${v} $(v) ${ v } $v.b $$v $$$v $w x$undefined
${v?yes}|${e?yes}|${undefined?yes}|${v:no}|${e:no}|${undefined:no}
${v?{x}:{y}}|${e?{x}:{y}}|${v?{a}:b}|${e?{a}:b}|${e?{a} : {b}}
${v?$v and ${e:E}}|${v?x y z}|${v?a}b}|${v?{a{b}c}}|${v?{a}}}
${v? x }|${e:  x }|${v?{a}:  b }|${e?{a}:  b }|${v?a:b}|${e:a:b}|${v?{ a }}
 ${e:{ a }} [${v?   x}] [${e?{a}:   b }]
${x?yes}|${x:no}|[$x]|${v?{$$}}|${v?$$x}|${e?{}:{$v}}|$(v?{a}:{b})
EOF
	# Errors on both sides. postconf takes about 3 s to give up on each
	# (its fatal path waits), so its runs go side by side, each with a
	# directory of its own.
	n=0
	for expr in 'end$' '${v' '${v?{a}junk}' '$mail_name' '${v x}' '${{1} === {1}}' \
		'${{x} <level {3} ? {a} : {b}}' '${{1} == 1 ? {a} : {b}}'; do
		n=$((n + 1))
		mkdir "$work/bad$n"
		printf '%s\n' "$expr" >"$work/bad$n/expr"
		printf 'v = val\nmail_name = %s\n' "$expr" >"$work/bad$n/main.cf"
		printf 'v = val\nmail_name = %s\n' "$expr" >"$T/main.cf"
		"$tc" -c "$T" -xh mail_name >/dev/null 2>&1; rc=$?
		[ $rc -eq 78 ] || fail "'$expr': ternconf exit $rc"
		(postconf -c "$work/bad$n" -xh mail_name >/dev/null 2>&1; echo $? >"$work/bad$n/rc") &
	done
	wait
	for d in "$work"/bad*; do
		[ "$(cat "$d/rc")" != 0 ] || fail "postconf accepted '$(cat "$d/expr")'"
	done
fi

# 6. Defaults are Postfix's, except where Tern deliberately differs.
if [ $have_postconf = yes ]; then
	deliberate=" alias_maps append_dot_mydomain biff command_directory config_directory
		daemon_directory data_directory disable_vrfy_command export_environment mail_name
		mail_owner mail_version mailq_path mynetworks newaliases_path queue_directory
		relay_domains sendmail_path setgid_group smtpd_client_event_limit_exceptions
		smtpd_forbid_bare_newline smtpd_forbid_unauth_pipelining smtpd_hard_error_limit
		smtpd_junk_command_limit smtpd_relay_restrictions smtpd_sasl_path smtpd_sasl_type
		smtpd_starttls_timeout smtpd_timeout smtpd_tls_auth_only smtpd_tls_mandatory_protocols smtpd_tls_protocols
		smtputf8_enable syslog_name virtual_alias_maps myhostname mydomain
		smtp_tls_security_level smtp_sasl_tls_security_options "
	postconf -d 2>/dev/null >"$work/pd"
	"$tc" -d >"$work/td"
	checked=0
	while IFS= read -r line; do
		name=${line%% =*}
		case "$deliberate" in *[!a-z_0-9]"$name"[!a-z_0-9]*) continue ;; esac
		theirs=$(grep -m1 "^$name =" "$work/pd") || continue
		[ "$line" = "$theirs" ] || fail "default differs: ternconf '$line', postconf '$theirs'"
		checked=$((checked + 1))
	done <"$work/td"
	[ $checked -gt 100 ] || fail "only $checked defaults compared"
	# A name Postfix does not have must be documented as Tern's own.
	"$tc" --man-page >"$work/page"
	extra=0
	for n in $(cut -d' ' -f1 "$work/td"); do
		grep -q "^$n =" "$work/pd" && continue
		extra=$((extra + 1))
		awk -v n="$n" 'found && /^Tern only: / { ok = 1; exit } found && /^\.TP/ { exit }
			$0 == ".B " n { found = 1 } END { exit !ok }' "$work/page" ||
			fail "$n is not a Postfix parameter and not documented as Tern only"
	done
	[ $extra -ge 4 ] || fail "only $extra Tern-only names (local_maildir_base, mailq_format, ...)"
fi
"$tc" -d -h mynetworks | grep -qx '127.0.0.1/32, \[::1\]/128' || fail "mynetworks default"
"$tc" -dx -h myhostname | grep -q '\.' || fail "myhostname has no dot"

# 7. The generated page lists every parameter.
"$tc" --man-page >"$work/page" || fail "--man-page"
"$tc" -d -H | while read -r n; do
	grep -qx ".B $n" "$work/page" || fail "page lacks $n"
done || exit 1
# roff source: escapes are written out, never a raw control character (a "\f" in C).
LC_ALL=C grep -n "$(printf '[\001-\010\013-\037]')" "$work/page" >"$work/ctl" &&
	fail "control characters in the page: $(head -3 "$work/ctl")"
grep -q 'fBNot implemented:.fR accepted for compatibility, but' "$work/page" ||
	fail "no 'Not implemented' note in the page"
if command -v groff >/dev/null 2>&1; then
	groff -man -Tutf8 -ww -z "$work/page" 2>"$work/groff" || fail "groff failed"
	[ -s "$work/groff" ] && fail "groff warnings: $(head -3 "$work/groff")"
fi
echo PASS
exit 0
