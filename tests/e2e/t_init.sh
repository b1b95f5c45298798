#!/bin/sh
# t_init.sh - tern init: a new instance (files, settings, queue modes, the
# last output line), a second run that changes nothing, --port, and the
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

# The settings the instance needs, as issue 2 lists them.
me=$(id -un)
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
