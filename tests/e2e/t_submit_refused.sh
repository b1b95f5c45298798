#!/bin/sh
# t_submit_refused.sh - an envelope that pickup would move to corrupt/
# is refused by terndrop instead: sendmail exits non-zero with a clear
# error, nothing is left in maildrop/ or corrupt/, and nothing is lost
# silently. The test is one (droprec_sender_valid, droprec_rcpt_valid),
# shared by terndrop and pickup. sendmail also refuses (65) a recipient
# whose domain is not ASCII and that the resolver cannot route (no IDNA),
# and takes one in mydestination, a UTF-8 local part and an A-label.
. "$(dirname "$0")/submitlib.sh"

submit_instance
export TERN_CONFIG_DIR="$SUB_DIR"
# A domain of ours that is not ASCII (SMTPUTF8), for the IDN checks below.
ternconf -e 'mydestination = $myhostname, localhost, $mydomain, bücher.example' >/dev/null || fail "ternconf -e"
printf 'Subject: refused\n\nbody\n' >"$SUB_DIR/msg"

# drop RECORDS: feed terndrop a record stream (droprec.h) of our own, as
# any local user may, bypassing sendmail's own address checks.
drop() {
	printf "$1" | terndrop -C "$SUB_DIR" >"$SUB_DIR/out" 2>"$SUB_DIR/err"
}
# refused WHAT RECORDS: terndrop must fail with EX_DATAERR (65) and say why.
refused() {
	drop "$2"
	_rc=$?
	[ "$_rc" = 65 ] || fail "$1: terndrop exited $_rc, want 65: $(cat "$SUB_DIR/err")"
	grep -qF "$1" "$SUB_DIR/err" || fail "$1: error text: $(cat "$SUB_DIR/err")"
	[ -z "$(ls -A "$SUB_DIR/queue/maildrop")" ] || fail "$1: a file was left in maildrop/"
}
body='M0:\nC5:body\n\nE0:\n'

refused 'malformed recipient address: "a b@localhost"' "V1:1\nR16:0\t\ta b@localhost\n$body"
refused 'malformed recipient address: ""unbalanced@localhost"' "V1:1\nR24:0\t\t\"unbalanced@localhost\n$body"
refused 'malformed recipient address: "a@b,c@d"' "V1:1\nR10:0\t\ta@b,c@d\n$body"
refused 'malformed sender' "V1:1\nS15:x y@example.org\nR23:0\t\tpostmaster@localhost\n$body"
# sendmail checks argument addresses itself; what it passes, terndrop takes.
sendmail 'a b@localhost' <"$SUB_DIR/msg" 2>"$SUB_DIR/err" && fail "sendmail took 'a b@localhost'"
_maildrop_empty || fail "sendmail left a file with something in it in maildrop/"
# A remote domain that is not ASCII cannot be routed (no IDNA, no relayhost):
# refused at once with the reason (EX_DATAERR), not accepted to bounce.
sendmail postmaster@localhost 'jörg@müller.example' <"$SUB_DIR/msg" 2>"$SUB_DIR/err"
_rc=$?
[ "$_rc" = 65 ] || fail "sendmail jörg@müller.example exited $_rc, want 65: $(cat "$SUB_DIR/err")"
grep -qF 'jörg@müller.example: internationalized domain names are not supported; use the A-label (xn--) form' \
	"$SUB_DIR/err" || fail "IDN refusal text: $(cat "$SUB_DIR/err")"
_maildrop_empty || fail "sendmail left a file with something in it in maildrop/ (IDN)"

# Good ones still go through, and pickup moves nothing to corrupt/.
drop "V1:1\nR23:0\t\tpostmaster@localhost\n$body" || fail "good stream: $(cat "$SUB_DIR/err")"
sendmail postmaster@localhost <"$SUB_DIR/msg" 2>"$SUB_DIR/err" || fail "good message: $(cat "$SUB_DIR/err")"
# Ours though not ASCII, a UTF-8 local part, an A-label: taken.
sendmail 'u@bücher.example' 'jörg@localhost' u@xn--mller-kva.example <"$SUB_DIR/msg" 2>"$SUB_DIR/err" ||
	fail "good IDN message: $(cat "$SUB_DIR/err")"
run_pickup
[ "$(ls "$SUB_DIR/queue/incoming" | wc -l)" = 3 ] || fail "good message not in incoming/: $(cat "$SUB_DIR/pickup.out")"
[ -z "$(ls -A "$SUB_DIR/queue/corrupt")" ] || fail "something went to corrupt/: $(ls "$SUB_DIR/queue/corrupt")"
pass
