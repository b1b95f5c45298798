#!/bin/sh
# tern-account - create Tern's system accounts when they are missing:
# the user USER (mail_owner: a system account with its own group, no
# login shell, a home directory HOME that is not created) and, when given,
# the group GROUP (setgid_group). Existing accounts are left as they are.
#
#   tern-account USER HOME [GROUP]
#
# Runs as root. Used by conf/install.sh (make install) and by `tern init`
# run as root (installed as $daemondir/tern-account, linked into the build
# tree's stage/), so both create the account the same way.
set -eu
PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH

[ $# -ge 2 ] && [ $# -le 3 ] || { echo "usage: $0 USER HOME [GROUP]" >&2; exit 64; }
user=$1 home=$2 group=${3:-}

# Two at once (two `tern init` as root on a fresh host) may both find an
# account missing: the one whose useradd or groupadd loses is content
# with the account the other made.
if [ -n "$group" ] && ! getent group "$group" >/dev/null; then
	if groupadd --system "$group"; then
		echo "tern: created group $group"
	else
		getent group "$group" >/dev/null || exit 1
	fi
fi
if ! getent passwd "$user" >/dev/null; then
	nologin=/usr/sbin/nologin
	[ -x $nologin ] || nologin=/bin/false
	# Its own group, or the one of that name a removed user left behind.
	own=--user-group
	getent group "$user" >/dev/null && own="--gid $user"
	if useradd --system $own --home-dir "$home" --no-create-home \
		--shell $nologin --comment "Tern mail system" "$user"; then
		echo "tern: created user $user"
	else
		getent passwd "$user" >/dev/null || exit 1
	fi
fi
