#!/bin/sh
# t_install.sh - make install into a DESTDIR, as root: every path of the
# permissions manifest (conf/tern-files) exists with its owner, group and
# mode; a second install keeps an edited main.cf; prefix, sysconfdir and
# localstatedir move what they should.
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
	@echo "sbindir=$(sbindir) bindir=$(bindir) daemondir=$(DAEMON_DIR) confdir=$(CONF_DIR) queuedir=$(QUEUE_DIR) datadir=$(DATA_DIR) mandir=$(mandir) systemddir=$(SYSTEMD_DIR)"
MK
) || fail "cannot read install paths"
eval "$vars"
expand() {
	echo "$1" | sed -e "s|\$sbindir|$sbindir|g" -e "s|\$bindir|$bindir|g" \
		-e "s|\$daemondir|$daemondir|g" -e "s|\$confdir|$confdir|g" \
		-e "s|\$queuedir|$queuedir|g" -e "s|\$datadir|$datadir|g" -e "s|\$mandir|$mandir|g" \
		-e "s|\$systemddir|$systemddir|g"
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
	d|c) check "$p" "$owner" "$grp" "$mode" ;;
	f) [ -f "$TERN_TOP/$src" ] || continue
	   check "$p" "$owner" "$grp" "$mode"
	   cmp -s "$p" "$TERN_TOP/$src" || fail "$p differs from $src" ;;
	s) check "$p" "$owner" "$grp" "$mode"
	   grep -q @ "$p" && fail "$p still has @...@ in it"
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
pass
