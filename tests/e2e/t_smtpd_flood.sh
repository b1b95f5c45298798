#!/bin/sh
# t_smtpd_flood.sh - smtpd under a flood from hostile addresses on
# loopback (tests/flood.py), on a wrapper-mode port where every client
# begins with a TLS handshake:
#   * a ClientHello that declares more than 16 KiB is refused as soon as
#     its header arrives, with a warning, instead of holding ~150 KiB of
#     smtpd's memory until smtpd_starttls_timeout;
#   * 500 handshakes that never finish (each with the largest ClientHello
#     let through, sent all but its end) cost smtpd less than 64 KiB each
#     (its Pss, from /proc), and smtpd_starttls_timeout closes every one;
#   * a handshake trickled one byte at a time is closed at
#     smtpd_starttls_timeout from its start: a byte does not buy more time;
#   * the 51st concurrent connection from one address, and the AUTH
#     commands past smtpd_client_auth_rate_limit, are refused with
#     Postfix's log lines; failed AUTHs are held back per address;
#   * random bytes for a handshake are hung up on;
#   * meanwhile a client from another address gets its mail accepted,
#     and smtpd is still there at the end.
# Nothing here is timed: the hold and the timeouts are seconds apart.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/smtpd_lib.sh"

tern_instance
make_cert
for a in 127.0.0.2 127.0.0.3 127.0.0.4 127.0.0.10; do
	python3 -c "import socket; s=socket.socket(); s.bind(('$a', 0))" 2>/dev/null \
		|| skip "cannot use $a as a source address"
done
printf 'alice %s\n' "$(openssl passwd -6 secret)" > "$TERN_DIR/sasl_passwd"
# Per pending handshake; AddressSanitizer's quarantine and shadow say nothing of Tern's use.
BOUND_KB=64
grep -q '^SANITIZE_FLAGS = .*sanitize' "$TERN_TOP/Makefile" 2>/dev/null && BOUND_KB=1048576

# No limit exceptions (loopback is in mynetworks), 15 s per handshake,
# 5 AUTH commands per minute, failures held 1 s.
smtpd_start -o smtpd_tls_cert_file="$TERN_DIR/cert.pem" -o smtpd_tls_key_file="$TERN_DIR/key.pem" \
	-o smtpd_tls_wrappermode=yes -o smtpd_client_event_limit_exceptions= \
	-o smtpd_starttls_timeout=15s -o smtpd_client_connection_count_limit=50 \
	-o smtpd_client_auth_rate_limit=5 -o smtpd_sasl_auth_enable=yes -o smtpd_sasl_type=tern \
	-o "smtpd_sasl_password_maps=texthash:$TERN_DIR/sasl_passwd" \
	-o smtpd_sasl_failure_delay=1s -o smtpd_sasl_failure_max_delay=1s
log=$TERN_DIR/maillog
F="python3 $TERN_TOP/tests/flood.py --port $SMTPD_PORT"
out=$TERN_DIR/flood
mkdir -p "$out"
field() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))$2)" "$1"; }

# 1. Oversized ClientHellos: refused at once, long before smtpd_starttls_timeout.
$F hello --src 127.0.0.2 --count 40 --declare 131396 --hold 4 --until-closed > "$out/big" \
	|| fail "flood.py hello failed"
[ "$(field "$out/big" '["closed_by_server"]')" = 40 ] \
	|| { show_log; cat "$out/big"; fail "oversized ClientHellos were not refused at once"; }
n=$(grep -c 'warning: SSL_accept error from unknown\[127\.0\.0\.2\]: ClientHello declared larger than 16384 bytes' "$log")
[ "$n" = 40 ] || { show_log; fail "want 40 warnings for oversized ClientHellos, got $n"; }

# 2. At once: 500 half-open handshakes from ten addresses (50 each, at the
# limit), 55 from 127.0.0.4 (5 over it), a trickled one, AUTH failures
# from 127.0.0.2, and a client from 127.0.0.3 that sends its mail.
srcs=127.0.0.10,127.0.0.11,127.0.0.12,127.0.0.13,127.0.0.14,127.0.0.15,127.0.0.16,127.0.0.17,127.0.0.18,127.0.0.19
$F hello --src $srcs --count 500 --hold 40 --until-closed --pid "$SMTPD_PID" > "$out/half" &
half=$!
$F hello --src 127.0.0.4 --count 55 --record 0 --hold 40 --until-closed > "$out/over" &
over=$!
$F trickle --src 127.0.0.5 --bytes 60 --interval 0.5 > "$out/trickle" &
trickle=$!
$F auth --tls --src 127.0.0.2 --count 9 --per-session 3 > "$out/auth" &
auth=$!
python3 - "$SMTPD_PORT" <<'EOP' || { show_log; fail "the legitimate client's mail was not accepted during the flood"; }
import smtplib, ssl, sys
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
s = smtplib.SMTP_SSL("127.0.0.1", int(sys.argv[1]), timeout=60, source_address=("127.0.0.3", 0), context=ctx)
s.ehlo("good.example")
s.sendmail("sender@example.org", ["postmaster@localhost"], "Subject: through-the-flood\r\n\r\nhello\r\n")
s.quit()
EOP
wait $auth || fail "flood.py auth failed"
wait $half || fail "flood.py hello failed"
wait $over || fail "flood.py hello failed"
wait $trickle || fail "flood.py trickle failed"
cat "$out/half" "$out/over" "$out/trickle" "$out/auth"
[ "$(queued_count 'Subject: through-the-flood')" = 1 ] || { show_log; fail "the legitimate message is not queued"; }

# Memory: what 500 pending handshakes added to smtpd's Pss.
python3 - "$out/half" "$BOUND_KB" <<'EOP' || { show_log; fail "500 pending handshakes cost more than the bound"; }
import json, sys
r = json.load(open(sys.argv[1]))
per = (r["pss_peak_kb"] - r["pss_before_kb"]) / max(r["opened"], 1)
print("%d pending handshakes: %.1f KiB each (bound %s KiB)" % (r["opened"], per, sys.argv[2]))
assert r["opened"] == 500, r
assert per < int(sys.argv[2]), per
EOP
# ... and smtpd_starttls_timeout closed every one.
[ "$(field "$out/half" '["closed_by_server"]')" = 500 ] || { show_log; fail "half-open handshakes were not all timed out"; }
[ "$(field "$out/over" '["closed_by_server"]')" = 55 ] || { show_log; fail "the 127.0.0.4 handshakes were not all timed out"; }
n=$(grep -c 'timeout during TLS handshake from unknown\[127\.0\.0\.1[0-9]\]' "$log")
[ "$n" -ge 500 ] || { show_log; fail "want 500 handshake timeouts logged, got $n"; }
# The trickled handshake: closed long before its 60 bytes (30 s at 0.5 s a byte, 15 s timeout).
python3 - "$out/trickle" <<'EOP' || { show_log; fail "a trickled handshake was not closed at smtpd_starttls_timeout"; }
import json, sys
r = json.load(open(sys.argv[1]))
assert r["closed_by_server"] and r["sent"] < r["bytes"], r
EOP
grep -q 'timeout during TLS handshake from unknown\[127\.0\.0\.5\]' "$log" || { show_log; fail "no timeout logged for the trickle"; }

# Limits on the offenders, in Postfix's words (fail2ban's postfix filter).
grep -q 'warning: Connection concurrency limit exceeded: 51 from unknown\[127\.0\.0\.4\] for service smtp' "$log" \
	|| { show_log; fail "no concurrency limit line for 127.0.0.4"; }
grep -q 'Connection concurrency limit exceeded: [0-9]* from unknown\[127\.0\.0\.1[0-9]\]' "$log" \
	&& { show_log; fail "an address at the limit was refused"; }
python3 - "$out/auth" <<'EOP' || { show_log; fail "AUTH failures were not limited"; }
import json, sys
c = json.load(open(sys.argv[1]))["codes"]
assert c.get("535") == 5 and c.get("450") == 4, c
EOP
grep -q 'warning: AUTH command rate limit exceeded: 6 from unknown\[127\.0\.0\.2\] for service smtp' "$log" \
	|| { show_log; fail "no AUTH rate limit line"; }
n=$(grep -c 'warning: unknown\[127\.0\.0\.2\]: SASL PLAIN authentication failed: ' "$log")
[ "$n" = 5 ] || { show_log; fail "want 5 SASL failure lines for 127.0.0.2, got $n"; }

# 3. Random bytes for a handshake: hung up on, every one.
$F garbage --src 127.0.0.6 --count 200 > "$out/garbage" || fail "flood.py garbage failed"
[ "$(field "$out/garbage" '["hung_up"]')" = 200 ] || { show_log; cat "$out/garbage"; fail "garbage handshakes not hung up on"; }

# smtpd is still there and still serves.
kill -0 "$SMTPD_PID" 2>/dev/null || { show_log; fail "smtpd died"; }
$F full --src 127.0.0.3 --count 3 > "$out/full"
[ "$(field "$out/full" '["handshakes"]')" = 3 ] || { show_log; fail "no handshake after the flood"; }
grep -Eq 'panic|fatal' "$log" && { show_log; fail "smtpd logged a fatal error"; }
smtpd_stop
pass
