#!/bin/sh
# t_smtpd_dialog.sh - smtpd's SMTP dialogue: every command, every error
# path, pipelining rules, SMTP smuggling variants, exact reply bytes.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/smtpd_lib.sh"

# smuggle_battery [bdat]: every published end-of-data variant, each followed
# by a second transaction from evil@example.net, in a session of its own;
# with "bdat", sent as BDAT content (tests/e2e/smuggle_battery.py; subjects
# "battery-N", "bdat-battery-N").
smuggle_battery() {
	python3 "$TERN_TOP/tests/e2e/smuggle_battery.py" "$SMTPD_PORT" "${1:-data}" || fail "smuggling battery $*"
}

tern_instance
# bücher.example: a domain of ours that is not ASCII (idn_domain.dlg).
smtpd_start -o 'mydestination=$myhostname, localhost.$mydomain, localhost, bücher.example'
dialog basic.dlg errors.dlg transaction.dlg pipelining.dlg bad_local_part.dlg idn_domain.dlg

# What was queued: three messages from transaction.dlg, one from pipelining.dlg.
[ "$(queued_count 'Subject: dialogue-one')" = 1 ] || fail "dialogue-one not queued once"
f=$(queued_with 'Subject: dialogue-one')
grep -q '^\.leading dot$' "$f" || fail "dot-unstuffing: $(cat "$f")"
grep -q "$(printf '\r')" "$f" && fail "CR left in the queue file"
grep -q 'orig@example.org' "$f" || fail "ORCPT not carried into the queue file"
# NOTIFY=SUCCESS,FAILURE is the hex digit 6 (DSN_NOTIFY_SUCCESS|DSN_NOTIFY_FAILURE) of the R record.
sed -n '/^M /q;p' "$f" | grep -q "^R.6	postmaster@localhost	" || fail "NOTIFY not carried: $(sed -n '/^M /q;p' "$f")"
[ "$(queued_count 'Subject: dialogue-two')" = 1 ] || fail "pipelined message not queued once"
f=$(queued_with 'Subject: dialogue-three')
[ -n "$f" ] || fail "BDAT message not queued"
grep -q '^chunked\.$' "$f" || fail "BDAT content: $(cat "$f")"
grep -q 'env+id' "$f" || fail "ENVID not carried into the queue file"
grep -q '^N dsn_ret=HDRS$' "$f" || fail "RET not carried into the queue file"
f=$(queued_with 'Subject: only-headers')
[ -n "$f" ] && grep -q '^X-Extra: yes$' "$f" || fail "header-only message"
[ "$(queued_count 'Subject: no-line-end-xx')" = 1 ] || fail "message without a final line end"
[ "$(queued_count 'Subject: pipelined-ok')" = 1 ] || fail "pipelined-ok not queued once"
[ "$(queued_count 'Subject: early')" = 0 ] || fail "content sent before 354 was queued"
f=$(queued_with 'Subject: idn-domains')
[ -n "$f" ] || fail "idn-domains not queued"
[ "$(sed -n '/^M /q;p' "$f" | grep -c '^R')" = 5 ] || fail "idn-domains: want 5 recipients: $(sed -n '/^M /q;p' "$f")"
grep -q 'müller\.example\|bücher\.example\.org' "$f" && fail "a refused recipient was queued: $(sed -n '/^M /q;p' "$f")"

# Smuggling: with the default, every variant ends the session; nothing queued from the smuggler.
dialog smuggle_lf_dot_lf.dlg smuggle_lf_dot_crlf.dlg smuggle_crlf_dot_lf.dlg \
	smuggle_cr_dot_cr.dlg smuggle_cr_dot_crlf.dlg smuggle_crlf_dot_cr.dlg smuggle_crlf_dot_nul_crlf.dlg
[ "$(queued_from 'evil@example.net')" = 0 ] || fail "a smuggled envelope reached the queue"
[ "$(queued_count 'Subject: smuggle-')" = 1 ] || fail "only the NUL variant should be queued (as one message)"
# The same sequences inside BDAT chunks get the same treatment.
dialog bdat_smuggle_lf_dot_lf.dlg bdat_smuggle_lf_dot_crlf.dlg bdat_smuggle_crlf_dot_lf.dlg \
	bdat_smuggle_cr_dot_cr.dlg bdat_smuggle_cr_dot_crlf.dlg bdat_smuggle_crlf_dot_cr.dlg \
	bdat_smuggle_crlf_dot_nul_crlf.dlg
[ "$(queued_count 'Subject: bdat-smuggle-')" = 1 ] || fail "BDAT: only the NUL variant should be queued (as one message)"
smuggle_battery
smuggle_battery bdat
[ "$(queued_from 'evil@example.net')" = 0 ] || fail "battery: a smuggled envelope reached the queue"
# Only the two variants without a bare CR or LF get through, as one message each.
[ "$(queued_count 'Subject: battery-')" = 2 ] || fail "battery: $(queued_count 'Subject: battery-') messages queued, want 2"
[ "$(queued_count 'Subject: bdat-battery-')" = 2 ] || fail "BDAT battery: $(queued_count 'Subject: bdat-battery-') messages queued, want 2"
for f in $(queued_with 'Subject: battery-') $(queued_with 'Subject: bdat-battery-'); do
	grep -q 'Subject: evil-battery' "$f" || fail "battery: smuggled text missing from the one message $f"
done
grep -q 'disconnect: bare <CR> received from localhost\[127\.0\.0\.1\] after BDAT' "$TERN_DIR/maillog" \
	|| fail "no log line for a bare CR in BDAT"
grep -q 'disconnect: bare <LF> received from' "$TERN_DIR/maillog" || fail "no log line for bare LF"
grep -q 'smtpd\[[0-9]*\]: improper command pipelining after HELO from localhost\[127\.0\.0\.1\]$' "$TERN_DIR/maillog" \
	|| fail "no pipelining log line in Postfix's form"
[ "$(queued_from 'sender@example.org')" -ge 3 ] || fail "queued_from finds nothing: the check above proves nothing"
smtpd_stop

# The protocol parameters (see the script's first lines).
smtpd_start -o 'smtpd_banner=$myhostname ESMTP banner-test' -o smtpd_helo_required=yes \
	-o smtpd_recipient_limit=2 -o disable_vrfy_command=no -o smtputf8_enable=no -o local_maildir_base= \
	-o smtpd_hard_error_limit=5
dialog protocol_params.dlg
grep -q 'NOQUEUE: reject: VRFY from localhost\[127\.0\.0\.1\]: 550 5\.1\.1 <no-such-user-xyzzy@localhost>: Recipient address rejected: User unknown in local recipient table; to=<no-such-user-xyzzy@localhost> proto=ESMTP helo=<client\.example>$' \
	"$TERN_DIR/maillog" || fail "no VRFY reject log line"
cat > "$TERN_DIR/noutf8.py" <<'EOP'
import smtplib, sys
with smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=30) as s:
    s.ehlo("py.example")
    assert not s.has_extn("smtputf8"), s.esmtp_features
    assert s.has_extn("vrfy") and s.has_extn("pipelining") and s.has_extn("chunking"), s.esmtp_features
EOP
python3 "$TERN_DIR/noutf8.py" "$SMTPD_PORT" || fail "EHLO keywords with smtputf8_enable = no"
smtpd_stop

# Tolerating bare newlines (smtpd_forbid_bare_newline = no): each fake end is
# content; one message per session, never a second one.
smtpd_start -o smtpd_forbid_bare_newline=no
dialog tolerant_lf_dot_lf.dlg tolerant_lf_dot_crlf.dlg tolerant_crlf_dot_lf.dlg \
	tolerant_cr_dot_cr.dlg tolerant_cr_dot_crlf.dlg tolerant_crlf_dot_cr.dlg
[ "$(queued_count 'Subject: tolerant-')" = 6 ] || fail "tolerant variants: want 6 messages"
dialog bdat_tolerant_lf_dot_lf.dlg bdat_tolerant_lf_dot_crlf.dlg bdat_tolerant_crlf_dot_lf.dlg \
	bdat_tolerant_cr_dot_cr.dlg bdat_tolerant_cr_dot_crlf.dlg bdat_tolerant_crlf_dot_cr.dlg
[ "$(queued_count 'Subject: bdat-tolerant-')" = 6 ] || fail "BDAT tolerant variants: want 6 messages"
smuggle_battery
smuggle_battery bdat
[ "$(queued_count 'Subject: battery-')" = $((2 + 15)) ] || fail "battery (tolerant): want one message per variant"
[ "$(queued_count 'Subject: bdat-battery-')" = $((2 + 15)) ] || fail "BDAT battery (tolerant): want one message per variant"
[ "$(queued_from 'evil@example.net')" = 0 ] || fail "a smuggled envelope reached the queue"
for f in $(queued_with 'Subject: tolerant-') $(queued_with 'Subject: bdat-tolerant-'); do
	grep -q 'Subject: evil-tolerant' "$f" || fail "smuggled text missing from the one message $f"
done
pass
