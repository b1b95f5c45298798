#!/bin/sh
# t_smtpd_dns.sh - the DNS lookups of reject_unknown_recipient_domain and
# reject_unknown_sender_domain never stall the event loop. smtpd is
# pointed (smtpd_dns_servers) at the test's own name server on a
# loopback port (slow_dns.py), which answers for slow.test only, each
# answer after DELAY seconds; the system's resolver configuration is not
# touched. While one session waits for its RCPT answers, with MAIL, more
# RCPTs and DATA pipelined behind, a second session is greeted and gets a
# whole transaction answered; the first then gets every reply in order,
# each verdict right (a domain that exists is taken, an NXDOMAIN one gets
# 450 4.1.2, a local one needs no DNS), and its message holds exactly the
# accepted recipients. A sender whose domain does not exist gets 450
# 4.1.8 (looked up once for the session, not per recipient), and
# clients that leave while their lookup is out end cleanly.
# The order of events, not a tight timing bound, is what is checked.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/smtpd_lib.sh"

# B's whole transaction (its DATA's fsync included) must fit in the wait
# for A's first answer: 1.5 s (less the client's 0.3 s head start) may
# not, on a busy disk and a loaded machine; 3 s is still under libunbound's
# first retry (unknown-server-time-limit, 5 s: lib/mail/dns.c), so each
# name is asked once.
DELAY=3
tern_instance
dns=$TERN_DIR/dns
mkdir "$dns"
python3 "$TERN_TOP/tests/e2e/slow_dns.py" "$dns/port" "$dns/queries" "$DELAY" 2>"$dns/err" &
dns_pid=$!
at_cleanup "kill $dns_pid"
wait_for "the test's name server" test -s "$dns/port"
DNS_PORT=$(cat "$dns/port")

smtpd_start -o "smtpd_dns_servers=127.0.0.1:$DNS_PORT" -o smtpd_dns_threads=2 \
	-o "smtpd_sender_restrictions=reject_unknown_sender_domain" \
	-o "smtpd_recipient_restrictions=reject_unknown_recipient_domain, permit"

cat > "$TERN_DIR/order.py" <<'EOP'
# order.py PORT DELAY: session A pipelines a transaction whose recipients
# need the (slow) DNS; meanwhile session B runs a whole transaction that
# needs none. Prints the events, checks order and replies.
import smtplib, socket, sys, threading, time
port, delay = int(sys.argv[1]), float(sys.argv[2])
events = []
lock = threading.Lock()
def ev(name):
    with lock:
        events.append((time.monotonic(), name))

def read_replies(sock, n, deadline=120):
    """n complete replies (multi-line ones joined), as (code, text) pairs."""
    data, replies = b"", []
    end = time.monotonic() + deadline
    while len(replies) < n and time.monotonic() < end:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
        while b"\r\n" in data:
            line, data = data.split(b"\r\n", 1)
            line = line.decode()
            if line[3:4] != "-":
                replies.append((int(line[:3]), line))
                ev("a-reply-%d" % len(replies))
    return replies

a = socket.create_connection(("127.0.0.1", port), timeout=120)
assert read_replies(a, 1)[0][0] == 220
a.sendall(b"EHLO a.example\r\n")
assert read_replies(a, 1)[0][0] == 250
events.clear()
ev("a-sent")
a.sendall(b"MAIL FROM:<a@localhost>\r\n"
          b"RCPT TO:<u@exists.slow.test>\r\n"
          b"RCPT TO:<v@nx1.slow.test>\r\n"
          b"RCPT TO:<postmaster@localhost>\r\n"
          b"DATA\r\n")
result = {}
def a_replies():
    result["a"] = read_replies(a, 5)
t = threading.Thread(target=a_replies)
t.start()
time.sleep(0.3)		# let session A's first RCPT reach the name server

b = smtplib.SMTP("127.0.0.1", port, timeout=120)
ev("b-greeted")
assert b.ehlo("b.example")[0] == 250
assert b.mail("b@localhost")[0] == 250
assert b.rcpt("postmaster@localhost")[0] == 250
code, _ = b.data(b"Subject: from b\r\n\r\nb\r\n")
assert code == 250, code
ev("b-queued")
b.quit()
t.join()

replies = result["a"]
print(" ".join("%s@%.2f" % (n, at - events[0][0]) for at, n in sorted(events)))
print(replies)
codes = [c for c, _ in replies]
assert codes == [250, 250, 450, 250, 354], replies
assert replies[2][1].startswith("450 4.1.2 <v@nx1.slow.test>: Recipient address rejected: Domain not found"), replies
order = [n for _, n in sorted(events)]
# MAIL is answered at once; the first RCPT waits for the DNS, and B's whole
# transaction fits in that wait.
first_rcpt = order.index("a-reply-2")
for n in ("b-greeted", "b-queued"):
    assert order.index(n) < first_rcpt, ("%s came after A's RCPT answer" % n, order)
took = dict((n, at) for at, n in events)
assert took["a-reply-2"] - took["a-sent"] >= delay * 0.9, took	# the DNS really was slow
a.sendall(b"Subject: from a\r\n\r\na\r\n.\r\nQUIT\r\n")
r = read_replies(a, 2)
assert r[0][0] == 250 and r[1][0] == 221, r
a.close()
EOP

python3 "$TERN_DIR/order.py" "$SMTPD_PORT" "$DELAY" \
	|| { show_log; cat "$dns/err" >&2; fail "a slow name server held up another session, or a verdict was wrong"; }
grep -qx 'exists.slow.test 15' "$dns/queries" || fail "smtpd did not ask the test's name server"
grep -q 'NOQUEUE: reject: RCPT from localhost\[127\.0\.0\.1\]: 450 4\.1\.2 <v@nx1\.slow\.test>' "$TERN_DIR/maillog" \
	|| { show_log; fail "no log line for the unknown recipient domain"; }
[ "$(queued_count 'from a')" -eq 1 ] || { show_log; fail "session A's message is not queued once"; }
f=$(queued_with 'from a')
grep -q 'u@exists.slow.test' "$f" || fail "the recipient whose domain exists is missing"
grep -q 'postmaster@localhost' "$f" || fail "the local recipient is missing"
! grep -q 'nx1.slow.test' "$f" || fail "the refused recipient was queued"
[ "$(queued_count 'from b')" -eq 1 ] || fail "session B's message is not queued"

# A sender domain that does not exist (judged at RCPT: smtpd_delay_reject
# = yes); and clients that leave, or reset, while their lookup is out:
# the sessions end once the answers are in (the sanitizer build reports
# any use of a freed session) and smtpd goes on serving.
python3 - "$SMTPD_PORT" <<'EOP' || { show_log; fail "unknown sender domain, or sessions that left during a lookup"; }
import smtplib, socket, struct, sys, time
port = int(sys.argv[1])
s = smtplib.SMTP("127.0.0.1", port, timeout=60)
s.ehlo("c.example")
assert s.mail("x@nx2.slow.test")[0] == 250
code, msg = s.rcpt("postmaster@localhost")
assert code == 450 and msg.startswith(b"4.1.8 <x@nx2.slow.test>: Sender address rejected: Domain not found"), (code, msg)
# The session keeps the answer: a second recipient does not ask again.
code, msg = s.rcpt("abuse@localhost")
assert code == 450 and msg.startswith(b"4.1.8 <x@nx2.slow.test>"), (code, msg)
s.quit()
def until(sock, last):
    data = b""
    while not data.endswith(last):
        chunk = sock.recv(4096)
        assert chunk, data
        data += chunk
    return data
for i in range(4):
    c = socket.create_connection(("127.0.0.1", port), timeout=60)
    until(c, b"\r\n")
    c.sendall(b"EHLO leaver.example\r\n")
    until(c, b"250 CHUNKING\r\n")
    c.sendall(b"MAIL FROM:<l@localhost>\r\nRCPT TO:<u%d@exists.slow.test>\r\n"
              b"RCPT TO:<w@nx3.slow.test>\r\nQUIT\r\n" % i)
    assert until(c, b"\r\n").startswith(b"250 2.1.0"), "MAIL not answered at once"
    time.sleep(0.2)	# the RCPT's lookup is out now
    if i % 2:
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.close()
t = smtplib.SMTP("127.0.0.1", port, timeout=60)
assert t.noop()[0] == 250
t.quit()
EOP
wait_for "the sessions that left during a lookup to end" \
	sh -c "[ \$(grep -c 'disconnect from localhost\[127\.0\.0\.1\] ' '$TERN_DIR/maillog') -ge 8 ]"
[ "$(grep -c 'lost connection after RCPT from localhost' "$TERN_DIR/maillog")" -ge 2 ] \
	|| { show_log; fail "the clients that reset during a lookup were not noticed"; }
[ "$(grep -c '^nx2\.slow\.test ' "$dns/queries")" -eq 1 ] \
	|| { cat "$dns/queries" >&2; fail "the sender's domain was looked up again for the second recipient"; }
grep -q 'NOQUEUE: reject: RCPT from localhost\[127\.0\.0\.1\]: 450 4\.1\.8 <x@nx2\.slow\.test>' "$TERN_DIR/maillog" \
	|| { show_log; fail "no log line for the unknown sender domain"; }
smtpd_stop

# smtpd_dns_threads = 0: the same verdicts, looked up on the event loop.
smtpd_start -o "smtpd_dns_servers=127.0.0.1:$DNS_PORT" -o smtpd_dns_threads=0 \
	-o "smtpd_recipient_restrictions=reject_unknown_recipient_domain, permit"
python3 - "$SMTPD_PORT" <<'EOP' || { show_log; fail "wrong verdicts with smtpd_dns_threads = 0"; }
import smtplib, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=60)
s.ehlo("d.example")
assert s.mail("d@localhost")[0] == 250
assert s.rcpt("u@exists.slow.test")[0] == 250
code, msg = s.rcpt("v@nx4.slow.test")
assert code == 450 and msg.startswith(b"4.1.2"), (code, msg)
s.quit()
EOP
smtpd_stop
pass
