#!/usr/bin/env python3
"""smtp_peer.py - a scriptable SMTP server for Tern's end-to-end tests of
delivery to other servers: it announces the EHLO extensions it is told,
answers each recipient as it is told, and injects faults (a 421/554
greeting, a dropped connection or a stall at any stage, 4xx/5xx at any
stage). It records what the client sent: every raw byte (to check CRLF,
bare CR/LF and dot-stuffing on the wire) and one JSON line per message.
Runs as the test's user (root inside the test's network namespace for port
25); listens only on the address it is given. Standard library only.

  smtp_peer.py ADDR PORT [OPTION...]

  --name HOST          the name in the greeting and EHLO reply (peer.test)
  --ext EXT            an EHLO extension, repeatable; the default set is
                       PIPELINING 8BITMIME SMTPUTF8 DSN ENHANCEDSTATUSCODES.
                       Known ones change behaviour: PIPELINING, 8BITMIME,
                       SMTPUTF8, DSN (their MAIL/RCPT parameters are refused
                       with 555 when not announced), CHUNKING (BDAT),
                       "SIZE N" (MAIL SIZE= and the data over N refused with
                       552), STARTTLS (needs --cert/--key), AUTH (needs --auth)
  --no-ext             announce nothing but what other options add
  --cert F --key F     the certificate for STARTTLS (adds STARTTLS)
  --auth USER:PASS     accept AUTH PLAIN and LOGIN with these (adds
                       "AUTH PLAIN LOGIN")
  --require-auth       MAIL before a successful AUTH gets 530 5.7.0
  --auth-tls-only      AUTH only announced and accepted after STARTTLS
  --greeting 'CODE TEXT'  e.g. '421 4.3.2 busy' (then the connection is
                       closed) or '554 5.3.2 no' (then 503 to all but QUIT)
  --rcpt 'ADDR=CODE TEXT'  the reply to RCPT TO:<ADDR> (case-insensitive;
                       ADDR "*" for every other recipient), repeatable
  --reply 'STAGE=CODE TEXT'  the reply at STAGE: ehlo, helo, starttls, auth,
                       mail, rcpt (those --rcpt does not name), data (the
                       354), eod (after the end of data or BDAT LAST), bdat,
                       rset, noop, quit; any 421 reply closes the connection
                       after it is sent. A literal \n in TEXT (or in
                       --greeting, --rcpt) separates lines sent as they are:
                       '250-first\n250 last' is a multi-line reply
  --drop STAGE         close the connection instead of replying at STAGE;
                       STAGE "body" is mid-DATA (after the first line of
                       content), "greeting" before the greeting,
                       "handshake" after the 220 to STARTTLS (the TLS
                       handshake fails)
  --stall STAGE=SECS   wait SECS before replying at STAGE (or, for "body",
                       before reading on after the first line of content)
  --max-messages N     after N messages in one connection, MAIL gets 421
                       (the connection closes), as Postfix's
                       smtpd_client_message_rate_limit would
  --idle-421 SECS      after a message, a connection idle for SECS gets
                       an unasked "421 4.4.2 ... timeout" and is closed
                       (as Postfix's smtpd_timeout)
  --fault-count N      --greeting, --rcpt, --reply, --drop and --stall
                       apply to the first N connections only (0: all, the
                       default); later connections accept everything
  --rcvbuf BYTES       the receive buffer of the listening socket (and so of
                       every connection): with --stall body, a client with
                       a large message is kept from writing all of it
  --record FILE        one JSON line per message to FILE (see below), and
                       every byte received appended to FILE.raw (after
                       STARTTLS: the decrypted bytes)
  --ready FILE         written once the socket listens: the port, which
                       with PORT 0 is the one the system chose

JSON line fields: conn (connection number from 1: messages over one
connection share it), peer, helo, esmtp, tls (protocol version or null),
sni (the server name the client sent in its TLS hello, or null), auth (user or null), mail_from, mail_params
(dict), rcpts (list of {addr, params, reply}), accepted (addresses), data
(the content, dots unstuffed, UTF-8 with replacement), data_b64 (exact),
size, bdat (true if sent with BDAT), eight_bit (content has bytes > 127),
bare_lf, bare_cr (lone LF / CR in the content), pipelined (commands arrived
before an earlier reply was sent), starttls_injection (bytes after STARTTLS
in the same packet, discarded), reply (to the end of data). A message is
recorded once the peer has replied to its end of data (whatever the reply);
one dropped before that is not.
"""
import argparse
import base64
import json
import os
import select
import socket
import socketserver
import ssl
import sys
import threading
import time

STAGES = ("greeting", "ehlo", "helo", "starttls", "handshake", "auth", "mail", "rcpt",
          "data", "body", "eod", "bdat", "rset", "noop", "quit")
DEFAULT_EXT = ["PIPELINING", "8BITMIME", "SMTPUTF8", "DSN", "ENHANCEDSTATUSCODES"]
MAX_LINE = 8192


class Drop(Exception):
    """Close the connection now, without a reply."""


def parse_args():
    p = argparse.ArgumentParser(description="scriptable SMTP peer for tests")
    p.add_argument("addr")
    p.add_argument("port", type=int)
    p.add_argument("--name", default="peer.test")
    p.add_argument("--ext", action="append", default=None)
    p.add_argument("--no-ext", action="store_true")
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--auth")
    p.add_argument("--require-auth", action="store_true")
    p.add_argument("--auth-tls-only", action="store_true")
    p.add_argument("--greeting")
    p.add_argument("--rcpt", action="append", default=[])
    p.add_argument("--reply", action="append", default=[])
    p.add_argument("--drop", action="append", default=[], choices=STAGES)
    p.add_argument("--stall", action="append", default=[])
    p.add_argument("--fault-count", type=int, default=0)
    p.add_argument("--max-messages", type=int, default=0)
    p.add_argument("--idle-421", type=float, default=0)
    p.add_argument("--rcvbuf", type=int, default=0)
    p.add_argument("--record")
    p.add_argument("--ready")
    a = p.parse_args()
    ext = [] if a.no_ext else (a.ext if a.ext is not None else list(DEFAULT_EXT))
    if a.no_ext and a.ext:
        ext = a.ext
    if a.cert or a.key:
        if not (a.cert and a.key):
            p.error("--cert and --key go together")
        if "STARTTLS" not in [e.upper() for e in ext]:
            ext.append("STARTTLS")
    elif "STARTTLS" in [e.upper() for e in ext]:
        p.error("STARTTLS needs --cert and --key")
    if a.auth:
        if ":" not in a.auth:
            p.error("--auth USER:PASS")
        if not any(e.upper().startswith("AUTH") for e in ext):
            ext.append("AUTH PLAIN LOGIN")
    a.ext = ext
    a.rcpt_map = {}
    for r in a.rcpt:
        addr, sep, reply = r.partition("=")
        if not sep or not reply[:3].isdigit():
            p.error("--rcpt ADDR=CODE TEXT: %r" % r)
        a.rcpt_map[addr.lower()] = reply
    a.reply_map = {}
    for r in a.reply:
        st, sep, reply = r.partition("=")
        if not sep or st not in STAGES or not reply[:3].isdigit():
            p.error("--reply STAGE=CODE TEXT: %r" % r)
        a.reply_map[st] = reply
    a.stall_map = {}
    for r in a.stall:
        st, sep, secs = r.partition("=")
        if not sep or st not in STAGES:
            p.error("--stall STAGE=SECS: %r" % r)
        a.stall_map[st] = float(secs)
    return a


class Peer:
    """Shared state: options, the connection counter, the record files."""

    def __init__(self, opts):
        self.opts = opts
        self.lock = threading.Lock()
        self.conns = 0
        self.ctx = None
        if opts.cert:
            self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.ctx.load_cert_chain(opts.cert, opts.key)
            self.ctx.sni_callback = self.sni
        self.tls_local = threading.local()

    def sni(self, sslobj, name, ctx):
        """Remember the name the client asked for (its SNI), per thread."""
        self.tls_local.sni = name

    def next_conn(self):
        with self.lock:
            self.conns += 1
            return self.conns

    def raw(self, data):
        if self.opts.record and data:
            with self.lock, open(self.opts.record + ".raw", "ab") as f:
                f.write(data)

    def message(self, rec):
        if self.opts.record:
            with self.lock, open(self.opts.record, "a") as f:
                f.write(json.dumps(rec, sort_keys=True) + "\n")

    def log(self, n, text):
        print("%s conn %d: %s" % (time.strftime("%H:%M:%S"), n, text), flush=True)


class Session:
    def __init__(self, peer, sock, addr):
        self.peer, self.sock, self.o = peer, sock, peer.opts
        self.n = peer.next_conn()
        self.faulty = self.o.fault_count == 0 or self.n <= self.o.fault_count
        self.buf = bytearray()
        self.addr = addr
        self.helo, self.esmtp, self.tls, self.user = None, False, None, None
        self.sni, self.messages = None, 0
        self.pipelined = False
        self.injection = False
        self.reset()

    def reset(self):
        self.mail_from, self.mail_params, self.rcpts = None, {}, []
        self.chunks = None

    # Input: a line or N bytes, each recorded raw as it arrives.
    def fill(self):
        try:
            data = self.sock.recv(65536)
        except (OSError, ssl.SSLError):
            data = b""
        if not data:
            raise Drop()
        self.peer.raw(data)
        self.buf += data

    def line(self):
        while b"\n" not in self.buf:
            if len(self.buf) > MAX_LINE:
                raise Drop()
            self.fill()
        i = self.buf.index(b"\n") + 1
        ln = bytes(self.buf[:i])
        del self.buf[:i]
        return ln

    def exact(self, n):
        while len(self.buf) < n:
            self.fill()
        data = bytes(self.buf[:n])
        del self.buf[:n]
        return data

    # Output: the configured fault for STAGE, or REPLY.
    def ext(self, name):
        return any(e.upper().split()[0] == name for e in self.o.ext)

    def fault(self, stage):
        if not self.faulty:
            return
        if stage in self.o.stall_map:
            self.peer.log(self.n, "stall %gs at %s" % (self.o.stall_map[stage], stage))
            time.sleep(self.o.stall_map[stage])
        if stage in self.o.drop:
            self.peer.log(self.n, "drop at %s" % stage)
            raise Drop()

    def reply(self, stage, text, fixed=False):
        """Send TEXT (or --reply's text for STAGE unless FIXED) after the
        stage's stall or drop."""
        self.fault(stage)
        if self.faulty and not fixed and stage in self.o.reply_map:
            text = self.o.reply_map[stage]
        if stage not in ("greeting", "body") and self.buf:
            self.pipelined = True
        self.send(text)
        if text.startswith("421"):
            raise Drop()
        return text

    def send(self, text):
        try:
            self.sock.sendall(text.replace("\\n", "\r\n").encode() + b"\r\n")
        except OSError:
            raise Drop()

    def run(self):
        self.peer.log(self.n, "from %s" % (self.addr,))
        try:
            self.fault("greeting")
            greeting = "220 %s ESMTP smtp_peer" % self.o.name
            if self.faulty and self.o.greeting:
                greeting = self.o.greeting
            self.send(greeting)
            if greeting.startswith("421"):
                return
            refused = greeting.startswith("5")
            while True:
                if self.o.idle_421 and self.messages > 0 and not self.buf:
                    pending = isinstance(self.sock, ssl.SSLSocket) and self.sock.pending()
                    if not pending and not select.select([self.sock], [], [], self.o.idle_421)[0]:
                        self.peer.log(self.n, "idle 421")
                        self.send("421 4.4.2 %s Error: timeout exceeded" % self.o.name)
                        return
                ln = self.line()
                cmd = ln.rstrip(b"\r\n").decode("utf-8", "replace")
                verb = cmd.split(" ", 1)[0].upper()
                arg = cmd[len(verb):].strip()
                if verb == "QUIT":
                    self.reply("quit", "221 2.0.0 Bye")
                    return
                if refused:
                    self.reply("noop", "503 5.5.1 Error: no service")
                    continue
                handler = getattr(self, "do_" + verb.lower(), None)
                if handler is None:
                    self.reply("noop", "502 5.5.2 Error: command not recognized")
                else:
                    handler(arg)
        except Drop:
            pass
        finally:
            self.peer.log(self.n, "closed")
            try:
                self.sock.close()
            except OSError:
                pass

    def ehlo_lines(self):
        out = []
        for e in self.o.ext:
            u = e.upper()
            if u == "STARTTLS" and self.tls:
                continue
            if u.startswith("AUTH") and self.o.auth_tls_only and not self.tls:
                continue
            out.append(e)
        return out

    def do_ehlo(self, arg):
        self.reset()
        self.helo, self.esmtp = arg, True
        if self.faulty and "ehlo" in self.o.reply_map:
            self.reply("ehlo", "")
            return
        lines = [self.o.name] + self.ehlo_lines()
        self.fault("ehlo")
        if self.buf:
            self.pipelined = True
        self.send("\r\n".join("250%s%s" % ("-" if i < len(lines) - 1 else " ", l)
                              for i, l in enumerate(lines)))

    def do_helo(self, arg):
        self.reset()
        self.helo, self.esmtp = arg, False
        self.reply("helo", "250 %s" % self.o.name)

    def do_noop(self, arg):
        self.reply("noop", "250 2.0.0 Ok")

    def do_rset(self, arg):
        self.reset()
        self.reply("rset", "250 2.0.0 Ok")

    def do_starttls(self, arg):
        if not self.esmtp or not self.ext("STARTTLS") or self.tls:
            self.reply("starttls", "502 5.5.1 STARTTLS not available")
            return
        text = self.reply("starttls", "220 2.0.0 Ready to start TLS")
        if not text.startswith("220"):
            return
        self.fault("handshake")
        if self.buf:
            self.injection = True
            self.buf.clear()
        try:
            self.sock = self.peer.ctx.wrap_socket(self.sock, server_side=True)
        except (OSError, ssl.SSLError) as e:
            self.peer.log(self.n, "TLS handshake failed: %s" % e)
            raise Drop()
        self.tls = self.sock.version()
        self.sni = getattr(self.peer.tls_local, "sni", None)
        self.peer.tls_local.sni = None
        self.peer.log(self.n, "TLS %s" % self.tls)
        self.helo, self.esmtp = None, False
        self.reset()

    def do_auth(self, arg):
        if (not self.o.auth or not self.esmtp or self.user
                or (self.o.auth_tls_only and not self.tls)):
            self.reply("auth", "503 5.5.1 Error: authentication not enabled")
            return
        parts = arg.split()
        mech = parts[0].upper() if parts else ""
        if mech == "PLAIN":
            resp = parts[1] if len(parts) > 1 else None
            if resp is None:
                self.send("334 ")
                resp = self.line().strip().decode("ascii", "replace")
            try:
                _, user, pw = base64.b64decode(resp).decode().split("\0")
            except ValueError:
                self.reply("auth", "501 5.5.2 Error: bad PLAIN response")
                return
        elif mech == "LOGIN":
            try:
                if len(parts) > 1:
                    user = base64.b64decode(parts[1]).decode()
                else:
                    self.send("334 VXNlcm5hbWU6")
                    user = base64.b64decode(self.line().strip()).decode()
                self.send("334 UGFzc3dvcmQ6")
                pw = base64.b64decode(self.line().strip()).decode()
            except ValueError:
                self.reply("auth", "501 5.5.2 Error: bad LOGIN response")
                return
        else:
            self.reply("auth", "504 5.5.4 Unrecognized authentication type")
            return
        if "%s:%s" % (user, pw) == self.o.auth:
            self.user = user
            self.reply("auth", "235 2.7.0 Authentication successful")
        else:
            self.reply("auth", "535 5.7.8 Error: authentication failed")

    def params(self, text):
        """'<addr> K=V K2' -> (addr, {K: V, K2: None}) or None."""
        text = text.strip()
        if not text.startswith("<") or ">" not in text:
            return None
        i = text.index(">")
        out = {}
        for p in text[i + 1:].split():
            k, sep, v = p.partition("=")
            out[k.upper()] = v if sep else None
        return text[1:i], out

    def unsupported(self, params):
        need = {"BODY": "8BITMIME", "SMTPUTF8": "SMTPUTF8", "RET": "DSN", "ENVID": "DSN",
                "NOTIFY": "DSN", "ORCPT": "DSN", "SIZE": "SIZE", "AUTH": "AUTH"}
        for k in params:
            if k not in need or not self.ext(need[k]):
                return k
        return None

    def size_limit(self):
        for e in self.o.ext:
            w = e.split()
            if w[0].upper() == "SIZE" and len(w) > 1 and w[1].isdigit() and int(w[1]) > 0:
                return int(w[1])
        return 0

    def do_mail(self, arg):
        if not arg.upper().startswith("FROM:"):
            self.reply("mail", "501 5.5.4 Syntax: MAIL FROM:<address>")
            return
        p = self.params(arg[5:])
        if p is None:
            self.reply("mail", "501 5.1.7 Bad sender address syntax")
        elif self.mail_from is not None:
            self.reply("mail", "503 5.5.1 Error: nested MAIL command")
        elif self.o.max_messages and self.messages >= self.o.max_messages:
            self.reply("mail", "421 4.7.0 %s Error: too many messages" % self.o.name, True)
        elif self.o.require_auth and not self.user:
            self.reply("mail", "530 5.7.0 Authentication required")
        elif p[1] and not self.esmtp:
            self.reply("mail", "555 5.5.4 Unsupported option: %s" % next(iter(p[1])))
        elif self.unsupported(p[1]):
            self.reply("mail", "555 5.5.4 Unsupported option: %s" % self.unsupported(p[1]))
        elif (self.size_limit() and (p[1].get("SIZE") or "0").isdigit()
              and int(p[1].get("SIZE") or 0) > self.size_limit()):
            self.reply("mail", "552 5.3.4 Message size exceeds fixed limit")
        else:
            text = self.reply("mail", "250 2.1.0 Ok")
            if text.startswith("2"):
                self.mail_from, self.mail_params = p

    def do_rcpt(self, arg):
        if not arg.upper().startswith("TO:"):
            self.reply("rcpt", "501 5.5.4 Syntax: RCPT TO:<address>")
            return
        p = self.params(arg[3:])
        if self.mail_from is None:
            self.reply("rcpt", "503 5.5.1 Error: need MAIL command")
            return
        if p is None:
            self.reply("rcpt", "501 5.1.3 Bad recipient address syntax")
            return
        bad = self.unsupported(p[1])
        if bad:
            self.reply("rcpt", "555 5.5.4 Unsupported option: %s" % bad)
            return
        text, fixed = "250 2.1.5 Ok", False
        if self.faulty:
            for key in (p[0].lower(), "*"):
                if key in self.o.rcpt_map:
                    text, fixed = self.o.rcpt_map[key], True
                    break
        text = self.reply("rcpt", text, fixed)
        self.rcpts.append({"addr": p[0], "params": p[1], "reply": text})

    def accepted(self):
        return [r["addr"] for r in self.rcpts if r["reply"].startswith("2")]

    def do_data(self, arg):
        if self.mail_from is None or self.chunks is not None:
            self.reply("data", "503 5.5.1 Error: need MAIL command")
            return
        if not self.accepted():
            self.reply("data", "554 5.5.1 Error: no valid recipients")
            return
        if not self.reply("data", "354 End data with <CR><LF>.<CR><LF>").startswith("3"):
            return
        lines = []
        while True:
            ln = self.line()
            # Only CRLF.CRLF ends the data (a bare LF one would let a
            # broken client pass): the raw record shows what was sent.
            if ln == b".\r\n":
                break
            if not lines:
                self.fault("body")
            lines.append(ln[1:] if ln.startswith(b".") else ln)
        self.finish(b"".join(lines), False)

    def do_bdat(self, arg):
        w = arg.split()
        if not self.ext("CHUNKING") or not w or not w[0].isdigit() or len(w) > 2 or (
                len(w) == 2 and w[1].upper() != "LAST"):
            self.reply("bdat", "501 5.5.4 Syntax: BDAT size [LAST]")
            return
        data = self.exact(int(w[0]))
        if self.mail_from is None or not self.accepted():
            self.reply("bdat", "503 5.5.1 Error: need MAIL and RCPT")
            return
        if self.chunks is None:
            self.chunks = []
            self.fault("body")
        self.chunks.append(data)
        if len(w) == 2:
            self.finish(b"".join(self.chunks), True)
        else:
            self.reply("bdat", "250 2.0.0 %d octets received" % len(data))

    def finish(self, data, bdat):
        limit = self.size_limit()
        if limit and len(data) > limit:
            text = self.reply("eod", "552 5.3.4 Message size exceeds fixed limit")
        else:
            text = self.reply("eod", "250 2.0.0 Ok: queued as P%d" % self.n)
        content = data.replace(b"\r\n", b"")
        rec = {
            "conn": self.n, "peer": "%s" % (self.addr[0],), "helo": self.helo,
            "esmtp": self.esmtp, "tls": self.tls, "sni": self.sni, "auth": self.user,
            "mail_from": self.mail_from, "mail_params": self.mail_params,
            "rcpts": self.rcpts, "accepted": self.accepted(),
            "data": data.decode("utf-8", "replace"),
            "data_b64": base64.b64encode(data).decode(), "size": len(data),
            "bdat": bdat, "eight_bit": any(b > 127 for b in data),
            "bare_lf": b"\n" in content, "bare_cr": b"\r" in content,
            "pipelined": self.pipelined, "starttls_injection": self.injection,
            "reply": text,
        }
        self.messages += 1
        self.peer.message(rec)
        self.peer.log(self.n, "message from <%s> to %s: %s" % (self.mail_from, rec["accepted"], text))
        self.reset()


def main():
    opts = parse_args()
    peer = Peer(opts)

    class Handler(socketserver.BaseRequestHandler):
        def handle(self):
            self.request.settimeout(300)
            Session(peer, self.request, self.client_address).run()

    class Server(socketserver.ThreadingTCPServer):
        allow_reuse_address = True
        daemon_threads = True
        address_family = socket.AF_INET6 if ":" in opts.addr else socket.AF_INET

        def server_bind(self):
            if opts.rcvbuf:
                self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, opts.rcvbuf)
            super().server_bind()

    srv = Server((opts.addr, opts.port), Handler)
    port = srv.server_address[1]
    print("listening on %s port %d" % (opts.addr, port), flush=True)
    if opts.ready:
        # Written whole under another name, then renamed: a reader never
        # sees it empty.
        with open(opts.ready + ".tmp", "w") as f:
            f.write("%d\n" % port)
        os.rename(opts.ready + ".tmp", opts.ready)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
