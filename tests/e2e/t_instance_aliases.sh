#!/bin/sh
# t_instance_aliases.sh - the aliases of an instance made by tern init are
# aliases(5): DIR/aliases is read through DIR/aliases.db (alias_maps =
# hash:DIR/aliases, built by tern init), an alias added to DIR/aliases and
# rebuilt with `newaliases -C DIR` is honoured for mail by sendmail and by
# SMTP, and a change rebuilt with `sendmail -C DIR -bi` while the instance
# runs is honoured without a reload.
. "$(dirname "$0")/lib.sh"

tern_instance
grep -qxF "alias_maps = hash:$TERN_DIR/aliases" "$TERN_DIR/main.cf" || fail "alias_maps: $(ternconf alias_maps)"
grep -qxF "alias_database = hash:$TERN_DIR/aliases" "$TERN_DIR/main.cf" || fail "alias_database: $(ternconf alias_database)"
[ -s "$TERN_DIR/aliases.db" ] || fail "tern init built no aliases.db"

# aliases(5) syntax: "name: value, value", a continuation line, a comment.
cat >> "$TERN_DIR/aliases" <<'EOA'
# the team
team: alice,
	bob
postmaster: carol
EOA
out=$(newaliases -C "$TERN_DIR") || fail "newaliases -C exited $?: $out"
[ "$out" = "$TERN_DIR/aliases: 2 aliases, longest 10 bytes, 29 bytes total" ] || fail "newaliases said: $out"
tern_start

printf 'Subject: to the team\n\nhello\n' | sendmail -C "$TERN_DIR" -i team@localhost || fail "sendmail exited $?"
reply=$(smtp_send someone@example.org postmaster@localhost "to the postmaster") || fail "SMTP: $reply"
wait_for_mail alice
wait_for_mail bob
wait_for_mail carol
grep -q '^Subject: to the team' "$(tern_newest_mail bob)" || fail "bob's copy is not the team's message"
grep -q '^Subject: to the postmaster' "$(tern_newest_mail carol)" || fail "carol's copy is not the postmaster's"
for name in team postmaster; do
	[ ! -d "$TERN_DIR/mail/$name" ] || fail "mail for $name went to $name, not through the alias"
done

# Changed while running, rebuilt by sendmail -bi: no reload needed.
sed -i 's/^postmaster: carol$/postmaster: dave/' "$TERN_DIR/aliases"
sendmail -C "$TERN_DIR" -bi >/dev/null || fail "sendmail -bi exited $?"
reply=$(smtp_send someone@example.org postmaster@localhost "after -bi") || fail "SMTP: $reply"
wait_for_mail dave
grep -q '^Subject: after -bi' "$(tern_newest_mail dave)" || fail "dave's copy is not the new message"
[ "$(ls "$TERN_DIR/mail/carol/new" | wc -l)" = 1 ] || fail "carol still gets postmaster's mail"
pass
