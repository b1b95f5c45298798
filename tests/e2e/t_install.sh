#!/bin/sh
# t_install.sh - make install into a DESTDIR, as root: every path of the
# permissions manifest (conf/tern-files) exists with its owner, group and
# mode; main.cf's sendmail_path, mailq_path and newaliases_path (and their
# defaults) name the links install made; every program has a man page; a
# second install keeps an edited main.cf; prefix, sysconfdir and
# localstatedir move what they should; a tern installed inside the build
# directory does not take itself for the build tree's (tern init). Then
# make install and make uninstall with a prefix in a temporary directory
# (no DESTDIR), with the ufw profile and fail2ban's tern.local redirected
# there too (nothing may land in /etc): aliases.db is built when missing,
# and uninstall leaves exactly what was there before, or keeps an edited
# main.cf or tern.local, queued mail, the aliases file and the accounts.
# e2e: serial (it creates the accounts tern and terndrop when missing and
# removes them again, which instances made meanwhile would run as, and
# checks that the system's /etc/aliases and /etc/ufw were left alone)
. "$(dirname "$0")/lib.sh"
need_root
need_cmd make useradd groupadd

user=$(sed -n 's/^TERN_USER = //p' "$TERN_TOP/Makefile")
group=$(sed -n 's/^TERN_DROP_GROUP = //p' "$TERN_TOP/Makefile")
[ -n "$user" ] && [ -n "$group" ] || fail "cannot read TERN_USER/TERN_DROP_GROUP from Makefile"
# The accounts a real install creates; made here (and removed again) so
# that the staged install can apply every owner.
if ! getent group "$group" >/dev/null; then
	groupadd --system "$group" || fail "groupadd"
	at_cleanup "groupdel '$group'"
fi
if ! getent passwd "$user" >/dev/null; then
	useradd --system --user-group --no-create-home --shell /usr/sbin/nologin "$user" || fail "useradd"
	at_cleanup "userdel '$user'; groupdel '$user'"
fi

dest=$(mktemp -d /tmp/tern-install.XXXXXX)
at_cleanup "rm -rf '$dest'"
make -s -C "$TERN_TOP" install DESTDIR="$dest" >"$dest.log" 2>&1 || { cat "$dest.log"; fail "make install failed"; }
rm -f "$dest.log"

vars=$(make -s -C "$TERN_TOP" -f Makefile -f - print-vars <<'MK'
print-vars:
	@echo "sbindir=$(sbindir) bindir=$(bindir) daemondir=$(DAEMON_DIR) confdir=$(CONF_DIR) queuedir=$(QUEUE_DIR) datadir=$(DATA_DIR) mandir=$(mandir) systemddir=$(SYSTEMD_DIR) ufwdir=$(UFW_APP_DIR) fail2bandir=$(FAIL2BAN_DIR) programs='$(PROGRAMS)'"
MK
) || fail "cannot read install paths"
eval "$vars"
expand() {
	echo "$1" | sed -e "s|\$sbindir|$sbindir|g" -e "s|\$bindir|$bindir|g" \
		-e "s|\$daemondir|$daemondir|g" -e "s|\$confdir|$confdir|g" \
		-e "s|\$queuedir|$queuedir|g" -e "s|\$datadir|$datadir|g" -e "s|\$mandir|$mandir|g" \
		-e "s|\$systemddir|$systemddir|g" -e "s|\$ufwdir|$ufwdir|g" \
		-e "s|\$fail2bandir|$fail2bandir|g"
}
want_owner() { case $1 in '$user') echo "$user" ;; *) echo "$1" ;; esac; }
want_group() { case $1 in '$group') echo "$group" ;; '$user') id -gn "$user" ;; *) echo "$1" ;; esac; }
check() {	# check PATH OWNER GROUP MODE
	[ -e "$1" ] || fail "$1 missing"
	got=$(stat -c '%U %G %a' "$1")
	want="$(want_owner "$2") $(want_group "$3") $(echo "$4" | sed 's/^0*//')"
	[ "$got" = "$want" ] || fail "$1: $got, manifest says $want"
}

checked=0
grep -v '^[[:space:]]*#' "$TERN_TOP/conf/tern-files" | grep -v '^[[:space:]]*$' > "$dest/.manifest"
while read -r type path src owner grp mode; do
	p=$dest$(expand "$path")
	case $type in
	d) check "$p" "$owner" "$grp" "$mode" ;;
	c) check "$p" "$owner" "$grp" "$mode"
	   grep -q '@[a-z]*@' "$p" && fail "$p still has @...@ in it" ;;
	f) [ -f "$TERN_TOP/$src" ] || continue
	   check "$p" "$owner" "$grp" "$mode"
	   cmp -s "$p" "$TERN_TOP/$src" || fail "$p differs from $src" ;;
	s) check "$p" "$owner" "$grp" "$mode"
	   grep -q '@[a-z]*@' "$p" && fail "$p still has @...@ in it"
	   if grep -q @sbindir@ "$TERN_TOP/$src"; then
		grep -q "$sbindir/tern" "$p" || fail "$p does not name $sbindir/tern"
	   fi ;;
	l) [ "$(readlink "$p")" = "$(expand "$src")" ] || fail "$p does not point to $(expand "$src")" ;;
	m) for page in $TERN_TOP/$src; do
		[ -f "$page" ] || continue
		check "$p/$(basename "$page")" "$owner" "$grp" "$mode"
	   done ;;
	*) fail "unknown manifest type $type" ;;
	esac
	checked=$((checked + 1))
done < "$dest/.manifest"
[ $checked -ge 20 ] || fail "only $checked manifest lines checked"
check "$dest$queuedir/maildrop" '$user' '$group' 1730
check "$dest$sbindir/tern" root root 755
[ -f "$dest$mandir/man8/tern.8" ] || fail "tern.8 not installed"
# fail2ban's postfix filter reads filter.d/postfix.d/*.local, whatever the prefix.
cmp -s "$dest/etc/fail2ban/filter.d/postfix.d/tern.local" "$TERN_TOP/conf/fail2ban/tern.local" ||
	fail "make install did not put conf/fail2ban/tern.local in /etc/fail2ban/filter.d/postfix.d"

# main.cf names where the commands went, and so do the compiled-in defaults.
for pair in "sendmail_path $sbindir/sendmail" "mailq_path $bindir/mailq" "newaliases_path $bindir/newaliases"; do
	set -- $pair
	grep -qxF "$1 = $2" "$dest$confdir/main.cf" || fail "installed main.cf lacks '$1 = $2'"
	[ "$(ternconf -d -h "$1")" = "$2" ] || fail "the default $1 is $(ternconf -d -h "$1"), not $2"
	[ -L "$dest$2" ] || [ -x "$dest$2" ] || fail "$1 = $2, but install made no $2"
done

# A man page for every program installed, and every program is installed.
for prog in $programs; do
	grep -q "^f .* $prog " "$dest/.manifest" || fail "$prog is built but not in conf/tern-files"
done
for path in $(awk '$1 == "f" || $1 == "l" { print $2 }' "$dest/.manifest"); do
	name=$(basename "$path")
	[ -f "$dest$mandir/man8/$name.8" ] || [ -f "$dest$mandir/man1/$name.1" ] ||
		fail "no man page installed for $name"
done

# An administrator's main.cf survives the next install.
echo "myhostname = edited.example" >> "$dest$confdir/main.cf"
make -s -C "$TERN_TOP" install DESTDIR="$dest" >/dev/null 2>&1 || fail "second make install failed"
grep -q "edited.example" "$dest$confdir/main.cf" || fail "make install overwrote main.cf"

# prefix, sysconfdir, localstatedir.
dest2=$(mktemp -d /tmp/tern-install.XXXXXX)
at_cleanup "rm -rf '$dest2'"
make -s -C "$TERN_TOP" install DESTDIR="$dest2" prefix=/opt/tern sysconfdir=/etc/opt/tern \
	localstatedir=/var/opt/tern >/dev/null 2>&1 || fail "make install with prefix failed"
[ -x "$dest2/opt/tern/sbin/tern" ] || fail "prefix not honoured"
[ -f "$dest2/etc/opt/tern/tern/main.cf" ] || fail "sysconfdir not honoured"
check "$dest2/var/opt/tern/spool/tern/maildrop" '$user' '$group' 1730
[ -d "$dest2/var/opt/tern/lib/tern" ] || fail "localstatedir not honoured (data)"
grep -q "ExecStart=/opt/tern/sbin/tern -c /etc/opt/tern/tern start" "$dest2/opt/tern/lib/systemd/system/tern.service" \
	|| fail "the systemd unit does not use the prefix's paths"
[ -e "$dest2/usr/local" ] && fail "something went to /usr/local despite prefix"

# A tern installed inside the build directory is not the build tree's:
# its tern init leaves daemon_directory and command_directory alone and
# says to start the instance with itself.
inside="$TERN_TOP/.t_install.$$"
at_cleanup "rm -rf '$inside'"
make -s -C "$TERN_TOP" install DESTDIR="$inside" >/dev/null 2>&1 || fail "make install into the build directory"
idir=$(mktemp -d /tmp/tern-test.XXXXXX)
at_cleanup "rm -rf '$idir'"
chmod 755 "$idir"
out=$("$inside$sbindir/tern" init "$idir/i") || fail "the installed tern init failed: $out"
grep -E '^(daemon|command)_directory' "$idir/i/main.cf" &&
	fail "a tern installed inside the build directory wrote the build tree's stage/"
echo "$out" | grep -qxF "Start it: $inside$sbindir/tern -c $idir/i start" ||
	fail "the Start it: line does not name the installed tern: $(echo "$out" | grep 'Start it')"

# make install and make uninstall for real (no DESTDIR) into a prefix in a
# temporary directory, with its own aliases file.
root=$(mktemp -d /tmp/tern-install.XXXXXX)
at_cleanup "rm -rf '$root' '$root.before' '$root.log'"
chmod 755 "$root"
mkdir -p "$root/etc" "$root/p/sbin"
printf 'postmaster: root\nfriend: root\n' >"$root/etc/aliases"
echo "not Tern's" >"$root/p/sbin/other-tool"
snapshot() { (cd "$root" && find . -printf '%p %y %m %U %G %s\n' | LC_ALL=C sort); }
system_aliases() { ls -la --time-style=full-iso /etc/aliases* 2>/dev/null; }
snapshot >"$root.before"
sys_before=$(system_aliases)
sys_ufw=no
[ -e /etc/ufw/applications.d/tern ] && sys_ufw=yes
sys_f2b=no
[ -e /etc/fail2ban/filter.d/postfix.d/tern.local ] && sys_f2b=yes
mk() {
	make -s -C "$TERN_TOP" "$1" prefix="$root/p" ALIAS_FILE="$root/etc/aliases" \
		UFW_APP_DIR="$root/etc/ufw/applications.d" \
		FAIL2BAN_DIR="$root/etc/fail2ban/filter.d/postfix.d" >"$root.log" 2>&1 ||
		{ cat "$root.log" >&2; fail "make $1 (prefix $root/p) failed"; }
}
pconf=$root/p/etc/tern
mk install
[ -f "$root/etc/aliases.db" ] || fail "make install did not build the missing aliases.db"
[ -f "$root/etc/ufw/applications.d/tern" ] || fail "make install did not put the ufw profile in UFW_APP_DIR"
[ -f "$root/etc/fail2ban/filter.d/postfix.d/tern.local" ] ||
	fail "make install did not put tern.local in FAIL2BAN_DIR"
[ "$("$root/p/sbin/ternmap" -q friend "hash:$root/etc/aliases")" = root ] || fail "aliases.db lacks friend"
[ "$("$root/p/sbin/ternconf" -c "$pconf" -h mailq_path)" = "$root/p/bin/mailq" ] || fail "mailq_path"
[ "$("$root/p/sbin/ternconf" -c "$pconf" -h newaliases_path)" = "$root/p/bin/newaliases" ] || fail "newaliases_path"
[ "$(readlink "$root/p/bin/newaliases")" = "$root/p/sbin/sendmail" ] || fail "newaliases link"
[ "$("$root/p/sbin/ternconf" -c "$pconf" -h alias_database)" = "hash:$root/etc/aliases" ] || fail "alias_database"
# A second install leaves an existing aliases.db alone.
db=$(stat -c '%i %Y' "$root/etc/aliases.db")
sleep 1
mk install
[ "$(stat -c '%i %Y' "$root/etc/aliases.db")" = "$db" ] || fail "a second install rebuilt aliases.db"
mk uninstall
snapshot | diff "$root.before" - >&2 || fail "make uninstall did not leave exactly what was there before"
[ "$(system_aliases)" = "$sys_before" ] || fail "the prefix install touched /etc/aliases"
[ -e /etc/ufw/applications.d/tern ] && [ "$sys_ufw" = no ] && fail "the prefix install put a profile in /etc/ufw"
[ -e /etc/fail2ban/filter.d/postfix.d/tern.local ] && [ "$sys_f2b" = no ] &&
	fail "the prefix install put tern.local in /etc/fail2ban"
getent passwd "$user" >/dev/null && getent group "$group" >/dev/null || fail "uninstall removed the accounts"

# Without an aliases file install makes one; uninstall keeps it, an edited
# main.cf, an edited fail2ban tern.local and queued mail, and removes the rest.
rm "$root/etc/aliases"
mk install
grep -qx 'postmaster: root' "$root/etc/aliases" || fail "install did not create the missing aliases file"
[ -f "$root/etc/aliases.db" ] || fail "no aliases.db for the new aliases file"
echo "myhostname = edited.example" >>"$pconf/main.cf"
f2b=$root/etc/fail2ban/filter.d/postfix.d/tern.local
echo '# _daemon with the syslog_name mx-out too' >>"$f2b"
echo "a queued message" >"$root/p/var/spool/tern/deferred/4F2A1"
mk uninstall
grep -q "edited.example" "$pconf/main.cf" || fail "make uninstall removed an edited main.cf"
grep -q "main.cf was changed" "$root.log" || fail "make uninstall did not say why it kept main.cf"
grep -q 'mx-out' "$f2b" || fail "make uninstall removed an edited tern.local"
[ -f "$root/p/var/spool/tern/deferred/4F2A1" ] || fail "make uninstall removed queued mail"
[ -f "$root/etc/aliases" ] || fail "make uninstall removed the aliases file"
[ -e "$root/etc/aliases.db" ] && fail "make uninstall kept the aliases.db install built"
[ -e "$pconf/master.cf" ] && fail "make uninstall kept an unchanged master.cf"
for gone in sbin/tern sbin/terndrop bin/mailq libexec/tern share/man/man8/qmgr.8 lib/systemd var/lib/tern \
	var/spool/tern/maildrop; do
	[ -e "$root/p/$gone" ] || [ -L "$root/p/$gone" ] && fail "make uninstall left $gone"
done
[ -f "$root/p/sbin/other-tool" ] || fail "make uninstall removed a file that was not Tern's"
pass
