#!/bin/sh
# t_smtpd_clients.sh - real SMTP clients against smtpd: swaks (with and
# without pipelining, with DSN options) and Python's smtplib (HELO and
# EHLO, several recipients, a 1 MB message, SMTPUTF8); and many sessions
# at once (the commit threads answer each in order).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/smtpd_lib.sh"

tern_instance
smtpd_start
need_cmd swaks
swaks --server 127.0.0.1:$SMTPD_PORT --from a@example.org --to postmaster@localhost \
	--header 'Subject: swaks-plain' --body 'hello' >"$TERN_DIR/swaks1" 2>&1 \
	|| { cat "$TERN_DIR/swaks1"; fail "swaks"; }
swaks --server 127.0.0.1:$SMTPD_PORT --pipeline --from a@example.org --to postmaster@localhost,root@localhost \
	--header 'Subject: swaks-pipeline' --body 'hello' >"$TERN_DIR/swaks2" 2>&1 \
	|| { cat "$TERN_DIR/swaks2"; fail "swaks --pipeline"; }
[ "$(queued_count 'Subject: swaks-plain')" = 1 ] || fail "swaks message not queued"
f=$(queued_with 'Subject: swaks-pipeline')
[ -n "$f" ] || fail "swaks --pipeline message not queued"
grep -q 'root@localhost' "$f" || fail "second recipient missing"

python3 - "$SMTPD_PORT" <<'EOP' || fail "smtplib"
import smtplib, sys
port = int(sys.argv[1])
with smtplib.SMTP("127.0.0.1", port, timeout=60) as s:
    s.helo("helo-client.example")
    s.sendmail("h@example.org", ["postmaster@localhost"], "Subject: smtplib-helo\r\n\r\nhi\r\n")
big = "Subject: smtplib-big\r\n\r\n" + ("x" * 998 + "\r\n") * 1000 + ".starts with a dot\r\n"
with smtplib.SMTP("127.0.0.1", port, timeout=60) as s:
    s.ehlo("ehlo-client.example")
    r = s.sendmail("b@example.org", ["postmaster@localhost", "root@localhost"], big,
                   mail_options=["BODY=8BITMIME"], rcpt_options=["NOTIFY=FAILURE,DELAY"])
    assert r == {}, r
    s.sendmail("j\u00fcrgen@example.org", ["postmaster@localhost"],
               "Subject: smtplib-utf8\r\n\r\nhi\r\n".encode(), mail_options=["SMTPUTF8"])
EOP
[ "$(queued_count 'Subject: smtplib-helo')" = 1 ] || fail "HELO message"
f=$(queued_with 'Subject: smtplib-big')
[ -n "$f" ] || fail "1 MB message not queued"
grep -q '^\.starts with a dot$' "$f" || fail "dot-unstuffing in the big message"
[ "$(queued_count 'Subject: smtplib-utf8')" = 1 ] || fail "SMTPUTF8 message"

# 40 sessions at once, 5 messages each: every 250 names a distinct queue file.
python3 - "$SMTPD_PORT" <<'EOP' || fail "concurrent sessions"
import smtplib, sys, threading
port = int(sys.argv[1])
ids, errors = [], []
def client(n):
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=60) as s:
            for i in range(5):
                s.mail("c%d@example.org" % n)
                s.rcpt("postmaster@localhost")
                code, msg = s.data("Subject: burst-%d-%d\r\n\r\nx\r\n" % (n, i))
                assert code == 250, (code, msg)
                ids.append(msg.split()[-1])
    except Exception as e:
        errors.append(repr(e))
ts = [threading.Thread(target=client, args=(n,)) for n in range(40)]
[t.start() for t in ts]; [t.join() for t in ts]
assert not errors, errors[:3]
assert len(set(ids)) == 200, len(set(ids))
EOP
[ "$(queued_count 'Subject: burst-')" = 200 ] || fail "burst: $(queued_count 'Subject: burst-') of 200 queued"
pass
