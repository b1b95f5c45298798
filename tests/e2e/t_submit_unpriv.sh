#!/bin/sh
# t_submit_unpriv.sh - submission by an unprivileged user through a
# set-group-ID sendmail in a test installation (./configure --prefix in a
# temporary directory, whose default main.cf lists the test instance in
# alternate_config_directories):
#  - the message lands in maildrop/, owned by the user, who cannot list it;
#  - a configuration directory not listed is refused (77), by -C and by
#    TERN_CONFIG_DIR, and nothing is written there;
#  - an untrusted -f gets X-Authentication-Warning: after pickup, root's not;
#  - local_login_sender_maps refuses a sender (77) and allows the listed one,
#    also from a table only the set-group-ID group may read;
#  - message_size_limit is enforced (65);
#  - without its set-group-ID bit sendmail cannot write (75), nothing left;
#  - mailq (the installed set-group-ID sendmail -bp) works for the user,
#    who is not in the group, on a running instance the default main.cf
#    lists, and is refused (77) for an unlisted -C;
#  - an instance that root makes with the installed tern init (no build
#    tree paths in it), started with the command tern init prints, takes
#    a user's mail only once the default main.cf lists it, and delivers it;
#  - the build tree's stage/sendmail is not set-group-ID and says so
#    plainly (75), nothing written.
# The test installation is a whole `make install` into the prefix (so
# sendmail and terndrop are root:GROUP 2755 as the manifest says), built
# with the same sanitizer flags as the build tree, so a sanitizer build
# proves that they still run set-group-ID. It reuses the build tree's
# objects but for those the installation's paths are compiled into.
# e2e: slow (it configures, builds and installs a tree of its own)
. "$(dirname "$0")/submitlib.sh"
need_root
command -v useradd >/dev/null || skip "needs useradd"
command -v su >/dev/null || skip "needs su"

work=$(mktemp -d /tmp/tern-inst.XXXXXX) || fail "mktemp"
chmod 755 "$work"
prefix="$work/prefix"
# The root-made instance is stopped before its directory goes.
at_cleanup "[ -x $prefix/sbin/tern ] && [ -f $work/rinst/main.cf ] && $prefix/sbin/tern -c $work/rinst stop; rm -rf $work"
user=tsub$$
group=tdrp$$
groupadd "$group" || fail "groupadd"
at_cleanup "groupdel $group"
useradd -M -d /nonexistent -s /bin/sh "$user" || fail "useradd"
at_cleanup "userdel $user"
uid=$(id -u "$user")

# The test installation: the same sources, configured with --prefix.
mkdir "$work/src"
if git -C "$TERN_TOP" rev-parse --git-dir >/dev/null 2>&1; then
	# One tar reading the names (xargs would run several once the list is
	# long, and tar xf stops at the end of the first archive). The build
	# tree's products come along (git ls-files --ignored), times kept.
	(cd "$TERN_TOP" && { git ls-files -z --cached --others --exclude-standard;
		git ls-files -z --others --ignored --exclude-standard; } | tar cf - --null -T - 2>/dev/null) |
		(cd "$work/src" && tar xf -) || fail "copy sources"
else
	cp -a "$TERN_TOP/." "$work/src/" || fail "copy sources"
fi
# What the build tree compiled is reused, but for the objects the paths
# and names configure sets can be in (PATH_DEFS in Makefile.in): those
# whose source, or a header or table it includes (its .d file), names one
# of PATH_DEFS' macros are compiled again. config.h stays as it is when
# configure makes the same one, so nothing else is.
macros=$(sed -n '/^PATH_DEFS/,/[^\\]$/p' "$TERN_TOP/Makefile.in" | grep -o -- '-D[A-Z_]*' | sed 's/^-D//' | paste -sd'|')
[ -n "$macros" ] || fail "no PATH_DEFS in Makefile.in"
(cd "$work/src" && grep -rlwE "$macros" --include='*.c' --include='*.h' --include='*.def' --exclude-dir=.git . \
	| sed 's|^\./||' | sort -u > "$work/pathdef-files" && [ -s "$work/pathdef-files" ] &&
	find . -name '*.d' -exec grep -lFw -f "$work/pathdef-files" {} + | sed 's/\.d$/.o/' | xargs -r rm -f) ||
	fail "cannot tell which objects name the installation's paths"
san=
grep -q '^SANITIZE_FLAGS = .*sanitize' "$TERN_TOP/Makefile" 2>/dev/null && san=--enable-sanitizers
# The instance owner tern init gives a root-made instance (made by
# make install, as on a real host, when missing; removed again then).
owner=$(sed -n 's/^TERN_USER = //p' "$TERN_TOP/Makefile")
[ -n "$owner" ] || fail "cannot read TERN_USER from Makefile"
getent passwd "$owner" >/dev/null || at_cleanup "userdel $owner; groupdel $owner"
printf 'postmaster: root\n' >"$work/aliases"
(cd "$work/src" && ./configure -q --prefix="$prefix" --with-drop-group="$group" $san &&
	make -j2 && make install ALIAS_FILE="$work/aliases" UFW_APP_DIR="$work/ufw" FAIL2BAN_DIR="$work/fail2ban") >"$work/build.log" 2>&1 || {
	tail -20 "$work/build.log" >&2
	fail "building and installing the test installation"
}
[ "$(stat -c '%U %G %a' "$prefix/sbin/terndrop")" = "root $group 2755" ] ||
	fail "make install did not make terndrop root:$group 2755"
[ "$(stat -c '%U %G %a' "$prefix/sbin/sendmail")" = "root $group 2755" ] ||
	fail "make install did not make sendmail root:$group 2755"

# An instance whose queue has the installed modes: maildrop 1730 and public 2710, group $group.
inst="$work/inst"
mkinst() {
	mkdir -p "$1/queue"
	for q in incoming active deferred hold corrupt defer private pid; do mkdir -p "$1/queue/$q"; done
	mkdir "$1/queue/maildrop" "$1/queue/public"
	chown "root:$group" "$1/queue/maildrop" "$1/queue/public"
	chmod 1730 "$1/queue/maildrop"
	chmod 2710 "$1/queue/public"
	cat >"$1/main.cf" <<EOF
queue_directory = $1/queue
command_directory = $prefix/sbin
daemon_directory = $TERN_TOP/stage
mail_owner = root
setgid_group = $group
myhostname = host.test.example
myorigin = test.example
mydestination = \$myhostname, localhost
maillog_file = $1/maillog
message_size_limit = 100000
alias_maps =
EOF
	chmod -R go+rX "$1/main.cf"
}
mkinst "$inst"
mkinst "$work/other"
printf 'alternate_config_directories = %s\nalias_maps =\n' "$inst" >"$prefix/etc/tern/main.cf"
chmod 644 "$prefix/etc/tern/main.cf"

# as_user CMD: run CMD (a shell line) as the test user, status returned.
as_user() { su -s /bin/sh "$user" -c "$1"; }
sm="$prefix/sbin/sendmail"

# Submission works and the file belongs to the user, who cannot list maildrop/.
as_user "printf 'Subject: hi\n\nfrom a user\n' | $sm -C $inst friend@example.net" 2>"$work/err" ||
	fail "unprivileged submission failed ($?): $(cat "$work/err")"
f=$(ls "$inst/queue/maildrop")
[ -n "$f" ] || fail "nothing in maildrop/"
[ "$(stat -c %u "$inst/queue/maildrop/$f")" = "$uid" ] || fail "maildrop file not owned by the user"
as_user "ls $inst/queue/maildrop" >/dev/null 2>&1 && fail "the user can list maildrop/"
as_user "cat $inst/queue/maildrop/$f" >/dev/null 2>&1 && fail "the user can read the maildrop file"

# TERN_CONFIG_DIR works like -C.
as_user "printf 'Subject: env\n\nx\n' | TERN_CONFIG_DIR=$inst $sm friend@example.net" 2>"$work/err" ||
	fail "TERN_CONFIG_DIR submission failed: $(cat "$work/err")"
[ "$(ls "$inst/queue/maildrop" | wc -l)" = 2 ] || fail "TERN_CONFIG_DIR submission not in maildrop/"

# A directory the default main.cf does not list is refused.
as_user "printf 'Subject: x\n\nx\n' | $sm -C $work/other friend@example.net" 2>"$work/err"
rc=$?
[ $rc = 77 ] || fail "-C to an unlisted directory: exit $rc, want 77: $(cat "$work/err")"
grep -q alternate_config_directories "$work/err" || fail "no clear reason: $(cat "$work/err")"
as_user "printf 'Subject: x\n\nx\n' | TERN_CONFIG_DIR=$work/other $sm friend@example.net" 2>/dev/null
[ $? = 77 ] || fail "TERN_CONFIG_DIR to an unlisted directory was not refused"
[ -z "$(ls -A "$work/other/queue/maildrop")" ] || fail "something was written to the unlisted queue"

# Untrusted -f gets X-Authentication-Warning (after pickup); root's -f does not.
as_user "printf 'Subject: forged\n\nx\n' | $sm -C $inst -f boss@example.com friend@example.net" ||
	fail "-f as a user failed"
printf 'Subject: root\n\nx\n' | "$sm" -C "$inst" -f boss@example.com friend@example.net || fail "-f as root failed"
as_user "printf 'From someone Mon Jan  1 00:00:00 2024\nSubject: fromline\n\nx\n' | $sm -C $inst -f boss2@example.com friend@example.net" ||
	fail "-f with a From_ line failed"
SUB_DIR=$inst
run_pickup
n=$(grep -l "^X-Authentication-Warning: host.test.example: $user set sender to boss@example.com using -f" \
	"$inst"/queue/incoming/* | wc -l)
[ "$n" = 1 ] || fail "want exactly one X-Authentication-Warning for boss@ (the user's), found $n"
fl=$(grep -l '^Subject: fromline' "$inst"/queue/incoming/*)
[ -n "$fl" ] || fail "the From_ line message lost its Subject: header"
qf_headers "$fl" | grep -q '^X-Authentication-Warning: .* set sender to boss2@example.com' ||
	fail "no warning in the headers of the From_ line message"
qf_headers "$fl" | grep -q '^Subject: fromline' || fail "Subject: fell out of the header block"
qf_content "$fl" | grep -q '^From someone' && fail "the From_ line was kept"
for q in "$inst"/queue/incoming/*; do
	[ "$(qf_attr "$q" uid)" = "$uid" ] || [ "$(qf_attr "$q" uid)" = 0 ] || fail "bad uid in $q"
done

# local_login_sender_maps (Postfix semantics).
printf 'local_login_sender_maps = inline:{ { %s = %s@test.example, @mine.example } }\n' "$user" "$user" >>"$inst/main.cf"
as_user "printf 'x\n' | $sm -C $inst -f boss@example.com friend@example.net" 2>"$work/err"
rc=$?
[ $rc = 77 ] || fail "local_login_sender_maps: exit $rc, want 77: $(cat "$work/err")"
as_user "printf 'x\n' | $sm -C $inst -f $user@test.example friend@example.net" || fail "own address refused"
as_user "printf 'x\n' | $sm -C $inst -f any@mine.example friend@example.net" || fail "@domain pattern refused"
# A table only the group may read: opened while sendmail still holds it.
printf '%s %s@test.example\n' "$user" "$user" >"$inst/senders"
chown root:"$group" "$inst/senders" && chmod 640 "$inst/senders"
sed -i '/^local_login_sender_maps/d' "$inst/main.cf"
printf 'local_login_sender_maps = texthash:%s/senders\n' "$inst" >>"$inst/main.cf"
as_user "printf 'x\n' | $sm -C $inst -f $user@test.example friend@example.net" 2>"$work/err" ||
	fail "a table only the group reads: own address refused ($?): $(cat "$work/err")"
as_user "printf 'x\n' | $sm -C $inst -f boss@example.com friend@example.net" 2>"$work/err"
rc=$?
[ $rc = 77 ] || fail "a table only the group reads: exit $rc, want 77: $(cat "$work/err")"
sed -i '/^local_login_sender_maps/d' "$inst/main.cf"

# message_size_limit
as_user "head -c 200000 /dev/zero | tr '\\\\0' z | fold -w 60 | $sm -C $inst friend@example.net" 2>"$work/err"
rc=$?
[ $rc = 65 ] || fail "size limit: exit $rc, want 65: $(cat "$work/err")"

# authorized_submit_users (Postfix): only the listed users may submit.
cp "$inst/main.cf" "$work/main.cf.saved"
printf 'authorized_submit_users = root\n' >>"$inst/main.cf"
as_user "printf 'x\n' | $sm -C $inst friend@example.net" 2>"$work/err"
rc=$?
[ $rc = 77 ] || fail "authorized_submit_users: exit $rc, want 77: $(cat "$work/err")"
cp "$work/main.cf.saved" "$inst/main.cf"

# An instance root makes with the installed tern init: its programs are
# the installed ones (no build tree paths), so sendmail -C finds the
# set-group-ID terndrop; it is started with the command tern init prints.
rinst=$work/rinst
out=$("$prefix/sbin/tern" init "$rinst") || fail "installed tern init failed: $out"
grep -E '^(daemon|command)_directory' "$rinst/main.cf" && fail "the installed tern init wrote build tree paths"
cmd=$(echo "$out" | sed -n 's/^Start it: //p')
[ "$cmd" = "$prefix/sbin/tern -c $rinst start" ] || fail "Start it: line is '$cmd'"
(cd / && env PATH=/usr/bin:/bin sh -c "$cmd") >"$work/start.out" 2>&1 ||
	fail "the printed start command failed: $cmd: $(cat "$work/start.out")"
"$prefix/sbin/tern" -c "$rinst" status >/dev/null || fail "the root-made instance is not running"
# Not declared by the administrator: refused, nothing written.
as_user "printf 'Subject: early\n\nx\n' | $sm -C $rinst friend@localhost" 2>"$work/err"
rc=$?
[ $rc = 77 ] || fail "-C to an undeclared root-made instance: exit $rc, want 77: $(cat "$work/err")"
# Declared in the default main.cf, as with Postfix: the user's mail arrives.
"$prefix/sbin/ternconf" -e "alternate_config_directories = $inst, $rinst" || fail "ternconf -e"
as_user "printf 'Subject: via root-made\n\nhello\n' | $sm -C $rinst friend@localhost" 2>"$work/err" ||
	fail "submission to the root-made instance failed ($?): $(cat "$work/err")"
delivered() { grep -qs '^Subject: via root-made' "$rinst"/mail/friend/new/*; }
wait_for "delivery into $rinst/mail/friend/new" delivered
grep -l '^Subject: early' "$rinst"/mail/friend/new/* 2>/dev/null && fail "the refused message was delivered"
# mailq for a user outside the group: the listing qmgr gives (public/ is
# for the group, which only sendmail's child holds), as Postfix's mailq.
as_user "$prefix/bin/mailq -C $rinst" >"$work/mailq.out" 2>&1 ||
	fail "mailq as a user failed ($?): $(cat "$work/mailq.out")"
grep -Eq 'is empty|Total requests|Mail queue is empty|Kbytes in' "$work/mailq.out" ||
	fail "mailq as a user printed no listing: $(cat "$work/mailq.out")"
grep -q 'permission denied' "$work/mailq.out" && fail "mailq as a user was denied"
as_user "$prefix/bin/mailq -C $work/other" >"$work/mailq.out" 2>&1
rc=$?
[ $rc = 77 ] || fail "mailq -C an unlisted directory: exit $rc, want 77: $(cat "$work/mailq.out")"
"$prefix/sbin/tern" -c "$rinst" stop >/dev/null || fail "tern stop"

# An instance made by the build tree's tern init, with stage/sendmail, not
# set-group-ID: a user is told so plainly, and nothing is written.
binst=$work/binst
"$TERN_TOP/stage/tern" init "$binst" >/dev/null || fail "build tree tern init"
as_user "printf 'x\n' | $TERN_TOP/stage/sendmail -C $binst friend@localhost" 2>"$work/err"
rc=$?
[ $rc = 75 ] || fail "build tree instance as a user: exit $rc, want 75: $(cat "$work/err")"
grep -q "stage/sendmail is not set-gid" "$work/err" || fail "no plain reason: $(cat "$work/err")"
grep -q "install Tern" "$work/err" || fail "the reason does not say what to do: $(cat "$work/err")"
[ -z "$(ls -A "$binst/queue/maildrop")" ] || fail "something was written to the build tree instance"

# Without the set-group-ID bit nothing can be written, and sendmail says why.
before=$(ls "$inst/queue/maildrop" | wc -l)
chmod 755 "$prefix/sbin/sendmail"
as_user "printf 'x\n' | $sm -C $inst friend@example.net" 2>"$work/err"
rc=$?
[ $rc = 75 ] || fail "without setgid: exit $rc, want 75: $(cat "$work/err")"
grep -q "$prefix/sbin/sendmail is not set-gid $group" "$work/err" || fail "no plain reason: $(cat "$work/err")"
[ "$(ls "$inst/queue/maildrop" | wc -l)" = "$before" ] || fail "without setgid something was written"
pass
