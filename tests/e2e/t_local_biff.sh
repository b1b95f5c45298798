#!/bin/sh
# t_local_biff.sh - biff = yes: after a message is written to an mbox
# mailbox, local delivery sends comsat's "user@offset" datagram (with its
# NUL) to 127.0.0.1 on the port of biff/udp; with the default biff = no
# it sends nothing. Hermetic: the test runs in a private mount namespace
# (unshare -m, as root) whose /etc/services names the port of a UDP
# listener the test owns; the machine's comsat and /etc/services are
# never touched.
here=$(dirname "$0")
[ -f "$here/lib.sh" ] || { echo "skip: tests/e2e/lib.sh is missing"; exit 77; }
. "$here/lib.sh"
need_root
need_cmd unshare mount python3
for p in sendmail local qmgr pickup ternconf; do
	[ -x "$TERN_TOP/stage/$p" ] || skip "$p is not built"
done
if [ -z "${TERN_BIFF_NS:-}" ]; then
	unshare -m true 2>/dev/null || skip "unshare -m does not work here"
	# Nothing to clean up yet; the run in the namespace has its own trap.
	trap - EXIT INT TERM
	TERN_BIFF_NS=1 exec unshare -m sh "$0" "$@"
fi
mount --make-rprivate / || fail "mount --make-rprivate"

u1=ternbf1_$$
test_user_add $u1
tern_instance
B=$TERN_DIR/biff
mkdir -p "$B"
python3 -c '
import os, socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
open(sys.argv[1] + ".tmp", "w").write(str(s.getsockname()[1]))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
while True:
    d, _ = s.recvfrom(2048)
    with open(sys.argv[2], "a") as f:
        f.write(d.decode("latin-1").replace("\0", "<NUL>") + "\n")
' "$B/port" "$B/got" &
sink=$!
at_cleanup "kill $sink"
wait_for "the UDP listener" test -s "$B/port"
port=$(cat "$B/port")
{ grep -v '^biff[[:space:]]' /etc/services; printf 'biff\t\t%s/udp\t\tcomsat\n' "$port"; } > "$B/services"
mount --bind "$B/services" /etc/services || fail "bind mount of /etc/services"
getent services comsat/udp | grep -q " $port/udp" || fail "the namespace's services file is not used"

spool="$TERN_DIR/spool"
mkdir -p "$spool" && chmod 1777 "$spool"
ternconf -X local_maildir_base || fail "ternconf -X"
ternconf -e "mail_spool_directory = $spool" || fail "ternconf -e"
tern_start

send() {	# send SUBJECT
	printf 'Subject: %s\n\nbody of %s\n' "$1" "$1" | submit -f sender@localhost $u1@localhost ||
		fail "submission exited $?"
}
count() { grep -c '^From ' "$spool/$u1" 2>/dev/null || echo 0; }
at_least() { [ "$(count)" -ge "$1" ]; }

# biff = no (the default): delivered, nothing sent.
send quiet
wait_for "the first message" at_least 1
wait_for_log "to=<$u1@localhost>.*status=sent"
# local notifies before it answers: a datagram of ours sent now reaches the
# listener after any of local's, so once ours is recorded, so is local's.
python3 -c 'import socket, sys
socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"marker", ("127.0.0.1", int(sys.argv[1])))' "$port" ||
	fail "cannot send the marker datagram"
wait_for "the marker datagram" grep -qx marker "$B/got"
[ "$(cat "$B/got")" = marker ] || fail "biff = no still notified comsat: $(cat "$B/got")"
: > "$B/got"

# biff = yes: "user@offset" where the new message starts, NUL included.
tern_stop
ternconf -e "biff = yes" || fail "ternconf -e biff"
tern_start
size=$(stat -c %s "$spool/$u1")
send loud
wait_for "the second message" at_least 2
wait_for "the comsat datagram" test -s "$B/got"
[ "$(cat "$B/got")" = "$u1@$size<NUL>" ] || fail "comsat got \"$(cat "$B/got")\", want \"$u1@$size<NUL>\""
[ "$(tail -c +$((size + 1)) "$spool/$u1" | head -c 5)" = "From " ] ||
	fail "the offset is not where the new message starts"
pass
