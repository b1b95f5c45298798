#!/bin/sh
# t_qmgr_batch.sh - a backlog for one local recipient is delivered in
# batches (local_destination_batch_limit): the queue manager hands one
# delivery process many messages for that recipient, the local delivery
# agent syncs them at once and answers each. Every message arrives once,
# a message that fails inside a batch fails alone (its own bounce, the
# others delivered), messages for two recipients are not batched with
# either, and a limit of 1 turns batching off.
. "$(dirname "$0")/lib.sh"

tern_instance
qdir=$(ternconf -c "$TERN_DIR" -h queue_directory 2>/dev/null) || qdir="$TERN_DIR/queue"
ternconf -c "$TERN_DIR" -e mailbox_size_limit=20000 >/dev/null || fail "ternconf -e"

# Queued while the instance is stopped, so that all of them wait at once.
queue_one() {	# SUBJECT SIZE RCPT...
	subject=$1 size=$2
	shift 2
	{
		printf 'Subject: %s\n\n' "$subject"
		head -c "$size" /dev/zero | tr '\0' 'x' | fold -w 70
		echo
	} | sendmail -C "$TERN_DIR" -f sender@localhost "$@" || fail "sendmail for $subject"
}
for i in $(seq 1 40); do
	if [ "$i" = 17 ]; then
		queue_one "batch $i" 40000 keep@localhost	# over mailbox_size_limit
	else
		queue_one "batch $i" 100 keep@localhost
	fi
done
for i in 1 2 3; do queue_one "both $i" 100 keep@localhost other@localhost; done
for i in 1 2 3 4 5; do queue_one "other $i" 100 other@localhost; done

tern_start
wait_for_mail keep 42
wait_for_mail other 8
wait_for_mail sender 1
# A function, so that each try lists the directories again (an argument's
# "$(ls ...)" would be expanded once, before the first try).
_queue_empty() { [ -z "$(ls -A "$qdir/maildrop" "$qdir/incoming" "$qdir/active" | grep -v :)" ]; }
wait_for "the queue to empty" _queue_empty

subjects() { grep -h '^Subject: ' "$TERN_DIR/mail/$1/new/"* | sed 's/^Subject: //' | sort; }
dups=$(subjects keep | uniq -d)
[ -z "$dups" ] || fail "delivered twice to keep: $dups"
[ "$(subjects keep | grep -c '^batch ')" = 39 ] || fail "keep got $(subjects keep | grep -c '^batch ') of 39 batch messages"
subjects keep | grep -qx 'batch 17' && fail "the message over mailbox_size_limit reached the mailbox"
[ "$(subjects keep | grep -c '^both ')" = 3 ] || fail "keep did not get the three two-recipient messages"
[ "$(subjects other | uniq -d)" = "" ] || fail "delivered twice to other"
[ "$(subjects other | wc -l)" = 8 ] || fail "other got $(subjects other | wc -l) of 8 messages"
grep -q 'mailbox_size_limit' "$TERN_DIR/mail/sender/new/"* || fail "no bounce for the oversized message"
[ -z "$(ls -A "$qdir/deferred" "$qdir/corrupt" | grep -v :)" ] || { show_log; fail "something was deferred or corrupt"; }
# Batches happened, each made durable at its end.
grep -Eq 'synced ([2-9]|[1-9][0-9]+) maildir deliveries at once' "$TERN_DIR/maillog" \
	|| { show_log; fail "no batch was synced at once"; }

# A limit of 1: one message per delivery, no batch.
tern_stop
ternconf -c "$TERN_DIR" -e local_destination_batch_limit=1 >/dev/null || fail "ternconf -e"
batches=$(grep -c 'maildir deliveries at once' "$TERN_DIR/maillog")
for i in $(seq 1 20); do queue_one "single $i" 100 keep@localhost; done
tern_start
wait_for_mail keep 62
[ "$(subjects keep | grep -c '^single ')" = 20 ] || fail "keep did not get the 20 single messages"
[ -z "$(subjects keep | uniq -d)" ] || fail "delivered twice with a limit of 1"
# local logs a batch's sync after its renames into new/, before its replies:
# once the queue is empty, every such line is in the log.
wait_for "the queue to empty" _queue_empty
[ "$(grep -c 'maildir deliveries at once' "$TERN_DIR/maillog")" = "$batches" ] \
	|| fail "a batch was synced with local_destination_batch_limit = 1"
pass
