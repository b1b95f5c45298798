#!/bin/sh
# t_smtpd_auth.sh - SMTP AUTH PLAIN and LOGIN in smtpd: only over TLS by
# default (smtpd_tls_auth_only = yes, Tern's default), relaying for authenticated clients,
# broken_sasl_auth_clients, AUTH required on a submission service, failed
# attempts logged (fail2ban) and slowed down; with the built-in crypt(3)
# map backend and, when Dovecot is installed and we are root, against a
# real Dovecot started by the test.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/smtpd_lib.sh"

tern_instance
make_cert
need_cmd openssl
python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.2", 0))' 2>/dev/null \
	|| skip "cannot use 127.0.0.2 as a source address"
printf 'alice %s\n' "$(openssl passwd -6 secret)" > "$TERN_DIR/sasl_passwd"
TLS="-o smtpd_tls_cert_file=$TERN_DIR/cert.pem -o smtpd_tls_key_file=$TERN_DIR/key.pem"
SASL="-o smtpd_sasl_auth_enable=yes -o smtpd_sasl_type=tern -o smtpd_sasl_password_maps=texthash:$TERN_DIR/sasl_passwd"

# shellcheck disable=SC2086
smtpd_start $TLS $SASL
DIALOG_SOURCE=127.0.0.2 dialog auth.dlg
f=$(queued_with 'Subject: authenticated-relay')
[ -n "$f" ] || fail "authenticated relay not queued"
grep -q 'sasl_username=alice' "$f" || fail "no sasl_username in the queue file"
grep -q 'client=unknown\[127\.0\.0\.2\], sasl_method=LOGIN, sasl_username=alice' "$TERN_DIR/maillog" \
	|| fail "no log line with the SASL user"
grep -q 'warning: unknown\[127\.0\.0\.2\]: SASL PLAIN authentication failed' "$TERN_DIR/maillog" \
	|| fail "no fail2ban-style line for the failed AUTH"
# Failures are slowed down: a second wrong password takes noticeably longer.
python3 - "$SMTPD_PORT" <<'EOP' || fail "failed AUTH attempts are not slowed down"
import smtplib, ssl, sys, time
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=60, source_address=("127.0.0.2", 0))
s.starttls(context=ctx); s.ehlo("x")
times = []
for i in range(3):
    t = time.time()
    code, _ = s.docmd("AUTH", "PLAIN AGFsaWNlAHdyb25n")
    times.append(time.time() - t)
    assert code == 535, code
assert times[2] > 1.5, times
EOP
smtpd_stop

# shellcheck disable=SC2086
smtpd_start $SASL -o smtpd_tls_auth_only=no -o broken_sasl_auth_clients=yes
dialog auth_plain_text.dlg
smtpd_stop

# smtpd_client_auth_rate_limit: the third AUTH from 127.0.0.2 in the window is refused.
# shellcheck disable=SC2086
smtpd_start $SASL -o smtpd_tls_auth_only=no -o smtpd_client_auth_rate_limit=2
DIALOG_SOURCE=127.0.0.2 dialog auth_rate_limit.dlg
dialog auth_rate_exempt.dlg
grep -q 'warning: AUTH command rate limit exceeded: 3 from unknown\[127\.0\.0\.2\] for service smtp' \
	"$TERN_DIR/maillog" || fail "no AUTH rate log line"
smtpd_stop

# A submission service as ternd starts it: the service's auth column says "required".
# shellcheck disable=SC2086
TERN_AUTH=required smtpd_start $SASL -o smtpd_tls_auth_only=no
DIALOG_SOURCE=127.0.0.2 dialog auth_required.dlg
smtpd_stop
unset TERN_AUTH

# Dovecot's authentication protocol, against a real Dovecot.
. "$(dirname "$0")/dovecot.sh"
if dc_available >/dev/null; then
	d=$TERN_DIR/dovecot
	at_cleanup "dc_stop '$d'"
	dc_start "$d" || fail "dovecot did not start"
	# shellcheck disable=SC2086
	smtpd_start $TLS -o smtpd_sasl_auth_enable=yes -o smtpd_sasl_type=dovecot \
		-o "smtpd_sasl_path=$DC_SOCK" -o smtpd_tls_auth_only=yes
	DIALOG_SOURCE=127.0.0.2 dialog auth.dlg
	smtpd_stop
fi
pass
