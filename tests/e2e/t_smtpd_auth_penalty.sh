#!/bin/sh
# t_smtpd_auth_penalty.sh - failed AUTH attempts are counted per client
# address across connections: each failure from 127.0.0.2, whatever the
# connection, is answered later than the one before (up to
# smtpd_sasl_failure_max_delay), with a log line per failure in Postfix's
# wording (what fail2ban's postfix filter matches) and one saying how long
# the answer was held; the hold is a timer, so other sessions are served
# meanwhile; a right password still works (answered after the same hold,
# so that giving up early tells an attacker nothing), and afterwards the
# address starts again from zero. Another address is never slowed down by
# 127.0.0.2's failures. Built-in crypt(3) backend, no root needed.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/smtpd_lib.sh"

tern_instance
need_cmd openssl
python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.2", 0))' 2>/dev/null \
	|| skip "cannot use 127.0.0.2 as a source address"
printf 'alice %s\n' "$(openssl passwd -6 secret)" > "$TERN_DIR/sasl_passwd"

# Plaintext AUTH keeps the client simple; 1 s doubling up to 4 s keeps the test short.
smtpd_start -o smtpd_sasl_auth_enable=yes -o smtpd_sasl_type=tern \
	-o "smtpd_sasl_password_maps=texthash:$TERN_DIR/sasl_passwd" -o smtpd_tls_auth_only=no \
	-o smtpd_sasl_failure_delay=1s -o smtpd_sasl_failure_max_delay=4s

python3 - "$SMTPD_PORT" <<'EOP' || { show_log; fail "failed AUTH attempts are not slowed down across connections"; }
import smtplib, sys, threading, time
port = int(sys.argv[1])
WRONG = "PLAIN AGFsaWNlAHdyb25n"	# alice / wrong
RIGHT = "PLAIN AGFsaWNlAHNlY3JldA=="	# alice / secret

def session(src):
    s = smtplib.SMTP("127.0.0.1", port, timeout=120, source_address=(src, 0))
    s.ehlo("client.example")
    return s

def timed_auth(src, arg, want):
    """One new connection, one AUTH: seconds until the answer."""
    s = session(src)
    t = time.monotonic()
    code, text = s.docmd("AUTH", arg)
    took = time.monotonic() - t
    assert code == want, (src, arg, code, text)
    s.quit()
    return took

# Four failures from 127.0.0.2, each on a new connection: 1, 2, 4, 4 s.
took = [timed_auth("127.0.0.2", WRONG, 535) for _ in range(3)]
print("failures from 127.0.0.2:", ["%.2f" % t for t in took])
assert took[0] >= 0.8, took
assert took[1] >= 1.6 and took[1] > took[0] + 0.5, took
assert took[2] >= 3.2 and took[2] > took[1] + 1.0, took

# The fourth is held at the cap: meanwhile another session gets its answers at once.
events = []
def held():
    events.append(("fail-sent", time.monotonic()))
    took.append(timed_auth("127.0.0.2", WRONG, 535))
    events.append(("fail-answered", time.monotonic()))
th = threading.Thread(target=held)
th.start()
time.sleep(0.5)
other = session("127.0.0.1")
code, _ = other.noop()
assert code == 250, code
events.append(("other-noop", time.monotonic()))
# A failure from another address counts for that address only: 1 s, not 4 s.
t = time.monotonic()
code, _ = other.docmd("AUTH", WRONG)
other_took = time.monotonic() - t
assert code == 535, code
events.append(("other-fail", time.monotonic()))
other.quit()
th.join()
events.sort(key=lambda e: e[1])
print("events:", [e[0] for e in events], "fourth failure %.2f s, other address %.2f s" % (took[3], other_took))
order = [e[0] for e in events]
assert order.index("other-noop") < order.index("fail-answered"), order
assert took[3] >= 3.2, took
assert other_took < took[3], (other_took, took)

# The right password after all that: accepted, after the current hold.
ok_took = timed_auth("127.0.0.2", RIGHT, 235)
print("success after failures: %.2f s" % ok_took)
assert ok_took >= 3.2, ok_took
# ... and the address starts from zero again.
again = timed_auth("127.0.0.2", WRONG, 535)
print("failure after the success: %.2f s" % again)
assert again >= 0.8 and again < took[3], (again, took)
EOP

log=$TERN_DIR/maillog
# Postfix's line, one per failure: fail2ban's postfix filter (mode auth) matches
#   ^[^[]*\[<HOST>\](?::\d+)?: SASL ((?i)LOGIN|PLAIN|(?:CRAM|DIGEST)-MD5) authentication failed:
n=$(grep -c 'warning: unknown\[127\.0\.0\.2\]: SASL PLAIN authentication failed: ' "$log")
[ "$n" = 5 ] || { show_log; fail "want 5 Postfix-style failure lines for 127.0.0.2, got $n"; }
python3 - "$log" <<'EOP' || { show_log; fail "a failure line does not match fail2ban's expression"; }
import re, sys
f2b = re.compile(r"^[^[]*\[(?P<host>[0-9.]+)\](?::\d+)?: SASL ((?i:LOGIN|PLAIN|(?:CRAM|DIGEST)-MD5)) authentication failed:")
hosts = []
for line in open(sys.argv[1]):
    # What follows "warning: " is the message fail2ban's prefix expression leaves.
    if "warning: " in line:
        m = f2b.match(line.split("warning: ", 1)[1])
        if m:
            hosts.append(m.group("host"))
assert hosts.count("127.0.0.2") == 5 and hosts.count("127.0.0.1") == 1, hosts
EOP
# The counter and the hold, per address, across connections.
for want in 'failure 1 from this address: reply delayed 1000 ms' \
	'failure 2 from this address: reply delayed 2000 ms' \
	'failure 3 from this address: reply delayed 4000 ms' \
	'failure 4 from this address: reply delayed 4000 ms'; do
	grep -q "warning: unknown\[127\.0\.0\.2\]: SASL authentication $want" "$log" \
		|| { show_log; fail "no log line: $want"; }
done
grep -q 'localhost\[127\.0\.0\.1\]: SASL authentication failure 1 from this address: reply delayed 1000 ms' "$log" \
	|| { show_log; fail "127.0.0.1 was not counted on its own"; }
grep -q 'unknown\[127\.0\.0\.2\]: SASL authentication after earlier failures from this address: reply delayed 4000 ms' "$log" \
	|| { show_log; fail "no log line for the held success"; }
smtpd_stop

# smtpd_sasl_failure_delay = 0 turns the slow-down off (Postfix's behaviour):
# no failure is counted or held, which the log says (a reply's time is no
# measure on a loaded machine, and the held ones above are 1 s and more).
before=$(grep -c 'from this address: reply delayed' "$log")
smtpd_start -o smtpd_sasl_auth_enable=yes -o smtpd_sasl_type=tern \
	-o "smtpd_sasl_password_maps=texthash:$TERN_DIR/sasl_passwd" -o smtpd_tls_auth_only=no \
	-o smtpd_sasl_failure_delay=0
python3 - "$SMTPD_PORT" <<'EOP' || fail "AUTH with smtpd_sasl_failure_delay = 0"
import smtplib, sys
for i in range(3):
    s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=60, source_address=("127.0.0.2", 0))
    s.ehlo("x")
    code, _ = s.docmd("AUTH", "PLAIN AGFsaWNlAHdyb25n")
    assert code == 535, code
    s.quit()
EOP
smtpd_stop
n=$(grep -c 'warning: unknown\[127\.0\.0\.2\]: SASL PLAIN authentication failed: ' "$log")
[ "$n" = 8 ] || { show_log; fail "want 3 more failure lines for 127.0.0.2 with the delay off, got $((n - 5))"; }
[ "$(grep -c 'from this address: reply delayed' "$log")" = "$before" ] \
	|| { show_log; fail "smtpd_sasl_failure_delay = 0 still counted and held failures"; }
pass
