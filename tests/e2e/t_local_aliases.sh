#!/bin/sh
# t_local_aliases.sh - local delivery in a tern init instance
# (local_maildir_base): every alias form (list, :include:, |command with
# its environment, /file, /dir/ Maildir, \user, self-reference), user+tag,
# a |command exit code bounced as sysexits says (a real RFC 3464 bounce
# with the null sender), the Delivered-To: loop check, and the log line.
# Runs as root or as any user.
here=$(dirname "$0")
[ -f "$here/lib.sh" ] || { echo "skip: tests/e2e/lib.sh is missing"; exit 77; }
. "$here/lib.sh"
for p in sendmail local qmgr pickup ternconf; do
	[ -x "$TERN_TOP/stage/$p" ] || skip "$p is not built"
done

tern_instance
out="$TERN_DIR/out"
mkdir -p "$out" && chmod 1777 "$out"
# alias_maps in postmap's "key value" form, read directly.
{
	echo "team alice, bob"
	echo "inc :include:$TERN_DIR/list.inc"
	echo "pipe \"|/bin/sh -c 'env > $out/pipe.env; ls /proc/self/fd > $out/pipe.fds; cat > $out/pipe.msg'\""
	echo "file $out/file.mbox"
	echo "dir $out/box/"
	echo "self self, carol"
	echo "reject \"|exit 67\""
	echo "again erin@localhost"
} > "$TERN_DIR/aliases.map"
printf 'dave\n# a comment\n' > "$TERN_DIR/list.inc"
ternconf -e "alias_maps = texthash:$TERN_DIR/aliases.map" "recipient_delimiter = +" ||
	fail "ternconf -e"
tern_start

send() {	# send SENDER SUBJECT RCPT...
	_from=$1 _subj=$2
	shift 2
	printf 'From: %s\nSubject: %s\n\nbody of %s\nFrom the middle of a line\n' \
		"$_from" "$_subj" "$_subj" | submit -f "$_from" "$@" || fail "submission exited $?"
}

send sender@localhost list team@localhost
wait_for_mail alice 1
wait_for_mail bob 1
grep -q '^Delivered-To: team@localhost' "$(tern_newest_mail bob)" || fail "no Delivered-To: in bob's copy"
grep -q '^Return-Path: <sender@localhost>' "$(tern_newest_mail bob)" || fail "no Return-Path: in bob's copy"

send sender@localhost tagged alice+news@localhost
wait_for_mail alice 2
grep -q '^Delivered-To: alice+news@localhost' "$(tern_newest_mail alice)" || fail "user+tag did not reach alice"

send sender@localhost include inc@localhost
wait_for_mail dave 1

send sender@localhost pipe pipe+ext@localhost
wait_for "the command's output" test -s "$out/pipe.msg"
wait_for "the command's environment" grep -q '^RECIPIENT=pipe+ext@localhost$' "$out/pipe.env"
# The command has ended (all of the message in pipe.msg) once the attempt logs it.
wait_for_log 'to=<pipe\+ext@localhost>.*status=sent'
grep -q '^EXTENSION=ext$' "$out/pipe.env" || fail "EXTENSION not set: $(cat "$out/pipe.env")"
grep -q '^SENDER=sender@localhost$' "$out/pipe.env" || fail "SENDER not set"
grep -q '^LOCAL=pipe+ext$' "$out/pipe.env" || fail "LOCAL not set"
grep -q '^DOMAIN=localhost$' "$out/pipe.env" || fail "DOMAIN not set"
grep -q '^From sender@localhost ' "$out/pipe.msg" || fail "no From_ line for the command"
grep -q '^body of pipe' "$out/pipe.msg" || fail "the command did not get the body"
# 0-2, and 3 for ls's own directory: nothing of the delivery agent's.
[ "$(sort -n "$out/pipe.fds" | tail -n 1)" -le 3 ] || fail "the command inherited descriptors: $(cat "$out/pipe.fds")"

send sender@localhost file file@localhost
wait_for "the file delivery" grep -q '^body of file' "$out/file.mbox"
grep -q '^>From the middle' "$out/file.mbox" || fail "no >From quoting in the file"
head -n 1 "$out/file.mbox" | grep -q '^From sender@localhost ' || fail "no From_ line in the file"

send sender@localhost maildir dir@localhost
wait_for "the /dir/ Maildir delivery" sh -c "ls '$out/box/new' | grep -q ."

send sender@localhost self self@localhost
wait_for_mail self 1
wait_for_mail carol 1

# A command that exits 67 (EX_NOUSER) bounces with 5.1.1 to the sender.
send sender@localhost rejected reject@localhost
wait_for_mail sender 1
b=$(tern_newest_mail sender)
grep -q '^Subject: Undelivered Mail Returned to Sender' "$b" || fail "no bounce subject"
grep -q '^Action: failed' "$b" || fail "no Action: failed"
grep -q '^Status: 5.1.1' "$b" || fail "no Status: 5.1.1 for exit 67"
grep -q '^Final-Recipient: rfc822; reject@localhost' "$b" || fail "no Final-Recipient"
grep -q 'report-type=delivery-status' "$b" || fail "not a multipart/report"
grep -q '^Subject: rejected' "$b" || fail "the original headers are not returned"
grep -q '^Return-Path: <>' "$b" || fail "the bounce does not have the null sender"

# A message that was already delivered to again@localhost here is a loop.
printf 'Delivered-To: again@localhost\nSubject: looping\n\nx\n' | submit -f sender@localhost again@localhost
wait_for_mail sender 2
grep -q 'mail forwarding loop for again@localhost' "$(tern_newest_mail sender)" || fail "no loop bounce"
[ -d "$TERN_DIR/mail/erin" ] && fail "a looping message was delivered"

wait_for_log ': to=<team@localhost>, relay=local, delay=[0-9.]+, delays=[0-9./]+, dsn=2\.0\.0, status=sent'
pass
