# netlib.sh - a private network for Tern's end-to-end tests of delivery to
# other servers: a network namespace of the test's own, an authoritative DNS
# server (knot) with test zones, DNSSEC signed where asked, and receiving
# peers (tests/e2e/smtp_peer.py, smtp-sink, a private Postfix, an HTTPS
# server for MTA-STS). Source it after lib.sh and enter the namespace before
# anything else (as root: port 25 and the mounts need it):
#
#	. "$here/lib.sh"
#	. "$here/netlib.sh"
#	netns_enter "$@"               # re-runs this script inside the namespace
#	dns_zone example.test <<EOF
#	@    MX 10 mx1
#	mx1  A  127.0.0.2
#	EOF
#	dns_start "$NET_DIR/zones/example.test.zone"
#	peer_start mx1 127.0.0.2 25 --record "$NET_DIR/mx1.rec"
#	tern_instance; tern_start; ... sendmail user@example.test ...
#
# Inside the namespace only lo exists (127.0.0.0/8 and ::1), every port is
# free, /etc/resolv.conf says "nameserver 127.0.0.1" (the test's knot), and
# /etc/hosts and /etc/nsswitch.conf ("hosts: files dns") are the test's, so
# libunbound, getaddrinfo, res_search, curl and Postfix see only test DNS.
#
# Why `unshare -n -m` and not `ip netns add`: ip netns makes global state
# (a bind mount under /run/netns/NAME, files in /etc/netns/NAME) that stays
# behind when a test is killed before its cleanup, and two runs of the same
# test would have to agree on names. A namespace made by unshare belongs to
# its processes only: it and the bind mounts over /etc vanish with the last
# of them, so a test that dies leaves nothing on the host to clean up, and
# runs in parallel cannot collide.
#
# The start of a test of the smtp program (after sourcing lib.sh and this):
#	smtp_test_begin [--tls|--ca] [PROGRAM...] -- "$@"
# needs root and the staged sendmail, qmgr, pickup, local, smtp, ternconf
# and PROGRAMs, enters the namespace (netns_enter), needs knot and kdig;
# --tls needs openssl too, --ca also makes a test CA in NET_DIR/ca.
#
# Variables: NET_DIR, the test's directory for all of this (zones, knot's
# storage, certificates, peers' records); removed by the cleanup.
#
# Functions (each fails the test with a message when it cannot do its job):
#   netns_enter "$@"            re-run the calling script in a new network and
#                               mount namespace (once; skips the test when
#                               unshare is not permitted); then lo up, the
#                               test's resolv.conf, hosts and nsswitch.conf
#   netns_addr ADDR             add another address to lo (e.g. fd00::2)
#   netns_host ADDR NAME...     add a line to the namespace's /etc/hosts
#   dns_zone ZONE               write NET_DIR/zones/ZONE.zone: a SOA, NS and
#                               the records read from stdin (zone syntax,
#                               names relative to ZONE); prints the path
#   dns_mx_zones DOMAIN=ADDR...  for each, the zone DOMAIN with "@ MX 10 mx"
#                               and "mx A ADDR" (dns_start them after)
#   dns_sign ZONE               have knot sign ZONE (automatic keys, ECDSA
#                               P-256, NSEC); before or after dns_start
#   dns_start ZONEFILE...       run knot on 127.0.0.1:53 serving the zones (the
#                               zone name is the file's $ORIGIN, else its name
#                               without .zone); returns once every zone answers;
#                               called again, adds zones (knot restarts)
#   dns_reload                  apply zone files or signing changed after
#                               dns_start (restarts knot, waits as dns_start)
#   dns_stop                    stop knot (the cleanup does it too)
#   dns_trust_anchor ZONE FILE  append ZONE's key-signing DNSKEY to FILE as a
#                               trust anchor in zone-file syntax
#                               (ub_ctx_add_ta_file, dns_trust_anchor_file)
#   dns_trust_anchor_bogus ZONE FILE  append a DNSKEY for ZONE that is not
#                               its key: every answer from ZONE is then bogus
#   dns_zone_bogus ZONE NAME TYPE RDATA  serve ZONE as signed but with the
#                               NAME TYPE RRset replaced by RDATA under the old
#                               signature: that RRset fails validation, the
#                               rest of the zone validates
#   dns_query NAME TYPE         the answer's records (kdig +short) from knot
#   dns_validate NAME TYPE ANCHORFILE  ask through libunbound (unbound-host)
#                               validating with the anchors in ANCHORFILE;
#                               prints its answer ending in "(secure)",
#                               "(insecure)" or "(BOGUS (security failure))"
#
# libunbound answers NXDOMAIN for everything under .test (a default
# local-zone, RFC 6761) unless told `local-zone: "test." nodefault`;
# NET_DIR/unbound.conf says so for unbound-host, and a Tern instance that
# resolves through libunbound needs the same.
#   tlsa_record CERT            print "3 1 1 <sha256 of the SPKI>" for CERT
#   test_ca_make DIR            a test CA: DIR/ca.pem, DIR/ca.key
#   test_cert NAME DIR [CADIR]  DIR/NAME.pem and DIR/NAME.key: a server
#                               certificate for host NAME signed by the CA in
#                               CADIR (default DIR), or self-signed when
#                               CADIR is "self"; for a wrong-name certificate
#                               give another NAME
#   peer_start NAME ADDR PORT [OPTION...]  run smtp_peer.py (see its --help)
#                               on ADDR:PORT; its log is NET_DIR/NAME.log;
#                               returns once it listens
#   net_stop NAME               stop peer NAME (sink-ADDR-PORT, https-ADDR)
#   peer_wait_messages FILE N   until smtp_peer.py's --record FILE holds N
#                               messages
#   sink_start ADDR PORT DIR [OPTION...]  Postfix's smtp-sink on ADDR:PORT
#                               (more smtp-sink options may follow), each
#                               transaction kept in DIR/dump* (its -D format:
#                               smtp-sink adds a random suffix to the name)
#   postfix_peer_start ADDR PORT DIR [DOMAIN...]  a private Postfix (see
#                               postfix.sh) on ADDR:PORT that takes DOMAINs
#                               as its own and delivers every recipient in
#                               them into the Maildir DIR/mail/keep
#   tern_peer_start ADDR DOMAIN...  a second Tern instance (lib.sh's
#                               tern_instance) listening on ADDR:25 that takes
#                               DOMAINs as its own: mail for LOCAL@DOMAIN lands
#                               in $TERN_PEER_DIR/mail/LOCAL/new. Call it
#                               before the sending instance's tern_instance,
#                               which then names the newest instance again
#   https_start ADDR CERT KEY DOCROOT  an HTTPS server on ADDR:443 serving
#                               DOCROOT (mta-sts.txt as text/plain)
#   wait_for_tcp ADDR PORT      until something listens on ADDR:PORT (ss)
# Everything started here is stopped by the cleanup (lib.sh's), newest first.

NET_DNS_PID=""
_net_signed=""
_net_zones=""
_net_stops=""

# Stop what was started here, newest first (a Postfix before the directory
# it runs in), then remove NET_DIR. lib.sh's cleanup runs it.
_net_at_stop() { _net_stops="$*
$_net_stops"; }
# (A loop in this shell, not a pipeline's subshell: dns_stop's wait must see knot,
# or NET_DIR is removed while knot still writes its timers there on its way out.)
_net_cleanup() {
	while IFS= read -r _cmd; do
		[ -n "$_cmd" ] && eval "$_cmd" </dev/null >/dev/null 2>&1
	done <<EOF
$_net_stops
EOF
	[ -n "${NET_DIR:-}" ] && rm -rf "$NET_DIR"
}

# Re-run "$0" inside unshare -n -m; the marker TERN_NETNS stops a second
# re-run. Must be called before anything is started or made: the outer run
# just waits for the inner one and exits with its status.
netns_enter() {
	if [ -z "${TERN_NETNS:-}" ]; then
		need_root
		need_cmd unshare mount ip ss
		unshare -n -m true 2>/dev/null ||
			skip "unshare -n -m is not permitted here (no network namespace for the test)"
		# Nothing to clean up yet: the run inside has its own trap.
		trap - EXIT INT TERM
		TERN_NETNS=1 exec unshare -n -m sh "$0" "$@"
	fi
	# Mounts made here must never reach the host's mount table.
	mount --make-rprivate / || fail "mount --make-rprivate /"
	ip link set lo up || fail "ip link set lo up"
	NET_DIR=$(mktemp -d /tmp/tern-net.XXXXXX) || fail "mktemp"
	chmod 755 "$NET_DIR"
	export NET_DIR
	at_cleanup _net_cleanup
	mkdir -p "$NET_DIR/etc" "$NET_DIR/zones"
	printf 'server:\n    local-zone: "test." nodefault\n' > "$NET_DIR/unbound.conf"
	printf 'nameserver 127.0.0.1\noptions timeout:2 attempts:2\n' > "$NET_DIR/etc/resolv.conf"
	printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' > "$NET_DIR/etc/hosts"
	# files then dns only: no nss modules that reach the host's resolver
	# over a socket (systemd-resolved, nscd).
	sed '/^hosts:/d' /etc/nsswitch.conf > "$NET_DIR/etc/nsswitch.conf"
	echo 'hosts: files dns' >> "$NET_DIR/etc/nsswitch.conf"
	for _f in resolv.conf hosts nsswitch.conf; do
		# Bind mounts follow a symlink to its target; a dangling one
		# cannot be covered without writing on the host.
		[ -e "/etc/$_f" ] || skip "/etc/$_f does not exist; it cannot be replaced in the namespace"
		mount --bind "$NET_DIR/etc/$_f" "/etc/$_f" || fail "bind mount over /etc/$_f"
	done
	# glibc asks a running nscd through its socket before DNS.
	for _d in /run/nscd /var/run/nscd; do
		[ -d "$_d" ] && { mount -t tmpfs tmpfs "$_d" || fail "tmpfs over $_d"; }
	done
	return 0
}

smtp_test_begin() {
	_stls="" _sprogs="sendmail qmgr pickup local smtp ternconf"
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		case $1 in
		--tls|--ca) _stls=$1 ;;
		*) _sprogs="$_sprogs $1" ;;
		esac
		shift
	done
	[ "${1:-}" = -- ] || fail "smtp_test_begin: no -- before the script's arguments"
	shift
	need_root
	for _p in $_sprogs; do
		[ -x "$TERN_TOP/stage/$_p" ] || skip "$_p is not built"
	done
	netns_enter "$@"
	need_cmd knotd kdig
	[ -z "$_stls" ] || need_cmd openssl
	[ "$_stls" != --ca ] || test_ca_make "$NET_DIR/ca"
}

netns_addr() {
	case $1 in
	*:*) ip -6 addr add "$1/128" dev lo nodad || fail "ip addr add $1" ;;
	*) ip addr add "$1/32" dev lo || fail "ip addr add $1" ;;
	esac
}

# The bind mount shows the file's inode: append, never replace it.
netns_host() { echo "$*" >> "$NET_DIR/etc/hosts" || fail "cannot add to the test's hosts file"; }

dns_zone() {
	_z=${1%.}
	_zf=$NET_DIR/zones/$_z.zone
	{
		printf '$ORIGIN %s.\n$TTL 300\n' "$_z"
		printf '@ SOA ns.%s. hostmaster.%s. 1 3600 600 86400 60\n' "$_z" "$_z"
		printf '@ NS ns.%s.\nns A 127.0.0.1\n' "$_z"
		cat
	} > "$_zf" || fail "cannot write $_zf"
	echo "$_zf"
}

# The zone a file holds: its $ORIGIN, else its name without .zone.
dns_mx_zones() {
	for _m in "$@"; do
		printf '@    MX 10 mx\nmx   A  %s\n' "${_m#*=}" | dns_zone "${_m%%=*}" >/dev/null
	done
}

_dns_zone_name() {
	_o=$(sed -n 's/^\$ORIGIN[ 	]*\([^ 	;]*\).*/\1/p' "$1" | head -n 1)
	[ -n "$_o" ] || _o=$(basename "$1" .zone)
	echo "${_o%.}"
}

_dns_write_conf() {
	_c=$NET_DIR/knot/knot.conf
	mkdir -p "$NET_DIR/knot/run" "$NET_DIR/knot/db"
	cat > "$_c" <<EOF
server:
    rundir: "$NET_DIR/knot/run"
    pidfile: "$NET_DIR/knot/run/knot.pid"
    listen: 127.0.0.1@53
log:
  - target: stderr
    any: info
database:
    storage: "$NET_DIR/knot/db"
control:
    listen: "$NET_DIR/knot/run/knot.sock"
acl:
  - id: local_transfer
    address: 127.0.0.0/8
    action: transfer
policy:
  - id: test
    algorithm: ecdsap256sha256
    nsec3: off
    ksk-lifetime: 0
    zsk-lifetime: 0
template:
  - id: default
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: none
    acl: local_transfer
zone:
EOF
	echo "$_net_zones" | while IFS=' ' read -r _z _f; do
		[ -n "$_z" ] || continue
		printf '  - domain: %s\n    file: "%s"\n' "$_z" "$_f"
		case " $_net_signed " in
		*" $_z "*) printf '    dnssec-signing: on\n    dnssec-policy: test\n' ;;
		esac
	done >> "$_c"
}

# Answers once every zone has its SOA (and signed zones their DNSKEY).
_dns_ready() {
	echo "$_net_zones" | while IFS=' ' read -r _z _f; do
		[ -n "$_z" ] || continue
		[ -n "$(dns_query "$_z" SOA)" ] || exit 1
		case " $_net_signed " in
		*" $_z "*) [ -n "$(dns_query "$_z" DNSKEY)" ] || exit 1 ;;
		esac
	done
}

dns_validate() {
	need_cmd unbound-host
	unbound-host -C "$NET_DIR/unbound.conf" -r -v -f "$3" -t "$2" "$1" 2>&1
}

dns_query() { kdig @127.0.0.1 +short +timeout=1 +retry=0 "$1" "$2" 2>/dev/null; }

_dns_run() {
	_dns_write_conf
	knotd -c "$NET_DIR/knot/knot.conf" >>"$NET_DIR/knot/knot.log" 2>&1 &
	NET_DNS_PID=$!
	_net_at_stop "kill $NET_DNS_PID"
	_end=$(( $(date +%s) + TERN_WAIT ))
	until _dns_ready; do
		if ! kill -0 "$NET_DNS_PID" 2>/dev/null || [ "$(date +%s)" -ge "$_end" ]; then
			tail -n 30 "$NET_DIR/knot/knot.log" >&2
			fail "knot did not serve the zones:$(echo "$_net_zones" | cut -d' ' -f1 | tr '\n' ' ')"
		fi
		sleep 0.1
	done
}

dns_start() {
	[ -n "${TERN_NETNS:-}" ] || fail "dns_start outside the test's namespace (call netns_enter first)"
	need_cmd knotd kdig
	for _f in "$@"; do
		[ -r "$_f" ] || fail "no zone file $_f"
		_net_zones="$_net_zones
$(_dns_zone_name "$_f") $_f"
	done
	dns_stop
	_dns_run
}

dns_stop() {
	[ -n "$NET_DNS_PID" ] || return 0
	kill "$NET_DNS_PID" 2>/dev/null
	wait "$NET_DNS_PID" 2>/dev/null
	NET_DNS_PID=""
}

dns_reload() {
	dns_stop
	_dns_run
}

dns_sign() {
	_net_signed="$_net_signed ${1%.}"
	[ -z "$NET_DNS_PID" ] || dns_reload
}

dns_trust_anchor() {
	_z=${1%.}
	_k=$(dns_query "$_z" DNSKEY | grep '^257 ')
	[ -n "$_k" ] || fail "no key-signing DNSKEY for $_z (dns_sign it before dns_start)"
	echo "$_k" | sed "s/^/$_z. 300 IN DNSKEY /" >> "$2" || fail "cannot write $2"
}

# A fresh P-256 key in DNSKEY form (flags 257, protocol 3, algorithm 13):
# the 64-byte public point, base64, as RFC 6605 has it.
dns_trust_anchor_bogus() {
	_z=${1%.}
	_pt=$(openssl ecparam -name prime256v1 -genkey -noout 2>/dev/null |
		openssl ec -pubout -outform DER 2>/dev/null | tail -c 64 | base64 -w0)
	[ -n "$_pt" ] || fail "openssl could not make a key"
	echo "$_z. 300 IN DNSKEY 257 3 13 $_pt" >> "$2" || fail "cannot write $2"
}

# Take the signed zone from knot (AXFR), replace one RRset keeping its
# RRSIG, and serve that file as it is (signing off for the zone).
dns_zone_bogus() {
	_z=${1%.} _n=$2 _t=$3 _rd=$4
	case $_n in
	@) _n=$_z. ;;
	*.) ;;
	*) _n=$_n.$_z. ;;
	esac
	_bf=$NET_DIR/zones/$_z.bogus.zone
	kdig @127.0.0.1 +timeout=2 "$_z" AXFR 2>/dev/null | grep -v '^;' | grep . |
		awk -v n="$_n" -v t="$_t" '!(tolower($1) == tolower(n) && toupper($4) == toupper(t)) { print }' > "$_bf"
	grep -q RRSIG "$_bf" || fail "$_z is not signed (dns_sign it first)"
	printf '%s 300 IN %s %s\n' "$_n" "$_t" "$_rd" >> "$_bf"
	_net_signed=$(echo " $_net_signed " | sed "s/ $_z / /g")
	_net_zones=$(echo "$_net_zones" | awk -v z="$_z" -v f="$_bf" '$1 == z { print z, f; next } { print }')
	dns_reload
}

tlsa_record() {
	_h=$(openssl x509 -in "$1" -noout -pubkey 2>/dev/null | openssl pkey -pubin -outform DER 2>/dev/null |
		openssl dgst -sha256 -hex 2>/dev/null | sed 's/.*= *//')
	[ -n "$_h" ] || fail "tlsa_record: cannot read $1"
	echo "3 1 1 $_h"
}

test_ca_make() {
	mkdir -p "$1"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
		-subj "/CN=Tern Test CA" -addext basicConstraints=critical,CA:TRUE \
		-addext keyUsage=critical,keyCertSign,cRLSign \
		-keyout "$1/ca.key" -out "$1/ca.pem" >/dev/null 2>&1 || fail "test_ca_make $1"
}

test_cert() {
	_n=$1 _d=$2 _ca=${3:-$2}
	mkdir -p "$_d"
	if [ "$_ca" = self ]; then
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
			-subj "/CN=$_n" -addext "subjectAltName=DNS:$_n" \
			-keyout "$_d/$_n.key" -out "$_d/$_n.pem" >/dev/null 2>&1 || fail "test_cert $_n (self-signed)"
		return 0
	fi
	[ -r "$_ca/ca.pem" ] || fail "test_cert: no CA in $_ca (test_ca_make first)"
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=$_n" \
		-keyout "$_d/$_n.key" -out "$_d/$_n.csr" >/dev/null 2>&1 || fail "test_cert $_n: req"
	printf 'subjectAltName=DNS:%s\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n' "$_n" > "$_d/$_n.ext"
	openssl x509 -req -in "$_d/$_n.csr" -CA "$_ca/ca.pem" -CAkey "$_ca/ca.key" -CAcreateserial \
		-days 2 -extfile "$_d/$_n.ext" -out "$_d/$_n.pem" >/dev/null 2>&1 || fail "test_cert $_n: sign"
	rm -f "$_d/$_n.csr" "$_d/$_n.ext"
}

# Something listens on ADDR:PORT (TCP), seen with ss: no test connection,
# which a peer would count and record.
_tcp_listening() {
	case $1 in *:*) _a="[$1]" ;; *) _a=$1 ;; esac
	[ -n "$(ss -Hltn "src $_a:$2" 2>/dev/null)" ]
}
wait_for_tcp() { wait_for "a listener on $1 port $2" _tcp_listening "$1" "$2"; }

# _net_bg NAME CMD...: run CMD in the background, its output in
# NET_DIR/NAME.log, its pid in NET_DIR/NAME.pid; killed by the cleanup.
_net_bg() {
	_nb=$1
	shift
	"$@" >"$NET_DIR/$_nb.log" 2>&1 &
	echo $! > "$NET_DIR/$_nb.pid"
	_net_at_stop "kill $!"
}

# Wait for READY FILE (or ADDR PORT) while the process NAME lives.
_net_wait() {
	_nw=$1 _end=$(( $(date +%s) + TERN_WAIT ))
	shift
	until if [ $# -eq 1 ]; then [ -s "$1" ]; else _tcp_listening "$1" "$2"; fi; do
		if ! kill -0 "$(cat "$NET_DIR/$_nw.pid")" 2>/dev/null || [ "$(date +%s)" -ge "$_end" ]; then
			tail -n 20 "$NET_DIR/$_nw.log" >&2
			fail "$_nw did not start"
		fi
		sleep 0.1
	done
}

# net_stop NAME: stop what peer_start, sink_start or https_start started.
net_stop() {
	[ -s "$NET_DIR/$1.pid" ] || return 0
	_np=$(cat "$NET_DIR/$1.pid")
	kill "$_np" 2>/dev/null
	wait "$_np" 2>/dev/null
	rm -f "$NET_DIR/$1.pid"
}

peer_start() {
	_pn=$1 _pa=$2 _pp=$3
	shift 3
	rm -f "$NET_DIR/$_pn.ready"
	_net_bg "$_pn" python3 "$TERN_TOP/tests/e2e/smtp_peer.py" "$_pa" "$_pp" \
		--ready "$NET_DIR/$_pn.ready" "$@"
	_net_wait "$_pn" "$NET_DIR/$_pn.ready"
}

_peer_has() { [ -f "$1" ] && [ "$(wc -l < "$1")" -ge "$2" ]; }
peer_wait_messages() { wait_for "$2 message(s) in $1" _peer_has "$1" "$2"; }

sink_start() {
	_sa=$1 _sp=$2 _sd=$3
	shift 3
	need_cmd smtp-sink
	# smtp-sink drops to nobody as root and makes its dump files then.
	mkdir -p "$_sd" && chown nobody "$_sd" || fail "cannot make $_sd"
	case $_sa in *:*) _sl="[$_sa]:$_sp" ;; *) _sl="$_sa:$_sp" ;; esac
	_net_bg "sink-$_sa-$_sp" smtp-sink -u nobody -D "$_sd/dump" "$@" "$_sl" 100
	_net_wait "sink-$_sa-$_sp" "$_sa" "$_sp"
}

postfix_peer_start() {
	_fa=$1 _fp=$2 _fd=$3
	shift 3
	. "$TERN_TOP/tests/e2e/postfix.sh"
	_why=$(pf_available) || skip "$_why"
	mkdir -p "$_fd"
	pf_setup "$_fd" "$_fp" >/dev/null || fail "pf_setup $_fd"
	sed -i "s/^127\\.0\\.0\\.1:$_fp inet/$_fa:$_fp inet/" "$_fd/etc/master.cf"
	# Every recipient in the DOMAINs is accepted and kept in mail/keep.
	_fdom=localhost
	for _x in "$@"; do _fdom="$_fdom, $_x"; done
	pf_set "$_fd" "mydestination = $_fdom" "local_recipient_maps =" \
		"luser_relay = keep@localhost" "myhostname = postfix-peer.test" || fail "pf_set $_fd"
	_net_at_stop "pf_stop '$_fd'"
	postfix -c "$_fd/etc" start >"$_fd/start.log" 2>&1 || { cat "$_fd/start.log" >&2; fail "postfix start in $_fd"; }
	wait_for "Postfix on $_fa port $_fp" _tcp_listening "$_fa" "$_fp"
}

tern_peer_start() {
	_ta=$1
	shift
	tern_instance --port 25
	TERN_PEER_DIR=$TERN_DIR
	export TERN_PEER_DIR
	_tdom=localhost
	for _x in "$@"; do _tdom="$_tdom, $_x"; done
	ternconf -e "inet_interfaces = $_ta" "myhostname = tern-peer.test" "mydestination = $_tdom" ||
		fail "ternconf -e in $TERN_PEER_DIR"
	tern_start
	wait_for_tcp "$_ta" 25
}

https_start() {
	_ha=$1 _hc=$2 _hk=$3 _hd=$4
	_hn=https-$_ha
	rm -f "$NET_DIR/$_hn.ready"
	_net_bg "$_hn" python3 -c '
import functools, http.server, socket, ssl, sys
addr, cert, key, root, ready = sys.argv[1:6]
class Server(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6 if ":" in addr else socket.AF_INET
class Handler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {"": "application/octet-stream", ".txt": "text/plain"}
srv = Server((addr, 443), functools.partial(Handler, directory=root))
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
open(ready, "w").write("443\n")
srv.serve_forever()
' "$_ha" "$_hc" "$_hk" "$_hd" "$NET_DIR/$_hn.ready"
	_net_wait "$_hn" "$NET_DIR/$_hn.ready"
}
