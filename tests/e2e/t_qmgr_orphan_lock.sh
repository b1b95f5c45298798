#!/bin/sh
# t_qmgr_orphan_lock.sh - a queue file is never in the hands of two
# delivery processes at once. qmgr is killed (kill -9, qmgr alone) while
# one of its delivery processes waits for a slow command; the master
# starts a new qmgr, which finds the file in active/ but locked by the
# orphaned delivery process, and leaves it to that one: (a) once the
# command ends, the message is in the command's file exactly once; (b)
# when the orphaned delivery process is killed instead, the new qmgr
# takes the file again as soon as the lock is free, and the message
# arrives (once: the command had not written it).
. "$(dirname "$0")/lib.sh"

need_root
tern_instance
out="$TERN_DIR/out"
mkdir -p "$out" && chmod 1777 "$out"
# The first run of the command for a message waits for out/go, a later one does not.
echo "slow \"|/bin/sh -c 'if [ ! -e $out/started ]; then touch $out/started; while [ ! -e $out/go ]; do sleep 0.1; done; fi; cat >> $out/slow'\"" \
	> "$TERN_DIR/aliases.map"
ternconf -e "alias_maps = texthash:$TERN_DIR/aliases.map" || fail "ternconf -e"
tern_start
workers_of() { ps -eo pid=,ppid=,comm= | awk -v q="$1" '$2 == q && $3 == "qmgr" { print $1 }'; }
copies() { grep -c "^message $1\$" "$out/slow" 2>/dev/null; }
send() { printf 'Subject: %s\n\nmessage %s\n' "$1" "$1" | sendmail -i slow@localhost || fail "sendmail"; }

# (a) The orphaned delivery process finishes the delivery itself.
send a
wait_for "the command to start" test -e "$out/started"
old=$(tern_qmgr_pid)
orphan=$(workers_of "$old")
[ -n "$orphan" ] || fail "no delivery process"
kill -KILL "$old"
wait_for_log "in the hands of an earlier delivery process; watched"
touch "$out/go"
wait_for "message a" sh -c "[ \"\$(grep -c '^message a\$' '$out/slow')\" -ge 1 ]"
_queue_empty() { [ -z "$(ls -A "$TERN_DIR/queue/active")$(ls -A "$TERN_DIR/queue/deferred")" ]; }
wait_for "the queue to empty" _queue_empty
sleep 2
[ "$(copies a)" -eq 1 ] || fail "(a) message a delivered $(copies a) times"
ls "$TERN_DIR/queue/corrupt" | grep -q . && fail "(a) files in corrupt/: $(ls "$TERN_DIR/queue/corrupt")"

# (b) The orphaned delivery process dies: the file is taken again.
rm -f "$out/started" "$out/go"
send b
wait_for "the command to start" test -e "$out/started"
old=$(tern_qmgr_pid)
orphan=$(workers_of "$old")
[ -n "$orphan" ] || fail "no delivery process"
kill -KILL "$old"
wait_for "the file watched again" sh -c "[ \$(grep -c 'in the hands of an earlier delivery process; watched' '$TERN_DIR/maillog') -ge 2 ]"
kill -KILL $orphan
touch "$out/go"
wait_for_log "released by the earlier delivery process; taken again"
wait_for "message b" sh -c "[ \"\$(grep -c '^message b\$' '$out/slow')\" -ge 1 ]"
pass
