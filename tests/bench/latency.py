#!/usr/bin/env python3
# latency.py - how long an SMTP server takes to answer the end of a
# message: the time from sending the end-of-data dot to reading the 250.
#
# Benchmark helper, runs as any user. Used by tests/bench/run (the
# "latency" scenario) to compare MTAs at one client.
#
#   latency.py PORT COUNT [--size BYTES] [--from ADDR] [--to ADDR] [--raw]
#
# One connection to 127.0.0.1:PORT (TCP_NODELAY), EHLO, then COUNT times
# MAIL FROM, RCPT TO, DATA, a message of about BYTES (default 4096) sent
# in one piece without its final ".\r\n"; the clock starts just before
# ".\r\n" is sent and stops when the whole reply has arrived. Any reply
# other than the expected one is an error (exit 1). Prints
#   p50 MS p99 MS max MS n COUNT
# or, with --raw, every latency in microseconds on one line.
# disk_floor() times the same commit without an MTA (tests/bench/run
# prints it beside the MTAs' figures).
import math
import os
import socket
import sys
import time


class Client:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=60)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def reply(self):
        """Read one whole reply (every line up to the "NNN " one); its code."""
        while True:
            end = self.buf.find(b"\r\n")
            while end >= 0:
                line, self.buf = self.buf[:end], self.buf[end + 2:]
                if len(line) < 4 or line[3:4] != b"-":
                    return line[:3].decode("ascii", "replace")
                end = self.buf.find(b"\r\n")
            data = self.sock.recv(65536)
            if not data:
                raise RuntimeError("connection closed by the server")
            self.buf += data

    def command(self, line, want):
        if line is not None:
            self.sock.sendall(line)
        code = self.reply()
        if code != want:
            raise RuntimeError("%r: got %s, want %s" % (line, code, want))


def message(size, sender, rcpt):
    head = ("From: <%s>\r\nTo: <%s>\r\nSubject: latency\r\n\r\n" % (sender, rcpt)).encode()
    line = b"x" * 70 + b"\r\n"
    body = line * max(1, (size - len(head)) // len(line))
    return head + body


def measure(port, count, size=4096, sender="bench@localhost", rcpt="keep@localhost"):
    """Latencies in seconds, one per message."""
    c = Client(port)
    c.command(None, "220")
    c.command(b"EHLO bench.invalid\r\n", "250")
    data = message(size, sender, rcpt)
    out = []
    for _ in range(count):
        c.command(b"MAIL FROM:<%s>\r\n" % sender.encode(), "250")
        c.command(b"RCPT TO:<%s>\r\n" % rcpt.encode(), "250")
        c.command(b"DATA\r\n", "354")
        c.sock.sendall(data)
        t0 = time.perf_counter()
        c.sock.sendall(b".\r\n")
        c.command(None, "250")
        out.append(time.perf_counter() - t0)
    c.command(b"QUIT\r\n", "221")
    c.sock.close()
    return out


def disk_floor(directory, count, size=4096):
    """Seconds per durable creation of a new file in `directory`, no MTA:
    create under its final name, write `size` bytes, fsync the file (the
    least any MTA that syncs before its 250 does: Postfix's order, one
    cache flush). The file is removed after each timing, outside it.
    Run beside measure() to show what the disk alone costs at the tail."""
    blob = b"x" * size
    out = []
    for i in range(count):
        path = os.path.join(directory, "floor.%d" % i)
        t0 = time.perf_counter()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, blob)
        os.fsync(fd)
        os.close(fd)
        out.append(time.perf_counter() - t0)
        os.unlink(path)
    return out


def percentile(values, p):
    """The nearest-rank percentile (p in 0..100) of values."""
    v = sorted(values)
    k = max(0, min(len(v) - 1, math.ceil(p / 100.0 * len(v)) - 1))
    return v[k]


def main(args):
    if len(args) < 2:
        sys.stderr.write("usage: latency.py PORT COUNT [--size B] [--from A] [--to A] [--raw]\n")
        return 64
    port, count = int(args[0]), int(args[1])
    opts = {"--size": "4096", "--from": "bench@localhost", "--to": "keep@localhost"}
    raw = False
    i = 2
    while i < len(args):
        if args[i] == "--raw":
            raw = True
            i += 1
        elif args[i] in opts and i + 1 < len(args):
            opts[args[i]] = args[i + 1]
            i += 2
        else:
            sys.stderr.write("latency.py: bad argument %s\n" % args[i])
            return 64
    try:
        lat = measure(port, count, int(opts["--size"]), opts["--from"], opts["--to"])
    except (OSError, RuntimeError) as e:
        sys.stderr.write("latency.py: %s\n" % e)
        return 1
    if raw:
        print(" ".join("%d" % (x * 1e6) for x in lat))
    else:
        print("p50 %.3f p99 %.3f max %.3f n %d" % (percentile(lat, 50) * 1e3,
                                                    percentile(lat, 99) * 1e3,
                                                    max(lat) * 1e3, len(lat)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
