#!/bin/sh
# t_sendmail_milter.sh - non_smtpd_milters on mail submitted with sendmail,
# in a running instance (tern init, local_maildir_base), with
# tests/e2e/milter_act as the milter on a loopback port:
#  - sendmail -t and sendmail with recipients on the command line, run by
#    a test user: the milter sees CONNECT localhost [127.0.0.1], HELO
#    localhost, MAIL with the sender, one RCPT per recipient (the To:/Cc:
#    ones for -t), the headers, the body with CRLF, and the macros i, j,
#    {auth_authen} (the user's login), {mail_addr} and {rcpt_addr};
#  - its edits land in the delivered mail: addheader, chgheader,
#    replbody, addrcpt, delrcpt, chgfrom (Return-Path:);
#  - a refused recipient comes back to the sender with the milter's reply
#    and the other one gets the mail; a refused message comes back whole;
#    a temporary failure, of the message or of one recipient, leaves the
#    file in maildrop/ until the milter lets it through; discard drops it with a log line; quarantine puts
#    it on hold;
#  - a milter that is down (milter_default_action = tempfail) keeps the
#    mail in maildrop/ until it is up;
#  - smtpd_milters does not see sendmail's mail, non_smtpd_milters not
#    SMTP mail.
# Runs as root (a test user submits; the instance's maildrop/ is given a
# group of the test's own that the user is in, as an installed set-gid
# terndrop would give it).
here=$(dirname "$0")
[ -f "$here/lib.sh" ] || { echo "skip: tests/e2e/lib.sh is missing"; exit 77; }
. "$here/lib.sh"
need_root
need_cmd runuser groupadd usermod
act=$TERN_TOP/tests/e2e/milter_act
[ -x "$act" ] || fail "$act is not built (make e2e builds it)"
for p in sendmail terndrop pickup qmgr local smtpd; do
	[ -x "$TERN_TOP/stage/$p" ] || skip "$p is not built"
done

user=ternms$$
group=ternmg$$
test_user_add "$user"
groupadd "$group" || fail "groupadd $group"
at_cleanup "groupdel $group"
usermod -a -G "$group" "$user" || fail "usermod"

tern_instance
qdir=$TERN_DIR/queue
chgrp "$group" "$qdir/maildrop" "$qdir/public" || fail "chgrp maildrop public"
mport=$(free_port)
sport=$(free_port)
while [ "$sport" = "$mport" ]; do sport=$(free_port); done
ternconf -e "setgid_group = $group" "non_smtpd_milters = inet:127.0.0.1:$mport" "smtpd_milters = inet:127.0.0.1:$sport" ||
	fail "ternconf -e"
myhost=$(ternconf -h myhostname) || fail "ternconf -h myhostname"

# The milters: "m" for non_smtpd_milters (restarted with new SPECs and a
# new log for each case), "s" for smtpd_milters (logs only).
# libmilter takes up to 5 s to return from smfi_main after SIGTERM;
# milter_act exits at once on SIGUSR1: stop_pid sends that and waits
# (10 s at most) until the process is gone.
stop_pid() {
	kill -USR1 "$1" 2>/dev/null || return 0
	_n=0
	while kill -0 "$1" 2>/dev/null && [ $_n -lt 100 ]; do
		sleep 0.1
		_n=$((_n + 1))
	done
	kill -9 "$1" 2>/dev/null
	return 0
}
mpid= spid=
at_cleanup '[ -n "$mpid" ] && stop_pid $mpid'
at_cleanup '[ -n "$spid" ] && stop_pid $spid'
# listening PORT: a socket listens on 127.0.0.1:PORT (read from
# /proc/net/tcp: polling with a Python client took a second a time on a
# loaded machine, and the milter is restarted a dozen times).
listening() { grep -q "^ *[0-9]*: 0100007F:$(printf %04X "$1") 00000000:0000 0A " /proc/net/tcp; }
# Once the milter is reaped its listening socket is closed, and nothing
# else listens on the port: no wait for the port to close.
mstop() {
	[ -n "$mpid" ] || return 0
	stop_pid "$mpid"
	wait "$mpid" 2>/dev/null
	mpid=
	listening "$mport" && fail "port $mport still listening after the milter exited"
	return 0
}
# mstart NAME SPEC...: the milter with SPECs, logging to $TERN_DIR/NAME.log
mstart() {
	mstop
	mlog=$TERN_DIR/$1.log
	shift
	"$act" "inet:$mport@127.0.0.1" "$mlog" "$@" 2>>"$TERN_DIR/milter.err" &
	mpid=$!
	wait_for "a listener on 127.0.0.1:$mport" listening "$mport"
}
"$act" "inet:$sport@127.0.0.1" "$TERN_DIR/smtpd.log" 2>>"$TERN_DIR/milter.err" &
spid=$!
wait_for_port "$sport"

tern_start

# wake_pickup: what terndrop does after writing a maildrop/ file (connect
# to public/pickup, send "wake"), so a file a milter deferred is retried
# at once instead of at pickup's next periodic scan. The connection is
# the wake-up: pickup may close it before reading, so a failed send is no
# error.
wake_pickup() {
	python3 -c 'import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
try:
    s.sendall(b"wake\n")
except OSError:
    pass' "$qdir/public/pickup" || fail "cannot wake pickup"
}

# as_user ARGS...: sendmail run by the test user.
as_user() {
	runuser -u "$user" -- env TERN_CONFIG_DIR="$TERN_DIR" "$TERN_TOP/stage/sendmail" "$@"
}
has_mail() { grep -Eqs -- "$2" "$TERN_DIR/mail/$1/new/"*; }
no_mail() { [ -z "$(ls -A "$TERN_DIR/mail/$1/new" 2>/dev/null)" ]; }
wait_mail() { wait_for "mail for $1 matching /$2/" has_mail "$1" "$2"; }
# in_log REGEX: the current milter log has a line matching REGEX (grep -E).
in_log() { grep -Eq -- "$1" "$mlog" || { cat "$mlog" >&2; fail "milter log: no line /$1/"; }; }
count_log() { grep -Ec -- "$1" "$mlog"; }
maildrop_count() { ls -A "$qdir/maildrop" | wc -l; }
maildrop_empty() { [ "$(maildrop_count)" -eq 0 ]; }
maildrop_full() { [ "$(maildrop_count)" -gt 0 ]; }

# --- What the milter sees: sendmail -t.
mstart seen_t
printf 'To: a1@localhost\nCc: a2@localhost\nSubject: seen-t\n\nline one\nline two\n' | as_user -t ||
	fail "sendmail -t exited $?"
wait_mail a1 '^Subject: seen-t'
wait_mail a2 '^Subject: seen-t'
in_log '^connect conn=[0-9]+ host="localhost" family=inet addr="127.0.0.1"'
in_log '^helo conn=[0-9]+ name="localhost"'
in_log "^mail conn=[0-9]+ arg=\"<$user@$myhost>\""
in_log "^mail conn=[0-9]+ .*\\{auth_authen\\}=\"$user\""
in_log "^mail conn=[0-9]+ .*\\{mail_addr\\}=\"$user@$myhost\""
in_log '^mail conn=[0-9]+ .* i="[^"]+"'
[ "$(count_log '^rcpt conn=[0-9]+ ')" -eq 2 ] || { cat "$mlog" >&2; fail "-t: not two RCPTs"; }
in_log '^rcpt conn=[0-9]+ arg="<a1@localhost>".*\{rcpt_addr\}="a1@localhost"'
in_log '^rcpt conn=[0-9]+ arg="<a2@localhost>".*\{rcpt_addr\}="a2@localhost"'
in_log '^header conn=[0-9]+ name="To" value=" ?a1@localhost"'
in_log '^header conn=[0-9]+ name="Cc" value=" ?a2@localhost"'
in_log '^header conn=[0-9]+ name="Subject" value=" ?seen-t"'
in_log '^eom conn=[0-9]+ bytes=20 crlf=2 lf=0 '
in_log '^eom conn=[0-9]+ .*head="line one\\r\\nline two\\r\\n"'
in_log "^connect conn=[0-9]+ .*j=\"$myhost\""
qid=$(sed -n 's/^mail conn=[0-9]* .* i="\([^"]*\)".*/\1/p' "$mlog")
grep -q "$qid" "$TERN_DIR/mail/a1/new/"* "$TERN_DIR/maillog" || fail "macro i=$qid is not the queue id"

# --- Recipients on the command line, one of them unqualified.
mstart seen_args
printf 'Subject: seen-args\n\nbody\n' | as_user b1@localhost b2 || fail "sendmail exited $?"
wait_mail b1 '^Subject: seen-args'
wait_mail b2 '^Subject: seen-args'
[ "$(count_log '^rcpt conn=[0-9]+ ')" -eq 2 ] || { cat "$mlog" >&2; fail "args: not two RCPTs"; }
in_log '^rcpt conn=[0-9]+ arg="<b1@localhost>"'
in_log '^rcpt conn=[0-9]+ arg="<b2@[^>]+>"'
in_log "^mail conn=[0-9]+ .*\\{auth_authen\\}=\"$user\""
in_log '^eom conn=[0-9]+ bytes=6 crlf=1 lf=0 '

# --- Edits.
mstart edits 'addheader:X-Milter-Added:yes' 'chgheader:Subject:1:changed-subject' \
	'replbody:replaced body\r\n' 'addrcpt:c3@localhost' 'delrcpt:c2@localhost' \
	'chgfrom:newfrom@localhost'
printf 'Subject: edit-me\n\noriginal body\n' | as_user c1@localhost c2@localhost || fail "sendmail exited $?"
wait_mail c1 '^X-Milter-Added: ?yes'
wait_mail c3 '^X-Milter-Added: ?yes'
has_mail c1 '^Subject: ?changed-subject' || fail "chgheader: Subject not changed"
has_mail c1 '^Subject: edit-me' && fail "chgheader: the old Subject is still there"
has_mail c1 '^replaced body' || fail "replbody: body not replaced"
has_mail c1 '^original body' && fail "replbody: the old body is still there"
has_mail c1 '^Return-Path: <newfrom@localhost>' || fail "chgfrom: Return-Path: $(grep -h '^Return-Path' "$TERN_DIR/mail/c1/new/"*)"
has_mail c3 '^Return-Path: <newfrom@localhost>' || fail "chgfrom: Return-Path for the added recipient"
wait_for_log 'to=<c3@localhost>.*status=sent'
no_mail c2 || fail "delrcpt: c2 got the mail"

# --- One recipient refused: the other gets it, the sender gets it back for that one.
mstart rcpt_reject 'replycode@rcpt=r2@localhost:550:5.7.1:no r2 here'
printf 'Subject: rcpt-reject\n\nx\n' | as_user r1@localhost r2@localhost || fail "sendmail exited $?"
wait_mail r1 '^Subject: rcpt-reject'
wait_mail "$user" 'r2@localhost'
has_mail "$user" 'no r2 here' || fail "the bounce lacks the milter's reply"
grep -l 'no r2 here' "$TERN_DIR/mail/$user/new/"* | xargs grep -q '^Final-Recipient:.*r1@localhost' &&
	fail "the bounce names r1 too"
no_mail r2 || fail "the refused recipient got the mail"
rm -f "$TERN_DIR/mail/$user/new/"*

# --- The message refused: back to the sender, nobody gets it.
mstart eom_reject 'replycode@eom:554:5.7.1:whole message refused'
printf 'Subject: eom-reject\n\nx\n' | as_user e1@localhost || fail "sendmail exited $?"
wait_mail "$user" 'whole message refused'
has_mail "$user" 'e1@localhost' || fail "the bounce does not name e1"
wait_for "maildrop/ to empty" maildrop_empty
no_mail e1 || fail "the refused message was delivered"
rm -f "$TERN_DIR/mail/$user/new/"*

# --- Temporary failure: stays in maildrop/, delivered once the milter lets it through.
mstart eom_tempfail 'tempfail@eom'
printf 'Subject: eom-tempfail\n\nx\n' | as_user t1@localhost || fail "sendmail exited $?"
wait_for "the milter to see the message" grep -Eq '^eom conn=[0-9]+ ' "$mlog"
wait_for_log 'deferred by milter'
maildrop_full || fail "tempfail: nothing left in maildrop/"
mailq | grep -q 't1@localhost' || fail "tempfail: mailq does not show it: $(mailq 2>&1)"
mailq | grep -Eq '^[0-9A-Za-z]+ *\^' || fail "tempfail: mailq does not mark it as in maildrop/: $(mailq 2>&1)"
no_mail t1 || fail "tempfail: delivered"
mstart eom_tempfail_over
wake_pickup
wait_mail t1 '^Subject: eom-tempfail'
wait_for "maildrop/ to empty" maildrop_empty

# --- Temporary failure of one recipient: the whole message waits.
deferred=$(grep -c 'deferred by milter' "$TERN_DIR/maillog")
more_deferred() { [ "$(grep -c 'deferred by milter' "$TERN_DIR/maillog")" -gt "$deferred" ]; }
mstart rcpt_tempfail 'tempfail@rcpt=u2@localhost'
printf 'Subject: rcpt-tempfail\n\nx\n' | as_user u1@localhost u2@localhost || fail "sendmail exited $?"
wait_for "a deferral by the milter" more_deferred
maildrop_full || fail "rcpt tempfail: nothing left in maildrop/"
no_mail u1 || fail "rcpt tempfail: u1 got the mail"
mstart rcpt_tempfail_over
wake_pickup
wait_mail u1 '^Subject: rcpt-tempfail'
wait_mail u2 '^Subject: rcpt-tempfail'
wait_for "maildrop/ to empty" maildrop_empty

# --- Discard: nothing delivered, a log line.
mstart eom_discard 'discard@eom'
printf 'Subject: eom-discard\n\nx\n' | as_user d1@localhost || fail "sendmail exited $?"
wait_for_log "discarded by milter"
wait_for "maildrop/ to empty" maildrop_empty
sleep 1
no_mail d1 || fail "discard: delivered"

# --- Quarantine: on hold.
mstart eom_quarantine 'quarantine:held by test'
printf 'Subject: eom-quarantine\n\nx\n' | as_user h1@localhost || fail "sendmail exited $?"
wait_for "a file in hold/" sh -c "ls -A '$qdir/hold' | grep -q ."
wait_for "maildrop/ to empty" maildrop_empty
mailq | grep -q 'h1@localhost' || fail "quarantine: mailq does not show it: $(mailq 2>&1)"
mailq | grep -Eq '^[0-9A-Za-z]+ *!' || fail "quarantine: mailq does not show it held: $(mailq 2>&1)"
# Postfix's shape, which pflogsumm counts as held: "ID: hold: REASON; from=<...>".
wait_for_log '[0-9A-Z]+: hold: .*held by test.*; from=<[^>]*>, size=[0-9]+, nrcpt=1$'

no_mail h1 || fail "quarantine: delivered"

# --- A milter that is down (milter_default_action = tempfail).
mstop
deferred=$(grep -c 'deferred by milter' "$TERN_DIR/maillog")
printf 'Subject: milter-down\n\nx\n' | as_user k1@localhost || fail "sendmail exited $? with the milter down"
wait_for "a deferral for the milter that is down" more_deferred
maildrop_full || fail "milter down: nothing left in maildrop/"
mailq | grep -q 'k1@localhost' || fail "milter down: mailq does not show it: $(mailq 2>&1)"
no_mail k1 || fail "milter down: delivered"
mstart milter_up
wake_pickup
wait_mail k1 '^Subject: milter-down'
wait_for "maildrop/ to empty" maildrop_empty

# --- smtpd_milters saw none of that; SMTP mail goes to it, not to non_smtpd_milters.
grep -q '^connect ' "$TERN_DIR/smtpd.log" && fail "smtpd_milters saw sendmail's mail"
mstart smtp_only
smtp_send sm@localhost s1@localhost smtp-mail >/dev/null || fail "SMTP submission refused"
wait_mail s1 '^Subject: smtp-mail'
grep -q '^connect ' "$TERN_DIR/smtpd.log" || fail "smtpd_milters did not see SMTP mail"
grep -q '^connect ' "$mlog" && fail "non_smtpd_milters saw SMTP mail"

[ -s "$TERN_DIR/milter.err" ] && cat "$TERN_DIR/milter.err" >&2
pass
