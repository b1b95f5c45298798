# lib.sh - shared helpers for Tern's end-to-end tests; source it first:
#
#	. "$(dirname "$0")/lib.sh"
#	tern_instance                 # tern init in a mktemp dir, cleanup trap set
#	tern_start                    # returns once the instance accepts mail
#	... talk to 127.0.0.1:$TERN_PORT, run sendmail -C "$TERN_DIR" ...
#	wait_for_mail bob             # until a message is in mail/bob/new
#	grep -q hello "$(tern_newest_mail bob)" || fail "not the message sent"
#	pass
#
# Environment and variables:
#   TERN_TOP     the build tree (set by tests/e2e/run; found from this file
#                otherwise). $TERN_TOP/stage is put first on PATH, so `tern`,
#                `sendmail`, `ternconf`, ... are the build tree's programs.
#   TERN_DIR     the instance directory made by tern_instance (its main.cf,
#                master.cf, queue/, mail/, maillog); TERN_CONFIG_DIR is
#                exported to it, so tools pick it without -c / -C.
#   TERN_PORT    its SMTP port on 127.0.0.1; TERN_SMTP is 127.0.0.1:PORT.
#   TERN_WAIT    deadline in seconds for every wait_* helper (default 60).
#   TERN_VALGRIND_DIR  when set (tests/e2e/run sets it for TERN_VALGRIND=1),
#                the daemons of every instance made here (ternd and what it
#                starts) run under valgrind's memcheck, which writes its
#                reports into this directory; tests/e2e/run fails a test
#                that leaves one that is not empty.
#
# Functions:
#   fail MSG... / skip MSG... / pass      exit 1 / 77 / 0 with a message
#   need_root                             skip unless running as root
#   need_cmd CMD...                       skip unless each command exists
#   tern_instance [--port N]              make an instance (see above); may be
#                                         called again for more instances, the
#                                         variables then name the newest one
#   tern_start / tern_stop / tern_reload  control the newest instance
#   free_port                             print a loopback TCP port nobody uses
#                                         (from this job's range under E2E_JOBS)
#   wait_for DESC CMD...                  run CMD until it succeeds or TERN_WAIT
#                                         passes (then fail with DESC); a "$(...)"
#                                         in CMD's arguments is expanded once,
#                                         before the call: to look again each
#                                         try, make CMD a function or sh -c
#   wait_for_port PORT                    until something accepts on 127.0.0.1:PORT
#   wait_for_trace PID...                 until a tracer (strace -p) holds every
#                                         thread of each PID that still runs
#   wait_for_log REGEX                    until the instance's maillog matches
#   wait_for_mail USER [N]                until DIR/mail/USER/new holds N messages
#   tern_newest_mail USER                 print the path of the newest message in
#                                         $TERN_DIR/mail/USER/new ("" if none)
#   test_user_add NAME                    create a system user (root only),
#                                         removed again by the cleanup
#   smtp_send FROM TO [SUBJECT]           send one message over SMTP to the
#                                         instance (python3 smtplib); prints the
#                                         server's reply to DATA
#   submit [-f FROM] [-N N] [-R R] RCPT...  queue the message on stdin like
#                                         sendmail; with TERN_SUBMIT=smtp over
#                                         SMTP to the instance instead (through
#                                         smtpd), so a delivery test runs both ways
#   show_log                              print the instance's maillog to stderr
# The cleanup trap (EXIT, INT, TERM) stops every instance made here, removes
# its directory and the test users; tests must not set their own EXIT trap
# (add cleanup steps with at_cleanup CMD instead).

set -u

if [ -z "${TERN_TOP:-}" ]; then
	TERN_TOP=$(cd "$(dirname "$0")/../.." && pwd)
fi
export TERN_TOP
PATH="$TERN_TOP/stage:$PATH"
export PATH
: "${TERN_WAIT:=60}"

_tern_dirs=""
_tern_users=""
_tern_cleanups=""
_tern_ports=/tmp/tern-e2e-ports.$$	# the ports free_port handed out

fail() { echo "FAIL: $*" >&2; exit 1; }
skip() { echo "skip: $*"; exit 77; }
pass() { echo "PASS"; exit 0; }

need_root() { [ "$(id -u)" = 0 ] || skip "needs root"; }
need_cmd() {
	for _c in "$@"; do
		command -v "$_c" >/dev/null 2>&1 || skip "needs $_c"
	done
}

[ -x "$TERN_TOP/stage/tern" ] || skip "tern is not built ($TERN_TOP/stage/tern)"

at_cleanup() { _tern_cleanups="$_tern_cleanups
$*"; }

_tern_cleanup() {
	_rc=$?
	trap - EXIT INT TERM
	if [ -n "$_tern_cleanups" ]; then
		echo "$_tern_cleanups" | while IFS= read -r _cmd; do
			[ -n "$_cmd" ] && eval "$_cmd" >/dev/null 2>&1
		done
	fi
	for _d in $_tern_dirs; do
		if [ $_rc -ne 0 ] && [ -s "$_d/maillog" ]; then
			echo "--- $_d/maillog (last 30 lines)" >&2
			tail -n 30 "$_d/maillog" >&2
		fi
		tern -c "$_d" stop >/dev/null 2>&1
		rm -rf "$_d"
	done
	rm -f "$_tern_ports"
	for _u in $_tern_users; do
		userdel -r "$_u" >/dev/null 2>&1 || userdel "$_u" >/dev/null 2>&1
	done
	exit $_rc
}
trap _tern_cleanup EXIT
trap 'exit 1' INT TERM

# Poll CMD every 0.1 s until it succeeds; fail after TERN_WAIT seconds.
wait_for() {
	_desc=$1
	shift
	_end=$(( $(date +%s) + TERN_WAIT ))
	while ! "$@" >/dev/null 2>&1; do
		[ "$(date +%s)" -lt "$_end" ] || fail "timed out after ${TERN_WAIT}s waiting for $_desc"
		sleep 0.1
	done
}

# Something accepts on 127.0.0.1:PORT: a listening socket on 127.0.0.1 or
# the wildcard address, IPv4 or IPv6 dual-stack, read from /proc/net/tcp*
# (a Python client per poll took a second on a loaded machine); by
# connecting where /proc is not there.
_port_busy() {
	if [ -r /proc/net/tcp ]; then
		_ph=$(printf %04X "$1")
		grep -Eq "^ *[0-9]+: (0100007F|00000000):$_ph 00000000:0000 0A " /proc/net/tcp ||
			grep -Eq "^ *[0-9]+: (0{32}|0{16}FFFF00000100007F):$_ph 0{32}:0000 0A " /proc/net/tcp6 2>/dev/null
		return
	fi
	python3 -c 'import socket,sys
s=socket.socket()
try:
    s.connect(("127.0.0.1", int(sys.argv[1]))); sys.exit(0)
except OSError:
    sys.exit(1)' "$1"
}

_port_bindable() {
	python3 -c 'import socket,sys
s=socket.socket()
try:
    s.bind(("127.0.0.1", int(sys.argv[1]))); sys.exit(0)
except OSError:
    sys.exit(1)' "$1"
}

# A random port that nothing has bound, from a range of this test's own
# when the runner gives it a job slot (E2E_JOB_SLOT of E2E_JOBS, so that two
# tests running at once never pick the same port before either binds it:
# 10000-19999 split between the slots, clear of `tern init`'s own choice,
# 20000-32767, and of the kernel's ephemeral ports); 20000-31999 otherwise.
# A port handed out before in this test is not handed out again (it may
# not be bound yet): they are remembered in a file of the test's own.
# _port_range: sets _lo and _n, the ports this test may pick from (its
# job's own slice under E2E_JOBS, so that parallel tests never pick alike).
_port_range() {
	_lo=20000 _n=12000
	if [ -n "${E2E_JOB_SLOT:-}" ] && [ "${E2E_JOBS:-1}" -gt 1 ]; then
		_n=$(( 10000 / E2E_JOBS ))
		_lo=$(( 10000 + E2E_JOB_SLOT * _n ))
	fi
}

free_port() {
	_port_range
	_i=0
	while [ $_i -lt 200 ]; do
		_p=$(( _lo + $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % _n ))
		if ! grep -qx "$_p" "$_tern_ports" 2>/dev/null && _port_bindable "$_p"; then
			echo "$_p" >>"$_tern_ports"
			echo "$_p"
			return 0
		fi
		_i=$((_i + 1))
	done
	fail "no free port"
}

wait_for_port() { wait_for "a listener on 127.0.0.1:$1" _port_busy "$1"; }

# Every thread of each PID has a tracer: strace -p has attached (it
# starts in the background, and a loaded machine may take seconds to get
# there; what the process does before that is not in the trace). A PID
# that is gone is not waited for.
_traced() {
	for _tp in "$@"; do
		[ -d "/proc/$_tp" ] || continue
		for _ts in /proc/"$_tp"/task/*/status; do
			grep -Eq '^TracerPid:[[:space:]]*[1-9]' "$_ts" 2>/dev/null || { [ -d "/proc/$_tp" ] && return 1; }
		done
	done
}
wait_for_trace() { wait_for "strace to attach to $*" _traced "$@"; }

wait_for_log() { wait_for "log line /$1/" grep -Eq "$1" "$TERN_DIR/maillog"; }

_mail_count_at_least() { [ "$(ls "$TERN_DIR/mail/$1/new" 2>/dev/null | wc -l)" -ge "$2" ]; }
wait_for_mail() { wait_for "${2:-1} message(s) for $1" _mail_count_at_least "$1" "${2:-1}"; }

# qmgr's main process of the running instance: the master's child named
# qmgr (its delivery processes are qmgr's children, named qmgr too).
tern_qmgr_pid() {
	_master=$(awk '{print $1; exit}' "$TERN_DIR/queue/pid/master.pid" 2>/dev/null)
	[ -n "$_master" ] &&
		ps -eo pid=,ppid=,comm= | awk -v m="$_master" '$2 == m && $3 == "qmgr" { print $1 }'
}

# The queue holds nothing (ternqueue lists no message), and a wait for it.
tern_queue_empty() { _q=$(ternqueue -j) && [ -z "$_q" ]; }
wait_queue_empty() { wait_for "an empty queue" tern_queue_empty; }

tern_newest_mail() {
	_newest=$(ls -t "$TERN_DIR/mail/$1/new" 2>/dev/null | head -n 1)
	[ -n "$_newest" ] && echo "$TERN_DIR/mail/$1/new/$_newest"
	return 0
}

tern_instance() {
	TERN_DIR=$(mktemp -d /tmp/tern-test.XXXXXX) || fail "mktemp"
	_tern_dirs="$_tern_dirs $TERN_DIR"
	chmod 755 "$TERN_DIR"
	# The port from free_port (this job's range) unless the test names one.
	case " $* " in
	*" --port "*|*" --port="*|*" -p "*) ;;
	*) set -- --port "$(free_port)" "$@" ;;
	esac
	_out=$(tern init "$@" "$TERN_DIR") || fail "tern init $* $TERN_DIR failed: $_out"
	TERN_SMTP=$(echo "$_out" | tail -n 1)
	TERN_PORT=${TERN_SMTP##*:}
	TERN_CONFIG_DIR=$TERN_DIR
	export TERN_DIR TERN_SMTP TERN_PORT TERN_CONFIG_DIR
	[ -z "${TERN_VALGRIND_DIR:-}" ] || _tern_valgrind_daemons
}

# tern_queue_ext4 [mkfs.ext4 option...]: the instance's queue/ on a fresh 32
# MiB ext4 of the test's own (a loop device, image $TERN_DIR/queue.img),
# holding what tern init made there; again for another file system (stop
# the instance first). Skips where no loop device can be mounted. The
# instance is stopped before the file system goes (its pid file is there).
tern_queue_ext4() {
	umount -l "$TERN_DIR/queue" 2>/dev/null
	[ -d "$TERN_DIR/queue.orig" ] || cp -a "$TERN_DIR/queue" "$TERN_DIR/queue.orig" || fail "copy queue"
	rm -f "$TERN_DIR/queue.img"
	truncate -s 32M "$TERN_DIR/queue.img" && mkfs.ext4 -q -F "$@" "$TERN_DIR/queue.img" >/dev/null 2>&1 \
		|| fail "mkfs.ext4 $*"
	mount -o loop "$TERN_DIR/queue.img" "$TERN_DIR/queue" 2>/dev/null || skip "cannot mount a loop device here"
	at_cleanup "tern -c $TERN_DIR stop; umount -l $TERN_DIR/queue"
	cp -a "$TERN_DIR/queue.orig/." "$TERN_DIR/queue/" || fail "fill the queue file system"
}

# daemon_directory becomes a directory of scripts, one per staged program,
# that run the build tree's program under memcheck: ternd starts what it
# finds there as it would the real programs. -q leaves a report empty
# unless memcheck found something; only definite leaks count (a daemon
# stopped by a signal still holds memory it can reach); valgrind.supp says
# why each suppression is there.
_tern_valgrind_daemons() {
	_vd=$TERN_DIR/valgrind-bin
	mkdir "$_vd" || fail "mkdir $_vd"
	for _p in "$TERN_TOP"/stage/*; do
		_n=$(basename "$_p")
		printf '#!/bin/sh\nexec valgrind -q --error-exitcode=97 --leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=definite --suppressions=%s --log-file=%s/%s.%%p %s "$@"\n' \
			"$TERN_TOP/tests/e2e/valgrind.supp" "$TERN_VALGRIND_DIR" "$_n" "$(readlink -f "$_p")" > "$_vd/$_n"
		chmod 755 "$_vd/$_n"
	done
	ternconf -e "daemon_directory = $_vd" >/dev/null || fail "ternconf -e daemon_directory = $_vd"
}

tern_start() { tern -c "$TERN_DIR" start >/dev/null || { show_log; fail "tern start failed"; }; }
tern_stop() { tern -c "$TERN_DIR" stop >/dev/null || fail "tern stop failed"; }
tern_reload() { tern -c "$TERN_DIR" reload >/dev/null || fail "tern reload failed"; }

show_log() { [ -f "$TERN_DIR/maillog" ] && cat "$TERN_DIR/maillog" >&2; return 0; }

test_user_add() {
	need_root
	if ! id "$1" >/dev/null 2>&1; then
		# useradd gives up when another test holds the password files' lock.
		_try=0
		until useradd -m -s /bin/sh "$1"; do
			_try=$((_try + 1))
			[ $_try -lt 10 ] && ! id "$1" >/dev/null 2>&1 || fail "useradd $1"
			sleep 1
		done
		_tern_users="$_tern_users $1"
	fi
}

submit() {
	if [ "${TERN_SUBMIT:-sendmail}" = smtp ]; then
		python3 "$TERN_TOP/tests/e2e/smtp_submit.py" "$TERN_PORT" "$@"
	else
		sendmail "$@"
	fi
}

smtp_send() {
	python3 - "$TERN_PORT" "$1" "$2" "${3:-test message}" <<'EOF'
import smtplib, sys
port, sender, rcpt, subject = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
msg = "From: %s\r\nTo: %s\r\nSubject: %s\r\n\r\nHello from the test suite.\r\n" % (sender, rcpt, subject)
with smtplib.SMTP("127.0.0.1", port, timeout=60) as s:
    s.ehlo("test.example")
    s.mail(sender)
    s.rcpt(rcpt)
    code, reply = s.data(msg)
    print(code, reply.decode(errors="replace"))
    sys.exit(0 if code == 250 else 1)
EOF
}
