#!/bin/sh
# t_smtpd_tls_params.sh - smtpd's TLS parameters against openssl s_client:
# smtpd_tls_protocols for opportunistic STARTTLS and
# smtpd_tls_mandatory_protocols where TLS is required (encrypt, wrapper
# mode), with <=, >= and ! forms; smtpd_tls_mandatory_ciphers and
# smtpd_tls_ciphers; a bad protocol list is an error with file and line;
# smtpd_starttls_timeout bounds a stalled handshake; smtpd_tls_loglevel
# 0 logs no TLS line, 1 one line with protocol and cipher, 2 the steps.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/smtpd_lib.sh"

tern_instance
make_cert
need_cmd openssl
TLS="-o smtpd_tls_cert_file=$TERN_DIR/cert.pem -o smtpd_tls_key_file=$TERN_DIR/key.pem"

# handshake PROTO [s_client options...]: 0 when the handshake with -PROTO
# succeeded (STARTTLS, or implicit TLS when IMPLICIT=1).
handshake() {
	_v=$1; shift
	case $_v in tls1_1) _proto=TLSv1.1;; tls1_2) _proto=TLSv1.2;; *) _proto=TLSv1.3;; esac
	_st="-starttls smtp"
	[ "${IMPLICIT:-0}" = 1 ] && _st=""
	# shellcheck disable=SC2086
	_out=$(echo QUIT | timeout 30 openssl s_client -brief -connect 127.0.0.1:$SMTPD_PORT $_st -$_v "$@" 2>&1)
	echo "$_out" | grep -q 'CONNECTION ESTABLISHED' && echo "$_out" | grep -q "^Protocol version: $_proto\$"
}

# Opportunistic STARTTLS: <=TLSv1.2 caps the version, !TLSv1.2 leaves only 1.3.
# shellcheck disable=SC2086
smtpd_start $TLS -o 'smtpd_tls_protocols=<=TLSv1.2' -o 'smtpd_tls_mandatory_protocols=>=TLSv1.3'
handshake tls1_3 && fail "TLS 1.3 accepted with smtpd_tls_protocols = <=TLSv1.2"
handshake tls1_2 || fail "TLS 1.2 refused with smtpd_tls_protocols = <=TLSv1.2: $_out"
smtpd_stop
# shellcheck disable=SC2086
smtpd_start $TLS -o 'smtpd_tls_protocols=!SSLv2, !SSLv3, !TLSv1, !TLSv1.1, !TLSv1.2'
handshake tls1_2 && fail "TLS 1.2 accepted with !TLSv1.2"
handshake tls1_3 || fail "TLS 1.3 refused with !TLSv1.2: $_out"
# Never below TLS 1.2, even for a client that offers 1.1 and a list that allows it.
smtpd_stop
# shellcheck disable=SC2086
smtpd_start $TLS -o 'smtpd_tls_protocols=>=TLSv1'
handshake tls1_1 -cipher 'DEFAULT:@SECLEVEL=0' && fail "TLS 1.1 accepted"
handshake tls1_2 || fail "TLS 1.2 refused with >=TLSv1: $_out"
smtpd_stop

# Where TLS is required (submission: encrypt), the mandatory list applies, not the other.
# shellcheck disable=SC2086
smtpd_start $TLS -o smtpd_tls_security_level=encrypt -o 'smtpd_tls_protocols=>=TLSv1.2' \
	-o 'smtpd_tls_mandatory_protocols=>=TLSv1.3'
handshake tls1_2 && fail "TLS 1.2 accepted with smtpd_tls_mandatory_protocols = >=TLSv1.3 at encrypt"
handshake tls1_3 || fail "TLS 1.3 refused at encrypt: $_out"
smtpd_stop
# shellcheck disable=SC2086
smtpd_start $TLS -o smtpd_tls_security_level=may -o 'smtpd_tls_mandatory_protocols=>=TLSv1.3'
handshake tls1_2 || fail "smtpd_tls_mandatory_protocols applied to opportunistic TLS: $_out"
smtpd_stop
# Implicit TLS (submissions) is mandatory too.
# shellcheck disable=SC2086
smtpd_start $TLS -o smtpd_tls_wrappermode=yes -o 'smtpd_tls_mandatory_protocols=<=TLSv1.2'
IMPLICIT=1 handshake tls1_3 && fail "TLS 1.3 accepted in wrapper mode with mandatory <=TLSv1.2"
IMPLICIT=1 handshake tls1_2 || fail "TLS 1.2 refused in wrapper mode: $_out"
smtpd_stop

# Cipher grades: "high" drops SHA-1 MAC suites; medium (the default) keeps them.
SHA1_SUITE=ECDHE-RSA-AES128-SHA
# shellcheck disable=SC2086
smtpd_start $TLS -o smtpd_tls_security_level=encrypt -o smtpd_tls_mandatory_ciphers=high
handshake tls1_2 -cipher $SHA1_SUITE && fail "$SHA1_SUITE accepted with smtpd_tls_mandatory_ciphers = high"
handshake tls1_2 || fail "TLS 1.2 refused with mandatory ciphers high: $_out"
smtpd_stop
# shellcheck disable=SC2086
smtpd_start $TLS -o smtpd_tls_mandatory_ciphers=high
handshake tls1_2 -cipher $SHA1_SUITE || fail "mandatory ciphers applied to opportunistic TLS: $_out"
smtpd_stop
# shellcheck disable=SC2086
smtpd_start $TLS -o smtpd_tls_ciphers=high
handshake tls1_2 -cipher $SHA1_SUITE && fail "$SHA1_SUITE accepted with smtpd_tls_ciphers = high"
smtpd_stop

# smtpd_tls_loglevel: 0 (the default) no line, 1 the summary, 2 the handshake steps.
: > "$TERN_DIR/maillog"
# shellcheck disable=SC2086
smtpd_start $TLS
handshake tls1_3 || fail "TLS 1.3 refused: $_out"
smtpd_stop
grep -q 'TLS connection established' "$TERN_DIR/maillog" && fail "smtpd_tls_loglevel = 0 logged the TLS session"
# shellcheck disable=SC2086
smtpd_start $TLS -o smtpd_tls_loglevel=1
handshake tls1_2 || fail "TLS 1.2 refused: $_out"
smtpd_stop
grep -Eq 'Anonymous TLS connection established from localhost\[127\.0\.0\.1\]: TLSv1\.2 with cipher [A-Z0-9-]+ \([0-9]+/[0-9]+ bits\)' \
	"$TERN_DIR/maillog" || { show_log; fail "smtpd_tls_loglevel = 1: no line with protocol and cipher"; }
grep -q 'SSL_accept:' "$TERN_DIR/maillog" && fail "smtpd_tls_loglevel = 1 logged handshake steps"
# shellcheck disable=SC2086
smtpd_start $TLS -o smtpd_tls_loglevel=2
handshake tls1_3 || fail "TLS 1.3 refused: $_out"
smtpd_stop
grep -q 'localhost\[127\.0\.0\.1\]: SSL_accept:' "$TERN_DIR/maillog" \
	|| fail "smtpd_tls_loglevel = 2: no handshake steps"

# smtpd_starttls_timeout: a client that stalls after STARTTLS is dropped
# after it, long before smtpd_timeout.
# shellcheck disable=SC2086
smtpd_start $TLS -o smtpd_starttls_timeout=2s -o smtpd_timeout=120s
python3 - "$SMTPD_PORT" <<'EOP' || fail "stalled TLS handshake not cut off by smtpd_starttls_timeout"
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=30)
f = s.makefile("rb", buffering=0)
def reply():
    while True:
        line = f.readline()
        if line[3:4] != b"-":
            return line
reply(); s.sendall(b"EHLO stall.example\r\n"); reply()
s.sendall(b"STARTTLS\r\n")
assert reply().startswith(b"220 ")
t = time.time()
assert s.recv(1) == b"", "server sent data"
took = time.time() - t
assert 1 <= took < 20, took
EOP
wait_for_log 'timeout during TLS handshake from localhost\[127\.0\.0\.1\]'
smtpd_stop

# A protocol Postfix does not know is an error naming main.cf and its line.
printf 'smtpd_tls_mandatory_protocols = >=TLSv1.2, !TLSv1.4\n' >> "$TERN_DIR/main.cf"
line=$(wc -l < "$TERN_DIR/main.cf")
out=$("$SMTPD_BIN" -c "$TERN_DIR" -l 127.0.0.1:"$(free_port)" 2>&1) && fail "smtpd started with a bad protocol list"
echo "$out" | grep -q "main.cf, line $line: parameter smtpd_tls_mandatory_protocols: bad value.*TLSv1.4" \
	|| fail "bad protocol list not reported with file and line: $out"
pass
