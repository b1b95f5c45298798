#!/bin/sh
# t_sts_fetch.sh - MTA-STS policies (RFC 8461) as the smtp program gets
# them (smtp/smtp_sts*.c, driven by the test program stsq with the TXT
# record given on its command line): fetched from a real HTTPS server
# whose certificate comes from a CA the test makes (smtp_tls_CAfile),
# cached in data_directory/mta-sts, the cache used while the record's id
# is unchanged (the server stopped), refetched when the id changes and
# kept when that fetch fails; a bad certificate, a redirect, a wrong
# Content-Type, an oversized body refused with a reason; testing and
# enforce modes; smtp_mta_sts = no switches it off.
#
# Hermetic: the test re-executes itself in a private network and mount
# namespace (unshare -n -m, as root) with only loopback up and a test
# /etc/hosts mapping mta-sts.example.test to 127.0.0.1 bind-mounted over
# the real one, so the HTTPS server's port 443 and the name are the
# test's own. stsq runs as mail_owner, as the smtp program does.
here=$(dirname "$0")
[ -f "$here/lib.sh" ] || { echo "skip: tests/e2e/lib.sh is missing"; exit 77; }
. "$here/lib.sh"
need_root
need_cmd unshare mount ip openssl python3 runuser
STSQ=$TERN_TOP/tests/e2e/stsq
[ -x "$STSQ" ] || skip "tests/e2e/stsq is not built"
if [ -z "${TERN_STS_NS:-}" ]; then
	unshare -n -m true 2>/dev/null || skip "unshare -n -m does not work here"
	trap - EXIT INT TERM
	TERN_STS_NS=1 exec unshare -n -m sh "$0" "$@"
fi
mount --make-rprivate / || fail "mount --make-rprivate"
ip link set lo up || fail "ip link set lo up"

tern_instance
owner=$(ternconf -h mail_owner)
W=$TERN_DIR/sts
mkdir -p "$W"
chmod 755 "$W"

# /etc/hosts of the namespace only
printf '127.0.0.1 localhost mta-sts.example.test mta-sts.other.test\n' > "$W/hosts"
mount --bind "$W/hosts" /etc/hosts || fail "bind-mount /etc/hosts"

# A test CA, a certificate from it for mta-sts.example.test, one from it
# for another name, and a self-signed one for the right name.
cd "$W" || fail "cd $W"
ossl() { openssl "$@" >/dev/null 2>&1 || fail "openssl $1 failed"; }
ossl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=Tern test CA" \
	-keyout ca.key -out ca.pem -addext basicConstraints=critical,CA:TRUE \
	-addext keyUsage=critical,keyCertSign,cRLSign
mkcert() {	# NAME CN
	ossl req -newkey rsa:2048 -nodes -subj "/CN=$2" -keyout "$1.key" -out "$1.csr"
	printf 'subjectAltName=DNS:%s\n' "$2" > "$1.ext"
	ossl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial \
		-days 2 -extfile "$1.ext" -out "$1.pem"
}
mkcert good mta-sts.example.test
mkcert wrongname mail.example.test
ossl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=mta-sts.example.test" \
	-addext subjectAltName=DNS:mta-sts.example.test -keyout self.key -out self.pem
chmod 644 ./*.pem ./*.key

cat >> "$TERN_DIR/main.cf" <<EOC
smtp_tls_CAfile = $W/ca.pem
smtp_connect_timeout = 5s
EOC

server_pid=""
start_server() {	# CERT
	stop_server
	rm -f ready
	python3 "$TERN_TOP/tests/e2e/sts_server.py" 127.0.0.1 443 "$1.pem" "$1.key" "$W" \
		2>>server.err &
	server_pid=$!
	wait_for "the policy server" test -f ready
}
stop_server() {
	if [ -n "$server_pid" ]; then
		kill "$server_pid" 2>/dev/null
		wait "$server_pid" 2>/dev/null
		server_pid=""
	fi
}
at_cleanup stop_server
behave() { echo "$1" > behaviour; }

# stsq as mail_owner; its output in $out, its exit code in $rc
q() {
	out=$(runuser -u "$owner" -- "$STSQ" -c "$TERN_DIR" "$@" 2>&1)
	rc=$?
}
expect() {	# what: grep -E pattern that $out must match
	echo "$out" | grep -Eq "$2" || fail "$1: expected /$2/, got: $out"
}
requests() { [ -f requests ] && wc -l < requests || echo 0; }

cat > policy <<'EOP'
version: STSv1
mode: enforce
mx: mx.example.test
mx: *.backup.example.test
max_age: 86400
EOP
behave ok
start_server good

# 1. fetched, verified against smtp_tls_CAfile, cached
q -m mx.example.test example.test 'v=STSv1; id=first1;'
[ $rc = 0 ] || fail "first fetch: rc $rc: $out"
expect "first fetch" '^mode enforce$'
expect "first fetch" '^id first1$'
expect "first fetch" '^max_age 86400$'
expect "first fetch" '^mx \*\.backup\.example\.test$'
expect "first fetch" '^match mx.example.test yes$'
[ "$(requests)" = 1 ] || fail "expected 1 request, got $(requests)"
grep -qx /.well-known/mta-sts.txt requests || fail "wrong path: $(cat requests)"
C=$TERN_DIR/data/mta-sts
[ -f "$C/example.test" ] || fail "no cache file $C/example.test"
[ "$(stat -c '%a %U' "$C")" = "700 $owner" ] || fail "cache dir is $(stat -c '%a %U' "$C")"
grep -qx 'id first1' "$C/example.test" || fail "cache file: $(cat "$C/example.test")"
ls -a "$C" | grep -q '^\.example' && fail "temporary file left in $C"

# 2. the same id: the cache, with the server gone
stop_server
q -m evil.example.net Example.Test. 'v=STSv1; id=first1;'
[ $rc = 0 ] || fail "cached: rc $rc: $out"
expect "cached" '^mode enforce$'
expect "cached" '^match evil.example.net no$'
echo "$out" | grep -q '^note' && fail "cached policy should need no fetch: $out"
# no TXT record at all: the unexpired cached policy still applies
q example.test
expect "no record, cached" '^mode enforce$'

# 3. a new id while the server is down: the cached policy holds, with a note
q example.test 'v=STSv1; id=second2;'
[ $rc = 0 ] || fail "new id, server down: rc $rc: $out"
expect "new id, server down" '^id first1$'
expect "new id, server down" '^note: .*using the cached policy id first1'

# 4. a changed id refetches: now in testing mode
sed -i 's/^mode: enforce/mode: testing/' policy
start_server good
q example.test 'v=STSv1; id=second2;'
[ $rc = 0 ] || fail "refetch: rc $rc: $out"
expect "refetch" '^mode testing$'
expect "refetch" '^id second2$'
[ "$(requests)" = 2 ] || fail "expected 2 requests, got $(requests)"
grep -qx 'id second2' "$C/example.test" || fail "cache not replaced: $(cat "$C/example.test")"

# Refusals, each for a domain with nothing cached (other.test also maps to
# the server, and the certificate names only mta-sts.example.test)
refused() {	# what pattern
	rm -f "$C/example.test"
	q example.test "v=STSv1; id=r$(date +%s%N);"
	[ $rc = 1 ] || fail "$1: should be refused, rc $rc: $out"
	expect "$1" "^error: .*$2"
	echo "refused, $1: $out"
	[ -f "$C/example.test" ] && fail "$1: a refused policy was cached"
	return 0
}
# 5. a certificate for the wrong name, a self-signed one
start_server wrongname
refused "certificate for another name" 'subject name matches target host name .mta-sts\.example\.test.'
start_server self
refused "self-signed certificate" 'self-signed certificate'
# 6. a redirect, the wrong Content-Type, a body over 64 KiB, a 404
start_server good
behave redirect
refused "redirect" 'HTTP 301 redirect refused'
behave html
refused "text/html" 'Content-Type "text/html", not text/plain'
behave big
refused "70000 bytes" 'policy larger than 65536 bytes'
behave bigstream
refused "70000 bytes, no Content-Length" 'policy larger than 65536 bytes'
behave missing
refused "404" 'HTTP status 404'
# 7. a policy that does not parse is refused too
behave ok
printf 'version: STSv1\nmode: enforce\nmax_age: 600\n' > policy
refused "no mx" 'mta-sts\.txt: policy names no mx'
# the TLS certificate check is the CA file's: without it, not trusted
sed -i '/^smtp_tls_CAfile/d' "$TERN_DIR/main.cf"
printf 'version: STSv1\nmode: enforce\nmx: mx.example.test\nmax_age: 600\n' > policy
refused "no smtp_tls_CAfile" 'unable to get local issuer certificate'
echo "smtp_tls_CAfile = $W/ca.pem" >> "$TERN_DIR/main.cf"

# 8. enforce again, and the switch off
q example.test 'v=STSv1; id=third3;'
expect "enforce" '^mode enforce$'
expect "enforce" '^max_age 600$'
echo "smtp_mta_sts = no" >> "$TERN_DIR/main.cf"
n=$(requests)
q example.test 'v=STSv1; id=fourth4;'
expect "smtp_mta_sts = no" '^mode none$'
[ "$(requests)" = "$n" ] || fail "smtp_mta_sts = no still fetched"
pass
