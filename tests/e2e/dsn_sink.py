#!/usr/bin/env python3
"""dsn_sink.py - a minimal SMTP server for the DSN relay test.

Usage: dsn_sink.py PORT yes|no LOGFILE

Listens on 127.0.0.1:PORT, offers DSN in its EHLO reply or not, accepts
every MAIL, RCPT and message, and appends each command line it receives
to LOGFILE (the message content is not logged). Serves one connection
at a time until killed.
"""
import socket
import sys


def serve(conn, dsn, log):
    f = conn.makefile("rb")

    def say(text):
        conn.sendall(text.encode() + b"\r\n")

    say("220 sink.example ESMTP")
    while True:
        line = f.readline()
        if not line:
            return
        cmd = line.rstrip(b"\r\n").decode(errors="replace")
        with open(log, "a") as out:
            out.write(cmd + "\n")
        verb = cmd.split(" ", 1)[0].upper()
        if verb == "EHLO":
            say("250-sink.example")
            if dsn:
                say("250-DSN")
            say("250 8BITMIME")
        elif verb == "DATA":
            say("354 go ahead")
            while True:
                body = f.readline()
                if not body or body in (b".\r\n", b".\n"):
                    break
            say("250 2.0.0 Ok: queued as SINK1")
        elif verb == "QUIT":
            say("221 2.0.0 Bye")
            return
        else:
            say("250 2.0.0 Ok")


def main():
    port, dsn, log = int(sys.argv[1]), sys.argv[2] == "yes", sys.argv[3]
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(8)
    while True:
        conn, _ = srv.accept()
        conn.settimeout(60)
        try:
            serve(conn, dsn, log)
        except OSError:
            pass
        finally:
            conn.close()


if __name__ == "__main__":
    main()
