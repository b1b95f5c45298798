#!/bin/sh
# t_queue_filter.sh - sendmail -qR, -qI, -qS and -q!R flush only the
# matching deferred mail (ternqueue -f -R/-I/-S). Three messages to a
# relayhost where nobody listens stay deferred with an hour of backoff,
# so a new delivery attempt happens only when a flush asks for it: each
# filtered flush must give the matching message a new attempt and leave
# the others alone (qmgr logs each message it makes due).
here=$(dirname "$0")
[ -f "$here/lib.sh" ] || { echo "skip: tests/e2e/lib.sh is missing"; exit 77; }
. "$here/lib.sh"
for p in sendmail local qmgr pickup ternqueue ternconf; do
	[ -x "$TERN_TOP/stage/$p" ] || skip "$p is not built"
done

tern_instance
dead=$(free_port)
ternconf -e "queue_run_delay = 1h" "minimal_backoff_time = 1h" "maximal_backoff_time = 1h" \
	"relayhost = [127.0.0.1]:$dead" || fail "ternconf -e"
tern_start
log=$TERN_DIR/maillog
qdir=$(ternconf -h queue_directory 2>/dev/null) || qdir="$TERN_DIR/queue"

printf 'Subject: a\n\nx\n' | sendmail -f alice@localhost bob@remote.example || fail "sendmail a"
printf 'Subject: b\n\nx\n' | sendmail -f carol@localhost dave@other.example || fail "sendmail b"
printf 'Subject: c\n\nx\n' | sendmail -f erin@localhost frank@third.example || fail "sendmail c"
for r in bob@remote.example dave@other.example frank@third.example; do
	wait_for "the deferral of $r" grep -q "to=<$r>.*status=deferred" "$log"
done
qid() { sed -n "s/.*: \([0-9A-F]*\): to=<$1>.*status=deferred.*/\1/p" "$log" | head -n 1; }
a=$(qid bob@remote.example); b=$(qid dave@other.example); c=$(qid frank@third.example)
[ -n "$a" ] && [ -n "$b" ] && [ -n "$c" ] || fail "no queue ids in the log"
# An attempt logs its recipients before it moves the file back to
# deferred/ (qmgr_deliver.c), and a flush only looks in deferred/: before
# each flush, wait until the messages it must reach are there.
in_deferred() { for _id; do wait_for "$_id in deferred/" test -f "$qdir/deferred/$_id"; done; }
in_deferred "$a" "$b" "$c"

# Delivery attempts so far, per message.
tries() { grep -c "$1: to=<.*status=deferred" "$log"; }
more_tries() { [ "$(tries "$1")" -gt "$2" ]; }
ta=$(tries "$a"); tb=$(tries "$b"); tc=$(tries "$c")
# Which messages qmgr made due, per message.
asked() { grep -c "$1: flush requested" "$log"; }

# -qR: a recipient substring, in another case (sendmail ignores case in addresses).
sendmail -qRBOB@Remote || fail "sendmail -qR exited $?"
wait_for "a new attempt for $a after -qR" more_tries "$a" "$ta"
in_deferred "$a"
# -qI: a queue id. Its attempt comes after any the -qR flush could have started.
sendmail -qI"$c" || fail "sendmail -qI exited $?"
wait_for "a new attempt for $c after -qI" more_tries "$c" "$tc"
in_deferred "$c"
[ "$(tries "$b")" -eq "$tb" ] || { show_log; fail "-qR or -qI gave $b (not matching) a new attempt"; }
[ "$(tries "$a")" -eq $((ta + 1)) ] || { show_log; fail "-qI gave $a (not matching) a new attempt"; }
[ "$(asked "$a")" -eq 1 ] && [ "$(asked "$b")" -eq 0 ] && [ "$(asked "$c")" -eq 1 ] ||
	{ show_log; fail "qmgr made other mail due than -qR and -qI asked for"; }

# -qS: a sender substring.
ta=$(tries "$a"); tb=$(tries "$b"); tc=$(tries "$c")
sendmail -qScarol@ || fail "sendmail -qS exited $?"
wait_for "a new attempt for $b after -qS" more_tries "$b" "$tb"
in_deferred "$b"
# -q!R: every message without a matching recipient (here b and c, not a).
sendmail '-q!Rbob@' || fail "sendmail -q!R exited $?"
wait_for "a new attempt for $c after -q!R" more_tries "$c" "$tc"
wait_for "a second new attempt for $b after -q!R" more_tries "$b" $((tb + 1))
in_deferred "$b" "$c"
[ "$(tries "$a")" -eq "$ta" ] || { show_log; fail "-qS or -q!R gave $a (not matching) a new attempt"; }
[ "$(asked "$a")" -eq 1 ] && [ "$(asked "$b")" -eq 2 ] && [ "$(asked "$c")" -eq 2 ] ||
	{ show_log; fail "qmgr made other mail due than -qS and -q!R asked for"; }

# Nothing matches: nothing is retried, and the flush still succeeds.
ternqueue -f -S nobody@nowhere || fail "ternqueue -f -S with no match exited $?"
# Malformed filters are refused before anything is sent.
ternqueue -f -R "$(printf 'a\tb')" 2>/dev/null; [ $? -eq 64 ] || fail "a control character was accepted"
ternqueue -f -R '' 2>/dev/null; [ $? -eq 64 ] || fail "an empty substring was accepted"
ternqueue -p -R x 2>/dev/null; [ $? -eq 64 ] || fail "-R without -f was accepted"
# qmgr refuses a malformed request on its public socket itself.
if command -v python3 >/dev/null 2>&1; then
	out=$(python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1] + "/public/qmgr")
s.sendall(b"flush R a\x01b\n")
print(s.recv(64).decode().strip())
' "$qdir") || fail "cannot talk to public/qmgr"
	[ "$out" = "error" ] || fail "qmgr accepted a control character: '$out'"
fi
# Plain -q still flushes everything.
ta=$(tries "$a"); tb=$(tries "$b"); tc=$(tries "$c")
sendmail -q || fail "sendmail -q exited $?"
for m in "$a:$ta" "$b:$tb" "$c:$tc"; do
	wait_for "a new attempt for ${m%%:*} after -q" more_tries "${m%%:*}" "${m#*:}"
done
pass
