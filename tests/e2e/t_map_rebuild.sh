#!/bin/sh
# t_map_rebuild.sh - a running instance uses a table rebuilt by ternmap
# without tern reload (see ternmap(1)): with virtual_alias_maps =
# hash:DIR/virtual, a changed target is followed by mail from sendmail
# (pickup's cleanup) and from SMTP (smtpd's cleanup), and a key added to
# a virtual alias domain is accepted by smtpd's RCPT check, all within a
# few seconds. Mail that races the rebuild may still see the old table,
# so each path sends until one message reaches the new target, then
# checks that the next one does too.
. "$(dirname "$0")/lib.sh"

tern_instance
cat > "$TERN_DIR/virtual" <<'EOM'
v@localhost first
info@virt.example first
EOM
ternmap "$TERN_DIR/virtual" || fail "ternmap"
ternconf -e "virtual_alias_maps = hash:$TERN_DIR/virtual" "virtual_alias_domains = virt.example" ||
	fail "ternconf -e"
tern_start

# The user whose Maildir holds the message with this subject ("" while none does).
delivered_to() {
	_f=$(grep -lx "Subject: $1" "$TERN_DIR"/mail/*/new/* 2>/dev/null | head -n 1)
	[ -n "$_f" ] || return 1
	_f=${_f#"$TERN_DIR/mail/"}
	echo "${_f%%/*}"
}

by_sendmail() { printf 'Subject: %s\n\nhello\n' "$2" | sendmail -i "$1"; }
by_smtp() { smtp_send someone@example.org "$1" "$2" >/dev/null 2>&1; }

# send_until_new HOW RCPT TARGET: send (HOW = by_sendmail or by_smtp)
# until a message reaches TARGET; fail after 20 s or at another user.
# (_until: wait_for uses _end.)
send_until_new() {
	_until=$(( $(date +%s) + 20 ))
	_i=0
	while :; do
		_i=$((_i + 1))
		_subj="$1 $2 try $_i"
		if "$1" "$2" "$_subj"; then
			wait_for "delivery of '$_subj'" delivered_to "$_subj"
			_to=$(delivered_to "$_subj")
			[ "$_to" = "$3" ] && return 0
			[ "$_to" = first ] || fail "'$_subj' went to $_to"
		fi
		[ "$(date +%s)" -lt "$_until" ] || fail "$1: mail to $2 does not reach $3 20 s after ternmap"
		sleep 0.3
	done
}

# Before: the first table.
by_sendmail v@localhost "before 1" || fail "sendmail exited $?"
by_smtp info@virt.example "before 2" || fail "SMTP refused info@virt.example"
wait_for_mail first 2
by_smtp new@virt.example "refused" && fail "SMTP accepted new@virt.example before it was in the table"

# The rebuild: new targets for both keys, and a new key. No reload.
gen=$(cat "$TERN_DIR/queue/pid/master.generation" 2>/dev/null)
cat > "$TERN_DIR/virtual" <<'EOM'
v@localhost second
info@virt.example second
new@virt.example third
EOM
ternmap "$TERN_DIR/virtual" || fail "ternmap (rebuild)"

send_until_new by_sendmail v@localhost second
send_until_new by_smtp info@virt.example second
send_until_new by_smtp new@virt.example third
# And it stays so.
by_sendmail v@localhost "after 1" || fail "sendmail exited $?"
by_smtp info@virt.example "after 2" || fail "SMTP refused info@virt.example"
wait_for "delivery of 'after 1'" delivered_to "after 1"
wait_for "delivery of 'after 2'" delivered_to "after 2"
[ "$(delivered_to "after 1")" = second ] || fail "'after 1' went to $(delivered_to "after 1")"
[ "$(delivered_to "after 2")" = second ] || fail "'after 2' went to $(delivered_to "after 2")"
[ "$(cat "$TERN_DIR/queue/pid/master.generation" 2>/dev/null)" = "$gen" ] || fail "the instance was reloaded"
pass
