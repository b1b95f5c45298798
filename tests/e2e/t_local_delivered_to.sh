#!/bin/sh
# t_local_delivered_to.sh - prepend_delivered_header in a tern init
# instance: Delivered-To: is prepended only for the kinds of delivery it
# names: command (an alias |command), file (an alias /file, and the
# Maildir mailbox, as in Postfix) and forward (the copy an alias sends
# on to a remote address, looked at in the queue). By default all three.
# Runs as root or as any user.
here=$(dirname "$0")
[ -f "$here/lib.sh" ] || { echo "skip: tests/e2e/lib.sh is missing"; exit 77; }
. "$here/lib.sh"
for p in sendmail local qmgr pickup ternconf ternqueue; do
	[ -x "$TERN_TOP/stage/$p" ] || skip "$p is not built"
done

tern_instance
out="$TERN_DIR/out"
mkdir -p "$out" && chmod 1777 "$out"
{
	echo "pipe \"|/bin/sh -c 'cat > $out/pipe.msg'\""
	echo "file $out/file.mbox"
	echo "fwd someone@remote.example"
} > "$TERN_DIR/aliases.map"
# Forwarded copies wait in the queue: the relay host does not listen.
ternconf -e "alias_maps = texthash:$TERN_DIR/aliases.map" \
	"relayhost = [127.0.0.1]:$(free_port)" || fail "ternconf -e"

send() {	# send SUBJECT RCPT
	printf 'Subject: %s\n\nbody of %s\n' "$1" "$1" |
		submit -f sender@localhost "$2" || fail "submission exited $?"
}
queued_copy() {	# print the queued message with this subject
	for _id in $(ternqueue -j | python3 -c 'import json,sys
for l in sys.stdin:
    if l.strip(): print(json.loads(l)["queue_id"])'); do
		ternqueue -c "$_id" | grep -q "^Subject: $1\$" && { ternqueue -c "$_id"; return 0; }
	done
	return 1
}
has_dt() { grep -q "^Delivered-To: $1@localhost" "$2"; }

# round KIND WANT: deliver to each kind, check Delivered-To: is there
# only for the kinds in WANT.
round() {
	_r=$1
	shift
	rm -f "$out/pipe.msg" "$out/file.mbox"
	send "pipe$_r" pipe@localhost
	send "file$_r" file@localhost
	send "box$_r" box@localhost
	send "fwd$_r" fwd@localhost
	wait_for "the command ($_r)" grep -q "body of pipe$_r" "$out/pipe.msg"
	wait_for "the file ($_r)" grep -q "body of file$_r" "$out/file.mbox"
	wait_for "the Maildir ($_r)" sh -c "grep -l 'body of box$_r' '$TERN_DIR/mail/box/new/'*"
	wait_for "the forwarded copy ($_r)" queued_copy "fwd$_r"
	queued_copy "fwd$_r" > "$out/fwd.msg"
	box=$(grep -l "body of box$_r" "$TERN_DIR/mail/box/new/"*)
	for k in pipe file box fwd; do
		case $k in pipe) f=$out/pipe.msg w=command ;; file) f=$out/file.mbox w=file ;;
			box) f=$box w=file ;; fwd) f=$out/fwd.msg w=forward ;; esac
		case " $* " in
		*" $w "*) has_dt $k "$f" || fail "$_r: no Delivered-To: for $k ($w): $(cat "$f")" ;;
		*) has_dt $k "$f" && fail "$_r: Delivered-To: for $k ($w) although not asked for" ;;
		esac
	done
}

tern_start
round default command file forward
tern_stop
ternconf -e "prepend_delivered_header = command" || fail "ternconf -e"
tern_start
round cmd command
tern_stop
ternconf -e "prepend_delivered_header = file, forward" || fail "ternconf -e"
tern_start
round filefwd file forward
pass
