#!/usr/bin/env python3
# syslog_sink.py - a stand-in for the system logger in tests: binds the
# datagram socket PATH (normally /dev/log, inside a private mount
# namespace), makes it writable for everyone (daemons log after dropping
# root), and appends each datagram, as received, as one line to OUT.
# Stops after LIMIT seconds (default 120) or on SIGTERM.
import os, signal, socket, sys, time

path, out = sys.argv[1], sys.argv[2]
limit = float(sys.argv[3]) if len(sys.argv) > 3 else 120.0
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
os.chmod(path, 0o666)
end = time.time() + limit
with open(out, "ab", buffering=0) as f:
    while time.time() < end:
        s.settimeout(max(0.1, end - time.time()))
        try:
            data = s.recv(65536)
        except socket.timeout:
            break
        f.write(data.rstrip(b"\0\n").replace(b"\n", b" ") + b"\n")
