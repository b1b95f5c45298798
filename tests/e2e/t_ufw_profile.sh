#!/bin/sh
# t_ufw_profile.sh - the ufw application profile `make install` adds
# (conf/ufw-tern, as /etc/ufw/applications.d/tern), read by the real ufw,
# as root: `ufw app list` names Tern, Tern Submission and Tern SMTPS, and
# `ufw app info` gives each the port and title of Postfix's profile of the
# same name (25, 587, 465/tcp), without a warning about the file; `make
# uninstall` takes it away again. ufw reads the tree of a staged install
# (--datadir, with copies of ufw's own configuration beside it), so the
# system's /etc/ufw is only read; the test checks it is left as it was. Only
# `ufw app list` and `ufw app info` are run: no rule changes, nothing enabled.
. "$(dirname "$0")/lib.sh"
need_root
need_cmd make ufw

ufw_state() { find /etc/ufw /etc/default/ufw -printf '%p %y %m %U %G %s %T@\n' 2>/dev/null | LC_ALL=C sort; }
before=$(ufw_state)
[ -n "$before" ] || skip "no /etc/ufw (ufw not installed as a package)"

d=$(mktemp -d /tmp/tern-ufw.XXXXXX)
at_cleanup "rm -rf '$d'"
make -s -C "$TERN_TOP" install DESTDIR="$d" >"$d/make.log" 2>&1 || { cat "$d/make.log" >&2; fail "make install failed"; }
[ -f "$d/etc/ufw/applications.d/tern" ] || fail "make install did not add etc/ufw/applications.d/tern"
[ "$(stat -c '%U %G %a' "$d/etc/ufw/applications.d/tern")" = "root root 644" ] ||
	fail "the profile is $(stat -c '%U %G %a' "$d/etc/ufw/applications.d/tern"), not root root 644"

# What ufw needs besides its profiles, read-only copies; Postfix's profile
# too, when its package put one there, to compare with.
mkdir -p "$d/etc/default" "$d/lib/ufw"
cp /etc/default/ufw "$d/etc/default/" || fail "cannot copy /etc/default/ufw"
cp /etc/ufw/ufw.conf /etc/ufw/*.rules "$d/etc/ufw/" || fail "cannot copy ufw's configuration"
postfix=no
if [ -f /etc/ufw/applications.d/postfix ]; then
	cp /etc/ufw/applications.d/postfix "$d/etc/ufw/applications.d/" && postfix=yes
fi

# ufw with the staged tree as its configuration; its warning that /tmp is
# world writable is expected, any other (a profile it skips) is not.
ufw_d() {
	ufw --datadir="$d" "$@" 2>"$d/ufw.err" || { cat "$d/ufw.err" >&2; fail "ufw $* failed"; }
	if grep -v 'is world writable' "$d/ufw.err" | grep -q .; then
		cat "$d/ufw.err" >&2
		fail "ufw $* warned"
	fi
}

list=$(ufw_d app list) || exit 1
got=$(echo "$list" | sed -n 's/^  \(Tern.*\)/\1/p' | LC_ALL=C sort | tr '\n' '|')
[ "$got" = "Tern|Tern SMTPS|Tern Submission|" ] || fail "ufw app list: $list"

for pair in "Tern|SMTP|25/tcp|Postfix" "Tern Submission|Submission|587/tcp|Postfix Submission" \
	"Tern SMTPS|SMTPS|465/tcp|Postfix SMTPS"; do
	name=${pair%%|*} rest=${pair#*|}
	kind=${rest%%|*} rest=${rest#*|}
	port=${rest%%|*} pfname=${rest#*|}
	info=$(ufw_d app info "$name") || exit 1
	want="Profile: $name
Title: Mail server ($kind)
Description: Tern is a mail transport agent configured like Postfix

Port:
  $port"
	[ "$info" = "$want" ] || fail "ufw app info '$name' says:
$info
expected:
$want"
	if [ $postfix = yes ]; then
		pinfo=$(ufw_d app info "$pfname") || exit 1
		[ "$(echo "$pinfo" | grep -e '^Title:' -e '^  [0-9]')" = "$(echo "$info" | grep -e '^Title:' -e '^  [0-9]')" ] ||
			fail "'$name' and '$pfname' differ in title or port: $info / $pinfo"
	fi
done

make -s -C "$TERN_TOP" uninstall DESTDIR="$d" >"$d/make.log" 2>&1 || { cat "$d/make.log" >&2; fail "make uninstall failed"; }
[ -e "$d/etc/ufw/applications.d/tern" ] && fail "make uninstall left etc/ufw/applications.d/tern"
[ "$(ufw_state)" = "$before" ] || fail "the system's ufw configuration changed"
pass
