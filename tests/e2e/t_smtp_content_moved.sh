#!/bin/sh
# t_smtp_content_moved.sh - the smtp program reads a message's content
# without the queue file's lock (its delivery process holds that). Should
# the file leave active/ while the content goes out (the delivery process
# died, another one delivered the message and gave the file to the pool,
# and a writer wrote a new message over it), what was read may be another
# message's: the transfer is abandoned before its end of data
# (smtp_session.c, qfile_still_there) and the server gets no message. Here
# the file is moved out of active/ by hand while a peer stalls in the
# middle of the content (12 MB, more than the socket buffers hold, so that
# smtp is still reading the file), then the peer reads on; the recipient
# is deferred with that reason and no other server is tried. Once with
# DATA, once with BDAT (CHUNKING).
. "$(dirname "$0")/lib.sh"
need_cmd python3

tern_instance
qdir=$(ternconf -c "$TERN_DIR" -h queue_directory 2>/dev/null) || qdir="$TERN_DIR/queue"
ternconf -c "$TERN_DIR" -e "message_size_limit = 40000000" >/dev/null || fail "ternconf -e"

# round NAME [PEER OPTION...]: one message through a peer that stalls in
# its content, the queue file moved out of active/ meanwhile.
round() {
	name=$1
	shift
	peer=$TERN_DIR/peer.$name
	mkdir "$peer" || fail "mkdir"
	port=$(free_port)
	python3 "$TERN_TOP/tests/e2e/smtp_peer.py" 127.0.0.1 "$port" --ready "$peer/ready" \
		--record "$peer/messages.json" --stall body=4 --rcvbuf 8192 "$@" >"$peer/log" 2>&1 &
	at_cleanup "kill $!"
	wait_for "the peer to listen" test -s "$peer/ready"
	ternconf -c "$TERN_DIR" -e "relayhost = [127.0.0.1]:$port" >/dev/null || fail "ternconf -e relayhost"
	tern_reload
	python3 -c 'import sys; sys.stdout.write("Subject: big\n\n" + ("x" * 76 + "\n") * 160000)' |
		sendmail -i -f alice@localhost "bob.$name@remote.example" || fail "sendmail"
	wait_for "the peer to stall in the content ($name)" grep -q 'stall 4s at body' "$peer/log"
	id=$(ls "$qdir/active")
	[ -n "$id" ] && [ "$(echo "$id" | wc -l)" = 1 ] || fail "not one file in active/: $id"
	mv "$qdir/active/$id" "$TERN_DIR/moved.$name" || fail "mv"
	wait_for_log "$id: the queue file left active/ while it was sent; transfer abandoned"
	wait_for_log "$id: to=<bob.$name@remote.example>.*status=deferred \(the queue file left active/ while it was sent\)"
	wait_for "the peer to see the connection end ($name)" grep -q 'conn 1: closed' "$peer/log"
	[ ! -s "$peer/messages.json" ] || fail "$name: the peer got the message: $(head -c 300 "$peer/messages.json")"
	# One server only: no other was tried with what the file holds now.
	[ "$(grep -c ': from ' "$peer/log")" = 1 ] || fail "$name: more than one connection"
}

tern_start
round data
round bdat --ext PIPELINING --ext 8BITMIME --ext CHUNKING
grep -q 'BDAT' "$TERN_DIR/peer.bdat/messages.json.raw" || fail "the bdat round did not use BDAT"
pass
