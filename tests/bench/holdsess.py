#!/usr/bin/env python3
# holdsess.py - open many idle SMTP sessions to one server and hold them.
#
# Benchmark helper, runs as any user (as root it can raise its own
# RLIMIT_NOFILE hard limit). Used by tests/bench/run to find how many
# concurrent idle sessions an MTA holds: a session counts only once the
# server has answered our EHLO with its final "250 " line.
#
#   holdsess.py PORT COUNT [--stall SECS] [--deadline SECS] [--source ADDR]
#
# Opens COUNT connections to 127.0.0.1:PORT, from ADDR when given (a
# loopback address such as 127.0.0.3: each source address has its own
# ~28,000 ephemeral ports, so tests/bench/run spreads 50,000 sessions over
# several holdsess.py processes, each with its own address and its own
# RLIMIT_NOFILE), at most 500 connects in
# flight at once), reads each greeting, sends "EHLO bench.invalid", reads
# the reply. It stops opening when all are done, when no session has made
# progress for --stall seconds (a server that stops accepting), or at
# --deadline. Then it prints one line
#   held N failed F pending P dropped D
# (held: those still open then; dropped: held ones the server has ended
# since) and holds every session open until its standard input is closed, then
# sends QUIT to the held ones and exits.
import errno
import os
import resource
import selectors
import socket
import sys
import time


BIND_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)


def raise_nofile(want):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= want:
        return
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(want, hard), max(want, hard)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class Session:
    __slots__ = ("sock", "state", "inbuf")

    def __init__(self, sock):
        self.sock = sock
        self.state = "connect"   # connect, greeting, ehlo, held, dead
        self.inbuf = b""


def final_reply(buf):
    """Return (code, done) for the last complete reply line in buf."""
    lines = buf.split(b"\r\n")
    for line in lines[:-1]:
        if len(line) >= 4 and line[3:4] == b" ":
            return line[:3], True
    return None, False


def main():
    args = sys.argv[1:]
    if len(args) < 2:
        sys.stderr.write("usage: holdsess.py PORT COUNT [--stall S] [--deadline S]\n")
        return 64
    port, count = int(args[0]), int(args[1])
    stall, deadline, source = 5.0, 120.0, None
    i = 2
    while i < len(args):
        if args[i] == "--stall":
            stall = float(args[i + 1])
        elif args[i] == "--deadline":
            deadline = float(args[i + 1])
        elif args[i] == "--source":
            source = args[i + 1]
        i += 2
    raise_nofile(count + 100)

    sel = selectors.DefaultSelector()
    sessions = []
    opened = held = failed = inflight = 0
    start = last_progress = time.monotonic()
    max_inflight = 500

    def kill(s):
        nonlocal failed, inflight
        if s.state in ("connect", "greeting", "ehlo"):
            inflight -= 1
        try:
            sel.unregister(s.sock)
        except (KeyError, ValueError):
            pass
        s.sock.close()
        s.state = "dead"
        failed += 1

    while True:
        now = time.monotonic()
        while opened < count and inflight < max_inflight:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setblocking(False)
            try:
                if source:
                    # The port is picked at connect, from the whole 4-tuple:
                    # bind() alone would use only half the range (Linux
                    # keeps the other half for connect).
                    sock.setsockopt(socket.IPPROTO_IP, BIND_NO_PORT, 1)
                    sock.bind((source, 0))
                sock.connect(("127.0.0.1", port))
            except BlockingIOError:
                pass
            except OSError as e:
                sock.close()
                if e.errno in (errno.EMFILE, errno.ENFILE, errno.EADDRNOTAVAIL,
                               errno.EADDRINUSE):
                    count = opened     # out of resources on our side: stop here
                    sys.stderr.write("holdsess: %s after %d connections\n" % (e, opened))
                    break
                failed += 1
                opened += 1
                continue
            s = Session(sock)
            sessions.append(s)
            sel.register(sock, selectors.EVENT_WRITE, s)
            opened += 1
            inflight += 1
        if inflight == 0 and opened >= count:
            break
        if now - last_progress > stall or now - start > deadline:
            break
        for key, ev in sel.select(timeout=0.2):
            s = key.data
            if s.state == "connect":
                err = s.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    kill(s)
                    continue
                s.state = "greeting"
                sel.modify(s.sock, selectors.EVENT_READ, s)
                last_progress = time.monotonic()
                continue
            try:
                data = s.sock.recv(4096)
            except BlockingIOError:
                continue
            except OSError:
                kill(s)
                continue
            if not data:
                kill(s)
                continue
            s.inbuf += data
            code, done = final_reply(s.inbuf)
            if not done:
                continue
            last_progress = time.monotonic()
            if s.state == "greeting":
                if code != b"220":
                    kill(s)
                    continue
                s.inbuf = b""
                s.state = "ehlo"
                try:
                    s.sock.send(b"EHLO bench.invalid\r\n")
                except OSError:
                    kill(s)
            elif s.state == "ehlo":
                if code != b"250":
                    kill(s)
                    continue
                s.inbuf = b""
                s.state = "held"
                sel.unregister(s.sock)
                inflight -= 1
                held += 1

    pending = sum(1 for s in sessions if s.state in ("connect", "greeting", "ehlo"))
    # A server under stress may have ended sessions held earlier (Postfix
    # shortens its timeouts to 10 s when all its smtpd processes are
    # busy): one that has something to read (a 421, or the end) is gone.
    dropped = 0
    for s in sessions:
        if s.state == "held":
            sel.register(s.sock, selectors.EVENT_READ, s)
    for key, ev in sel.select(timeout=0):
        if key.data.state == "held":    # not the ones still connecting
            key.data.state = "dropped"
            dropped += 1
    sys.stdout.write("held %d failed %d pending %d dropped %d\n"
                     % (held - dropped, failed, pending, dropped))
    sys.stdout.flush()
    # Keep every socket open (pending ones too: the server may still be
    # holding them) until told to stop.
    try:
        sys.stdin.read()
    except KeyboardInterrupt:
        pass
    for s in sessions:
        if s.state == "held":
            try:
                s.sock.send(b"QUIT\r\n")
            except OSError:
                pass
        s.sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
