#!/bin/sh
# t_smtpd_durable.sh - smtpd answers 250 2.0.0 with the queue id only
# once the queue file and its directory are fsynced: with the queue
# file's fsync, the rename or the directory's fsync made to fail
# (TERN_QFILE_FAULT, see lib/mail/qfile.h) the client gets 451 4.3.0 and
# nothing stays in the queue, while the next message of the same session
# is queued under the id its 250 names: whether the commit runs on the
# event loop (the only session) or on a commit thread (another session
# open); with many sessions at once no 250 goes out while fsync fails,
# nor, with smtpd_commit_syncfs = yes (shared syncs), while the batch's
# syncfs fails; by default smtpd makes no syncfs at all.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/smtpd_lib.sh"

need_cmd cc python3

tern_instance
incoming=$TERN_DIR/queue/incoming
# The faults below count a commit's fsyncs as the file's, then the
# directory's: on every file system (auto skips the directory's where the
# file's commits the rename, t_qfile_dirsync.sh).
echo "queue_directory_sync = always" >> "$TERN_DIR/main.cf"

# send [-h] SUBJECT...: one session, one message per subject; prints "CODE TEXT" per
# message. -h: another session is open (greeted, EHLO done) all the while.
send() {
	python3 - "$SMTPD_PORT" "$@" <<'EOP'
import smtplib, sys
port, subjects = int(sys.argv[1]), sys.argv[2:]
other = None
if subjects[0] == "-h":
    subjects = subjects[1:]
    other = smtplib.SMTP("127.0.0.1", port, timeout=60)
    other.ehlo("idle.example")
with smtplib.SMTP("127.0.0.1", port, timeout=60) as s:
    s.ehlo("durable.example")
    for subj in subjects:
        s.mail("d@example.org")
        s.rcpt("postmaster@localhost")
        code, text = s.data("Subject: %s\r\n\r\nbody\r\n" % subj)
        print(code, text.decode(errors="replace"))
if other:
    other.quit()
EOP
}

# In incoming/ at all, under any name (temporary names start with a dot).
files_in_incoming() { find "$incoming" -type f | wc -l; }

# check_fault SPEC LOG_REGEX [-h]: the first message fails, the second is queued;
# afterwards incoming/ holds $expected files (one per good message so far).
# -h: with another session open, so that the commits run on a commit thread
# (without, the only session commits on the event loop: smtpd_conn.c).
check_fault() {
	spec=$1 why=$2 hold=${3:-}
	: > "$TERN_DIR/maillog"
	TERN_QFILE_FAULT=$spec smtpd_start
	out=$(send $hold "first-$spec$hold" "second-$spec$hold") || fail "$spec: client failed: $out"
	first=$(echo "$out" | sed -n 1p) second=$(echo "$out" | sed -n 2p)
	case $first in
	"451 4.3.0 "*) ;;
	*) fail "$spec: a failed commit was answered '$first'" ;;
	esac
	[ "$(queued_count "Subject: first-$spec$hold")" = 0 ] || fail "$spec: the failed message is in the queue"
	grep -Eq "$why" "$TERN_DIR/maillog" || { show_log; fail "$spec: no log line /$why/"; }
	case $second in
	"250 2.0.0 Ok: queued as "*) ;;
	*) fail "$spec: the next message was answered '$second'" ;;
	esac
	id=${second##* }
	[ -f "$incoming/$id" ] || fail "$spec: the 250 names $id, which is not in incoming/"
	grep -q "^Subject: second-$spec$hold" "$incoming/$id" || fail "$spec: $id holds another message"
	smtpd_stop
	[ "$(files_in_incoming)" = "$expected" ] || fail "$spec: $(files_in_incoming) files in incoming/, want $expected"
}

# A lone commit fsyncs the file, then the directory (before or after the
# rename, see qfile.c); whichever fails, the client gets no 250.
why='queue file write error: cannot (fsync|rename) queue'
expected=1
# The queue file's own fsync (the first fsync of a commit).
check_fault fsync:1:EIO "$why"
expected=2
# The rename to the queue id.
check_fault rename:1:ENOSPC "$why"
expected=3
# The directory's fsync (the second fsync): the renamed file is taken back.
check_fault fsync:2:EIO "$why"
# The same two fsyncs on a commit thread (the burst below covers the shared syncs).
expected=4
check_fault fsync:1:EIO "$why" -h
expected=5
check_fault fsync:2:EIO "$why" -h

# Every write failing: nothing is ever acknowledged.
TERN_QFILE_FAULT=fsync:1:EIO:all smtpd_start
out=$(send sticky1 sticky2) || fail "sticky: client failed"
echo "$out" | grep -v '^451 4\.3\.0 ' && fail "a commit was acknowledged while every fsync fails"
smtpd_stop
[ "$(files_in_incoming)" = "$expected" ] || fail "sticky: files were left in incoming/"

# Many sessions at once, on commit threads. Every fsync failing: no 250
# at all. With smtpd_commit_syncfs = yes (the commits that meet share one
# syncfs, see qfile.c) the batch's syncfs failing: whatever got 250 is in
# incoming/ under the id it named, whatever got 451 is not in the queue.
# So that commits meet on any file system (tmpfs syncs in microseconds),
# smtpd runs there with a preloaded fsync that first sleeps 20 ms.
cat > "$TERN_DIR/slowfsync.c" <<'EOC'
#define _GNU_SOURCE
#include <dlfcn.h>
#include <time.h>

int fsync(int fd)
{
	static int (*real)(int);
	struct timespec ts = {0, 20 * 1000 * 1000};

	if (real == NULL)
		real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
	nanosleep(&ts, NULL);
	return real(fd);
}
EOC
cc -shared -fPIC -o "$TERN_DIR/slowfsync.so" "$TERN_DIR/slowfsync.c" -ldl || fail "cannot build the slow fsync library"
# slow_smtpd_start ARGS: smtpd_start with the slow fsync preloaded.
slow_smtpd_start() {
	LD_PRELOAD="$TERN_DIR/slowfsync.so" \
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" smtpd_start "$@"
}
burst() {	# burst TAG: 24 sessions x 3 messages; prints "CODE ID-or-subject" lines
	python3 - "$SMTPD_PORT" "$1" <<'EOP'
import smtplib, sys, threading
port, tag = int(sys.argv[1]), sys.argv[2]
out, errors = [], []
def client(n):
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=60) as s:
            for i in range(3):
                subj = "%s-%d-%d" % (tag, n, i)
                s.mail("d@example.org"); s.rcpt("postmaster@localhost")
                try:
                    code, text = s.data("Subject: %s\r\n\r\nx\r\n" % subj)
                except smtplib.SMTPDataError as e:
                    code, text = e.smtp_code, e.smtp_error
                text = text.decode(errors="replace")
                out.append("%d %s" % (code, text.split()[-1] if code == 250 else subj))
    except Exception as e:
        errors.append(repr(e))
ts = [threading.Thread(target=client, args=(n,)) for n in range(24)]
[t.start() for t in ts]; [t.join() for t in ts]
assert not errors, errors[:3]
print("\n".join(out))
EOP
}
# all_fail_burst TAG START: a burst with every fsync failing, smtpd started
# by the function START: only 451 replies, nothing left in incoming/.
all_fail_burst() {
	before=$(files_in_incoming)
	TERN_QFILE_FAULT=fsync:1:EIO:all $2
	out=$(burst "$1") || fail "burst $1 with every fsync failing: client error"
	[ "$(echo "$out" | wc -l)" = 72 ] || fail "burst $1: $(echo "$out" | wc -l) replies of 72"
	echo "$out" | grep -v '^451 ' && fail "burst $1: a commit was acknowledged while every fsync fails"
	smtpd_stop
	[ "$(files_in_incoming)" = "$before" ] || fail "burst $1: the failures left files in incoming/"
}
all_fail_burst allfail smtpd_start

# By default (smtpd_commit_syncfs = no) no commit syncs the whole file
# system, which would also write out every other program's dirty data
# there: a failing syncfs fails nothing.
TERN_QFILE_FAULT=syncfs:1:EIO:all slow_smtpd_start
out=$(burst nosyncfs) || fail "burst by default: client error"
[ "$(echo "$out" | grep -c '^250 ')" = 72 ] || fail "by default a commit made a syncfs: $(echo "$out" | grep -v '^250 ' | head -3)"
smtpd_stop

echo "smtpd_commit_syncfs = yes" >> "$TERN_DIR/main.cf"
all_fail_burst allfailshared slow_smtpd_start

TERN_QFILE_FAULT=syncfs:1:EIO:all slow_smtpd_start
out=$(burst syncfs) || fail "burst with syncfs failing: client error"
[ "$(echo "$out" | wc -l)" = 72 ] || fail "burst: $(echo "$out" | wc -l) replies of 72"
echo "$out" | while read -r code what; do
	case $code in
	250) [ -f "$incoming/$what" ] || { echo "250 for $what, which is not in incoming/"; exit 1; } ;;
	451) [ "$(queued_count "Subject: $what")" = 0 ] || { echo "$what got 451 but is queued"; exit 1; } ;;
	*) echo "unexpected reply $code $what"; exit 1 ;;
	esac
done || fail "syncfs failures: a reply does not match the queue"
[ "$(queued_count 'Subject: syncfs-')" = "$(echo "$out" | grep -c '^250 ')" ] \
	|| fail "queued $(queued_count 'Subject: syncfs-') messages, acknowledged $(echo "$out" | grep -c '^250 ')"
# 24 sessions at once meet in the commit: with the setting on, some
# commits shared a (failing) syncfs.
echo "$out" | grep -q '^451 ' || fail "smtpd_commit_syncfs = yes: no commit shared a syncfs"
smtpd_stop

# A bad fault specification is refused at start.
TERN_QFILE_FAULT=fsync:x:EIO "$SMTPD_BIN" -c "$TERN_DIR" -l 127.0.0.1:$(free_port) >/dev/null 2>&1
rc=$?
[ $rc = 64 ] || fail "a bad TERN_QFILE_FAULT gave exit $rc, want 64"
pass
