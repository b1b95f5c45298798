#!/bin/sh
# install.sh - install Tern as conf/tern-files (the permissions manifest)
# says: every program, man page, directory and default configuration file,
# each with its owner, group and mode. Called by `make install` from the
# build tree:
#
#   conf/install.sh DESTDIR SBINDIR BINDIR DAEMONDIR CONFDIR QUEUEDIR DATADIR MANDIR USER GROUP SYSTEMDDIR
#
# Accounts: installing for real (as root, DESTDIR empty) creates the user
# USER (mail_owner, a system account without a shell, home QUEUEDIR) and the
# group GROUP (setgid_group) when they are missing. A staged install
# (DESTDIR set) never creates accounts on the build host: owners are applied
# where the accounts already exist, and a package's postinst creates them
# and runs `tern check` to set the queue's owners. Without root, owners are
# left as they come and only modes are applied (a private test prefix).
# An existing main.cf or master.cf is never overwritten.
set -eu

[ $# -eq 11 ] || { echo "usage: $0 DESTDIR SBINDIR BINDIR DAEMONDIR CONFDIR QUEUEDIR DATADIR MANDIR USER GROUP SYSTEMDDIR" >&2; exit 64; }
destdir=$1 sbindir=$2 bindir=$3 daemondir=$4 confdir=$5 queuedir=$6 datadir=$7 mandir=$8 user=$9
shift 9
group=$1 systemddir=$2
srcdir=$(cd "$(dirname "$0")/.." && pwd)
manifest=$srcdir/conf/tern-files

say() { echo "install: $*"; }
warned_owner=no

is_root=no
[ "$(id -u)" = 0 ] && is_root=yes

# Accounts (conf/tern-account.sh, which tern init run as root uses too).
if [ $is_root = yes ] && [ -z "$destdir" ]; then
	sh "$srcdir/conf/tern-account.sh" "$user" "$queuedir" "$group"
fi

# Owner and group names of the manifest, resolved to what exists here.
owner_name() {
	case $1 in
	'$user') echo "$user" ;;
	*) echo "$1" ;;
	esac
}
group_name() {
	case $1 in
	'$group') echo "$group" ;;
	'$user') id -gn "$user" 2>/dev/null || echo "$user" ;;
	*) echo "$1" ;;
	esac
}

# set_perms PATH OWNER GROUP MODE: chown (when root and the names exist),
# then chmod, since chown clears the set-group-ID bit.
set_perms() {
	[ "$4" = - ] && return 0
	if [ $is_root = yes ]; then
		o=$(owner_name "$2") g=$(group_name "$3")
		if getent passwd "$o" >/dev/null && getent group "$g" >/dev/null; then
			chown -h "$o:$g" "$1"
		elif [ $warned_owner = no ]; then
			say "warning: user $o or group $g missing; owners not applied (see conf/install.sh)"
			warned_owner=yes
		fi
	fi
	chmod "$4" "$1"
}

expand() {
	echo "$1" | sed -e "s|\$sbindir|$sbindir|g" -e "s|\$bindir|$bindir|g" \
		-e "s|\$daemondir|$daemondir|g" -e "s|\$confdir|$confdir|g" \
		-e "s|\$queuedir|$queuedir|g" -e "s|\$datadir|$datadir|g" -e "s|\$mandir|$mandir|g" \
		-e "s|\$systemddir|$systemddir|g"
}

grep -v '^[[:space:]]*#' "$manifest" | grep -v '^[[:space:]]*$' |
while read -r type path src owner grp mode; do
	path=$(expand "$path")
	dest=$destdir$path
	case $type in
	d)
		mkdir -p "$dest"
		set_perms "$dest" "$owner" "$grp" "$mode"
		;;
	f)
		if [ ! -f "$src" ]; then
			say "$path: $src is not built yet; skipped"
			continue
		fi
		# A new file renamed into place: running programs keep their copy.
		cp "$src" "$dest.new"
		set_perms "$dest.new" "$owner" "$grp" "$mode"
		mv -f "$dest.new" "$dest"
		;;
	c)
		if [ -e "$dest" ]; then
			say "$path exists; kept (the new default is $srcdir/$src)"
			continue
		fi
		cp "$srcdir/$src" "$dest"
		set_perms "$dest" "$owner" "$grp" "$mode"
		;;
	s)
		# A file of ours with the installation's paths filled in; replaced each time.
		sed -e "s|@sbindir@|$sbindir|g" -e "s|@confdir@|$confdir|g" -e "s|@queuedir@|$queuedir|g" \
			"$srcdir/$src" > "$dest.new"
		set_perms "$dest.new" "$owner" "$grp" "$mode"
		mv -f "$dest.new" "$dest"
		;;
	l)
		ln -sfn "$(expand "$src")" "$dest"
		;;
	m)
		for page in $srcdir/$src; do
			[ -f "$page" ] || continue
			mkdir -p "$dest"
			cp "$page" "$dest/"
			set_perms "$dest/$(basename "$page")" "$owner" "$grp" "$mode"
		done
		;;
	*)
		echo "install: $manifest: unknown type '$type'" >&2
		exit 1
		;;
	esac
done
say "done${destdir:+ (staged in $destdir)}"
