#!/bin/sh
# t_start_stop.sh - tern start/status/stop/reload and ternd's supervision,
# with the stand-in daemon (tests/e2e/standin) in every service slot:
# start returns once the listener accepts; status prints the pid (exit 0)
# or exits 1; a second master refuses; a killed service is restarted; a
# service needing a certificate stays off with a log line; SIGHUP
# (tern reload) re-reads master.cf; stop returns only when every process,
# helpers included, has exited. As root, also: an instance owned by a
# test user runs as that user whether root or the user starts it.
. "$(dirname "$0")/lib.sh"

standin="$TERN_TOP/tests/e2e/standin"
[ -x "$standin" ] || skip "tests/e2e/standin is not built (make check builds it)"

greeting() {	# greeting PORT: print the first line the listener sends
	python3 -c 'import socket,sys
s=socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=20)
print(s.recv(200).decode().strip())
s.sendall(b"QUIT\r\n")' "$1"
}

# pids of the stand-ins that logged "standin service=NAME"
service_pids() { sed -n "s/.*tern\/standin\[\([0-9]*\)\]: standin service=$1 .*/\1/p" "$TERN_DIR/maillog"; }
# gone, or a zombie waiting for a parent outside the instance to reap it
dead() { _st=$(sed 's/.*) \(.\).*/\1/' "/proc/$1/stat" 2>/dev/null); [ -z "$_st" ] || [ "$_st" = Z ]; }

tern_instance
sub=$(free_port)
cat > "$TERN_DIR/master.cf" <<CF
# service  type    listen           tls       auth      user  procs  command
smtp       inet    $TERN_PORT        starttls  yes       -     1      $standin helper
submission inet    127.0.0.1:$sub   required  required  -     1      $standin
pickup     proc    -                -         -         -     2      $standin
qmgr       public  -                -         -         -     1      $standin
local      unix    -                -         -         root  1      $standin keep-root
crash      proc    -                -         -         -     1      /bin/false
CF

# tern check: a good configuration passes; a bad mode is repaired; a
# broken service table is a configuration error.
tern check || fail "tern check fails on a good instance"
chmod 777 "$TERN_DIR/queue/maildrop"
tern check >/dev/null 2>&1
[ "$(stat -c %a "$TERN_DIR/queue/maildrop")" = 1730 ] || fail "tern check did not repair maildrop/"
cp "$TERN_DIR/master.cf" "$TERN_DIR/master.cf.good"
echo "broken inet 99999 - - - 1 $standin" >> "$TERN_DIR/master.cf"
tern check >/dev/null 2>&1
[ $? = 78 ] || fail "tern check accepts a bad master.cf"
tern start >/dev/null 2>&1
[ $? = 78 ] || fail "tern start accepts a bad master.cf"
mv "$TERN_DIR/master.cf.good" "$TERN_DIR/master.cf"

tern status >/dev/null && fail "status says running before start"
tern -c "$TERN_DIR" status >/dev/null
[ $? = 1 ] || fail "status of a stopped instance does not exit 1"

# A port someone else holds: start fails, says why, leaves nothing running.
python3 - "$TERN_PORT" <<'PY' || fail "tern start with a busy port"
import socket, subprocess, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(1)
r = subprocess.run(["tern", "start"], capture_output=True, text=True)
sys.exit(0 if r.returncode == 69 and "Address already in use" in r.stderr else 1)
PY
tern status >/dev/null && fail "running after a failed start"

# Started from a command substitution (a pipe on stdout, as scripts and
# benchmarks do): tern start returns, since nothing of the instance keeps
# the caller's pipe open.
python3 - <<'PY' || fail "tern start with its output on a pipe did not return"
import subprocess, sys
try:
    r = subprocess.run(["tern", "start"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
except subprocess.TimeoutExpired:
    sys.exit(1)
sys.exit(r.returncode)
PY
tern stop >/dev/null || fail "stop after start in \$(...)"

tern_start
# Ready means accepting: no waiting here.
g=$(greeting "$TERN_PORT") || fail "no connection right after tern start"
[ "$g" = "220 standin smtp" ] || fail "greeting '$g'"

out=$(tern status) || fail "status exits $? while running"
pid=$(echo "$out" | sed -n 's/.*pid \([0-9]*\).*/\1/p')
[ -n "$pid" ] || fail "status prints no pid: $out"
[ "$(cat /proc/$pid/comm)" = ternd ] || fail "pid $pid is not ternd"
[ "$(cat "$TERN_DIR/queue/pid/master.pid")" = "$pid" ] || fail "pid file does not hold $pid"

# A second start is a no-op, a second master refuses.
tern start >/dev/null 2>&1 || fail "second tern start failed"
"$TERN_TOP/stage/ternd" -f -c "$TERN_DIR" 2>/dev/null
[ $? = 69 ] || fail "a second master did not refuse to start"
[ "$(tern status | sed -n 's/.*pid \([0-9]*\).*/\1/p')" = "$pid" ] || fail "master changed"

# Every service started, with the inherited sockets and columns.
wait_for_log "standin service=local "
two_pickups() { [ "$(service_pids pickup | wc -l)" -ge 2 ]; }
wait_for "two pickup processes" two_pickups
grep -q "standin service=smtp .*tls=starttls auth=yes listen=1 127.0.0.1:$TERN_PORT" "$TERN_DIR/maillog" \
	|| fail "smtp did not inherit its listener"
# Each service logs as it starts, in the order its process gets to run:
# qmgr's line may come after local's.
wait_for_log "standin service=qmgr .*listen=1 $TERN_DIR/queue/public/qmgr"
[ -S "$TERN_DIR/queue/private/local" ] || fail "no private/local socket"
grep -q "service submission (port $sub) is off: tls required needs a certificate" "$TERN_DIR/maillog" \
	|| fail "no log line saying why submission is off"
grep -q "standin service=submission" "$TERN_DIR/maillog" && fail "submission started without a certificate"

# A service that keeps crashing is restarted ever more slowly, not in a loop:
# this master's delays double (1s, 2s, 4s, ...). Only its own lines count: the
# masters started and stopped above may have logged crashes of their own.
wait_for_log "ternd\[$pid\]: warning: service crash: process [0-9]+ exited with status 1; restarting in 4s"
delays=$(sed -n "s/.*ternd\[$pid\]: warning: service crash: process [0-9]* exited with status 1; restarting in \([0-9]*\)s$/\1/p" \
	"$TERN_DIR/maillog" | tr '\n' ' ')
case "$delays" in
"1 2 4 " | "1 2 4 8 " | "1 2 4 8 16 ") ;;
*) fail "the crashing service was restarted after these delays (s): $delays" ;;
esac

# tern flush reaches the queue manager's public socket.
tern flush || fail "tern flush failed"
wait_for_log 'standin qmgr got "flush"'

# A killed service comes back.
old=$(service_pids smtp | tail -n 1)
helper1=$(sed -n 's/.*standin helper pid=\([0-9]*\).*/\1/p' "$TERN_DIR/maillog" | tail -n 1)
kill -9 "$old"
new_smtp() { [ "$(service_pids smtp | tail -n 1)" != "$old" ]; }
wait_for "a new smtp process" new_smtp
wait_for_log "service smtp: process $old killed by signal 9"
g=$(greeting "$TERN_PORT") || fail "no connection after the restart"
[ "$g" = "220 standin smtp" ] || fail "greeting after restart '$g'"

# Reload: a new listener in master.cf, the old ones keep working.
extra=$(free_port)
echo "extra      inet    127.0.0.1:$extra  none      no        -     1      $standin" >> "$TERN_DIR/master.cf"
tern reload >/dev/null || fail "tern reload failed"
wait_for_log "reload -- configuration"
g=$(greeting "$extra") || fail "the new listener does not accept after reload"
[ "$g" = "220 standin extra" ] || fail "extra greeting '$g'"
greeting "$TERN_PORT" >/dev/null || fail "the smtp listener is gone after reload"
[ "$(tern status | sed -n 's/.*pid \([0-9]*\).*/\1/p')" = "$pid" ] || fail "reload replaced the master"

# A broken table sent straight to the master: logged, old services kept.
tern reload >/dev/null 2>&1 || fail "second reload failed"
cp "$TERN_DIR/master.cf" "$TERN_DIR/master.cf.good"
echo "broken inet 0 - - - 1 $standin" >> "$TERN_DIR/master.cf"
tern reload >/dev/null 2>&1
[ $? = 78 ] || fail "tern reload accepted a bad master.cf"
kill -HUP "$pid"
wait_for_log "reload failed, keeping the running configuration: .*line [0-9]+: service broken"
greeting "$TERN_PORT" >/dev/null || fail "smtp gone after a failed reload"
mv "$TERN_DIR/master.cf.good" "$TERN_DIR/master.cf"

# Stop: every process gone when it returns, helpers included.
all=$(sed -n 's/.*tern\/standin\[\([0-9]*\)\].*/\1/p; s/.*standin helper pid=\([0-9]*\).*/\1/p' "$TERN_DIR/maillog" | sort -u)
tern_stop
for p in $all $pid $helper1; do
	dead "$p" || fail "process $p still alive after tern stop ($(cat /proc/$p/cmdline | tr '\0' ' '))"
done
tern status >/dev/null
[ $? = 1 ] || fail "status after stop does not exit 1"
greeting "$TERN_PORT" >/dev/null 2>&1 && fail "listener still accepting after stop"
tern stop >/dev/null 2>&1 || fail "stop of a stopped instance fails"

# The foreground master: logs on standard error, stops on SIGTERM via tern stop.
# Started with a relative -c, as the README does: services still find it.
: > "$TERN_DIR/maillog"
(cd "$TERN_DIR/.." && exec tern -c "$(basename "$TERN_DIR")" start -f) > "$TERN_DIR/fg.out" 2> "$TERN_DIR/fg.err" &
fg=$!
fg_running() { tern status >/dev/null; }
wait_for "the foreground master" fg_running
wait_for_log "standin service=local "
greeting "$TERN_PORT" >/dev/null || fail "foreground master does not accept"
grep -q "daemon started" "$TERN_DIR/fg.err" || fail "no log lines on standard error with -f"
grep -q "send a message" "$TERN_DIR/fg.out" || fail "start -f does not say how to send a message"
[ "$(tern status | sed -n 's/.*pid \([0-9]*\).*/\1/p')" = "$fg" ] || fail "start -f did not stay in the foreground"
tern_stop
wait "$fg" || fail "the foreground master exited with $?"

# inet_interfaces and inet_protocols: loopback-only on both families.
if [ -r /proc/net/if_inet6 ] && grep -q '^0*1 ' /proc/net/if_inet6; then
	ternconf -e 'inet_protocols = all' 'inet_interfaces = loopback-only' || fail "ternconf -e"
	: > "$TERN_DIR/maillog"
	tern_start
	wait_for_log "standin service=smtp "
	grep -q "standin service=smtp .*listen=2 127.0.0.1:$TERN_PORT \[::1\]:$TERN_PORT" "$TERN_DIR/maillog" \
		|| fail "smtp did not get 127.0.0.1 and ::1 listeners"
	python3 -c 'import socket,sys
s=socket.create_connection(("::1", int(sys.argv[1])), timeout=20)
assert s.recv(100).startswith(b"220 standin smtp")' "$TERN_PORT" || fail "no greeting on [::1]"
	tern_stop
fi

# Without root the rest cannot be tested.
[ "$(id -u)" = 0 ] || pass

user=terntest$$
test_user_add "$user"
uid=$(id -u "$user")
if ! runuser -u "$user" -- test -x "$standin"; then
	echo "note: $user cannot run the build tree's programs; owner checks skipped"
	pass
fi
d2=$(mktemp -d /tmp/tern-test.XXXXXX)
at_cleanup "tern -c '$d2/i' stop; rm -rf '$d2'"
chown "$user" "$d2"
runuser -u "$user" -- tern init "$d2/i" >/dev/null || fail "tern init as $user"
p2=$(free_port)
cat > "$d2/i/master.cf" <<CF
smtp   inet  $p2  -  -  -     1  $standin
local  unix  -    -  -  root  1  $standin keep-root
CF
TERN_DIR=$d2/i
# Root starts it: the configuration is the user's, so nothing of it runs
# as root (its owner could name any daemon_directory): every service,
# local included, runs as the owner, as if the owner had started it.
tern -c "$d2/i" start >/dev/null || fail "root cannot start $user's instance"
wait_for_log "standin service=local "
wait_for_log "standin service=smtp "
grep -q "standin service=smtp uid=$uid euid=$uid " "$d2/i/maillog" || fail "smtp did not run as $user"
grep -q "standin service=local uid=$uid euid=$uid " "$d2/i/maillog" || fail "local of $user's instance ran as root"
mpid=$(cat "$d2/i/queue/pid/master.pid" 2>/dev/null | head -n 1)
[ -n "$mpid" ] && [ "$(awk '/^Uid:/ {print $2}' /proc/"$mpid"/status)" = "$uid" ] ||
	fail "the master of $user's instance runs as root"
greeting "$p2" >/dev/null || fail "no listener"
tern -c "$d2/i" stop >/dev/null || fail "stop"
# The owner starts it: everything runs as the owner.
mv "$d2/i/maillog" "$d2/i/maillog.old"
runuser -u "$user" -- tern -c "$d2/i" start >/dev/null || fail "$user cannot start own instance"
wait_for_log "standin service=local "
wait_for_log "standin service=smtp "
grep -q "standin service=local uid=$uid euid=$uid " "$d2/i/maillog" || fail "local not run as $user"
grep -q "standin service=smtp uid=$uid euid=$uid " "$d2/i/maillog" || fail "smtp not run as $user"
runuser -u "$user" -- tern -c "$d2/i" status >/dev/null || fail "status as $user"
runuser -u "$user" -- tern -c "$d2/i" stop >/dev/null || fail "stop as $user"
pass
