#!/bin/sh
# t_smtpd_bare_body.sh - with smtpd_forbid_bare_newline = no, a message of
# about 150 KiB with bare CRs, bare LFs, "\r\r\n", dots at line starts
# (stuffed on the wire), dots after bare LFs (not line starts: sent as
# they are) and lines of up to 20,000 bytes arrives in the Maildir byte
# for byte: each CRLF an LF, everything else as sent. Sent over a raw
# socket (smtplib rewrites bare CR and LF) in uneven pieces, so that line
# ends and line starts fall across smtpd's reads.
. "$(dirname "$0")/lib.sh"

tern_instance
ternconf -e "smtpd_forbid_bare_newline = no" >/dev/null || fail "ternconf -e"
tern_start
wait_for_port "$TERN_PORT"

python3 - "$TERN_PORT" "$TERN_DIR/want" <<'EOF' || fail "not accepted"
import random, socket, sys
port, wantpath = int(sys.argv[1]), sys.argv[2]
r = random.Random(15)
pieces = [b"\r\n", b"\r\n", b".", b"..", b"\r", b"\n", b"\r\r\n", b"\n.", b"\n.\r\n", b"\r.",
          b".\r", b"word ", b"\t", b"\xe9\xff", b"\r\n\r\n", b"\n\n"]
text = bytearray(b"Subject: bare-body\r\n\r\n")
while len(text) < 150 * 1024:
    if r.randrange(60) == 0:
        text += b"y" * r.randrange(1000, 20000)
    else:
        text += r.choice(pieces)
text += b"\r\n"
text = bytes(text)
# The wire: a dot at the start of a line (after CRLF) doubled.
wire = text.replace(b"\r\n.", b"\r\n..") + b".\r\n"
assert not wire.startswith(b".")
# What must arrive after the header block: CRLF made LF, nothing else changed.
body = text[text.index(b"\r\n\r\n") + 4:]
open(wantpath, "wb").write(body.replace(b"\r\n", b"\n"))

s = socket.create_connection(("127.0.0.1", port), timeout=60)
f = s.makefile("rb")
def reply():
    while True:
        line = f.readline()
        if line[3:4] != b"-":
            return line
def cmd(c, want):
    s.sendall(c)
    got = reply()
    if not got.startswith(want):
        print("%r: %r" % (c, got))
        sys.exit(1)
reply()
cmd(b"EHLO test.example\r\n", b"250")
cmd(b"MAIL FROM:<a@example.org>\r\n", b"250")
cmd(b"RCPT TO:<bare@localhost>\r\n", b"250")
cmd(b"DATA\r\n", b"354")
pos, sizes = 0, [1, 2, 3, 31, 33, 4099, 65536, 7]
i = 0
while pos < len(wire):
    n = sizes[i % len(sizes)]
    s.sendall(wire[pos:pos + n])
    pos += n
    i += 1
got = reply()
if not got.startswith(b"250"):
    print("end of data: %r" % got)
    sys.exit(1)
s.sendall(b"QUIT\r\n")
EOF

wait_for_mail bare 1
f=$(tern_newest_mail bare)
python3 - "$f" "$TERN_DIR/want" <<'EOF' || fail "the message changed on its way"
import sys
got = open(sys.argv[1], "rb").read()
want = open(sys.argv[2], "rb").read()
# Everything after the first empty line is the body (cleanup adds header fields).
body = got[got.index(b"\n\n") + 2:]
if body != want:
    n = next((i for i in range(min(len(body), len(want))) if body[i] != want[i]), min(len(body), len(want)))
    print("%d bytes, want %d; first difference at %d: %r / %r" % (len(body), len(want), n,
          body[n:n + 40], want[n:n + 40]))
    sys.exit(1)
EOF
pass
