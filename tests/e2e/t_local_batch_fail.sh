#!/bin/sh
# t_local_batch_fail.sh - failures in the commit of a batch of requests
# (lproto.h "Batches"): when the fsync of one Maildir file fails, that
# file is removed again and its recipient deferred (4.2.0) with the
# reason, while the others of the batch are delivered; when the fsync of
# new/ fails, every file of the batch is removed again (nothing in new/
# or tmp/) and every recipient deferred. A batch does not sync the whole
# file system (syncfs), which would also write out every other
# program's dirty data there (it would only where the recipient may not
# read new/, not the case here). And a batch with more files than local
# keeps open (half its descriptor limit, here 24) syncs the first ones
# early but still moves none into new/ before the batch ends, then
# delivers them all; with some fsyncs failing, early or at the end, only
# those recipients are deferred.
#
# The failures come from a small preloaded library: fsync of a regular
# file holding "message number 2" fails with EIO while the flag file
# failfile.on exists, fsync of a directory named .../new while
# faildir.on exists; a syncfs leaves syncfs.called behind. local is
# started through a wrapper that preloads it and lowers the descriptor
# limit to 48.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lbatchlib.sh"

need_root
need_cmd python3 cc
lbatch_instance
cat > "$TERN_DIR/failsync.c" <<EOF2
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int syncfs(int fd)
{
	static int (*real)(int);
	FILE *f;

	if (real == NULL)
		real = (int (*)(int))dlsym(RTLD_NEXT, "syncfs");
	if ((f = fopen("$TERN_DIR/syncfs.called", "a")) != NULL)
		fclose(f);
	return real(fd);
}

int fsync(int fd)
{
	static int (*real)(int);
	struct stat st;
	char link[64], target[4096];
	ssize_t n;

	if (real == NULL)
		real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
	if (access("$TERN_DIR/failfile.on", F_OK) == 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
		/* Open for writing only: read it through its name. */
		char text[4096];
		ssize_t got = -1;
		int rfd;

		snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		n = readlink(link, target, sizeof(target) - 1);
		if (n > 0) {
			target[n] = '\0';
			if ((rfd = open(target, O_RDONLY)) >= 0) {
				got = read(rfd, text, sizeof(text) - 1);
				close(rfd);
			}
		}
		text[got > 0 ? got : 0] = '\0';
		if (strstr(text, "message number 2") != NULL) {
			errno = EIO;
			return -1;
		}
	}
	if (access("$TERN_DIR/faildir.on", F_OK) == 0 && fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		n = readlink(link, target, sizeof(target) - 1);
		if (n > 4 && strncmp(target + n - 4, "/new", 4) == 0) {
			errno = EIO;
			return -1;
		}
	}
	return real(fd);
}
EOF2
cc -shared -fPIC -o "$TERN_DIR/failsync.so" "$TERN_DIR/failsync.c" -ldl || skip "cannot build a preload library"
cat > "$TERN_DIR/local-wrap" <<EOF2
#!/bin/sh
ulimit -n 48 || exit 1
LD_PRELOAD="$TERN_DIR/failsync.so" ASAN_OPTIONS="\${ASAN_OPTIONS:+\$ASAN_OPTIONS:}verify_asan_link_order=0" \\
	exec "$TERN_TOP/stage/local" "\$@"
EOF2
chmod 755 "$TERN_DIR/local-wrap" "$TERN_DIR/failsync.so"
sed -i "s|^\(local[ 	].*[ 	]\)local\$|\1$TERN_DIR/local-wrap|" "$TERN_DIR/master.cf"
grep -q "local-wrap" "$TERN_DIR/master.cf" || fail "cannot point the local service at the wrapper"
tern_start
wait_for "local's socket" test -S "$QDIR/private/local"
count() { ls "$MD/$1" 2>/dev/null | wc -l; }
export CHECK_DELAY=0.2

# (a) The fsync of the second file fails: that one deferred and removed,
# the first and the third delivered.
touch "$TERN_DIR/failfile.on"
out=$(lclient full sent,defer,sent $REQS) || { show_log; fail "batch with a failing file fsync"; }
echo "$out" | grep -q "^answer 2: 1 4.2.0 write .*/tmp/.*Input/output error" ||
	fail "the deferral does not give the failed sync: $out"
[ "$(count new)" -eq 2 ] && [ "$(count tmp)" -eq 0 ] ||
	fail "want 2 files in new/, none in tmp/: new/ $(ls "$MD/new") tmp/ $(ls "$MD/tmp")"
grep -l "message number 2" "$MD/new/"* && fail "the file whose fsync failed is in new/"
rm -f "$TERN_DIR/failfile.on" "$MD/new/"*

# (b) The fsync of new/ fails: the files are taken out of new/ again.
touch "$TERN_DIR/faildir.on"
out=$(lclient full defer $REQS) || { show_log; fail "batch with a failing fsync of new/"; }
echo "$out" | grep -q "^answer 2: 1 4.2.0 cannot sync maildir .*/new: Input/output error" ||
	fail "the deferral does not give the failed fsync of new/: $out"
[ "$(count new)" -eq 0 ] && [ "$(count tmp)" -eq 0 ] ||
	fail "files left after a failed fsync of new/: new/ $(ls "$MD/new") tmp/ $(ls "$MD/tmp")"
rm -f "$TERN_DIR/faildir.on"

# (c) 30 files, more than local keeps open: all delivered, at the end.
reqs=""
for i in 1 2 3 4 5 6 7 8 9 10; do reqs="$reqs $REQS"; done
lclient full sent $reqs >/dev/null || { show_log; fail "batch of 30"; }
[ "$(count new)" -eq 30 ] || fail "want 30 files in new/, have $(count new)"
[ "$(count tmp)" -eq 0 ] || fail "files left in tmp/: $(ls "$MD/tmp")"
wait_for_log "24 maildir files open: syncing them before the batch ends"
wait_for_log "synced 30 maildir deliveries at once"

# (d) The same 30 with the fsync of message 2 of each three failing, in
# the early sync as in the last: those ten deferred, the twenty others
# delivered.
rm -f "$MD/new/"*
touch "$TERN_DIR/failfile.on"
wants=""
for i in 1 2 3 4 5 6 7 8 9 10; do wants="$wants,sent,defer,sent"; done
lclient full "${wants#,}" $reqs >/dev/null || { show_log; fail "batch of 30, every second message's fsync failing"; }
rm -f "$TERN_DIR/failfile.on"
[ "$(count new)" -eq 20 ] || fail "want 20 files in new/, have $(count new)"
[ "$(count tmp)" -eq 0 ] || fail "files left in tmp/: $(ls "$MD/tmp")"
grep -l "message number 2" "$MD/new/"* && fail "a file whose fsync failed is in new/"
wait_for_log "synced 30 maildir deliveries at once .some failed"
[ -e "$TERN_DIR/syncfs.called" ] && fail "a batch synced the whole file system (syncfs)"
pass
