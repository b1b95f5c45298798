#!/bin/sh
# t_queue_recycle_room.sh - spares give way to mail (lib/mail/qrecycle.h):
# when the queue's file system has less than twice the room smtpd wants
# free to take a message (1.5 x message_size_limit, queue_minfree), qmgr's
# trim removes every spare, whatever queue_recycle_limit says; with more,
# they stay. On an ext4 of the test's own (32 MiB), 20 spares of about
# 200 KB are made (20 messages deferred by transport_maps, so that each is
# written into a new file, then flushed and delivered), then qmgr is
# restarted (it trims at its start) with a message_size_limit that leaves
# room, and again with one that does not.
. "$(dirname "$0")/lib.sh"
need_root
need_cmd mkfs.ext4 python3

tern_instance
# Room to spare at first (a 1 MB limit), so that no trim takes a spare early.
ternconf -c "$TERN_DIR" -e 'transport_maps = inline:{ { keep@localhost = retry:4.4.1 later } }' \
	"message_size_limit = 1000000" >/dev/null || fail "ternconf -e transport_maps"
tern_queue_ext4
qdir=$TERN_DIR/queue
tern_start

body=$TERN_DIR/body
python3 -c 'import sys; sys.stdout.write("Subject: pool\n\n" + ("y" * 76 + "\n") * 2600)' >"$body"
for i in $(seq 20); do
	sendmail -i -f alice@localhost keep@localhost <"$body" || fail "sendmail $i"
done
_deferred() { [ "$(ls "$qdir/deferred" | wc -l)" = 20 ]; }
wait_for "20 messages deferred" _deferred
ternconf -c "$TERN_DIR" -e 'transport_maps =' >/dev/null || fail "ternconf -e transport_maps"
tern_reload
ternqueue -f || fail "ternqueue -f"
wait_for_mail keep 20
_pooled() { [ "$(ls "$qdir/recycle" | wc -l)" = 20 ]; }
wait_for "20 spares" _pooled

avail=$(df -B1 --output=avail "$qdir" | tail -n 1)
# Room: twice 1.5 x the limit is 3 x the limit, a megabyte under what is free.
ternconf -c "$TERN_DIR" -e "message_size_limit = $(( (avail - 1000000) / 3 ))" >/dev/null || fail "ternconf -e"
started=$(grep -c 'qmgr\[.*: started' "$TERN_DIR/maillog")
tern_stop
tern_start
# qmgr trims right after its start line, before it looks at incoming/ again.
_restarted() { [ "$(grep -c 'qmgr\[.*: started' "$TERN_DIR/maillog")" -gt "$started" ]; }
wait_for "qmgr started again" _restarted
sleep 1
[ "$(ls "$qdir/recycle" | wc -l)" = 20 ] || fail "spares removed though there was room"
! grep -q 'removed [0-9]* spare queue file' "$TERN_DIR/maillog" || fail "a trim removed spares"
# No room: 3 x the limit is a megabyte over what is free.
ternconf -c "$TERN_DIR" -e "message_size_limit = $(( (avail + 1000000) / 3 ))" >/dev/null || fail "ternconf -e"
tern_stop
tern_start
wait_for_log "removed 20 spare queue file\(s\)"
[ "$(ls "$qdir/recycle" | wc -l)" = 0 ] || fail "spares left though room was short"
pass
