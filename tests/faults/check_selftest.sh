#!/bin/sh
# check_selftest.sh - check.py must see what tests/faults/run counts on
# it to see: a missing copy, a changed byte, a broken From_ line, a
# message delivered twice, an unquoted "From " line in an mbox, a changed
# or cut-short copy from a |command or at the SMTP server, a second
# Maildir, non-delivery notices that name a message. Runs
# before the trials (tests/faults/run); needs no instance or privilege.
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/sent" "$tmp/md/new" "$tmp/md/cur"
for id in a b c d; do
	printf 'Subject: %s\nMessage-Id: <%s@faults>\n\nbody %s\nFrom here\nend\n' $id $id $id > "$tmp/sent/$id"
	echo 0 > "$tmp/sent/$id.rc"
done
mbox_copy() {	# mbox_copy ID [BODY-EDIT]
	printf 'From sender@localhost Fri Dec  4 20:15:44 2026\nReturn-Path: <sender@localhost>\n'
	sed '1,/^$/!s/^From />From /' "$tmp/sent/$1" | sed -n "${2:-p}"
	echo
}
{
	mbox_copy a 'p'
	mbox_copy b 's/^body b/body B/;p'	# a changed byte
	mbox_copy c 'p'
	mbox_copy c 'p'			# twice
} > "$tmp/mbox"
cp "$tmp/sent/a" "$tmp/md/new/1"
cp "$tmp/sent/b" "$tmp/md/new/2"
cp "$tmp/sent/c" "$tmp/md/cur/3"
# d: in neither mailbox.
got=$(python3 "$here/check.py" "$tmp/sent" "$tmp/mbox" "$tmp/md")
want='a 1 1 0
b 1 1 1
c 2 1 0
d 0 0 0'
[ "$got" = "$want" ] || { printf 'check.py said:\n%s\nwanted:\n%s\n' "$got" "$want" >&2; exit 1; }

# A broken From_ line and an unquoted "From " line in a body.
{
	printf 'From sender@localhost\n'
	sed '1,/^$/!s/^From />From /' "$tmp/sent/a"
	echo
	printf 'From sender@localhost Fri Dec  4 20:15:44 2026\n'
	cat "$tmp/sent/c"
	echo
} > "$tmp/mbox"
got=$(python3 "$here/check.py" "$tmp/sent" "$tmp/mbox" "$tmp/md" | grep -E '^(a|c|unknown)')
want='a 1 1 1
c 1 1 1'
[ "$got" = "$want" ] || { printf 'check.py said:\n%s\nwanted:\n%s\n' "$got" "$want" >&2; exit 1; }

# The further places: a |command's files (From_ line and headers before
# the message) and smtp-sink's dumps (its headers first, CRLF, an empty
# line after). a: intact in both; b: a changed byte at the sink; c: no
# closing empty line (cut short; b and c old enough not to be taken for
# a dump still being written, whatever the time this script takes).
mkdir -p "$tmp/pp" "$tmp/rl"
for id in a b c; do
	{ printf 'From sender@localhost Fri Dec  4 20:15:44 2026\nReturn-Path: <sender@localhost>\n'; cat "$tmp/sent/$id"; } > "$tmp/pp/$id"
done
sink_copy() {	# sink_copy ID [BODY-EDIT]
	{ printf 'X-Client-Addr: 127.0.0.1\nX-Mail-Args: <sender@localhost>\n'; sed -n "${2:-p}" "$tmp/sent/$1"; echo; } | sed 's/$/\r/'
}
sink_copy a > "$tmp/rl/a"
sink_copy b 's/^end/END/;p' > "$tmp/rl/b"
sink_copy c | head -n -1 > "$tmp/rl/c"
touch -d '1 minute ago' "$tmp/rl/b" "$tmp/rl/c"	# finished, not being written
got=$(python3 "$here/check.py" "$tmp/sent" "$tmp/mbox" "$tmp/md" "files:$tmp/pp" "sink:$tmp/rl" | grep -E '^(a|b|c) ')
want='a 1 1 1 1 1
b 0 1 1 1 1
c 1 1 2 1 1'
[ "$got" = "$want" ] || { printf 'check.py said:\n%s\nwanted:\n%s\n' "$got" "$want" >&2; exit 1; }

# A second Maildir (a: intact; b: a changed byte) and an mbox of
# non-delivery notices (a: named by two, b: by one; a notice that names
# no sent message counts as broken).
mkdir -p "$tmp/md2/new" "$tmp/md2/cur"
cp "$tmp/sent/a" "$tmp/md2/new/1"
sed 's/^end/END/' "$tmp/sent/b" > "$tmp/md2/cur/2"
notice() {	# notice ID...
	printf 'From MAILER-DAEMON Fri Dec  4 20:15:45 2026
Subject: Undelivered Mail
Message-Id: <n@localhost>

'
	for id in "$@"; do printf 'Content-Type: text/rfc822-headers

Message-Id: <%s@faults>
' $id; done
	echo
}
{ notice a; notice a b; notice zz; } > "$tmp/notices"
got=$(python3 "$here/check.py" "$tmp/sent" "$tmp/mbox" "$tmp/md" "maildir:$tmp/md2" "notices:$tmp/notices")
want='a 1 1 1 1 2
b 0 1 1 1 1
c 1 1 1 0 0
d 0 0 0 0 0
unknown-or-broken 0 0 1'
[ "$got" = "$want" ] || { printf 'check.py said:\n%s\nwanted:\n%s\n' "$got" "$want" >&2; exit 1; }
echo "check.py self-test: ok"
