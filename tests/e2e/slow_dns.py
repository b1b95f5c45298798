#!/usr/bin/env python3
# slow_dns.py PORTFILE LOGFILE DELAY - a tiny name server for tests, on
# 127.0.0.1 (UDP, a port of its own choosing, written to PORTFILE once it
# listens). It answers for the zone "slow.test" only, each answer after
# DELAY seconds (every query on a thread of its own, so a slow answer
# never holds up another):
#   nx*.slow.test         NXDOMAIN
#   anything else there   an MX (10 mx.slow.test) and an A (192.0.2.1) record
#   outside slow.test     REFUSED, at once
# Every question is logged to LOGFILE as "NAME TYPE" (TYPE 15 = MX, 1 = A,
# 28 = AAAA). Stops when its parent goes away or on SIGTERM.
import os
import socket
import struct
import sys
import threading
import time

port_file, log_file, delay = sys.argv[1], sys.argv[2], float(sys.argv[3])
log_lock = threading.Lock()


def parse_question(msg):
    """The query id, flags, name (lower case), type and where the question ends."""
    qid, flags, qd = struct.unpack("!HHH", msg[:6])
    if qd != 1:
        raise ValueError("one question expected")
    pos, labels = 12, []
    while True:
        n = msg[pos]
        pos += 1
        if n == 0:
            break
        if n >= 64:
            raise ValueError("compressed names are not expected in a question")
        labels.append(msg[pos:pos + n].decode("ascii", "replace"))
        pos += n
    qtype, qclass = struct.unpack("!HH", msg[pos:pos + 4])
    return qid, flags, ".".join(labels).lower(), qtype, pos + 4


def answer(msg):
    qid, flags, name, qtype, qend = parse_question(msg)
    question = msg[12:qend]
    rd = flags & 0x0100
    in_zone = name == "slow.test" or name.endswith(".slow.test")
    records = []
    if not in_zone:
        rcode = 5	# REFUSED
    elif name.split(".")[0].startswith("nx"):
        rcode = 3	# NXDOMAIN
    else:
        rcode = 0
        owner = b"\xc0\x0c"	# pointer to the name in the question
        if qtype == 15:
            target = b"\x02mx\x04slow\x04test\x00"
            records.append(owner + struct.pack("!HHIH", 15, 1, 60, 2 + len(target))
                           + struct.pack("!H", 10) + target)
        elif qtype == 1:
            records.append(owner + struct.pack("!HHIH", 1, 1, 60, 4) + bytes([192, 0, 2, 1]))
    # QR, AA, RD as asked, RA.
    rflags = 0x8000 | 0x0400 | rd | 0x0080 | rcode
    header = struct.pack("!HHHHHH", qid, rflags, 1, len(records), 0, 0)
    return name, qtype, in_zone, header + question + b"".join(records)


def handle(sock, msg, peer):
    try:
        name, qtype, in_zone, reply = answer(msg)
    except (ValueError, IndexError, struct.error):
        return
    with log_lock:
        with open(log_file, "a") as f:
            f.write("%s %d\n" % (name, qtype))
    if in_zone:
        time.sleep(delay)
    sock.sendto(reply, peer)


def main():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    tmp = port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % sock.getsockname()[1])
    os.rename(tmp, port_file)
    parent = os.getppid()
    sock.settimeout(1.0)
    while True:
        if os.getppid() != parent:
            return
        try:
            msg, peer = sock.recvfrom(4096)
        except socket.timeout:
            continue
        threading.Thread(target=handle, args=(sock, msg, peer), daemon=True).start()


main()
