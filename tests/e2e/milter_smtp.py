#!/usr/bin/env python3
# milter_smtp.py - test program: an SMTP client for the smtpd_milters
# end-to-end tests that prints every reply exactly as the server sent it,
# multi-line replies included, so a test can compare them whole. Talks
# only to 127.0.0.1; no privileges.
#
#   milter_smtp.py PORT STEP...
#
# Reads the greeting, then runs each STEP in order:
#   any SMTP command  sent as one line ("EHLO c.example", "MAIL FROM:<a>
#                     SIZE=10", "DATA", "QUIT"), its reply read
#   MSG:TEXT          TEXT (with \r \n \t \\ escapes) sent as the message
#                     followed by ".\r\n"; the reply read (only after a
#                     354: otherwise "(no message sent)" is printed)
#   MSGFILE:PATH      likewise with the bytes of the file PATH
#   SLEEP:SECS        wait
# Each reply is printed on one line, its lines joined with "|", e.g.
# "250-mx|250 SIZE" or "550 5.7.1 no". After a 421 the client stops.
# Exits 0 unless the connection fails.
import socket
import sys
import time


def unescape(s):
    return s.encode().decode("unicode_escape").encode("latin-1")


def read_reply(f):
    lines = []
    while True:
        line = f.readline()
        if not line:
            lines.append("(closed)")
            break
        line = line.decode("latin-1").rstrip("\r\n")
        lines.append(line)
        if len(line) < 4 or line[3] != "-":
            break
    return "|".join(lines)


def main():
    port = int(sys.argv[1])
    s = socket.create_connection(("127.0.0.1", port), timeout=60)
    f = s.makefile("rb")
    r = read_reply(f)
    print(r, flush=True)
    for step in sys.argv[2:]:
        if r.startswith("421") or r.endswith("(closed)"):
            break
        if step.startswith("SLEEP:"):
            time.sleep(float(step[6:]))
            continue
        if step.startswith("MSG:") or step.startswith("MSGFILE:"):
            if not r.startswith("354"):
                print("(no message sent)", flush=True)
                continue
            if step.startswith("MSG:"):
                data = unescape(step[4:])
            else:
                with open(step[8:], "rb") as mf:
                    data = mf.read()
            s.sendall(data + b".\r\n")
        else:
            s.sendall(step.encode() + b"\r\n")
        r = read_reply(f)
        print(r, flush=True)
    s.close()


if __name__ == "__main__":
    main()
