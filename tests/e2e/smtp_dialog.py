#!/usr/bin/env python3
# smtp_dialog.py - run SMTP dialogue scripts against a server, with exact
# control of the bytes sent (for the bare CR/LF and smuggling cases).
#
# usage: smtp_dialog.py HOST PORT SCRIPT...
#
# Script lines (leading white space ignored; "#" starts a comment line):
#   > TEXT          send TEXT followed by CRLF
#   >> TEXT         send TEXT exactly, no CRLF added
#   < REGEX         read one reply (all its lines); its last line must match
#                   REGEX from the start (Python re.match)
#   <* REGEX        read one reply; some line of it must match REGEX
#   < EOF           the server must close the connection (no more bytes)
#   < SILENCE N     nothing may arrive for N seconds
#   connect [SRC]   open a new connection (from source address SRC), read
#                   nothing; the script starts with "connect" implied
#   tls             do a TLS handshake on the connection (no verification)
#   keep            keep this connection open until the script ends, even
#                   after the next "connect" (concurrency limits)
#   sleep N         wait N seconds
#   repeat N TEXT   send TEXT + CRLF N times in one write
#   fill N TEXT     send TEXT followed by N "x" and CRLF (over-long lines)
# In TEXT and REGEX, ${NAME} is replaced by the environment variable NAME;
# in TEXT, \r \n \t \\ \0 and \xHH are escapes. Each reply must come
# within DIALOG_TIMEOUT seconds (default 30). The first connection comes
# from DIALOG_SOURCE when that is set (e.g. 127.0.0.2, outside mynetworks).
#
# Every reply read is also checked for an enhanced status code of its own
# class (RFC 2034: all 2xx/4xx/5xx lines but the 220 greeting and the
# answers to HELO/EHLO, recognised as multi-line 250 replies or
# "250 $MYHOST"); DIALOG_NO_ESC=1 turns that off.
import os
import re
import socket
import ssl
import sys
import time

TIMEOUT = float(os.environ.get("DIALOG_TIMEOUT", "30"))


def subst(text):
    return re.sub(r"\$\{(\w+)\}", lambda m: os.environ.get(m.group(1), ""), text)


def unescape(text):
    out = bytearray()
    i = 0
    raw = text.encode("utf-8", "surrogateescape")
    while i < len(raw):
        c = raw[i:i + 1]
        if c == b"\\" and i + 1 < len(raw):
            n = raw[i + 1:i + 2]
            if n == b"r":
                out += b"\r"
            elif n == b"n":
                out += b"\n"
            elif n == b"t":
                out += b"\t"
            elif n == b"0":
                out += b"\0"
            elif n == b"\\":
                out += b"\\"
            elif n == b"x":
                out.append(int(raw[i + 2:i + 4], 16))
                i += 2
            else:
                out += b"\\" + n
            i += 2
            continue
        out += c
        i += 1
    return bytes(out)


ESC = re.compile(r"^([245])\d\d[ -]([245])\.\d{1,3}\.\d{1,3}( |\r?\n)")


def esc_error(lines, first):
    """Why this reply lacks the enhanced status codes it needs, or None."""
    text = [l.decode("utf-8", "replace") for l in lines]
    code = text[-1][:3]
    if os.environ.get("DIALOG_NO_ESC") or code.startswith("3"):
        return None
    if first and code == "220":
        return None
    host = os.environ.get("MYHOST", "")
    if code == "250" and (len(text) > 1 or (host and text[0].split()[1:2] == [host])):
        return None
    for t in text:
        m = ESC.match(t)
        if not m or m.group(1) != m.group(2):
            return "reply line without an enhanced status code of its class: %r" % t
    return None


class Conn:
    def __init__(self, host, port, src=None):
        self.sock = socket.create_connection((host, port), timeout=TIMEOUT,
                                             source_address=(src, 0) if src else None)
        self.buf = b""
        self.replies = 0

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self, deadline):
        self.sock.settimeout(max(0.01, deadline - time.time()))
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return None
        except (ConnectionResetError, ssl.SSLError, OSError):
            return b""
        return data

    def line(self, deadline):
        while b"\n" not in self.buf:
            data = self._fill(deadline)
            if data is None:
                raise TimeoutError("no reply within %ss (have %r)" % (TIMEOUT, self.buf))
            if data == b"":
                if self.buf:
                    raise EOFError("connection closed after %r" % self.buf)
                raise EOFError("connection closed")
            self.buf += data
        line, _, self.buf = self.buf.partition(b"\n")
        return line + b"\n"

    def reply(self):
        deadline = time.time() + TIMEOUT
        lines = []
        while True:
            line = self.line(deadline)
            lines.append(line)
            if len(line) < 4 or line[3:4] != b"-":
                err = esc_error(lines, self.replies == 0)
                self.replies += 1
                if err:
                    raise EOFError(err)
                return lines

    def expect_eof(self):
        deadline = time.time() + TIMEOUT
        while time.time() < deadline:
            data = self._fill(deadline)
            if data == b"":
                return None
            if data is None:
                break
            self.buf += data
        return "connection still open; got %r" % self.buf

    def silence(self, secs):
        data = self.buf
        deadline = time.time() + secs
        while time.time() < deadline:
            d = self._fill(deadline)
            if d is None:
                break
            if d == b"":
                return "connection closed during the silence"
            data += d
        return ("got %r" % data) if data else None

    def starttls(self):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        self.sock = ctx.wrap_socket(self.sock)


def run(host, port, path):
    conn = Conn(host, port, os.environ.get("DIALOG_SOURCE") or None)
    held = []
    with open(path, encoding="utf-8", errors="surrogateescape") as f:
        lines = f.read().split("\n")
    for num, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        where = "%s:%d: %s" % (path, num, line)
        try:
            if line.startswith(">>"):
                conn.send(unescape(subst(line[2:].lstrip(" "))))
            elif line.startswith(">"):
                conn.send(unescape(subst(line[1:].lstrip(" "))) + b"\r\n")
            elif line.startswith("<*"):
                pat = subst(line[2:].strip())
                got = conn.reply()
                if not any(re.match(pat, l.decode("utf-8", "replace")) for l in got):
                    return "%s\n  got: %r" % (where, got)
            elif line.startswith("<"):
                arg = line[1:].strip()
                if arg == "EOF":
                    err = conn.expect_eof()
                    if err:
                        return "%s\n  %s" % (where, err)
                elif arg.startswith("SILENCE"):
                    err = conn.silence(float(arg.split()[1]))
                    if err:
                        return "%s\n  %s" % (where, err)
                else:
                    pat = subst(arg)
                    got = conn.reply()
                    last = got[-1].decode("utf-8", "replace")
                    if not last.endswith("\r\n"):
                        return "%s\n  reply line not ended by CRLF: %r" % (where, got)
                    if not re.match(pat, last):
                        return "%s\n  got: %r" % (where, got)
            elif line.startswith("connect"):
                parts = line.split()
                conn = Conn(host, port, parts[1] if len(parts) > 1 else None)
            elif line == "keep":
                held.append(conn)
            elif line == "tls":
                conn.starttls()
            elif line.startswith("sleep"):
                time.sleep(float(line.split()[1]))
            elif line.startswith("fill"):
                _, n, text = line.split(None, 2)
                conn.send(unescape(subst(text)) + b"x" * int(n) + b"\r\n")
            elif line.startswith("repeat"):
                _, n, text = line.split(None, 2)
                conn.send((unescape(subst(text)) + b"\r\n") * int(n))
            else:
                return "%s\n  unknown script line" % where
        except (TimeoutError, EOFError, OSError) as e:
            return "%s\n  %s" % (where, e)
    return None


def main():
    if len(sys.argv) < 4:
        print("usage: smtp_dialog.py HOST PORT SCRIPT...", file=sys.stderr)
        return 64
    failed = 0
    for path in sys.argv[3:]:
        err = run(sys.argv[1], int(sys.argv[2]), path)
        if err:
            print("FAIL %s" % err)
            failed += 1
        else:
            print("ok   %s" % path)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
