# dovecot.sh - start a private Dovecot authentication service for tests
# (Debian's dovecot-core). Source it from a POSIX sh script; needs root.
#
# Only Dovecot's auth service runs: no IMAP/POP3 listeners, no SSL, a
# passwd-file user database, the auth-client socket in DIR/run, the log in
# DIR/dovecot.log (auth_debug on: each request line is logged with the
# password hidden). Dovecot's other defaults stay (auth_failure_delay 2s,
# unless DC_FAILURE_DELAY=N, in seconds, is set when dc_start runs).
#
# Users: alice / secret and bob / hunter2 (SHA512-CRYPT).
#
# Functions:
#   dc_available          0 when Dovecot can be started here (else prints why)
#   dc_start DIR          write the config into DIR (made if missing), start
#                         Dovecot and wait for its socket; sets DC_SOCK
#   dc_stop DIR           stop it and wait for the master to exit
#   dc_pid DIR            the master's pid

dc_available() {
	[ "$(id -u)" = 0 ] || { echo "dovecot.sh: needs root to start Dovecot"; return 1; }
	command -v dovecot >/dev/null 2>&1 || { echo "dovecot.sh: dovecot-core not installed"; return 1; }
	getent passwd dovenull >/dev/null || { echo "dovecot.sh: no dovenull user"; return 1; }
	return 0
}

dc_pid() {
	_dc_pid=$(cat "$1/run/master.pid" 2>/dev/null)
	[ -n "$_dc_pid" ] && kill -0 "$_dc_pid" 2>/dev/null && echo "$_dc_pid"
}

dc_start() {
	_dc_dir=$1
	mkdir -p "$_dc_dir/run" "$_dc_dir/state"
	chmod 755 "$_dc_dir"
	# "secret" for alice; "hunter2" for bob, hashed here by doveadm pw.
	cat > "$_dc_dir/users" <<'EOF'
alice:{SHA512-CRYPT}$6$T9DH39EVrukuwTyT$zvXNLOUPLrjHuj7Jm5VqzDeA35CLvbxhzCz259EceUGD5klSe9H6sn7YOPWjp9V3cZK9A4pkc5dxMiSK8dD0s0::::::
EOF
	printf 'bob:%s::::::\n' "$(doveadm pw -s SHA512-CRYPT -p hunter2)" >> "$_dc_dir/users"
	cat > "$_dc_dir/dovecot.conf" <<EOF
base_dir = $_dc_dir/run
state_dir = $_dc_dir/state
log_path = $_dc_dir/dovecot.log
protocols =
listen = 127.0.0.1
ssl = no
auth_mechanisms = plain login
auth_verbose = yes
auth_debug = yes
${DC_FAILURE_DELAY:+auth_failure_delay = $DC_FAILURE_DELAY secs}
passdb {
  driver = passwd-file
  args = $_dc_dir/users
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=$_dc_dir/home/%u
}
service auth {
  unix_listener auth-client {
    mode = 0666
  }
}
service anvil {
  chroot =
}
EOF
	dovecot -c "$_dc_dir/dovecot.conf" || { cat "$_dc_dir/dovecot.log" 2>/dev/null; return 1; }
	DC_SOCK=$_dc_dir/run/auth-client
	_dc_n=0
	while [ ! -S "$DC_SOCK" ] && [ $_dc_n -lt 300 ]; do sleep 0.1; _dc_n=$((_dc_n + 1)); done
	[ -S "$DC_SOCK" ] || { echo "dovecot.sh: no auth-client socket"; cat "$_dc_dir/dovecot.log"; return 1; }
	return 0
}

dc_stop() {
	_dc_pid=$(dc_pid "$1")
	[ -n "$_dc_pid" ] || return 0
	kill "$_dc_pid"
	_dc_n=0
	while kill -0 "$_dc_pid" 2>/dev/null && [ $_dc_n -lt 300 ]; do sleep 0.1; _dc_n=$((_dc_n + 1)); done
	kill -0 "$_dc_pid" 2>/dev/null && kill -9 "$_dc_pid"
	rm -f "$1/run/master.pid"
	return 0
}
