#!/bin/sh
# install.sh - install Tern as conf/tern-files (the permissions manifest)
# says: every program, man page, directory and default configuration file,
# each with its owner, group and mode; or, with -u, remove it again. Called
# by `make install` and `make uninstall` from the build tree:
#
#   conf/install.sh [-u] DESTDIR SBINDIR BINDIR DAEMONDIR CONFDIR QUEUEDIR DATADIR MANDIR USER GROUP SYSTEMDDIR ALIASFILE UFWDIR FAIL2BANDIR
#
# Runs as root for a real install, or as any user for a private prefix.
#
# Accounts: installing for real (as root, DESTDIR empty) creates the user
# USER (mail_owner, a system account without a shell, home QUEUEDIR) and the
# group GROUP (setgid_group) when they are missing. A staged install
# (DESTDIR set) never creates accounts on the build host: owners are applied
# where the accounts already exist, and a package's postinst creates them
# and runs `tern check` to set the queue's owners. Without root, owners are
# left as they come and only modes are applied (a private test prefix).
# An existing main.cf or master.cf (or fail2ban's tern.local, which an
# administrator with another syslog_name edits) is never overwritten.
#
# Aliases: the default main.cf names ALIASFILE (/etc/aliases). Installing
# for real (DESTDIR empty) creates it with "postmaster: root" when it is
# missing, as sendmail's and Postfix's packages do, and builds each missing
# hash: alias_database of the installed main.cf with the installed
# newaliases, so local delivery finds its table from the start. A staged
# install leaves both to the package's postinst.
#
# Uninstall: install records in DAEMONDIR/install.list what it created
# that was not there before: every directory (parents too), each default
# configuration file with its checksum, and each alias database it built.
# -u removes the programs, links, man pages and generated files of the
# manifest, a configuration file only if it is still as installed, the
# alias databases install built, and then the recorded directories that
# are empty. It never removes ALIASFILE, queued mail or the accounts.
set -eu

uninstall=no
if [ "${1:-}" = -u ]; then
	uninstall=yes
	shift
fi
[ $# -eq 14 ] || { echo "usage: $0 [-u] DESTDIR SBINDIR BINDIR DAEMONDIR CONFDIR QUEUEDIR DATADIR MANDIR USER GROUP SYSTEMDDIR ALIASFILE UFWDIR FAIL2BANDIR" >&2; exit 64; }
destdir=$1 sbindir=$2 bindir=$3 daemondir=$4 confdir=$5 queuedir=$6 datadir=$7 mandir=$8 user=$9
shift 9
group=$1 systemddir=$2 aliasfile=$3 ufwdir=$4 fail2bandir=$5
srcdir=$(cd "$(dirname "$0")/.." && pwd)
manifest=$srcdir/conf/tern-files
# What install created (see above), paths without DESTDIR.
record=$destdir$daemondir/install.list

say() { echo "install: $*"; }
warned_owner=no

is_root=no
[ "$(id -u)" = 0 ] && is_root=yes

# The manifest's lines, without comments and blank lines.
entries() {
	grep -v '^[[:space:]]*#' "$manifest" | grep -v '^[[:space:]]*$'
}

# fill SRC: a file of ours with the installation's paths filled in.
fill() {
	sed -e "s|@sbindir@|$sbindir|g" -e "s|@bindir@|$bindir|g" -e "s|@confdir@|$confdir|g" \
		-e "s|@queuedir@|$queuedir|g" -e "s|@datadir@|$datadir|g" -e "s|@aliasfile@|$aliasfile|g" \
		"$srcdir/$1"
}

expand() {
	echo "$1" | sed -e "s|\$sbindir|$sbindir|g" -e "s|\$bindir|$bindir|g" \
		-e "s|\$daemondir|$daemondir|g" -e "s|\$confdir|$confdir|g" \
		-e "s|\$queuedir|$queuedir|g" -e "s|\$datadir|$datadir|g" -e "s|\$mandir|$mandir|g" \
		-e "s|\$systemddir|$systemddir|g" -e "s|\$ufwdir|$ufwdir|g" \
		-e "s|\$fail2bandir|$fail2bandir|g"
}

checksum() { sha256sum "$1" | cut -d' ' -f1; }

# The hash: alias databases the installed main.cf names (one path a line).
alias_dbs() {
	"$destdir$sbindir/ternconf" -c "$destdir$confdir" -h alias_database 2>/dev/null |
		tr ', ' '\n\n' | sed -n 's|^hash:\(/.*\)|\1.db|p'
}

if [ $uninstall = yes ]; then
	list=$(cat "$record" 2>/dev/null || true)
	[ -n "$list" ] || say "no $record: directories and configuration files are left in place"
	# Remove in reverse order: files before the directories that hold them.
	entries | sed -n '1!G;h;$p' |
	while read -r type path src owner grp mode; do
		dest=$destdir$(expand "$path")
		case $type in
		f|s) rm -f "$dest" ;;
		l)
			[ -L "$dest" ] && [ "$(readlink "$dest")" = "$(expand "$src")" ] && rm -f "$dest"
			;;
		m)
			for page in $srcdir/$src; do
				[ -f "$page" ] && rm -f "$dest/$(basename "$page")"
			done
			;;
		c)
			[ -f "$dest" ] || continue
			sum=$(echo "$list" | awk -v p="$(expand "$path")" '$1 == "c" && $2 == p { print $3 }' | tail -n 1)
			if [ -n "$sum" ] && [ "$(checksum "$dest")" = "$sum" ]; then
				rm -f "$dest"
			else
				say "$(expand "$path") was changed or not installed by make install; kept"
			fi
			;;
		esac
		:
	done
	echo "$list" | awk '$1 == "a" { print $2 }' | while read -r db; do
		rm -f "$destdir$db"
	done
	rm -f "$record"
	# Directories install created, deepest first; one that is not empty
	# (queued mail, an edited main.cf, someone else's files) stays.
	echo "$list" | awk '$1 == "d" { print $2 }' | sed -n '1!G;h;$p' | while read -r dir; do
		[ -d "$destdir$dir" ] || continue
		rmdir "$destdir$dir" 2>/dev/null || say "$dir is not empty; kept"
	done
	say "uninstalled${destdir:+ (from $destdir)}; the accounts $user and $group are kept"
	exit 0
fi

# make_dir DIR: mkdir -p, recording each directory it creates (parents first).
make_dir() {
	[ -d "$destdir$1" ] && return 0
	parent=$(dirname "$1")
	[ "$parent" != "$1" ] && make_dir "$parent"
	mkdir "$destdir$1"
	echo "d $1" >> "$rec"
}

# Accounts (conf/tern-account.sh, which tern init run as root uses too).
if [ $is_root = yes ] && [ -z "$destdir" ]; then
	sh "$srcdir/conf/tern-account.sh" "$user" "$queuedir" "$group"
fi
# The record is kept aside as install goes and added to the one of an
# earlier install at the end (it lives in daemondir).
rec=$(mktemp)
trap 'rm -f "$rec"' EXIT
[ -z "$destdir" ] || mkdir -p "$destdir"

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


grep -v '^[[:space:]]*#' "$manifest" | grep -v '^[[:space:]]*$' |
while read -r type path src owner grp mode; do
	path=$(expand "$path")
	dest=$destdir$path
	case $type in
	d)
		make_dir "$path"
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
		fill "$src" > "$dest.new"
		set_perms "$dest.new" "$owner" "$grp" "$mode"
		mv -f "$dest.new" "$dest"
		echo "c $path $(checksum "$dest")" >> "$rec"
		;;
	s)
		# A file of ours with the installation's paths filled in; replaced each time.
		fill "$src" > "$dest.new"
		set_perms "$dest.new" "$owner" "$grp" "$mode"
		mv -f "$dest.new" "$dest"
		;;
	l)
		ln -sfn "$(expand "$src")" "$dest"
		;;
	m)
		for page in $srcdir/$src; do
			[ -f "$page" ] || continue
			make_dir "$path"
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

# The aliases file and its missing databases (see above).
if [ -z "$destdir" ]; then
	if [ ! -e "$aliasfile" ]; then
		make_dir "$(dirname "$aliasfile")"
		printf '# aliases(5): "name: address, ..."; run newaliases after a change.\npostmaster: root\n' \
			> "$aliasfile"
		chmod 644 "$aliasfile"
		say "created $aliasfile (postmaster: root)"
	fi
	missing=
	for db in $(alias_dbs); do
		[ -e "$db" ] || [ ! -f "${db%.db}" ] || missing="$missing $db"
	done
	if [ -n "$missing" ]; then
		"$bindir/newaliases" -C "$confdir" || { echo "install: newaliases failed" >&2; exit 1; }
		for db in $missing; do
			[ -e "$db" ] && echo "a $db" >> "$rec"
		done
	fi
fi

cat "$rec" >> "$record"
chmod 644 "$record"
say "done${destdir:+ (staged in $destdir)}"
