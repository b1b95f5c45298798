#!/bin/sh
# t_smtp_ext.sh - the SMTP extensions the smtp program uses, against
# smtp_peer.py peers on the private network of netlib.sh: PIPELINING
# (the peer sees commands before their replies), SIZE (a message larger
# than the peer's limit is bounced with 5.3.4 and no DATA is sent), 8-bit
# mail to a peer without 8BITMIME arrives as quoted-printable, an SMTPUTF8
# address to a peer without SMTPUTF8 is bounced with 5.6.7, DSN's NOTIFY,
# ORCPT, RET and ENVID are passed on when offered and not when not,
# CHUNKING is used when offered (BDAT), the wire has CRLF only and
# dot-stuffing, a 2000-character line is broken, and two messages to the
# same destination in a row go over one connection.
# Needs root (network namespace, port 25).
# e2e: slow (minutes of SMTP extension cases)
here=$(dirname "$0")
[ -f "$here/lib.sh" ] || { echo "skip: tests/e2e/lib.sh is missing"; exit 77; }
. "$here/lib.sh"
. "$here/netlib.sh"
smtp_test_begin smtpd -- "$@"

# full.test: every extension but CHUNKING; size.test: SIZE 1000;
# noext.test: PIPELINING only; chunk.test: CHUNKING too.
dns_mx_zones full.test=127.0.0.2 size.test=127.0.0.3 noext.test=127.0.0.4 chunk.test=127.0.0.5
z=$NET_DIR/zones
dns_start "$z/full.test.zone" "$z/size.test.zone" "$z/noext.test.zone" "$z/chunk.test.zone"
std="--ext PIPELINING --ext 8BITMIME --ext SMTPUTF8 --ext DSN --ext ENHANCEDSTATUSCODES"
peer_start full 127.0.0.2 25 --record "$NET_DIR/full.json"
# shellcheck disable=SC2086
peer_start size 127.0.0.3 25 --record "$NET_DIR/size.json" $std --ext 'SIZE 1000'
peer_start noext 127.0.0.4 25 --record "$NET_DIR/noext.json" --no-ext --ext PIPELINING
# shellcheck disable=SC2086
peer_start chunk 127.0.0.5 25 --record "$NET_DIR/chunk.json" $std --ext CHUNKING

tern_instance
ternconf -e "smtp_connection_cache_time_limit = 30s" || fail "ternconf -e"
tern_start
log=$TERN_DIR/maillog

# submit FROM RCPT[,RCPT] MAILOPTS RCPTOPTS FILE: over SMTP to the instance
# (smtpd), with ESMTP parameters, the content from FILE.
submit_smtp() {
	python3 - "$TERN_PORT" "$@" <<'EOF'
import smtplib, sys
port, frm, rcpts, mopts, ropts, path = sys.argv[1:7]
body = open(path, "rb").read().replace(b"\n", b"\r\n")
with smtplib.SMTP("127.0.0.1", int(port), timeout=30) as s:
    s.ehlo("client.test")
    mo = mopts.split() if mopts else []
    ro = ropts.split() if ropts else []
    s.mail(frm, mo)
    for r in rcpts.split(","):
        code, text = s.rcpt(r, ro)
        assert code == 250, (r, code, text)
    code, text = s.data(body)
    assert code == 250, (code, text)
EOF
}
# field FILE N EXPR: a Python expression over message N (m) a peer recorded.
field() { python3 -c 'import json,sys; m=json.loads(open(sys.argv[1]).read().splitlines()[int(sys.argv[2])-1]); print(eval(sys.argv[3]))' "$@"; }

# PIPELINING, dot-stuffing, CRLF only, a long line, DSN passed on.
long=$(head -c 2000 /dev/zero | tr '\0' x)
printf 'Subject: piped\n\nfirst\n.dot line\n..two dots\n%s\nlast\n' "$long" > "$NET_DIR/m1"
submit_smtp alice@localhost a@full.test,b@full.test "RET=HDRS ENVID=env-123" \
	"NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;orig@else.test" "$NET_DIR/m1" || fail "SMTP submission"
peer_wait_messages "$NET_DIR/full.json" 1
f=$NET_DIR/full.json
# Connection reuse: a second message to full.test as soon as the first is
# in (well within smtp_connection_cache_time_limit; checked below), through
# sendmail, with a bare CR in it that must not reach the wire bare.
printf 'Subject: again\n\nsecond\rhalf\n' | sendmail -i -f alice@localhost c@full.test || fail "sendmail"
python3 - "$f" <<'EOF' || fail "the first message as full.test recorded it: $(head -n 1 "$f")"
import json, sys
m = json.loads(open(sys.argv[1]).readline())
assert m["pipelined"], "not pipelined"
assert sorted(m["accepted"]) == ["a@full.test", "b@full.test"], m["accepted"]
assert m["mail_params"].get("RET") == "HDRS", ("RET not passed on", m["mail_params"])
assert m["mail_params"].get("ENVID") == "env-123", ("ENVID not passed on", m["mail_params"])
for r in m["rcpts"]:
    assert r["params"].get("NOTIFY") == "SUCCESS,FAILURE", ("NOTIFY not passed on", r)
    assert r["params"].get("ORCPT", "").lower() == "rfc822;orig@else.test", ("ORCPT not passed on", r)
assert not m["bare_lf"] and not m["bare_cr"], "bare CR or LF on the wire"
assert not m["bdat"], "BDAT to a peer without CHUNKING"
EOF
grep -aq '^\.\.dot line' "$f.raw" || fail "no dot-stuffing of .dot line"
grep -aq '^\.\.\.two dots' "$f.raw" || fail "no dot-stuffing of ..two dots"
python3 - "$f.raw" "$f" <<'EOF' || fail "long line on the wire"
import json, sys
raw = open(sys.argv[1], "rb").read()
for ln in raw.split(b"\r\n"):
    assert len(ln) <= 998, "a line of %d bytes on the wire" % len(ln)
m = json.loads(open(sys.argv[2]).readline())
d = m["data"]
assert d.count("x") == 2000, "x count %d" % d.count("x")
assert "\r\nfirst\r\n.dot line\r\n..two dots\r\n" in d, d[:300]
EOF

# ...over one connection.
peer_wait_messages "$f" 2
[ "$(field "$f" 2 'm["conn"]')" = "$(field "$f" 1 'm["conn"]')" ] ||
	fail "the second message came over a new connection ($(field "$f" 1 'm["conn"]') then $(field "$f" 2 'm["conn"]'))"
[ "$(field "$f" 2 'm["bare_lf"] or m["bare_cr"]')" = False ] || fail "bare CR or LF on the wire: $(field "$f" 2 'm["data"]')"

# SIZE: 5000 bytes to a peer that takes 1000: bounced 5.3.4, no DATA.
{ printf 'Subject: big\n\n'; head -c 5000 /dev/zero | tr '\0' y | fold -w 70; echo; } |
	sendmail -i -f alice@localhost u@size.test || fail "sendmail"
wait_for_log 'to=<u@size\.test>,.* dsn=5\.3\.4, status=bounced'
grep -aq '^DATA' "$NET_DIR/size.json.raw" 2>/dev/null && fail "DATA sent to a peer whose SIZE is smaller"
wait_for_mail alice 1
grep -q '^Status: 5\.3\.4' "$(tern_newest_mail alice)" || fail "bounce: $(cat "$(tern_newest_mail alice)")"

# 8-bit content to a peer without 8BITMIME: quoted-printable.
printf 'Subject: eight\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\ncaf\303\251 cr\303\250me\n' |
	sendmail -i -B8BITMIME -f alice@localhost u@noext.test || fail "sendmail 8bit"
peer_wait_messages "$NET_DIR/noext.json" 1
n=$NET_DIR/noext.json
[ "$(field "$n" 1 'm["eight_bit"]')" = False ] || fail "8-bit bytes to a peer without 8BITMIME"
[ "$(field "$n" 1 'm["mail_params"]')" = "{}" ] || fail "MAIL parameters to a peer without extensions: $(field "$n" 1 'm["mail_params"]')"
field "$n" 1 'm["data"]' | grep -qi '^Content-Transfer-Encoding: quoted-printable' || fail "no QP header: $(field "$n" 1 'm["data"]')"
field "$n" 1 'm["data"]' | grep -q 'caf=C3=A9 cr=C3=A8me' || fail "not QP: $(field "$n" 1 'm["data"]')"

# DSN not offered: NOTIFY, ORCPT, RET, ENVID not sent (the peer would 555).
submit_smtp alice@localhost d@noext.test "RET=FULL ENVID=env-9" "NOTIFY=FAILURE ORCPT=rfc822;o@else.test" "$NET_DIR/m1" ||
	fail "SMTP submission"
peer_wait_messages "$n" 2
[ "$(field "$n" 2 'm["mail_params"]')" = "{}" ] || fail "DSN MAIL parameters sent: $(field "$n" 2 'm["mail_params"]')"
[ "$(field "$n" 2 'm["rcpts"][0]["params"]')" = "{}" ] || fail "DSN RCPT parameters sent: $(field "$n" 2 'm["rcpts"]')"

# SMTPUTF8 needed (a UTF-8 address), not offered: bounced 5.6.7.
printf 'Subject: utf8\n\nbody\n' > "$NET_DIR/m2"
submit_smtp alice@localhost "j$(printf '\303\266')rg@noext.test" "SMTPUTF8" "" "$NET_DIR/m2" || fail "SMTPUTF8 submission"
wait_for_log 'to=<j.*rg@noext\.test>,.* dsn=5\.6\.7, status=bounced'
[ "$(wc -l < "$n")" = 2 ] || fail "the SMTPUTF8 message reached the peer"
# The same through sendmail without -SMTPUTF8, beside an ASCII recipient:
# the UTF-8 one is returned 5.6.7 by the peer without SMTPUTF8 and the
# ASCII one still delivered there (without SMTPUTF8); to the peer with it,
# sent with SMTPUTF8 (as Postfix's smtputf8_autodetect_classes = sendmail).
printf 'Subject: utf8 detected\n\nbody\n' |
	sendmail -i -f alice@localhost "k$(printf '\303\266')rg@noext.test" plain@noext.test ||
	fail "sendmail to a UTF-8 address"
wait_for_log 'to=<k.*rg@noext\.test>,.* dsn=5\.6\.7, status=bounced'
peer_wait_messages "$n" 3
[ "$(field "$n" 3 'm["accepted"]')" = "['plain@noext.test']" ] ||
	fail "not the ASCII recipient alone: $(field "$n" 3 'm["accepted"]')"
[ "$(field "$n" 3 'm["mail_params"]')" = "{}" ] || fail "MAIL parameters: $(field "$n" 3 'm["mail_params"]')"
printf 'Subject: utf8 detected\n\nbody\n' | sendmail -i -f alice@localhost "k$(printf '\303\266')rg@full.test" ||
	fail "sendmail to a UTF-8 address"
peer_wait_messages "$f" 3
[ "$(field "$f" 3 '"SMTPUTF8" in m["mail_params"]')" = True ] ||
	fail "sent without SMTPUTF8: $(field "$f" 3 'm["mail_params"]')"

# CHUNKING: BDAT.
printf 'Subject: chunks\n\nchunked\n.dot\n' | sendmail -i -f alice@localhost u@chunk.test || fail "sendmail"
peer_wait_messages "$NET_DIR/chunk.json" 1
[ "$(field "$NET_DIR/chunk.json" 1 'm["bdat"]')" = True ] || fail "no BDAT: $(cat "$NET_DIR/chunk.json")"
field "$NET_DIR/chunk.json" 1 'm["data"]' | grep -q '^\.dot' || fail "BDAT content: $(field "$NET_DIR/chunk.json" 1 'm["data"]')"

# 8-bit content without BODY=: smtp finds the 8-bit bytes itself (and sends
# the content it read for that, not a second read): quoted-printable too.
printf 'Subject: eight undeclared\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\nna\303\257ve\n.last\n' |
	sendmail -i -f alice@localhost v@noext.test || fail "sendmail 8bit undeclared"
peer_wait_messages "$n" 4
[ "$(field "$n" 4 'm["eight_bit"]')" = False ] || fail "undeclared 8-bit bytes to a peer without 8BITMIME"
field "$n" 4 'm["data"]' | grep -q 'na=C3=AFve' || fail "undeclared 8-bit not QP: $(field "$n" 4 'm["data"]')"
# (The peer records the content unstuffed: a line sent as ".last" unstuffed would read "last".)
field "$n" 4 'm["data"]' | grep -q '^\.last' || fail "dot line lost: $(field "$n" 4 'm["data"]')"
pass
