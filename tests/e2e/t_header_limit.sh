#!/bin/sh
# t_header_limit.sh - a header over header_size_limit gets the message
# refused (554 over SMTP, a bounce to the sender of a sendmail
# submission), never cut and never pushed into the body; a header line
# over line_length_limit but within header_size_limit is kept whole; a
# header block over header_block_size_limit is refused the same way; a
# first body line longer than either limit, with no empty line before it,
# is delivered whole as body.
. "$(dirname "$0")/lib.sh"
need_cmd python3

tern_instance
ternconf -e "header_size_limit = 3000" "header_block_size_limit = 20000" || fail "ternconf -e"
tern_start

# make_msg TO ID LINE_END HUGE: a 2500-byte header (over line_length_limit),
# a folded one of HUGE bytes, then more headers.
make_msg() {
	python3 - "$1" "$2" "$3" "$4" <<'PY'
import sys
to, mid, nl, huge = sys.argv[1], sys.argv[2], sys.argv[3].encode().decode('unicode_escape'), int(sys.argv[4])
h = ["From: bob@localhost", "To: " + to, "Subject: long headers " + mid,
     "X-Wide: " + "w" * 2500, "X-Huge: " + "h" * huge, " continued", "\tmore",
     "X-After: kept", "Message-ID: <" + mid + "@test>"]
sys.stdout.write(nl.join(h) + nl + nl + "body line" + nl)
PY
}

# check_mail FILE: the long headers are whole, the ones after them headers.
check_mail() {
	python3 - "$1" <<'PY' || { show_log; fail "$1: headers not as expected"; }
import sys
text = open(sys.argv[1], 'rb').read().decode()
head, sep, body = text.partition("\n\n")
assert sep, "no empty line"
lines = head.replace("\n\t", " ").replace("\n ", " ").split("\n")
names = {l.split(":", 1)[0]: l for l in lines}
assert "X-After" in names and names["X-After"] == "X-After: kept", "X-After is not a header"
assert "Message-ID" in names, "Message-ID is not a header"
assert names["X-Wide"] == "X-Wide: " + "w" * 2500, "X-Wide was cut"
assert names["X-Huge"] == "X-Huge: " + "h" * 2900 + " continued more", "X-Huge: %d" % len(names["X-Huge"])
assert body.strip() == "body line", "body: %r" % body[:200]
PY
}

# 1. Over SMTP: within the limits, whole; one header over it, refused.
make_msg alice@localhost smtp1 '\r\n' 2900 > "$TERN_DIR/msg1"
make_msg alice@localhost smtp2 '\r\n' 5000 > "$TERN_DIR/msg2"
python3 - "$TERN_PORT" "$TERN_DIR/msg1" "$TERN_DIR/msg2" <<'PY' || fail "SMTP: not as expected"
import smtplib, sys
with smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=60) as s:
    s.sendmail("bob@localhost", ["alice@localhost"], open(sys.argv[2], 'rb').read())
    s.mail("bob@localhost")
    s.rcpt("alice@localhost")
    code, reply = s.data(open(sys.argv[3], 'rb').read())
    reply = reply.decode()
    assert code == 554 and "message header X-Huge too long (more than 3000 bytes)" in reply, (code, reply)
PY
wait_for_mail alice 1
check_mail "$(tern_newest_mail alice)"

# 2. Through sendmail (LF line ends): whole, and over the limit returned to its sender.
make_msg carol@localhost local1 '\n' 2900 | sendmail -f bob@localhost carol@localhost || fail "sendmail"
wait_for_mail carol 1
check_mail "$(tern_newest_mail carol)"
make_msg carol@localhost local2 '\n' 5000 | sendmail -f frank@localhost carol@localhost || fail "sendmail (huge)"
wait_for_mail frank 1
grep -q "message header X-Huge too long (more than 3000 bytes)" "$(tern_newest_mail frank)" ||
	{ show_log; fail "no bounce with the reason"; }
wait_queue_empty
[ "$(ls "$TERN_DIR/mail/carol/new" | wc -l)" -eq 1 ] || fail "carol got the message with a header over the limit"

# 3. No headers, and a first line longer than both limits: all of it is body.
python3 -c 'import sys; sys.stdout.write("no header here " + "b" * 25000 + "\nX-Not: a header\n")' |
	sendmail -f bob@localhost gina@localhost || fail "sendmail of a long first line"
wait_for_mail gina 1
python3 - "$(tern_newest_mail gina)" <<'PY' || { show_log; fail "the long first line is not the body"; }
import sys
head, sep, body = open(sys.argv[1]).read().partition("\n\n")
assert body == "no header here " + "b" * 25000 + "\nX-Not: a header\n", repr(body[:100])
PY

# 4. A header block over header_block_size_limit: refused over SMTP.
python3 - "$TERN_PORT" <<'PY' || fail "a header block over the limit was not refused"
import smtplib, sys
msg = "".join("X-H%d: %s\r\n" % (i, "x" * 1000) for i in range(30)) + "\r\nbody\r\n"
with smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=60) as s:
    s.ehlo("test.example")
    s.mail("bob@localhost")
    s.rcpt("dave@localhost")
    code, reply = s.data(msg)
    reply = reply.decode()
    assert code == 554 and "message header block too large (more than 20000 bytes)" in reply, (code, reply)
PY
# ... and returned to the sender through sendmail.
python3 -c 'import sys; sys.stdout.write("".join("X-H%d: %s\n" % (i, "x" * 1000) for i in range(30)) + "\nbody\n")' |
	sendmail -f erin@localhost dave@localhost || fail "sendmail of a large header block"
wait_for_mail erin 1
grep -q "message header block too large" "$(tern_newest_mail erin)" || { show_log; fail "no bounce with the reason"; }
[ -z "$(ls "$TERN_DIR/mail/dave/new" 2>/dev/null)" ] || fail "dave got a message with a header block over the limit"
tern_stop
pass
