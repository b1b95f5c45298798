#!/bin/sh
# t_local_system.sh - local delivery to system accounts (no
# local_maildir_base), as root with test users made here: mbox in
# mail_spool_directory (From_ line, >From quoting, owned by the user),
# ~/.forward and ~/.forward+tag, a |command running with the recipient's
# uid, a /dir/ Maildir from .forward, home_mailbox Maildir, the
# unknown-user bounce and the mailbox_size_limit bounce.
here=$(dirname "$0")
[ -f "$here/lib.sh" ] || { echo "skip: tests/e2e/lib.sh is missing"; exit 77; }
. "$here/lib.sh"
need_root
for p in sendmail local qmgr pickup ternconf; do
	[ -x "$TERN_TOP/stage/$p" ] || skip "$p is not built"
done

u1=ternlu1_$$ u2=ternlu2_$$ u3=ternlu3_$$ u4=ternlu4_$$ u5=ternlu5_$$
for u in $u1 $u2 $u3 $u4 $u5; do test_user_add $u; done
home() { getent passwd "$1" | cut -d: -f6; }

tern_instance
spool="$TERN_DIR/spool"
mkdir -p "$spool" && chmod 1777 "$spool"
# System delivery: drop local_maildir_base, mbox files in our own spool.
ternconf -X local_maildir_base || fail "ternconf -X"
ternconf -e "mail_spool_directory = $spool" "recipient_delimiter = +" \
	"message_size_limit = 3000" "mailbox_size_limit = 4000" || fail "ternconf -e"

# u2 forwards to u1 and keeps a copy; u3 has a .forward+news running a
# command and a .forward that files into a Maildir.
printf '%s@localhost\n\\%s\n' $u1 $u2 > "$(home $u2)/.forward"
printf '"|/bin/sh -c '"'"'id -u > %s/cmd.uid'"'"'"\n' "$(home $u3)" > "$(home $u3)/.forward+news"
printf '%s/Maildir/\n' "$(home $u3)" > "$(home $u3)/.forward"
chown $u2 "$(home $u2)/.forward"
chown $u3 "$(home $u3)/.forward" "$(home $u3)/.forward+news"
tern_start

send() {	# send SENDER SUBJECT RCPT
	printf 'From: %s\nSubject: %s\n\nbody of %s\nFrom the start of a line\n' "$1" "$2" "$2" |
		submit -f "$1" "$3" || fail "submission exited $?"
}
count() { grep -c '^From ' "$spool/$1" 2>/dev/null || echo 0; }
at_least() { [ "$(count "$1")" -ge "$2" ]; }

send $u4@localhost plain $u1@localhost
wait_for "mbox of $u1" at_least $u1 1
[ "$(stat -c %U "$spool/$u1")" = $u1 ] || fail "the mbox does not belong to $u1"
head -n 1 "$spool/$u1" | grep -q "^From $u4@localhost " || fail "no From_ line"
grep -q '^>From the start' "$spool/$u1" || fail "no >From quoting"
grep -q "^Delivered-To: $u1@localhost" "$spool/$u1" || fail "no Delivered-To:"

send $u4@localhost forwarded $u2+x@localhost
wait_for "the forwarded copy for $u1" at_least $u1 2
wait_for "the copy kept by $u2" at_least $u2 1

send $u4@localhost tagged $u3+news@localhost
wait_for "the .forward+news command" test -s "$(home $u3)/cmd.uid"
[ "$(cat "$(home $u3)/cmd.uid")" = "$(id -u $u3)" ] || fail "the command did not run as $u3"

send $u4@localhost untagged $u3@localhost
wait_for "the Maildir from .forward" sh -c "ls '$(home $u3)/Maildir/new' | grep -q ."
[ "$(stat -c %U "$(home $u3)/Maildir/new/$(ls "$(home $u3)/Maildir/new" | head -n 1)")" = $u3 ] ||
	fail "the Maildir file does not belong to $u3"

# Unknown user: a bounce to the sender; over SMTP, smtpd refuses it at RCPT.
if [ "${TERN_SUBMIT:-}" = smtp ]; then
	printf 'Subject: nobody\n\nx\n' | submit -f $u4@localhost nosuchuser-tern@localhost 2>"$TERN_DIR/rcpt.err"
	[ $? = 69 ] || fail "smtpd took mail for an unknown user"
	grep -q "550.*5\.1\.1" "$TERN_DIR/rcpt.err" || fail "not refused with 550 5.1.1: $(cat "$TERN_DIR/rcpt.err")"
else
	send $u4@localhost nobody nosuchuser-tern@localhost
	wait_for "the unknown-user bounce" at_least $u4 1
	grep -q 'unknown user: "nosuchuser-tern"' "$spool/$u4" || fail "no unknown-user diagnostic"
	grep -q '^Status: 5.1.1' "$spool/$u4" || fail "no 5.1.1"
fi

# mailbox_size_limit: u1's mbox is already > 1500 bytes; two more messages of ~1800 bytes
# cannot both fit in 4000. The bounce goes to u5, whose mbox is empty.
big=$(head -c 1500 /dev/zero | tr '\0' 'x' | fold -w 70)
printf 'Subject: big1\n\n%s\n' "$big" | submit -f $u5@localhost $u1@localhost || fail "submission big1"
printf 'Subject: big2\n\n%s\n' "$big" | submit -f $u5@localhost $u1@localhost || fail "submission big2"
wait_for "the size-limit bounce" grep -q 'mailbox_size_limit' "$spool/$u5"
grep -q '^Status: 5.2.2' "$spool/$u5" || fail "no 5.2.2 for the size limit"
[ "$(stat -c %s "$spool/$u1")" -le 4000 ] || fail "the mbox grew beyond mailbox_size_limit"

# home_mailbox: a Maildir in the home directory.
tern_stop
ternconf -e "home_mailbox = Maildir/" || fail "ternconf -e"
tern_start
send $u1@localhost home $u4@localhost
wait_for "home_mailbox Maildir" sh -c "ls '$(home $u4)/Maildir/new' 2>/dev/null | grep -q ."
pass
