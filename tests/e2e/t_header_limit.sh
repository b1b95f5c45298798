#!/bin/sh
# t_header_limit.sh - a header over header_size_limit loses its excess
# (with a log line) and the headers after it stay headers, over SMTP and
# through sendmail; a header line over line_length_limit but within
# header_size_limit is kept whole; a header block over
# header_block_size_limit is refused (554 over SMTP, a bounce to the
# sender of a sendmail submission), never cut into the body.
. "$(dirname "$0")/lib.sh"
need_cmd python3

tern_instance
ternconf -e "header_size_limit = 3000" "header_block_size_limit = 20000" || fail "ternconf -e"
tern_start

# make_msg TO ID LINE_END: a 2500-byte header (over line_length_limit), a
# folded 5000-byte one (over header_size_limit), then more headers.
make_msg() {
	python3 - "$1" "$2" "$3" <<'PY'
import sys
to, mid, nl = sys.argv[1], sys.argv[2], sys.argv[3].encode().decode('unicode_escape')
h = ["From: bob@localhost", "To: " + to, "Subject: long headers " + mid,
     "X-Wide: " + "w" * 2500, "X-Huge: " + "h" * 5000, " continued-excess", "\tmore-excess",
     "X-After: kept", "Message-ID: <" + mid + "@test>"]
sys.stdout.write(nl.join(h) + nl + nl + "body line" + nl)
PY
}

# check_mail FILE: the headers after the oversized one are headers.
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
assert len(names["X-Huge"]) <= 3000 and names["X-Huge"].startswith("X-Huge: hhhh"), "X-Huge: %d" % len(names["X-Huge"])
assert "excess" not in text, "the excess of X-Huge was kept"
assert body.strip() == "body line", "body: %r" % body[:200]
PY
}

# 1. Over SMTP.
make_msg alice@localhost smtp1 '\r\n' > "$TERN_DIR/msg1"
python3 - "$TERN_PORT" "$TERN_DIR/msg1" <<'PY' || fail "SMTP submission refused"
import smtplib, sys
with smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=60) as s:
    s.sendmail("bob@localhost", ["alice@localhost"], open(sys.argv[2], 'rb').read())
PY
wait_for_mail alice 1
check_mail "$(tern_newest_mail alice)"
grep -q "header X-Huge longer than header_size_limit (3000 bytes): its excess is dropped" "$TERN_DIR/maillog" ||
	{ show_log; fail "no log line for the truncated header"; }

# 2. Through sendmail (LF line ends).
make_msg carol@localhost local1 '\n' | sendmail -f bob@localhost carol@localhost || fail "sendmail"
wait_for_mail carol 1
check_mail "$(tern_newest_mail carol)"

# 3. A header block over header_block_size_limit: refused over SMTP.
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
