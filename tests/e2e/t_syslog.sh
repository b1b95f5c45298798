#!/bin/sh
# t_syslog.sh - with maillog_file empty, Tern's programs log through
# syslog(3) to /dev/log with facility syslog_facility and the ident
# syslog_name/program, like Postfix's postfix/smtpd. Hermetic: the test
# runs smtpd in a private mount namespace (unshare -m) whose /dev is a
# tmpfs holding the few device nodes smtpd needs and a /dev/log socket
# that the test's own listener (syslog_sink.py) owns; the machine's /dev
# and logger are never touched. A facility syslog does not know is a
# configuration error.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/smtpd_lib.sh"

need_root
need_cmd unshare mount python3
unshare -m true 2>/dev/null || skip "unshare -m does not work here"

tern_instance
S=$TERN_DIR/syslog
mkdir -p "$S/olddev"

# run_logged OUT SMTPD-OPTIONS...: start smtpd in the namespace with the
# sink on /dev/log, talk SMTP to it once, stop it; the datagrams end up in
# OUT. The steps wait for their lines in $WATCH (default: OUT), each up
# to TERN_WAIT seconds as wait_for does (a sanitizer build on a loaded
# machine may need more than a few seconds to start smtpd).
run_logged() {
	_out=$1; shift
	_watch=${WATCH:-$_out}
	_port=$(free_port)
	cat > "$S/inner.sh" <<EOS
set -e
mount --make-rprivate /
mount --bind /dev "$S/olddev"
mount -t tmpfs -o mode=755 tern-test-dev /dev
for n in null zero random urandom; do : > /dev/\$n; mount --bind "$S/olddev/\$n" /dev/\$n; done
ln -s /proc/self/fd /dev/fd
python3 "$TERN_TOP/tests/e2e/syslog_sink.py" /dev/log "$_out" $((TERN_WAIT * 4)) &
sink=\$!
i=0; while [ ! -S /dev/log ] && [ \$i -lt $((TERN_WAIT * 10)) ]; do sleep 0.1; i=\$((i + 1)); done
"$SMTPD_BIN" -c "$TERN_DIR" -o myhostname=$MYHOST -l 127.0.0.1:$_port $* >"$S/smtpd.out" 2>&1 &
smtpd=\$!
i=0; while ! grep -q 'daemon started' "$_watch" 2>/dev/null && [ \$i -lt $((TERN_WAIT * 10)) ]; do sleep 0.1; i=\$((i + 1)); done
python3 -c 'import smtplib, sys; s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=30); s.ehlo("probe.example"); s.docmd("AUTH", "PLAIN AHUAd3Jvbmc="); s.docmd("MAIL", "FROM:<bad"); s.docmd("MAIL", "FROM:<a@example.org>"); s.docmd("RCPT", "TO:<victim@example.com>"); s.quit()' $_port || true
i=0; while ! grep -q 'disconnect from' "$_watch" 2>/dev/null && [ \$i -lt $((TERN_WAIT * 10)) ]; do sleep 0.1; i=\$((i + 1)); done
kill \$smtpd; wait \$smtpd || true
kill \$sink; wait \$sink || true
EOS
	unshare -m sh "$S/inner.sh" || fail "namespace run failed: $(cat "$S/smtpd.out")"
	[ -n "${WATCH:-}" ] || [ -s "$_out" ] || fail "nothing reached /dev/log: $(cat "$S/smtpd.out")"
}

# A system installation logs to syslog: maillog_file is empty by default
# and the main.cf that make install puts in place does not set it.
[ -z "$(ternconf -c "$TERN_DIR" -d -h maillog_file)" ] || fail "maillog_file has a default"
grep -Eq '^[[:space:]]*maillog_file' "$TERN_TOP/conf/main.cf" && fail "conf/main.cf sets maillog_file"

# Defaults: mail facility (mail.info is <22>, mail.warning <20>), ident
# tern/smtpd; the lines fail2ban's postfix filter reads (a relay attempt
# from outside mynetworks, a failed AUTH) reach syslog whole.
printf 'u %s\n' "$(openssl passwd -6 right 2>/dev/null || echo x)" > "$TERN_DIR/sasl_passwd"
run_logged "$S/default.log" -o maillog_file= -o mynetworks=192.0.2.0/24 \
	-o smtpd_sasl_auth_enable=yes -o smtpd_sasl_type=tern \
	-o "smtpd_sasl_password_maps=texthash:$TERN_DIR/sasl_passwd" \
	-o smtpd_tls_auth_only=no -o smtpd_sasl_security_options=noanonymous
grep -Eq '^<22>.* tern/smtpd\[[0-9]+\]: daemon started' "$S/default.log" \
	|| fail "no mail.info line from tern/smtpd: $(head -5 "$S/default.log")"
grep -Eq '^<22>.* tern/smtpd\[[0-9]+\]: connect from localhost\[127\.0\.0\.1\]' "$S/default.log" \
	|| fail "session not logged to syslog: $(cat "$S/default.log")"
grep -Eq '^<22>.* tern/smtpd\[[0-9]+\]: NOQUEUE: reject: RCPT from localhost\[127\.0\.0\.1\]: 554 5\.7\.1 <victim@example\.com>: Relay access denied; from=<a@example\.org> to=<victim@example\.com> proto=ESMTP helo=<probe\.example>$' \
	"$S/default.log" || fail "no mail.info reject line: $(cat "$S/default.log")"
grep -Eq '^<20>.* tern/smtpd\[[0-9]+\]: warning: localhost\[127\.0\.0\.1\]: SASL PLAIN authentication failed: ' \
	"$S/default.log" || fail "no mail.warning AUTH failure line: $(cat "$S/default.log")"
grep -Eq '^<22>.* tern/smtpd\[[0-9]+\]: disconnect from localhost\[127\.0\.0\.1\] ehlo=1 auth=0/1 mail=1/2 rcpt=0/1 quit=1 commands=3/6$' \
	"$S/default.log" || fail "no Postfix-style disconnect line: $(cat "$S/default.log")"

# syslog_facility = local3, syslog_name = mx2 (from main.cf): local3.info is <158>.
sed -i '/^maillog_file/d' "$TERN_DIR/main.cf"
cat >> "$TERN_DIR/main.cf" <<EOF2
syslog_facility = local3
syslog_name = mx2
EOF2
run_logged "$S/local3.log"
grep -Eq '^<158>.* mx2/smtpd\[[0-9]+\]: daemon started' "$S/local3.log" \
	|| fail "no local3.info line from mx2/smtpd: $(head -5 "$S/local3.log")"
grep -q "tern/smtpd" "$S/local3.log" && fail "ident tern/smtpd despite syslog_name = mx2"
grep -Evq '^<15[0-9]>' "$S/local3.log" && fail "a line outside local3: $(grep -Ev '^<15[0-9]>' "$S/local3.log")"

# With maillog_file set, nothing goes to syslog, and the file uses syslog_name too.
: > "$TERN_DIR/maillog"
WATCH=$TERN_DIR/maillog run_logged "$S/file.log" -o "maillog_file=$TERN_DIR/maillog"
grep -q 'mx2/smtpd\[[0-9]*\]: connect from' "$TERN_DIR/maillog" || fail "maillog_file lines do not use syslog_name"
[ -s "$S/file.log" ] && fail "lines went to syslog although maillog_file is set: $(cat "$S/file.log")"

# A facility syslog does not know is an error with file and line.
printf 'syslog_facility = mail2\n' >> "$TERN_DIR/main.cf"
line=$(wc -l < "$TERN_DIR/main.cf")
out=$("$SMTPD_BIN" -c "$TERN_DIR" -l 127.0.0.1:"$(free_port)" 2>&1) && fail "smtpd started with a bad facility"
echo "$out" | grep -q "main.cf, line $line: parameter syslog_facility: bad value" \
	|| fail "bad facility not reported with file and line: $out"
pass
