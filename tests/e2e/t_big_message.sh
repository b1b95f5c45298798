#!/bin/sh
# t_big_message.sh - a message of about 1 MiB arrives in the Maildir byte
# for byte: lines long and short (one of 20,000 bytes), lines that start
# with a dot (dot-stuffed on the wire, unstuffed in the queue), 8-bit
# bytes and tabs (a bare CR is refused by default: smtpd_forbid_bare_newline). It is
# larger than every buffer on its way (smtpd's reads and the queue
# writer's 256 KiB, local's reads and writes), so each of them is passed
# more than once. Sent with DATA, with BDAT in uneven chunks, and with
# sendmail -i with a last line that has no newline (cleanup adds it).
. "$(dirname "$0")/lib.sh"

tern_instance
tern_start
wait_for_port "$TERN_PORT"
body=$TERN_DIR/body

# The body as it must arrive: LF line ends, no dot-stuffing.
python3 - "$body" <<'EOF'
import random, sys
r = random.Random(15)
lines = []
size = 0
while size < 1024 * 1024:
    kind = r.randrange(6)
    if kind == 0:
        line = "." * r.randrange(1, 4) + "dotted %d" % size
    elif kind == 1:
        line = bytes(r.randrange(128, 256) for _ in range(r.randrange(1, 300))).decode("latin-1")
    elif kind == 2:
        line = ""
    elif kind == 3:
        line = "x" * r.randrange(900, 5000)
    elif kind == 4:
        line = "tab\tinside %d " % size + "\t" * r.randrange(3)
    else:
        line = " ".join("w%d" % r.randrange(10 ** 6) for _ in range(r.randrange(1, 40)))
    lines.append(line)
    size += len(line) + 1
lines.insert(len(lines) // 2, "y" * 20000)
lines.append(".")                  # a line of one dot (stuffed to "..")
with open(sys.argv[1], "wb") as f:
    f.write(("\n".join(lines) + "\n").encode("latin-1"))
EOF

# send MODE SUBJECT: DATA or BDAT over SMTP; the body with CRLF (and dot-stuffed for DATA).
send() {
	python3 - "$TERN_PORT" "$1" "$2" "$body" <<'EOF'
import smtplib, sys
port, mode, subject, path = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
body = open(path, "rb").read()
head = b"From: a@example.org\r\nTo: big@localhost\r\nSubject: " + subject.encode() + b"\r\n\r\n"
msg = head + body.replace(b"\n", b"\r\n")
with smtplib.SMTP("127.0.0.1", port, timeout=120) as s:
    s.ehlo("test.example")
    if mode == "DATA":
        code, reply = s.data(msg) if s.mail("a@example.org")[0] == 250 and \
            s.rcpt("big@localhost")[0] == 250 else (0, b"envelope refused")
    else:
        s.mail("a@example.org", ["BODY=8BITMIME"])
        s.rcpt("big@localhost")
        pos, sizes = 0, [1, 70000, 300000, 3, 262144]
        i = 0
        while True:
            n = sizes[i % len(sizes)]
            i += 1
            chunk = msg[pos:pos + n]
            pos += len(chunk)
            last = pos >= len(msg)
            s.send(b"BDAT %d%s\r\n" % (len(chunk), b" LAST" if last else b""))
            s.send(chunk)
            code, reply = s.getreply()
            if code != 250 or last:
                break
    print(code, reply.decode(errors="replace"))
    sys.exit(0 if code == 250 else 1)
EOF
}

# check SUBJECT N: the Nth message for big has that subject and exactly the body.
check() {
	wait_for_mail big "$2"
	f=$(grep -l "^Subject: $1\$" "$TERN_DIR"/mail/big/new/* | head -n 1)
	[ -n "$f" ] || fail "$1: not delivered"
	# Everything after the first empty line is the body.
	python3 - "$f" "$body" "$1" <<'EOF' || fail "$1: the body changed"
import sys
got = open(sys.argv[1], "rb").read()
want = open(sys.argv[2], "rb").read()
body = got[got.index(b"\n\n") + 2:]
if body != want:
    n = next((i for i in range(min(len(body), len(want))) if body[i] != want[i]), min(len(body), len(want)))
    print("%s: %d bytes, want %d; first difference at %d: %r / %r" % (sys.argv[3], len(body),
          len(want), n, body[n:n + 40], want[n:n + 40]))
    sys.exit(1)
EOF
}

send DATA big-data >/dev/null || fail "DATA: not accepted"
check big-data 1
send BDAT big-bdat >/dev/null || fail "BDAT: not accepted"
check big-bdat 2

# sendmail -i: the last line without a newline gets one.
head -c -1 "$body" >"$TERN_DIR/body.nonl"
{ printf 'Subject: big-sendmail\n\n'; cat "$TERN_DIR/body.nonl"; } | sendmail -i big@localhost \
	|| fail "sendmail"
check big-sendmail 3
pass
