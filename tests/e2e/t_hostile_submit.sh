#!/bin/sh
# t_hostile_submit.sh - hostile input to sendmail/terndrop:
#  - a 1 GiB message (streamed from a generator, never on disk) over
#    message_size_limit: exit 65 "message file too big", nothing in
#    maildrop/, the disk does not fill, sendmail's memory stays bounded;
#  - a million recipients in the header with -t, and more recipients on
#    the command line than terndrop takes: refused or bounded with a
#    clear error, memory bounded (max RSS measured with /usr/bin/time -v);
#  - SIGTERM and SIGKILL to terndrop while it reads a large message:
#    sendmail fails (not 0), and nothing that pickup would take is left
#    in maildrop/ (SIGKILL may leave a .tmp.* file, which pickup skips
#    and removes once stale); nothing is delivered.
# Bounds checked (generous, several times what was measured): see MAXRSS_KB.
here=$(dirname "$0")
[ -f "$here/lib.sh" ] || { echo "skip: tests/e2e/lib.sh is missing"; exit 77; }
# e2e: slow (a 1 GiB stream and a million recipients; minutes under the sanitizers)
. "$here/lib.sh"
need_cmd /usr/bin/time python3
for p in sendmail terndrop pickup ternconf; do
	[ -x "$TERN_TOP/stage/$p" ] || skip "$p is not built"
done
MAXRSS_KB=65536
# AddressSanitizer keeps freed memory in quarantine and maps shadow memory:
# the memory bound says nothing there (the sanitizer pass checks the rest).
grep -q '^SANITIZE_FLAGS = .*sanitize' "$TERN_TOP/Makefile" 2>/dev/null && MAXRSS_KB=8388608

tern_instance	# not started: nothing picks up or delivers; maildrop/ shows what would be
md="$TERN_DIR/queue/maildrop"
[ -d "$md" ] || md=$(ternconf -h queue_directory)/maildrop
rss() { sed -n 's/.*Maximum resident set size (kbytes): //p' "$1"; }
# What pickup would take: a name without a dot and not mode 0200 (a
# one-process sendmail's file while it writes, or after it failed).
visible() { find "$md" -mindepth 1 -maxdepth 1 ! -name '.*' ! -perm 0200 | wc -l; }
# A failed sendmail empties its 0200 file: nothing of a refused message stays on disk.
holds_data() { [ -n "$(find "$md" -mindepth 1 -perm 0200 ! -empty)" ]; }

# 1 GiB through sendmail: refused with 65, no disk used, memory bounded.
used0=$(df -k --output=used "$md" | tail -n 1)
python3 -c '
import sys
line = b"x" * 99 + b"\n"
block = b"Subject: big\n\n" + line * 10000
out = sys.stdout.buffer
n = 0
while n < 1 << 30:
    out.write(block); n += len(block)
' | /usr/bin/time -v -o "$TERN_DIR/gb.time" sendmail -f big@localhost rcpt@localhost 2>"$TERN_DIR/gb.err"
rc=$?
[ $rc = 65 ] || fail "a 1 GiB message: exit $rc, want 65: $(cat "$TERN_DIR/gb.err")"
grep -q 'message file too big (message_size_limit is' "$TERN_DIR/gb.err" || fail "no clear error: $(cat "$TERN_DIR/gb.err")"
used1=$(df -k --output=used "$md" | tail -n 1)
[ $((used1 - used0)) -lt 65536 ] || fail "the disk grew by $((used1 - used0)) KiB"
[ "$(visible)" = 0 ] || fail "something left in maildrop: $(ls -a "$md")"
holds_data && fail "a refused message left data in maildrop: $(ls -la "$md")"
echo "1 GiB: max RSS $(rss "$TERN_DIR/gb.time") KiB, $(sed -n 's/.*Elapsed (wall clock) time.*: //p' "$TERN_DIR/gb.time")"
[ "$(rss "$TERN_DIR/gb.time")" -lt $MAXRSS_KB ] || fail "sendmail used $(rss "$TERN_DIR/gb.time") KiB"

# More command-line recipients than terndrop takes (10,000), in one exec.
set -- $(seq 1 12000 | sed 's/^/u/; s/$/@localhost/')
/usr/bin/time -v -o "$TERN_DIR/argv.time" sendmail -f many@localhost "$@" </dev/null 2>"$TERN_DIR/argv.err"
rc=$?
echo "12000 argv recipients: exit $rc, $(cat "$TERN_DIR/argv.err"), max RSS $(rss "$TERN_DIR/argv.time") KiB"
[ $rc = 65 ] || fail "12000 recipients: exit $rc, want 65"
grep -q 'too many recipients' "$TERN_DIR/argv.err" || fail "no clear error: $(cat "$TERN_DIR/argv.err")"
[ "$(visible)" = 0 ] || fail "something left in maildrop: $(ls -a "$md")"
holds_data && fail "a refused message left data in maildrop: $(ls -la "$md")"

# A million recipients in To: with -t: over message_size_limit, refused
# while reading (the header alone is 16 MB); memory stays bounded.
python3 -c '
import sys
out = sys.stdout.buffer
out.write(b"Subject: million\nTo: ")
for i in range(1000000):
    out.write(b"u%d@localhost,\n " % i)
out.write(b"last@localhost\n\nbody\n")
' | /usr/bin/time -v -o "$TERN_DIR/mil.time" sendmail -t -f many@localhost 2>"$TERN_DIR/mil.err"
rc=$?
echo "1M -t recipients: exit $rc, $(cat "$TERN_DIR/mil.err"), max RSS $(rss "$TERN_DIR/mil.time") KiB"
[ $rc = 65 ] || fail "a million recipients: exit $rc, want 65"
grep -q 'message file too big' "$TERN_DIR/mil.err" || fail "no clear error: $(cat "$TERN_DIR/mil.err")"
[ "$(rss "$TERN_DIR/mil.time")" -lt $MAXRSS_KB ] || fail "sendmail used $(rss "$TERN_DIR/mil.time") KiB"
[ "$(visible)" = 0 ] || fail "something left in maildrop: $(ls -a "$md")"
holds_data && fail "a refused message left data in maildrop: $(ls -la "$md")"

# Signals to sendmail mid-write (it writes its maildrop file itself, mode
# 0200 until the last record): the writer sends 2 MB, then waits until
# the test has sent the signal (gate file GATE; or the instance is gone):
# a fixed pause could end, and sendmail finish, before a loaded machine
# got to the kill.
slow() { python3 -c '
import os, sys, time
out = sys.stdout.buffer
out.write(b"Subject: slow\n\n" + (b"y" * 99 + b"\n") * 20000); out.flush()
while not os.path.exists(sys.argv[1]) and os.path.isdir(sys.argv[2]):
    time.sleep(0.1)
' "$1" "$TERN_DIR"; }
for sig in TERM KILL; do
	gate=$TERN_DIR/gate.$sig
	slow "$gate" | sendmail -f slow@localhost rcpt@localhost 2>"$TERN_DIR/sig.err" &
	spid=$!
	wait_for "a maildrop file being written" sh -c "find '$md' -perm 0200 -size +1000k | grep -q ."
	[ "$(visible)" = 0 ] || fail "a file being written is visible to pickup: $(ls -la "$md")"
	kill -$sig "$spid"
	touch "$gate"	# before the wait, which is for the whole pipeline
	wait $spid
	rc=$?
	echo "SIG$sig to sendmail: exit $rc, $(cat "$TERN_DIR/sig.err"); maildrop: $(ls -la "$md" | tr '\n' ' ')"
	[ "$(visible)" = 0 ] || fail "SIG$sig left a file pickup would take: $(ls -la "$md")"
	if [ $sig = TERM ]; then
		[ $rc = 75 ] || fail "sendmail exited $rc after SIGTERM, want 75"
		grep -q "signal $(kill -l $sig).*nothing was queued" "$TERN_DIR/sig.err" ||
			fail "SIG$sig: no clear error: $(cat "$TERN_DIR/sig.err")"
		holds_data && fail "SIGTERM left data in the maildrop file: $(ls -la "$md")"
	fi
	[ $sig = TERM ] || [ $rc = 137 ] || fail "sendmail exited $rc after SIGKILL"
done
pass
