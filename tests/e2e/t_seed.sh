#!/bin/sh
# t_seed.sh - the steps of the Postfix lesson that Tern grew from, done
# with Tern's tools on an instance: ternconf -e (home_mailbox, then
# virtual_alias_maps), the map source edited by hand, ternmap, tern
# reload; then mail to the mapped addresses, by sendmail and by SMTP,
# must reach the mapped user.
. "$(dirname "$0")/lib.sh"

tern_instance
tern_start

# postconf -e 'home_mailbox= Mail/'
ternconf -e 'home_mailbox= Mail/' || fail "ternconf -e home_mailbox"
[ "$(ternconf -h home_mailbox)" = "Mail/" ] || fail "home_mailbox not set: $(ternconf home_mailbox)"
ternconf -n | grep -qx 'home_mailbox = Mail/' || fail "ternconf -n does not list home_mailbox"

# postconf -e 'virtual_alias_maps= hash:/etc/postfix/maps'
ternconf -e "virtual_alias_maps= hash:$TERN_DIR/maps" || fail "ternconf -e virtual_alias_maps"
# sudoedit /etc/postfix/maps
cat > "$TERN_DIR/maps" <<'MAP'
don@lab.itpro.tv dpezet
support@lab.itpro.tv dpezet
MAP
# postmap /etc/postfix/maps
ternmap "$TERN_DIR/maps" || fail "ternmap failed"
[ -f "$TERN_DIR/maps.db" ] || fail "ternmap made no maps.db"
[ "$(ternmap -q Don@Lab.ITPro.tv "hash:$TERN_DIR/maps")" = dpezet ] || fail "ternmap -q does not find don@"
# systemctl restart postfix
tern_reload

printf 'Subject: seed by sendmail\n\nto don\n' | sendmail -i don@lab.itpro.tv ||
	fail "sendmail exited $?"
reply=$(smtp_send someone@example.org support@lab.itpro.tv "seed by smtp")
case $reply in 250*) ;; *) fail "SMTP DATA reply: $reply" ;; esac

wait_for_mail dpezet 2
grep -l 'seed by sendmail' "$TERN_DIR"/mail/dpezet/new/* >/dev/null || fail "sendmail copy missing"
grep -l 'seed by smtp' "$TERN_DIR"/mail/dpezet/new/* >/dev/null || fail "SMTP copy missing"
# Nothing went to the original local parts.
[ ! -d "$TERN_DIR/mail/don" ] && [ ! -d "$TERN_DIR/mail/support" ] || fail "mail delivered to the unmapped address"
pass
