#!/bin/sh
# t_local_sched_restore.sh - local writes a mailbox or Maildir with the
# recipient's effective uid in its own process (write_as), and while it
# does, the kernel lets that user's processes change the agent's nice
# value, scheduling policy and CPU affinity. local reads its own state
# once per process and puts it back after every switch to a user, so
# that no change made to the delivering process outlives the delivery.
# The change is made here (as root) between two deliveries of one local
# process: a process that restored only what it read before each switch
# would keep it.
. "$(dirname "$0")/lib.sh"

need_root
need_cmd renice
need_cmd chrt
need_cmd taskset
for p in sendmail local qmgr pickup; do
	[ -x "$TERN_TOP/stage/$p" ] || skip "$p is not built"
done

tern_instance
tern_start
printf 'Subject: one\n\nbody\n' | submit -f s@localhost keep@localhost || fail "submit 1"
wait_for_mail keep 1

listener=$(pgrep -o -f "^local -c $TERN_DIR\$") || fail "no local process"
agents=$(pgrep -P "$listener") || fail "no local process serving qmgr"
nice0=$(ps -o ni= -p "$listener" | tr -d ' ')
for pid in $agents; do
	renice -n 17 -p "$pid" >/dev/null || fail "renice $pid"
	chrt -b -p 0 "$pid" || fail "chrt $pid"
	[ "$(nproc)" -gt 1 ] && { taskset -p 1 "$pid" >/dev/null || fail "taskset $pid"; }
done

printf 'Subject: two\n\nbody\n' | submit -f s@localhost keep@localhost || fail "submit 2"
wait_for_mail keep 2
# The Maildir file's name carries the pid of the process that wrote it.
by=$(tern_newest_mail keep | sed -n 's/.*P\([0-9]*\)Q.*/\1/p')
case " $(echo $agents) " in
*" $by "*) ;;
*) fail "the second message was written by local $by, not by one of the changed processes ($agents)" ;;
esac
for pid in $agents; do
	kill -0 "$pid" 2>/dev/null || continue
	[ "$(ps -o ni= -p "$pid" | tr -d ' ')" = "$nice0" ] ||
		fail "local $pid kept nice $(ps -o ni= -p "$pid") after a delivery (was $nice0)"
	chrt -p "$pid" | grep -q SCHED_BATCH && fail "local $pid kept SCHED_BATCH after a delivery"
	if [ "$(nproc)" -gt 1 ]; then
		[ "$(taskset -p "$pid" | sed 's/.*: //')" = "$(taskset -p "$listener" | sed 's/.*: //')" ] ||
			fail "local $pid kept its CPU affinity: $(taskset -p "$pid")"
	fi
done
pass
