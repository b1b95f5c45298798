#!/bin/sh
# t_local_fifo.sh - a user cannot hold local by putting a FIFO where
# mail is written: a /file destination in ~/.forward that is a FIFO
# nobody reads (open would wait for a reader) is deferred at once, and
# so is one that somebody reads (not a regular file). local writes such
# files in its long-lived process, which serves the next messages too.
. "$(dirname "$0")/lib.sh"

need_root
need_cmd mkfifo
u=ternfifo1_$$
test_user_add $u
home=$(getent passwd $u | cut -d: -f6)
[ -d "$home" ] || fail "no home directory for $u"

tern_instance
spool="$TERN_DIR/spool"
mkdir -p "$spool" && chmod 1777 "$spool"
ternconf -X local_maildir_base || fail "ternconf -X"
ternconf -e "mail_spool_directory = $spool" minimal_backoff_time=1h maximal_backoff_time=1h \
	queue_run_delay=1h >/dev/null || fail "ternconf -e"
rm -f "$home/fifo"
mkfifo "$home/fifo" || fail "mkfifo"
printf '%s/fifo\n' "$home" > "$home/.forward"
chown $u "$home/fifo" "$home/.forward"
tern_start

printf 'Subject: into a fifo\n\nbody\n' | sendmail -C "$TERN_DIR" -i $u@localhost || fail "sendmail exited $?"
wait_for_log "to=<$u@localhost>.*status=deferred.*$home/fifo"

# A reader on the FIFO: the open works, the file is still refused. The
# reader opens it read-write, which does not wait for a writer, and holds
# it before the message is sent (else local could come first and find no
# reader, as above).
sleep 60 <> "$home/fifo" &
reader=$!
at_cleanup "kill $reader"
wait_for "the FIFO's reader" sh -c "[ \"\$(readlink /proc/$reader/fd/0)\" = '$home/fifo' ]"
printf 'Subject: into a read fifo\n\nbody\n' | sendmail -C "$TERN_DIR" -i $u@localhost || fail "sendmail exited $?"
_two_deferred() {
	[ "$(grep -c "to=<$u@localhost>.*status=deferred.*$home/fifo" "$TERN_DIR/maillog")" -ge 2 ]
}
wait_for "the second deferral" _two_deferred
grep -q "to=<$u@localhost>.*status=deferred.*not a regular file" "$TERN_DIR/maillog" ||
	{ show_log; fail "the read FIFO was not refused as not a regular file"; }
! grep -q "to=<$u@localhost>.*status=sent" "$TERN_DIR/maillog" || { show_log; fail "delivered into a FIFO"; }
kill $reader 2>/dev/null
pass
