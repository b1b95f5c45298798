#!/bin/sh
# t_smtp_peer.sh - tests/e2e/smtp_peer.py, the fault-injecting peer of the
# delivery tests, does what its options say, checked with Python's smtplib
# and raw sockets in the test's network namespace: per-recipient replies,
# BDAT, STARTTLS with a certificate from the test CA (SNI recorded), a TLS
# handshake broken after the 220, a limit of messages per connection, AUTH
# PLAIN and LOGIN (required, refused with a wrong password), a 421 greeting
# for the first connection only, a drop mid-DATA, a stall, 4xx at the end
# of data, SIZE, parameters of extensions it did not announce refused, EHLO
# refused (HELO fallback), a multi-line reply, pipelining and bare LF seen
# and recorded, STARTTLS injection discarded, and it listens only on the
# address it is given.
here=$(dirname "$0")
[ -f "$here/lib.sh" ] || { echo "skip: tests/e2e/lib.sh is missing"; exit 77; }
. "$here/lib.sh"
. "$here/netlib.sh"
netns_enter "$@"
need_cmd openssl python3

test_ca_make "$NET_DIR/ca"
test_cert peer.test "$NET_DIR/certs" "$NET_DIR/ca"
netns_host 127.0.0.11 peer.test
R=$NET_DIR/rec
peer_start plain 127.0.0.10 25 --record "$R.plain" --ext PIPELINING --ext CHUNKING --ext 'SIZE 1000' \
	--ext 8BITMIME --ext DSN --rcpt 'bad@x.test=550 5.1.1 no such user' --rcpt 'later@x.test=451 4.2.0 try later'
peer_start tls 127.0.0.11 25 --record "$R.tls" --cert "$NET_DIR/certs/peer.test.pem" \
	--key "$NET_DIR/certs/peer.test.key" --auth 'u:secret' --require-auth --auth-tls-only
peer_start faults 127.0.0.12 25 --record "$R.faults" --greeting '421 4.3.2 busy' --fault-count 1
peer_start drop 127.0.0.13 25 --record "$R.drop" --drop body
peer_start hs 127.0.0.17 25 --cert "$NET_DIR/certs/peer.test.pem" --key "$NET_DIR/certs/peer.test.key" \
	--drop handshake --fault-count 1 --max-messages 1
peer_start slow 127.0.0.14 25 --record "$R.slow" --stall rcpt=2 --reply 'eod=451 4.3.0 later'
peer_start bare 127.0.0.15 25 --record "$R.bare" --no-ext --reply 'ehlo=502 5.5.2 no EHLO here' \
	--reply 'mail=250-first line\n250 2.1.0 last line' --reply 'rcpt=550 5.1.1 nobody' --rcpt 'ok@x.test=250 2.1.5 fine'
peer_start noext 127.0.0.16 25 --record "$R.noext" --no-ext

python3 - "$R" "$NET_DIR/ca/ca.pem" <<'EOF' || fail "smtp_peer.py did not behave"
import json, smtplib, socket, ssl, sys, time
rec, ca = sys.argv[1], sys.argv[2]
def records(name):
    try:
        return [json.loads(l) for l in open(rec + "." + name)]
    except FileNotFoundError:
        return []
def check(cond, what):
    if not cond:
        print("FAIL:", what)
        sys.exit(1)
def dialog(addr, lines):
    """Send each chunk as one write, return every reply line."""
    s = socket.create_connection((addr, 25), timeout=10)
    f = s.makefile("rb")
    f.readline()
    out = []
    for chunk in lines:
        if isinstance(chunk, tuple):
            chunk, want = chunk
        elif chunk.startswith(b"BDAT") or chunk.endswith(b"\r\n.\r\n"):
            want = 1
        else:
            want = chunk.count(b"\r\n")
        s.sendall(chunk)
        for _ in range(want):
            while True:
                l = f.readline()
                out.append(l.decode().rstrip())
                if l[3:4] != b"-":
                    break
    s.close()
    return out

# Per-recipient replies and the JSON record.
with smtplib.SMTP("127.0.0.10", 25) as c:
    c.ehlo("client.test")
    check(c.has_extn("chunking") and c.has_extn("size") and not c.has_extn("starttls"), "EHLO %r" % c.esmtp_features)
    refused = c.sendmail("a@x.test", ["ok@x.test", "bad@x.test", "later@x.test"],
                         "Subject: one\r\n\r\n.dot\r\nbody\r\n", rcpt_options=["NOTIFY=FAILURE"])
    check(refused == {"bad@x.test": (550, b"5.1.1 no such user"), "later@x.test": (451, b"4.2.0 try later")}, refused)
m = records("plain")[0]
check(m["accepted"] == ["ok@x.test"] and m["rcpts"][0]["params"] == {"NOTIFY": "FAILURE"}, m)
check(m["data"] == "Subject: one\r\n\r\n.dot\r\nbody\r\n" and m["esmtp"] and m["tls"] is None, m)
check(b"\r\n..dot\r\n" in open(rec + ".plain.raw", "rb").read(), "no dot-stuffing on the wire")

# BDAT, SIZE, DSN and 8BITMIME parameters.
out = dialog("127.0.0.10", [b"EHLO c\r\n", b"MAIL FROM:<a@x.test> BODY=8BITMIME RET=HDRS ENVID=e1\r\n",
                            b"RCPT TO:<ok@x.test>\r\n", b"BDAT 5\r\nab\xc3\xa9\n", b"BDAT 3 LAST\r\nxyz",
                            b"MAIL FROM:<a@x.test> SIZE=5000\r\n", b"QUIT\r\n"])
check(out[-4].startswith("250 2.0.0 5 octets") and out[-3].startswith("250 2.0.0 Ok: queued"), out)
check(out[-2].startswith("552 5.3.4"), out)
m = records("plain")[1]
check(m["bdat"] and m["size"] == 8 and m["eight_bit"] and m["bare_lf"], m)
check(m["mail_params"] == {"BODY": "8BITMIME", "RET": "HDRS", "ENVID": "e1"}, m)

# STARTTLS verified against the test CA; AUTH only after it, required.
ctx = ssl.create_default_context(cafile=ca)
with smtplib.SMTP("peer.test", 25) as c:
    c.ehlo("client.test")
    check(not c.has_extn("auth"), "AUTH offered before TLS")
    check(c.mail("a@x.test")[0] == 530, "MAIL without AUTH not refused")
for mech in ("PLAIN", "LOGIN"):
    c = smtplib.SMTP("peer.test", 25, local_hostname="client.test")
    c.starttls(context=ctx)  # verifies peer.test's certificate and name
    c.ehlo("client.test")
    check(c.has_extn("auth") and not c.has_extn("starttls"), c.esmtp_features)
    try:
        c.login("u", "wrong")
        check(False, "a wrong password was accepted")
    except smtplib.SMTPAuthenticationError as e:
        check(e.smtp_code == 535, e)
    c.user, c.password = "u", "secret"
    code = c.auth(mech, getattr(c, "auth_" + mech.lower()), initial_response_ok=(mech == "PLAIN"))[0]
    check(code == 235, "AUTH %s: %s" % (mech, code))
    c.sendmail("a@x.test", ["ok@x.test"], "Subject: tls\r\n\r\nx\r\n")
    c.quit()
m = records("tls")[-1]
check(m["tls"] in ("TLSv1.2", "TLSv1.3") and m["auth"] == "u" and m["sni"] == "peer.test", m)
out = dialog("127.0.0.11", [b"EHLO c\r\n", (b"STARTTLS\r\nMAIL FROM:<evil@x.test>\r\n", 1)])
# The injected command is dropped, not answered: only STARTTLS's 220 came.
check(out[-1].startswith("220"), out)

# 421 greeting on the first connection only.
try:
    smtplib.SMTP("127.0.0.12", 25)
    check(False, "no 421 greeting")
except smtplib.SMTPConnectError as e:
    check(e.smtp_code == 421, e)
with smtplib.SMTP("127.0.0.12", 25) as c:
    check(c.sendmail("a@x.test", ["later@x.test"], "x\r\n") == {}, "second connection not accepted")

# Dropped mid-DATA: no record.
try:
    with smtplib.SMTP("127.0.0.13", 25) as c:
        c.sendmail("a@x.test", ["ok@x.test"], "Subject: x\r\n\r\n" + "line\r\n" * 20000)
    check(False, "the connection was not dropped")
except smtplib.SMTPServerDisconnected:
    pass
check(records("drop") == [], "a dropped message was recorded")

# TLS handshake broken after the 220 (first connection); one message per
# connection.
c = smtplib.SMTP("127.0.0.17", 25)
try:
    c.starttls()
    check(False, "the TLS handshake did not fail")
except (ssl.SSLError, OSError, smtplib.SMTPServerDisconnected):
    pass
with smtplib.SMTP("127.0.0.17", 25) as c:
    check(c.sendmail("a@x.test", ["b@x.test"], "x\r\n") == {}, "first message refused")
    try:
        c.sendmail("a@x.test", ["b@x.test"], "x\r\n")
        check(False, "a second message in one connection")
    except smtplib.SMTPSenderRefused as e:
        check(e.smtp_code == 421, e)

# Stall at RCPT, 451 at the end of data.
with smtplib.SMTP("127.0.0.14", 25) as c:
    c.ehlo("c")
    c.mail("a@x.test")
    t = time.time()
    c.rcpt("ok@x.test")
    check(time.time() - t >= 1.9, "no stall at RCPT")
    c.putcmd("data")
    check(c.getreply()[0] == 354, "no 354")
    c.send(b"x\r\n.\r\n")
    code, msg = c.getreply()
    check(code == 451, (code, msg))
check(records("slow")[0]["reply"].startswith("451 4.3.0"), records("slow"))

# EHLO refused: smtplib falls back to HELO; a multi-line reply; --rcpt
# before --reply rcpt.
with smtplib.SMTP("127.0.0.15", 25) as c:
    check(c.ehlo("c")[0] == 502 and c.helo("c")[0] == 250, "EHLO/HELO")
    r = c.mail("a@x.test")
    check(r == (250, b"first line\n2.1.0 last line"), r)
    check(c.rcpt("other@x.test")[0] == 550, "other@x.test not refused")
    check(c.rcpt("ok@x.test") == (250, b"2.1.5 fine"), "ok@x.test refused")
    check(c.data("x\r\n")[0] == 250, "DATA")
m = records("bare")[0]
check(not m["esmtp"] and m["accepted"] == ["ok@x.test"], m)

# No extensions: their parameters are refused, pipelining is seen.
out = dialog("127.0.0.16", [b"EHLO c\r\n", b"MAIL FROM:<a@x.test> BODY=8BITMIME\r\n",
                            b"MAIL FROM:<a@x.test>\r\nRCPT TO:<b@x.test>\r\n",
                            b"DATA\r\n", b"a\nb\rc\r\n.\r\n", b"QUIT\r\n"])
check(out[0] == "250 peer.test" and out[1].startswith("555 5.5.4"), out)
m = records("noext")[0]
check(m["pipelined"] and m["bare_lf"] and m["bare_cr"] and not m["eight_bit"], m)

# Only the given address listens.
try:
    socket.create_connection(("127.0.0.1", 25), timeout=2).close()
    check(False, "something answers on 127.0.0.1:25")
except ConnectionRefusedError:
    pass
EOF
pass
