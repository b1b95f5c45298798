#!/usr/bin/env python3
"""smuggle_battery.py - every published SMTP smuggling end-of-data variant,
sent to an SMTP server on loopback, for Tern's end-to-end tests.

  smuggle_battery.py PORT data|bdat [RCPT...]

One session per variant: EHLO, MAIL FROM:<sender@example.org>, RCPT TO
each RCPT (default postmaster@localhost; each must get 250), then content
"Subject: battery-N", a blank line, "x", the variant, and a whole second
transaction from evil@example.net to the first RCPT (subject
"evil-battery"), then QUIT. With "bdat" the content goes in two BDAT
chunks split after the first byte of the variant (subjects
"bdat-battery-N"). What the server does with the content is not checked
here: it may end the session, refuse, or take one message per session
(never two, which the caller checks in what it queued or relayed).
Standard library only.
"""
import socket
import sys

VARIANTS = [b"\n.\n", b"\r.\r", b"\r.\n", b"\n.\r", b"\n.\r\n", b"\r\n.\n", b"\r.\r\n",
            b"\r\n.\r", b"\n\n.\r\n", b"\r\n\r.\r\n", b"\r\n.\r\r\n", b"\r\n\x00.\r\n",
            b"\r\n.\x00\r\n", b"\r\n\x00.\r", b"\r\n\x00.\n"]


def session(port, bdat, n, variant, rcpts):
    evil = (b"MAIL FROM:<evil@example.net>\r\nRCPT TO:<%s>\r\nDATA\r\n"
            b"Subject: evil-battery\r\n\r\nevil\r\n.\r\n" % rcpts[0].encode())
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    f = s.makefile("rb")

    def reply():
        while True:
            line = f.readline()
            if line[3:4] != b"-":
                return line
    assert reply().startswith(b"220")
    cmds = [(b"EHLO battery.example", b"250"), (b"MAIL FROM:<sender@example.org>", b"250")]
    cmds += [(b"RCPT TO:<%s>" % r.encode(), b"250") for r in rcpts]
    if not bdat:
        cmds.append((b"DATA", b"354"))
    for cmd, want in cmds:
        s.sendall(cmd + b"\r\n")
        r = reply()
        assert r.startswith(want), (n, cmd, r)
    if bdat:
        one = b"Subject: bdat-battery-%d\r\n\r\nx" % n + variant[:1]
        two = variant[1:] + evil
        s.sendall(b"BDAT %d\r\n" % len(one) + one + b"BDAT %d LAST\r\n" % len(two) + two + b"QUIT\r\n")
    else:
        s.sendall(b"Subject: battery-%d\r\n\r\nx" % n + variant + evil + b"QUIT\r\n")
    s.settimeout(20)
    try:
        while s.recv(4096):
            pass
    except (socket.timeout, ConnectionResetError):
        pass  # a reset: the server closed with our QUIT still unread
    s.close()


def main():
    if len(sys.argv) < 3 or sys.argv[2] not in ("data", "bdat"):
        sys.exit("usage: smuggle_battery.py PORT data|bdat [RCPT...]")
    rcpts = sys.argv[3:] or ["postmaster@localhost"]
    for n, v in enumerate(VARIANTS):
        session(int(sys.argv[1]), sys.argv[2] == "bdat", n, v, rcpts)
    return 0


if __name__ == "__main__":
    sys.exit(main())
