#!/bin/sh
# t_smtpd_dsn_delay.sh - NOTIFY given over SMTP decides the delay warning
# and the expiry bounce of mail that cannot be delivered (its next hop,
# relayhost, accepts no connection): without NOTIFY both come; with
# NOTIFY=FAILURE only the bounce; with NOTIFY=DELAY only the warning;
# with NOTIFY=NEVER neither (RFC 3461 section 4.1).
. "$(dirname "$0")/lib.sh"
for p in smtpd local qmgr pickup ternconf ternqueue; do
	[ -x "$TERN_TOP/stage/$p" ] || skip "$p is not built"
done
need_cmd python3

tern_instance
dead=$(free_port)	# nothing listens there: every attempt is deferred
ternconf -e "relayhost = [127.0.0.1]:$dead" "delay_warning_time = 2s" \
	"maximal_queue_lifetime = 6s" "bounce_queue_lifetime = 6s" "minimal_backoff_time = 1s" \
	"maximal_backoff_time = 2s" "queue_run_delay = 1s" || fail "ternconf -e"
tern_start
wait_for_port "$TERN_PORT"
count() { ls "$TERN_DIR/mail/$1/new" 2>/dev/null | wc -l; }
actions() { cat "$TERN_DIR"/mail/"$1"/new/* 2>/dev/null | sed -n 's/^Action: //p' | sort | tr '\n' ' '; }

for n in none failure delay never; do
	case $n in none) opt="" ;; *) opt="-N $n" ;; esac
	# shellcheck disable=SC2086
	printf 'Subject: stuck-%s\n\nx\n' "$n" | TERN_SUBMIT=smtp submit $opt -f "s-$n@localhost" "far-$n@remote.example" \
		|| fail "SMTP submission ($n)"
done
# Every message expires; afterwards nothing more can come.
wait_for "the stuck messages to expire" tern_queue_empty
wait_for_log 'to=<far-never@remote\.example>.*status=bounced'
# Notices are queued before the original is removed; let them be delivered.
wait_for "the notices to be delivered" tern_queue_empty

[ "$(actions s-none)" = "delayed failed " ] || fail "no NOTIFY: got '$(actions s-none)', want a warning and a bounce"
[ "$(actions s-failure)" = "failed " ] || fail "NOTIFY=FAILURE: got '$(actions s-failure)', want the bounce only"
[ "$(actions s-delay)" = "delayed " ] || fail "NOTIFY=DELAY: got '$(actions s-delay)', want the warning only"
[ "$(count s-never)" = 0 ] || fail "NOTIFY=NEVER: got '$(actions s-never)', want nothing"
pass
