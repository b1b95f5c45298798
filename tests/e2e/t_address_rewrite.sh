#!/bin/sh
# t_address_rewrite.sh - Postfix's address rewriting in a tern init
# instance: allow_percent_hack and swap_bangpath (both on by default)
# for locally submitted mail (user%localhost@localhost, carol%localhost,
# localhost!dave reach local users; user%remote.example@localhost goes
# out as RCPT TO:<user@remote.example>), off again when turned off;
# append_dot_mydomain; allow_min_user (off by default: sendmail refuses
# -f and recipients that start with '-', smtpd answers 501 5.1.7 and
# 501 5.1.3, a header recipient "-x" bounces with 5.1.3; on: accepted).
# And no forged relay: a client outside mynetworks gets 554 for every
# percent, bang and mixed route through this host, and nothing reaches
# the relay host. Runs as root or as any user.
here=$(dirname "$0")
[ -f "$here/lib.sh" ] || { echo "skip: tests/e2e/lib.sh is missing"; exit 77; }
. "$here/lib.sh"
for p in sendmail local qmgr pickup ternconf smtpd; do
	[ -x "$TERN_TOP/stage/$p" ] || skip "$p is not built"
done
need_cmd python3
python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.2", 0))' 2>/dev/null ||
	skip "cannot use 127.0.0.2 as a source address"

tern_instance
# The relay host: a sink that logs every command it gets.
sink_port=$(free_port)
sink_log="$TERN_DIR/sink.log"
: > "$sink_log"
python3 "$TERN_TOP/tests/e2e/dsn_sink.py" "$sink_port" no "$sink_log" &
sink_pid=$!
at_cleanup "kill $sink_pid"
wait_for_port "$sink_port"
# mydestination stays $myhostname, localhost.$mydomain, localhost.
ternconf -e "relayhost = [127.0.0.1]:$sink_port" "myhostname = mx.example.test" \
	"mydomain = example.test" || fail "ternconf -e"
tern_start

send() {	# send SUBJECT ARGS...: sendmail from sender@localhost
	_s=$1
	shift
	printf 'Subject: %s\n\nbody of %s\n' "$_s" "$_s" | sendmail -f sender@localhost "$@"
}
in_box() { grep -lq "body of $2" "$TERN_DIR/mail/$1/new/"* 2>/dev/null; }

# Defaults: percent hack and bang path on.
send pct bob%localhost@localhost || fail "sendmail pct"
send pctbare carol%localhost || fail "sendmail pctbare"
send bang localhost!dave || fail "sendmail bang"
send remote user%remote.example@localhost || fail "sendmail remote"
wait_for "bob (percent hack)" in_box bob pct
wait_for "carol (bare percent form)" in_box carol pctbare
wait_for "dave (bang path)" in_box dave bang
wait_for "the relayed copy" grep -q '^RCPT TO:<user@remote.example>' "$sink_log"
grep -q 'RCPT TO:<user%remote' "$sink_log" && fail "the route was sent on as it was written"

# No forged relay: from outside mynetworks every route through us is refused.
cat > "$TERN_DIR/forge.dlg" <<'EOF'
< 220
> EHLO outside.example
< 250
> MAIL FROM:<spammer@example.net>
< 250 2\.1\.0
> RCPT TO:<victim%remote.example@localhost>
< 554 5\.7\.1 .*Relay access denied
> RCPT TO:<victim%remote.example>
< 554 5\.7\.1 .*Relay access denied
> RCPT TO:<remote.example!victim@localhost>
< 554 5\.7\.1 .*Relay access denied
> RCPT TO:<remote.example!victim>
< 554 5\.7\.1 .*Relay access denied
> RCPT TO:<victim%remote.example%localhost@localhost>
< 554 5\.7\.1 .*Relay access denied
> RCPT TO:<localhost!remote.example!victim@localhost>
< 554 5\.7\.1 .*Relay access denied
> RCPT TO:<remote.example!victim%localhost@localhost.example.test>
< 554 5\.7\.1 .*Relay access denied
> RCPT TO:<victim@remote.example>
< 554 5\.7\.1 .*Relay access denied
> RCPT TO:<bob@localhost>
< 250 2\.1\.5
> DATA
< 354
> Subject: forged
>
> body of forged
> .
< 250 2\.0\.0
> QUIT
< 221
EOF
DIALOG_SOURCE=127.0.0.2 python3 "$TERN_TOP/tests/e2e/smtp_dialog.py" 127.0.0.1 "$TERN_PORT" \
	"$TERN_DIR/forge.dlg" || fail "the forged relay dialogue"
wait_for "bob's copy of the forged message" in_box bob forged
# Once its queue file is removed, the message goes nowhere else.
fid=$(sed -n 's/.*: \([0-9A-Za-z]*\): client=[^ ]*\[127\.0\.0\.2\].*/\1/p' "$TERN_DIR/maillog" | head -n 1)
[ -n "$fid" ] || fail "no queue id in the log for the message from 127.0.0.2"
wait_for_log "$fid: removed"
grep -q victim "$sink_log" && fail "a forged route reached the relay host: $(cat "$sink_log")"

# allow_min_user = no (default): sendmail refuses, smtpd answers 501.
send dash1 -- -oQ/tmp/x@localhost 2>"$TERN_DIR/err"
[ $? = 64 ] || fail "sendmail accepted a recipient that starts with '-'"
grep -q "allow_min_user" "$TERN_DIR/err" || fail "no reason given: $(cat "$TERN_DIR/err")"
printf 'Subject: dash2\n\nx\n' | sendmail -f -x@localhost bob@localhost 2>"$TERN_DIR/err"
[ $? = 64 ] || fail "sendmail accepted a sender that starts with '-'"
cat > "$TERN_DIR/dash.dlg" <<'EOF'
< 220
> EHLO inside.example
< 250
> MAIL FROM:<-x@localhost>
< 501 5\.1\.7 Bad sender address syntax
> MAIL FROM:<sender@localhost>
< 250 2\.1\.0
> RCPT TO:<-bob@localhost>
< 501 5\.1\.3 Bad recipient address syntax
> QUIT
< 221
EOF
python3 "$TERN_TOP/tests/e2e/smtp_dialog.py" 127.0.0.1 "$TERN_PORT" "$TERN_DIR/dash.dlg" ||
	fail "the allow_min_user dialogue"
# A header recipient found by -t is bounced by the queue manager.
printf 'To: -erin@localhost\nSubject: dash3\n\nbody of dash3\n' | sendmail -t -f sender@localhost ||
	fail "sendmail -t"
wait_for "the bounce for -erin" sh -c "grep -l '^Status: 5.1.3' '$TERN_DIR/mail/sender/new/'*"
[ -d "$TERN_DIR/mail/-erin" ] && fail "mail for -erin was delivered"

# Everything switched the other way.
tern_stop
ternconf -e "allow_percent_hack = no" "swap_bangpath = no" "append_dot_mydomain = yes" \
	"allow_min_user = yes" || fail "ternconf -e"
tern_start
send pct2 bob%localhost@localhost || fail "sendmail pct2"
send bang2 localhost!dave || fail "sendmail bang2"
send dot frank@localhost || fail "sendmail dot"
send dash4 -- -gina@localhost || fail "sendmail refused -gina with allow_min_user = yes"
wait_for "frank" in_box frank dot
wait_for "-gina" in_box -gina dash4
# Without the hack "bob%localhost" is a local part of its own, a Maildir of its own.
wait_for "bob%localhost as written" in_box bob%localhost pct2
in_box bob pct2 && fail "the percent hack was applied although off"
# Without the swap, localhost!dave is a local part of its own too.
wait_for "localhost!dave as written" in_box 'localhost!dave' bang2
in_box dave bang2 && fail "the bang path was swapped although off"
grep -q '^Delivered-To: frank@localhost.example.test' "$TERN_DIR/mail/frank/new/"* ||
	fail "append_dot_mydomain did not qualify localhost"
pass
