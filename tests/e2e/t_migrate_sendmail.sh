#!/bin/sh
# t_migrate_sendmail.sh - tern migrate-sendmail on the fixture trees of
# tests/fixtures/sendmail (made with Debian's sendmail-cf): the main.cf
# fragment, the maps and the report's untranslated lines with file:line;
# then --apply on an instance, after which mail behaves as on the sendmail
# host: a virtusertable address reaches its user, an unlisted address of a
# domain with an error: catch-all is refused, an access REJECT'ed client
# and an ERROR: sender are refused with sendmail's text, a To: RELAY
# domain is relayed and any other is not.
. "$(dirname "$0")/lib.sh"

need_cmd python3
need_cmd db5.3_load
fx="$TERN_TOP/tests/fixtures/sendmail"
[ -f "$fx/hosting/sendmail.mc" ] || skip "no fixtures"
python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.2", 0))' 2>/dev/null ||
	skip "cannot use 127.0.0.2 as a source address"

out=$(mktemp -d /tmp/tern-migrate.XXXXXX) || fail mktemp
at_cleanup "rm -rf '$out'"

# --- The smarthost workstation, into a directory ---------------------------
tern migrate-sendmail --from "$fx/smarthost" --to "$out/ws" >"$out/ws.stdout" ||
	fail "migrate-sendmail smarthost: $(cat "$out/ws.stdout")"
frag="$out/ws/main.cf.migrated"
want() { grep -qxF "$2" "$1" || { cat "$1" >&2; fail "$1: want the line '$2'"; }; }
want "$frag" 'relayhost = [relay.isp.example]'
want "$frag" 'message_size_limit = 10485760'
want "$frag" 'myorigin = example.org'
want "$frag" 'inet_interfaces = 127.0.0.1'
want "$frag" 'mydestination = $myhostname, localhost.$mydomain, localhost, ws1.example.org'
want "$out/ws/sender_canonical" '@ws1.example.org @example.org'
want "$out/ws/master.cf.migrated" 'submission    inet    587     -         required  -     1      smtpd'
cmp -s "$out/ws/aliases" "$fx/smarthost/aliases" || fail "aliases not copied as they are"
# The report is on stdout and in REPORT.txt, with file:line for each untranslated line.
cmp -s "$out/ws.stdout" "$out/ws/REPORT.txt" || fail "stdout and REPORT.txt differ"
want "$out/ws/REPORT.txt" 'Lines not translated (2):'
grep -q "smarthost/sendmail.mc:15: define(\`confPRIVACY_FLAGS'" "$out/ws/REPORT.txt" ||
	fail "the report lacks the two-line define at its first line"
grep -q "smarthost/sendmail.mc:23: FEATURE(\`greet_pause'" "$out/ws/REPORT.txt" || fail "no greet_pause line"

# --- The hosting host, into a directory ------------------------------------
tern migrate-sendmail --from "$fx/hosting" --to "$out/h" >/dev/null || fail "migrate-sendmail hosting"
r="$out/h/REPORT.txt"
want "$r" 'Lines not translated (12):'
for l in 'access:9: From:bulk@news.example DISCARD' 'access:15: GreetPause:localhost 0' \
	'virtusertable:6: @old.example %1@shop.example' 'mailertable:4: uucp.example uucp-dom:uuhost' \
	'domaintable:1: old-name.example shop.example' 'relay-domains:5: IPv6:2001:db8:1'; do
	grep -qF "hosting/$l" "$r" || { cat "$r" >&2; fail "the report lacks $l"; }
done
want "$out/h/access_client" 'spammer.example 550 5.7.1 We do not accept mail from spammers'
want "$out/h/access_sender" 'badsender.example 550 5.7.1 Sender domain blocked'
want "$out/h/access_relay_recipient" 'backup.example OK'
want "$out/h/transport" 'backup.example smtp:[mail.backup.example]'
want "$out/h/transport" 'dead.example error:5.1.2 This domain is gone'
want "$out/h/virtual" 'info@shop.example alice'
want "$out/h/main.cf.migrated" 'virtual_alias_domains = shop.example'
want "$out/h/main.cf.migrated" 'mynetworks = 127.0.0.0/8, [::1]/128, 192.168.10.0/24, 10.1.2.3/32'
# Without the .mc, the .cf says it all (DS, DM, Cw, Fw, MaxMessageSize, DaemonPortOptions);
# a .cf that says otherwise than the .mc is noted and the .mc wins.
mkdir "$out/cfonly" && cp "$fx/smarthost/sendmail.cf" "$fx/smarthost/local-host-names" "$out/cfonly/"
tern migrate-sendmail --from "$out/cfonly" --to "$out/c" >/dev/null || fail "migrate-sendmail cfonly"
norm() { sed "s|$out/[a-z]*/|DIR/|" "$1" | grep -v '^alias_'; }	# the aliases file was not copied
norm "$out/ws/main.cf.migrated" >"$out/ws.norm"
norm "$out/c/main.cf.migrated" >"$out/c.norm"
cmp -s "$out/ws.norm" "$out/c.norm" ||
	{ diff "$out/ws.norm" "$out/c.norm" >&2; fail "the .cf alone gives other settings than the .mc"; }
cp -r "$fx/smarthost" "$out/edited"
sed -i 's/^DS.*/DS[other.example]/' "$out/edited/sendmail.cf"
tern migrate-sendmail --from "$out/edited" --to "$out/e" >/dev/null || fail "migrate-sendmail edited"
want "$out/e/main.cf.migrated" 'relayhost = [relay.isp.example]'
grep -q 'edited/sendmail.cf:7: "\[other.example\]" differs' "$out/e/REPORT.txt" || fail "no note on the edited .cf"

# Debian's /etc/mail/aliases is a link to /etc/aliases: that file is named where it is.
cp -r "$fx/smarthost" "$out/lnk"
mv "$out/lnk/aliases" "$out/real-aliases"
ln -s "$out/real-aliases" "$out/lnk/aliases"
tern migrate-sendmail --from "$out/lnk" --to "$out/l" >/dev/null || fail "migrate-sendmail lnk"
want "$out/l/main.cf.migrated" "alias_maps = hash:$out/real-aliases"
[ -e "$out/l/aliases" ] && fail "a linked aliases file was copied"

# A table that is only a .db (as sendmail's makemap wrote it) is read from the .db.
mkdir "$out/dbonly"
printf 'gone.example\nerror:5.1.2:550 gone\n.corp.example\nesmtp:[gw.corp.example]\n' |
	db5.3_load -T -t hash "$out/dbonly/mailertable.db" || fail "db5.3_load"
tern migrate-sendmail --from "$out/dbonly" --to "$out/d" >/dev/null || fail "migrate-sendmail dbonly"
want "$out/d/transport" '.corp.example smtp:[gw.corp.example]'
want "$out/d/transport" 'gone.example error:5.1.2 gone'
grep -q 'mailertable.db has no text source' "$out/d/REPORT.txt" || fail "the report does not say the .db was read"
# Nothing may be read that is not there.
tern migrate-sendmail --from "$out/none" --to "$out/x" >/dev/null 2>&1 && fail "a missing --from succeeded"

# --- --apply on an instance -------------------------------------------------
tern_instance
src="$out/src"
cp -r "$fx/hosting" "$src"
echo 'Connect:127.0.0.2		REJECT' >>"$src/access"
printf 'alice: alice\n' >>"$src/aliases"
# --to with a configuration: DIR/main.cf is that main.cf with the settings in,
# the file --apply then leaves (byte for byte, maps named in DIR there).
tern -c "$TERN_DIR" migrate-sendmail --from "$src" --to "$out/i" >/dev/null || fail "--to with -c"
want "$out/i/main.cf" "queue_directory = $TERN_DIR/queue"
want "$out/i/main.cf" "virtual_alias_maps = hash:$out/i/virtual"
tern -c "$TERN_DIR" migrate-sendmail --from "$src" --apply >"$out/apply.out" 2>&1 ||
	fail "--apply: $(cat "$out/apply.out")"
sed "s|$out/i/|$TERN_DIR/|g" "$out/i/main.cf" | cmp -s - "$TERN_DIR/main.cf" ||
	fail "--apply left another main.cf than --to showed"
grep -q "$TERN_DIR/virtual: installed" "$out/apply.out" || fail "virtual not installed: $(cat "$out/apply.out")"
[ -f "$TERN_DIR/virtual.db" ] || fail "no virtual.db"
[ "$(ternmap -q info@shop.example "hash:$TERN_DIR/virtual")" = alice ] || fail "virtual.db lacks info@shop.example"
[ "$(ternmap -q abuse "hash:$TERN_DIR/aliases")" = root ] || fail "aliases.db not built"
[ "$(ternconf -h virtual_alias_maps)" = "hash:$TERN_DIR/virtual" ] || fail "virtual_alias_maps not set"
# The instance keeps its own listener (the fixture says all addresses), and
# only 127.0.0.1 is inside, so that 127.0.0.3 can play a client outside.
ternconf -e inet_interfaces=127.0.0.1 mynetworks=127.0.0.1/32 || fail "ternconf -e"
tern_start

send() {	# send SOURCE FROM TO: prints the reply to the first refused command, or "sent"
	python3 - "$TERN_PORT" "$@" <<'PY'
import smtplib, sys
port, src, frm, to = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
try:
    with smtplib.SMTP("127.0.0.1", port, timeout=60, source_address=(src, 0)) as s:
        s.ehlo("client.example")
        s.sendmail(frm, [to], "From: %s\r\nTo: %s\r\nSubject: migrate\r\n\r\nhello\r\n" % (frm, to))
        print("sent")
except smtplib.SMTPRecipientsRefused as e:
    code, text = list(e.recipients.values())[0]
    print(code, text.decode())
except smtplib.SMTPSenderRefused as e:
    print(e.smtp_code, e.smtp_error.decode())
PY
}
# A virtusertable address reaches its user.
r=$(send 127.0.0.1 someone@example.net info@shop.example)
[ "$r" = sent ] || { show_log; fail "info@shop.example: $r"; }
wait_for_mail alice 1
# An unlisted address of shop.example (error:nouser catch-all) is refused.
r=$(send 127.0.0.1 someone@example.net nobody@shop.example)
case "$r" in 550*) ;; *) show_log; fail "nobody@shop.example: want 550, got $r" ;; esac
# The REJECT'ed client is refused; the same mail from 127.0.0.1 is not.
r=$(send 127.0.0.2 someone@example.net info@shop.example)
case "$r" in 554*"Access denied"*) ;; *) show_log; fail "127.0.0.2: want 554 Access denied, got $r" ;; esac
# ERROR:5.7.1:550 text for a sender domain: sendmail's code and text.
r=$(send 127.0.0.1 x@badsender.example info@shop.example)
[ "$r" = "550 5.7.1 <x@badsender.example>: Sender address rejected: Sender domain blocked" ] ||
	case "$r" in 550*"Sender domain blocked"*) ;; *) show_log; fail "badsender: got $r" ;; esac
# To:backup.example RELAY: relayed for a client outside; another domain is not.
r=$(send 127.0.0.3 someone@example.net x@backup.example)
[ "$r" = sent ] || { show_log; fail "x@backup.example: $r"; }
r=$(send 127.0.0.3 someone@example.net x@elsewhere.example)
case "$r" in 554*"Relay access denied"*) ;; *) show_log; fail "elsewhere.example: want relay denied, got $r" ;; esac
tern_stop
pass
