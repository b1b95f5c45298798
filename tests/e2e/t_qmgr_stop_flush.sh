#!/bin/sh
# t_qmgr_stop_flush.sh - a flush that reaches qmgr as it stops for a
# reload is not lost. The next qmgr starts only when the old one has
# exited, and looks only at the deferred mail that is due: a flush left
# unread in the old one's private/qmgr would leave the mail waiting for
# its next attempt (an hour here). The old qmgr is held with SIGSTOP
# while the flush datagram (what ternqueue -f and the children serving
# public/qmgr send) goes into its socket and the reload is asked for, so
# that it sees the request and the reload together, as a busy machine
# can make it. Then a plain flush after a reload is delivered too
# (private/qmgr is the new qmgr's).
. "$(dirname "$0")/lib.sh"

need_cmd python3
tern_instance
qdir=$(ternconf -h queue_directory) || fail "ternconf queue_directory"
printf 'later.example\tretry:4.4.1 held here on purpose\n' > "$TERN_DIR/transport"
ternconf -e "transport_maps = texthash:$TERN_DIR/transport" minimal_backoff_time=3600s \
	maximal_backoff_time=3600s queue_run_delay=3600s || fail "ternconf -e"
tern_start

_qmgr_up() { q=$(tern_qmgr_pid); [ -n "$q" ]; }
defer_one() {
	printf 'later.example\tretry:4.4.1 held here on purpose\n' > "$TERN_DIR/transport"
	printf 'Subject: %s\n\nbody\n' "$1" | submit -f s1@localhost Bob@later.example || fail "submit"
	_deferred() { [ "$(ls "$qdir/deferred" | wc -l)" -ge 1 ]; }
	wait_for "message '$1' deferred" _deferred
	printf 'later.example\tlocal:\n' > "$TERN_DIR/transport"
}

# 1. The flush sits unread in the stopping qmgr's socket.
wait_for "qmgr" _qmgr_up
q=$(tern_qmgr_pid)
wait_for_log "tern/qmgr\\[$q\\]: started"
defer_one first
kill -STOP "$q"
at_cleanup "kill -CONT $q 2>/dev/null"
python3 - "$qdir/private/qmgr" <<'EOP' || { kill -CONT "$q"; fail "sending the flush"; }
import socket, sys
socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).sendto(b"F", sys.argv[1])
EOP
tern_reload
kill -CONT "$q"
wait_for_mail bob 1
[ -z "$(ls -A "$qdir/deferred")" ] || fail "deferred/ is not empty"

# 2. A reload, then tern flush at once: the new qmgr owns private/qmgr.
defer_one second
tern_reload
tern -c "$TERN_DIR" flush >/dev/null 2>&1 || fail "tern flush"
wait_for_mail bob 2
wait_for "qmgr after the reload" _qmgr_up
[ -S "$qdir/private/qmgr" ] || fail "private/qmgr is gone"
pass
