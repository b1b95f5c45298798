#!/bin/sh
# t_propagate_ext.sh - with recipient_delimiter = +, joe+tag@localhost
# matches the virtual alias joe@localhost -> ann@localhost and, with
# virtual in propagate_unmatched_extensions (the default), the message
# goes to ann+tag@localhost; without it, to ann@localhost. The same for
# canonical_maps and the sender.
here=$(dirname "$0")
[ -f "$here/lib.sh" ] || { echo "skip: tests/e2e/lib.sh is missing"; exit 77; }
. "$here/lib.sh"
for p in sendmail local qmgr pickup ternconf; do
	[ -x "$TERN_TOP/stage/$p" ] || skip "$p is not built"
done

tern_instance
echo "joe@localhost ann@localhost" > "$TERN_DIR/virtual"
echo "sam@localhost samuel@localhost" > "$TERN_DIR/canonical"
ternconf -e "virtual_alias_maps = texthash:$TERN_DIR/virtual" \
	"canonical_maps = texthash:$TERN_DIR/canonical" "recipient_delimiter = +" ||
	fail "ternconf -e"
tern_start

msg() { printf 'Subject: %s\n\nbody of %s\n' "$1" "$1"; }

# Default (canonical, virtual): the extension follows.
msg one | submit -f sam+list@localhost joe+tag@localhost || fail "submit"
wait_for_log 'from=<samuel\+list@localhost>'
wait_for_log 'to=<ann\+tag@localhost>.*status=sent'
wait_for_mail ann 1

# Empty: the table's result as it stands.
tern_stop
ternconf -e "propagate_unmatched_extensions =" || fail "ternconf -e"
tern_start
msg two | submit -f sam+other@localhost joe+more@localhost || fail "submit"
wait_for_mail ann 2
wait_for_log 'to=<ann@localhost>.*status=sent'
grep -q 'from=<samuel@localhost>' "$TERN_DIR/maillog" || fail "the sender kept its extension without canonical"
grep -q 'to=<ann+more@localhost>' "$TERN_DIR/maillog" && fail "the extension was propagated without virtual"
pass
