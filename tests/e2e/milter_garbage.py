#!/usr/bin/env python3
# milter_garbage.py - test program: a "milter" that breaks the protocol on
# purpose, so end-to-end tests can check that the MTA survives a broken
# filter (no crash, no lost mail, the configured milter_default_action).
# Runs as whoever runs the test; no privileges; loopback or Unix socket.
#
#   milter_garbage.py SOCKET LOG MODE
#
# SOCKET: unix:/path or inet:PORT@127.0.0.1 (libmilter's forms). Every
# connection is read up to the MTA's first packet (SMFIC_OPTNEG, checked
# and logged), then answered according to MODE:
#   garbage    a packet of an unknown type ('Z', 3 bytes of junk)
#   oversized  a length of 0x7fffffff, a few bytes, then silence (the
#              connection stays open until the MTA closes it)
#   close      close the connection without answering
#   hang       answer nothing, keep the connection open
#   short      the start of a valid OPTNEG reply (length 25, 5 bytes
#              sent), then silence
#   text       a line of text (as if a web server answered)
#   unasked    a valid OPTNEG reply (version 6, no actions, every stage
#              sent and answered), CONTINUE to CONNECT, then 0.3 s later
#              a packet nobody asked for ('Z'); then silence
#   idleclose  likewise up to CONTINUE to CONNECT, then (0.3 s later)
#              close: EOF while
#              the MTA expects nothing (between its events)
# LOG gets one line per event: "conn N optneg version=V actions=0x..
# proto=0x..", "conn N sent MODE", "conn N peer closed" (after MODE), or
# "conn N bad first packet ..." if the MTA did not start with OPTNEG.
# Serves connections until SIGTERM.
import os
import signal
import socket
import struct
import sys
import threading
import time

MODES = ("garbage", "oversized", "close", "hang", "short", "text", "unasked", "idleclose")


def log(path, lock, text):
    with lock:
        with open(path, "a") as f:
            f.write(text + "\n")


def read_exact(conn, n):
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def serve(conn, n, mode, logpath, lock):
    try:
        head = read_exact(conn, 4)
        if head is None:
            log(logpath, lock, "conn %d closed before a packet" % n)
            return
        (length,) = struct.unpack(">I", head)
        body = read_exact(conn, length) if 0 < length <= 65536 else None
        if body is None or body[:1] != b"O" or len(body) < 13:
            log(logpath, lock, "conn %d bad first packet length=%d" % (n, length))
            return
        version, actions, proto = struct.unpack(">III", body[1:13])
        log(logpath, lock, "conn %d optneg version=%d actions=0x%x proto=0x%x"
            % (n, version, actions, proto))
        if mode in ("unasked", "idleclose"):
            conn.sendall(struct.pack(">I", 13) + b"O" + struct.pack(">III", 6, 0, 0))
            while True:
                head = read_exact(conn, 4)
                (length,) = struct.unpack(">I", head) if head else (0,)
                body = read_exact(conn, length) if 0 < length <= 65536 else None
                if body is None:
                    log(logpath, lock, "conn %d closed before CONNECT" % n)
                    return
                if body[:1] == b"C":
                    break
                # macros ('D') get no answer
            conn.sendall(struct.pack(">I", 1) + b"c")
            # apart from the answer, so that the MTA has read that first
            time.sleep(0.3)
            if mode == "unasked":
                conn.sendall(struct.pack(">I", 3) + b"Z\x00\xff")
            else:
                conn.shutdown(socket.SHUT_RDWR)
                log(logpath, lock, "conn %d sent idleclose" % n)
                return
        elif mode == "garbage":
            conn.sendall(struct.pack(">I", 3) + b"Z\x00\xff")
        elif mode == "oversized":
            conn.sendall(struct.pack(">I", 0x7FFFFFFF) + b"Oxxxx")
        elif mode == "short":
            conn.sendall(struct.pack(">I", 25) + b"O\x00")
        elif mode == "text":
            conn.sendall(b"HTTP/1.0 400 Bad Request\r\n\r\n")
        elif mode == "close":
            log(logpath, lock, "conn %d sent close" % n)
            return
        log(logpath, lock, "conn %d sent %s" % (n, mode))
        # Wait for the MTA to give up; whatever it sends is read and dropped.
        while conn.recv(65536):
            pass
        log(logpath, lock, "conn %d peer closed" % n)
    except OSError as e:
        log(logpath, lock, "conn %d error %s" % (n, e))
    finally:
        conn.close()


def listen(spec):
    if spec.startswith("unix:") or spec.startswith("local:"):
        path = spec.split(":", 1)[1]
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(path)
    elif spec.startswith("inet:"):
        port, _, host = spec[5:].partition("@")
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host or "127.0.0.1", int(port)))
    else:
        sys.exit("milter_garbage: bad socket %s" % spec)
    s.listen(16)
    return s


def main():
    if len(sys.argv) != 4 or sys.argv[3] not in MODES:
        sys.exit("usage: milter_garbage.py SOCKET LOG {%s}" % "|".join(MODES))
    spec, logpath, mode = sys.argv[1:]
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    lock = threading.Lock()
    s = listen(spec)
    n = 0
    while True:
        conn, _ = s.accept()
        n += 1
        threading.Thread(target=serve, args=(conn, n, mode, logpath, lock), daemon=True).start()


if __name__ == "__main__":
    main()
