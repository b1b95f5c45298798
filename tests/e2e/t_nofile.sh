#!/bin/sh
# t_nofile.sh - ternd sets the open-file limit smtpd's sessions need
# (issue 15, item 4): started with a low limit (soft 512, hard 4096), a
# root ternd raises the hard limit to 131072 (or fs.nr_open if lower),
# smtpd gets soft = hard, and every other process keeps the soft limit it
# was started with. Without CAP_SYS_RESOURCE the hard limit stays, smtpd
# still gets soft = hard, and the log says once what to raise.
# Reads /proc/PID/limits; no timing.
here=$(dirname "$0")
[ -f "$here/lib.sh" ] || { echo "skip: tests/e2e/lib.sh is missing"; exit 77; }
. "$here/lib.sh"
need_root
need_cmd prlimit setpriv

want=131072
nr_open=$(cat /proc/sys/fs/nr_open)
[ "$nr_open" -lt "$want" ] && want=$nr_open

# "SOFT HARD" of a process's open-file limit.
nofile() { awk '/^Max open files/ { print $4, $5 }' "/proc/$1/limits"; }
master_pid() { head -n 1 "$TERN_DIR/queue/pid/master.pid" | awk '{ print $1 }'; }
smtpd_pid() { ps -o pid=,comm= --ppid "$(master_pid)" | awk '$2 == "smtpd" { print $1; exit }'; }
have_smtpd() { [ -n "$(smtpd_pid)" ]; }

# 1. As root: the hard limit goes up (where this machine lets root raise
# it at all: inside some containers the sandbox refuses it to everyone).
if prlimit --nofile=512:4096 sh -c 'prlimit --pid $$ --nofile=512:8192' 2>/dev/null; then
	tern_instance
	prlimit --nofile=512:4096 tern -c "$TERN_DIR" start >/dev/null || { show_log; fail "tern start"; }
	wait_for "smtpd running" have_smtpd
	got=$(nofile "$(smtpd_pid)")
	[ "$got" = "$want $want" ] || { show_log; fail "smtpd's open-file limit is '$got', want '$want $want'"; }
	got=$(nofile "$(master_pid)")
	[ "$got" = "512 $want" ] || fail "ternd's open-file limit is '$got', want '512 $want'"
	for p in $(ps -o pid=,comm= --ppid "$(master_pid)" | awk '$2 != "smtpd" { print $1 }'); do
		got=$(nofile "$p")
		[ "${got%% *}" = 512 ] || fail "process $p ($(cat /proc/$p/comm)) has soft limit ${got%% *}, want 512"
	done
	grep -q "open-file hard limit raised from 4096 to $want" "$TERN_DIR/maillog" ||
		{ show_log; fail "no log line saying the hard limit was raised"; }
	grep -q "cannot be raised" "$TERN_DIR/maillog" && fail "warned although the limit was raised"
	tern_stop
else
	echo "note: root cannot raise RLIMIT_NOFILE here (sandbox): only the unprivileged case runs"
fi

# 2. Root without CAP_SYS_RESOURCE: the hard limit stays; one warning says what to raise.
tern_instance
prlimit --nofile=512:4096 setpriv --bounding-set=-sys_resource --inh-caps=-sys_resource \
	tern -c "$TERN_DIR" start >/dev/null || { show_log; fail "tern start (no CAP_SYS_RESOURCE)"; }
wait_for "smtpd running" have_smtpd
got=$(nofile "$(smtpd_pid)")
[ "$got" = "4096 4096" ] || { show_log; fail "smtpd's open-file limit is '$got', want '4096 4096'"; }
wait_for_log "open-file hard limit is 4096 and cannot be raised .*raise the hard limit to $want"
n=$(grep -c "open-file hard limit is 4096" "$TERN_DIR/maillog")
[ "$n" = 1 ] || fail "$n warnings about the open-file limit, want 1"
tern_stop
pass
