#!/bin/sh
# t_hostile_forward.sh - hostile .forward and :include: files, with
# system accounts made here (root's local delivery agent):
#  - a group- or world-writable .forward is ignored with a log line and
#    the mail goes to the mailbox;
#  - a group- or world-writable :include: file (from a .forward or from
#    alias_maps) is ignored with a log line;
#  - a .forward naming :include: of a file only root may read (as
#    /etc/shadow is) does not make root read it for the user: the file is
#    opened with the user's privileges, the recipient is deferred with
#    "Permission denied", and no byte of the file shows up in a bounce,
#    a mailbox or the log;
#  - a .forward that is a symbolic link to that root-only file (root's
#    and not writable by others, so it would pass the owner check) is
#    opened with the user's privileges too: ignored as unreadable, the mail
#    goes to the mailbox, nothing of the file in a bounce or the log;
#  - a .forward naming another user's mbox as a /file delivery: the file
#    is written as the recipient, so it fails (Permission denied,
#    deferred) and the other mbox does not change.
here=$(dirname "$0")
[ -f "$here/lib.sh" ] || { echo "skip: tests/e2e/lib.sh is missing"; exit 77; }
. "$here/lib.sh"
need_root
for p in sendmail local qmgr pickup ternconf; do
	[ -x "$TERN_TOP/stage/$p" ] || skip "$p is not built"
done

u1=ternhf1 u2=ternhf2 u3=ternhf3 u4=ternhf4 u5=ternhf5 snd=ternhf6 u7=ternhf7
for u in $u1 $u2 $u3 $u4 $u5 $snd $u7; do test_user_add $u; done
home() { getent passwd "$1" | cut -d: -f6; }
as() { u=$1; shift; su "$u" -s /bin/sh -c "$*" || fail "as $u: $*"; }

tern_instance
spool="$TERN_DIR/spool"
mkdir -p "$spool" && chmod 1777 "$spool"
chmod 755 "$TERN_DIR"
printf 'topsecret-%s\nroot:$6$topsecret$hash:19000:0:99999:7:::\n' $$ > "$TERN_DIR/secret"
chmod 600 "$TERN_DIR/secret"	# root's alone, as /etc/shadow
printf '%s@localhost\n' $u2 > "$TERN_DIR/list.txt"
chmod 666 "$TERN_DIR/list.txt"
printf 'wlist :include:%s/list.txt\n' "$TERN_DIR" > "$TERN_DIR/aliases.map"
ternconf -X local_maildir_base || fail "ternconf -X"
ternconf -e "mail_spool_directory = $spool" "alias_maps = texthash:$TERN_DIR/aliases.map" ||
	fail "ternconf -e"

# u1: a group-writable .forward to u2. u3: a .forward with :include: of
# a world-writable list it owns. u4: :include: of the secret. u5: /file
# delivery into u2's mbox.
as $u1 "printf '%s@localhost\n' $u2 > ~/.forward && chmod 664 ~/.forward"
as $u3 "printf '%s@localhost\n' $u2 > ~/list && chmod 646 ~/list && printf ':include:%s/list\n' \$HOME > ~/.forward"
as $u4 "printf ':include:%s/secret\n' '$TERN_DIR' > ~/.forward"
as $u5 "printf '%s/%s\n' '$spool' $u2 > ~/.forward"
as $u7 "ln -s '$TERN_DIR/secret' ~/.forward"
tern_start

send() {	# send RCPT SUBJECT
	printf 'From: %s@localhost\nSubject: %s\n\nhostile %s\n' $snd "$2" "$2" |
		sendmail -f $snd@localhost "$1@localhost" || fail "submission exited $?"
}
sum() { sha256sum "$1" | cut -d' ' -f1; }

send $u2 first
wait_for "the mbox of $u2" test -s "$spool/$u2"
# Its whole message: local answers (and the attempt logs) after the write.
wait_for_log "to=<$u2@localhost>.*status=sent"
u2sum=$(sum "$spool/$u2")

send $u1 gw-forward
wait_for "$u1's own mbox" test -s "$spool/$u1"
grep -q "$(home $u1)/.forward: ignored: not owned by its user or writable by others" "$TERN_DIR/maillog" ||
	fail "no log line for the group-writable .forward"

send $u3 ww-include
wait_for "$u3's own mbox" test -s "$spool/$u3"
grep -q "$(home $u3)/list: ignored: writable by group or others" "$TERN_DIR/maillog" ||
	fail "no log line for the world-writable :include: file"

send wlist ww-alias-include
wait_for_log "$TERN_DIR/list.txt: ignored: writable by group or others"
wait_for_log "to=<wlist@localhost>.*status=bounced \\(no destinations for wlist"

send $u4 include-secret
wait_for_log "to=<$u4@localhost>.*status=deferred.*cannot read include file $TERN_DIR/secret.*Permission denied"

send $u7 link-secret
wait_for "$u7's own mbox" test -s "$spool/$u7"
grep -q "$(home $u7)/.forward: Permission denied" "$TERN_DIR/maillog" ||
	fail "no log line for the .forward linked to a root-only file"

send $u5 file-other
wait_for_log "to=<$u5@localhost>.*status=deferred.*cannot open file $spool/$u2: Permission denied"
[ "$(sum "$spool/$u2")" = "$u2sum" ] || fail "$u2's mbox was written by $u5's .forward"
[ "$(grep -c '^From ' "$spool/$u2")" = 1 ] || fail "$u2 got mail through a writable .forward or include"

# The deferred ones tried again (and deferred again), all logged.
tern -c "$TERN_DIR" flush >/dev/null 2>&1
_retried() { [ "$(grep -c "to=<$1@localhost>.*status=deferred" "$TERN_DIR/maillog")" -ge 2 ]; }
wait_for "the retry for $u4" _retried $u4
wait_for "the retry for $u5" _retried $u5
grep -rl topsecret "$spool" "$TERN_DIR/maillog" 2>/dev/null && fail "the secret file leaked"
pass
