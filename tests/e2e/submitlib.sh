# submitlib.sh - helpers for the submission-path tests (sendmail ->
# terndrop -> maildrop/ -> pickup -> cleanup -> incoming/), which need no
# running mail system: source it first.
#
#	. "$(dirname "$0")/submitlib.sh"
#	submit_instance               # a queue and main.cf in a mktemp dir ($SUB_DIR)
#	sendmail -C "$SUB_DIR" ...    # the build tree's programs are first on PATH
#	run_pickup                    # move maildrop/ into incoming/ once
#	qf=$(newest_queue_file)       # the newest file in incoming/
#	qf_rcpts "$qf"                # its recipients, one per line
#
# fail/skip/pass, wait_for and at_cleanup behave as in lib.sh (which
# needs the whole system built; these tests run as soon as sendmail,
# terndrop and pickup are).

set -u

if [ -z "${TERN_TOP:-}" ]; then
	TERN_TOP=$(cd "$(dirname "$0")/../.." && pwd)
fi
export TERN_TOP
PATH="$TERN_TOP/stage:$PATH"
export PATH
: "${TERN_WAIT:=60}"

fail() { echo "FAIL: $*" >&2; exit 1; }
skip() { echo "skip: $*"; exit 77; }
pass() { echo "PASS"; exit 0; }
need_root() { [ "$(id -u)" = 0 ] || skip "needs root"; }

for _p in sendmail terndrop pickup; do
	[ -x "$TERN_TOP/stage/$_p" ] || skip "$_p is not built"
done

_sub_dirs=""
_sub_cleanups=""
at_cleanup() { _sub_cleanups="$_sub_cleanups
$*"; }
_sub_cleanup() {
	_rc=$?
	trap - EXIT INT TERM
	if [ -n "$_sub_cleanups" ]; then
		echo "$_sub_cleanups" | while IFS= read -r _cmd; do
			[ -n "$_cmd" ] && eval "$_cmd" >/dev/null 2>&1
		done
	fi
	for _d in $_sub_dirs; do
		if [ $_rc -ne 0 ] && [ -s "$_d/maillog" ]; then
			echo "--- $_d/maillog (last 30 lines)" >&2
			tail -n 30 "$_d/maillog" >&2
		fi
		rm -rf "$_d"
	done
	exit $_rc
}
trap _sub_cleanup EXIT
trap 'exit 1' INT TERM

wait_for() {
	_desc=$1
	shift
	_end=$(( $(date +%s) + TERN_WAIT ))
	while ! "$@" >/dev/null 2>&1; do
		[ "$(date +%s)" -lt "$_end" ] || fail "timed out after ${TERN_WAIT}s waiting for $_desc"
		sleep 0.1
	done
}

# submit_instance [DIR]: main.cf and the queue directories; mail_owner is
# the current user, so pickup runs as whoever runs the test.
submit_instance() {
	SUB_DIR=${1:-$(mktemp -d /tmp/tern-submit.XXXXXX)} && mkdir -p "$SUB_DIR" || fail "mktemp"
	_sub_dirs="$_sub_dirs $SUB_DIR"
	chmod 755 "$SUB_DIR"
	mkdir -p "$SUB_DIR/queue" || fail "mkdir"
	for _q in maildrop incoming active deferred hold corrupt defer public private pid; do
		mkdir -p "$SUB_DIR/queue/$_q"
	done
	chmod 1730 "$SUB_DIR/queue/maildrop"
	cat >"$SUB_DIR/main.cf" <<EOF
queue_directory = $SUB_DIR/queue
command_directory = $TERN_TOP/stage
daemon_directory = $TERN_TOP/stage
mail_owner = $(id -un)
myhostname = host.test.example
mydomain = test.example
myorigin = test.example
mydestination = \$myhostname, localhost, \$mydomain
maillog_file = $SUB_DIR/maillog
alias_maps =
alias_database =
EOF
	export SUB_DIR
}

# Run pickup until maildrop/ is empty (or TERN_WAIT passes).
# An empty file of mode 0200 is what a failed one-process sendmail leaves (nothing to deliver;
# pickup removes it after a minute): not counted.
# Empty of what pickup takes: a 0200 file (a failed writer's, emptied or
# whole) is not taken but removed after its age.
_maildrop_empty() { [ -z "$(find "$SUB_DIR/queue/maildrop" -mindepth 1 ! -perm 0200)" ]; }
run_pickup() {
	pickup -c "$SUB_DIR" >>"$SUB_DIR/pickup.out" 2>&1 &
	_pid=$!
	wait_for "pickup to empty maildrop/" _maildrop_empty
	kill "$_pid" 2>/dev/null
	wait "$_pid" 2>/dev/null
	return 0
}

newest_queue_file() {
	_f=$(ls -t "$SUB_DIR/queue/incoming" | head -n 1)
	[ -n "$_f" ] && echo "$SUB_DIR/queue/incoming/$_f"
}

# The parts of a queue file (format in lib/mail/qfile.h).
qf_envelope() { sed '/^M [0-9]*$/q' "$1"; }
qf_sender() { qf_envelope "$1" | sed -n 's/^S //p' | head -n 1; }
qf_rcpts() { qf_envelope "$1" | grep '^R' | cut -f 2; }
qf_attr() { qf_envelope "$1" | sed -n "s/^N $2=//p" | head -n 1; }
# The content: after the M record, before the end record (and its NUL padding, version 2).
qf_content() { tr -d '\000' <"$1" | sed -n '/^M [0-9]*$/,$p' | sed '1d;$d'; }
qf_headers() { qf_content "$1" | sed '/^$/q'; }
qf_body() { qf_content "$1" | sed '1,/^$/d'; }
