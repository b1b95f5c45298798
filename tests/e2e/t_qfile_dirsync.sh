#!/bin/sh
# t_qfile_dirsync.sh - queue_directory_sync: how many syncs smtpd makes
# per accepted message, counted with strace. The queue is on a small ext4
# file system of the test's own (a loop device): with a journal and
# queue_directory_sync = auto, one fsync of the queue file made after its
# rename (the journal commit it waits for holds the rename, see
# doc/internals.md) and no fsync of incoming/; with always, the file's and
# the directory's. Without a journal the same: the file's fsync after the
# rename writes incoming/ as well (ext4_sync_parent), and right after the
# 250s the device itself (a copy of the image, read with debugfs) holds
# every id in incoming/, where nothing else has written the directory
# yet. Every message is in incoming/ under the id its 250 names, in all
# four.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/smtpd_lib.sh"

need_root
need_cmd strace mkfs.ext4 debugfs mount umount python3
tern_instance
N=5

# count MODE: send N messages through smtpd (queue_directory_sync = MODE)
# under strace; prints "FILE_SYNCS DIR_SYNCS" summed over the messages.
count() {
	trace=$TERN_DIR/trace.$1
	rm -f "$trace"
	cat > "$TERN_DIR/smtpd-traced" <<EOW
#!/bin/sh
# LeakSanitizer cannot run under ptrace (a sanitizer build's smtpd would end
# with a fatal LSan report): leak checks are off for this traced smtpd only.
ASAN_OPTIONS="\${ASAN_OPTIONS:+\$ASAN_OPTIONS:}detect_leaks=0" \\
exec strace -f -qq -y -e trace=fsync,fdatasync,syncfs -o "$trace" "$TERN_TOP/smtpd/smtpd" "\$@"
EOW
	chmod 755 "$TERN_DIR/smtpd-traced"
	SMTPD_BIN=$TERN_DIR/smtpd-traced smtpd_start -o queue_directory_sync="$1"
	out=$(python3 - "$SMTPD_PORT" "$N" "$1" <<'EOP'
import smtplib, sys
port, n, tag = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
with smtplib.SMTP("127.0.0.1", port, timeout=60) as s:
    for i in range(n):
        s.mail("d@example.org")
        s.rcpt("postmaster@localhost")
        code, text = s.data("Subject: dirsync-%s-%d\r\n\r\nbody\r\n" % (tag, i))
        print(code, text.decode(errors="replace"))
EOP
	) || fail "$1: client failed"
	# strace's child is smtpd: stop it, then strace ends by itself.
	kids=$(cat "/proc/$SMTPD_PID/task/$SMTPD_PID/children" 2>/dev/null)
	[ -n "$kids" ] && kill $kids
	wait "$SMTPD_PID" 2>/dev/null
	SMTPD_PID=""
	echo "$out" | while read -r code _ _ _ _ id; do
		[ "$code" = 250 ] || { echo "$1: answered $code" >&2; exit 1; }
		[ -f "$TERN_DIR/queue/incoming/$id" ] || { echo "$1: $id is not in incoming/" >&2; exit 1; }
	done || fail "$1: a message was not queued"
	# What the device holds (the loop device writes into the image file at once).
	if [ -n "${ondevice:-}" ]; then
		cp "$TERN_DIR/queue.img" "$TERN_DIR/copy.img" || fail "copy the image"
		debugfs -R "ls -l /incoming" "$TERN_DIR/copy.img" 2>/dev/null | awk '{ print $NF }' \
			> "$TERN_DIR/ondevice.$1"
		echo "$out" | while read -r _ _ _ _ _ id; do
			grep -qx "$id" "$TERN_DIR/ondevice.$1" || { echo "$1: $id is not on the device" >&2; exit 1; }
		done || { cat "$TERN_DIR/ondevice.$1" >&2; fail "$label, $1: a 250 came before its entry was on the device"; }
	fi
	# Syncs of queue files (fd shown as <path>) and of incoming/ itself.
	files=$(grep -Ec '^[0-9]+ +(fsync|fdatasync|syncfs)\([0-9]+<[^>]*/queue/incoming/[^>/]+>' "$trace")
	dirs=$(grep -Ec '^[0-9]+ +(fsync|syncfs)\([0-9]+<[^>]*/queue/incoming>' "$trace")
	echo "$files $dirs"
}

# expect MODE FILES DIRS
expect() {
	got=$(count "$1")
	[ "$got" = "$2 $3" ] || { cat "$TERN_DIR/trace.$1" >&2; fail "$label, $1: syncs (file dir) $got, want $2 $3"; }
}

label="ext4 with a journal"
tern_queue_ext4
[ "$(cat /sys/fs/ext4/"$(basename "$(readlink "/sys/dev/block/$(mountpoint -d "$TERN_DIR/queue")")")"/journal_task)" != "<none>" ] \
	|| fail "the test's ext4 has no journal"
expect auto $N 0
expect always $N $N

label="ext4 without a journal"
tern_queue_ext4 -O ^has_journal
ondevice=1
expect auto $N 0
expect always $N $N
pass
