#!/bin/sh
# t_local_write_fail.sh - local writes Maildirs in its own long-lived
# process (one per kept connection from qmgr), so a write that fails must
# leave nothing behind: deliveries that fail for a full file system are
# deferred, and no process keeps a descriptor of the unlinked tmp/ files
# (one per failure would pile up until local cannot open anything).
# The mail directory is a small tmpfs, mounted in a mount namespace of
# this test's own.
. "$(dirname "$0")/lib.sh"

need_root
need_cmd unshare mount umount
if [ -z "${TERN_T_MNTNS:-}" ]; then
	TERN_T_MNTNS=1 unshare -m --propagation private true 2>/dev/null || skip "no mount namespaces here"
	TERN_T_MNTNS=1 exec unshare -m --propagation private sh "$0" "$@"
fi

tern_instance
mail="$TERN_DIR/mail"
own=$(stat -c '%u' "$mail") && grp=$(stat -c '%g' "$mail") && mode=$(stat -c '%a' "$mail") || fail "stat $mail"
mount -t tmpfs -o "size=96k,uid=$own,gid=$grp,mode=$mode" tern-test "$mail" || skip "cannot mount a tmpfs"
at_cleanup "umount -l '$mail'"
# One delivery process, so one kept connection and one local process
# serve every attempt; no retries while the test looks.
ternconf -c "$TERN_DIR" -e default_process_limit=1 minimal_backoff_time=1h \
	maximal_backoff_time=1h queue_run_delay=1h >/dev/null || fail "ternconf -e"
tern_start

big=$(mktemp "$TERN_DIR/big.XXXXXX") || fail "mktemp"
{
	printf 'Subject: too big for the file system\n\n'
	i=0
	while [ $i -lt 2500 ]; do
		echo "0123456789012345678901234567890123456789012345678901234567890123456789"
		i=$((i + 1))
	done
} > "$big"
n=1
while [ $n -le 3 ]; do
	sendmail -C "$TERN_DIR" -i full@localhost < "$big" || fail "sendmail exited $?"
	n=$((n + 1))
done
_three_deferred() {
	[ "$(grep -c 'to=<full@localhost>.*status=deferred.*No space left on device' "$TERN_DIR/maillog")" -ge 3 ]
}
wait_for "three deliveries deferred for a full file system" _three_deferred

# Nothing may still hold a file of the mail directory open.
held=""
for p in /proc/[0-9]*; do
	for f in "$p"/fd/*; do
		t=$(readlink "$f" 2>/dev/null) || continue
		case $t in "$mail"/*) held="$held
${p#/proc/}: $t" ;; esac
	done
done
[ -z "$held" ] || { show_log; fail "descriptors of failed Maildir writes are still open:$held"; }

# The space is free again: a small message gets through the same process.
printf 'Subject: small\n\nsmall one\n' | sendmail -C "$TERN_DIR" -i full@localhost || fail "sendmail exited $?"
wait_for_mail full 1
grep -qs 'small one' "$(tern_newest_mail full)" || fail "the small message is not in the Maildir"
pass
