#!/bin/sh
# t_systemd_units.sh - the systemd units make install puts in place
# (tern.service and the template tern@.service) pass `systemd-analyze
# verify` without a single warning, and say what conf/tern.service
# promises: Type=notify on `tern start -f`, ExecReload `tern reload`,
# SIGTERM to ternd alone, hardening that leaves local delivery its home
# directories and its set-user-ID switch, ordering after user look-ups
# (nss-user-lookup.target), and the template's instances in
# /var/lib/tern/NAME.
. "$(dirname "$0")/lib.sh"
need_cmd systemd-analyze make

dest=$(mktemp -d /tmp/tern-units.XXXXXX)
at_cleanup "rm -rf '$dest'"
make -s -C "$TERN_TOP" install DESTDIR="$dest/root" >"$dest/install.log" 2>&1 ||
	{ cat "$dest/install.log"; fail "make install failed"; }
vars=$(make -s -C "$TERN_TOP" -f Makefile -f - print-vars <<'MK'
print-vars:
	@echo "sbindir=$(sbindir) confdir=$(CONF_DIR) mandir=$(mandir) systemddir=$(SYSTEMD_DIR) queuedir=$(QUEUE_DIR) datadir=$(DATA_DIR)"
MK
) || fail "cannot read install paths"
eval "$vars"
units=$dest/root$systemddir
[ -f "$units/tern.service" ] || fail "tern.service not installed"
[ -f "$units/tern@.service" ] || fail "tern@.service not installed"

# As installed, with the commands' paths fixed.
grep -qx "ExecStart=$sbindir/tern -c $confdir start -f" "$units/tern.service" ||
	fail "tern.service: ExecStart is not tern -c $confdir start -f"
grep -qx "ExecReload=$sbindir/tern -c $confdir reload" "$units/tern.service" ||
	fail "tern.service: ExecReload is not tern reload"
# ProtectSystem=full makes /usr read-only, where the default prefix puts the queue.
grep -qx "ReadWritePaths=-$queuedir -$datadir" "$units/tern.service" ||
	fail "tern.service: the queue and data directories are not writable"
grep -qx "ExecStart=$sbindir/tern -c /var/lib/tern/%i start -f" "$units/tern@.service" ||
	fail "tern@.service: ExecStart does not run /var/lib/tern/%i"
grep -qx "ExecReload=$sbindir/tern -c /var/lib/tern/%i reload" "$units/tern@.service" ||
	fail "tern@.service: ExecReload is not tern reload"
for u in tern.service tern@.service; do
	grep -qx 'Type=notify' "$units/$u" || fail "$u: not Type=notify"
	grep -qx 'KillMode=mixed' "$units/$u" || fail "$u: stop would signal every process at once"
	grep -qx 'ProtectSystem=full' "$units/$u" || fail "$u: no ProtectSystem=full"
	grep -qx 'PrivateTmp=yes' "$units/$u" || fail "$u: no PrivateTmp"
	# pickup derives a submission's sender from its owner's password entry.
	grep -Eqx 'After=.* nss-user-lookup\.target( .*)?' "$units/$u" ||
		fail "$u: not ordered after nss-user-lookup.target"
	grep -q '^Wants=.*nss-user-lookup' "$units/$u" && fail "$u: pulls nss-user-lookup.target in (After= only)"
	# Local delivery writes ~/Maildir, reads ~/.forward, runs commands
	# (and the set-group-ID terndrop) as the user; ternd makes public/ 2710.
	for bad in ProtectHome NoNewPrivileges RestrictSUIDSGID DynamicUser User CapabilityBoundingSet \
		SystemCallFilter; do
		grep -q "^$bad=" "$units/$u" && fail "$u: sets $bad, which breaks local delivery"
	done
	grep -q '@[a-z]*@' "$units/$u" && fail "$u: a path left unfilled: $(grep '@[a-z]*@' "$units/$u")"
done

# systemd-analyze verify wants each command to exist where the unit says:
# the same units with the commands in the staged tree. Any line it prints
# (an unknown key, a bad value, a missing man page) is a failure.
mkdir "$dest/verify"
for u in tern.service tern@.service; do
	sed "s|^\(Exec[A-Za-z]*=\)$sbindir/|\1$dest/root$sbindir/|" "$units/$u" >"$dest/verify/$u"
done
grep -q "^ExecStart=$dest/root" "$dest/verify/tern.service" || fail "cannot point the unit at the staged tern"
man=--man=no
command -v man >/dev/null 2>&1 && man=--man=yes
(cd "$dest/verify" && MANPATH="$dest/root$mandir" SYSTEMD_LOG_LEVEL=notice systemd-analyze verify $man \
	"$dest/verify/tern.service" "$dest/verify/tern@test.service") >"$dest/verify.out" 2>&1
rc=$?
if [ $rc != 0 ] || [ -s "$dest/verify.out" ]; then
	cat "$dest/verify.out" >&2
	fail "systemd-analyze verify: exit $rc, or warnings above"
fi
# The check itself finds a bad unit.
echo "Bogus=1" >>"$dest/verify/tern.service"
systemd-analyze verify --man=no "$dest/verify/tern.service" >"$dest/verify.out" 2>&1
grep -q Bogus "$dest/verify.out" || fail "systemd-analyze verify does not report an unknown key"
pass
