#!/bin/sh
# t_hostile_mailq.sh - queue tools run by an ordinary local user who is
# not in setgid_group (build-tree instance, running, pickup off so one
# message waits in maildrop/):
#  - tern check reports no wrong group for maildrop/ and public/, which
#    are in setgid_group (the user could not have given that group, but
#    it is the right one) and exits 0;
#  - the build tree's mailq (stage/sendmail, not set-group-ID) does not
#    list (public/ is for setgid_group) and says why, exit 69, without
#    claiming the running mail system is down, and shows no queue id.
#    The installed, set-group-ID mailq lists for such a user:
#    t_submit_unpriv.sh.
here=$(dirname "$0")
[ -f "$here/lib.sh" ] || { echo "skip: tests/e2e/lib.sh is missing"; exit 77; }
. "$here/lib.sh"
need_root
for p in sendmail tern ternconf ternqueue; do
	[ -x "$TERN_TOP/stage/$p" ] || skip "$p is not built"
done
u=ternmq1
test_user_add $u
tern_instance
chmod 755 "$TERN_DIR"
qdir=$(ternconf -h queue_directory) || fail "ternconf -h"
group=$(ternconf -h setgid_group) || fail "ternconf -h setgid_group"
[ "$(stat -c %G "$qdir/public")" = "$group" ] || skip "public/ is not in $group here"
id -nG $u | grep -qw "$group" && fail "$u is in $group"
sed -i 's/^pickup /#pickup /' "$TERN_DIR/master.cf"
printf 'Subject: q\n\nx\n' | sendmail -f alice@localhost bob@localhost || fail "submission"
qid=$(ls "$qdir/maildrop")
tern_start

su $u -s /bin/sh -c "'$TERN_TOP/stage/tern' -c '$TERN_DIR' check" >"$TERN_DIR/check.out" 2>&1
rc=$?
grep -q 'want' "$TERN_DIR/check.out" && fail "tern check as $u reports wrong owners: $(cat "$TERN_DIR/check.out")"
[ $rc = 0 ] || fail "tern check as $u exited $rc: $(cat "$TERN_DIR/check.out")"

su $u -s /bin/sh -c "TERN_CONFIG_DIR='$TERN_DIR' '$TERN_TOP/stage/mailq'" >"$TERN_DIR/mailq.out" 2>&1
rc=$?
[ $rc = 69 ] || fail "mailq as $u exited $rc: $(cat "$TERN_DIR/mailq.out")"
grep -q 'permission denied; only root, mail_owner and members of setgid_group' "$TERN_DIR/mailq.out" ||
	fail "mailq as $u does not say why: $(cat "$TERN_DIR/mailq.out")"
grep -q 'mail system is down' "$TERN_DIR/mailq.out" && fail "mailq says a running system is down"
grep -q "$qid" "$TERN_DIR/mailq.out" && fail "$u saw a queue id"
pass
