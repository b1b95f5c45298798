#!/bin/sh
# t_smtpd_sasl_options.sh - smtpd_sasl_security_options (before TLS) and
# smtpd_sasl_tls_security_options (once TLS is on): noplaintext takes PLAIN
# and LOGIN out of EHLO's AUTH line and refuses them; the TLS options
# default to the plain ones; a bad option is a configuration error with
# file and line; smtpd_sasl_authenticated_header puts Postfix's
# "(Authenticated sender: user)" in Received:.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/smtpd_lib.sh"

tern_instance
make_cert
printf 'alice %s\n' "$(openssl passwd -6 secret)" > "$TERN_DIR/sasl_passwd"
TLS="-o smtpd_tls_cert_file=$TERN_DIR/cert.pem -o smtpd_tls_key_file=$TERN_DIR/key.pem"
SASL="-o smtpd_sasl_auth_enable=yes -o smtpd_sasl_type=tern -o smtpd_sasl_password_maps=texthash:$TERN_DIR/sasl_passwd -o smtpd_tls_auth_only=no"

# probe TLS(0/1) EXPECT_MECHS EXPECT_AUTH_CODE [SUBJECT]: EHLO's AUTH line
# (empty: none), the reply to AUTH PLAIN with a good password, and with
# SUBJECT a message sent after a successful AUTH.
probe() {
	python3 - "$SMTPD_PORT" "$@" <<'EOP'
import smtplib, ssl, sys
port, tls, want_mechs, want_code = int(sys.argv[1]), sys.argv[2] == "1", sys.argv[3], int(sys.argv[4])
subject = sys.argv[5] if len(sys.argv) > 5 else None
s = smtplib.SMTP("127.0.0.1", port, timeout=30)
s.ehlo("probe.example")
if tls:
    ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
    s.starttls(context=ctx); s.ehlo("probe.example")
mechs = s.esmtp_features.get("auth", "").strip()
assert mechs == want_mechs, "AUTH offered %r, expected %r" % (mechs, want_mechs)
code, text = s.docmd("AUTH", "PLAIN AGFsaWNlAHNlY3JldA==")
assert code == want_code, "AUTH PLAIN: %d %s, expected %d" % (code, text, want_code)
if subject:
    s.sendmail("alice@example.com", ["someone@elsewhere.example"],
               "Subject: %s\r\n\r\nbody\r\n" % subject)
s.quit()
EOP
}

# Default (noanonymous): PLAIN and LOGIN with and without TLS.
# shellcheck disable=SC2086
smtpd_start $TLS $SASL
probe 0 "PLAIN LOGIN" 235 || fail "default options: PLAIN refused without TLS"
probe 1 "PLAIN LOGIN" 235 "no-auth-header" || fail "default options: PLAIN refused with TLS"
smtpd_stop
f=$(queued_with 'Subject: no-auth-header')
[ -n "$f" ] || fail "authenticated message not queued"
grep -q 'Authenticated sender' "$f" && fail "Authenticated sender: in Received: although the parameter is no"

# noplaintext before TLS, noanonymous after it: plain-text passwords only inside TLS.
# shellcheck disable=SC2086
smtpd_start $TLS $SASL -o 'smtpd_sasl_security_options=noanonymous, noplaintext' \
	-o smtpd_sasl_tls_security_options=noanonymous -o smtpd_sasl_authenticated_header=yes
probe 0 "" 503 || fail "noplaintext: PLAIN still offered or accepted without TLS"
probe 1 "PLAIN LOGIN" 235 "with-auth-header" || fail "TLS options: PLAIN refused with TLS"
smtpd_stop
f=$(queued_with 'Subject: with-auth-header')
[ -n "$f" ] || fail "authenticated message not queued"
grep -q '(Authenticated sender: alice)' "$f" \
	|| fail "no (Authenticated sender: alice) in Received: $(sed -n '/^Received:/,/^[^[:space:]R]/p' "$f")"

# The TLS options default to $smtpd_sasl_security_options: noplaintext everywhere.
# shellcheck disable=SC2086
smtpd_start $TLS $SASL -o smtpd_sasl_security_options=noplaintext
probe 1 "" 503 || fail "noplaintext did not carry over to TLS sessions"
smtpd_stop
grep -q 'AUTH is never offered' "$TERN_DIR/maillog" || fail "no warning that AUTH can never be used"

# A word Postfix does not know is an error naming main.cf and its line.
printf 'smtpd_sasl_security_options = noanonymous, noplain\n' >> "$TERN_DIR/main.cf"
line=$(wc -l < "$TERN_DIR/main.cf")
out=$("$SMTPD_BIN" -c "$TERN_DIR" -l 127.0.0.1:"$(free_port)" 2>&1) && fail "smtpd started with a bad option"
echo "$out" | grep -q "main.cf, line $line: parameter smtpd_sasl_security_options: bad value" \
	|| fail "bad option not reported with file and line: $out"
pass
