# postfix.sh - start a private Postfix instance as a peer for tests and
# the benchmark. Source it from a POSIX sh script; needs root (Postfix's
# master starts as root) and Debian's postfix package (services stopped).
#
# The instance lives entirely in one directory DIR:
#   DIR/etc/    main.cf, master.cf, aliases  (postfix -c DIR/etc)
#   DIR/spool/  queue_directory (Debian runs most services chrooted there,
#               so the chroot files are copied in as Debian's init does)
#   DIR/data/   data_directory
#   DIR/maillog the log (postlogd), since tests have no syslog
# Apart from the settings below it runs with Debian's defaults (those of
# /usr/share/postfix/main.cf.debian and /etc/postfix/master.cf, fsync on).
#
# Functions:
#   pf_available              0 when Postfix can be used here (else prints why)
#   pf_free_port              print a free TCP port on 127.0.0.1
#   pf_setup DIR PORT         write the instance (then edit DIR/etc/main.cf
#                             with pf_set if needed)
#   pf_set DIR name=value...  set main.cf parameters (postconf -e)
#   pf_start DIR              start it and wait until PORT answers
#   pf_stop DIR               stop it (waits for the master to exit)
#   pf_master_pid DIR         the master's pid
#   pf_wait_port PORT [SECS]  wait until 127.0.0.1:PORT accepts connections
#   pf_queue_empty DIR        0 when no mail is waiting in the queue
#
# The default instance: smtpd on 127.0.0.1:PORT only, mydestination =
# localhost, recipient "sink@localhost" aliased to /dev/null (delivered by
# local(8), nothing kept), "keep@localhost" into DIR/mail/keep (a Maildir
# owned by nobody), everything else to unknown users refused at RCPT.

pf_available() {
	if [ "$(id -u)" != 0 ]; then
		echo "postfix.sh: needs root to start Postfix's master"
		return 1
	fi
	for f in /usr/sbin/postfix /usr/sbin/postconf /usr/lib/postfix/sbin/master; do
		[ -x "$f" ] || { echo "postfix.sh: $f missing (apt-get install postfix)"; return 1; }
	done
	getent passwd postfix >/dev/null || { echo "postfix.sh: no postfix user"; return 1; }
	return 0
}

pf_free_port() {
	python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

pf_wait_port() {
	python3 - "$1" "${2:-30}" <<'EOF'
import socket, sys, time
port, deadline = int(sys.argv[1]), time.time() + float(sys.argv[2])
while time.time() < deadline:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.1)
sys.exit(1)
EOF
}

pf_set() {
	_pf_dir=$1; shift
	postconf -c "$_pf_dir/etc" -e "$@"
}

pf_setup() {
	_pf_dir=$1 _pf_port=$2
	mkdir -p "$_pf_dir/etc" "$_pf_dir/spool" "$_pf_dir/data" "$_pf_dir/mail"
	chmod 755 "$_pf_dir" "$_pf_dir/etc" "$_pf_dir/spool"
	chown postfix "$_pf_dir/data"
	chown nobody "$_pf_dir/mail"
	cp /usr/share/postfix/main.cf.debian "$_pf_dir/etc/main.cf"
	# Debian's master.cf, with the public smtpd on our loopback port.
	sed "s/^smtp      inet/127.0.0.1:$_pf_port inet/" /etc/postfix/master.cf \
		> "$_pf_dir/etc/master.cf"
	grep -q "^127.0.0.1:$_pf_port inet" "$_pf_dir/etc/master.cf" ||
		{ echo "postfix.sh: could not set the smtpd port in master.cf"; return 1; }
	printf 'sink: /dev/null\nkeep: %s/mail/keep/\n' "$_pf_dir" > "$_pf_dir/etc/aliases"
	# maillog_file needs the postlog service, which Debian's master.cf has.
	pf_set "$_pf_dir" \
		"queue_directory = $_pf_dir/spool" \
		"data_directory = $_pf_dir/data" \
		"maillog_file_prefixes = $_pf_dir" \
		"maillog_file = $_pf_dir/maillog" \
		"inet_interfaces = 127.0.0.1" \
		"inet_protocols = ipv4" \
		"myhostname = localhost" \
		"mydomain = localdomain" \
		"mydestination = localhost" \
		"mynetworks = 127.0.0.0/8" \
		"alias_maps = hash:$_pf_dir/etc/aliases" \
		"alias_database = hash:$_pf_dir/etc/aliases" \
		"shlib_directory = /usr/lib/postfix" \
		"default_privs = nobody" || return 1
	postalias -c "$_pf_dir/etc" "$_pf_dir/etc/aliases" || return 1
	# Debian's init copies these into the chroot (configure-instance.sh).
	for f in etc/localtime etc/services etc/resolv.conf etc/hosts \
	    etc/host.conf etc/nsswitch.conf; do
		mkdir -p "$_pf_dir/spool/${f%/*}"
		[ -f "/$f" ] && cp "/$f" "$_pf_dir/spool/$f"
	done
	return 0
}

pf_master_pid() {
	_pf_pid=$(sed -n '1s/ //gp' "$1/spool/pid/master.pid" 2>/dev/null)
	[ -n "$_pf_pid" ] && kill -0 "$_pf_pid" 2>/dev/null && echo "$_pf_pid"
}

pf_start() {
	_pf_dir=$1
	_pf_port=$(sed -n 's/^127\.0\.0\.1:\([0-9]*\) inet.*/\1/p' "$_pf_dir/etc/master.cf")
	postfix -c "$_pf_dir/etc" start >"$_pf_dir/start.log" 2>&1 ||
		{ cat "$_pf_dir/start.log"; return 1; }
	pf_wait_port "$_pf_port" 30 ||
		{ echo "postfix.sh: port $_pf_port never answered"; tail -20 "$_pf_dir/maillog" 2>/dev/null; return 1; }
}

pf_stop() {
	_pf_dir=$1
	_pf_pid=$(pf_master_pid "$_pf_dir")
	postfix -c "$_pf_dir/etc" stop >/dev/null 2>&1
	[ -n "$_pf_pid" ] || return 0
	_pf_n=0
	while kill -0 "$_pf_pid" 2>/dev/null && [ $_pf_n -lt 300 ]; do
		sleep 0.1; _pf_n=$((_pf_n + 1))
	done
	kill -0 "$_pf_pid" 2>/dev/null && kill -9 "$_pf_pid"
	return 0
}

pf_queue_empty() {
	[ -z "$(find "$1/spool/incoming" "$1/spool/active" "$1/spool/maildrop" -type f 2>/dev/null | head -1)" ]
}
