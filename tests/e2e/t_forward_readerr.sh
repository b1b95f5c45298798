#!/bin/sh
# t_forward_readerr.sh - a .forward that opens but cannot be read (an I/O
# error from read()) defers its recipient; the mail is delivered where
# the .forward sends it once the file reads again, and never to the
# user's own mailbox (what half a .forward, or an empty one, would mean).
#
# The error comes from a small preloaded library in local: read() of a
# descriptor whose path ends in "/.forward" fails with EIO once, while
# the flag file readerr.on exists (the library creates readerr.hit,
# O_EXCL, when it fires, so exactly one read fails). local is started
# through a wrapper that preloads it. System accounts (no
# local_maildir_base), so root only.
. "$(dirname "$0")/lib.sh"
need_root
need_cmd cc

u=ternfr1_$$ w=ternfr2_$$
for x in $u $w; do test_user_add $x; done
uhome=$(getent passwd $u | cut -d: -f6)
printf '%s@localhost\n' $w > "$uhome/.forward"
chown $u "$uhome/.forward" && chmod 644 "$uhome/.forward"

tern_instance
spool="$TERN_DIR/spool"
flags="$TERN_DIR/flags"
mkdir -p "$spool" "$flags" && chmod 1777 "$spool" "$flags"
ternconf -X local_maildir_base || fail "ternconf -X"
# One forward_path entry (the default names ~/.forward twice for an
# address without extension); retries within a second or two.
ternconf -e "mail_spool_directory = $spool" 'forward_path = $home/.forward' \
	"queue_run_delay = 1s" "minimal_backoff_time = 1s" "maximal_backoff_time = 2s" >/dev/null ||
	fail "ternconf -e"

cat > "$TERN_DIR/readerr.c" <<EOF2
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

ssize_t read(int fd, void *data, size_t len)
{
	static ssize_t (*real)(int, void *, size_t);
	char link[64], target[4096];
	ssize_t n;

	if (real == NULL)
		real = (ssize_t (*)(int, void *, size_t))dlsym(RTLD_NEXT, "read");
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, target, sizeof(target) - 1);
	if (n > 9 && strncmp(target + n - 9, "/.forward", 9) == 0 &&
	    access("$flags/readerr.on", F_OK) == 0) {
		int h = open("$flags/readerr.hit", O_WRONLY | O_CREAT | O_EXCL, 0666);
		if (h >= 0) {
			close(h);
			errno = EIO;
			return -1;
		}
	}
	return real(fd, data, len);
}
EOF2
cc -shared -fPIC -o "$TERN_DIR/readerr.so" "$TERN_DIR/readerr.c" -ldl || skip "cannot build a preload library"
cat > "$TERN_DIR/local-wrap" <<EOF2
#!/bin/sh
LD_PRELOAD="$TERN_DIR/readerr.so" ASAN_OPTIONS="\${ASAN_OPTIONS:+\$ASAN_OPTIONS:}verify_asan_link_order=0" \\
	exec "$TERN_TOP/stage/local" "\$@"
EOF2
chmod 755 "$TERN_DIR/local-wrap" "$TERN_DIR/readerr.so"
sed -i "s|^\(local[ 	].*[ 	]\)local\$|\1$TERN_DIR/local-wrap|" "$TERN_DIR/master.cf"
grep -q "local-wrap" "$TERN_DIR/master.cf" || fail "cannot point the local service at the wrapper"
tern_start

count() { grep -c '^From ' "$spool/$1" 2>/dev/null || echo 0; }
at_least() { [ "$(count "$1")" -ge "$2" ]; }

# The wrapper passes reads through while the flag is off.
printf 'From: root@localhost\nSubject: first\n\nfirst\n' | submit "$u@localhost" ||
	fail "submission exited $?"
wait_for "the first message at $w" at_least $w 1

touch "$flags/readerr.on"
printf 'From: root@localhost\nSubject: second\n\nsecond\n' | submit "$u@localhost" ||
	fail "submission exited $?"
wait_for "the read error" test -e "$flags/readerr.hit"
wait_for "the second message at $w after the retry" at_least $w 2
wait_for_log "$u@localhost.*status=deferred \(cannot read .forward"
[ "$(count $u)" = 0 ] || fail "mail for $u went to its own mailbox: $(cat "$spool/$u")"
grep -q '^Subject: second' "$spool/$w" || fail "the second message is not at $w"
pass
