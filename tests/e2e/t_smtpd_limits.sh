#!/bin/sh
# t_smtpd_limits.sh - smtpd's limits: message_size_limit (never held in
# memory: the queue holds nothing of a refused message), smtpd_timeout,
# smtpd_hard_error_limit, early talkers, per-client connection count and
# rate, message and recipient rates, with mynetworks exempt; and the log
# lines fail2ban-style filters match.
# e2e: slow (timeouts and limits waited out)
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/smtpd_lib.sh"

tern_instance
smtpd_start -o message_size_limit=2000 -o smtpd_timeout=2s
dialog size_limit.dlg timeout.dlg
[ "$(queued_count 'Subject: too-big')" = 0 ] || fail "an oversized message was queued"
[ "$(queued_count 'Subject: small-enough')" = 1 ] || fail "small message not queued"
[ "$(ls "$TERN_DIR/queue/incoming" | wc -l)" = 1 ] || fail "leftover files in incoming/: $(ls "$TERN_DIR/queue/incoming")"
grep -q 'timeout after EHLO from localhost\[127\.0\.0\.1\]' "$TERN_DIR/maillog" || fail "no timeout log line"
grep -q 'warning: localhost\[127\.0\.0\.1\]: message size exceeds limit' "$TERN_DIR/maillog" || fail "no size limit log line"
smtpd_stop
smtpd_start -o smtpd_hard_error_limit=3
dialog error_limit.dlg
smtpd_stop
smtpd_start -o smtpd_soft_error_limit=2 -o smtpd_error_sleep_time=2s
dialog soft_error_limit.dlg
# Postfix logs it as information (no "warning:"), and fail2ban filters anchor on that.
grep -q 'smtpd\[[0-9]*\]: too many errors after UNKNOWN from localhost\[127\.0\.0\.1\]$' "$TERN_DIR/maillog" \
	|| fail "no error-limit log line"
smtpd_stop

python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.2", 0))' 2>/dev/null \
	|| skip "cannot use 127.0.0.2 as a source address"

# Early talkers (clients outside mynetworks wait smtpd_greet_pause).
smtpd_start -o smtpd_greet_pause=2s
DIALOG_SOURCE=127.0.0.2 dialog early_talker.dlg
# postscreen's form, which log watchers and fail2ban filters know.
grep -q 'smtpd\[[0-9]*\]: PREGREET 20 after [0-9]*\.[0-9][0-9] from \[127\.0\.0\.2\]:[0-9]*: EHLO early\.example\\r\\n$' \
	"$TERN_DIR/maillog" || fail "no PREGREET log line"
smtpd_stop

# Connection count: the third concurrent session from 127.0.0.2 is refused; 127.0.0.1 is exempt.
smtpd_start -o smtpd_client_connection_count_limit=2 -o smtpd_client_message_rate_limit=2 \
	-o smtpd_client_recipient_rate_limit=3
python3 - "$SMTPD_PORT" <<'EOP' || fail "connection limits"
import socket, sys
port = int(sys.argv[1])
def conn(src):
    s = socket.create_connection(("127.0.0.1", port), source_address=(src, 0), timeout=20)
    return s, s.makefile("rb").readline()
a = [conn("127.0.0.2") for _ in range(2)]
assert all(g.startswith(b"220 ") for _, g in a), a
s, g = conn("127.0.0.2")
assert g.startswith(b"421 4.7.0 "), g
local = [conn("127.0.0.1") for _ in range(4)]
assert all(g.startswith(b"220 ") for _, g in local), local
# Message and recipient rates (per minute) for 127.0.0.2; the limits reply 450 4.7.1.
s, _ = a[0]
f = s.makefile("rb")
def cmd(line):
    s.sendall(line + b"\r\n")
    while True:
        r = f.readline()
        if r[3:4] != b"-":
            return r
cmd(b"EHLO rate.example")
replies = []
for i in range(3):
    replies.append(cmd(b"MAIL FROM:<r@example.org>"))
    replies.append(cmd(b"RCPT TO:<postmaster@localhost>"))
    cmd(b"RSET")
assert replies[0].startswith(b"250") and replies[2].startswith(b"250"), replies
assert replies[4].startswith(b"450 4.7.1"), replies
EOP
grep -q 'warning: Connection concurrency limit exceeded: 3 from unknown\[127\.0\.0\.2\] for service smtp' \
	"$TERN_DIR/maillog" || fail "no concurrency log line"
grep -q 'Message delivery request rate limit exceeded' "$TERN_DIR/maillog" || fail "no message rate log line"
smtpd_stop

# Message and recipient rates, and their log lines; mynetworks is exempt.
smtpd_start -o smtpd_client_message_rate_limit=2 -o smtpd_client_recipient_rate_limit=3
DIALOG_SOURCE=127.0.0.2 dialog rate_limits.dlg
grep -q 'warning: Recipient address rate limit exceeded: 4 from unknown\[127\.0\.0\.2\] for service smtp' \
	"$TERN_DIR/maillog" || fail "no recipient rate log line"
grep -q 'warning: Message delivery request rate limit exceeded: 3 from unknown\[127\.0\.0\.2\] for service smtp' \
	"$TERN_DIR/maillog" || fail "no message rate log line"
grep -q 'rate limit exceeded: .* from localhost\[127\.0\.0\.1\]' "$TERN_DIR/maillog" \
	&& fail "mynetworks was rate limited"
smtpd_stop

# Implicit TLS (465): refusals by the client limits and early-talker
# detection happen over TLS, after the handshake.
make_cert
TLS="-o smtpd_tls_cert_file=$TERN_DIR/cert.pem -o smtpd_tls_key_file=$TERN_DIR/key.pem -o smtpd_tls_wrappermode=yes"
for limit in smtpd_client_connection_count_limit smtpd_client_connection_rate_limit; do
	# shellcheck disable=SC2086
	smtpd_start $TLS -o $limit=1
	# The first session stays open (count) or has been counted (rate).
	DIALOG_SOURCE=127.0.0.2 dialog implicit_tls_limit.dlg
	smtpd_stop
done
grep -q 'warning: Connection concurrency limit exceeded: 2 from unknown\[127\.0\.0\.2\] for service smtp' \
	"$TERN_DIR/maillog" || fail "no concurrency log line (implicit TLS)"
grep -q 'warning: Connection rate limit exceeded: 2 from unknown\[127\.0\.0\.2\] for service smtp' \
	"$TERN_DIR/maillog" || fail "no rate log line (implicit TLS)"
# shellcheck disable=SC2086
smtpd_start $TLS -o smtpd_greet_pause=2s
DIALOG_SOURCE=127.0.0.2 dialog implicit_tls_greet_pause.dlg
grep -q 'PREGREET 20 after [0-9.]* from \[127\.0\.0\.2\]:[0-9]*: EHLO early\.example\\r\\n$' \
	"$TERN_DIR/maillog" || fail "no PREGREET log line (implicit TLS)"
smtpd_stop

# (anvil_rate_time_unit = 5s: the window ends within the test, where the default 60s would not.)
smtpd_start -o smtpd_client_connection_rate_limit=3 -o anvil_rate_time_unit=5s
python3 - "$SMTPD_PORT" >"$TERN_DIR/rate.out" <<'EOP' || fail "connection rate limit"
import socket, sys, time
port = int(sys.argv[1])
def greeting():
    s = socket.create_connection(("127.0.0.1", port), source_address=("127.0.0.2", 0), timeout=20)
    g = s.makefile("rb").readline()
    s.close()
    return g
# Five connections inside one window; on a machine too busy for that, again
# once the window is over (up to three times), else nothing can be told.
for attempt in range(3):
    start = time.time()
    got = [greeting() for i in range(5)]
    if time.time() - start < 4:
        assert [g[:3] for g in got] == [b"220"] * 3 + [b"421"] * 2, got
        print("one window")
        break
    time.sleep(6)
# mynetworks is exempt.
for i in range(6):
    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    g = s.makefile("rb").readline()
    s.close()
    assert g.startswith(b"220"), g
deadline = time.time() + 30
while greeting()[:3] != b"220":
    assert time.time() < deadline, "the rate window never ended"
    time.sleep(0.5)
EOP
[ "$(cat "$TERN_DIR/rate.out")" != "one window" ] ||
	grep -q 'warning: Connection rate limit exceeded: 4 from unknown\[127\.0\.0\.2\] for service smtp' \
	"$TERN_DIR/maillog" || fail "no rate log line"
pass
