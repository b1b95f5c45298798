#!/bin/sh
# t_smtp_smuggle_relay.sh - Tern carries no SMTP smuggling attempt to the
# next hop: whatever came in, the bytes the receiving server gets have no
# bare CR, no bare LF, no NUL, no line over smtp_line_length_limit (998),
# and each message Tern accepted arrives as exactly one message.
#
# In: with smtpd_forbid_bare_newline = no (so the sequences are taken as
# content, not refused), every end-of-data variant of smuggle_battery.py
# (bare CR and LF dots, NULs, each followed by a whole second transaction
# from evil@example.net) over DATA and over BDAT; a sendmail(1)
# submission with a bare CR, CRLF "." CRLF, a NUL and a 1500-character
# line in its input; a message whose body a milter (milter_act replbody,
# on a second smtpd listener) replaces with bare CRs, bare LFs, NULs,
# CRLF "." CRLF and a 1500-character line. Each goes to two recipients.
# Out: two smtp_peer.py next hops on loopback (transport_maps), one
# without CHUNKING (DATA, dot-stuffed) and one with it (BDAT), that record
# every raw byte received and each message's content. Checked there: the
# raw bytes and each message's content as above, every message arrived by
# the expected command, none came from evil@example.net, each subject
# exactly once, the smuggled text arrived as content, the long lines were
# broken (CRLF SPACE) without losing a character.
. "$(dirname "$0")/lib.sh"
for p in sendmail pickup qmgr smtpd smtp ternconf; do
	[ -x "$TERN_TOP/stage/$p" ] || skip "$p is not built"
done
need_cmd python3
[ -x "$TERN_TOP/tests/e2e/milter_act" ] || skip "tests/e2e/milter_act is not built (needs libmilter)"
here=$(dirname "$0")
. "$here/milterlib.sh"

tern_instance
# peer NAME OPTION...: smtp_peer.py on a port the system picks (written in
# $TERN_DIR/NAME.port), recording into $TERN_DIR/NAME.json and NAME.json.raw.
peer() {
	_n=$1
	shift
	python3 "$TERN_TOP/tests/e2e/smtp_peer.py" 127.0.0.1 0 --record "$TERN_DIR/$_n.json" \
		--ready "$TERN_DIR/$_n.port" "$@" >"$TERN_DIR/$_n.log" 2>&1 &
	at_cleanup "kill $!"
}
peer data
peer bdat --ext PIPELINING --ext 8BITMIME --ext SMTPUTF8 --ext DSN --ext ENHANCEDSTATUSCODES --ext CHUNKING
ml_init
# The body the milter puts in place of the one it is sent ("\:" is a colon).
long=$(head -c 1500 /dev/zero | tr '\0' L)
ml_act repl "replbody:replaced\\rbare cr\\nbare lf\\r\\n.\\r\\nMAIL FROM\\:<evil@example.net>\\r\\n\\x00.\\r\\nnul\\x00byte\\r\\n$long\\r\\n.\\rend"

mport=$(free_port)
wait_for "the DATA peer" test -s "$TERN_DIR/data.port"
wait_for "the BDAT peer" test -s "$TERN_DIR/bdat.port"
dport=$(cat "$TERN_DIR/data.port") bport=$(cat "$TERN_DIR/bdat.port")
printf 'data.test\tsmtp:[127.0.0.1]:%s\nbdat.test\tsmtp:[127.0.0.1]:%s\n' "$dport" "$bport" >"$TERN_DIR/transport"
ternconf -e "transport_maps = texthash:$TERN_DIR/transport" "smtpd_forbid_bare_newline = no" \
	"smtp_destination_concurrency_limit = 1" || fail "ternconf -e"
printf 'milter        inet    %s    -  -  -  1  smtpd -o smtpd_milters=%s\n' "$mport" "$(ml_sock repl)" \
	>>"$TERN_DIR/master.cf"
tern_start
wait_for_port "$mport"

python3 "$here/smuggle_battery.py" "$TERN_PORT" data u@data.test u@bdat.test &
battery=$!
python3 "$here/smuggle_battery.py" "$TERN_PORT" bdat u@data.test u@bdat.test || fail "battery over BDAT"
wait $battery || fail "battery over DATA"
printf 'Subject: sendmail-raw\n\nbare\rcr\nx\r\n.\r\nMAIL FROM:<evil@example.net>\r\nnul\000byte\n%s\n.\rend\n' "$long" |
	sendmail -i -f sender@example.org u@data.test u@bdat.test || fail "sendmail"
python3 - "$mport" <<'EOF' || fail "SMTP to the milter listener"
import smtplib, sys
with smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=30) as s:
    s.sendmail("sender@example.org", ["u@data.test", "u@bdat.test"],
               b"Subject: milter-body\r\n\r\nthe body the milter replaces\r\n")
EOF
ml_wait_log repl '^act .*replbody rc=0' || fail "the milter did not replace the body: $(cat "$(ml_log repl)")"

# 15 + 15 + 1 + 1 messages at each peer.
want=32
wait_for "$want messages at the DATA peer" sh -c "[ \$(wc -l < '$TERN_DIR/data.json') -ge $want ]"
wait_for "$want messages at the BDAT peer" sh -c "[ \$(wc -l < '$TERN_DIR/bdat.json') -ge $want ]"

python3 - "$TERN_DIR/data.json" "$TERN_DIR/bdat.json" "$want" <<'EOF' || fail "what the next hops received (above)"
import base64, json, re, sys
want = ["battery-%d" % n for n in range(15)] + ["bdat-battery-%d" % n for n in range(15)]
want += ["sendmail-raw", "milter-body"]
assert len(want) == int(sys.argv[3])
bad = []
def crlf_lines(name, data, longest):
    """data is CRLF lines only, none longer than longest, no NUL."""
    if b"\0" in data:
        bad.append("%s: a NUL" % name)
    if not data.endswith(b"\r\n"):
        bad.append("%s: does not end with CRLF" % name)
    for ln in data.split(b"\r\n"):
        if b"\r" in ln or b"\n" in ln:
            bad.append("%s: bare CR or LF: %r" % (name, ln[:80]))
        if len(ln) > longest:
            bad.append("%s: a line of %d bytes" % (name, len(ln)))

for path, bdat in ((sys.argv[1], False), (sys.argv[2], True)):
    # Everything sent, commands and content, in CRLF lines; the content
    # lines of DATA may have one dot more (stuffing, not counted).
    crlf_lines(path + " (on the wire)", open(path + ".raw", "rb").read(), 999)
    got = []
    for rec in open(path):
        m = json.loads(rec)
        d = base64.b64decode(m["data_b64"])
        # The first Subject: the header's (the smuggled one is in the body).
        subj = re.findall(rb"^Subject: (\S+)\r$", d, re.M)[:1]
        name = "%s: %s" % (path, subj[0].decode() if subj else repr(d[:60]))
        got.append(subj[0].decode() if subj else "?")
        if m["mail_from"] != "sender@example.org":
            bad.append("%s: a message from <%s>: a smuggled transaction" % (name, m["mail_from"]))
        if m["bdat"] != bdat:
            bad.append("%s: sent with %s" % (name, "BDAT" if m["bdat"] else "DATA"))
        crlf_lines(name, d, 998)
        # What the sender tried to smuggle is there, as content.
        if b"MAIL FROM:<evil@example.net>" not in d:
            bad.append("%s: the smuggled text is missing: %r" % (name, d))
        if subj in ([b"sendmail-raw"], [b"milter-body"]):
            joined = d.replace(b"\r\n ", b"")
            if b"\r\n L" not in d or b"\n" + b"L" * 1500 + b"\r" not in joined:
                bad.append("%s: the 1500-character line, broken with CRLF SPACE: %r" % (name, d))
    if sorted(got) != sorted(want):
        bad.append("%s: subjects %s, want each of %s once" % (path, sorted(got), sorted(want)))
for b in bad:
    print(b, file=sys.stderr)
sys.exit(1 if bad else 0)
EOF
pass
