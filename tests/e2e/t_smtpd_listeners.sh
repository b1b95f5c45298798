#!/bin/sh
# t_smtpd_listeners.sh - the listeners of the service table that
# `make install` writes (conf/master.cf, only its port numbers moved to
# free ones): without a certificate only smtp runs, and submission (587)
# and submissions (465) stay off with a log line saying why; with one,
# all three run side by side: smtp offers STARTTLS, submission refuses
# mail before STARTTLS and before AUTH, submissions speaks TLS from the
# first byte and requires AUTH; a listener added with -o restrictions and
# its own certificate gets both; a certificate given as smtpd_tls_chain_files
# works too, and a renewed one counts after tern reload. ternd binds the
# sockets as root (smtp on a port below 1024) and opens the key files,
# which only root can read; smtpd runs as mail_owner throughout.
# inet_interfaces and inet_protocols (ipv4, ipv6, all) decide the
# addresses, ::1 included.
. "$(dirname "$0")/lib.sh"
need_root
need_cmd python3 openssl
[ -x "$TERN_TOP/stage/smtpd" ] || skip "smtpd is not built"
id tern >/dev/null 2>&1 || skip "no tern account (mail_owner of an instance made by root)"

tern_instance
grep -qx 'mail_owner = tern' "$TERN_DIR/main.cf" || fail "tern init as root did not choose mail_owner = tern"

# A free privileged port: only root can bind it, smtpd (as tern) could not.
low_port() {
	for _p in $(seq 700 3 1000); do
		_port_bindable "$_p" && { echo "$_p"; return 0; }
	done
	fail "no free port below 1024"
}
p25=$(low_port) p587=$(free_port) p465=$(free_port)
[ "$p587" != "$p465" ] || p465=$(free_port)
sed -e "s/^\(smtp  *inet  *\)25 /\1$p25 /" -e "s/^\(submission  *inet  *\)587 /\1$p587 /" \
	-e "s/^\(submissions  *inet  *\)465 /\1$p465 /" "$TERN_TOP/conf/master.cf" > "$TERN_DIR/master.cf"
grep -Eq "^smtp +inet +$p25 " "$TERN_DIR/master.cf" && grep -Eq "^submission +inet +$p587 " "$TERN_DIR/master.cf" \
	&& grep -Eq "^submissions +inet +$p465 " "$TERN_DIR/master.cf" || fail "conf/master.cf changed shape: $(cat "$TERN_DIR/master.cf")"
printf 'alice %s\n' "$(openssl passwd -6 secret)" > "$TERN_DIR/sasl_passwd"
ternconf -e "smtpd_sasl_type = tern" "smtpd_sasl_password_maps = texthash:$TERN_DIR/sasl_passwd" || fail "ternconf -e"

# greeting HOST PORT [tls]: the first reply line (after a TLS handshake with "tls").
greeting() {
	python3 - "$@" <<'EOP'
import socket, ssl, sys
host, port = sys.argv[1], int(sys.argv[2])
s = socket.create_connection((host, port), timeout=20)
if len(sys.argv) > 3:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
    s = ctx.wrap_socket(s)
print(s.recv(300).decode().splitlines()[0])
s.sendall(b"QUIT\r\n")
EOP
}
refused() { ! greeting "$@" >/dev/null 2>&1; }
# pid of the smtpd serving SERVICE (from its start-up line).
smtpd_pid() { sed -n "s/.*tern\/smtpd\[\([0-9]*\)\]: daemon started: service $1,.*/\1/p" "$TERN_DIR/maillog" | tail -n 1; }
uids() { awk '/^Uid:/ {print $2, $3, $4, $5}' "/proc/$1/status"; }

# 1. No certificate: smtp only; 587 and 465 off, with the reason in the log.
tern_start
wait_for_log 'daemon started: service smtp,'
g=$(greeting 127.0.0.1 "$p25") || fail "no greeting on the smtp port $p25"
case $g in 220\ *ESMTP*) ;; *) fail "smtp greeting '$g'" ;; esac
grep -q "service submission (port $p587) is off: tls required needs a certificate" "$TERN_DIR/maillog" \
	|| fail "no log line saying why submission is off"
grep -q "service submissions (port $p465) is off: tls implicit needs a certificate" "$TERN_DIR/maillog" \
	|| fail "no log line saying why submissions is off"
refused 127.0.0.1 "$p587" || fail "submission listens without a certificate"
refused 127.0.0.1 "$p465" || fail "submissions listens without a certificate"

# ternd is root, smtpd runs as tern on the port root bound.
tuid=$(id -u tern)
mpid=$(cat "$TERN_DIR/queue/pid/master.pid")
[ "$(uids "$mpid")" = "0 0 0 0" ] || fail "ternd does not run as root: $(uids "$mpid")"
spid=$(smtpd_pid smtp)
[ -n "$spid" ] || fail "no smtpd start-up line"
[ "$(uids "$spid")" = "$tuid $tuid $tuid $tuid" ] || fail "smtpd runs as $(uids "$spid"), not tern ($tuid)"
[ "$(awk '/^Gid:/ {print $2}' "/proc/$spid/status")" = "$(id -g tern)" ] || fail "smtpd keeps another group"
awk '/^CapEff:/ {exit ($2 == "0000000000000000") ? 0 : 1}' "/proc/$spid/status" || fail "smtpd kept capabilities"
tern_stop

# 2. A certificate whose key only root can read: all three services run.
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=listeners.example" \
	-keyout "$TERN_DIR/key.pem" -out "$TERN_DIR/cert.pem" >/dev/null 2>&1 || fail "openssl req"
chmod 600 "$TERN_DIR/key.pem"
ternconf -e "smtpd_tls_cert_file = $TERN_DIR/cert.pem" "smtpd_tls_key_file = $TERN_DIR/key.pem" || fail "ternconf -e"
# A fourth listener of our own with its restrictions and certificate
# given by -o in master.cf (the key again readable by root only).
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=other.listeners.example" \
	-keyout "$TERN_DIR/other.key" -out "$TERN_DIR/other.pem" >/dev/null 2>&1 || fail "openssl req"
chmod 600 "$TERN_DIR/other.key"
pother=$(free_port)
cat >> "$TERN_DIR/master.cf" <<CF
other         inet    127.0.0.1:$pother  starttls  no  -  1  smtpd
    -o smtpd_client_restrictions=reject
    -o smtpd_tls_cert_file=$TERN_DIR/other.pem -o smtpd_tls_key_file=$TERN_DIR/other.key
CF
: > "$TERN_DIR/maillog"
tern_start
wait_for_log 'daemon started: service submissions,'
wait_for_log 'daemon started: service submission,'
wait_for_log 'daemon started: service smtp,'
grep -q 'TLS is off' "$TERN_DIR/maillog" && fail "smtpd could not use the certificate: $(grep 'TLS is off' "$TERN_DIR/maillog")"
for svc in smtp submission submissions; do
	p=$(smtpd_pid "$svc")
	[ "$(uids "$p")" = "$tuid $tuid $tuid $tuid" ] || fail "$svc smtpd runs as $(uids "$p")"
done
python3 - "$p25" "$p587" "$p465" <<'EOP' || fail "the three listeners do not behave as master.cf says"
import base64, smtplib, ssl, sys
p25, p587, p465 = (int(a) for a in sys.argv[1:4])
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
plain = "AUTH PLAIN " + base64.b64encode(b"\0alice\0secret").decode()

# smtp (25): STARTTLS offered, no AUTH required from mynetworks.
with smtplib.SMTP("127.0.0.1", p25, timeout=30) as s:
    s.ehlo("c.example")
    assert s.has_extn("starttls"), "smtp: no STARTTLS"
    s.sendmail("a@example.org", ["postmaster@localhost"], "Subject: port25\r\n\r\nx\r\n")

# submission (587): STARTTLS first, then AUTH, then mail.
with smtplib.SMTP("127.0.0.1", p587, timeout=30) as s:
    s.ehlo("c.example")
    assert s.has_extn("starttls"), "submission: no STARTTLS"
    code, text = s.mail("a@example.org")
    assert code == 530 and b"STARTTLS" in text, ("mail before STARTTLS", code, text)
    s.rset()
    s.starttls(context=ctx); s.ehlo("c.example")
    assert s.has_extn("auth"), "submission: no AUTH after STARTTLS"
    code, text = s.mail("a@example.org")
    assert code == 530 and b"5.7.0" in text, ("mail before AUTH", code, text)
    s.rset()
    code, text = s.docmd(plain)
    assert code == 235, ("AUTH", code, text)
    s.sendmail("alice@example.org", ["someone@remote.example"], "Subject: port587\r\n\r\nx\r\n")

# submissions (465): TLS from the first byte, AUTH required.
with smtplib.SMTP_SSL("127.0.0.1", p465, timeout=30, context=ctx) as s:
    s.ehlo("c.example")
    assert s.has_extn("auth"), "submissions: no AUTH"
    assert not s.has_extn("starttls"), "submissions offers STARTTLS inside TLS"
    code, text = s.mail("a@example.org")
    assert code == 530, ("mail before AUTH on 465", code, text)
    s.rset()
    code, text = s.docmd(plain)
    assert code == 235, ("AUTH on 465", code, text)
    s.sendmail("alice@example.org", ["postmaster@localhost"], "Subject: port465\r\n\r\nx\r\n")
EOP
wait_for_log 'to=<postmaster@localhost>.*status=sent'
grep -q 'sasl_method=PLAIN, sasl_username=alice' "$TERN_DIR/maillog" || fail "no authenticated submission logged"
# The -o listener: its own certificate, and its restrictions refuse the mail.
echo QUIT | openssl s_client -connect 127.0.0.1:$pother -starttls smtp 2>/dev/null \
	| grep -q 'subject=CN = other.listeners.example' || fail "the -o certificate is not used on port $pother"
python3 - "$pother" <<'EOP' || fail "smtpd_client_restrictions of the -o listener not applied"
import smtplib, sys
with smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=30) as s:
    s.ehlo("c.example")
    s.mail("a@example.org")
    code, text = s.rcpt("postmaster@localhost")
    assert code == 554 and b"5.7.1" in text, (code, text)
EOP
tern_stop

# 2b. The certificate given only as smtpd_tls_chain_files (key and chain in
# one root-only file): the same services run, with that certificate.
cat "$TERN_DIR/key.pem" "$TERN_DIR/cert.pem" > "$TERN_DIR/chain.pem"
chmod 600 "$TERN_DIR/chain.pem"
ternconf -e "smtpd_tls_cert_file =" "smtpd_tls_key_file =" "smtpd_tls_chain_files = $TERN_DIR/chain.pem" \
	|| fail "ternconf -e"
: > "$TERN_DIR/maillog"
tern_start
wait_for_log 'daemon started: service submissions,'
wait_for_log 'daemon started: service submission,'
grep -q 'is off' "$TERN_DIR/maillog" && fail "a service is off with smtpd_tls_chain_files: $(grep 'is off' "$TERN_DIR/maillog")"
greeting 127.0.0.1 "$p465" tls | grep -q '^220 ' || fail "no TLS greeting on $p465 with smtpd_tls_chain_files"
echo QUIT | openssl s_client -connect 127.0.0.1:$p587 -starttls smtp 2>/dev/null \
	| grep -q 'subject=CN = listeners.example' || fail "submission does not use the chain file's certificate"
# A renewed certificate (same file name) counts after tern reload.
cat "$TERN_DIR/other.key" "$TERN_DIR/other.pem" > "$TERN_DIR/chain.new"
chmod 600 "$TERN_DIR/chain.new"
mv "$TERN_DIR/chain.new" "$TERN_DIR/chain.pem"
tern_reload
renewed() {
	echo QUIT | openssl s_client -connect 127.0.0.1:$p587 -starttls smtp 2>/dev/null \
		| grep -q 'subject=CN = other.listeners.example'
}
wait_for "the renewed certificate after tern reload" renewed
tern_stop

# 3. inet_interfaces / inet_protocols, with ::1.
grep -q '^0*1 ' /proc/net/if_inet6 2>/dev/null || { echo "note: no ::1, the IPv6 part is skipped"; pass; }
ternconf -e 'inet_interfaces = loopback-only' 'inet_protocols = ipv6' || fail "ternconf -e"
tern_start
wait_for_log 'daemon started: service submissions,'
wait_for "smtp on [::1]" greeting ::1 "$p25"
refused 127.0.0.1 "$p25" || fail "inet_protocols = ipv6 still listens on 127.0.0.1"
greeting ::1 "$p465" tls | grep -q '^220 ' || fail "no TLS greeting on [::1]:$p465"
tern_stop
ternconf -e 'inet_protocols = all' || fail "ternconf -e"
tern_start
wait_for "smtp on [::1]" greeting ::1 "$p25"
greeting 127.0.0.1 "$p25" >/dev/null || fail "inet_protocols = all does not listen on 127.0.0.1"
greeting 127.0.0.1 "$p587" >/dev/null || fail "submission not on 127.0.0.1 with all"
greeting ::1 "$p587" >/dev/null || fail "submission not on ::1 with all"
tern_stop
ternconf -e 'inet_protocols = ipv4' 'inet_interfaces = 127.0.0.1' || fail "ternconf -e"
tern_start
wait_for "smtp on 127.0.0.1" greeting 127.0.0.1 "$p25"
refused ::1 "$p25" || fail "inet_protocols = ipv4 listens on ::1"
tern_stop
# An explicit list of addresses: only those.
ternconf -e 'inet_protocols = all' 'inet_interfaces = ::1' || fail "ternconf -e"
tern_start
wait_for "smtp on [::1]" greeting ::1 "$p25"
refused 127.0.0.1 "$p25" || fail "inet_interfaces = ::1 listens on 127.0.0.1"
pass
