#!/bin/sh
# t_local_mailbox_command.sh - mailbox_command for system accounts (no
# local_maildir_base), as root with test users made here: the command
# gets the message (From_ line, Return-Path:, Delivered-To:) on standard
# input, runs as the recipient with HOME, USER, LOGNAME, SHELL, LOCAL,
# DOMAIN, EXTENSION, RECIPIENT, ORIGINAL_RECIPIENT and SENDER set, and
# "$EXTENSION" in its text is the shell's (Tern does not expand it);
# exit 75 defers, exit 67 bounces with 5.1.1, 0 delivers and no mbox is
# written; aliases and ~/.forward come first; prepend_delivered_header
# without "command" drops Delivered-To:; a command without shell
# metacharacters gets its words as arguments.
here=$(dirname "$0")
[ -f "$here/lib.sh" ] || { echo "skip: tests/e2e/lib.sh is missing"; exit 77; }
. "$here/lib.sh"
need_root
for p in sendmail local qmgr pickup ternconf ternqueue; do
	[ -x "$TERN_TOP/stage/$p" ] || skip "$p is not built"
done

u1=ternmc1_$$ u2=ternmc2_$$ u3=ternmc3_$$ u4=ternmc4_$$ u5=ternmc5_$$ u6=ternmc6_$$
for u in $u1 $u2 $u3 $u4 $u5 $u6; do test_user_add $u; done
home() { getent passwd "$1" | cut -d: -f6; }

tern_instance
spool="$TERN_DIR/spool"
mkdir -p "$spool" && chmod 1777 "$spool"
# The command: records its arguments, uid, environment and input in
# $HOME/msg.N, and exits with the code in $HOME/exit (0 without one).
cat > "$TERN_DIR/mbcmd" <<'EOF'
#!/bin/sh
n=0
while [ -e "$HOME/msg.$n" ]; do n=$((n + 1)); done
code=0
[ -f "$HOME/exit" ] && code=$(cat "$HOME/exit")
{
	echo "ARGS:$*"
	echo "UID:$(id -u)"
	env | grep -E '^(HOME|USER|LOGNAME|SHELL|LOCAL|DOMAIN|EXTENSION|RECIPIENT|ORIGINAL_RECIPIENT|SENDER|PATH)=' | sed 's/^/ENV:/'
	echo "--"
	cat
} > "$HOME/msg.tmp"
[ "$code" = 0 ] && mv "$HOME/msg.tmp" "$HOME/msg.$n"
rm -f "$HOME/msg.tmp"
exit "$code"
EOF
chmod 755 "$TERN_DIR/mbcmd"
echo "$u6 $u1" > "$TERN_DIR/aliases.map"
ternconf -X local_maildir_base || fail "ternconf -X"
ternconf -e "mail_spool_directory = $spool" "recipient_delimiter = +" \
	"alias_maps = texthash:$TERN_DIR/aliases.map" \
	"mailbox_command = $TERN_DIR/mbcmd -a \"\$EXTENSION\"" || fail "ternconf -e"
grep -q '^mailbox_command = .*/mbcmd -a "\$EXTENSION"$' "$TERN_DIR/main.cf" ||
	fail "main.cf does not hold the command as written: $(grep mailbox_command "$TERN_DIR/main.cf")"
# u2 forwards into a file of its own: .forward wins over mailbox_command.
printf '%s/fwd.mbox\n' "$(home $u2)" > "$(home $u2)/.forward"
chown $u2 "$(home $u2)/.forward"
echo 75 > "$(home $u3)/exit"
echo 67 > "$(home $u5)/exit"
tern_start

send() {	# send SENDER SUBJECT RCPT
	printf 'From: %s\nSubject: %s\n\nbody of %s\n' "$1" "$2" "$2" |
		submit -f "$1" "$3" || fail "submission exited $?"
}
msgs() { ls "$(home "$1")" | grep -c '^msg\.[0-9]' ; }
has_msgs() { [ "$(msgs "$1")" -ge "$2" ]; }
msg() { cat "$(home "$1")/msg.$2"; }

# A plain delivery: the command, not the mbox.
send $u4@localhost plain $u1+tag@localhost
wait_for "the command for $u1" has_msgs $u1 1
m=$(msg $u1 0)
echo "$m" | grep -qx 'ARGS:-a tag' || fail "\$EXTENSION was not the shell's: $(echo "$m" | grep ARGS)"
echo "$m" | grep -qx "UID:$(id -u $u1)" || fail "the command did not run as $u1"
for v in "HOME=$(home $u1)" "USER=$u1" "LOGNAME=$u1" "SHELL=/bin/sh" "LOCAL=$u1+tag" \
	"DOMAIN=localhost" "EXTENSION=tag" "RECIPIENT=$u1+tag@localhost" \
	"ORIGINAL_RECIPIENT=$u1+tag@localhost" "SENDER=$u4@localhost"; do
	echo "$m" | grep -qxF "ENV:$v" || fail "no $v in the command's environment: $(echo "$m" | grep ENV)"
done
echo "$m" | sed -n '/^--$/{n;p;q}' | grep -q "^From $u4@localhost " || fail "no From_ line first"
echo "$m" | grep -q "^Return-Path: <$u4@localhost>" || fail "no Return-Path:"
echo "$m" | grep -q "^Delivered-To: $u1+tag@localhost" || fail "no Delivered-To:"
echo "$m" | grep -q '^body of plain' || fail "no body"
[ ! -e "$spool/$u1" ] || fail "an mbox was written although mailbox_command is set"
wait_for_log "to=<$u1\\+tag@localhost>.*status=sent.*delivered to command"

# An alias comes first (u6 -> u1), and the command runs for the target.
send $u4@localhost aliased $u6@localhost
wait_for "the aliased copy for $u1" has_msgs $u1 2
msg $u1 1 | grep -q '^body of aliased' || fail "the alias target did not get the message"
[ "$(msgs $u6)" = 0 ] || fail "the command ran for the alias itself"

# ~/.forward comes first.
send $u4@localhost forwarded $u2@localhost
wait_for "the .forward file delivery" grep -q '^body of forwarded' "$(home $u2)/fwd.mbox"
[ "$(msgs $u2)" = 0 ] || fail "the command ran although $u2 has a .forward"

# Exit 75 (EX_TEMPFAIL): deferred and still queued.
send $u4@localhost tempfail $u3@localhost
wait_for_log "to=<$u3@localhost>.*status=deferred.*status 75"
ternqueue -p | grep -q "$u3@localhost" || fail "the deferred message is not in the queue"

# Exit 67 (EX_NOUSER): a bounce with 5.1.1 to the sender (u4, through the command too).
send $u4@localhost bounced $u5@localhost
wait_for_log "to=<$u5@localhost>.*status=bounced.*status 67"
wait_for "the bounce to $u4" has_msgs $u4 1
msg $u4 0 | grep -q '^Status: 5.1.1' || fail "the bounce does not say 5.1.1"
msg $u4 0 | grep -q '^ENV:SENDER=$' || fail "the bounce did not have the null sender"

# prepend_delivered_header without "command": no Delivered-To:; a
# command without shell metacharacters gets its words as arguments.
tern_stop
ternconf -e "prepend_delivered_header = file, forward" "mailbox_command = $TERN_DIR/mbcmd plain" ||
	fail "ternconf -e"
tern_start
send $u4@localhost nodt $u1@localhost
wait_for "the third message for $u1" has_msgs $u1 3
m=$(msg $u1 2)
echo "$m" | grep -qx 'ARGS:plain' || fail "the simple command got other arguments"
echo "$m" | grep -q '^body of nodt' || fail "no body"
echo "$m" | grep -q '^Delivered-To:' && fail "Delivered-To: although prepend_delivered_header has no command"
pass
