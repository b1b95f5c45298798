#!/bin/sh
# t_smtpd_pipeline_group.sh - RFC 2920: a client that pipelines MAIL,
# RCPT, RCPT and DATA in one write gets their four replies together, in
# order and complete, from one write of smtpd (its first recv() after
# the write holds all four, which a reply per write would not give), and
# the end of data and QUIT sent together get the 250 and the 221
# together. Runs unprivileged against its own instance on loopback.
. "$(dirname "$0")/lib.sh"
need_cmd python3

tern_instance
tern_start

out=$(python3 - "$TERN_PORT" <<'EOP'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=30)
f = s.makefile("rb")
def reply():
    lines = []
    while True:
        l = f.readline()
        if not l:
            sys.exit("connection closed")
        lines.append(l)
        if l[3:4] != b"-":
            return lines
reply()
s.sendall(b"EHLO pipe.example\r\n")
if not any(b"PIPELINING" in l for l in reply()):
    sys.exit("no PIPELINING")
# Read the rest with recv() only: the makefile buffer holds nothing more.
s.sendall(b"MAIL FROM:<p@example.org>\r\nRCPT TO:<postmaster@localhost>\r\n"
          b"RCPT TO:<postmaster@localhost>\r\nDATA\r\n")
group = s.recv(65536)
print("group", group.decode().replace("\r\n", "|"))
s.sendall(b"Subject: pipelined\r\n\r\nbody\r\n.\r\nQUIT\r\n")
end = b""
while not end.endswith(b"\r\n") or b"221" not in end:
    more = s.recv(65536)
    if not more:
        break
    end += more
print("end", end.decode().replace("\r\n", "|"))
EOP
) || fail "client: $out"
echo "$out"
echo "$out" | grep -Eq '^group 250 2\.1\.0 [^|]*\|250 2\.1\.5 [^|]*\|250 2\.1\.5 [^|]*\|354 [^|]*\|$' ||
	fail "the four replies did not come together and in order: $out"
echo "$out" | grep -Eq '^end 250 2\.0\.0 Ok: queued as [0-9A-F]+\|221 [^|]*\|$' ||
	fail "250 and 221 not as expected: $out"
pass
