#!/bin/sh
# t_qadmin_active.sh - ternqueue -h and -d on a message while it is being
# delivered (when an administrator acts on a slow message): the delivery
# in hand ends, and its end is no error. (a) held, then deferred: it stays
# in hold/ with its reasons and is not tried again; (b) held, then
# delivered: it leaves hold/; (c) removed, then deferred: nothing of it
# is left, defer/ID included; (d) held and released again, then deferred:
# retried from wherever it is (incoming/ or active/ again), delivered
# once. The command of each alias waits for a file of its own before it
# ends.
. "$(dirname "$0")/lib.sh"

need_root
need_cmd python3
tern_instance
out="$TERN_DIR/out"
mkdir -p "$out" && chmod 1777 "$out"
# wait_cmd NAME STATUS: touch started.NAME, wait for go.NAME, keep the message, exit STATUS.
wait_cmd() {
	echo "$1 \"|/bin/sh -c 'touch $out/started.$1; while [ ! -e $out/go.$1 ]; do sleep 0.1; done; cat >> $out/$1; exit $2'\""
}
{
	wait_cmd held 75; wait_cmd delivered 0; wait_cmd removed 75
	# released: defers its first run, takes the message the next time.
	echo "released \"|/bin/sh -c 'if [ -e $out/started.released ]; then cat >> $out/released; exit 0; fi; touch $out/started.released; while [ ! -e $out/go.released ]; do sleep 0.1; done; exit 75'\""
} > "$TERN_DIR/aliases.map"
ternconf -e "alias_maps = texthash:$TERN_DIR/aliases.map" "minimal_backoff_time = 1s" "maximal_backoff_time = 2s" \
	"queue_run_delay = 1s" || fail "ternconf -e"
tern_start
qdir="$TERN_DIR/queue"

# active_id: the queue id of the one message in active/.
active_id() { ls "$qdir/active" | head -n 1; }

# act NAME OPTION: send to NAME, act with ternqueue OPTION while its command runs, let it end.
act() {
	printf 'Subject: %s\n\nmessage %s\n' "$1" "$1" | sendmail -i "$1@localhost" || fail "sendmail"
	wait_for "the command of $1 to start" test -e "$out/started.$1"
	id=$(active_id)
	[ -n "$id" ] || fail "$1: no message in active/"
	ternqueue "$2" "$id" || fail "ternqueue $2 $id"
	touch "$out/go.$1"
	wait_for "the command of $1 to end" test -s "$out/$1"
}

# no_error ID: the log has no error or warning about ID.
no_error() {
	if grep "$1" "$TERN_DIR/maillog" | grep -Eq 'error|warning'; then
		show_log
		fail "an error or warning about $1"
	fi
}

# (a) Held, then deferred by its command.
act held -h
wait_for_log "$id: placed on hold while being delivered; stays there"
[ -f "$qdir/hold/$id" ] || fail "(a) $id is not in hold/"
[ -f "$qdir/defer/$id" ] || fail "(a) $id has no reasons in defer/"
ternqueue -j | grep -q '"queue_name": *"hold"' || fail "(a) mailq does not list it on hold"
no_error "$id"
held=$id

# (b) Held, then delivered.
act delivered -h
wait_for_log "$id: placed on hold while being delivered, and delivered: removed"
[ ! -e "$qdir/hold/$id" ] || fail "(b) $id is still in hold/"
no_error "$id"

# (c) Removed, then deferred by its command.
act removed -d
wait_for_log "$id: removed from the queue while being delivered"
[ -z "$(find "$qdir" -name "$id")" ] || fail "(c) something of $id is left: $(find "$qdir" -name "$id")"
no_error "$id"

# (d) Held and released while being delivered, then deferred: retried, delivered once.
printf 'Subject: released\n\nmessage released\n' | sendmail -i released@localhost || fail "sendmail"
wait_for "the command of released to start" test -e "$out/started.released"
id=$(active_id)
ternqueue -h "$id" && ternqueue -H "$id" || fail "ternqueue -h, -H $id"
touch "$out/go.released"
wait_for "the released message to be retried" test -s "$out/released"
wait_for_log "$id: removed"
[ "$(grep -c '^message released' "$out/released")" -eq 1 ] || fail "(d) not delivered once"
if grep -q "$id: removed from the queue while being delivered" "$TERN_DIR/maillog"; then
	fail "(d) a released message was called removed"
fi
no_error "$id"

# The held message was not tried again (its command would have run twice).
ternqueue -f || fail "ternqueue -f"
sleep 2
[ "$(grep -c '^message held' "$out/held")" -eq 1 ] || fail "(a) the held message was tried again"
[ -f "$qdir/hold/$held" ] || fail "(a) $held left hold/"
tern_stop
pass
