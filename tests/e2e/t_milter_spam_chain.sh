#!/bin/sh
# t_milter_spam_chain.sh - three of Debian's milters in one smtpd_milters
# chain on a running instance (tern init, tern start, loopback only):
# OpenDKIM signing for sign.test, OpenDMARC, spamass-milter with spamd
# (local rules only, GTUBE):
#  - a clean message from sign.test is delivered signed (opendkim -t
#    verifies it), with OpenDMARC's Authentication-Results (dmarc=none
#    for a .test domain, which has no DMARC record) and spamass-milter's
#    X-Spam-Status: No and no X-Spam-Flag: YES;
#  - a GTUBE message is delivered tagged X-Spam-Flag: YES when
#    spamass-milter runs without -r;
#  - with -r 15 the GTUBE message is refused at the end of DATA with
#    spamass-milter's 5xx reply, which the client sees, and nothing is
#    delivered; a clean message still goes through.
# Runs as root (the Debian daemons; Tern's daemons drop to mail_owner,
# so the milter sockets are mode 666 in a 755 dir).
here=$(dirname "$0")
[ -f "$here/lib.sh" ] || { echo "skip: tests/e2e/lib.sh is missing"; exit 77; }
. "$here/lib.sh"
. "$here/milterlib.sh"
need_root
for p in qmgr local smtpd; do
	[ -x "$TERN_TOP/stage/$p" ] || skip "$p is not built"
done

tern_instance
ml_init
ml_dkim_sign sign sign.test
keys=$ML_DIR/sign/keys
ml_dmarc dmarc dmarc.test
ml_spamd spamd
ml_spamass spam spamd
ternconf -e "mynetworks = 127.0.0.0/8" \
	"smtpd_milters = $(ml_sock sign), $(ml_sock dmarc), $(ml_sock spam)" || fail "ternconf -e"
tern_start

gtube='XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X'
# send FROM RCPT SUBJECT BODY: one message over SMTP from 127.0.0.1;
# prints the reply to the end of DATA ("CODE TEXT"), 0 only for 250.
send() {
	python3 - "$TERN_PORT" "$@" <<'EOF'
import smtplib, sys
port, sender, rcpt, subject, body = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
msg = "From: %s\r\nTo: %s\r\nSubject: %s\r\n\r\n%s\r\n" % (sender, rcpt, subject, body)
with smtplib.SMTP("127.0.0.1", port, timeout=60) as s:
    s.ehlo("client.test")
    s.mail(sender)
    s.rcpt(rcpt)
    code, reply = s.data(msg)
    print(code, reply.decode(errors="replace").replace("\n", " "))
    sys.exit(0 if code == 250 else 1)
EOF
}
mail_of() { wait_for_mail "$1"; tern_newest_mail "$1"; }
hdr() { ml_headers "$1" | grep -Eq -- "$2"; }

# --- A clean message: signed, DMARC's result, not spam.
r=$(send alice@sign.test c1@localhost clean-one 'An ordinary message.') || fail "clean message refused: $r"
m=$(mail_of c1)
hdr "$m" '^DKIM-Signature:.* d=sign\.test;' || { cat "$m" >&2; fail "clean: not signed"; }
out=$(ml_dkim_check "$keys" "$m") || { echo "$out" >&2; cat "$m" >&2; fail "clean: the signature does not verify"; }
hdr "$m" '^Authentication-Results: dmarc\.test; dmarc=none \(p=none dis=none\) header\.from=sign\.test$' ||
	{ cat "$m" >&2; fail "clean: no dmarc=none from OpenDMARC"; }
hdr "$m" '^X-Spam-Status: No, score=' || { cat "$m" >&2; fail "clean: no X-Spam-Status: No"; }
hdr "$m" '^X-Spam-Flag: *YES' && { cat "$m" >&2; fail "clean: flagged as spam"; }
hdr "$m" '^X-Spam-Checker-Version: SpamAssassin' || { cat "$m" >&2; fail "clean: spamd did not check it"; }

# --- GTUBE, spamass-milter without -r: tagged, delivered.
r=$(send alice@sign.test g1@localhost gtube-tagged "$gtube") || fail "GTUBE refused without -r: $r"
m=$(mail_of g1)
hdr "$m" '^X-Spam-Flag: YES$' || { cat "$m" >&2; fail "GTUBE: no X-Spam-Flag: YES"; }
hdr "$m" '^X-Spam-Status: Yes, score=1[0-9][0-9][0-9]\.[0-9].* tests=.*GTUBE' ||
	{ cat "$m" >&2; fail "GTUBE: X-Spam-Status does not name GTUBE"; }
hdr "$m" '^DKIM-Signature:.* d=sign\.test;' || { cat "$m" >&2; fail "GTUBE: not signed"; }
hdr "$m" '^Authentication-Results: dmarc\.test; dmarc=none' || { cat "$m" >&2; fail "GTUBE: no dmarc=none"; }

# --- spamass-milter -r 15: GTUBE refused at the end of DATA.
ml_stop spam
ml_spamass spam spamd -r 15
r=$(send alice@sign.test g2@localhost gtube-rejected "$gtube") && fail "GTUBE accepted with -r 15: $r"
case $r in
550\ 5.7.1\ Blocked\ by\ SpamAssassin*) ;;
*) fail "GTUBE with -r 15: not spamass-milter's reply: $r" ;;
esac
wait_for_log 'reject: END-OF-MESSAGE .*Blocked by SpamAssassin'
r=$(send alice@sign.test c2@localhost clean-two 'Another ordinary message.') || fail "clean message refused with -r 15: $r"
m=$(mail_of c2)
hdr "$m" '^X-Spam-Status: No, score=' || { cat "$m" >&2; fail "clean with -r: no X-Spam-Status: No"; }
hdr "$m" '^DKIM-Signature:.* d=sign\.test;' || { cat "$m" >&2; fail "clean with -r: not signed"; }
[ -z "$(ls -A "$TERN_DIR/mail/g2/new" 2>/dev/null)" ] || fail "the refused GTUBE message was delivered"
grep -q 'to=<g2@localhost>' "$TERN_DIR/maillog" && { show_log; fail "the refused GTUBE message was queued"; }

pass
