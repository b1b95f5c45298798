#!/bin/sh
# t_milter_opendkim.sh - Debian's OpenDKIM as a real milter on a running
# instance (tern init, tern start, loopback only):
#  - an OpenDKIM signer for sign.test, then an OpenDKIM verifier (public
#    key from a file, no DNS) in smtpd_milters and in non_smtpd_milters;
#  - (a) mail from sign.test sent over SMTP by a client in mynetworks and
#    (b) mail from sign.test submitted with sendmail are each delivered
#    with a DKIM-Signature (d=sign.test) that verifies twice: offline with
#    opendkim -t on the delivered file, and by the verifier, which saw the
#    signer's edit (its Authentication-Results: verify.test; dkim=pass is
#    in the delivered mail);
#  - with a milter that replaces the body between the signer and the
#    verifier (or changes the signed Subject:), the verifier says
#    dkim=fail and opendkim -t fails too: the checks above are real.
# Runs as root (the OpenDKIM daemons and their key files; Tern's daemons
# drop to mail_owner, so the milter sockets are mode 666 in a 755 dir).
here=$(dirname "$0")
[ -f "$here/lib.sh" ] || { echo "skip: tests/e2e/lib.sh is missing"; exit 77; }
. "$here/lib.sh"
. "$here/milterlib.sh"
need_root
for p in sendmail terndrop pickup qmgr local smtpd; do
	[ -x "$TERN_TOP/stage/$p" ] || skip "$p is not built"
done

tern_instance
ml_init
ml_dkim_sign sign sign.test
keys=$ML_DIR/sign/keys
ml_dkim_verify ver "$keys" verify.test
ml_act tamper 'replbody:tampered body\r\n'
ml_act tamphdr 'chgheader:Subject:1:changed after signing'
sign=$(ml_sock sign) ver=$(ml_sock ver)
ternconf -e "mynetworks = 127.0.0.0/8" "smtpd_milters = $sign, $ver" \
	"non_smtpd_milters = $sign, $ver" || fail "ternconf -e"
tern_start

# send_smtp FROM RCPT SUBJECT: one message over SMTP from 127.0.0.1.
send_smtp() { smtp_send "$1" "$2" "$3" >/dev/null || fail "SMTP: $1 -> $2 refused"; }
# mail_of USER: the only message for USER, once delivered.
mail_of() { wait_for_mail "$1"; tern_newest_mail "$1"; }
# signed_ok FILE WHAT: FILE carries sign.test's signature, the verifier's
# dkim=pass, and verifies offline.
signed_ok() {
	ml_headers "$1" | grep -Eq '^DKIM-Signature:.* d=sign\.test;' ||
		{ cat "$1" >&2; fail "$2: no DKIM-Signature for sign.test"; }
	ml_headers "$1" | grep -Eq '^DKIM-Signature:.* s=test;' ||
		{ cat "$1" >&2; fail "$2: the signature does not name selector test"; }
	ml_headers "$1" | grep -Eq '^Authentication-Results: verify\.test; dkim=pass .*header\.d=sign\.test' ||
		{ cat "$1" >&2; fail "$2: the verifier did not say dkim=pass"; }
	_out=$(ml_dkim_check "$keys" "$1") ||
		{ echo "$_out" >&2; cat "$1" >&2; fail "$2: opendkim -t does not verify the delivered mail"; }
	echo "$_out" | grep -q 'd=sign\.test' || fail "$2: opendkim -t checked another signature: $_out"
}

# --- (a) SMTP from a client in mynetworks.
send_smtp alice@sign.test s1@localhost "smtp-signed"
m=$(mail_of s1)
grep -q '^Subject: smtp-signed' "$m" || fail "(a): not the message sent"
signed_ok "$m" "(a) SMTP"

# --- (b) sendmail.
printf 'From: bob@sign.test\nTo: n1@localhost\nSubject: sendmail-signed\n\nsigned by the milter\non two lines\n' |
	sendmail -i -f bob@sign.test n1@localhost || fail "sendmail exited $?"
m=$(mail_of n1)
grep -q '^Subject: sendmail-signed' "$m" || fail "(b): not the message sent"
signed_ok "$m" "(b) sendmail"

# Mail from another domain is not signed (the signer only signs its own),
# and the verifier says so.
send_smtp carol@other.test o1@localhost "not-signed"
m=$(mail_of o1)
ml_headers "$m" | grep -q '^DKIM-Signature:' && { cat "$m" >&2; fail "mail from other.test was signed"; }
ml_headers "$m" | grep -Eq '^Authentication-Results: verify\.test; dkim=none' ||
	{ cat "$m" >&2; fail "no dkim=none for unsigned mail"; }

# --- Modified after signing: the verification fails.
# failed_ok FILE WHAT: signed, but the verifier says dkim=fail and
# opendkim -t does not verify it.
failed_ok() {
	ml_headers "$1" | grep -Eq '^DKIM-Signature:.* d=sign\.test;' ||
		{ cat "$1" >&2; fail "$2: no DKIM-Signature for sign.test"; }
	ml_headers "$1" | grep -Eq '^Authentication-Results: verify\.test; dkim=fail ' ||
		{ cat "$1" >&2; fail "$2: the verifier did not say dkim=fail"; }
	ml_headers "$1" | grep -q 'dkim=pass' && { cat "$1" >&2; fail "$2: dkim=pass after tampering"; }
	_out=$(ml_dkim_check "$keys" "$1") && { echo "$_out" >&2; fail "$2: opendkim -t verified a modified message"; }
	return 0
}
ternconf -e "smtpd_milters = $sign, $(ml_sock tamper), $ver" \
	"non_smtpd_milters = $sign, $(ml_sock tamphdr), $ver" || fail "ternconf -e"
tern_reload
send_smtp alice@sign.test t1@localhost "smtp-tampered"
m=$(mail_of t1)
grep -q '^tampered body' "$m" || { cat "$m" >&2; fail "the body was not replaced"; }
failed_ok "$m" "body replaced after signing"
ml_wait_log tamper '^act .*replbody' || fail "the tamper milter did not act"

printf 'From: bob@sign.test\nTo: t2@localhost\nSubject: sendmail-tampered\n\nbody\n' |
	sendmail -i -f bob@sign.test t2@localhost || fail "sendmail exited $?"
m=$(mail_of t2)
grep -q '^Subject: changed after signing' "$m" || { cat "$m" >&2; fail "the Subject was not changed"; }
failed_ok "$m" "Subject changed after signing"

pass
