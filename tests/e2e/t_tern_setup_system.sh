#!/bin/sh
# t_tern_setup_system.sh - tern setup on the system's own configuration
# (the compiled-in config directory, no -c, no $TERN_CONFIG_DIR) writes
# /etc/mailname, and reads it back as the mail name's default; an
# instance never does. Hermetic: the test runs in a private mount
# namespace (unshare -m, as root) where /etc is a copy and the compiled-in
# config directory is an instance; the machine's /etc is never touched.
here=$(dirname "$0")
[ -f "$here/lib.sh" ] || { echo "skip: tests/e2e/lib.sh is missing"; exit 77; }
. "$here/lib.sh"
need_root
need_cmd unshare mount
if [ -z "${TERN_SETUP_NS:-}" ]; then
	unshare -m true 2>/dev/null || skip "unshare -m does not work here"
	trap - EXIT INT TERM
	TERN_SETUP_NS=1 exec unshare -m sh "$0" "$@"
fi
mount --make-rprivate / || fail "mount --make-rprivate"

tern_instance
sysdir=$(env -u TERN_CONFIG_DIR ternconf -dh config_directory) || fail "no config_directory"
parent=$(dirname "$sysdir")
[ -d "$parent" ] || skip "$parent does not exist"
# A directory that is a mount point (in any namespace) cannot be removed.
at_cleanup "umount '$sysdir'; umount '$parent'; umount /etc"
# A copy of /etc (without a mailname), and the instance as the system's configuration.
cp -a /etc "$TERN_DIR/etc" || fail "copy /etc"
rm -f "$TERN_DIR/etc/mailname"
mount --bind "$TERN_DIR/etc" /etc || fail "bind /etc"
mkdir "$TERN_DIR/parent" && cp -a "$parent/." "$TERN_DIR/parent/" || fail "copy $parent"
mount --bind "$TERN_DIR/parent" "$parent" || fail "bind $parent"
mkdir -p "$sysdir" && mount --bind "$TERN_DIR" "$sysdir" || fail "bind $sysdir"

sys() { env -u TERN_CONFIG_DIR tern setup "$@"; }
out=$(sys --non-interactive --type internet --mailname example.org 2>&1) || fail "system setup: $out"
[ "$(cat /etc/mailname)" = example.org ] || fail "/etc/mailname: '$(cat /etc/mailname)', want example.org"
grep -qx 'myorigin = example.org' "$TERN_DIR/main.cf" || fail "myorigin not the mail name"
[ "$(stat -c %a /etc/mailname)" = 644 ] || fail "/etc/mailname mode $(stat -c %a /etc/mailname)"

# Another name in /etc/mailname is the default of the next run.
echo other.example >/etc/mailname
out=$(sys --non-interactive 2>&1) || fail "re-run: $out"
grep -qx 'myorigin = other.example' "$TERN_DIR/main.cf" || fail "/etc/mailname not read back"
# The same answers: /etc/mailname is not even rewritten.
ino=$(stat -c %i /etc/mailname)
out=$(sys --non-interactive 2>&1) || fail "third run: $out"
[ "$(stat -c %i /etc/mailname)" = "$ino" ] || fail "/etc/mailname rewritten without a change"

# An instance (here the same files through -c of another path) leaves /etc/mailname alone.
tern_instance
tern -c "$TERN_DIR" setup --non-interactive --mailname third.example >/dev/null 2>&1 ||
	fail "instance setup"
[ "$(cat /etc/mailname)" = other.example ] || fail "an instance changed /etc/mailname"
pass
