#!/bin/sh
# t_instance_mail.sh - what the README's first command promises: an
# instance made by tern init, started with tern start, takes a message by
# SMTP and one from sendmail, and delivers both into
# DIR/mail/LOCALPART/new/ with no system account for the recipients;
# tern stop then leaves no process. Made and started by root, no process
# of the instance but ternd and local runs as uid 0 (every Uid: line of
# /proc/PID/status, sampled throughout). Skips until every daemon is built.
. "$(dirname "$0")/lib.sh"

for p in ternd smtpd pickup qmgr local sendmail terndrop; do
	[ -x "$TERN_TOP/stage/$p" ] || skip "stage/$p is not built yet"
done

# proc_uids MASTER: "PID COMM RUID EUID SUID FSUID" for the master and
# every process below it (daemons, qmgr's delivery processes, local's
# children), from /proc/PID/status; processes gone meanwhile are skipped.
proc_uids() {
	ps -eo pid=,ppid= | awk -v m="$1" '
		{ parent[$1] = $2 }
		END {
			keep[m] = 1
			for (grew = 1; grew; ) {
				grew = 0
				for (p in parent)
					if (!(p in keep) && (parent[p] in keep)) { keep[p] = 1; grew = 1 }
			}
			for (p in keep) print p
		}' |
	while read -r p; do
		u=$(sed -n 's/^Uid:[[:space:]]*//p' "/proc/$p/status" 2>/dev/null)
		c=$(cat "/proc/$p/comm" 2>/dev/null)
		[ -n "$u" ] && [ -n "$c" ] && echo "$p $c $u"
	done
	return 0
}

tern_instance
tern_start
pid=$(tern status | sed -n 's/.*pid \([0-9]*\).*/\1/p')
[ -n "$pid" ] || fail "tern status names no master"

# Made and started by root, only ternd and local may run as root: watch
# every process of the instance while it takes and delivers the mail.
samples=""
if [ "$(id -u)" = 0 ]; then
	owner=$(sed -n 's/^mail_owner = //p' "$TERN_DIR/main.cf")
	[ "$(id -u "$owner")" != 0 ] || fail "root's instance has mail_owner $owner (uid 0)"
	samples=$(mktemp /tmp/tern-uids.XXXXXX)
	at_cleanup "rm -f '$samples' '$samples.stop'"
	( while [ ! -e "$samples.stop" ]; do proc_uids "$pid" >> "$samples"; sleep 0.05; done ) &
	sampler=$!
fi

reply=$(smtp_send sender@example.org "nobody-$$@localhost" "by smtp $$") || fail "SMTP refused: $reply"
wait_for_mail "nobody-$$"
msg=$(tern_newest_mail "nobody-$$")
grep -q "^Subject: by smtp $$" "$msg" || fail "delivered message lacks its subject: $msg"

printf 'Subject: by sendmail %s\n\nhello\n' "$$" | sendmail -C "$TERN_DIR" -i "other-$$@localhost" \
	|| fail "sendmail exited $?"
wait_for_mail "other-$$"
grep -q "^Subject: by sendmail $$" "$(tern_newest_mail "other-$$")" || fail "sendmail message lacks its subject"

if [ -n "$samples" ]; then
	wait_for "both deliveries logged" sh -c "[ \$(grep -c 'status=sent' '$TERN_DIR/maillog') -ge 2 ]"
	proc_uids "$pid" >> "$samples"
	touch "$samples.stop"
	wait "$sampler"
	for c in ternd smtpd pickup qmgr local; do
		grep -q "^[0-9]* $c " "$samples" || fail "never saw $c among the instance's processes"
	done
	# The check can see root: the master started by root is root.
	grep -Eq "^$pid ternd 0\s+0\s+0\s+0\$" "$samples" || fail "ternd is not root: $(grep " ternd " "$samples" | head -n 1)"
	bad=$(awk '$2 != "ternd" && $2 != "local" && ($3 == 0 || $4 == 0 || $5 == 0 || $6 == 0)' "$samples" | sort -u)
	[ -z "$bad" ] || fail "processes of the instance running as root: $bad"
	for f in "$msg" "$(tern_newest_mail "other-$$")"; do
		[ "$(stat -c %U "$f")" = "$owner" ] || fail "$f belongs to $(stat -c %U "$f"), not $owner"
	done
fi

tern_stop
left=$(ps -eo pid=,ppid= | awk -v p="$pid" '$2 == p { print $1 }')
[ -z "$left" ] || fail "processes of the master left after stop: $left"

# Without root, as its owner; and the same when root starts it.
[ "$(id -u)" = 0 ] || pass
user=ternmail$$
test_user_add "$user"
runuser -u "$user" -- test -x "$TERN_TOP/stage/tern" || pass	# build tree not reachable
d=$(mktemp -d /tmp/tern-test.XXXXXX)
chown "$user" "$d"
at_cleanup "tern -c '$d/i' stop; rm -rf '$d'"
# The port from free_port, as tern_instance does: tern init's own pick is
# not reserved against the tests running at the same time.
out=$(runuser -u "$user" -- tern init --port "$(free_port)" "$d/i") || fail "tern init as $user"
TERN_DIR=$d/i TERN_PORT=$(echo "$out" | tail -n 1 | sed 's/.*://')
grep -qx "mail_owner = $user" "$TERN_DIR/main.cf" || fail "mail_owner is not $user"
for who in "$user" root; do
	if [ "$who" = root ]; then
		tern -c "$TERN_DIR" start >/dev/null || fail "root cannot start $user's instance"
	else
		runuser -u "$user" -- tern -c "$TERN_DIR" start >/dev/null || fail "$user cannot start the instance"
	fi
	rcpt="by-$who-$$"
	smtp_send sender@example.org "$rcpt@localhost" "started by $who" >/dev/null || fail "SMTP refused ($who)"
	wait_for_mail "$rcpt"
	f=$(tern_newest_mail "$rcpt")
	[ "$(stat -c %U "$f")" = "$user" ] || fail "started by $who: $f belongs to $(stat -c %U "$f"), not $user"
	procs=$(pgrep -f -- "-c $TERN_DIR\$")
	[ "$(echo "$procs" | wc -w)" -ge 5 ] || fail "started by $who: only $(echo "$procs" | wc -w) processes"
	for p in $procs; do
		u=$(ps -o user= -p "$p")
		c=$(ps -o comm= -p "$p")
		case $c in ternd|local) [ "$who" = root ] && continue ;; esac
		[ "$u" = "$user" ] || fail "started by $who: $c runs as $u"
	done
	tern -c "$TERN_DIR" stop >/dev/null || fail "stop ($who)"
done
pass
