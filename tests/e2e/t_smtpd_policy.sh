#!/bin/sh
# t_smtpd_policy.sh - check_policy_service (Postfix's policy delegation
# protocol) against Debian's real policy servers: postgrey greylists a
# new triplet and accepts the retry after its delay (with X-Greylist:),
# postfix-policyd-spf-python rejects a sender whose SPF record excludes
# 127.0.0.1 and prepends Received-SPF: when there is no record. The SPF
# server's DNS is a fixed table inside spf_policy.py (no network). A
# server that is down gives smtpd_policy_service_default_action. A slow
# server holds up only the session it answers: a second session runs a
# whole transaction meanwhile; requests of a session reuse a connection.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/smtpd_lib.sh"

[ -x /usr/sbin/postgrey ] || skip "needs postgrey"
[ -x /usr/bin/policyd-spf ] || skip "needs postfix-policyd-spf-python"
# Debian's python3, where policyd-spf's modules live (not another python on PATH).
PY=/usr/bin/python3

tern_instance
pol=$TERN_DIR/policy
mkdir -p "$pol/postgrey"
PG_PORT=$(free_port)
/usr/sbin/postgrey --inet=127.0.0.1:$PG_PORT --dbdir="$pol/postgrey" --delay=1 \
	--pidfile="$pol/postgrey/pid" --user="$(id -un)" --group="$(id -gn)" \
	--whitelist-clients=/dev/null --whitelist-recipients=/dev/null \
	--auto-whitelist-clients=0 --hostname=mx.test.example >"$pol/postgrey.log" 2>&1 &
at_cleanup "kill $!"
wait_for_port "$PG_PORT"

cat > "$pol/spf.conf" <<'EOC'
debugLevel = 1
TestOnly = 1
HELO_reject = Fail
Mail_From_reject = Fail
PermError_reject = False
TempError_Defer = False
skip_addresses = 192.0.2.255/32
EOC
$PY "$TERN_TOP/tests/e2e/spf_policy.py" "$pol/spf.port" "$pol/spf.conf" 2>"$pol/spf.err" &
at_cleanup "kill $!"
wait_for "the SPF policy server" test -s "$pol/spf.port"
SPF_PORT=$(cat "$pol/spf.port")

# postgrey first (as in Postfix's SMTPD_POLICY_README), SPF in Postfix 3's { } form.
smtpd_start -o smtpd_dns_threads=2 \
	-o "smtpd_recipient_restrictions=reject_unauth_destination, check_policy_service inet:127.0.0.1:$PG_PORT, check_policy_service { inet:127.0.0.1:$SPF_PORT, timeout=20s }"
dialog policy_greylist.dlg
f=$(queued_with "Subject: greylisted once")
[ "$(echo "$f" | grep -c .)" = 1 ] || fail "want one queued message, got: $f"
grep -q "^X-Greylist: delayed [0-9]* seconds by postgrey" "$f" || { cat "$f" >&2; fail "no X-Greylist header"; }
grep -q "^Received-SPF: None (mailfrom) identity=mailfrom; client-ip=127.0.0.1; helo=client.example; envelope-from=someone@none.test" "$f" \
	|| { cat "$f" >&2; fail "no Received-SPF header"; }
grep -q "action=greylist, reason=new.*sender=someone@none.test" "$pol/postgrey.log" \
	|| { cat "$pol/postgrey.log" >&2; fail "postgrey did not see the request"; }
smtpd_stop

# A server nobody listens on: the default action, tried once per request.
DOWN=$(free_port)
smtpd_start -o smtpd_policy_service_try_limit=1 \
	-o "smtpd_recipient_restrictions=check_policy_service inet:127.0.0.1:$DOWN"
dialog policy_down.dlg
grep -q "check_policy_service inet:127.0.0.1:$DOWN: connect to" "$TERN_DIR/smtpd.out" "$TERN_DIR/maillog" 2>/dev/null \
	|| { show_log; cat "$TERN_DIR/smtpd.out" >&2; fail "no warning about the dead policy server"; }
smtpd_stop

# A slow server: session A waits 8 s for its RCPT; session B is served
# meanwhile. (B's whole session, three policy requests included, must fit
# in A's wait: 3 s left a sanitizer build on a loaded machine too little.)
python3 "$TERN_TOP/tests/e2e/slow_policy.py" "$pol/slow.port" 8 2>"$pol/slow.err" &
at_cleanup "kill $!"
wait_for "the slow policy server" test -s "$pol/slow.port"
SLOW_PORT=$(cat "$pol/slow.port")
smtpd_start -o smtpd_dns_threads=2 \
	-o "smtpd_recipient_restrictions=check_policy_service inet:127.0.0.1:$SLOW_PORT"
python3 - "$SMTPD_PORT" <<'EOP' || fail "a slow policy server held up another session"
import socket, sys, time
port = int(sys.argv[1])
def reply(s):
    data = b""
    while not data.endswith(b"\r\n") or data.split(b"\r\n")[-2][3:4] == b"-":
        chunk = s.recv(4096)
        if not chunk:
            raise SystemExit("connection closed")
        data += chunk
    return data.decode()
a = socket.create_connection(("127.0.0.1", port), timeout=30)
reply(a); a.sendall(b"EHLO a.example\r\n"); reply(a)
a.sendall(b"MAIL FROM:<a@none.test>\r\n"); assert reply(a).startswith("250")
t0 = time.monotonic()
a.sendall(b"RCPT TO:<slow@localhost>\r\n")
time.sleep(0.3)
b = socket.create_connection(("127.0.0.1", port), timeout=30)
reply(b); b.sendall(b"EHLO b.example\r\n"); reply(b)
b.sendall(b"MAIL FROM:<b@none.test>\r\n"); assert reply(b).startswith("250")
for i in range(3):
    b.sendall(b"RCPT TO:<postmaster@localhost>\r\n")
    r = reply(b)
    assert r.startswith("250"), r
b.sendall(b"QUIT\r\n"); reply(b)
tb = time.monotonic() - t0
ra = reply(a)
ta = time.monotonic() - t0
print("B done after %.1fs, A answered after %.1fs: %s" % (tb, ta, ra.strip()))
assert tb < 7.5 and ta >= 7.5, "order"
# The policy said DUNNO: the answer is the rest of the restrictions' (an instance accepts any local part).
assert ra.startswith("250 2.1.5"), ra
EOP
read conns reqs < "$pol/slow.port.stats"
# Four requests; A's connection is busy while B asks, B's three share one.
[ "$reqs" = 4 ] || fail "policy server saw $reqs requests, want 4"
[ "$conns" -le 2 ] || fail "policy server saw $conns connections for 4 requests, want <= 2"
pass
