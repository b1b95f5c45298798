#!/bin/sh
# t_smtpd_dialog.sh - smtpd's SMTP dialogue: every command, every error
# path, pipelining rules, SMTP smuggling variants, exact reply bytes.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/smtpd_lib.sh"

tern_instance
smtpd_start
dialog basic.dlg errors.dlg transaction.dlg pipelining.dlg

# What was queued: three messages from transaction.dlg, one from pipelining.dlg.
[ "$(queued_count 'Subject: dialogue-one')" = 1 ] || fail "dialogue-one not queued once"
f=$(queued_with 'Subject: dialogue-one')
grep -q '^\.leading dot$' "$f" || fail "dot-unstuffing: $(cat "$f")"
grep -q "$(printf '\r')" "$f" && fail "CR left in the queue file"
grep -q 'orig@example.org' "$f" || fail "ORCPT not carried into the queue file"
[ "$(queued_count 'Subject: dialogue-two')" = 1 ] || fail "pipelined message not queued once"
f=$(queued_with 'Subject: dialogue-three')
[ -n "$f" ] || fail "BDAT message not queued"
grep -q '^chunked\.$' "$f" || fail "BDAT content: $(cat "$f")"
grep -q 'env+id' "$f" || fail "ENVID not carried into the queue file"
f=$(queued_with 'Subject: only-headers')
[ -n "$f" ] && grep -q '^X-Extra: yes$' "$f" || fail "header-only message"
[ "$(queued_count 'Subject: no-line-end-xx')" = 1 ] || fail "message without a final line end"
[ "$(queued_count 'Subject: pipelined-ok')" = 1 ] || fail "pipelined-ok not queued once"
[ "$(queued_count 'Subject: early')" = 0 ] || fail "content sent before 354 was queued"

# Smuggling: with the default, every variant ends the session; nothing queued from the smuggler.
dialog smuggle_lf_dot_lf.dlg smuggle_lf_dot_crlf.dlg smuggle_crlf_dot_lf.dlg \
	smuggle_cr_dot_cr.dlg smuggle_cr_dot_crlf.dlg smuggle_crlf_dot_cr.dlg smuggle_crlf_dot_nul_crlf.dlg
[ "$(queued_from 'evil@example.net')" = 0 ] || fail "a smuggled envelope reached the queue"
[ "$(queued_count 'Subject: smuggle-')" = 1 ] || fail "only the NUL variant should be queued (as one message)"
grep -q 'disconnect: bare <LF> received from' "$TERN_DIR/maillog" || fail "no log line for bare LF"
[ "$(queued_from 'sender@example.org')" -ge 3 ] || fail "queued_from finds nothing: the check above proves nothing"
smtpd_stop

# Tolerating bare newlines (smtpd_forbid_bare_newline = no): each fake end is
# content; one message per session, never a second one.
smtpd_start -o smtpd_forbid_bare_newline=no
dialog tolerant_lf_dot_lf.dlg tolerant_lf_dot_crlf.dlg tolerant_crlf_dot_lf.dlg \
	tolerant_cr_dot_cr.dlg tolerant_cr_dot_crlf.dlg tolerant_crlf_dot_cr.dlg
[ "$(queued_count 'Subject: tolerant-')" = 6 ] || fail "tolerant variants: want 6 messages"
[ "$(queued_from 'evil@example.net')" = 0 ] || fail "a smuggled envelope reached the queue"
for f in $(queued_with 'Subject: tolerant-'); do
	grep -q 'Subject: evil-tolerant' "$f" || fail "smuggled text missing from the one message $f"
done
pass
