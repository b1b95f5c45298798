#!/bin/sh
# t_log_tools.sh - the log tools of Postfix hosts read Tern's log: an
# instance receives mail (over SMTP, authenticated or not, and through
# sendmail/pickup; all delivered locally), refuses two relay attempts
# and two AUTH attempts, and then, on the maillog this run produced:
#  - pflogsumm (--syslog-name=tern, its option for a syslog_name other
#    than postfix) counts what was received, delivered and rejected, and
#    its per-sender and per-recipient tables list what was sent;
#  - fail2ban's postfix filter, with the tern.local that make install
#    puts in /etc/fail2ban/filter.d/postfix.d (here staged with DESTDIR
#    beside copies of the system's postfix.conf and common.conf), or with
#    only the jail parameter _daemon, matches the rejections and AUTH
#    failures, in each of its modes, with the clients' addresses and
#    nothing else.
# fail2ban-regex reads files only; no fail2ban server is started.
. "$(dirname "$0")/lib.sh"

need_root
need_cmd swaks openssl pflogsumm fail2ban-regex make
[ -r /etc/fail2ban/filter.d/postfix.conf ] || skip "no /etc/fail2ban/filter.d/postfix.conf"
python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.2", 0))' 2>/dev/null \
	|| skip "cannot use 127.0.0.2 as a source address"

tern_instance
LOG=$TERN_DIR/maillog
printf 'alice %s\n' "$(openssl passwd -6 s3cret)" > "$TERN_DIR/sasl_passwd"
# AUTH without TLS, to keep the test short: plaintext mechanisms allowed.
ternconf -e "smtpd_sasl_auth_enable = yes" "smtpd_sasl_type = tern" \
	"smtpd_sasl_password_maps = texthash:$TERN_DIR/sasl_passwd" \
	"smtpd_tls_auth_only = no" "smtpd_sasl_security_options = noanonymous" || fail "ternconf -e"
tern_start
wait_for_port "$TERN_PORT"

# sw WANT SOURCE SWAKS-ARGS...: one SMTP session from 127.0.0.SOURCE; a
# reply of the server must start with WANT.
sw() {
	_want=$1 _src=$2; shift 2
	_out=$(swaks --server "$TERN_SMTP" --li "127.0.0.$_src" --timeout 30 "$@" 2>&1)
	echo "$_out" | grep -Eq "^<[-~*]* +$_want" || { echo "$_out" >&2; fail "swaks $*: no $_want"; }
}

# Received and delivered: 4 messages, 5 deliveries.
sw '250 2.0.0 Ok: queued' 1 --from alice@example.org --to bob@localhost
sw '250 2.0.0 Ok: queued' 1 --from carol@example.net --to bob@localhost,dave@localhost
sw '250 2.0.0 Ok: queued' 5 --auth LOGIN --auth-user alice --auth-password s3cret \
	--from alice@example.com --to erin@localhost
printf 'Subject: local\n\nhello\n' | sendmail -f frank@example.com grace@localhost || fail "sendmail"
# Rejected: relay attempts from outside mynetworks.
sw '554 ' 2 --from spammer@example.net --to victim@example.com --helo relay-test.example --quit-after RCPT
sw '554 ' 6 --from spammer2@example.net --to victim2@example.org --quit-after RCPT
# AUTH failures: a wrong password, an unknown user.
sw '535 ' 3 --auth LOGIN --auth-user alice --auth-password wrong --quit-after AUTH
sw '535 ' 4 --auth PLAIN --auth-user mallory --auth-password wrong --quit-after AUTH

_removed() { [ "$(grep -c ': removed$' "$LOG")" -ge 4 ]; }
wait_for "4 messages delivered and removed" _removed
# smtpd logs a session's disconnect line after its last reply, which swaks
# may have read already: wait for the line of each of the 7 sessions.
_disconnects() { [ "$(grep -c 'tern/smtpd\[[0-9]*\]: disconnect from ' "$LOG")" -ge 7 ]; }
wait_for "7 disconnect lines" _disconnects

# The line shapes log tools parse (Postfix's).
Q='[0-9A-Z]+'
for re in \
	"tern/smtpd\[[0-9]+\]: connect from localhost\[127\.0\.0\.1\]$" \
	"tern/smtpd\[[0-9]+\]: $Q: client=localhost\[127\.0\.0\.1\]$" \
	"tern/smtpd\[[0-9]+\]: $Q: client=unknown\[127\.0\.0\.5\], sasl_method=LOGIN, sasl_username=alice$" \
	"tern/smtpd\[[0-9]+\]: $Q: message-id=<[^>]+>$" \
	"tern/pickup\[[0-9]+\]: $Q: uid=0 from=<frank@example\.com> \(maildrop [0-9A-Z]+\)$" \
	"tern/qmgr\[[0-9]+\]: $Q: from=<carol@example\.net>, size=[0-9]+, nrcpt=2 \(queue active\)$" \
	": $Q: to=<dave@localhost>, relay=local, delay=[0-9.]+, (delays=[0-9.]+/[0-9.]+/[0-9.]+/[0-9.]+, )?dsn=2\.0\.0, status=sent " \
	"tern/qmgr\[[0-9]+\]: $Q: removed$" \
	"tern/smtpd\[[0-9]+\]: NOQUEUE: reject: RCPT from unknown\[127\.0\.0\.2\]: 554 5\.7\.1 <victim@example\.com>: Relay access denied; from=<spammer@example\.net> to=<victim@example\.com> proto=ESMTP helo=<relay-test\.example>$" \
	"tern/smtpd\[[0-9]+\]: warning: unknown\[127\.0\.0\.3\]: SASL LOGIN authentication failed: " \
	"tern/smtpd\[[0-9]+\]: disconnect from localhost\[127\.0\.0\.1\] ehlo=1 mail=1 rcpt=1 data=1 quit=1 commands=5$" \
	"tern/smtpd\[[0-9]+\]: disconnect from unknown\[127\.0\.0\.2\] ehlo=1 mail=1 rcpt=0/1 quit=1 commands=3/4$" \
	"tern/smtpd\[[0-9]+\]: disconnect from unknown\[127\.0\.0\.3\] ehlo=1 auth=0/1 quit=1 commands=2/3$"
do
	grep -Eq "$re" "$LOG" || { show_log; fail "no line like /$re/"; }
done
# The receiving program's line comes before the queue manager's from=
# (pflogsumm counts the sender at the first from= after client=/uid=).
for id in $(grep -Eo "$Q: (client|uid)=" "$LOG" | cut -d: -f1); do
	first=$(grep -E "$id: (client=|uid=|from=)" "$LOG" | head -n 1)
	echo "$first" | grep -Eq "$id: (client|uid)=" || fail "$id: from= before client=/uid=: $first"
done

# pflogsumm: Grand Totals and the per-sender and per-recipient tables.
pflogsumm --syslog-name=tern "$LOG" > "$TERN_DIR/pflogsumm.out" 2>&1 || fail "pflogsumm failed"
P=$TERN_DIR/pflogsumm.out
total() { awk -v what="$1" '$2 == what && $1 ~ /^[0-9]+$/ { print $1; exit }' "$P"; }
check_total() {
	[ "$(total "$1")" = "$2" ] || { cat "$P" >&2; fail "pflogsumm: $1 = $(total "$1"), want $2"; }
}
check_total received 4
check_total delivered 5
check_total rejected 2
check_total bounced 0
check_total deferred 0
check_total senders 4
check_total recipients 4
# table TITLE: "COUNT ADDRESS" lines of one of pflogsumm's tables, sorted.
table() {
	awk -v title="$1" '$0 == title { on = 1; getline; next } on && NF == 0 { exit } on { print $1, $2 }' "$P" | sort
}
want=$(printf '%s\n' "1 alice@example.com" "1 alice@example.org" "1 carol@example.net" "1 frank@example.com" | sort)
got=$(table "Senders by message count")
[ "$got" = "$want" ] || { cat "$P" >&2; fail "pflogsumm senders: $got"; }
want=$(printf '%s\n' "2 bob@localhost" "1 dave@localhost" "1 erin@localhost" "1 grace@localhost" | sort)
got=$(table "Recipients by message count")
[ "$got" = "$want" ] || { cat "$P" >&2; fail "pflogsumm recipients: $got"; }
grep -q 'Relay access denied' "$P" || { cat "$P" >&2; fail "pflogsumm: no reject detail"; }

# fail2ban: Tern's file where make install puts it, in a staged tree
# whose etc/fail2ban/filter.d has copies of the system's postfix filter.
D=$TERN_DIR/staged
make -s -C "$TERN_TOP" install DESTDIR="$D" >"$TERN_DIR/install.log" 2>&1 ||
	{ cat "$TERN_DIR/install.log" >&2; fail "make install DESTDIR=$D failed"; }
F=$D/etc/fail2ban/filter.d
[ -f "$F/postfix.d/tern.local" ] || fail "make install put no etc/fail2ban/filter.d/postfix.d/tern.local"
cp /etc/fail2ban/filter.d/postfix.conf /etc/fail2ban/filter.d/common.conf "$F/"
# ips FILTER: the client addresses the filter matched, sorted.
ips() { fail2ban-regex -o ip "$LOG" "$1" 2>&1 | sort; }
check_ips() {	# check_ips FILTER WANT...
	_f=$1; shift
	_want=$(printf '%s\n' "$@" | sort)
	_got=$(ips "$_f")
	[ "$_got" = "$_want" ] || fail "fail2ban $_f matched [$(echo $_got)], want [$*]"
}
rejects="127.0.0.2 127.0.0.6"
auths="127.0.0.3 127.0.0.4"
# shellcheck disable=SC2086
{
	check_ips "$F/postfix.conf[mode=normal]" $rejects
	check_ips "$F/postfix.conf" $rejects		# mode=more, the postfix jail's
	check_ips "$F/postfix.conf[mode=more]" $rejects
	check_ips "$F/postfix.conf[mode=auth]" $auths	# the postfix-sasl jail's
	# aggressive: also the disconnect lines with auth=0/N.
	check_ips "$F/postfix.conf[mode=aggressive]" $rejects $auths $auths
	# Without the file: the jail parameter _daemon on the stock filter.
	check_ips "/etc/fail2ban/filter.d/postfix.conf[mode=aggressive, _daemon=tern/\w+]" \
		$rejects $auths $auths
}
# The stock filter alone knows only postfix/... program names.
[ -z "$(ips /etc/fail2ban/filter.d/postfix.conf)" ] || fail "the stock filter matched tern/ lines"
pass
