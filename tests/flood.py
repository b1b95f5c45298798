#!/usr/bin/env python3
# flood.py - a hostile client for smtpd on loopback: floods of TLS
# handshakes that never finish and of failed AUTH commands, for the
# end-to-end test t_smtpd_flood.sh and the benchmark tests/bench/flood.
#
# Test tool, runs as the invoking user, talks only to the address given
# (the tests give 127.0.0.1). Prints one JSON object on stdout.
#
#   (--src A: one address or several, comma-separated, used in turn.)
#   flood.py hello --port P [--src A] [--starttls] [--count N]
#            [--declare LEN] [--record LEN] [--hold S] [--until-closed] [--pid PID]
#       N connections that each begin a TLS handshake (after STARTTLS
#       with --starttls, else at once, as on a wrapper-mode port) with a
#       record of --record bytes (0: only the 5-byte record header) whose
#       handshake header declares a ClientHello of --declare bytes, and
#       never finish it. After --hold seconds it counts the connections
#       smtpd has closed meanwhile, then closes the rest. With --pid, the
#       Pss and RSS of that process before and at most during the hold.
#   flood.py trickle --port P [--src A] [--bytes N] [--interval S]
#       One connection that sends the first N bytes of such a handshake
#       one byte every S seconds, until smtpd hangs up.
#   flood.py garbage --port P [--src A] [--count N]
#       N connections that each send 4 KiB of random bytes as a
#       handshake and wait for smtpd to hang up.
#   flood.py full --port P [--src A] [--count N] [--keep] [--pid PID]
#       N complete TLS handshakes (implicit TLS), one after another, each
#       closed after the greeting (with --keep, held open until the last
#       is made): what a handshake flood, or idle TLS sessions, cost smtpd.
#   flood.py auth --port P [--src A] [--count N] [--per-session K] [--tls]
#       N failed AUTH PLAIN commands, K per connection, counting the
#       replies by code (535 failed, 450 rate limit, 421 closed...).
import argparse
import json
import os
import socket
import ssl
import struct
import sys
import time


_next_src = [0]


def connect(a):
    """A connection from the next of the --src addresses, in turn."""
    srcs = a.src.split(",")
    src = srcs[_next_src[0] % len(srcs)]
    _next_src[0] += 1
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((src, 0))
    s.settimeout(a.timeout)
    s.connect((a.host, a.port))
    return s


def client_ctx():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def reply(f):
    """One SMTP reply from file f: (code, text); (0, '') at EOF."""
    lines = []
    while True:
        line = f.readline()
        if not line:
            return 0, ""
        lines.append(line.decode("latin-1").rstrip("\r\n"))
        if len(line) < 4 or line[3:4] != b"-":
            return int(lines[-1][:3] or 0), "\n".join(lines)


def hello_record(declare, record):
    """A TLS handshake record whose ClientHello header declares `declare` bytes."""
    if record == 0:
        return bytes([0x16, 3, 1]) + struct.pack(">H", 16384)
    body = bytes([1]) + declare.to_bytes(3, "big") + bytes([3, 3]) + os.urandom(32)
    body = body + bytes(max(0, record - len(body)))
    body = body[:record]
    return bytes([0x16, 3, 1]) + struct.pack(">H", len(body)) + body


def closed_by_peer(s):
    """True when smtpd has closed s (EOF or reset), without waiting."""
    try:
        s.setblocking(False)
        while s.recv(65536):	# an alert may come before the end
            pass
        return True
    except BlockingIOError:
        return False
    except OSError:
        return True


def mem_kb(pid):
    """smtpd's proportional set size (Pss) and RSS in KiB, from /proc."""
    out = {}
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("Rss", "Pss"):
                out[k.lower()] = int(v.split()[0])
    return out


def cmd_hello(a):
    socks, refused = [], 0
    before = mem_kb(a.pid) if a.pid else None
    peak = dict(before) if before else None
    rec = hello_record(a.declare, a.record)
    for _ in range(a.count):
        try:
            s = connect(a)
            if a.starttls:
                f = s.makefile("rb")
                code, _ = reply(f)
                if code != 220:
                    refused += 1
                    s.close()
                    continue
                s.sendall(b"EHLO flood.example\r\n")
                reply(f)
                s.sendall(b"STARTTLS\r\n")
                code, _ = reply(f)
                if code != 220:
                    refused += 1
                    s.close()
                    continue
            s.sendall(rec)
            socks.append(s)
        except OSError:
            refused += 1
    opened = len(socks)
    deadline = time.monotonic() + a.hold
    while time.monotonic() < deadline:
        time.sleep(0.2)
        if a.pid:
            now = mem_kb(a.pid)
            peak = {k: max(peak[k], now[k]) for k in peak}
        if a.until_closed and all(closed_by_peer(s) for s in socks):
            break
    closed = sum(1 for s in socks if closed_by_peer(s))
    for s in socks:
        s.close()
    out = {"opened": opened, "refused": refused, "closed_by_server": closed}
    if a.pid:
        out.update({"pss_before_kb": before["pss"], "pss_peak_kb": peak["pss"],
                    "rss_before_kb": before["rss"], "rss_peak_kb": peak["rss"]})
    return out


def cmd_garbage(a):
    hung_up = 0
    for _ in range(a.count):
        try:
            s = connect(a)
        except OSError:
            continue
        try:
            s.sendall(os.urandom(4096))
            while s.recv(4096):
                pass
            hung_up += 1
        except OSError:
            hung_up += 1	# a reset is a hang-up too
        finally:
            s.close()
    return {"sent": a.count, "hung_up": hung_up}


def cmd_trickle(a):
    rec = hello_record(a.declare, a.record)[:a.bytes]
    s = connect(a)
    sent = 0
    for b in rec:
        try:
            s.sendall(bytes([b]))
        except OSError:
            break
        if closed_by_peer(s):
            break
        sent += 1
        time.sleep(a.interval)
    closed = closed_by_peer(s)
    s.close()
    return {"bytes": len(rec), "sent": sent, "closed_by_server": closed}


def cmd_full(a):
    ctx = client_ctx()
    ok = failed = 0
    before = mem_kb(a.pid) if a.pid else None
    held = []
    for _ in range(a.count):
        try:
            s = ctx.wrap_socket(connect(a))
            f = s.makefile("rb")
            code, _ = reply(f)
            ok += code == 220
            failed += code != 220
            if a.keep:
                held.append((s, f))
            else:
                s.close()
        except OSError:
            failed += 1
    out = {"handshakes": ok, "failed": failed}
    if a.pid:
        time.sleep(1)
        after = mem_kb(a.pid)
        out.update({"pss_before_kb": before["pss"], "pss_after_kb": after["pss"]})
    for s, f in held:
        s.close()
    return out


def cmd_auth(a):
    codes = {}
    left = a.count
    while left > 0:
        try:
            s = connect(a)
            if a.tls:
                s = client_ctx().wrap_socket(s)
            f = s.makefile("rb")
            code, _ = reply(f)
            if code != 220:
                codes[str(code)] = codes.get(str(code), 0) + 1
                left -= 1
                s.close()
                continue
            s.sendall(b"EHLO flood.example\r\n")
            reply(f)
            for _ in range(min(a.per_session, left)):
                s.sendall(b"AUTH PLAIN AGFsaWNlAHdyb25n\r\n")	# alice / wrong
                code, _ = reply(f)
                codes[str(code)] = codes.get(str(code), 0) + 1
                left -= 1
                if code in (0, 421):
                    break
            s.close()
        except OSError:
            codes["error"] = codes.get("error", 0) + 1
            left -= 1
    return {"codes": codes}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["hello", "trickle", "garbage", "full", "auth"])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--src", default="127.0.0.1", help="source addresses, comma-separated, used in turn")
    p.add_argument("--tls", action="store_true", help="auth: implicit TLS (a wrapper-mode port)")
    p.add_argument("--bytes", type=int, default=60, help="trickle: how many bytes at most")
    p.add_argument("--interval", type=float, default=0.5, help="trickle: seconds between bytes")
    p.add_argument("--count", type=int, default=100)
    p.add_argument("--starttls", action="store_true")
    p.add_argument("--declare", type=int, default=16384)
    p.add_argument("--record", type=int, default=16384)
    p.add_argument("--hold", type=float, default=5)
    p.add_argument("--until-closed", action="store_true",
                   help="hello: stop holding once smtpd closed every connection")
    p.add_argument("--per-session", type=int, default=3)
    p.add_argument("--keep", action="store_true",
                   help="full: keep the sessions open, idle after the greeting, until all are made")
    p.add_argument("--pid", type=int, default=0,
                   help="hello: smtpd's process, whose memory is read before and during the hold")
    p.add_argument("--timeout", type=float, default=60)
    a = p.parse_args()
    out = {"hello": cmd_hello, "trickle": cmd_trickle, "garbage": cmd_garbage, "full": cmd_full, "auth": cmd_auth}[a.mode](a)
    json.dump(out, sys.stdout)
    print()


if __name__ == "__main__":
    main()
