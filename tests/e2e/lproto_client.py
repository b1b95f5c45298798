#!/usr/bin/env python3
# lproto_client.py - speak the qmgr -> local protocol (lib/mail/lproto.h)
# to local's socket like a queue manager sending one batch, and check
# what local must (not) have done while the batch is open.
#
# usage: lproto_client.py QDIR MAILDIR[:MAILDIR...] MODE WANT ID:INDEX[:ADDR]...
#
# One request per ID:INDEX (queue file active/ID, the recipient at INDEX,
# which is ADDR or batch@localhost, sender sender@example.org), with hold 1
# for all but the last one (MODE full) or for all, after which the
# connection ends (MODE abort). After each request with hold 1, once the
# message shows up in a MAILDIR (tmp/ or new/): nothing may be in new/ yet
# and local must not have answered. MODE full: then every answer must come,
# in request order, with the result WANT (sent or defer; a deferral with
# 4.2.0; or one of them per request, comma-separated), and no more. MODE
# abort: local must end the connection without an answer. CHECK_DELAY (seconds, default 0.5) is how long to watch for
# an early answer after each request. Exits 0 when all checks pass.
import os
import select
import socket
import struct
import sys
import time

qdir, maildir, mode, want = sys.argv[1:5]
maildirs = maildir.split(":")
reqs = [(a.split(":") + ["batch@localhost"])[:3] for a in sys.argv[5:]]
wants = want.split(",") if "," in want else [want] * len(reqs)
if len(wants) != len(reqs) or not set(wants) <= {"sent", "defer"}:
    sys.exit("lproto_client: WANT %r does not fit %d requests" % (want, len(reqs)))
deadline = float(os.environ.get("TERN_WAIT", "60"))
delay = float(os.environ.get("CHECK_DELAY", "0.5"))


def fs(v):
    b = v.encode()
    return b"s" + struct.pack(">I", len(b)) + b


def fi(v):
    return b"i" + struct.pack(">q", v)


def request(qid, index, addr, hold):
    p = fs("deliver") + fs(qid) + fs("active/" + qid) + fs("sender@example.org") + fi(1)
    p += fi(int(index)) + fs(addr) + fs("") + fi(1 if hold else 0)
    p += fs("") + fs("")  # next hop and transport: "" for local
    return struct.pack(">I", len(p)) + p


def files(sub):
    out = []
    for d in maildirs:
        try:
            out += os.listdir(os.path.join(d, sub))
        except FileNotFoundError:
            pass
    return out


def bad(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def read_exact(c, n):
    data = b""
    while len(data) < n:
        chunk = c.recv(n - len(data))
        if not chunk:
            bad("connection closed after %d of %d bytes" % (len(data), n))
        data += chunk
    return data


def fields(payload):
    out, k = [], 0
    while k < len(payload):
        t = payload[k:k + 1]
        if t == b"s":
            n = struct.unpack(">I", payload[k + 1:k + 5])[0]
            out.append(payload[k + 5:k + 5 + n].decode())
            k += 5 + n
        elif t == b"i":
            out.append(struct.unpack(">q", payload[k + 1:k + 9])[0])
            k += 9
        else:
            bad("bad field type %r" % t)
    return out


c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
c.connect(os.path.join(qdir, "private", "local"))
c.settimeout(deadline)
new_before = len(files("new"))
# Names, not counts: a file whose early sync failed leaves tmp/ again.
seen = set(files("tmp"))
for n, (qid, index, addr) in enumerate(reqs):
    last = n == len(reqs) - 1 and mode == "full"
    c.sendall(request(qid, index, addr, not last))
    if last:
        break
    # Wait until local has handled this request (its file is in tmp/, or
    # wrongly in new/, or it answered), then watch for an early answer.
    end = time.time() + deadline
    while (not set(files("tmp")) - seen and len(files("new")) == new_before
           and not select.select([c], [], [], 0)[0]):
        if time.time() > end:
            bad("request %d: no file written" % (n + 1))
        time.sleep(0.02)
    time.sleep(delay)
    fresh = set(files("tmp")) - seen
    seen |= fresh
    if len(files("new")) != new_before:
        bad("request %d (hold 1): a file is in new/ before the batch ended" % (n + 1))
    if len(fresh) != 1:
        bad("request %d (hold 1): %d new files in tmp/, want 1" % (n + 1, len(fresh)))
    if select.select([c], [], [], 0)[0]:
        bad("request %d (hold 1): local answered before the batch ended" % (n + 1))

if mode == "abort":
    c.shutdown(socket.SHUT_WR)
    if c.recv(1) != b"":
        bad("an answer to a batch that did not end")
    sys.exit(0)

for n, (qid, index, addr) in enumerate(reqs):
    length = struct.unpack(">I", read_exact(c, 4))[0]
    f = fields(read_exact(c, length))
    # status, index, result, dsn, text, relay, diag, remote MTA, flags, TLS ("" / 0 from local)
    ok = f[0] == "status" and f[1] == int(index) and f[5:] == ["", "", "", 0, ""]
    if wants[n] == "sent":
        ok = ok and f[2] == 0
    else:
        ok = ok and f[2] == 1 and f[3] == "4.2.0"
    if not ok:
        bad("answer %d: %r (want status, index %d, %s)" % (n + 1, f, int(index), wants[n]))
    print("answer %d: %s %s %s" % (n + 1, f[2], f[3], f[4]))
c.settimeout(1)
try:
    extra = c.recv(1)
except socket.timeout:
    extra = b""
if extra:
    bad("more answers than requests")
