# milterlib.sh - milter peers for end-to-end tests of smtpd_milters and
# non_smtpd_milters: Tern's own test milters (milter_act, milter_garbage.py)
# and Debian's OpenDKIM, OpenDMARC and spamass-milter with spamd. Source it
# from a POSIX sh test after lib.sh (or alone: it then needs no Tern build
# and the caller runs ml_cleanup itself). Every daemon is started by the
# test, listens on a Unix socket in one temporary directory (spamd on a
# loopback port), logs into that directory and is killed at cleanup, so a
# test can run twice in a row or next to another one. The Debian daemons
# need root (their key files and the users they switch to); milter_act and
# milter_garbage.py run as whoever runs the test.
#
#   . "$(dirname "$0")/lib.sh"
#   . "$(dirname "$0")/milterlib.sh"
#   ml_init                               # temp dir, cleanup registered
#   ml_act f reject@rcpt=bad@example.com addheader:X-Act:yes
#   ternconf -e "smtpd_milters = $(ml_sock f)"
#   ... send mail ...
#   ml_wait_log f '^eom '                 # the milter saw the message
#   grep '^rcpt .*arg="<bad@example.com>"' "$(ml_log f)"
#
# Functions (NAME names one peer: its socket is $ML_DIR/NAME.sock, its log
# $ML_DIR/NAME.log, its files in $ML_DIR/NAME/):
#   ml_init                  make ML_DIR (mode 755: unprivileged daemons of
#                            the MTA must reach the sockets; under /run as
#                            root, since opendkim refuses files below /tmp)
#                            and register ml_cleanup with lib.sh's
#                            at_cleanup if present
#   ml_cleanup               stop every peer started here, remove ML_DIR
#   ml_sock NAME             print "unix:PATH" of NAME's socket, the form
#                            smtpd_milters takes
#   ml_log NAME              print the path of NAME's log
#   ml_wait_log NAME REGEX [SECS]  wait (default 30 s) until NAME's log
#                            matches the extended REGEX; 1 on timeout
#   ml_stop NAME             stop one peer and reap it (see ml_stop below
#                            for the signals)
#   ml_act NAME SPEC...      start tests/e2e/milter_act with these SPECs
#                            (see the header of milter_act.c for SPECs and
#                            the log format); returns once it listens
#   ml_garbage NAME MODE     start milter_garbage.py (garbage, oversized,
#                            close, hang, short, text)
#   ml_dkim_sign NAME DOMAIN [SELECTOR]  OpenDKIM in signing mode for
#                            DOMAIN (selector default "test"; key made with
#                            opendkim-genkey; relaxed/simple; signs mail
#                            from any client, since all tests come from
#                            127.0.0.1). $ML_DIR/NAME/keys is the public
#                            key in TestPublicKeys form, for the verifiers
#   ml_dkim_verify NAME KEYS [AUTHSERV]  OpenDKIM in verifying mode that
#                            takes public keys from the file KEYS (no DNS)
#                            and adds "Authentication-Results: AUTHSERV;
#                            dkim=..." (AUTHSERV default verify.test)
#   ml_dkim_check KEYS FILE  verify the message in FILE offline (opendkim
#                            -t, same keys, no daemon); prints opendkim's
#                            verdict (-vvv: "verification (s=SEL, d=DOM,
#                            N-bit key) succeeded"), exit status 0 only
#                            when it verified
#   ml_headers FILE          print the header section of the message in
#                            FILE, one field a line (folded fields joined
#                            with one space, CRs dropped), for greps like
#                            ml_headers "$m" | grep '^Authentication-Results:
#                            verify.test; dkim=pass'
#   ml_dmarc NAME [AUTHSERV [TRUSTED]]  OpenDMARC adding "Authentication-
#                            Results: AUTHSERV; dmarc=..." (default
#                            dmarc.test); TRUSTED is the authserv-id whose
#                            DKIM results it believes (default verify.test).
#                            No reports, no history, SPF not evaluated,
#                            DNS lookups cut to 1 s: a domain with no DMARC
#                            record gives dmarc=none without the network
#   ml_spamd NAME            spamd on a free loopback port (ML_SPAMD_PORT),
#                            local rules only: Debian's default prefs and
#                            GTUBE (score 1000), the Check plugin alone, no
#                            network tests, no Bayes, no user configs; its
#                            children run as nobody. Takes 1.5 to 2 s
#   ml_spamass NAME SPAMD [OPTIONS...]  spamass-milter feeding the spamd
#                            named SPAMD; OPTIONS are spamass-milter's
#                            (e.g. -r 15 to reject at score 15 or more);
#                            without -r, spam is tagged (X-Spam-Flag: YES)
# Each start function returns 0 once the peer accepts connections and
# fails the test (lib.sh's fail, or exit 1) if it does not within 30 s.

ML_TOP=${TERN_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
ML_DIR=""
_ml_names=""

_ml_fail() {
	if command -v fail >/dev/null 2>&1; then fail "$*"; fi
	echo "FAIL: $*" >&2
	exit 1
}

# Programs of Debian's daemons live in /usr/sbin, which a user's PATH lacks.
_ml_prog() {
	for _mp in "/usr/sbin/$1" "/usr/bin/$1" "/sbin/$1"; do
		[ -x "$_mp" ] && { echo "$_mp"; return 0; }
	done
	command -v "$1" 2>/dev/null || _ml_fail "milterlib: $1 is not installed (scripts/install-deps --test)"
}

ml_init() {
	# As root, under /run: opendkim refuses a config or key file below a
	# directory others may write to, which /tmp (mode 1777) is.
	_mi_base=/tmp
	[ "$(id -u)" = 0 ] && [ -d /run ] && [ -w /run ] && _mi_base=/run
	ML_DIR=$(mktemp -d "$_mi_base/tern-milter.XXXXXX") || _ml_fail "milterlib: mktemp"
	chmod 755 "$ML_DIR"
	export ML_DIR
	if command -v at_cleanup >/dev/null 2>&1; then at_cleanup ml_cleanup; fi
}

ml_sock() { echo "unix:$ML_DIR/$1.sock"; }
ml_log() { echo "$ML_DIR/$1.log"; }

_ml_pid() { cat "$ML_DIR/$1.pid" 2>/dev/null; }

# TERM, KILL after 2 s. milter_act gets USR1, on which it exits at once;
# the libmilter daemons (opendkim, opendmarc, spamass-milter) get KILL at
# once: libmilter takes up to 5 s to notice TERM, and a test peer has
# nothing to save. spamd gets TERM, which it passes to its children.
ml_stop() {
	_ms_pid=$(_ml_pid "$1")
	[ -n "$_ms_pid" ] || return 0
	kill -s "$(cat "$ML_DIR/$1.sig" 2>/dev/null || echo TERM)" "$_ms_pid" 2>/dev/null
	_ms_n=0
	while kill -0 "$_ms_pid" 2>/dev/null && [ $_ms_n -lt 40 ]; do
		sleep 0.05
		_ms_n=$((_ms_n + 1))
	done
	kill -9 "$_ms_pid" 2>/dev/null
	wait "$_ms_pid" 2>/dev/null
	rm -f "$ML_DIR/$1.pid"
	return 0
}

ml_cleanup() {
	[ -n "$ML_DIR" ] || return 0
	for _mc in $_ml_names; do ml_stop "$_mc"; done
	_ml_names=""
	rm -rf "$ML_DIR"
	ML_DIR=""
}

ml_wait_log() {
	_mw_end=$(( $(date +%s) + ${3:-30} ))
	until grep -Eq "$2" "$ML_DIR/$1.log" 2>/dev/null; do
		[ "$(date +%s)" -lt $_mw_end ] || return 1
		sleep 0.1
	done
}

# _ml_started NAME PID CHECK...: remember PID, wait until CHECK succeeds.
_ml_started() {
	_mr_name=$1 _mr_pid=$2
	shift 2
	echo "$_mr_pid" > "$ML_DIR/$_mr_name.pid"
	_ml_names="$_ml_names $_mr_name"
	_mr_n=0
	until "$@"; do
		if ! kill -0 "$_mr_pid" 2>/dev/null || [ $_mr_n -ge 300 ]; then
			tail -n 20 "$ML_DIR/$_mr_name.err" >&2 2>/dev/null
			ml_stop "$_mr_name"
			_ml_fail "milterlib: $_mr_name did not start"
		fi
		sleep 0.1
		_mr_n=$((_mr_n + 1))
	done
}

_ml_is_sock() { [ -S "$1" ]; }

# The socket is made mode 666 (umask 0): the MTA's smtpd runs unprivileged.
ml_act() {
	_ma_name=$1
	shift
	[ -x "$ML_TOP/tests/e2e/milter_act" ] ||
		_ml_fail "milterlib: tests/e2e/milter_act is not built (make check builds it)"
	rm -f "$ML_DIR/$_ma_name.sock"
	echo USR1 > "$ML_DIR/$_ma_name.sig"
	(umask 0; exec "$ML_TOP/tests/e2e/milter_act" "unix:$ML_DIR/$_ma_name.sock" \
		"$ML_DIR/$_ma_name.log" "$@") 2>"$ML_DIR/$_ma_name.err" &
	_ml_started "$_ma_name" $! _ml_is_sock "$ML_DIR/$_ma_name.sock"
}

ml_garbage() {
	rm -f "$ML_DIR/$1.sock"
	(umask 0; exec python3 "$ML_TOP/tests/e2e/milter_garbage.py" "unix:$ML_DIR/$1.sock" \
		"$ML_DIR/$1.log" "$2") 2>"$ML_DIR/$1.err" &
	_ml_started "$1" $! _ml_is_sock "$ML_DIR/$1.sock"
}

# Public key of a genkey .txt record as one TestPublicKeys line:
# "SELECTOR._domainkey.DOMAIN v=DKIM1; k=rsa; p=...".
_ml_dkim_keyline() {
	printf '%s._domainkey.%s ' "$2" "$3"
	tr -d '\n' < "$1" | sed 's/^[^"]*"//; s/"[^"]*$//; s/"[^"]*"//g'
	echo
}

ml_dkim_sign() {
	_md_name=$1 _md_domain=$2 _md_sel=${3:-test}
	_md_d=$ML_DIR/$_md_name
	mkdir -p "$_md_d"
	"$(_ml_prog opendkim-genkey)" -b 1024 -D "$_md_d" -d "$_md_domain" -s "$_md_sel" ||
		_ml_fail "milterlib: opendkim-genkey failed"
	_ml_dkim_keyline "$_md_d/$_md_sel.txt" "$_md_sel" "$_md_domain" > "$_md_d/keys"
	chmod 644 "$_md_d/keys"
	# 0.0.0.0/0 as InternalHosts: every test client is 127.0.0.1 anyway,
	# and mail from an "internal" host is what opendkim signs.
	printf '0.0.0.0/0\n' > "$_md_d/internal"
	cat > "$_md_d/opendkim.conf" <<EOF
Mode s
Domain $_md_domain
Selector $_md_sel
KeyFile $_md_d/$_md_sel.private
InternalHosts $_md_d/internal
Canonicalization relaxed/simple
Socket local:$ML_DIR/$_md_name.sock
PidFile $_md_d/opendkim.pid
UMask 000
Background no
Syslog no
EOF
	rm -f "$ML_DIR/$_md_name.sock"
	echo KILL > "$ML_DIR/$_md_name.sig"
	"$(_ml_prog opendkim)" -f -x "$_md_d/opendkim.conf" 2>"$ML_DIR/$_md_name.err" &
	_ml_started "$_md_name" $! _ml_is_sock "$ML_DIR/$_md_name.sock"
}

_ml_dkim_verify_conf() {
	cat <<EOF
Mode v
TestPublicKeys $1
AuthservID $2
AlwaysAddARHeader yes
MinimumKeyBits 1024
Syslog no
EOF
}

ml_dkim_verify() {
	_mv_name=$1 _mv_keys=$2 _mv_id=${3:-verify.test}
	_mv_d=$ML_DIR/$_mv_name
	mkdir -p "$_mv_d"
	{
		_ml_dkim_verify_conf "$_mv_keys" "$_mv_id"
		cat <<EOF
Socket local:$ML_DIR/$_mv_name.sock
PidFile $_mv_d/opendkim.pid
UMask 000
Background no
EOF
	} > "$_mv_d/opendkim.conf"
	rm -f "$ML_DIR/$_mv_name.sock"
	echo KILL > "$ML_DIR/$_mv_name.sig"
	"$(_ml_prog opendkim)" -f -x "$_mv_d/opendkim.conf" 2>"$ML_DIR/$_mv_name.err" &
	_ml_started "$_mv_name" $! _ml_is_sock "$ML_DIR/$_mv_name.sock"
}

ml_dkim_check() {
	_ml_dkim_verify_conf "$1" check.test > "$ML_DIR/dkim-check.conf"
	_mk_out=$("$(_ml_prog opendkim)" -x "$ML_DIR/dkim-check.conf" -vvv -t "$2" 2>&1)
	echo "$_mk_out"
	echo "$_mk_out" | grep -q 'verification .* succeeded'
}

ml_headers() {
	sed -n '/^\r\{0,1\}$/q; p' "$1" | tr -d '\r' |
		awk '/^[ \t]/ { sub(/^[ \t]+/, " "); cur = cur $0; next }
		     { if (cur != "") print cur; cur = $0 }
		     END { if (cur != "") print cur }'
}

ml_dmarc() {
	_mm_name=$1 _mm_id=${2:-dmarc.test} _mm_trust=${3:-verify.test}
	_mm_d=$ML_DIR/$_mm_name
	mkdir -p "$_mm_d"
	# By default opendmarc ignores 127.0.0.1, where every test client is.
	printf '192.0.2.1\n' > "$_mm_d/ignore"
	cat > "$_mm_d/opendmarc.conf" <<EOF
Socket local:$ML_DIR/$_mm_name.sock
PidFile $_mm_d/opendmarc.pid
UMask 000
Background false
Syslog false
AuthservID $_mm_id
TrustedAuthservIDs $_mm_trust
IgnoreHosts $_mm_d/ignore
FailureReports false
RejectFailures false
SPFSelfValidate false
SPFIgnoreResults true
RequiredHeaders false
DNSTimeout 1
EOF
	rm -f "$ML_DIR/$_mm_name.sock"
	echo KILL > "$ML_DIR/$_mm_name.sig"
	"$(_ml_prog opendmarc)" -f -c "$_mm_d/opendmarc.conf" 2>"$ML_DIR/$_mm_name.err" &
	_ml_started "$_mm_name" $! _ml_is_sock "$ML_DIR/$_mm_name.sock"
}

_ml_port_ready() {
	python3 -c 'import socket,sys
socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1).close()' "$1" 2>/dev/null
}

_ml_free_port() {
	if command -v free_port >/dev/null 2>&1; then free_port; return; fi
	python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

ml_spamd() {
	_mp_name=$1
	_mp_d=$ML_DIR/$_mp_name
	mkdir -p "$_mp_d/rules" "$_mp_d/site"
	# Site config: only the Check plugin (body and header rules); Debian's
	# .pre files load some thirty plugins, which on a loaded 2-CPU machine
	# took spamd's start from 1.7 s to 8 s. No network, no learning.
	echo 'loadplugin Mail::SpamAssassin::Plugin::Check' > "$_mp_d/site/init.pre"
	cat > "$_mp_d/site/local.cf" <<'EOF'
use_bayes 0
bayes_auto_learn 0
skip_rbl_checks 1
dns_available no
EOF
	# Rules: Debian's default prefs and GTUBE only, which keeps the start
	# short (Debian's full rule set adds 3 s or more) and the scores fixed.
	cp /usr/share/spamassassin/10_default_prefs.cf "$_mp_d/rules/"
	cat > "$_mp_d/rules/50_tern_test.cf" <<'EOF'
body GTUBE /XJS\*C4JDBQADN1\.NSBN3\*2IDNEN\*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL\*C\.34X/
describe GTUBE Generic Test for Unsolicited Bulk Email
tflags GTUBE userconf noautolearn
score GTUBE 1000.000
EOF
	chmod -R a+rX "$_mp_d"
	ML_SPAMD_PORT=$(_ml_free_port)
	echo "$ML_SPAMD_PORT" > "$_mp_d/port"
	"$(_ml_prog spamd)" -L --listen="127.0.0.1:$ML_SPAMD_PORT" --allowed-ips=127.0.0.1 \
		--configpath="$_mp_d/rules" --siteconfigpath="$_mp_d/site" --nouser-config \
		-u nobody --pidfile="$_mp_d/spamd.pid" -s "$ML_DIR/$_mp_name.log" \
		--min-children=1 --max-children=2 2>"$ML_DIR/$_mp_name.err" &
	_ml_started "$_mp_name" $! test -s "$_mp_d/spamd.pid"
	_ml_started "$_mp_name" "$(_ml_pid "$_mp_name")" _ml_port_ready "$ML_SPAMD_PORT"
}

ml_spamass() {
	_mq_name=$1 _mq_spamd=$2
	shift 2
	_mq_port=$(cat "$ML_DIR/$_mq_spamd/port" 2>/dev/null) ||
		_ml_fail "milterlib: no spamd named $_mq_spamd"
	rm -f "$ML_DIR/$_mq_name.sock"
	# Debug flags go to syslog, which tests lack; stderr keeps its errors.
	echo KILL > "$ML_DIR/$_mq_name.sig"
	(umask 0; exec "$(_ml_prog spamass-milter)" -p "$ML_DIR/$_mq_name.sock" \
		-P "$ML_DIR/$_mq_name.milterpid" "$@" -- -d 127.0.0.1 -p "$_mq_port") \
		2>"$ML_DIR/$_mq_name.err" &
	_ml_started "$_mq_name" $! _ml_is_sock "$ML_DIR/$_mq_name.sock"
}
