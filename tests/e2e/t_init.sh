#!/bin/sh
# t_init.sh - tern init: a new instance (files, settings, queue modes, the
# last output line), the "Start it:" line run as printed, a second run
# that changes nothing, --port, and the
# refusal of a foreign non-empty directory (exit 73).
. "$(dirname "$0")/lib.sh"

port=$(free_port)
tern_instance --port "$port"
[ "$TERN_SMTP" = "127.0.0.1:$port" ] || fail "last line is '$TERN_SMTP', want 127.0.0.1:$port"
for f in main.cf master.cf aliases; do
	[ -f "$TERN_DIR/$f" ] || fail "no $f"
done
for d in queue data mail; do
	[ -d "$TERN_DIR/$d" ] || fail "no $d/"
done

# The settings the instance needs, as issue 2 lists them. The owner is
# the caller, or for root the unprivileged account the build names
# (TERN_USER, "tern"), which tern init creates when it is missing.
me=$(id -un)
if [ "$(id -u)" = 0 ]; then
	me=$(sed -n 's/^TERN_USER = //p' "$TERN_TOP/Makefile")
	[ -n "$me" ] || fail "cannot read TERN_USER from Makefile"
	uid=$(id -u "$me") || fail "root's tern init did not create the user $me"
	[ "$uid" != 0 ] || fail "root's instance runs as uid 0 ($me)"
	case $(getent passwd "$me" | cut -d: -f7) in
	*/nologin|*/false) ;;
	*) fail "$me has a login shell" ;;
	esac
fi
for want in "queue_directory = $TERN_DIR/queue" "data_directory = $TERN_DIR/data" \
	"maillog_file = $TERN_DIR/maillog" "mail_owner = $me" "inet_protocols = ipv4" \
	"local_maildir_base = $TERN_DIR/mail" "inet_interfaces = 127.0.0.1" \
	"daemon_directory = $TERN_TOP/stage" "command_directory = $TERN_TOP/stage"; do
	grep -qxF "$want" "$TERN_DIR/main.cf" || fail "main.cf lacks '$want'"
done
grep -Eq "^smtp +inet +$port " "$TERN_DIR/master.cf" || fail "master.cf has no smtp listener on $port"

# Queue directory modes.
check_mode() {
	m=$(stat -c %a "$TERN_DIR/queue/$1")
	[ "$m" = "$2" ] || fail "queue/$1 has mode $m, want $2"
	o=$(stat -c %U "$TERN_DIR/queue/$1")
	[ "$o" = "$me" ] || fail "queue/$1 owned by $o, want $me"
}
check_mode maildrop 1730
check_mode public 2710
check_mode private 700
for d in incoming active deferred hold corrupt defer; do check_mode $d 700; done
check_mode pid 755
[ "$(stat -c %a "$TERN_DIR/mail")" = 700 ] || fail "mail/ mode"

# What the owner's processes write is the owner's; made by root, the
# configuration stays root's and out of the owner's reach.
owned() {	# owned PATH OWNER MODE
	got=$(stat -c '%U %a' "$TERN_DIR/$1")
	[ "$got" = "$2 $3" ] || fail "$1: $got, want $2 $3"
}
owned queue "$me" 755
owned data "$me" 700
owned mail "$me" 700
if [ "$(id -u)" = 0 ]; then
	owned maillog "$me" 640
	owned . root 755
	for f in main.cf master.cf aliases; do owned "$f" root 644; done
	runuser -u "$me" -- sh -c "echo x >> '$TERN_DIR/main.cf'" 2>/dev/null && fail "$me can write main.cf"
	runuser -u "$me" -- sh -c "echo x >> '$TERN_DIR/maillog'" || fail "$me cannot write the maillog"
	: > "$TERN_DIR/maillog"

	# tern check gives the owner's parts back to the owner.
	chown root:root "$TERN_DIR/data" "$TERN_DIR/mail" "$TERN_DIR/maillog" "$TERN_DIR/queue/incoming"
	chmod 755 "$TERN_DIR/mail"
	tern -c "$TERN_DIR" check 2>/dev/null || fail "tern check did not repair the instance"
	owned data "$me" 700
	owned mail "$me" 700
	owned maillog "$me" 640
	owned queue/incoming "$me" 700
	rm "$TERN_DIR/maillog"
	tern -c "$TERN_DIR" check 2>/dev/null || fail "tern check without a maillog"
	owned maillog "$me" 640

	# A place the owner cannot reach (under a 0700 directory, as /root
	# is) is refused with 73, not made into an instance that cannot run.
	closed=$(mktemp -d /tmp/tern-closed.XXXXXX)
	at_cleanup "rm -rf '$closed'"
	tern init "$closed/i" >/dev/null 2>&1
	[ $? = 73 ] || fail "an instance $me cannot reach was made"
	[ -e "$closed/i/main.cf" ] && fail "main.cf written where $me cannot reach it"
	chmod 711 "$closed"
	tern init "$closed/i" >/dev/null 2>&1 || fail "tern init after opening the way"
fi

# The "Start it:" line names the build tree's tern by its full path and
# works exactly as printed, from anywhere, without stage/ on PATH.
startdir=$(mktemp -d /tmp/tern-start.XXXXXX)
chmod 755 "$startdir"
at_cleanup "tern -c '$startdir/i' stop; rm -rf '$startdir'"
out=$(tern init "$startdir/i") || fail "tern init for the start line"
cmd=$(echo "$out" | sed -n 's/^Start it: //p')
[ "$cmd" = "$TERN_TOP/stage/tern -c $startdir/i start" ] || fail "Start it: line is '$cmd'"
(cd / && env PATH=/usr/bin:/bin sh -c "$cmd") >"$startdir/out" 2>&1 ||
	fail "the printed start command failed: $cmd: $(cat "$startdir/out")"
tern -c "$startdir/i" status >/dev/null || fail "not running after the printed start command"
tern -c "$startdir/i" stop >/dev/null || fail "stop after the printed start command"
echo "$out" | grep -qxF "Mail for LOCALPART@localhost arrives in $startdir/i/mail/LOCALPART/new/" ||
	fail "no line saying where mail arrives"

# Twice: nothing changes, exit 0, same last line.
before=$(cd "$TERN_DIR" && find . -printf '%p %m %s %T@\n' | sort | md5sum)
out=$(tern init "$TERN_DIR") || fail "second tern init failed ($?)"
[ "$(echo "$out" | tail -n 1)" = "127.0.0.1:$port" ] || fail "second run's last line: $(echo "$out" | tail -n 1)"
after=$(cd "$TERN_DIR" && find . -printf '%p %m %s %T@\n' | sort | md5sum)
[ "$before" = "$after" ] || fail "second tern init changed the instance"

# A picked port: a number in range, and the instance records it.
tern_instance
case $TERN_PORT in *[!0-9]*|"") fail "picked port '$TERN_PORT'" ;; esac
grep -Eq "^smtp +inet +$TERN_PORT " "$TERN_DIR/master.cf" || fail "picked port not in master.cf"

# A foreign directory: refused with 73 and left alone.
foreign=$(mktemp -d /tmp/tern-foreign.XXXXXX)
at_cleanup "rm -rf '$foreign'"
echo "not mine" > "$foreign/notes.txt"
tern init "$foreign" >/dev/null 2>&1
rc=$?
[ $rc = 73 ] || fail "foreign directory: exit $rc, want 73"
[ "$(ls "$foreign")" = notes.txt ] || fail "tern init touched the foreign directory"

# A half-made instance (no main.cf) is foreign too; bad usage is 64.
mkdir "$foreign/half" && mkdir "$foreign/half/queue"
tern init "$foreign/half" >/dev/null 2>&1
[ $? = 73 ] || fail "half-made instance not refused"
tern init --port 0 "$foreign/x" >/dev/null 2>&1
[ $? = 64 ] || fail "--port 0 accepted"
tern init >/dev/null 2>&1
[ $? = 64 ] || fail "tern init without DIR accepted"
pass
