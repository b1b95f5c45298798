#!/bin/sh
# t_local_fsuid.sh - local writes a mailbox with the recipient's
# file-system uid and gid in its own process (write_as), its real,
# effective and saved uid staying root's: while it does, the recipient's
# processes can neither renice, re-schedule, pin nor signal it (with the
# effective uid switched they could, and local had to put the scheduling
# state back after every switch). The delivery is held inside the switch
# here by an fcntl lock on the mailbox, local waiting for it as the user;
# the test checks the ids the kernel shows for local then, and that the
# user's attempts fail and the mail still arrives.
. "$(dirname "$0")/lib.sh"

need_root
need_cmd setpriv
need_cmd renice
need_cmd chrt
need_cmd taskset
need_cmd python3
u=ternfsu_$$
test_user_add $u
uid=$(id -u $u)
gid=$(id -g $u)
home=$(getent passwd $u | cut -d: -f6)

tern_instance
ternconf -X local_maildir_base || fail "ternconf -X"
ternconf -e "home_mailbox = Mailbox" "mailbox_delivery_lock = fcntl" \
	"deliver_lock_attempts = 60" "deliver_lock_delay = 1s" || fail "ternconf -e"
mbox="$home/Mailbox"
: > "$mbox" && chown $u:$gid "$mbox" && chmod 600 "$mbox" || fail "make $mbox"
tern_start

# Hold the mailbox's fcntl lock until the file $TERN_DIR/release appears.
python3 - "$mbox" "$TERN_DIR/locked" "$TERN_DIR/release" <<'PY' &
import fcntl, os, sys, time
f = open(sys.argv[1], "a")
fcntl.lockf(f, fcntl.LOCK_EX)
open(sys.argv[2], "w").close()
for _ in range(600):
    if os.path.exists(sys.argv[3]):
        break
    time.sleep(0.1)
PY
holder=$!
at_cleanup "kill $holder 2>/dev/null"
wait_for "the lock holder" test -e "$TERN_DIR/locked"

printf 'Subject: held\n\nbody\n' | sendmail -C "$TERN_DIR" -i $u@localhost || fail "sendmail exited $?"

# The local process that waits for the lock: its file-system uid is the user's.
_switched() {
	for _p in $(pgrep -f "^local -c $TERN_DIR\$"); do
		if grep -q "^Uid:[[:space:]]*0[[:space:]]*0[[:space:]]*0[[:space:]]*$uid\$" /proc/$_p/status 2>/dev/null; then
			echo $_p > "$TERN_DIR/agent"
			return 0
		fi
	done
	return 1
}
wait_for "local with the user's file-system uid" _switched
agent=$(cat "$TERN_DIR/agent")
grep -q "^Gid:[[:space:]]*0[[:space:]]*0[[:space:]]*0[[:space:]]*$gid\$" /proc/$agent/status ||
	fail "local $agent: file-system gid is not $gid: $(grep ^Gid: /proc/$agent/status)"
nice0=$(ps -o ni= -p "$agent" | tr -d ' ')
# Effective capabilities while switched: CAP_KILL, CAP_SETGID, CAP_SETUID
# at most (the kernel took the file-system ones, local the others, such
# as CAP_SYS_RESOURCE, which would let the write exceed quotas).
prm=$(sed -n 's/^CapPrm:[[:space:]]*//p' /proc/$agent/status)
eff=$(sed -n 's/^CapEff:[[:space:]]*//p' /proc/$agent/status)
[ $((0x$eff)) -eq $((0x$prm & 0xe0)) ] ||
	fail "local $agent has effective capabilities $eff while it writes as $u (permitted $prm)"

as_user() { setpriv --reuid=$uid --regid=$gid --clear-groups "$@" 2>/dev/null; }
as_user renice -n 17 -p "$agent" >/dev/null && fail "the user reniced local $agent while it delivered"
as_user chrt -b -p 0 "$agent" && fail "the user changed local $agent's scheduling policy"
as_user taskset -p 1 "$agent" >/dev/null && fail "the user changed local $agent's CPU affinity"
as_user kill -STOP "$agent" && fail "the user stopped local $agent"
as_user kill -0 "$agent" && fail "the user may signal local $agent"
as_user cat /proc/$agent/environ >/dev/null && fail "the user read local $agent's environment"

touch "$TERN_DIR/release"
wait_for_log "to=<$u@localhost>.*status=(sent|deferred|bounced)"
grep -q "to=<$u@localhost>.*status=sent" "$TERN_DIR/maillog" || { show_log; fail "not delivered"; }
grep -q '^Subject: held' "$mbox" || fail "the message is not in $mbox"
[ "$(stat -c %u "$mbox")" = "$uid" ] || fail "$mbox changed owner"
[ "$(ps -o ni= -p "$agent" | tr -d ' ')" = "$nice0" ] || fail "local $agent's nice value changed"
# Back to root's file-system ids after the delivery.
grep -q "^Uid:[[:space:]]*0[[:space:]]*0[[:space:]]*0[[:space:]]*0\$" /proc/$agent/status ||
	fail "local $agent still has $(grep ^Uid: /proc/$agent/status)"

# A file the user may not write stays unwritable while local writes as the
# user: a .forward to root's file is deferred, the file unchanged.
victim="$TERN_DIR/rootonly/victim"
mkdir "$TERN_DIR/rootonly" && chmod 755 "$TERN_DIR/rootonly" && echo precious > "$victim" &&
	chmod 644 "$victim" || fail "make $victim"
echo "$victim" > "$home/.forward" && chown $u:$gid "$home/.forward" && chmod 644 "$home/.forward" ||
	fail "make .forward"
printf 'Subject: file\n\nbody\n' | sendmail -C "$TERN_DIR" -i $u@localhost || fail "sendmail exited $?"
wait_for_log "to=<$u@localhost>.*status=(deferred|bounced)"
grep -q "to=<$u@localhost>.*status=deferred.*Permission denied" "$TERN_DIR/maillog" ||
	{ show_log; fail "the delivery to $victim was not deferred for want of permission"; }
[ "$(cat "$victim")" = precious ] || fail "local wrote into $victim"
pass
