# smtpd_milter_lib.sh - helpers for the smtpd_milters end-to-end tests;
# source after lib.sh and smtpd_lib.sh, after tern_instance:
#
#	milter_start NAME SPEC...   tests/e2e/milter_act on unix:$MD/NAME.sock,
#	                            logging to $MD/NAME.log (pid in MPID_NAME)
#	garbage_start NAME MODE     tests/e2e/milter_garbage.py likewise
#	milter_launch NAME SPEC... / garbage_launch NAME MODE
#	                            start without waiting (start several at
#	                            once, then milter_ready NAME for each)
#	milter_link LINK NAME       make $MD/LINK.sock a symbolic link to
#	                            NAME's socket: smtpd, set up once for
#	                            LINK, reaches NAME from its next connection
#	                            on (no milter restart between cases; the
#	                            milter it pointed to before is stopped)
#	milter_stop NAME            SIGKILL it and wait (libmilter takes up to
#	                            5 s to notice a SIGTERM)
#	smtpd_launch NAME -o ...    an smtpd more (smtpd_lib.sh's smtpd_start
#	                            starts one), on its own port, logging to
#	                            $TERN_DIR/smtpd-NAME.out, not waited for:
#	                            launch several at once (smtpd_ports N
#	                            first picks N ports in one go), then
#	smtpd_ready NAME...         wait until each listens
#	smtpd_use NAME              make NAME the one smtp, send_one,
#	                            smtpd_alive talk to (SMTPD_PORT,
#	                            SMTPD_PID; SMTPD_OUT its log)
#	smtp STEP...                tests/e2e/milter_smtp.py to smtpd; the replies
#	                            (queue ids as ID) go to $OUT
#	replies_are <<EOF           $OUT is exactly the lines on stdin
#	queue_clear                 empty queue/incoming and queue/hold
#	smtpd_alive                 fail unless smtpd still runs
#
# The milters run as the test's user; smtpd, after dropping privileges,
# must reach their sockets: $MD is mode 755 and every socket mode 777.

MILTER_ACT=$TERN_TOP/tests/e2e/milter_act
MILTER_GARBAGE=$TERN_TOP/tests/e2e/milter_garbage.py
[ -x "$MILTER_ACT" ] || skip "tests/e2e/milter_act is not built (needs libmilter)"
MD=$TERN_DIR/milters
mkdir -p "$MD" && chmod 755 "$MD"
OUT=$TERN_DIR/replies
EXPECT=$TERN_DIR/expected

_milter_wait() {
	wait_for "milter socket $MD/$1.sock" test -S "$MD/$1.sock"
	chmod 777 "$MD/$1.sock"
}

milter_ready() { _milter_wait "$1"; }

milter_launch() {
	_n=$1
	shift
	rm -f "$MD/$_n.sock" "$MD/$_n.log"
	"$MILTER_ACT" "unix:$MD/$_n.sock" "$MD/$_n.log" "$@" >>"$MD/$_n.err" 2>&1 &
	eval "MPID_$_n=$!"
	at_cleanup "kill $!"
}
milter_start() { milter_launch "$@"; _milter_wait "$1"; }

garbage_launch() {
	rm -f "$MD/$1.sock" "$MD/$1.log"
	python3 "$MILTER_GARBAGE" "unix:$MD/$1.sock" "$MD/$1.log" "$2" >>"$MD/$1.err" 2>&1 &
	eval "MPID_$1=$!"
	at_cleanup "kill $!"
}
garbage_start() { garbage_launch "$@"; _milter_wait "$1"; }

# milter_link LINK NAME: the socket LINK points to milter NAME's; the milter
# it pointed to before is stopped (no case needs it again).
milter_link() {
	eval "_prev=\${LINKED_$1:-}"
	[ -n "$_prev" ] && [ "$_prev" != "$2" ] && milter_stop "$_prev"
	eval "LINKED_$1=\$2"
	ln -sfn "$2.sock" "$MD/$1.sock" || fail "ln $MD/$1.sock"
}

milter_stop() {
	eval "_p=\${MPID_$1:-}"
	[ -n "$_p" ] || return 0
	kill -KILL "$_p" 2>/dev/null
	wait "$_p" 2>/dev/null
	eval "MPID_$1="
	rm -f "$MD/$1.sock"
}

SMTPD_OUT=$TERN_DIR/smtpd.out

_smtpd_ports=""
# smtpd_ports N: N distinct free loopback ports, picked as free_port picks
# them (from this job's range, none handed out before in this test, and
# remembered in its list), for the next N smtpd_launch, with one Python
# start instead of N. (A range of their own matters: tests running at
# once that picked from one common range could both pick a port before
# either smtpd binds it.)
smtpd_ports() {
	_port_range
	_smtpd_ports=$(python3 -c 'import random, socket, sys
n, lo, size, used_file = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
try:
    used = set(int(l) for l in open(used_file) if l.strip())
except OSError:
    used = set()
got, socks = [], []
for _ in range(200 * n):
    if len(got) == n:
        break
    p = lo + random.randrange(size)
    if p in used or p in got:
        continue
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
    except OSError:
        continue
    socks.append(s)
    got.append(p)
if len(got) < n:
    sys.exit(1)
with open(used_file, "a") as f:
    f.write("".join("%d\n" % p for p in got))
print(" ".join(map(str, got)))' "$1" "$_lo" "$_n" "$_tern_ports") || fail "no free ports"
}

smtpd_launch() {
	_sn=$1
	shift
	if [ -n "$_smtpd_ports" ]; then
		_sp=${_smtpd_ports%% *}
		case $_smtpd_ports in *" "*) _smtpd_ports=${_smtpd_ports#* } ;; *) _smtpd_ports="" ;; esac
	else
		_sp=$(free_port)
	fi
	"$SMTPD_BIN" -c "$TERN_DIR" -o myhostname=$MYHOST -l 127.0.0.1:$_sp "$@" \
		>>"$TERN_DIR/smtpd-$_sn.out" 2>&1 &
	eval "SPID_$_sn=$! SPORT_$_sn=$_sp"
	at_cleanup "kill $!"
}

_smtpds_up() {
	for _sn in "$@"; do
		eval "_p=\$SPID_$_sn"
		kill -0 "$_p" 2>/dev/null || { cat "$TERN_DIR/smtpd-$_sn.out" >&2; fail "smtpd $_sn exited"; }
	done
	for _sn in "$@"; do
		eval "_port_busy \$SPORT_$_sn" || return 1
	done
}
# (lib.sh's _port_busy reads /proc: no client connection for smtpd to log.)
smtpd_ready() { wait_for "smtpds $* to listen" _smtpds_up "$@"; }

smtpd_use() {
	eval "SMTPD_PID=\$SPID_$1 SMTPD_PORT=\$SPORT_$1"
	SMTPD_OUT=$TERN_DIR/smtpd-$1.out
	export SMTPD_PORT
	smtpd_alive "smtpd_use $1"
}

smtp() {
	python3 "$TERN_TOP/tests/e2e/milter_smtp.py" "$SMTPD_PORT" "$@" >"$OUT.raw" 2>&1 ||
		{ cat "$OUT.raw" >&2; fail "smtp client failed: $*"; }
	sed -e 's/queued as [0-9A-F]*/queued as ID/' "$OUT.raw" >"$OUT"
}

# replies_are [WHAT]: $OUT must be exactly stdin.
replies_are() {
	cat >"$EXPECT"
	cmp -s "$EXPECT" "$OUT" || {
		diff "$EXPECT" "$OUT" >&2
		tail -n 20 "$SMTPD_OUT" >&2
		fail "${1:-replies} differ (- expected, + got)"
	}
}

# The queue id the last `smtp` got ("queued as X"), or "".
last_qid() { sed -n 's/.*queued as \([0-9A-F]*\).*/\1/p' "$OUT.raw" | tail -n 1; }

queue_clear() { rm -f "$TERN_DIR"/queue/incoming/* "$TERN_DIR"/queue/hold/*; }
incoming_count() { find "$TERN_DIR/queue/incoming" -type f | wc -l; }
hold_count() { find "$TERN_DIR/queue/hold" -type f | wc -l; }

smtpd_alive() { kill -0 "$SMTPD_PID" 2>/dev/null || { tail -n 30 "$SMTPD_OUT" >&2; fail "smtpd died ($1)"; }; }

# A whole transaction from a@localhost to RCPT (default postmaster@localhost).
EHLO="EHLO client.example"
MSG='MSG:Subject: hi\r\nFrom: a@localhost\r\n\r\nline1\r\nline2\r\n'
send_one() { smtp "$EHLO" "MAIL FROM:<a@localhost>" "RCPT TO:<${1:-postmaster@localhost}>" DATA "$MSG" QUIT; }

# The greeting and EHLO replies, as replies_are wants them.
GREET="220 $MYHOST ESMTP Tern"
EHLO_R="250-$MYHOST|250-PIPELINING|250-SIZE 10240000|250-ENHANCEDSTATUSCODES|250-8BITMIME|250-DSN|250-SMTPUTF8|250 CHUNKING"
REJ="550 5.7.1 Command rejected"
TMP="451 4.7.1 Service unavailable - try again later"
DENIED="503 5.7.0 Error: access denied for localhost[127.0.0.1]"

# The log lines of milter NAME for its connection that saw MAIL (smtpd_start's
# probe of the port makes a connection of its own), "conn=N" made "conn=1".
milter_conn_log() {
	_c=$(sed -n 's/^\(mail\|helo\) conn=\([0-9]*\) .*/\2/p' "$MD/$1.log" | tail -n 1)
	grep " conn=$_c\( \|$\)" "$MD/$1.log" | sed "s/ conn=$_c\( \|$\)/ conn=1\1/"
}

# next_ok: a good milter behind the socket f, one message through it: queued
# and filtered (with WHAT saying which case came before). When f.sock is
# a milter_link, it is linked to a milter "ok" (started if milter_link
# stopped it); else a new one is started on f.sock.
next_ok() {
	if [ -n "${LINKED_f:-}" ]; then
		[ -n "${MPID_ok:-}" ] || milter_start ok addheader:X-Checked:yes
		milter_link f ok
	else
		milter_stop f
		milter_start f addheader:X-Checked:yes
	fi
	queue_clear
	send_one
	grep -q "^250 2.0.0 Ok: queued as ID$" "$OUT" || { cat "$OUT" >&2; fail "$WHAT: the next message was not queued"; }
	grep -qx 'X-Checked: yes' "$TERN_DIR/queue/incoming/$(last_qid)" || fail "$WHAT: the next message was not filtered"
	smtpd_alive "$WHAT"
	queue_clear
}
# greeting_refused REPLY: send_one's replies when the connection is refused.
greeting_refused() {
	replies_are "$WHAT" <<X
$1
$DENIED
$DENIED
$DENIED
$DENIED
(no message sent)
221 2.0.0 Bye
X
}
# send_one's replies up to the message.
ONE_OK="$GREET
$EHLO_R
250 2.1.0 Ok
250 2.1.5 Ok
354 End data with <CR><LF>.<CR><LF>"

