#!/bin/sh
# t_mailq_vs_postfix.sh - the same deferred message queued in a private
# Postfix and in Tern: ternqueue -j has the members (and member types) of
# Postfix's postqueue -j, and Tern's mailq_format = postfix listing has
# Postfix's header line, message line layout, right-aligned reason and
# trailer. Needs root and Debian's postfix package (services stopped).
here=$(dirname "$0")
[ -f "$here/lib.sh" ] || { echo "skip: tests/e2e/lib.sh is missing"; exit 77; }
. "$here/lib.sh"
. "$here/postfix.sh"
need_root
need_cmd python3
pf_available >/dev/null || skip "$(pf_available)"
for p in sendmail local qmgr pickup ternqueue; do
	[ -x "$TERN_TOP/stage/$p" ] || skip "$p is not built"
done

# Postfix: relay everything to a loopback port where nobody listens, so the
# message is deferred with a reason.
pf=$(mktemp -d /tmp/tern-pf.XXXXXX)
at_cleanup "pf_stop '$pf'; rm -rf '$pf'"
pfport=$(pf_free_port)
dead=$(free_port)
pf_setup "$pf" "$pfport" >/dev/null || fail "pf_setup"
pf_set "$pf" "relayhost = [127.0.0.1]:$dead" || fail "pf_set"
pf_start "$pf" >/dev/null || fail "postfix did not start"
python3 - "$pfport" <<'EOF' || fail "SMTP to Postfix"
import smtplib, sys
with smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=60) as s:
    s.sendmail("alice@localhost", ["bob@remote.example"], "Subject: q\r\n\r\nx\r\n")
EOF
pfq() { postqueue -c "$pf/etc" "$@"; }
# In both, the reason is written (Postfix's defer log, Tern's defer/ID)
# before the file moves from active/ to deferred/: wait for both.
_deferred_json() { grep delay_reason | grep -q '"queue_name": "deferred"'; }
_pf_deferred() { pfq -j | _deferred_json; }
wait_for "Postfix's deferral" _pf_deferred

tern_instance
ternconf -e "relayhost = [127.0.0.1]:$dead" || fail "ternconf -e"
tern_start
printf 'Subject: q\n\nx\n' | sendmail -f alice@localhost bob@remote.example || fail "sendmail"
_tern_deferred() { ternqueue -j | _deferred_json; }
wait_for "Tern's deferral" _tern_deferred

pfq -j > "$TERN_DIR/pf.json"
ternqueue -j > "$TERN_DIR/tern.json"
python3 - "$TERN_DIR/pf.json" "$TERN_DIR/tern.json" <<'EOF' || fail "JSON members differ"
import json, sys
def shape(path):
    lines = open(path).read().splitlines()
    assert len(lines) == 1, (path, lines)
    m = json.loads(lines[0])
    top = {k: type(v).__name__ for k, v in m.items()}
    rcpt = {k: type(v).__name__ for r in m["recipients"] for k, v in r.items()}
    return top, rcpt, m
pt, pr, pm = shape(sys.argv[1])
tt, tr, tm = shape(sys.argv[2])
missing = set(pt) - set(tt)
assert not missing, "members Postfix has and Tern lacks: %s" % missing
for k in pt:
    assert pt[k] == tt[k], "type of %s: postfix %s, tern %s" % (k, pt[k], tt[k])
assert pr == tr, (pr, tr)
assert pm["queue_name"] == tm["queue_name"] == "deferred", (pm["queue_name"], tm["queue_name"])
assert pm["sender"] == tm["sender"] == "alice@localhost"
assert [r["address"] for r in pm["recipients"]] == [r["address"] for r in tm["recipients"]]
EOF

# The text layouts: compare line by line, with the variable fields masked.
ternconf -e "mailq_format = postfix" || fail "ternconf -e"
pfq -p > "$TERN_DIR/pf.txt"
ternqueue -p > "$TERN_DIR/tern.txt"
python3 - "$TERN_DIR/pf.txt" "$TERN_DIR/tern.txt" <<'EOF' || fail "Postfix layouts differ"
import re, sys
pf = open(sys.argv[1]).read().splitlines()
tn = open(sys.argv[2]).read().splitlines()
assert len(pf) == len(tn), (pf, tn)
assert pf[0] == tn[0], (pf[0], tn[0])                       # header line
msg = re.compile(r"^([0-9A-Za-z]+)[*!#]* +(\d+) (\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d)  (\S+)$")
for line in (pf[1], tn[1]):
    assert msg.match(line), line
# Column of the size's last digit: Postfix's ids are shorter, so compare
# the part after the id, which has the same widths.
def tail(line):
    m = msg.match(line)
    return line[m.end(1):]
assert len(tail(pf[1]).split()) == len(tail(tn[1]).split())
# The reason is right-aligned at column 78, in parentheses: both say the same.
assert pf[2].strip() == tn[2].strip(), (pf[2], tn[2])
for line in (pf[2], tn[2]):
    assert line.endswith(")") and line.lstrip().startswith("("), line
    assert len(line) == 78 or not line.startswith(" "), (len(line), line)
# Recipient lines start at column 42.
assert pf[3] == " " * 41 + "bob@remote.example" == tn[3], (pf[3], tn[3])
assert pf[-1] == tn[-1] == "-- 0 Kbytes in 1 Request.", (pf[-1], tn[-1])
EOF
pass
