#!/bin/sh
# t_local_batch.sh - local answers a batch of requests (lproto.h
# "Batches") only after its last request, in order, and makes its Maildir
# files durable together: no file is in new/ and no answer comes before
# the request with hold 0, then every file is in new/ and the log says
# "synced 3 maildir deliveries at once". A connection that ends in the
# middle of a batch leaves none of its files (neither in new/ nor in
# tmp/) and gets no answer.
#
# The test speaks the protocol to local's socket itself (a small Python
# client); the instance's qmgr is switched off (0 processes in
# master.cf) so that it does not deliver the hand-made queue files in
# active/ first.
. "$(dirname "$0")/lib.sh"

need_root
need_cmd python3
tern_instance
awk 'BEGIN { OFS = "\t" } $1 == "qmgr" && NF >= 8 { $7 = 0 } { print }' "$TERN_DIR/master.cf" \
	> "$TERN_DIR/master.cf.new" && mv "$TERN_DIR/master.cf.new" "$TERN_DIR/master.cf" ||
	fail "cannot edit master.cf"
grep -Eq '^qmgr[[:space:]].*[[:space:]]0[[:space:]]+qmgr$' "$TERN_DIR/master.cf" ||
	fail "cannot switch qmgr off in master.cf"
qdir=$(ternconf -h queue_directory) || fail "ternconf queue_directory"
owner=$(ternconf -h mail_owner) || fail "ternconf mail_owner"
mkdir -p "$qdir/active" || fail "mkdir active"

# Queue file K (1..3) holds K recipients; the one at index K-1 is
# batch@localhost, so the index in each answer tells which request it
# answers.
now=$(date +%s)
ids=""
for k in 1 2 3; do
	id=$(printf '%X%05X%X' "$now" $((4660 + k)) 48879)
	ids="$ids $id"
	body=$(printf 'Subject: batch %s\n\nmessage number %s\n' "$k" "$k")
	len=$(printf '%s\n' "$body" | wc -c)
	{
		printf 'TERNQ 1\nT %s.000000\nI %s\nS sender@example.org\n' "$now" "$id"
		i=1
		while [ "$i" -lt "$k" ]; do
			printf 'R-0\tother%s@localhost\t\n' "$i"
			i=$((i + 1))
		done
		printf 'R-0\tbatch@localhost\t\n'
		printf 'M %020d\n' "$len"
		printf '%s\n' "$body"
		printf 'E\n'
	} > "$qdir/active/$id" || fail "write a queue file"
	chown "$owner" "$qdir/active/$id" && chmod 600 "$qdir/active/$id" || fail "chown"
done
tern_start
wait_for "local's socket" test -S "$qdir/private/local"

cat > "$TERN_DIR/lclient.py" <<'EOF'
# lclient.py QDIR MAILDIR MODE ID... - send one request per queue id
# (recipient at index K-1 for the Kth id) with hold 1 but the last
# (MODE full) or with hold 1 throughout and then end the connection
# (MODE abort). Checks what local must (not) have done between requests.
import select, socket, struct, sys, time, os

qdir, maildir, mode, ids = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
deadline = float(os.environ.get("TERN_WAIT", "60"))

def s(v):
    b = v.encode()
    return b"s" + struct.pack(">I", len(b)) + b

def i(v):
    return b"i" + struct.pack(">q", v)

def request(qid, index, hold):
    p = s("deliver") + s(qid) + s("active/" + qid) + s("sender@example.org") + i(1)
    p += i(index) + s("batch@localhost") + s("") + i(1 if hold else 0)
    return struct.pack(">I", len(p)) + p

def files(sub):
    try:
        return sorted(os.listdir(os.path.join(maildir, sub)))
    except FileNotFoundError:
        return []

def bad(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)

def read_exact(c, n):
    data = b""
    while len(data) < n:
        chunk = c.recv(n - len(data))
        if not chunk:
            bad("connection closed after %d of %d bytes" % (len(data), n))
        data += chunk
    return data

def fields(payload):
    out, k = [], 0
    while k < len(payload):
        t = payload[k:k + 1]
        if t == b"s":
            n = struct.unpack(">I", payload[k + 1:k + 5])[0]
            out.append(payload[k + 5:k + 5 + n].decode())
            k += 5 + n
        elif t == b"i":
            out.append(struct.unpack(">q", payload[k + 1:k + 9])[0])
            k += 9
        else:
            bad("bad field type %r" % t)
    return out

c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
c.connect(os.path.join(qdir, "private", "local"))
c.settimeout(deadline)
held = 0
for n, qid in enumerate(ids):
    last = n == len(ids) - 1 and mode == "full"
    before = len(files("new"))
    c.sendall(request(qid, n, not last))
    if last:
        break
    held += 1
    # Wait until local has written this message (into tmp/), then give
    # it time to (wrongly) answer or move it into new/.
    end = time.time() + deadline
    while len(files("tmp")) < held and len(files("new")) == before:
        if time.time() > end:
            bad("request %d: no file written" % (n + 1))
        time.sleep(0.05)
    time.sleep(0.5)
    if len(files("new")) != before:
        bad("request %d (hold 1): a file is in new/ before the batch ended" % (n + 1))
    if len(files("tmp")) != held:
        bad("request %d (hold 1): %d files in tmp/, want %d" % (n + 1, len(files("tmp")), held))
    if select.select([c], [], [], 0)[0]:
        bad("request %d (hold 1): local answered before the batch ended" % (n + 1))

if mode == "abort":
    c.shutdown(socket.SHUT_WR)
    if c.recv(1) != b"":
        bad("an answer to a batch that did not end")
    sys.exit(0)

for n in range(len(ids)):
    length = struct.unpack(">I", read_exact(c, 4))[0]
    f = fields(read_exact(c, length))
    if f[0] != "status" or f[1] != n or f[2] != 0:
        bad("answer %d: %r (want status, index %d, sent)" % (n + 1, f, n))
c.settimeout(1)
try:
    extra = c.recv(1)
except socket.timeout:
    extra = b""
if extra:
    bad("more answers than requests")
print("answers in order: %d" % len(ids))
EOF

md="$TERN_DIR/mail/batch"
# (a) three requests, hold 1, 1, 0.
python3 "$TERN_DIR/lclient.py" "$qdir" "$md" full $ids || { show_log; fail "batch of three"; }
[ "$(ls "$md/new" | wc -l)" -eq 3 ] || fail "want 3 files in new/, have: $(ls "$md/new")"
[ "$(ls "$md/tmp" | wc -l)" -eq 0 ] || fail "files left in tmp/: $(ls "$md/tmp")"
for k in 1 2 3; do
	grep -qs "message number $k" "$md"/new/* || fail "message $k is not in new/"
done
wait_for_log "synced 3 maildir deliveries at once"

# (b) two requests with hold 1, then the connection ends: nothing stays.
set -- $ids
python3 "$TERN_DIR/lclient.py" "$qdir" "$md" abort "$1" "$2" || { show_log; fail "broken-off batch"; }
_tmp_empty() { [ "$(ls "$md/tmp" | wc -l)" -eq 0 ]; }
wait_for "the broken-off batch's files removed from tmp/" _tmp_empty
wait_for_log "connection ended before its batch: 2 maildir deliveries removed"
[ "$(ls "$md/new" | wc -l)" -eq 3 ] || fail "the broken-off batch left files in new/: $(ls "$md/new")"

# (c) a batch of one (what qmgr sends when it does not batch) is answered at once.
python3 "$TERN_DIR/lclient.py" "$qdir" "$md" full "$1" || { show_log; fail "batch of one"; }
[ "$(ls "$md/new" | wc -l)" -eq 4 ] || fail "the single request's file is not in new/"
[ "$(ls "$md/tmp" | wc -l)" -eq 0 ] || fail "files left in tmp/ after the single request"
pass
