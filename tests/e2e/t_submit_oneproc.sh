#!/bin/sh
# t_submit_oneproc.sh - a plain submission (sendmail -t -i, sendmail user)
# is one process: sendmail opens its maildrop file itself, under its final
# name with mode 0200, and makes it 0644 only after the last record.
# pickup leaves a 0200 file alone; it removes an empty one (a failed
# sendmail's) over a minute old and a non-empty one (a killed sendmail's)
# not written for a day, and delivers nothing of either. A file removed
# under a writing sendmail makes it exit 75, never 0. The sender of a file
# without -f is its owner's login, whatever the file says. A file moved to
# corrupt/ is logged with its owner's uid (and the sender once known).
. "$(dirname "$0")/submitlib.sh"

need_root
command -v strace >/dev/null || skip "strace is not installed"
submit_instance
md="$SUB_DIR/queue/maildrop"
in="$SUB_DIR/queue/incoming"
writing() { find "$md" -mindepth 1 -perm 0200 ! -empty | head -n 1; }
count() { find "$1" -mindepth 1 -maxdepth 1 ! -name '.*' | wc -l; }

# One process: no fork, clone or vfork, and no exec but its own.
printf 'To: one@example.net\nSubject: one\n\nx\n' >"$SUB_DIR/msg"
strace -f -e trace=clone,clone3,fork,vfork,execve -o "$SUB_DIR/strace" \
	sendmail -C "$SUB_DIR" -t -i <"$SUB_DIR/msg" || fail "sendmail -t -i exited $?"
forks=$(grep -cE '(clone|clone3|fork|vfork)\(' "$SUB_DIR/strace")
execs=$(grep -c 'execve(' "$SUB_DIR/strace")
[ "$forks" = 0 ] || fail "a plain submission forked: $(cat "$SUB_DIR/strace")"
[ "$execs" = 1 ] || fail "a plain submission ran another program: $(cat "$SUB_DIR/strace")"
f=$(find "$md" -mindepth 1 -maxdepth 1)
[ "$(stat -c %a "$f")" = 644 ] || fail "the finished maildrop file is not 0644: $(ls -la "$md")"
# Without -f the file names no sender (pickup makes it the owner's login): one that names one
# while saying it was not given is not believed, so it cannot bypass local_login_sender_maps.
grep -qx 'S ' "$f" || fail "a submission without -f names a sender: $(cat "$f")"
# (18 bytes more: as many NULs of the padding go, so that the size stays a multiple of 4096)
perl -0777 -pi -e 's/\nS \n/\nS victim\@example.org\n/ and s/\0{18}\z//' "$f"
run_pickup
[ "$(count "$in")" = 1 ] || fail "the message did not reach incoming/"
grep -q '^S victim' "$in"/* && fail "pickup took the sender of a file whose sender_given is no"
grep -q "^S $(id -un)@" "$in"/* || fail "the sender is not the owner's login: $(grep '^S ' "$in"/*)"
rm -f "$in"/*
# A file set aside names its submitter and the sender in the log (sendmail logged nothing).
sendmail -C "$SUB_DIR" -i one@example.net <"$SUB_DIR/msg" || fail "sendmail exited $?"
f=$(find "$md" -mindepth 1 -maxdepth 1)
perl -0777 -pi -e 's/(\nR[^\n]*)one\@example\.net/$1one\@\@example.net/ and s/\0\z//' "$f"  # size kept
grep -q '^R.*one@@example' "$f" || fail "cannot spoil the recipient: $(cat "$f")"
run_pickup
grep -qF "$(basename "$f"): uid=$(id -u) from=<$(id -un)>: moved to corrupt/: malformed recipient" \
	"$SUB_DIR/maillog" || fail "no uid and sender in the corrupt/ line: $(grep corrupt "$SUB_DIR/maillog")"
rm -f "$in"/*		# the postmaster's notice of it

# pickup runs from here on (it scans every few seconds and when woken).
pickup -c "$SUB_DIR" >>"$SUB_DIR/pickup.out" 2>&1 &
ppid=$!
at_cleanup "kill $ppid"

# A slow writer: its file is 0200 and pickup leaves it alone, then 0644 and taken.
# The writer's input stops until the test opens the gate (a fixed pause
# could end before a loaded machine got to the checks; a failed test
# removes SUB_DIR, which ends the wait too).
gate() { while [ ! -e "$SUB_DIR/gate.$1" ] && [ -d "$SUB_DIR" ]; do sleep 0.1; done; }
(printf 'Subject: slow\n\nfirst\n'; gate slow; printf 'second\n') | sendmail -C "$SUB_DIR" slow@example.net &
spid=$!
wait_for "a maildrop file being written" sh -c "[ -n \"\$(find '$md' -mindepth 1 -perm 0200 ! -empty)\" ]"
sleep 1
[ -n "$(writing)" ] || fail "pickup took the file of a writing sendmail: $(ls -la "$md")"
[ "$(count "$in")" = 0 ] || fail "something reached incoming/ while sendmail was writing"
touch "$SUB_DIR/gate.slow"
wait $spid || fail "the slow sendmail exited $?"
# Counted without pickup's .tmp.* file, which is in incoming/ before its rename.
wait_for "pickup to take the finished file" sh -c "[ \$(find '$in' -mindepth 1 ! -name '.*' | wc -l) = 1 ]"
grep -q '^second$' "$in"/* || fail "the slow message is not whole"
rm -f "$in"/*

# Killed half way: a non-empty 0200 file, never delivered; removed once a day old.
(printf 'Subject: killed\n\nfirst\n'; gate killed) | sendmail -C "$SUB_DIR" killed@example.net &
spid=$!
wait_for "a maildrop file being written" sh -c "[ -n \"\$(find '$md' -mindepth 1 -perm 0200 ! -empty)\" ]"
kill -KILL $spid
touch "$SUB_DIR/gate.killed"	# the writer's input ends (the wait is for the whole pipeline)
wait $spid
left=$(writing)
[ -n "$left" ] || fail "SIGKILL left no file (or an empty one): $(ls -la "$md")"
touch -d '23 hours ago' "$left"
sleep 7		# more than one scan interval
[ -e "$left" ] || fail "pickup removed a file written 23 hours ago"
touch -d '25 hours ago' "$left"
wait_for "pickup to remove the killed sendmail's file" sh -c "[ ! -e '$left' ]"
grep -q "$(basename "$left"): removing an unfinished submission not written for a day" "$SUB_DIR/maillog" ||
	fail "no log line for the removal"
[ "$(count "$in")" = 0 ] || fail "something of the killed submission reached incoming/"

# A failed submission: its file is emptied (it may not unlink it); removed after a minute.
printf 'Subject: no rcpt\n\nx\n' | sendmail -C "$SUB_DIR" -t
[ $? = 64 ] || fail "-t without recipients did not exit 64"
empty=$(find "$md" -mindepth 1 -perm 0200 -empty | head -n 1)
[ -n "$empty" ] || fail "no emptied 0200 file after a failed submission: $(ls -la "$md")"
touch -d '40 seconds ago' "$empty"
sleep 7
[ -e "$empty" ] || fail "pickup removed an empty file 40 seconds old"
touch -d '2 minutes ago' "$empty"
wait_for "pickup to remove the empty file" sh -c "[ ! -e '$empty' ]"
grep -q "$(basename "$empty"): removing the empty file of a failed submission" "$SUB_DIR/maillog" ||
	fail "no log line for the empty file"

# Removed under a writing sendmail: exit 75, never 0.
(printf 'Subject: removed\n\nfirst\n'; gate removed; printf 'second\n') |
	sendmail -C "$SUB_DIR" removed@example.net 2>"$SUB_DIR/removed.err" &
spid=$!
wait_for "a maildrop file being written" sh -c "[ -n \"\$(find '$md' -mindepth 1 -perm 0200 ! -empty)\" ]"
w=$(writing)
[ -n "$w" ] || fail "no file being written: $(ls -la "$md")"
rm -f "$w"
touch "$SUB_DIR/gate.removed"
wait $spid
rc=$?
[ $rc = 75 ] || fail "a sendmail whose file was removed exited $rc, want 75: $(cat "$SUB_DIR/removed.err")"
grep -q 'removed while being written' "$SUB_DIR/removed.err" || fail "no clear error: $(cat "$SUB_DIR/removed.err")"

# Any other mode (a submitter holds its file's descriptor and may fchmod it): corrupt/, not read.
printf 'TERNQ 1\n' >"$md/ODDMODE" && chmod 0600 "$md/ODDMODE"
wait_for "pickup to set the odd file aside" test -e "$SUB_DIR/queue/corrupt/ODDMODE"
grep -q "ODDMODE: uid=$(id -u): moved to corrupt/: unexpected mode 0600" "$SUB_DIR/maillog" ||
	fail "no log line with the owner for the odd mode"
pass
