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

[ "$(id -u)" = 0 ] || { echo "skip: needs root to start Dovecot"; exit 77; }
command -v dovecot >/dev/null 2>&1 || { echo "skip: dovecot-core not installed"; exit 77; }
getent passwd dovenull >/dev/null || { echo "skip: no dovenull user"; exit 77; }
[ -x "$auth" ] || { echo "FAIL: $auth not built (make check builds it)"; exit 1; }

d=$(mktemp -d /tmp/tern-t-sasl.XXXXXX)
chmod 755 "$d"
cleanup() {
	[ -f "$d/run/master.pid" ] && kill "$(cat "$d/run/master.pid")" 2>/dev/null
	rm -rf "$d"
}
trap cleanup EXIT INT TERM

fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# "secret" for alice, "hunter2" for bob (SHA512-CRYPT, made by doveadm pw).
cat > "$d/users" <<'EOF'
alice:{SHA512-CRYPT}$6$T9DH39EVrukuwTyT$zvXNLOUPLrjHuj7Jm5VqzDeA35CLvbxhzCz259EceUGD5klSe9H6sn7YOPWjp9V3cZK9A4pkc5dxMiSK8dD0s0::::::
EOF
printf 'bob:{SHA512-CRYPT}%s::::::\n' "$(doveadm pw -s SHA512-CRYPT -p hunter2 | sed 's/^{SHA512-CRYPT}//')" >> "$d/users"

cat > "$d/dovecot.conf" <<EOF
base_dir = $d/run
state_dir = $d/state
log_path = $d/dovecot.log
protocols =
listen = 127.0.0.1
ssl = no
auth_mechanisms = plain login
disable_plaintext_auth = yes
auth_verbose = yes
auth_debug = yes
passdb {
  driver = passwd-file
  args = $d/users
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=$d/home/%u
}
service auth {
  unix_listener auth-client {
    mode = 0666
  }
}
service anvil {
  chroot =
}
EOF
mkdir -p "$d/run" "$d/state"
dovecot -c "$d/dovecot.conf" || { cat "$d/dovecot.log" 2>/dev/null; echo "FAIL: dovecot did not start"; exit 1; }

sock=$d/run/auth-client
n=0
while [ ! -S "$sock" ] && [ $n -lt 300 ]; do sleep 0.1; n=$((n + 1)); done
[ -S "$sock" ] || { cat "$d/dovecot.log"; echo "FAIL: no auth-client socket"; exit 1; }

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
pid=$(cat "$d/run/master.pid")
kill "$pid"
n=0
while kill -0 "$pid" 2>/dev/null && [ $n -lt 300 ]; do sleep 0.1; n=$((n + 1)); done
rm -f "$d/run/master.pid"
expect 75 "fail:" -d "$sock" -s PLAIN alice secret

[ -n "$SHOW_LOG" ] && grep 'client in' "$d/dovecot.log"
if [ $fails -ne 0 ]; then
	echo "--- dovecot.log"; tail -30 "$d/dovecot.log"
	exit 1
fi
echo "PASS"
exit 0
