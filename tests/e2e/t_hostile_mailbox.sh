#!/bin/sh
# t_hostile_mailbox.sh - a local user who plants links where Tern
# delivers their mail: root's local delivery agent must refuse, with a
# clear reason, and never write through the link.
#  - the spool mbox a symbolic link to /etc/passwd, and to another
#    user's mbox: bounced (5.2.0, "Too many levels of symbolic links"),
#    neither file changes;
#  - the spool mbox a hard link to another file (a second name of a
#    file the user owns, and of a root-owned file, as on a system
#    without fs.protected_hardlinks): deferred ("not a regular file
#    owned by the recipient"), the other file does not change;
#  - a home Maildir whose new/ or tmp/ is a symbolic link to another
#    user's Maildir: deferred ("not a directory"), nothing lands there.
here=$(dirname "$0")
[ -f "$here/lib.sh" ] || { echo "skip: tests/e2e/lib.sh is missing"; exit 77; }
# e2e: serial (it checks that /etc/passwd is unchanged, which other tests adding users would change)
. "$here/lib.sh"
need_root
for p in sendmail local qmgr pickup ternconf; do
	[ -x "$TERN_TOP/stage/$p" ] || skip "$p is not built"
done

u1=ternhm1 u2=ternhm2 u3=ternhm3 u4=ternhm4 snd=ternhm5
for u in $u1 $u2 $u3 $u4 $snd; do test_user_add $u; done
home() { getent passwd "$1" | cut -d: -f6; }

tern_instance
spool="$TERN_DIR/spool"
mkdir -p "$spool" && chmod 1777 "$spool"
ternconf -X local_maildir_base || fail "ternconf -X"
ternconf -e "mail_spool_directory = $spool" || fail "ternconf -e"
tern_start

send() {	# send RCPT SUBJECT
	printf 'From: %s@localhost\nSubject: %s\n\nhostile %s\n' $snd "$2" "$2" |
		sendmail -f $snd@localhost "$1@localhost" || fail "submission exited $?"
}
sum() { sha256sum "$1" | cut -d' ' -f1; }

# u2 has a real mbox with one message in it.
send $u2 first
wait_for "the mbox of $u2" test -s "$spool/$u2"
# Its whole message: local answers (and the attempt logs) after the write.
wait_for_log "to=<$u2@localhost>.*status=sent"
u2sum=$(sum "$spool/$u2") passwd_sum=$(sum /etc/passwd)

# u1: mbox -> /etc/passwd. Bounced to the sender, /etc/passwd untouched.
su $u1 -s /bin/sh -c "ln -s /etc/passwd '$spool/$u1'" || fail "ln -s as $u1"
send $u1 to-passwd
wait_for "the symlink bounce" sh -c "grep -q 'to-passwd' '$spool/$snd' 2>/dev/null"
grep -q "^Status: 5.2.0" "$spool/$snd" || fail "no 5.2.0 for a symlinked mbox"
grep -q "cannot open mailbox $spool/$u1: Too many levels of symbolic links" "$spool/$snd" ||
	fail "the bounce does not say why: $(grep -i 'diagnostic' "$spool/$snd")"
[ "$(sum /etc/passwd)" = "$passwd_sum" ] || fail "/etc/passwd changed"
rm -f "$spool/$u1"

# u1: mbox -> u2's mbox.
su $u1 -s /bin/sh -c "ln -s '$spool/$u2' '$spool/$u1'" || fail "ln -s as $u1"
send $u1 to-other
wait_for "the second symlink bounce" grep -q 'to-other' "$spool/$snd"
[ "$(sum "$spool/$u2")" = "$u2sum" ] || fail "$u2's mbox was written through $u1's link"
rm -f "$spool/$u1"

# u3: mbox a hard link to a file u3 owns elsewhere: two names, deferred.
su $u3 -s /bin/sh -c "echo notes > '$(home $u3)/notes' && ln '$(home $u3)/notes' '$spool/$u3'" ||
	fail "ln as $u3"
send $u3 hardlink-own
wait_for_log "to=<$u3@localhost>.*status=deferred.*not a regular file owned by the recipient"
[ "$(cat "$(home $u3)/notes")" = notes ] || fail "written through a hard link"
rm -f "$spool/$u3"

# u4: mbox a hard link to a root-owned file (what fs.protected_hardlinks=0 allows).
echo 'root only' > "$TERN_DIR/rootfile" && chmod 666 "$TERN_DIR/rootfile"	# writable by all: the link check must stop it, not the mode
ln "$TERN_DIR/rootfile" "$spool/$u4"
send $u4 hardlink-root
wait_for_log "to=<$u4@localhost>.*status=deferred.*not a regular file owned by the recipient"
[ "$(cat "$TERN_DIR/rootfile")" = 'root only' ] || fail "written through a hard link to a root file"

# Maildir: new/ (then tmp/) of u1's home Maildir a symbolic link into u2's.
tern_stop
ternconf -e "home_mailbox = Maildir/" || fail "ternconf -e"
tern_start
send $u2 maildir-first
wait_for "the Maildir of $u2" sh -c "ls '$(home $u2)/Maildir/new' 2>/dev/null | grep -q ."
chmod 755 "$(home $u2)" && chmod -R a+rwx "$(home $u2)/Maildir"	# writable by all: the link must stop it, not the mode
n2=$(ls "$(home $u2)/Maildir/new" | wc -l)
su $u1 -s /bin/sh -c "mkdir -p '$(home $u1)/Maildir/tmp' '$(home $u1)/Maildir/cur' &&
	ln -s '$(home $u2)/Maildir/new' '$(home $u1)/Maildir/new'" || fail "Maildir link as $u1"
send $u1 maildir-new-link
wait_for_log "to=<$u1@localhost>.*status=deferred.*Maildir/new: not a directory"
[ "$(ls "$(home $u2)/Maildir/new" | wc -l)" = "$n2" ] || fail "delivered through a symlinked new/"
su $u1 -s /bin/sh -c "rm '$(home $u1)/Maildir/new' && mkdir '$(home $u1)/Maildir/new' &&
	rmdir '$(home $u1)/Maildir/tmp' && ln -s '$(home $u2)/Maildir/tmp' '$(home $u1)/Maildir/tmp'" ||
	fail "tmp link as $u1"
send $u1 maildir-tmp-link
wait_for_log "to=<$u1@localhost>.*status=deferred.*Maildir/tmp: not a directory"
[ -z "$(ls "$(home $u2)/Maildir/tmp")" ] || fail "written into a symlinked tmp/"
[ -z "$(ls "$(home $u1)/Maildir/new")" ] || fail "delivered through a symlinked tmp/"
pass
