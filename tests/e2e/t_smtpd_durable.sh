#!/bin/sh
# t_smtpd_durable.sh - smtpd answers 250 2.0.0 with the queue id only
# once the queue file and its directory are fsynced: with the queue
# file's fsync, the rename or the directory's fsync made to fail
# (TERN_QFILE_FAULT, see lib/mail/qfile.h) the client gets 451 4.3.0 and
# nothing stays in the queue, while the next message of the same session
# is queued under the id its 250 names.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/smtpd_lib.sh"

tern_instance
incoming=$TERN_DIR/queue/incoming

# send SUBJECT...: one session, one message per subject; prints "CODE TEXT" per message.
send() {
	python3 - "$SMTPD_PORT" "$@" <<'EOP'
import smtplib, sys
port, subjects = int(sys.argv[1]), sys.argv[2:]
with smtplib.SMTP("127.0.0.1", port, timeout=60) as s:
    s.ehlo("durable.example")
    for subj in subjects:
        s.mail("d@example.org")
        s.rcpt("postmaster@localhost")
        code, text = s.data("Subject: %s\r\n\r\nbody\r\n" % subj)
        print(code, text.decode(errors="replace"))
EOP
}

# In incoming/ at all, under any name (temporary names start with a dot).
files_in_incoming() { find "$incoming" -type f | wc -l; }

# check_fault SPEC LOG_REGEX: the first message fails, the second is queued;
# afterwards incoming/ holds $expected files (one per good message so far).
check_fault() {
	spec=$1 why=$2
	: > "$TERN_DIR/maillog"
	TERN_QFILE_FAULT=$spec smtpd_start
	out=$(send "first-$spec" "second-$spec") || fail "$spec: client failed: $out"
	first=$(echo "$out" | sed -n 1p) second=$(echo "$out" | sed -n 2p)
	case $first in
	"451 4.3.0 "*) ;;
	*) fail "$spec: a failed commit was answered '$first'" ;;
	esac
	[ "$(queued_count "Subject: first-$spec")" = 0 ] || fail "$spec: the failed message is in the queue"
	grep -Eq "$why" "$TERN_DIR/maillog" || { show_log; fail "$spec: no log line /$why/"; }
	case $second in
	"250 2.0.0 Ok: queued as "*) ;;
	*) fail "$spec: the next message was answered '$second'" ;;
	esac
	id=${second##* }
	[ -f "$incoming/$id" ] || fail "$spec: the 250 names $id, which is not in incoming/"
	grep -q "^Subject: second-$spec" "$incoming/$id" || fail "$spec: $id holds another message"
	smtpd_stop
	[ "$(files_in_incoming)" = "$expected" ] || fail "$spec: $(files_in_incoming) files in incoming/, want $expected"
}

expected=1
# The queue file's own fsync (the first fsync of a commit).
check_fault fsync:1:EIO 'cannot fsync queue file'
expected=2
# The rename to the queue id.
check_fault rename:1:ENOSPC 'cannot rename queue file'
expected=3
# The directory's fsync (the second fsync): the renamed file is taken back.
check_fault fsync:2:EIO 'cannot fsync queue directory'

# Every write failing: nothing is ever acknowledged.
TERN_QFILE_FAULT=fsync:1:EIO:all smtpd_start
out=$(send sticky1 sticky2) || fail "sticky: client failed"
echo "$out" | grep -v '^451 4\.3\.0 ' && fail "a commit was acknowledged while every fsync fails"
smtpd_stop
[ "$(files_in_incoming)" = 3 ] || fail "sticky: files were left in incoming/"

# A bad fault specification is refused at start.
TERN_QFILE_FAULT=fsync:x:EIO "$SMTPD_BIN" -c "$TERN_DIR" -l 127.0.0.1:$(free_port) >/dev/null 2>&1
rc=$?
[ $rc = 64 ] || fail "a bad TERN_QFILE_FAULT gave exit $rc, want 64"
pass
