#!/bin/sh
# t_smtpd_slow.sh - slow and greedy clients: smtpd_timeout bounds a whole
# command line from its first byte and message content through
# smtpd_min_data_rate (a client that trickles a byte now and then is
# closed all the same), smtpd_session_time_limit bounds a session, and
# at the descriptor limit new clients get 421 4.3.2 and a log line
# instead of silence; on an implicit TLS listener each of these 421s is
# sent inside TLS.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/smtpd_lib.sh"

tern_instance

# trickle PORT WHAT: connect, then send WHAT's bytes one at a time, one
# per 0.5s (well inside smtpd_timeout=2s; BDAT and NOOP: a whole
# command each time); print the seconds until the
# server closed and the last reply line.
trickle() {
	python3 - "$@" <<'EOP'
import socket, sys, time
port, what = int(sys.argv[1]), sys.argv[2]
s = socket.create_connection(("127.0.0.1", port), timeout=30)
f = s.makefile("rb")
assert f.readline().startswith(b"220 ")
def cmd(line):
    s.sendall(line + b"\r\n")
    while True:
        r = f.readline()
        if r[3:4] != b"-":
            return r
if what == "line":
    slow = [bytes([b]) for b in b"EHLO " + b"x" * 40 + b"\r\n"]
elif what in ("data", "bdat"):
    assert cmd(b"EHLO slow.example").startswith(b"250")
    assert cmd(b"MAIL FROM:<s@example.org>").startswith(b"250")
    assert cmd(b"RCPT TO:<postmaster@localhost>").startswith(b"250")
    if what == "data":
        assert cmd(b"DATA").startswith(b"354")
        slow = [bytes([b]) for b in b"Subject: slow\r\n\r\n" + b"x" * 100]
    else:
        slow = [b"BDAT 1\r\nx"] * 40
elif what == "session":
    slow = [b"NOOP\r\n"] * 40
start = time.time()
last = b""
closed = False
for piece in slow:
    try:
        s.sendall(piece)
    except OSError:
        break
    time.sleep(0.5)
    s.setblocking(False)
    try:
        got = s.recv(4096)
    except BlockingIOError:
        continue
    except OSError:
        break
    finally:
        s.setblocking(True)
    if got == b"":
        break
    last = got.strip().split(b"\r\n")[-1]
    if last.startswith(b"421"):
        # The close follows the 421: an EOF, or a reset when a byte we
        # sent after it was still unread when smtpd closed (TCP's rule).
        s.settimeout(5)
        try:
            while s.recv(4096):
                pass
        except ConnectionResetError:
            pass
        break
print("%.1f %s" % (time.time() - start, last.decode(errors="replace")))
EOP
}

smtpd_start -o smtpd_timeout=2s -o smtpd_min_data_rate=500
r=$(trickle "$SMTPD_PORT" line) || { show_log; fail "the line trickle client failed"; }
set -- $r
[ "${1%.*}" -lt 6 ] || fail "a trickled command line kept the session for $1 s"
case "$*" in *"421 4.4.2 $MYHOST Error: timeout exceeded"*) ;; *) fail "no 421 after a trickled line: $*";; esac
grep -q 'timeout after CONNECT from localhost\[127\.0\.0\.1\]' "$TERN_DIR/maillog" \
	|| { show_log; fail "no timeout log line for the trickled line"; }

r=$(trickle "$SMTPD_PORT" data) || { show_log; fail "the data trickle client failed"; }
set -- $r
[ "${1%.*}" -lt 6 ] || fail "trickled DATA content kept the session for $1 s"
case "$*" in *"421 4.4.2 $MYHOST Error: timeout exceeded"*) ;; *) fail "no 421 after trickled DATA: $*";; esac
grep -Eq 'timeout after DATA \([0-9]+ bytes\) from localhost\[127\.0\.0\.1\]' "$TERN_DIR/maillog" \
	|| { show_log; fail "no 'timeout after DATA (N bytes)' log line"; }

r=$(trickle "$SMTPD_PORT" bdat) || { show_log; fail "the bdat trickle client failed"; }
set -- $r
[ "${1%.*}" -lt 6 ] || fail "trickled BDAT chunks kept the session for $1 s"
case "$*" in *"421 4.4.2 $MYHOST Error: timeout exceeded"*) ;; *) fail "no 421 after trickled BDAT: $*";; esac
grep -Eq 'timeout after BDAT \([0-9]+ bytes\) from localhost\[127\.0\.0\.1\]' "$TERN_DIR/maillog" \
	|| { show_log; fail "no 'timeout after BDAT (N bytes)' log line"; }
[ "$(queued_count 'Subject: slow')" = 0 ] || fail "a timed-out message was queued"

# A client quick enough never times out: content at a good rate, lines at once.
python3 - "$SMTPD_PORT" <<'EOP' || fail "a steady client was cut off"
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=30)
f = s.makefile("rb")
assert f.readline().startswith(b"220 ")
def cmd(line):
    s.sendall(line + b"\r\n")
    while True:
        r = f.readline()
        if r[3:4] != b"-":
            return r
for c in (b"EHLO steady.example", b"MAIL FROM:<s@example.org>", b"RCPT TO:<postmaster@localhost>"):
    assert cmd(c).startswith(b"250"), c
assert cmd(b"DATA").startswith(b"354")
s.sendall(b"Subject: steady\r\n\r\n")
# 4 s of content (twice smtpd_timeout), 2000 bytes per 0.5 s (above 500 bytes/s).
for i in range(8):
    s.sendall((b"y" * 998 + b"\r\n") * 2)
    time.sleep(0.5)
r = cmd(b".")
assert r.startswith(b"250"), r
assert cmd(b"QUIT").startswith(b"221")
EOP
[ "$(queued_count 'Subject: steady')" = 1 ] || fail "the steady message was not queued"
smtpd_stop

# The session's total time: commands that each come in time, for longer than the limit.
smtpd_start -o smtpd_timeout=2s -o smtpd_session_time_limit=3s
r=$(trickle "$SMTPD_PORT" session) || { show_log; fail "the session trickle client failed"; }
set -- $r
[ "${1%.*}" -lt 7 ] || fail "a session lasted $1 s with a 3 s limit"
case "$*" in *"421 4.4.2 $MYHOST Error: session time limit exceeded"*) ;; *) fail "no 421 at the session limit: $*";; esac
grep -q 'session time limit exceeded after NOOP from localhost\[127\.0\.0\.1\]' "$TERN_DIR/maillog" \
	|| { show_log; fail "no session limit log line"; }
smtpd_stop

# The descriptor limit: smtpd started with few descriptors (hard limit too,
# since smtpd raises its soft limit to the hard one); clients beyond get 421.
SMTPD_BIN_REAL=$SMTPD_BIN
SMTPD_BIN="$TERN_DIR/smtpd-lowfd"
cat >"$SMTPD_BIN" <<EOW
#!/bin/sh
exec python3 -c 'import os, resource, sys; resource.setrlimit(resource.RLIMIT_NOFILE, (40, 40)); os.execv(sys.argv[1], sys.argv[1:])' "$SMTPD_BIN_REAL" "\$@"
EOW
chmod +x "$SMTPD_BIN"
smtpd_start
python3 - "$SMTPD_PORT" <<'EOP' || { show_log; fail "no 421 at the descriptor limit"; }
import socket, sys
port = int(sys.argv[1])
held, refused = [], None
for i in range(60):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    line = s.makefile("rb").readline()
    if line.startswith(b"220 "):
        held.append(s)
        continue
    refused = line
    break
assert refused is not None, "60 sessions and none refused"
assert refused.startswith(b"421 4.3.2 "), refused
assert 10 < len(held) < 40, len(held)
# The sessions held still work, and once one leaves a new client is served.
s = held.pop()
s.sendall(b"QUIT\r\n")
s.makefile("rb").readline()
s.close()
import time
for i in range(50):
    t = socket.create_connection(("127.0.0.1", port), timeout=10)
    if t.makefile("rb").readline().startswith(b"220 "):
        break
    t.close()
    time.sleep(0.1)
else:
    raise SystemExit("no 220 after a session left")
EOP
grep -Eq 'warning: connection from \[127\.0\.0\.1\] refused with 421: out of descriptors' "$TERN_DIR/maillog" \
	|| { show_log; fail "no log line for the refused connection"; }
smtpd_stop

# Implicit TLS (465): every 421 goes out inside TLS, after the handshake,
# never in clear text (which the client's TLS would take for a broken
# handshake): at the descriptor limit, at the idle timeout and at the
# session time limit. A client that never starts its handshake is closed
# without a byte.
make_cert
: >"$TERN_DIR/maillog"
smtpd_start -o smtpd_tls_cert_file="$TERN_DIR/cert.pem" -o smtpd_tls_key_file="$TERN_DIR/key.pem" \
	-o smtpd_tls_wrappermode=yes -o smtpd_timeout=2s -o smtpd_starttls_timeout=2s
python3 - "$SMTPD_PORT" <<'EOP' || { show_log; fail "a 421 on the implicit TLS listener was not inside TLS"; }
import socket, ssl, sys, time
port = int(sys.argv[1])
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
def tls():
    raw = socket.create_connection(("127.0.0.1", port), timeout=20)
    s = ctx.wrap_socket(raw)	# raises on a plaintext reply
    return s, s.makefile("rb")
held, refused = [], None
for i in range(60):
    s, f = tls()
    line = f.readline()
    if line.startswith(b"220 "):
        held.append(s)
        continue
    refused = line
    break
assert refused is not None, "60 sessions and none refused"
assert refused.startswith(b"421 4.3.2 "), refused
assert 10 < len(held) < 40, len(held)
for s in held:
    s.close()
# Idle past smtpd_timeout, then a session that keeps talking past the session limit.
time.sleep(1)
for i in range(50):
    try:
        s, f = tls()
        if f.readline().startswith(b"220 "):
            break
    except (ssl.SSLError, OSError):
        pass
    time.sleep(0.2)
else:
    raise SystemExit("no 220 once the sessions left")
start = time.time()
line = f.readline()
assert line.startswith(b"421 4.4.2 ") and b"timeout exceeded" in line, line
assert time.time() - start < 6, time.time() - start
# No handshake at all: closed without a byte after smtpd_starttls_timeout.
raw = socket.create_connection(("127.0.0.1", port), timeout=20)
assert raw.recv(100) == b"", "bytes in clear text on the implicit TLS listener"
EOP
smtpd_stop
smtpd_start -o smtpd_tls_cert_file="$TERN_DIR/cert.pem" -o smtpd_tls_key_file="$TERN_DIR/key.pem" \
	-o smtpd_tls_wrappermode=yes -o smtpd_timeout=2s -o smtpd_session_time_limit=3s
python3 - "$SMTPD_PORT" <<'EOP' || { show_log; fail "the session limit 421 on implicit TLS"; }
import socket, ssl, sys, time
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=20))
f = s.makefile("rb")
assert f.readline().startswith(b"220 ")
for i in range(20):
    s.sendall(b"NOOP\r\n")
    line = f.readline()
    if not line.startswith(b"250"):
        break
    time.sleep(0.5)
assert line.startswith(b"421 4.4.2 ") and b"session time limit exceeded" in line, line
EOP
smtpd_stop
pass
