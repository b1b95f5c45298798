#!/bin/sh
# t_smtpd_tls.sh - STARTTLS and implicit TLS with a certificate the test
# makes: plaintext injection discarded, TLS 1.2+ only, session resumption,
# smtpd_tls_security_level = encrypt, the Received: header names the TLS
# version and cipher, and real clients (swaks, Python smtplib) over TLS.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/smtpd_lib.sh"

tern_instance
make_cert
TLS="-o smtpd_tls_cert_file=$TERN_DIR/cert.pem -o smtpd_tls_key_file=$TERN_DIR/key.pem"

# shellcheck disable=SC2086
smtpd_start $TLS
dialog starttls.dlg
f=$(queued_with 'Subject: over-tls')
[ -n "$f" ] || fail "message over TLS not queued"
grep -q 'tls_version=TLSv1\.[23]' "$f" || fail "no tls_version attribute: $(cat "$f")"
grep -Eq '^N tls_cipher=.+' "$f" || fail "no tls_cipher attribute"
grep -A3 '^Received:' "$f" | grep -q 'TLSv1\.[23]' || fail "Received: header lacks the TLS version: $(grep -A3 '^Received:' "$f")"
grep -q 'discarding .* bytes sent before the TLS handshake' "$TERN_DIR/maillog" \
	|| fail "no log line about the discarded plaintext"
[ "$(queued_from 'injected@example.net')" = 0 ] || fail "injected command ran"

# Old protocols are refused; TLS 1.2 and 1.3 work.
need_cmd openssl
echo QUIT | openssl s_client -connect 127.0.0.1:$SMTPD_PORT -starttls smtp -tls1_1 >/dev/null 2>&1 \
	&& fail "TLS 1.1 accepted"
echo QUIT | openssl s_client -connect 127.0.0.1:$SMTPD_PORT -starttls smtp -tls1_2 2>/dev/null \
	| grep -q 'Protocol *: TLSv1.2' || fail "TLS 1.2 refused"
# Resumption: a saved session is reused by the next connection.
echo QUIT | openssl s_client -connect 127.0.0.1:$SMTPD_PORT -starttls smtp -tls1_2 \
	-sess_out "$TERN_DIR/sess" >/dev/null 2>&1
echo QUIT | openssl s_client -connect 127.0.0.1:$SMTPD_PORT -starttls smtp -tls1_2 \
	-sess_in "$TERN_DIR/sess" 2>/dev/null | grep -q '^Reused' || fail "TLS session not resumed"

# Python smtplib with STARTTLS.
python3 - "$SMTPD_PORT" <<'EOP' || fail "smtplib over STARTTLS"
import smtplib, ssl, sys
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
with smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=30) as s:
    s.starttls(context=ctx)
    s.ehlo("py.example")
    s.sendmail("py@example.org", ["postmaster@localhost"], "Subject: smtplib-tls\r\n\r\nhi\r\n")
EOP
[ "$(queued_count 'Subject: smtplib-tls')" = 1 ] || fail "smtplib message not queued"
if command -v swaks >/dev/null 2>&1; then
	swaks --server 127.0.0.1:$SMTPD_PORT --tls --from sw@example.org --to postmaster@localhost \
		--header 'Subject: swaks-tls' --body hi >"$TERN_DIR/swaks.out" 2>&1 \
		|| { cat "$TERN_DIR/swaks.out"; fail "swaks --tls"; }
	[ "$(queued_count 'Subject: swaks-tls')" = 1 ] || fail "swaks message not queued"
fi
smtpd_stop

# encrypt: no mail before STARTTLS.
# shellcheck disable=SC2086
smtpd_start $TLS -o smtpd_tls_security_level=encrypt
dialog tls_required.dlg
smtpd_stop

# Implicit TLS (the submissions port 465 style).
# shellcheck disable=SC2086
smtpd_start $TLS -o smtpd_tls_wrappermode=yes
dialog implicit_tls.dlg
f=$(queued_with 'Subject: implicit-tls')
[ -n "$f" ] && grep -q 'tls_version=TLSv1\.3' "$f" || fail "implicit TLS message"
smtpd_stop

# smtpd_tls_chain_files: one file holding the key and its certificate chain.
cat "$TERN_DIR/key.pem" "$TERN_DIR/cert.pem" > "$TERN_DIR/chain.pem"
smtpd_start -o "smtpd_tls_chain_files=$TERN_DIR/chain.pem"
echo QUIT | openssl s_client -connect 127.0.0.1:$SMTPD_PORT -starttls smtp 2>/dev/null \
	| grep -q "subject=CN = $MYHOST" || fail "certificate from smtpd_tls_chain_files not used"
smtpd_stop

# A key that does not match the certificate: no TLS, and smtpd says why.
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=other" \
	-keyout "$TERN_DIR/other.key" -out "$TERN_DIR/other.pem" >/dev/null 2>&1
smtpd_start -o "smtpd_tls_cert_file=$TERN_DIR/cert.pem" -o "smtpd_tls_key_file=$TERN_DIR/other.key"
grep -q 'TLS is off: .*' "$TERN_DIR/maillog" || fail "no log line about the unusable key"
smtpd_stop

# No certificate, encrypt asked: smtpd refuses to start rather than run without TLS.
SMTPD_PORT=$(free_port)
if "$SMTPD_BIN" -c "$TERN_DIR" -l 127.0.0.1:$SMTPD_PORT -o smtpd_tls_security_level=encrypt \
	>"$TERN_DIR/notls.out" 2>&1; then
	fail "smtpd started with encrypt and no certificate"
fi
pass
