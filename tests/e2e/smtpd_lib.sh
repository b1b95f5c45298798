# smtpd_lib.sh - helpers for smtpd's end-to-end tests; source after lib.sh:
#
#	. "$(dirname "$0")/lib.sh"
#	. "$(dirname "$0")/smtpd_lib.sh"
#	tern_instance
#	smtpd_start -o smtpd_timeout=2s     # smtpd on a free port, by hand
#	dialog basic.dlg errors.dlg         # scripts from tests/e2e/smtpd/
#
# smtpd runs from the build tree with the instance's main.cf and -o
# overrides, listening on 127.0.0.1:$SMTPD_PORT (-l), without ternd: what
# it queues stays in $TERN_DIR/queue/incoming for the test to read.

SMTPD_BIN=$TERN_TOP/smtpd/smtpd
DIALOG="python3 $TERN_TOP/tests/e2e/smtp_dialog.py"
SCRIPTS=$TERN_TOP/tests/e2e/smtpd
MYHOST=mx.test.example
RCPT=postmaster@localhost
export MYHOST RCPT
[ -x "$SMTPD_BIN" ] || skip "smtpd is not built"
need_cmd python3

SMTPD_PID=""

# smtpd_start [-l extra listener] [-o name=value ...]
smtpd_start() {
	SMTPD_PORT=$(free_port)
	"$SMTPD_BIN" -c "$TERN_DIR" -o myhostname=$MYHOST -l 127.0.0.1:$SMTPD_PORT "$@" \
		>>"$TERN_DIR/smtpd.out" 2>&1 &
	SMTPD_PID=$!
	at_cleanup "kill $SMTPD_PID"
	wait_for "smtpd on port $SMTPD_PORT" _smtpd_up
	export SMTPD_PORT
}

_smtpd_up() {
	kill -0 "$SMTPD_PID" 2>/dev/null || { cat "$TERN_DIR/smtpd.out" >&2; fail "smtpd exited"; }
	_port_busy "$SMTPD_PORT"
}

smtpd_stop() {
	[ -n "$SMTPD_PID" ] || return 0
	kill "$SMTPD_PID" 2>/dev/null
	wait "$SMTPD_PID" 2>/dev/null
	SMTPD_PID=""
}

# dialog SCRIPT... : run dialogue scripts (names relative to tests/e2e/smtpd/).
dialog() {
	_paths=""
	for _s in "$@"; do _paths="$_paths $SCRIPTS/$_s"; done
	# shellcheck disable=SC2086
	$DIALOG 127.0.0.1 "$SMTPD_PORT" $_paths || { show_log; fail "dialogue failed: $*"; }
}

# Queue files that hold TEXT (grep -l), one per line.
queued_with() { grep -rlF -- "$1" "$TERN_DIR/queue/incoming" "$TERN_DIR/queue/active" \
	"$TERN_DIR/queue/deferred" 2>/dev/null; }
queued_count() { queued_with "$1" | wc -l; }
# How many queue files have envelope sender ADDR.
queued_from() { grep -rlx -- "S $1" "$TERN_DIR/queue/incoming" "$TERN_DIR/queue/active" \
	"$TERN_DIR/queue/deferred" 2>/dev/null | wc -l; }

# The test's own self-signed certificate.
make_cert() {
	need_cmd openssl
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=$MYHOST" \
		-keyout "$TERN_DIR/key.pem" -out "$TERN_DIR/cert.pem" >/dev/null 2>&1 \
		|| fail "openssl could not make a certificate"
	chmod 644 "$TERN_DIR/key.pem"
}
