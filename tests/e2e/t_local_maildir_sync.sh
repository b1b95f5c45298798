#!/bin/sh
# t_local_maildir_sync.sh - a Maildir delivery is reported delivered only
# once its entry in new/ is on disk: when the fsync of new/ fails, local
# defers the recipient (and takes the message out of new/ again, so the
# retry leaves one copy), and delivers it once the fsync works. The
# failure comes from a small preloaded library that makes fsync of a
# directory named .../new fail with EIO while a flag file exists; local
# is started through a wrapper that preloads it.
. "$(dirname "$0")/lib.sh"

need_root
need_cmd cc
tern_instance
flag="$TERN_DIR/failsync.on"
cat > "$TERN_DIR/failsync.c" <<EOF
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int fsync(int fd)
{
	static int (*real)(int);
	struct stat st;
	char link[64], target[4096];
	ssize_t n;

	if (real == NULL)
		real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
	if (access("$flag", F_OK) == 0 && fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		n = readlink(link, target, sizeof(target) - 1);
		if (n > 4 && strncmp(target + n - 4, "/new", 4) == 0) {
			errno = EIO;
			return -1;
		}
	}
	return real(fd);
}
EOF
cc -shared -fPIC -o "$TERN_DIR/failsync.so" "$TERN_DIR/failsync.c" -ldl || skip "cannot build a preload library"
cat > "$TERN_DIR/local-wrap" <<EOF
#!/bin/sh
LD_PRELOAD="$TERN_DIR/failsync.so" ASAN_OPTIONS="\${ASAN_OPTIONS:+\$ASAN_OPTIONS:}verify_asan_link_order=0" \\
	exec "$TERN_TOP/stage/local" "\$@"
EOF
chmod 755 "$TERN_DIR/local-wrap" "$TERN_DIR/failsync.so"
sed -i "s|^\(local[ 	].*[ 	]\)local\$|\1$TERN_DIR/local-wrap|" "$TERN_DIR/master.cf"
grep -q "local-wrap" "$TERN_DIR/master.cf" || fail "cannot point the local service at the wrapper"
ternconf -c "$TERN_DIR" -e minimal_backoff_time=1s maximal_backoff_time=2s \
	queue_run_delay=1s >/dev/null || fail "ternconf -e"
touch "$flag"
tern_start

printf 'Subject: sync\n\nsynced one\n' | sendmail -C "$TERN_DIR" -i syncme@localhost || fail "sendmail exited $?"
wait_for_log 'to=<syncme@localhost>.*status=(deferred|sent)'
if grep -q 'to=<syncme@localhost>.*status=sent' "$TERN_DIR/maillog"; then
	show_log
	fail "reported delivered although the fsync of new/ failed"
fi
grep -q 'to=<syncme@localhost>.*status=deferred.*new.*Input/output error' "$TERN_DIR/maillog" ||
	{ show_log; fail "the deferral does not give the failed fsync"; }
[ "$(ls "$TERN_DIR/mail/syncme/new" 2>/dev/null | wc -l)" -eq 0 ] ||
	fail "the message was left in new/ although it was not delivered"

rm -f "$flag"
wait_for_log 'to=<syncme@localhost>.*status=sent'
wait_for_mail syncme 1
grep -qs 'synced one' "$(tern_newest_mail syncme)" || fail "the message is not in the Maildir"
[ "$(ls "$TERN_DIR/mail/syncme/new" | wc -l)" -eq 1 ] || fail "more than one copy in new/"
pass
