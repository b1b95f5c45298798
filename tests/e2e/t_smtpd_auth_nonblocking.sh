#!/bin/sh
# t_smtpd_auth_nonblocking.sh - AUTH never stalls the event loop: against
# a real Dovecot (which holds every failure back for auth_failure_delay,
# 6 s here), while one connection's wrong password is being checked,
# other connections are greeted and get their EHLO and NOOP answers at
# once, and a second client's right password is accepted before the first
# client's failure is answered. The order of events, not a tight timing
# bound, is what is checked.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/smtpd_lib.sh"
. "$(dirname "$0")/dovecot.sh"

why=$(dc_available) || skip "$why"
tern_instance
make_cert
d=$TERN_DIR/dovecot
at_cleanup "dc_stop '$d'"
# Dovecot holds a failed AUTH's answer 6 s (its default is 2): the other
# sessions must be over within that time, TLS handshakes included, which
# 2 s less the client's head start may not leave a sanitizer
# build on a loaded machine.
DC_FAILURE_DELAY=6 dc_start "$d" || fail "dovecot did not start"
TLS="-o smtpd_tls_cert_file=$TERN_DIR/cert.pem -o smtpd_tls_key_file=$TERN_DIR/key.pem"

# The per-address slow-down is off here: only the backend's own delay counts.
# shellcheck disable=SC2086
smtpd_start $TLS -o smtpd_sasl_auth_enable=yes -o smtpd_sasl_type=dovecot \
	-o "smtpd_sasl_path=$DC_SOCK" -o smtpd_sasl_failure_delay=0

cat > "$TERN_DIR/order.py" <<'EOP'
# order.py PORT MIN_FAIL_SECONDS: one client fails AUTH; while its answer
# is pending, others connect, talk and authenticate. Prints the events.
import smtplib, ssl, sys, threading, time
port, min_fail = int(sys.argv[1]), float(sys.argv[2])
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
events = []
lock = threading.Lock()
def ev(name):
    with lock:
        events.append((time.monotonic(), name))

def tls_session():
    s = smtplib.SMTP("127.0.0.1", port, timeout=120)
    s.starttls(context=ctx)
    s.ehlo("client.example")
    return s

failing = tls_session()
result = {}
def fail_auth():
    ev("fail-sent")
    result["fail"] = failing.docmd("AUTH", "PLAIN AGFsaWNlAHdyb25n")	# alice / wrong
    ev("fail-answered")
t = threading.Thread(target=fail_auth)
t.start()
time.sleep(0.3)	# let the failing AUTH reach smtpd and Dovecot

other = smtplib.SMTP("127.0.0.1", port, timeout=120)	# connect + greeting
ev("other-greeted")
code, _ = other.ehlo("other.example")
assert code == 250, code
ev("other-ehlo")
code, _ = other.noop()
assert code == 250, code
ev("other-noop")
other.quit()

good = tls_session()
ev("good-sent")
result["good"] = good.docmd("AUTH", "PLAIN AGJvYgBodW50ZXIy")	# bob / hunter2
ev("good-answered")
good.quit()

t.join()
failing.quit()
events.sort()
t0 = events[0][0]
print(" ".join("%s@%.2f" % (n, at - t0) for at, n in events))
assert result["fail"][0] == 535, result
assert result["good"][0] == 235, result
order = [n for _, n in events]
answered = order.index("fail-answered")
for n in ("other-greeted", "other-ehlo", "other-noop", "good-answered"):
    assert order.index(n) < answered, ("%s came after the failing AUTH's answer" % n, order)
# The backend really did hold the failure back, or the order proves nothing.
took = dict((n, at) for at, n in events)
assert took["fail-answered"] - took["fail-sent"] >= min_fail, took
EOP

python3 "$TERN_DIR/order.py" "$SMTPD_PORT" 5 \
	|| { show_log; cat "$d/dovecot.log" >&2; fail "a failing AUTH against Dovecot held up other sessions"; }
grep -q 'warning: localhost\[127\.0\.0\.1\]: SASL PLAIN authentication failed' "$TERN_DIR/maillog" \
	|| { show_log; fail "no log line for the failed AUTH"; }

# Clients that leave while Dovecot still holds their answer, or pipeline a
# command behind AUTH: the session ends cleanly once the answer is in (the
# sanitizer build reports any use of a freed session), the others go on.
python3 - "$SMTPD_PORT" <<'EOP' || { show_log; fail "sessions that ended during an AUTH went wrong"; }
import smtplib, socket, ssl, sys, time
port = int(sys.argv[1])
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
import struct
for i in range(4):
    s = smtplib.SMTP("127.0.0.1", port, timeout=60)
    s.starttls(context=ctx); s.ehlo("leaver.example")
    s.send(b"AUTH PLAIN AGFsaWNlAHdyb25n\r\n")
    time.sleep(0.2)
    if i % 2:
        # A reset, which smtpd notices at once, while the step is on a worker.
        s.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.sock.close()	# gone before the answer
# AUTH with MAIL sent behind it (no PIPELINING allowed there): the AUTH is
# answered, then the session is refused for the pipelining.
s = smtplib.SMTP("127.0.0.1", port, timeout=60)
s.starttls(context=ctx); s.ehlo("pipeliner.example")
s.send(b"AUTH PLAIN AGJvYgBodW50ZXIy\r\nMAIL FROM:<bob@example.org>\r\n")
data = b""
deadline = time.monotonic() + 30
while time.monotonic() < deadline:
    chunk = s.sock.recv(4096)
    if not chunk:
        break
    data += chunk
lines = data.decode().split("\r\n")
assert lines[0].startswith("235 "), lines
assert lines[1].startswith("554 5.5.0"), lines
# Still serving.
t = smtplib.SMTP("127.0.0.1", port, timeout=60)
assert t.noop()[0] == 250
t.quit()
EOP
wait_for "the sessions that left during AUTH to end" \
	sh -c "[ \$(grep -c 'lost connection after AUTH from localhost' '$TERN_DIR/maillog') -ge 4 ]"
grep -q 'improper command pipelining after AUTH from localhost\[127\.0\.0\.1\]' "$TERN_DIR/maillog" \
	|| { show_log; fail "no log line for the command pipelined behind AUTH"; }
smtpd_stop
kill -0 "$(dc_pid "$d")" 2>/dev/null || fail "Dovecot died"
pass
