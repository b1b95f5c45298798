#!/bin/sh
# t_smtpd_commit_alone.sh - a session that is smtpd's only one has its
# message committed on the event loop thread (no hand-off to a commit
# thread and back); with another session open, commits go to the commit
# threads as before. Told apart by which thread makes the queue file's
# fsync (strace -ff: one trace file per thread; the loop thread's id is
# the process id). Every message is queued and answered 250 either way.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/smtpd_lib.sh"

need_cmd strace
[ -z "${TERN_VALGRIND_DIR:-}" ] || skip "counts system calls of the program itself"
tern_instance
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"	# LSan cannot run under ptrace
export ASAN_OPTIONS

SMTPD_PORT=$(free_port)
trace=$TERN_DIR/trace
pidfile=$TERN_DIR/smtpd.pid
# smtpd's pid (the shell's, which execs it) is known from its start, so
# that it is stopped whatever happens: strace leaves running the program
# it started when it is killed itself.
at_cleanup "[ -s '$pidfile' ] && kill \$(cat '$pidfile')"
strace -ff -qq -e trace=fsync,fdatasync,syncfs -o "$trace" \
	sh -c 'echo $$ >"$1"; shift; exec "$@"' sh "$pidfile" \
	"$SMTPD_BIN" -c "$TERN_DIR" -o myhostname=$MYHOST -l 127.0.0.1:$SMTPD_PORT \
	>>"$TERN_DIR/smtpd.out" 2>&1 &
tracer=$!
at_cleanup "kill $tracer 2>/dev/null"
# Up, or gone (strace ends with the program).
_up() { ! kill -0 "$tracer" 2>/dev/null || _port_busy "$SMTPD_PORT"; }
wait_for "smtpd on port $SMTPD_PORT" _up
kill -0 "$tracer" 2>/dev/null || { cat "$TERN_DIR/smtpd.out" >&2; fail "smtpd exited"; }
pid=$(cat "$pidfile")
[ -n "$pid" ] || fail "no smtpd under strace"

# syncs PLACE: fsync-type calls so far by the loop thread (loop) or by the others (threads).
syncs() {
	if [ "$1" = loop ]; then
		cat "$trace.$pid"
	else
		for _f in "$trace".*; do [ "$_f" = "$trace.$pid" ] || cat "$_f"; done
	fi | grep -c 'sync'
}

# send HOLD SUBJECT...: one session sends a message per subject; with
# HOLD=1 another session is open (greeted, EHLO done) all the while.
send() {
	python3 - "$SMTPD_PORT" "$@" <<'EOP'
import smtplib, sys
port, hold, subjects = int(sys.argv[1]), sys.argv[2] == "1", sys.argv[3:]
other = None
if hold:
    other = smtplib.SMTP("127.0.0.1", port, timeout=60)
    other.ehlo("idle.example")
with smtplib.SMTP("127.0.0.1", port, timeout=60) as s:
    s.ehlo("alone.example")
    for subj in subjects:
        s.mail("a@example.org")
        s.rcpt("postmaster@localhost")
        code, text = s.data("Subject: %s\r\n\r\nbody\r\n" % subj)
        assert code == 250, (code, text)
if other:
    other.quit()
EOP
}

# syncs_at_least PLACE N: wait_for's test that strace has written N sync lines there.
syncs_at_least() { [ "$(syncs "$1")" -ge "$2" ]; }

loop0=$(syncs loop) threads0=$(syncs threads)
send 0 alone-1 alone-2 || fail "client (one session) failed"
# Waited for rather than trusted to be written by now: the syncs wanted, then
# none elsewhere (those would have come before their message's 250).
wait_for "one session: 2 or more syncs on the loop thread" syncs_at_least loop $((loop0 + 2))
loop1=$(syncs loop) threads1=$(syncs threads)
[ "$threads1" = "$threads0" ] || fail "one session: $((threads1 - threads0)) syncs on commit threads, want none"

send 1 shared-1 shared-2 || fail "client (two sessions) failed"
wait_for "two sessions: 2 or more syncs on commit threads" syncs_at_least threads $((threads1 + 2))
loop2=$(syncs loop) threads2=$(syncs threads)
[ "$loop2" = "$loop1" ] || fail "two sessions: $((loop2 - loop1)) syncs on the loop thread, want none"
[ "$threads2" -ge $((threads1 + 2)) ] || fail "two sessions: $((threads2 - threads1)) syncs on commit threads, want 2 or more"

for s in alone-1 alone-2 shared-1 shared-2; do
	[ "$(queued_count "Subject: $s")" = 1 ] || fail "$s is not queued once"
done
pass
