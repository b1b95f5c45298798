#!/bin/sh
# t_check.sh - tern check finds what breaks mail, with file and line, and
# tern start refuses what it must: a missing, unreadable or stale table
# (or a regexp: table with a bad rule);
# a table with a relative file name (also refused by ternconf -e and
# ternd); an address that is not this host's or a port another program
# holds; a certificate and key that do not match (and an expired one);
# tern status lists each listener, on or off and why.
. "$(dirname "$0")/lib.sh"
need_cmd openssl python3

tern_instance
cf="$TERN_DIR/main.cf"
mcf="$TERN_DIR/master.cf"
out="$TERN_DIR/check.out"

# line_of PATTERN FILE: the number of the line that matches
line_of() { grep -n "$1" "$2" | head -1 | cut -d: -f1; }
# expect_check REGEX: tern check fails and says REGEX
expect_check() {
	tern check >"$out" 2>&1 && { cat "$out" >&2; fail "tern check passes ($1)"; }
	grep -Eq "$1" "$out" || { cat "$out" >&2; fail "tern check does not say /$1/"; }
}

tern check >"$out" 2>&1 || { cat "$out" >&2; fail "tern check fails on a fresh instance"; }

# 1. Tables: missing, older than the source, unreadable by mail_owner.
printf 'bob@example.com bob\n' > "$TERN_DIR/virtual"
echo "virtual_alias_maps = hash:$TERN_DIR/virtual" >> "$cf"
n=$(line_of '^virtual_alias_maps' "$cf")
expect_check "error: $cf, line $n: virtual_alias_maps: hash:$TERN_DIR/virtual: database $TERN_DIR/virtual.db does not exist"
tern start >/dev/null 2>"$out" || { cat "$out" >&2; fail "a missing table stops tern start"; }
grep -q "warning: $cf, line $n: .*virtual.db does not exist" "$out" || fail "tern start does not warn of a missing table"
tern stop >/dev/null
ternmap "$TERN_DIR/virtual" || fail "ternmap"
touch -d '2 minutes ago' "$TERN_DIR/virtual.db"
expect_check "warning: $cf, line $n: virtual_alias_maps: database $TERN_DIR/virtual.db is older than source file $TERN_DIR/virtual"
ternmap "$TERN_DIR/virtual"
tern check >"$out" 2>&1 || { cat "$out" >&2; fail "tern check fails once the table is rebuilt"; }
if [ "$(id -u)" = 0 ]; then
	chmod 600 "$TERN_DIR/virtual.db"
	chown root "$TERN_DIR/virtual.db"
	expect_check "error: $cf, line $n: virtual_alias_maps: .*mail_owner tern cannot read $TERN_DIR/virtual.db: Permission denied"
	chmod 644 "$TERN_DIR/virtual.db"
fi
# A map in a restriction list, named on a continued line.
printf 'smtpd_recipient_restrictions =\n    check_recipient_access hash:%s/access, reject_unauth_destination\n' \
	"$TERN_DIR" >> "$cf"
n=$(line_of '^smtpd_recipient_restrictions' "$cf")
expect_check "error: $cf, line $n: smtpd_recipient_restrictions: hash:$TERN_DIR/access: database $TERN_DIR/access.db does not exist"
sed -i '/^smtpd_recipient_restrictions/,$d' "$cf"
# A regexp: table: a bad rule is named with its line, a missing file is an error.
printf '/a/ x\nif /b/\n' > "$TERN_DIR/virtual_rx"
sed -i "s|^virtual_alias_maps = .*|virtual_alias_maps = regexp:$TERN_DIR/virtual_rx|" "$cf"
n=$(line_of '^virtual_alias_maps' "$cf")
expect_check "error: $cf, line $n: virtual_alias_maps: regexp:$TERN_DIR/virtual_rx: .*line 2: if without endif"
printf '/a/ x\n' > "$TERN_DIR/virtual_rx"
tern check >"$out" 2>&1 || { cat "$out" >&2; fail "tern check fails on a good regexp: table"; }
rm "$TERN_DIR/virtual_rx"
expect_check "error: $cf, line $n: virtual_alias_maps: regexp:$TERN_DIR/virtual_rx: .*No such file or directory"
# The rules written in main.cf (regexp:{ { rule }, ... }) are checked too.
sed -i "s|^virtual_alias_maps = .*|virtual_alias_maps = regexp:{ {/^a/ b}, {/c(/ d} }|" "$cf"
expect_check "error: $cf, line $n: virtual_alias_maps: regexp:\\{.*rule 2: bad pattern"
sed -i "s|^virtual_alias_maps = .*|virtual_alias_maps = hash:$TERN_DIR/virtual|" "$cf"

# 2. A relative table file: refused at load, by ternconf -e and by ternd.
ternconf -e 'virtual_alias_maps = hash:run/maps' 2>"$out" && fail "ternconf -e accepts hash:run/maps"
grep -q "run/maps is relative" "$out" || { cat "$out" >&2; fail "ternconf -e does not say why"; }
sed -i "s|^virtual_alias_maps = .*|virtual_alias_maps = hash:run/maps|" "$cf"
n=$(line_of '^virtual_alias_maps' "$cf")
tern check >"$out" 2>&1
[ $? = 78 ] || fail "tern check does not exit 78 for a relative table"
grep -q "$cf, line $n: parameter virtual_alias_maps: .*run/maps is relative" "$out" || { cat "$out" >&2; fail "relative table: no file and line"; }
tern start >/dev/null 2>"$out" && fail "tern start accepts a relative table"
grep -q "$cf, line $n: .*run/maps is relative" "$out" || { cat "$out" >&2; fail "tern start: no clear message"; }
"$TERN_TOP/stage/ternd" -c "$TERN_DIR" -f >/dev/null 2>"$out" && fail "ternd starts with a relative table"
grep -q "$cf, line $n: .*run/maps is relative" "$out" || { cat "$out" >&2; fail "ternd: no clear message"; }
tern status >/dev/null && fail "running after a refused start"
sed -i "s|^virtual_alias_maps = .*|virtual_alias_maps = hash:$TERN_DIR/virtual|" "$cf"
# The same in a service's -o: its master.cf line.
cp "$mcf" "$mcf.good"
sed -i 's|^\(smtp .*smtpd\)$|\1 -o smtpd_client_restrictions=check_client_access,hash:run/access|' "$mcf"
n=$(line_of '^smtp ' "$mcf")
tern check >"$out" 2>&1
[ $? = 78 ] || { cat "$out" >&2; fail "tern check accepts a relative table in -o"; }
grep -q "error: $mcf, line $n: service smtp: -o: parameter smtpd_client_restrictions: .*run/access is relative" "$out" ||
	{ cat "$out" >&2; fail "relative table in -o: no master.cf line"; }
tern start >/dev/null 2>&1 && fail "tern start accepts a relative table in -o"
mv "$mcf.good" "$mcf"

# 3. Addresses: a port another program holds; an address not of this host.
n=$(line_of '^smtp ' "$mcf")
python3 - "$TERN_PORT" "$mcf" "$n" <<'PY' || fail "busy port"
import socket, subprocess, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(1)
want = "%s, line %s: service smtp" % (sys.argv[2], sys.argv[3])
r = subprocess.run(["tern", "check"], capture_output=True, text=True)
if r.returncode == 0 or want not in r.stderr or "cannot listen on 127.0.0.1:%s: another program is listening there" % sys.argv[1] not in r.stderr:
    sys.exit("check: " + r.stderr)
r = subprocess.run(["tern", "start"], capture_output=True, text=True)
if r.returncode == 0 or want + ": bind 127.0.0.1:%s: Address already in use" % sys.argv[1] not in r.stderr:
    sys.exit("start: " + r.stderr)
PY
tern status >/dev/null && fail "running after a failed bind"
sed -i 's/^inet_interfaces = .*/inet_interfaces = 192.0.2.7/' "$cf"
n=$(line_of '^inet_interfaces' "$cf")
expect_check "service smtp \(inet_interfaces, $cf line $n\): cannot listen on 192.0.2.7:$TERN_PORT: not an address of this host"
sed -i 's/^inet_interfaces = .*/inet_interfaces = 127.0.0.1/' "$cf"
# Below port 1024 without root: the address is checked, not the port.
if [ "$(id -u)" = 0 ] && id tern >/dev/null 2>&1; then
	cp "$mcf" "$mcf.good"
	echo "low inet 192.0.2.7:25 - - - 1 smtpd" >> "$mcf"
	n=$(line_of '^low ' "$mcf")
	chown -R tern "$TERN_DIR/main.cf" "$TERN_DIR/master.cf"
	setpriv --reuid=tern --regid=tern --clear-groups tern check >"$out" 2>&1 && fail "low port: check passes"
	grep -q "$mcf, line $n: service low: cannot listen on 192.0.2.7:25: not an address of this host" "$out" ||
		{ cat "$out" >&2; fail "low port: no address check"; }
	chown root "$TERN_DIR/main.cf" "$TERN_DIR/master.cf"
	mv "$mcf.good" "$mcf"
fi

# 4. Certificate and key: a pair that does not match is an error in check
# and at start; an expired certificate is a warning.
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$TERN_DIR/a.key" -out "$TERN_DIR/a.crt" \
	-days 30 -subj /CN=a.example 2>/dev/null || fail "openssl"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$TERN_DIR/b.key" -out "$TERN_DIR/b.crt" \
	-days 30 -subj /CN=b.example 2>/dev/null || fail "openssl"
chmod 644 "$TERN_DIR"/*.key
printf 'smtpd_tls_cert_file = %s/a.crt\nsmtpd_tls_key_file = %s/b.key\n' "$TERN_DIR" "$TERN_DIR" >> "$cf"
n=$(line_of '^smtpd_tls_key_file' "$cf")
expect_check "error: $cf, line $n: smtpd_tls_key_file: private key in $TERN_DIR/b.key does not match the certificate in $TERN_DIR/a.crt"
tern start >/dev/null 2>"$out" && fail "tern start accepts a key that does not match"
grep -q "$cf, line $n: smtpd_tls_key_file: private key in .*b.key does not match" "$out" || { cat "$out" >&2; fail "start: no clear message"; }
tern status >/dev/null && fail "running after a refused start (key)"
sed -i '/^smtpd_tls_/d' "$cf"
printf 'smtpd_tls_chain_files = %s/b.key, %s/a.crt\n' "$TERN_DIR" "$TERN_DIR" >> "$cf"
n=$(line_of '^smtpd_tls_chain_files' "$cf")
expect_check "error: $cf, line $n: smtpd_tls_chain_files: "
sed -i '/^smtpd_tls_/d' "$cf"
# An expired certificate (OpenSSL 3.0's req cannot back-date one: its ca can).
ca="$TERN_DIR/ca"
mkdir "$ca" && touch "$ca/index.txt" && echo 01 > "$ca/serial"
printf '[ca]\ndefault_ca = d\n[d]\ndatabase = %s/index.txt\nnew_certs_dir = %s\nserial = %s/serial\ndefault_md = sha256\npolicy = p\n[p]\ncommonName = supplied\n' \
	"$ca" "$ca" "$ca" > "$ca/ca.cnf"
openssl req -new -newkey rsa:2048 -nodes -keyout "$TERN_DIR/old.key" -out "$ca/old.csr" \
	-subj /CN=old.example 2>/dev/null || fail "openssl req"
openssl ca -batch -config "$ca/ca.cnf" -selfsign -keyfile "$TERN_DIR/old.key" -in "$ca/old.csr" \
	-out "$TERN_DIR/old.crt" -startdate 20200101000000Z -enddate 20200201000000Z >/dev/null 2>&1 ||
	fail "openssl ca"
printf 'smtpd_tls_cert_file = %s/old.crt\nsmtpd_tls_key_file = %s/old.key\n' "$TERN_DIR" "$TERN_DIR" >> "$cf"
n=$(line_of '^smtpd_tls_key_file' "$cf")
expect_check "warning: $cf, line $n: smtpd_tls_key_file: the certificate .*old.example has expired"
tern check 2>&1 | grep -q "error:" && fail "an expired certificate is more than a warning"
sed -i '/^smtpd_tls_/d' "$cf"
printf 'smtpd_tls_cert_file = %s/nonesuch.crt\n' "$TERN_DIR" >> "$cf"
n=$(line_of '^smtpd_tls_cert_file' "$cf")
expect_check "warning: $cf, line $n: smtpd_tls_cert_file: cannot read $TERN_DIR/nonesuch.crt"
sed -i '/^smtpd_tls_/d' "$cf"

# 6. tern status: one listener on, one off (no certificate), with addresses.
sub=$(free_port)
echo "submission inet 127.0.0.1:$sub required required - 1 smtpd" >> "$mcf"
tern check >"$out" 2>&1 || { cat "$out" >&2; fail "tern check fails on a good setup"; }
tern_start
# The running master's own addresses are no obstacle to tern check.
tern check >"$out" 2>&1 || { cat "$out" >&2; fail "tern check fails while the instance runs"; }
tern status >"$out" || fail "tern status"
grep -Eq "^  smtp +inet +on +127\.0\.0\.1:$TERN_PORT$" "$out" || { cat "$out" >&2; fail "status: smtp not on"; }
grep -Eq "^  submission +inet +off +127\.0\.0\.1:$sub: tls required needs a certificate" "$out" ||
	{ cat "$out" >&2; fail "status: submission not off with its reason"; }
grep -Eq "^  pickup +public +on +$TERN_DIR/queue/public/pickup$" "$out" || { cat "$out" >&2; fail "status: pickup"; }
# A reload that cannot bind a new listener: status says so.
python3 -c 'import socket,time,sys
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(1); time.sleep(30)' "$sub" &
holder=$!
at_cleanup "kill $holder 2>/dev/null"
wait_for_port "$sub"
sed -i '/^submission/d' "$mcf"
echo "submission inet 127.0.0.1:$sub - - - 1 smtpd" >> "$mcf"
tern reload >/dev/null 2>"$out" || { cat "$out" >&2; fail "reload"; }
grep -q "warning: $mcf, line .*: service submission: cannot listen on 127.0.0.1:$sub: another program" "$out" ||
	{ cat "$out" >&2; fail "reload does not warn of the busy port"; }
tern status >"$out"
grep -Eq "^  submission +inet +off +127\.0\.0\.1:$sub: bind 127\.0\.0\.1:$sub: Address already in use" "$out" ||
	{ cat "$out" >&2; fail "status: a listener that failed to bind"; }
kill $holder
tern_stop

# 7. sendmail_path, mailq_path, newaliases_path: Tern's sendmail, or a warning
# with the line (another MTA's sendmail left in place bypasses Tern).
other=$TERN_DIR/other-sendmail
printf '#!/bin/sh\nexit 0\n' > "$other" && chmod 755 "$other"
ternconf -e "sendmail_path = $TERN_TOP/stage/sendmail" "mailq_path = $TERN_TOP/stage/mailq" \
	"newaliases_path = $TERN_TOP/stage/newaliases" || fail "ternconf -e paths"
tern check >"$out" 2>&1 || { cat "$out" >&2; fail "tern check with Tern's own command paths"; }
ternconf -e "sendmail_path = $other" "newaliases_path = $TERN_DIR/none" || fail "ternconf -e paths"
sline=$(grep -n '^sendmail_path' "$TERN_DIR/main.cf" | cut -d: -f1)
nline=$(grep -n '^newaliases_path' "$TERN_DIR/main.cf" | cut -d: -f1)
tern check >"$out" 2>&1; rc=$?
[ $rc -eq 1 ] || { cat "$out" >&2; fail "tern check with another sendmail: exit $rc"; }
grep -q "warning: $TERN_DIR/main.cf, line $sline: sendmail_path: $other is not Tern's sendmail" "$out" ||
	{ cat "$out" >&2; fail "no warning about another sendmail"; }
grep -q "warning: $TERN_DIR/main.cf, line $nline: newaliases_path: $TERN_DIR/none: No such file" "$out" ||
	{ cat "$out" >&2; fail "no warning about a missing newaliases"; }
grep -q "mailq_path" "$out" && { cat "$out" >&2; fail "a right mailq_path drew a warning"; }
pass
