#!/bin/sh
# t_qmgr_pool.sh - qmgr's delivery processes are reused (one process
# delivers message after message, over one connection to local), retired
# after max_use hand-overs (a batch of messages for one mailbox is one),
# and one killed in the middle of a delivery leaves its message deferred,
# then delivered: nothing is lost. At most
# local_destination_concurrency_limit deliveries to one recipient run at
# once, and mail for other recipients does not wait behind them.
. "$(dirname "$0")/lib.sh"

tern_instance
ternconf -c "$TERN_DIR" -e max_use=3 minimal_backoff_time=1s maximal_backoff_time=2s \
	queue_run_delay=1s >/dev/null || fail "ternconf -e"
tern_start

# Sent one at a time, each delivered before the next: an idle worker is
# always there, so the same processes serve them all, max_use at most each.
# Delivered is the worker's status=sent line, not only the mail in new/:
# the worker logs it once local has answered, after the rename into new/
# (and the count of those lines below needs the last one).
_sent() { [ "$(grep -cE 'to=<keep@localhost>.*status=sent' "$TERN_DIR/maillog")" -ge "$1" ]; }
i=1
while [ $i -le 9 ]; do
	printf 'Subject: pool %s\n\nhello\n' "$i" | sendmail -C "$TERN_DIR" -i keep@localhost \
		|| fail "sendmail exited $?"
	wait_for_mail keep "$i"
	wait_for "the delivery of message $i logged" _sent "$i"
	i=$((i + 1))
done
pids=$(grep -E 'to=<keep@localhost>.*status=sent' "$TERN_DIR/maillog" |
	sed -n 's/.*tern\/qmgr\[\([0-9]*\)\].*/\1/p')
distinct=$(echo "$pids" | sort -u | wc -l)
most=$(echo "$pids" | sort | uniq -c | sort -rn | awk 'NR == 1 {print $1}')
[ "$(echo "$pids" | wc -l)" -eq 9 ] || { show_log; fail "expected 9 deliveries, log has $(echo "$pids" | wc -l)"; }
# A process per message would make 9 distinct pids; reuse with max_use=3 makes 3.
[ "$distinct" -le 4 ] || { show_log; fail "$distinct delivery processes for 9 messages: not reused"; }
[ "$most" -le 3 ] || { show_log; fail "one delivery process delivered $most messages, max_use is 3"; }

# A batch is one hand-over: four messages queued while qmgr is stopped
# go to one delivery process together, which stays afterwards: it has
# been handed work once, not four times (max_use is 3). A reload first,
# for a fresh pool: above, a message handed out before the answer of the
# one before arrived may have started a second process, with uses of its
# own.
old=$(tern_qmgr_pid)
tern_reload
_new_qmgr() { q=$(tern_qmgr_pid); [ -n "$q" ] && [ "$q" != "$old" ]; }
wait_for "the qmgr of the reload" _new_qmgr
kill -STOP "$q" || fail "kill -STOP qmgr"
at_cleanup "kill -CONT $q 2>/dev/null"
for i in 1 2 3 4; do
	printf 'Subject: batch %s\n\nhello\n' "$i" | sendmail -C "$TERN_DIR" -i keep@localhost \
		|| { kill -CONT "$q"; fail "sendmail exited $?"; }
done
_four_in() { [ "$(ls "$TERN_DIR/queue/incoming" | wc -l)" -ge 4 ]; }
wait_for "four messages in incoming/" _four_in
kill -CONT "$q"
wait_for "the delivery of the batch logged" _sent 13
bpid=$(grep -E 'to=<keep@localhost>.*status=sent' "$TERN_DIR/maillog" | tail -n 4 |
	sed -n 's/.*tern\/qmgr\[\([0-9]*\)\].*/\1/p' | sort -u)
[ "$(echo "$bpid" | wc -l)" -eq 1 ] || { show_log; fail "the batch of four was delivered by more than one process: $bpid"; }
grep -q 'synced 4 maildir deliveries at once' "$TERN_DIR/maillog" || { show_log; fail "the four were not one batch to local"; }
# Retired, it would leave at once (qmgr closes its end, and it exits at
# the end of file): a second later it is still there, and no zombie.
sleep 1
state=$(awk '/^State:/ { print $2 }' "/proc/$bpid/status" 2>/dev/null)
[ -n "$state" ] && [ "$state" != Z ] || { show_log; fail "the batch's delivery process $bpid was retired after one batch (max_use 3)"; }

# A worker killed during a delivery: hold the delivery in a pipe to a
# command that waits, kill the worker, the message is deferred and then
# delivered by another worker once the command lets it through.
# (The command runs as default_privs: it writes where anyone may.)
out="$TERN_DIR/out"
mkdir "$out" && chmod 1777 "$out" || fail "mkdir $out"
gate="$out/gate"
printf 'slow: "|while [ ! -e %s ]; do sleep 0.1; done; cat > %s/slow.$$$$"\n' "$gate" "$out" >> "$TERN_DIR/aliases"
newaliases -C "$TERN_DIR" >/dev/null || fail "newaliases"
before=$(grep -c '(queue active)' "$TERN_DIR/maillog")
printf 'Subject: slow\n\nslow one\n' | sendmail -C "$TERN_DIR" -i slow@localhost || fail "sendmail exited $?"
_worker_of_slow() {
	[ "$(grep -c '(queue active)' "$TERN_DIR/maillog")" -gt "$before" ] || return 1
	w=$(grep '(queue active)' "$TERN_DIR/maillog" | tail -n 1 |
		sed -n 's/.*tern\/qmgr\[\([0-9]*\)\].*/\1/p')
	[ -n "$w" ] && [ -d "/proc/$w" ]
}
wait_for "the delivery process of the slow message" _worker_of_slow
kill -9 "$w" || fail "kill $w"
wait_for_log "delivery process $w ended abnormally"
touch "$gate"
_slow_delivered() { grep -qs 'slow one' "$out"/slow.*; }
wait_for "the slow message, delivered again" _slow_delivered
wait_for_log 'to=<slow@localhost>.*status=sent'
! grep -q 'to=<slow@localhost>.*status=bounced' "$TERN_DIR/maillog" || { show_log; fail "the slow message bounced"; }

# Five messages for a mailbox that takes its time (a command that waits
# for a gate): two deliveries at once with the default limit, and mail
# for someone else goes through meanwhile.
gate2="$out/gate2"
printf 'busybox: "|touch %s/started.$$$$; while [ ! -e %s ]; do sleep 0.1; done; cat > %s/busy.$$$$"\n' \
	"$out" "$gate2" "$out" >> "$TERN_DIR/aliases"
newaliases -C "$TERN_DIR" >/dev/null || fail "newaliases"
for i in 1 2 3 4 5; do
	printf 'Subject: busy %s\n\nbusy\n' "$i" | sendmail -C "$TERN_DIR" -i busybox@localhost \
		|| fail "sendmail exited $?"
done
_started() { [ "$(ls "$out" | grep -c '^started\.')" -ge "$1" ]; }
wait_for "two deliveries to busybox" _started 2
before_keep=$(ls "$TERN_DIR/mail/keep/new" | wc -l)
printf 'Subject: meanwhile\n\nhello\n' | sendmail -C "$TERN_DIR" -i keep@localhost || fail "sendmail exited $?"
wait_for_mail keep $((before_keep + 1))
sleep 1		# would a third delivery to busybox start? It must not.
n=$(ls "$out" | grep -c '^started\.')
[ "$n" -eq 2 ] || { show_log; fail "$n deliveries to busybox at once, local_destination_concurrency_limit is 2"; }
touch "$gate2"
_busy_done() { [ "$(ls "$out" | grep -c '^busy\.')" -ge 5 ]; }
wait_for "five messages for busybox" _busy_done
[ "$(ls "$out" | grep -c '^started\.')" -eq 5 ] || fail "busybox deliveries: $(ls "$out")"
pass
