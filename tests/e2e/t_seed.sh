#!/bin/sh
# t_seed.sh - the seed's Postfix steps (README "Configuring Tern like the
# seed") done with Tern's commands on an instance: ternconf -n and -e,
# virtual_alias_maps with a hash map built by ternmap, tern reload, and
# mail for the mapped addresses arriving for the mapped user, by sendmail
# and by SMTP.
. "$(dirname "$0")/lib.sh"

for p in ternd smtpd pickup qmgr local sendmail terndrop ternconf ternmap; do
	[ -x "$TERN_TOP/stage/$p" ] || skip "stage/$p is not built yet"
done
tern_instance
tern_start

# postconf -n / postconf -e 'home_mailbox= Mail/'
ternconf -n | grep -qx "queue_directory = $TERN_DIR/queue" || fail "ternconf -n"
ternconf -e 'home_mailbox= Mail/' || fail "ternconf -e home_mailbox"
[ "$(ternconf -h home_mailbox)" = "Mail/" ] || fail "home_mailbox not set"

# The alias map: postconf -e, the map file, postmap, restart.
ternconf -e "virtual_alias_maps= hash:$TERN_DIR/maps" || fail "ternconf -e virtual_alias_maps"
cat > "$TERN_DIR/maps" <<MAP
don@lab.itpro.tv dpezet
support@lab.itpro.tv dpezet
MAP
ternmap "$TERN_DIR/maps" || fail "ternmap"
[ "$(ternmap -q don@lab.itpro.tv "hash:$TERN_DIR/maps")" = dpezet ] || fail "ternmap -q"
tern_reload

printf 'Subject: for don %s\n\nhi\n' "$$" | sendmail -C "$TERN_DIR" -i don@lab.itpro.tv || fail "sendmail"
wait_for_mail dpezet 1
grep -l "^Subject: for don $$" "$TERN_DIR"/mail/dpezet/new/* >/dev/null || fail "don's mail not in dpezet's Maildir"

reply=$(smtp_send sender@example.org support@lab.itpro.tv "for support $$") || fail "SMTP refused support@lab.itpro.tv: $reply"
wait_for_mail dpezet 2
grep -l "^Subject: for support $$" "$TERN_DIR"/mail/dpezet/new/* >/dev/null || fail "support's mail not in dpezet's Maildir"
[ ! -d "$TERN_DIR/mail/don" ] && [ ! -d "$TERN_DIR/mail/support" ] || fail "mapped addresses got their own Maildir"
pass
