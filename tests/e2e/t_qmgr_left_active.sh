#!/bin/sh
# t_qmgr_left_active.sh - a delivery attempt that cannot deal with its
# queue file (here: the delivery process may not open it) leaves the file
# in active/; qmgr must still defer it and try again, not leave it there
# until it restarts, now that its delivery processes serve message after
# message. Once the file can be read, the message is delivered.
. "$(dirname "$0")/lib.sh"

need_root
tern_instance
ternconf -c "$TERN_DIR" -e minimal_backoff_time=1s maximal_backoff_time=2s \
	queue_run_delay=1s >/dev/null || fail "ternconf -e"
owner=$(ternconf -h mail_owner) || fail "ternconf mail_owner"
qdir=$(ternconf -h queue_directory 2>/dev/null) || qdir="$TERN_DIR/queue"
tern_start

# A complete queue file that only root may open (the queue manager and
# its delivery processes run as mail_owner).
now=$(date +%s)
id=$(printf '%X%05X%X' "$now" 4660 48879)
body=$(printf 'Subject: unreadable at first\n\nheld one\n')
len=$(printf '%s\n' "$body" | wc -c)
tmp="$qdir/incoming/.t$$"
{
	printf 'TERNQ 1\nT %s.000000\nI %s\nS sender@example.org\n' "$now" "$id"
	printf 'R-0\theld@localhost\t\n'
	printf 'M %020d\n' "$len"
	printf '%s\n' "$body"
	printf 'E\n'
} > "$tmp" || fail "write $tmp"
chmod 600 "$tmp" && chown root "$tmp" || fail "chmod $tmp"
mv "$tmp" "$qdir/incoming/$id" || fail "mv $tmp"

wait_for_log "$id: cannot open queue file"
wait_for_log "$id: delivery process [0-9]+ ended abnormally.*deferred"

# Now it may be read: the next attempt delivers it.
_readable_now() {
	for d in active deferred incoming; do
		[ -e "$qdir/$d/$id" ] && chown "$owner" "$qdir/$d/$id" 2>/dev/null && return 0
	done
	return 1
}
wait_for "the queue file in active/ or deferred/" _readable_now
wait_for_mail held 1
grep -qs 'held one' "$(tern_newest_mail held)" || fail "the message is not in the Maildir"
wait_for_log "to=<held@localhost>.*status=sent"
pass
