#!/bin/sh
# t_smtpd_auth_swaks.sh - SMTP AUTH through Tern's smtpd with swaks as the
# client, over STARTTLS with a certificate made here: first against a
# real Dovecot (smtpd_sasl_type = dovecot), then against the built-in
# backend (smtpd_sasl_type = tern, crypt(3) hashes in a hash: map made by
# ternmap). Good passwords get 235 and the log names the user; bad ones
# get 535; AUTH is not offered before STARTTLS. Runs as root.
here=$(cd "$(dirname "$0")" && pwd)
[ -f "$here/lib.sh" ] || { echo "skip: tests/e2e/lib.sh not there yet"; exit 77; }
. "$here/lib.sh"
. "$here/dovecot.sh"

need_root
need_cmd swaks openssl
[ -x "$TERN_TOP/stage/smtpd" ] || skip "smtpd is not built"
why=$(dc_available) || skip "$why"

dc=$(mktemp -d /tmp/tern-t-auth-dc.XXXXXX)
at_cleanup "dc_stop '$dc'; rm -rf '$dc'"
dc_start "$dc" || fail "dovecot did not start"

tern_instance
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost \
	-keyout "$TERN_DIR/key.pem" -out "$TERN_DIR/cert.pem" >/dev/null 2>&1 ||
	fail "openssl could not make a certificate"
chmod 644 "$TERN_DIR/key.pem"	# the instance's smtpd runs as its mail_owner
ternconf -e "smtpd_tls_cert_file = $TERN_DIR/cert.pem" \
	"smtpd_tls_key_file = $TERN_DIR/key.pem" \
	"smtpd_tls_security_level = may" \
	"smtpd_tls_auth_only = yes" \
	"smtpd_sasl_auth_enable = yes" \
	"smtpd_sasl_type = dovecot" \
	"smtpd_sasl_path = $DC_SOCK" || fail "ternconf -e"
tern_start
wait_for_port "$TERN_PORT"

# swaks_auth WANT MECH USER PASS: one authenticated submission.
swaks_auth() {
	_want=$1 _mech=$2 _user=$3 _pass=$4
	_out=$(swaks --server "127.0.0.1:$TERN_PORT" --tls --auth "$_mech" \
		--auth-user "$_user" --auth-password "$_pass" \
		--from "$_user@localhost" --to "root@localhost" \
		--header "Subject: auth $_mech $_user" --timeout 30 2>&1)
	echo "$_out" | grep -Eq "^<~?\*? +$_want" ||
		{ echo "$_out" >&2; fail "AUTH $_mech as $_user/$_pass: no $_want reply"; }
}

# Before STARTTLS: no AUTH offered (smtpd_tls_auth_only).
out=$(swaks --server "127.0.0.1:$TERN_PORT" --quit-after EHLO 2>&1)
echo "$out" | grep -q '250.AUTH' && fail "AUTH offered without TLS"

swaks_auth 235 PLAIN alice secret
swaks_auth 235 LOGIN bob hunter2
swaks_auth 535 PLAIN alice wrong
swaks_auth 535 LOGIN nosuchuser secret
wait_for_log 'sasl_username=alice'
wait_for_log 'sasl_username=bob'

# The built-in backend: same users, hashes in a map of our own.
tern_stop
hash_alice=$(python3 -c 'import crypt; print(crypt.crypt("s3cret", crypt.mksalt(crypt.METHOD_SHA512)))' 2>/dev/null)
[ -n "$hash_alice" ] || fail "could not hash a password"
printf 'carol %s\n' "$hash_alice" > "$TERN_DIR/sasl_passwd"
ternmap "hash:$TERN_DIR/sasl_passwd" || fail "ternmap"
ternconf -e "smtpd_sasl_type = tern" \
	"smtpd_sasl_password_maps = hash:$TERN_DIR/sasl_passwd" || fail "ternconf -e"
tern_start
wait_for_port "$TERN_PORT"
swaks_auth 235 PLAIN carol s3cret
swaks_auth 235 LOGIN carol s3cret
swaks_auth 535 PLAIN carol secret
swaks_auth 535 PLAIN alice secret
wait_for_log 'sasl_username=carol'
pass
