#!/bin/sh
# t_tern_setup.sh - tern setup, the install questions, on instances: from
# flags, from a preseed file, asked on standard input (--stdin) and on a
# pseudo-terminal, with bad answers refused (exit 64, nothing written) or
# asked again; a second run with the same answers leaves main.cf and the
# aliases file byte-identical; what each configuration type leaves in
# `ternconf -n`; answers read back from main.cf as the next run's defaults.
. "$(dirname "$0")/lib.sh"

need_cmd python3

tern_instance
fqdn=$(ternconf -h myhostname) || fail "ternconf -h myhostname"
domain=$(ternconf -h mydomain) || fail "ternconf -h mydomain"

# has NAME VALUE: ternconf -n shows exactly "NAME = VALUE" ("NAME =" when empty).
has() {
	want="$1 = $2"
	[ -n "$2" ] || want="$1 ="
	ternconf -n 2>/dev/null | grep -qxF "$want" || { ternconf -n >&2; fail "main.cf: want '$want'"; }
}
hasnt() {
	! ternconf -n 2>/dev/null | grep -q "^$1 =" || fail "main.cf sets $1"
}

# --- Flags, non-interactive -------------------------------------------------
cp "$TERN_DIR/main.cf" "$TERN_DIR/main.cf.orig"
out=$(tern setup --non-interactive --type 'Internet Site' --mailname example.org --root alice \
	--networks '127.0.0.0/8, 192.0.2.0/24' --mailbox-limit 1000000 --delimiter '+-' \
	--protocols ipv4 2>&1) || fail "tern setup with flags: $out"
has myorigin example.org
has mydestination "\$myhostname, example.org, $fqdn, localhost.$domain, localhost"
has mynetworks '127.0.0.0/8, 192.0.2.0/24'
has mailbox_size_limit 1000000
has recipient_delimiter '+-'
has inet_protocols ipv4
has relayhost ''
has inet_interfaces 127.0.0.1	# an instance's own address stays for Internet Site
hasnt default_transport
# The comments and the other settings of main.cf stay.
grep -q '^# main.cf - ' "$TERN_DIR/main.cf" || fail "main.cf lost its comments"
has queue_directory "$TERN_DIR/queue"
# root: in the aliases file, the rest kept, the database rebuilt.
grep -qx 'root: alice' "$TERN_DIR/aliases" || fail "no root: alice line in aliases"
grep -q '^# aliases - ' "$TERN_DIR/aliases" || fail "aliases lost its comments"
[ "$(ternmap -q root "hash:$TERN_DIR/aliases")" = alice ] || fail "aliases.db has no root -> alice"
# An instance does not touch the system's /etc/mailname.
echo "$out" | grep -q /etc/mailname && fail "an instance wrote /etc/mailname: $out"

# --- The same answers again: nothing changes -------------------------------
cp "$TERN_DIR/main.cf" "$TERN_DIR/main.cf.1"
cp "$TERN_DIR/aliases" "$TERN_DIR/aliases.1"
out=$(tern setup --non-interactive --type internet --mailname example.org --root alice \
	--networks '127.0.0.0/8, 192.0.2.0/24' --mailbox-limit 1000000 --delimiter '+-' \
	--protocols ipv4 2>&1) || fail "second run: $out"
cmp -s "$TERN_DIR/main.cf" "$TERN_DIR/main.cf.1" || fail "main.cf changed on the second run"
cmp -s "$TERN_DIR/aliases" "$TERN_DIR/aliases.1" || fail "aliases changed on the second run"
[ -z "$out" ] || fail "second run reported changes: $out"
# Without answers, the current ones are read back: still nothing changes.
out=$(tern setup --non-interactive 2>&1) || fail "run without answers: $out"
cmp -s "$TERN_DIR/main.cf" "$TERN_DIR/main.cf.1" || fail "main.cf changed on a run without answers"
cmp -s "$TERN_DIR/aliases" "$TERN_DIR/aliases.1" || fail "aliases changed on a run without answers"

# --- Bad answers: exit 64, a clear message, nothing written ----------------
refused() {	# refused PATTERN ARGS...
	pat=$1; shift
	out=$(tern setup --non-interactive "$@" 2>&1)
	rc=$?
	[ $rc = 64 ] || fail "tern setup $*: exit $rc, want 64 ($out)"
	echo "$out" | grep -q "$pat" || fail "tern setup $*: message '$out' lacks '$pat'"
	cmp -s "$TERN_DIR/main.cf" "$TERN_DIR/main.cf.1" || fail "tern setup $* changed main.cf"
}
refused 'not a network' --networks '10.0.0.0/33'
refused 'not a network' --networks '127.0.0.0/8 localhost'
refused 'not a domain name' --mailname 'bad name'
refused 'not a domain name' --mailname 'user@example.org'
refused 'not a relay host' --type smarthost --relayhost 'a.example b.example'
refused 'not a relay host' --type smarthost --relayhost 'a.example:99999'
refused 'not a size' --mailbox-limit 10k
refused 'not a set of delimiter characters' --delimiter '@'
refused 'not a configuration type' --type 'Internet only'
refused 'not all, ipv4 or ipv6' --protocols ipv5
refused 'unknown option' --colour blue
printf 'type = internet\nfavourite = blue\n' >"$TERN_DIR/preseed.bad"
refused 'line 2: unknown question "favourite"' --preseed "$TERN_DIR/preseed.bad"
out=$(tern setup --non-interactive --preseed "$TERN_DIR/no-such-file" 2>&1)
[ $? = 66 ] || fail "a missing preseed file: want exit 66 ($out)"

# --- Each type on a new instance, from a preseed file ----------------------
# preseed TYPE [extra lines]: a new instance set up from a preseed file
# with the mail name $domain (the host lies within it).
preseed() {
	tern_instance
	{
		echo "# answers, as the package's postinst writes them"
		echo "type = $1"
		echo "mailname = $domain"
		echo "root = postmaster-person"
		echo "relayhost = [smtp.$domain]:587"
		shift
		for l in "$@"; do echo "$l"; done
	} >"$TERN_DIR/preseed"
	out=$(tern setup --non-interactive --preseed "$TERN_DIR/preseed" 2>&1) ||
		fail "preseed $(head -2 "$TERN_DIR/preseed"): $out"
	cp "$TERN_DIR/main.cf" "$TERN_DIR/main.cf.1"
	out=$(tern setup --non-interactive --preseed "$TERN_DIR/preseed" 2>&1) || fail "again: $out"
	cmp -s "$TERN_DIR/main.cf" "$TERN_DIR/main.cf.1" || fail "type $1: main.cf changed on the second run"
}
local_dest="\$myhostname, $fqdn, localhost.$domain, localhost"

preseed 'Internet Site'
has mydestination "\$myhostname, $domain, $fqdn, localhost.$domain, localhost"
has relayhost ''
has inet_interfaces 127.0.0.1
has mynetworks '127.0.0.0/8 [::ffff:127.0.0.0]/104 [::1]/128'
has mailbox_size_limit 0
has recipient_delimiter +
grep -qx 'root: postmaster-person' "$TERN_DIR/aliases" || fail "preseed root: not written"

preseed 'Internet with smarthost' 'mailbox_limit = 2000'	# debconf's name works too
has relayhost "[smtp.$domain]:587"
has mydestination "$local_dest"
has inet_interfaces 127.0.0.1
has mailbox_size_limit 2000
hasnt default_transport

preseed 'Satellite system'
has relayhost "[smtp.$domain]:587"
has mydestination "$local_dest"
has inet_interfaces loopback-only
has myorigin "$domain"
hasnt default_transport

preseed 'Local only'
has relayhost ''
has inet_interfaces loopback-only
has mydestination "$local_dest"
has default_transport 'error:mail for other hosts is not sent from this local-only host'
has relay_transport 'error:mail for other hosts is not sent from this local-only host'
# Read back: a run without answers keeps "Local only".
out=$(tern setup --non-interactive 2>&1) || fail "local only, re-run: $out"
cmp -s "$TERN_DIR/main.cf" "$TERN_DIR/main.cf.1" || fail "local only re-run changed main.cf"
# Leaving local only removes its transports, loopback-only becomes all.
tern setup --non-interactive --type internet >/dev/null 2>&1 || fail "local -> internet"
hasnt default_transport
hasnt relay_transport
has inet_interfaces all

tern_instance
cp "$TERN_DIR/main.cf" "$TERN_DIR/main.cf.0"
cp "$TERN_DIR/aliases" "$TERN_DIR/aliases.0"
out=$(tern setup --non-interactive --type 'No configuration' --root alice --mailname x.example 2>&1) ||
	fail "No configuration: $out"
cmp -s "$TERN_DIR/main.cf" "$TERN_DIR/main.cf.0" || fail "No configuration changed main.cf"
cmp -s "$TERN_DIR/aliases" "$TERN_DIR/aliases.0" || fail "No configuration changed aliases"

# --- Asked on standard input (--stdin), a bad network asked again ----------
tern_instance
out=$(printf '%s\n' 3 "$domain" 'smtp.example.net:25' none '' '10.0.0.0/33' '10.0.0.0/8' '' '' '' |
	tern setup --stdin 2>&1) || fail "tern setup --stdin: $out"
echo "$out" | grep -q 'General mail configuration type \[Internet Site\]' || fail "no type prompt: $out"
echo "$out" | grep -q "SMTP relay host.*\[smtp.$domain\]" || fail "relay host default not smtp.DOMAIN: $out"
echo "$out" | grep -q '"10.0.0.0/33" is not a network.*try again' || fail "bad network not re-asked: $out"
has relayhost 'smtp.example.net:25'
has mynetworks 10.0.0.0/8
has mydestination "$local_dest"
grep -q '^root:' "$TERN_DIR/aliases" && fail "root 'none' wrote a root: line"
# The answers are the next run's defaults (as dpkg-reconfigure shows them).
out=$(printf '\n\n\n\n\n\n\n\n\n' | tern setup --stdin 2>&1) || fail "stdin re-run: $out"
echo "$out" | grep -q 'type \[Internet with smarthost\]' || fail "type not read back: $out"
echo "$out" | grep -q 'Local networks.*\[10.0.0.0/8\]' || fail "networks not read back: $out"
# Standard input ends before the answers do: exit 64, nothing written.
cp "$TERN_DIR/main.cf" "$TERN_DIR/main.cf.1"
out=$(printf '2\n' | tern setup --stdin --mailbox-limit 5 2>&1)
[ $? = 64 ] || fail "short input: want exit 64 ($out)"
cmp -s "$TERN_DIR/main.cf" "$TERN_DIR/main.cf.1" || fail "short input changed main.cf"
# Not a terminal and no --stdin: the given and current answers, nothing asked.
out=$(echo 5 | tern setup --mailbox-limit 7 2>&1) || fail "no terminal: $out"
has mailbox_size_limit 7
has relayhost 'smtp.example.net:25'

# --- On a terminal (a pseudo-terminal), a given flag is the default --------
tern_instance
python3 - "$TERN_TOP/stage/tern" "$TERN_DIR" <<'EOF' || fail "pty session failed"
import os, pty, sys, time
tern, d = sys.argv[1], sys.argv[2]
pid, fd = pty.fork()
if pid == 0:
    os.execv(tern, [tern, "-c", d, "setup", "--type", "satellite", "--relayhost", "[gw.example]"])
answers = [b"\n", b"example.com\n", b"\n", b"bob\n", b"\n", b"192.0.2.0/24x\n", b"192.0.2.0/24\n",
           b"\n", b"\n", b"\n"]
seen = b""
deadline = time.time() + 30
while time.time() < deadline:
    try:
        data = os.read(fd, 4096)
    except OSError:
        break
    if not data:
        break
    seen += data
    # Answer each prompt as it appears ("...]: ").
    while answers and seen.count(b"]: ") > 10 - len(answers):
        os.write(fd, answers.pop(0))
_, status = os.waitpid(pid, 0)
text = seen.decode(errors="replace")
if os.WEXITSTATUS(status) != 0 or "Satellite system]" not in text or "try again" not in text:
    sys.stderr.write(text)
    sys.exit(1)
EOF
has relayhost '[gw.example]'
has inet_interfaces loopback-only
has myorigin example.com
has mynetworks 192.0.2.0/24
grep -qx 'root: bob' "$TERN_DIR/aliases" || fail "pty: no root: bob"

pass
