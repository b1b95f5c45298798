#!/bin/sh
# t_local_dotlock_user.sh - the dot-lock of a home mailbox is taken as
# its user, not as root: a user whose home_mailbox directory is a
# symbolic link to a directory the user may not write cannot make local
# create or remove lock files there (the stale-lock removal would
# otherwise delete any NAME.lock file of root's). The mail is deferred,
# not lost.
. "$(dirname "$0")/lib.sh"
need_root
u=ternldl1_$$
test_user_add $u
home=$(getent passwd $u | cut -d: -f6)

tern_instance
ternconf -X local_maildir_base || fail "ternconf -X"
ternconf -e "home_mailbox = mail/inbox" "mailbox_delivery_lock = fcntl, dotlock" \
	"stale_lock_time = 1s" "deliver_lock_attempts = 1" "deliver_lock_delay = 1s" || fail "ternconf -e"

# root's directory, with an old lock file the user must not be able to remove.
victim="$TERN_DIR/rootonly"
mkdir "$victim" && chmod 755 "$victim" || fail "mkdir $victim"
echo precious > "$victim/inbox.lock"
touch -d '2 hours ago' "$victim/inbox.lock"
rm -rf "$home/mail"
ln -s "$victim" "$home/mail" || fail "ln -s"
chown -h $u "$home/mail"
tern_start

printf 'Subject: lock\n\nhello\n' | sendmail -C "$TERN_DIR" -i $u@localhost || fail "sendmail exited $?"
wait_for_log "to=<$u@localhost>.*status=(deferred|sent|bounced)"
[ -f "$victim/inbox.lock" ] || { show_log; fail "local removed root's $victim/inbox.lock"; }
grep -q precious "$victim/inbox.lock" || fail "root's lock file was replaced"
[ ! -e "$victim/inbox" ] || fail "local created $victim/inbox"
grep -q "to=<$u@localhost>.*status=deferred" "$TERN_DIR/maillog" || { show_log; fail "the message was not deferred"; }
pass
