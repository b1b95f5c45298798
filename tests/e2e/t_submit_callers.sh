#!/bin/sh
# t_submit_callers.sh - what real programs pass to sendmail reaches the
# queue as they mean it: cron, cronie, PHP mail() (-t -i with Bcc), mutt,
# mailx, git send-email, a lone dot without -i, -bs, -bv, and every flag
# sendmail accepts. Each message goes sendmail -> terndrop -> maildrop/ ->
# pickup -> cleanup -> incoming/, and the queue file is checked.
. "$(dirname "$0")/submitlib.sh"

submit_instance
export TERN_CONFIG_DIR="$SUB_DIR"
me=$(id -un)

# submit NAME EXPECTED_STATUS ARGS...: sendmail reads $SUB_DIR/msg, then pickup runs.
submit() {
	_name=$1 _want=$2
	shift 2
	sendmail "$@" <"$SUB_DIR/msg" >"$SUB_DIR/out" 2>"$SUB_DIR/err"
	_rc=$?
	[ "$_rc" = "$_want" ] || fail "$_name: sendmail $* exited $_rc, want $_want: $(cat "$SUB_DIR/err")"
	[ "$_rc" = 0 ] || return 0
	run_pickup
	QF=$(newest_queue_file)
	[ -n "$QF" ] || fail "$_name: nothing in incoming/ ($(cat "$SUB_DIR/pickup.out"))"
}
expect_rcpts() {
	_got=$(qf_rcpts "$QF" | sort | tr '\n' ' ')
	_want=$(printf '%s\n' "$@" | sort | tr '\n' ' ')
	[ "$_got" = "$_want" ] || fail "$_name: recipients '$_got', want '$_want'"
}
expect_header() { qf_headers "$QF" | grep -Eq "$1" || fail "$_name: no header /$1/ in: $(qf_headers "$QF")"; }
expect_no_header() { ! qf_headers "$QF" | grep -Eiq "$1" || fail "$_name: header /$1/ present"; }
expect_body() { qf_body "$QF" | grep -Fxq -- "$1" || fail "$_name: body line '$1' missing: $(qf_body "$QF")"; }

# Debian cron
printf 'Subject: cron job\n\noutput\n' >"$SUB_DIR/msg"; submit cron 0 -FCronDaemon -i -B8BITMIME -oem "$me"
expect_rcpts "$me@test.example"
expect_header "^From: CronDaemon <$me@test.example>$"
expect_header '^Received: by host.test.example'
expect_header '^Message-ID: <'
expect_header '^Date: '
[ "$(qf_attr "$QF" body_type)" = 8BITMIME ] || fail "cron: body type not kept"

# cronie: -t with To:, -f user; then 1.7's -f '<>'
printf 'To: %s\nSubject: cronie\n\nx\n' "$me" >"$SUB_DIR/msg"; submit cronie 0 -FCronDaemon -i -odi -oem -oi -t -f "$me"
expect_rcpts "$me@test.example"
[ "$(qf_sender "$QF")" = "$me@test.example" ] || fail "cronie: sender $(qf_sender "$QF")"
printf 'To: %s\nSubject: cronie\n\nx\n' "$me" >"$SUB_DIR/msg"; submit cronie-null 0 -FCronDaemon -i -odi -oem -oi -t -f '<>'
[ -z "$(qf_sender "$QF")" ] || fail "cronie -f '<>': sender $(qf_sender "$QF")"

# PHP mail(): -t -i, with Cc and Bcc; Bcc recipients get it, the header goes; a lone dot stays.
printf 'To: a@example.net\r\nCc: "B" <b@example.net>\r\nBcc: hidden@example.net,\r\n\tother@example.net\r\nSubject: php\r\n\r\nline\r\n.\r\nafter dot\r\n' >"$SUB_DIR/msg"
submit php 0 -t -i
expect_rcpts a@example.net b@example.net hidden@example.net other@example.net
expect_no_header '^bcc:'
expect_header '^To: a@example.net$'
expect_body '.'
expect_body 'after dot'
qf_content "$QF" | grep -q "$(printf '\r')" && fail "php: CR left in the message"

# mutt: -oem -oi (+ recipients after --)
printf 'From: Me <me@example.org>\nTo: x@example.net\nSubject: mutt\n\nhi\n' >"$SUB_DIR/msg"; submit mutt 0 -oem -oi -- x@example.net
expect_rcpts x@example.net
expect_header '^From: Me <me@example.org>$'

# mailx: -i ... -- rcpt rcpt
printf 'Subject: mailx\n\nhi\n' >"$SUB_DIR/msg"; submit mailx 0 -i -- one@example.net "two@example.net, three"
expect_rcpts one@example.net two@example.net three@test.example

# git send-email: -i -f addr rcpt
printf 'From: Dev <dev@example.org>\nSubject: [PATCH] x\n\ndiff\n' >"$SUB_DIR/msg"; submit git 0 -i -f dev@example.org list@example.net
expect_rcpts list@example.net
[ "$(qf_sender "$QF")" = dev@example.org ] || fail "git: sender"

# Without -i a lone dot ends the message.
printf 'Subject: dot\n\nbefore\n.\nafter\n' >"$SUB_DIR/msg"; submit dot 0 x@example.net
expect_body before
qf_body "$QF" | grep -q after && fail "dot: text after the lone dot was kept"

# -N / -R / -V reach the queue file.
printf 'Subject: dsn\n\nx\n' >"$SUB_DIR/msg"; submit dsn 0 -N success,failure -R hdrs -V ENV123 d@example.net
grep -q "^R-6	d@example.net" "$QF" || fail "dsn: notify not recorded: $(grep '^R' "$QF")"
[ "$(qf_attr "$QF" dsn_ret)" = HDRS ] && [ "$(qf_attr "$QF" dsn_envid)" = ENV123 ] || fail "dsn: ret/envid"

# -N also applies to the recipients -t finds in the headers.
printf 'To: hdr@example.net\nSubject: dsn-t\n\nx\n' >"$SUB_DIR/msg"; submit dsn-t 0 -t -N never argv@example.net
qf_envelope "$QF" | grep -q "^R-1	hdr@example.net" || fail "dsn-t: header recipient without NOTIFY=NEVER: $(qf_envelope "$QF" | grep '^R')"
qf_envelope "$QF" | grep -q "^R-1	argv@example.net" || fail "dsn-t: argv recipient without NOTIFY=NEVER"

# -t with no recipient anywhere fails at once; no recipients at all is a usage error.
printf 'Subject: none\n\nx\n' >"$SUB_DIR/msg"; submit none-t 64 -t
printf 'Subject: none\n\nx\n' >"$SUB_DIR/msg"; submit none 64
_maildrop_empty || fail "a refused message left a maildrop file with something in it"

# Flags sendmail accepts are never a usage error.
for flags in "-Ac" "-Am" "-B 7BIT" "-bm" "-c" "-d0" "-D /dev/null" "-e m" "-G" "-h 5" "-L test" \
	"-m" "-n" "-oem" "-oee" "-odb" "-odi" "-odq" "-oA/etc/aliases" "-O DeliveryMode=b" \
	"-O SMTPUTF8=yes" "-p smtp:host" "-s" "-T" "-U" "-v" "-X /dev/null" "-x" "-R full" \
	"-V id" "-N never" "-F Name" "-r $me" "-M rX" "-oi -i"; do
	# shellcheck disable=SC2086
	printf 'Subject: flags\n\nx\n' >"$SUB_DIR/msg"; submit "flags $flags" 0 $flags -- f@example.net
done
for flags in "-q30m" "-bh" "-bH" "-Q"; do
	# shellcheck disable=SC2086
	sendmail $flags </dev/null >/dev/null 2>&1 || fail "sendmail $flags failed"
done
sendmail -Z x@example.net </dev/null 2>/dev/null
[ $? = 64 ] || fail "an unknown flag is not a usage error"
sendmail -d0.1 -bv root 2>/dev/null | grep -q '^Version Tern' || fail "-d0.1 prints no version"

# -bs: an SMTP session on standard input and output.
printf 'EHLO client.example\r\nMAIL FROM:<bs@example.org>\r\nRCPT TO:<r1@example.net>\r\nRCPT TO:<r2@example.net> NOTIFY=NEVER\r\nDATA\r\nSubject: bs\r\n\r\n..dotted\r\n.\r\nQUIT\r\n' |
	sendmail -bs >"$SUB_DIR/bs.out" 2>&1 || fail "-bs exited $?: $(cat "$SUB_DIR/bs.out")"
grep -q '^250 2.0.0 Ok: queued as [0-9A-F]' "$SUB_DIR/bs.out" || fail "-bs: no 250 after DATA: $(cat "$SUB_DIR/bs.out")"
grep -q '^221' "$SUB_DIR/bs.out" || fail "-bs: no 221"
run_pickup
QF=$(newest_queue_file)
_name=bs
expect_rcpts r1@example.net r2@example.net
expect_body '.dotted'
[ "$(qf_sender "$QF")" = bs@example.org ] || fail "-bs: sender"
[ "$(qf_attr "$QF" protocol)" = ESMTP ] || fail "-bs: protocol $(qf_attr "$QF" protocol)"

# -bv: how addresses would be delivered, nothing sent.
n=$(ls "$SUB_DIR/queue/incoming" | wc -l)
sendmail -bv somebody@elsewhere.example >"$SUB_DIR/bv.out" 2>&1
grep -q '^somebody@elsewhere.example... deliverable: mailer ' "$SUB_DIR/bv.out" || fail "-bv: $(cat "$SUB_DIR/bv.out")"
sendmail -bv nosuchuser-$$ >"$SUB_DIR/bv.out" 2>&1
[ $? = 67 ] && grep -q 'User unknown' "$SUB_DIR/bv.out" || fail "-bv unknown user: $(cat "$SUB_DIR/bv.out")"
echo "3,0 x@elsewhere.example" | sendmail -bt | grep -q '^x@elsewhere.example: class=relay' || fail "-bt"
[ "$(ls "$SUB_DIR/queue/incoming" | wc -l)" = "$n" ] || fail "-bv/-bt queued something"
_maildrop_empty || fail "-bv/-bt queued something"

# newaliases by name, and -bi / -I: sendmail's summary line, the database built.
printf 'postmaster: root\nteam: a, b\n' >"$SUB_DIR/aliases"
sed -i "s|^alias_database =.*|alias_database = hash:$SUB_DIR/aliases|" "$SUB_DIR/main.cf"
for cmd in newaliases "sendmail -bi" "sendmail -I"; do
	rm -f "$SUB_DIR/aliases.db"
	$cmd >"$SUB_DIR/na.out" 2>&1 || fail "$cmd exited $?: $(cat "$SUB_DIR/na.out")"
	grep -q "^$SUB_DIR/aliases: 2 aliases, longest 4 bytes, 22 bytes total$" "$SUB_DIR/na.out" ||
		fail "$cmd: $(cat "$SUB_DIR/na.out")"
	[ -s "$SUB_DIR/aliases.db" ] || fail "$cmd built no database"
done

# mailq by name and -bp run ternqueue (when it is built).
if [ -x "$TERN_TOP/stage/ternqueue" ]; then
	for cmd in mailq "sendmail -bp"; do
		$cmd >"$SUB_DIR/mq.out" 2>&1 || fail "$cmd exited $?: $(cat "$SUB_DIR/mq.out")"
		grep -Eq 'Total requests|is empty|Request' "$SUB_DIR/mq.out" || fail "$cmd: $(cat "$SUB_DIR/mq.out")"
	done
fi

pass
