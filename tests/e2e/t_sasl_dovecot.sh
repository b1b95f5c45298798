#!/bin/sh
# t_sasl_dovecot.sh - Tern's "dovecot" SASL backend against a real
# Dovecot (Debian's dovecot-core) started by this test with its own
# configuration: only the auth service, a passwd-file user database,
# the auth-client socket in a temporary directory, no IMAP/POP3, no SSL.
# Authenticates through tests/e2e/sasl_auth (the library, no smtpd) with
# good and bad passwords, PLAIN and LOGIN, and checks the temporary
# failure when Dovecot is gone. Runs as root (Dovecot's master wants it).
top=${TERN_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
auth=$top/tests/e2e/sasl_auth
. "$top/tests/e2e/dovecot.sh"

why=$(dc_available) || { echo "skip: $why"; exit 77; }
[ -x "$auth" ] || { echo "FAIL: $auth not built (make check builds it)"; exit 1; }

d=$(mktemp -d /tmp/tern-t-sasl.XXXXXX)
cleanup() {
	dc_stop "$d"
	rm -rf "$d"
}
trap cleanup EXIT INT TERM

fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

dc_start "$d" || { echo "FAIL: dovecot did not start"; exit 1; }
sock=$DC_SOCK

# expect RC WANT-OUTPUT ARGS...: run sasl_auth, compare exit and output prefix.
expect() {
	want_rc=$1 want_out=$2; shift 2
	out=$("$auth" "$@" 2>&1); rc=$?
	case $out in
	"$want_out"*) [ "$rc" = "$want_rc" ] || fail "sasl_auth $*: exit $rc, want $want_rc ($out)" ;;
	*) fail "sasl_auth $*: said '$out', want '$want_out...' (exit $rc)" ;;
	esac
}

# What Dovecot offers, as the library reports it for EHLO.
mechs=$("$auth" -d "$sock" -m)
case " $mechs " in *" PLAIN "*) ;; *) fail "mechanisms '$mechs' lack PLAIN" ;; esac
case " $mechs " in *" LOGIN "*) ;; *) fail "mechanisms '$mechs' lack LOGIN" ;; esac

expect 0 "ok alice" -d "$sock" -s PLAIN alice secret
expect 0 "ok bob" -d "$sock" -s -a 192.0.2.7 plain bob hunter2
expect 0 "ok alice" -d "$sock" -s -n PLAIN alice secret
expect 0 "ok alice" -d "$sock" -s LOGIN alice secret
expect 1 "fail:" -d "$sock" -s PLAIN alice wrong
expect 1 "fail:" -d "$sock" -s LOGIN alice Secret
expect 1 "fail:" -d "$sock" -s -a 192.0.2.7 PLAIN bob secret
expect 1 "fail:" -d "$sock" -s PLAIN nosuchuser secret
expect 1 "fail:" -d "$sock" -s LOGIN nosuchuser secret
# A password that is right up to an embedded NUL is not the password.
expect 1 "fail:" -d "$sock" -s PLAIN alice "secret$(printf '\001')"
# What the library told Dovecot (auth_debug logs each request, password
# hidden): the service, "secured" only when the session is encrypted,
# the client's address.
expect 0 "ok alice" -d "$sock" -a 192.0.2.9 PLAIN alice secret
expect 0 "ok alice" -d "$sock" -s -a 192.0.2.10 PLAIN alice secret
# The auth process hands its log lines to Dovecot's log process, which
# writes them into the file in its own time: wait for the last request's.
n=0
until grep 'client in: AUTH' "$d/dovecot.log" | grep -q 'rip=192.0.2.10'; do
	[ $n -lt 600 ] || break
	sleep 0.1
	n=$((n + 1))
done
grep 'client in: AUTH' "$d/dovecot.log" | grep -q 'service=smtp' ||
	fail "no service=smtp in Dovecot's log"
grep 'client in: AUTH' "$d/dovecot.log" | grep -q 'rip=192.0.2.9' ||
	fail "no request with rip=192.0.2.9 in Dovecot's log"
grep 'client in: AUTH' "$d/dovecot.log" | grep 'rip=192.0.2.9' | grep -q secured &&
	fail "secured sent for an unencrypted session"
grep 'client in: AUTH' "$d/dovecot.log" | grep 'rip=192.0.2.10' | grep -q secured ||
	fail "secured not sent for an encrypted session"
# Many exchanges over the process's one connection (request ids).
expect 0 "ok alice" -d "$sock" -s -r 20 PLAIN alice secret
expect 1 "fail:" -d "$sock" -s CRAM-MD5 alice secret
# Dovecot holds each failure back (auth_failure_delay, 2 s by default);
# the other exchanges of the process must not wait behind it.
expect 0 "ok alice" -d "$sock" -s -P 8 PLAIN alice secret
expect 0 "ok alice" -d "$sock" -s -P 4 LOGIN alice secret

# Dovecot saw the client address we passed.
grep -q 'passwd-file(bob,192.0.2.7)' "$d/dovecot.log" ||
	fail "Dovecot's log does not show the client address"

# Dovecot gone: a temporary failure, never a success.
dc_stop "$d"
expect 75 "fail:" -d "$sock" -s PLAIN alice secret

[ -n "$SHOW_LOG" ] && grep 'client in' "$d/dovecot.log"
if [ $fails -ne 0 ]; then
	echo "--- dovecot.log"; tail -30 "$d/dovecot.log"
	exit 1
fi
echo "PASS"
exit 0
