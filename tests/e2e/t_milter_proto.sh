#!/bin/sh
# t_milter_proto.sh - Tern's milter protocol module (lib/mail/milter_proto.h)
# against a real libmilter filter, before the module is wired into smtpd:
# tests/e2e/milter_drive runs one message through tests/e2e/milter_filter
# over a Unix socket in a temporary directory, with protocol versions 6,
# 4 and 2. Checks the negotiation (flags, SETSYMLIST), what the filter
# received (macros, ESMTP arguments, header values with and without
# HDR_LEADSPC), SKIP after the first body chunk, the per-recipient
# REPLYCODE, and every end-of-message edit. No privileges needed.
# Then tests/e2e/milter_chain_drive runs a whole session through
# lib/mail/milter_chain.h (non-blocking sockets, milter_chain_wait) with
# the filter twice in one chain and a dead milter between them: the
# order of the milters, the edits of the first applied before the second
# sees the message, a refusal at RCPT that the second never sees, and the
# default actions accept, tempfail and reject of a milter that cannot be
# reached.
top=${TERN_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
filter=$top/tests/e2e/milter_filter
drive=$top/tests/e2e/milter_drive
chain=$top/tests/e2e/milter_chain_drive
for p in "$filter" "$drive" "$chain"; do
	[ -x "$p" ] || { echo "FAIL: $p not built (make check builds it)"; exit 1; }
done

d=$(mktemp -d /tmp/tern-t-milter.XXXXXX)
fpid=
cleanup() {
	[ -n "$fpid" ] && kill "$fpid" 2>/dev/null && wait "$fpid" 2>/dev/null
	rm -rf "$d"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

"$filter" "unix:$d/f.sock" "$d/filter.log" 2>"$d/filter.err" &
fpid=$!
i=0
while [ ! -S "$d/f.sock" ]; do
	i=$((i + 1))
	[ $i -gt 600 ] && { echo "FAIL: the filter did not start: $(cat "$d/filter.err")"; exit 1; }
	sleep 0.1
done

# closed N: until filter.log holds N "close" lines (60 s at most). The
# filter logs close when it sees the driver's QUIT, which may be after
# the driver has exited: a line read, or a log emptied for the next case,
# before then would miss it or get it late.
closed() {
	_i=0
	until [ "$(grep -c '^close$' "$d/filter.log")" -ge "$1" ]; do
		_i=$((_i + 1))
		[ $_i -gt 600 ] && { fail "the filter logged no close: $(cat "$d/filter.log")"; return 1; }
		sleep 0.1
	done
}

# Version 6: everything.
: >"$d/filter.log"
timeout 30 "$drive" "$d/f.sock" >"$d/v6.out" 2>&1 || fail "v6: $(cat "$d/v6.out")"
cat >"$d/v6.want" <<'WANT'
optneg c
negotiated version 6 actions 0x1ff proto 0x100500 max_data 65535
symlist 2 {mail_addr} i
connect c
helo c
unknown skipped
mail c
rcpt c
rcpt y 550 550 5.7.1 no bad 100%
data c
header c
header c
eoh c
body c
body skipped
eom a
mod h 0 X-Added| yes|
mod i 0 X-First| 1|
mod m 1 Subject| changed|
mod + 0 <new@example.com>|-|
mod 2 0 <par@example.com>|NOTIFY=NEVER|
mod - 0 <old@example.com>|-|
mod e 0 <s@example.com>|SIZE=10|
mod b new body\r\n|
mod q 0 held by test|-|
quit c
WANT
diff "$d/v6.want" "$d/v6.out" || fail "v6: the conversation differs"
cat >"$d/v6.log.want" <<'WANT'
connect client.example j=mx.example
helo client.example
mail <a@example.com> mail_addr=a@example.com
mail-arg SIZE=100
mail-arg BODY=8BITMIME
rcpt <old@example.com>
rcpt <bad@example.com>
data
header Subject:[ hello]
header From:[ <a@example.com>]
eoh
body 65535
eom
close
WANT
closed 1
diff "$d/v6.log.want" "$d/filter.log" || fail "v6: the filter saw something else"

# A 1 MiB data size offered: this filter keeps the default.
timeout 30 "$drive" -m 1048575 "$d/f.sock" >"$d/mds.out" 2>&1 || fail "mds: $(cat "$d/mds.out")"
grep -q '^negotiated version 6 .* max_data 65535$' "$d/mds.out" || fail "mds: $(head -2 "$d/mds.out")"
closed 2

# Version 4: no HDR_LEADSPC (values lose the blank), no SETSYMLIST.
: >"$d/filter.log"
timeout 30 "$drive" -v 4 "$d/f.sock" >"$d/v4.out" 2>&1 || fail "v4: $(cat "$d/v4.out")"
grep -q '^negotiated version 4 actions 0x3f proto 0x100 ' "$d/v4.out" || fail "v4: $(head -2 "$d/v4.out")"
grep -q '^symlist' "$d/v4.out" && fail "v4: a macro list without SETSYMLIST"
grep -q '^data c$' "$d/v4.out" || fail "v4: DATA not sent"
grep -q '^eom a$' "$d/v4.out" || fail "v4: no accept at end of message"
closed 1
grep -q '^header Subject:\[hello\]$' "$d/filter.log" || fail "v4: header value: $(grep Subject "$d/filter.log")"

# Version 2: no DATA, no UNKNOWN; SKIP is honoured although not negotiated.
: >"$d/filter.log"
timeout 30 "$drive" -v 2 "$d/f.sock" >"$d/v2.out" 2>&1 || fail "v2: $(cat "$d/v2.out")"
grep -q '^negotiated version 2 actions 0x3f proto 0x0 ' "$d/v2.out" || fail "v2: $(head -2 "$d/v2.out")"
grep -q '^data skipped$' "$d/v2.out" || fail "v2: DATA sent to a version 2 filter"
grep -q '^body skipped$' "$d/v2.out" || fail "v2: body sent after SKIP"
grep -q '^eom a$' "$d/v2.out" || fail "v2: no accept at end of message"
closed 1
grep -q '^data$' "$d/filter.log" && fail "v2: the filter saw DATA"

# The chain: filter, a milter that does not exist (default accept), filter.
: >"$d/filter.log"
timeout 60 "$chain" "unix:$d/f.sock" "unix:$d/none.sock" "unix:$d/f.sock" >"$d/chain.out" 2>&1 ||
	fail "chain: $(cat "$d/chain.out")"
sed "s|DIR|$d|" >"$d/chain.want" <<'WANT'
log warning: milter unix:DIR/none.sock: connect: No such file or directory; default_action = accept
connect continue
helo continue
unknown continue
mail continue
rcpt continue
rcpt reject 550 5.7.1 no bad 100%
data continue
apply h 0 X-Added| yes|
apply i 0 X-First| 1|
apply m 1 Subject| changed|
apply + 0 <new@example.com>|-|
apply 2 0 <par@example.com>|NOTIFY=NEVER|
apply - 0 <old@example.com>|-|
apply e 0 <s@example.com>|SIZE=10|
apply b! new body\n|
apply q 0 held by test|-|
apply h 0 X-Added| yes|
apply i 0 X-First| 1|
apply m 1 Subject| changed|
apply + 0 <new@example.com>|-|
apply 2 0 <par@example.com>|NOTIFY=NEVER|
apply - 0 <old@example.com>|-|
apply e 0 <s@example.com>|SIZE=10|
apply b! new body\n|
apply q 0 held by test|-|
message continue
header X-First: 1
header X-First: 1
header Subject: changed
header From: <a@example.com>
header X-Added: yes
header X-Added: yes
body new body\n
WANT
diff "$d/chain.want" "$d/chain.out" || fail "chain: the session differs"
# One milter talks at a time: each event reaches the first filter, then
# the second; the second sees the message as the first left it (one body
# chunk each: SKIP after the first; the replaced body is 10 bytes).
cat >"$d/chain.log.want" <<'WANT'
connect client.example j=mx.example
connect client.example j=mx.example
helo client.example
helo client.example
mail <a@example.com> mail_addr=a@example.com
mail-arg SIZE=100
mail-arg BODY=8BITMIME
mail <a@example.com> mail_addr=a@example.com
mail-arg SIZE=100
mail-arg BODY=8BITMIME
rcpt <old@example.com>
rcpt <old@example.com>
rcpt <bad@example.com>
data
data
header Subject:[ hello]
header From:[ <a@example.com>]
eoh
body N
eom
header X-First:[ 1]
header Subject:[ changed]
header From:[ <a@example.com>]
header X-Added:[ yes]
eoh
body 10
eom
close
close
WANT
closed 2
sed '19s/^body [0-9][0-9]*$/body N/' "$d/filter.log" >"$d/chain.log"
diff "$d/chain.log.want" "$d/chain.log" || fail "chain: the filters saw something else"

# A milter that cannot be reached, default_action = tempfail, then reject:
# every event of the session is refused, and the filter after it is not asked.
for act in tempfail reject; do
	: >"$d/filter.log"
	timeout 60 "$chain" -d $act "unix:$d/none.sock" "unix:$d/f.sock" >"$d/$act.out" 2>&1 ||
		fail "$act: $(cat "$d/$act.out")"
	case $act in
	tempfail) want='451 4.7.1 Service unavailable - try again later' ;;
	reject) want='550 5.5.0 Service unavailable' ;;
	esac
	[ "$(grep -c " $act $want\$" "$d/$act.out")" = 8 ] || fail "$act: $(cat "$d/$act.out")"
	grep -q "^log warning: milter unix:$d/none.sock: connect: .*default_action = $act\$" "$d/$act.out" ||
		fail "$act: no log line: $(cat "$d/$act.out")"
	sleep 0.2
	[ -s "$d/filter.log" ] && fail "$act: the second filter was asked: $(cat "$d/filter.log")"
done

[ $fails -eq 0 ] || exit 1
echo "ok"
