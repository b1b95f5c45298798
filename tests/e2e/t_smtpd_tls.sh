#!/bin/sh
# t_smtpd_tls.sh - STARTTLS and implicit TLS with a certificate the test
# makes: plaintext injection discarded; TLS 1.0 and 1.1 refused by the
# server even to a client that offers them, TLS 1.2 and 1.3 accepted,
# smtpd_tls_protocols = >=TLSv1.3; session resumption on TLS 1.2 and 1.3;
# smtpd_tls_security_level = encrypt; the Received: header names the TLS
# version and cipher (ESMTPS); chain files; real clients (swaks, Python
# smtplib) over TLS.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/smtpd_lib.sh"

tern_instance
make_cert
TLS="-o smtpd_tls_cert_file=$TERN_DIR/cert.pem -o smtpd_tls_key_file=$TERN_DIR/key.pem"

# shellcheck disable=SC2086
smtpd_start $TLS -o smtpd_tls_loglevel=1
dialog starttls.dlg
f=$(queued_with 'Subject: over-tls')
[ -n "$f" ] || fail "message over TLS not queued"
grep -q 'tls_version=TLSv1\.[23]' "$f" || fail "no tls_version attribute: $(cat "$f")"
grep -Eq '^N tls_cipher=.+' "$f" || fail "no tls_cipher attribute"
cipher=$(sed -n 's/^N tls_cipher=//p' "$f")
version=$(sed -n 's/^N tls_version=//p' "$f")
received=$(sed -n '/^Received:/,/^[^[:space:]R]/p' "$f")
echo "$received" | grep -Fq "(using $version with cipher $cipher)" \
	|| fail "Received: header lacks the TLS version and cipher: $received"
echo "$received" | grep -q 'with ESMTPS id' || fail "Received: header does not say ESMTPS: $received"
grep -q 'discarding .* bytes sent before the TLS handshake' "$TERN_DIR/maillog" \
	|| fail "no log line about the discarded plaintext"
[ "$(queued_from 'injected@example.net')" = 0 ] || fail "injected command ran"

# Old protocols are refused by smtpd itself (the client offers them at
# security level 0, so only the server can say no); TLS 1.2 and 1.3 work.
need_cmd openssl
for v in tls1 tls1_1; do
	out=$(echo QUIT | openssl s_client -connect 127.0.0.1:$SMTPD_PORT -starttls smtp -$v \
		-cipher 'DEFAULT:@SECLEVEL=0' 2>&1)
	echo "$out" | grep -q 'alert protocol version' || fail "-$v was not refused by the server: $out"
done
grep -q 'SSL_accept error from .*unsupported protocol' "$TERN_DIR/maillog" \
	|| fail "no log line about the refused protocol"
# Resumption, TLS 1.2 (session id or ticket) and TLS 1.3 (ticket): the
# second connection resumes the first one's session.
python3 - "$SMTPD_PORT" <<'EOP' || fail "TLS session resumption"
import socket, ssl, sys
port = int(sys.argv[1])
def reply(f):
    while True:
        line = f.readline()
        if line[3:4] != b"-":
            return line
def session(ctx, sess):
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    f = s.makefile("rb", buffering=0)
    reply(f); s.sendall(b"EHLO resume.example\r\n"); reply(f)
    s.sendall(b"STARTTLS\r\n")
    assert reply(f).startswith(b"220 "), "STARTTLS refused"
    t = ctx.wrap_socket(s, session=sess)
    tf = t.makefile("rb", buffering=0)
    t.sendall(b"EHLO resume.example\r\n"); reply(tf)
    t.sendall(b"QUIT\r\n"); reply(tf)
    r = (t.version(), t.session, t.session_reused)
    t.close()
    return r
for v in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ctx.maximum_version = v
    version, first, reused = session(ctx, None)
    assert not reused, (v, "first session reused")
    version2, _, reused = session(ctx, first)
    assert reused, (v, version, "not resumed")
    print(version, "resumed")
EOP
grep -q 'TLS connection established .*TLSv1\.3 .*(resumed)' "$TERN_DIR/maillog" \
	|| fail "smtpd did not log the resumed TLS 1.3 session"

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

# Weak ciphers are never agreed, even to a client that offers nothing else.
# shellcheck disable=SC2086
smtpd_start $TLS
for weak in 'aNULL:eNULL' 'RC4:3DES:DES' 'EXPORT:LOW:MD5'; do
	out=$(echo QUIT | openssl s_client -connect 127.0.0.1:$SMTPD_PORT -starttls smtp -tls1_2 \
		-cipher "$weak:@SECLEVEL=0" 2>&1)
	echo "$out" | grep -Eq 'Cipher is \(NONE\)|no cipher|handshake failure|no ciphers available' \
		|| fail "a weak cipher ($weak) was agreed: $(echo "$out" | grep -i cipher)"
done
smtpd_stop

# smtpd_tls_security_level = none: no STARTTLS even with a certificate.
# shellcheck disable=SC2086
smtpd_start $TLS -o smtpd_tls_security_level=none
python3 - "$SMTPD_PORT" <<'EOP' || fail "STARTTLS offered or accepted with smtpd_tls_security_level = none"
import smtplib, sys
with smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=30) as s:
    s.ehlo("c.example")
    assert not s.has_extn("starttls"), "STARTTLS offered"
    code, _ = s.docmd("STARTTLS")
    assert code >= 500, code
    s.sendmail("a@example.org", ["postmaster@localhost"], "Subject: level-none\r\n\r\nx\r\n")
EOP
smtpd_stop

# smtpd_tls_protocols = >=TLSv1.3: TLS 1.2 is refused too.
# shellcheck disable=SC2086
smtpd_start $TLS -o 'smtpd_tls_protocols=>=TLSv1.3'
out=$(echo QUIT | openssl s_client -connect 127.0.0.1:$SMTPD_PORT -starttls smtp -tls1_2 2>&1)
echo "$out" | grep -q 'alert protocol version' || fail "TLS 1.2 accepted with smtpd_tls_protocols = >=TLSv1.3"
echo QUIT | openssl s_client -connect 127.0.0.1:$SMTPD_PORT -starttls smtp -tls1_3 2>/dev/null \
	| grep -q 'TLSv1.3' || fail "TLS 1.3 refused with smtpd_tls_protocols = >=TLSv1.3"
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

# A certificate signed by a CA of the test's own: the server sends the
# chain that follows the certificate in the file (cert file, chain file).
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=Tern Test CA" \
	-keyout "$TERN_DIR/ca.key" -out "$TERN_DIR/ca.pem" >/dev/null 2>&1 || fail "openssl: CA"
openssl req -newkey rsa:2048 -nodes -subj "/CN=leaf.$MYHOST" -keyout "$TERN_DIR/leaf.key" \
	-out "$TERN_DIR/leaf.csr" >/dev/null 2>&1 || fail "openssl: request"
openssl x509 -req -in "$TERN_DIR/leaf.csr" -CA "$TERN_DIR/ca.pem" -CAkey "$TERN_DIR/ca.key" \
	-CAcreateserial -days 2 -out "$TERN_DIR/leaf.pem" >/dev/null 2>&1 || fail "openssl: sign"
chmod 644 "$TERN_DIR/leaf.key"
cat "$TERN_DIR/leaf.pem" "$TERN_DIR/ca.pem" > "$TERN_DIR/leaf-chain.pem"
cat "$TERN_DIR/leaf.key" "$TERN_DIR/leaf.pem" "$TERN_DIR/ca.pem" > "$TERN_DIR/leaf-all.pem"
for opts in "-o smtpd_tls_cert_file=$TERN_DIR/leaf-chain.pem -o smtpd_tls_key_file=$TERN_DIR/leaf.key" \
	"-o smtpd_tls_chain_files=$TERN_DIR/leaf-all.pem"; do
	# shellcheck disable=SC2086
	smtpd_start $opts
	out=$(echo QUIT | openssl s_client -connect 127.0.0.1:$SMTPD_PORT -starttls smtp -showcerts \
		-CAfile "$TERN_DIR/ca.pem" 2>/dev/null)
	echo "$out" | grep -q "1 s:CN = Tern Test CA" || fail "no CA certificate in the chain sent ($opts)"
	echo "$out" | grep -q "Verify return code: 0 (ok)" || fail "the chain does not verify ($opts)"
	smtpd_stop
done

# A key that does not match the certificate: no TLS, and smtpd says why.
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=other" \
	-keyout "$TERN_DIR/other.key" -out "$TERN_DIR/other.pem" >/dev/null 2>&1
smtpd_start -o "smtpd_tls_cert_file=$TERN_DIR/cert.pem" -o "smtpd_tls_key_file=$TERN_DIR/other.key"
wait_for_log 'TLS is off: ' || fail "no log line about the unusable key"
smtpd_stop

# A damaged certificate in the chain: refused as a whole, not cut short.
{ cat "$TERN_DIR/cert.pem"; printf -- '-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n'; } \
	> "$TERN_DIR/damaged.pem"
: > "$TERN_DIR/maillog"
smtpd_start -o "smtpd_tls_cert_file=$TERN_DIR/damaged.pem" -o "smtpd_tls_key_file=$TERN_DIR/key.pem"
wait_for_log 'TLS is off: cannot load certificate chain from .*damaged.pem' \
	|| fail "a damaged chain was accepted: $(grep -i tls "$TERN_DIR/maillog")"
smtpd_stop

# No certificate, encrypt asked: smtpd refuses to start rather than run without TLS.
SMTPD_PORT=$(free_port)
if "$SMTPD_BIN" -c "$TERN_DIR" -l 127.0.0.1:$SMTPD_PORT -o smtpd_tls_security_level=encrypt \
	>"$TERN_DIR/notls.out" 2>&1; then
	fail "smtpd started with encrypt and no certificate"
fi
pass
