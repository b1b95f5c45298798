#!/bin/sh
# t_newaliases.sh - newaliases and sendmail -bi in a tern init instance:
# every alias_database is rebuilt atomically with sendmail's layout (NULs,
# the @ marker) and summary line, bad lines are reported with file and
# line (exit 65), and the hash: table it writes is what local delivery
# then uses (alias_maps = hash:). Runs as root or as any user.
here=$(dirname "$0")
[ -f "$here/lib.sh" ] || { echo "skip: tests/e2e/lib.sh is missing"; exit 77; }
. "$here/lib.sh"
for p in sendmail newaliases local qmgr pickup ternconf ternmap; do
	[ -x "$TERN_TOP/stage/$p" ] || skip "$p is not built"
done
need_cmd db5.3_dump
FIXTURES="$TERN_TOP/tests/fixtures/maps"

dbpairs() {	# sorted "key<TAB>value" pairs as db5.3_dump -p shows them
	db5.3_dump -p "$1" | sed -n '/^HEADER=END$/,/^DATA=END$/p' | sed '1d;$d' |
		sed 's/^ //' | paste - - | LC_ALL=C sort
}

tern_instance
cd "$TERN_DIR" || fail "cd"
# The source sendmail's own newaliases turned into tests/fixtures/maps/sendmail-aliases.db.
cp "$FIXTURES/aliases.src" aliases
printf 'team: alice, bob,\n\tcarol\n' >> aliases
ternconf -e "alias_database = hash:$TERN_DIR/aliases, btree:$TERN_DIR/second" ||
	fail "ternconf -e alias_database"
printf 'x: y\n' > second

newaliases > out 2> err || fail "newaliases exited $?: $(cat err)"
printf '%s\n' "$TERN_DIR/aliases: 12 aliases, longest 20 bytes, 180 bytes total" \
	"$TERN_DIR/second: 1 aliases, longest 1 bytes, 2 bytes total" > want
cmp -s out want || fail "summary: $(cat out)"
grep -q "aliases:13: duplicate alias name dup (first at line 12)" err || fail "no duplicate warning: $(cat err)"
# sendmail's layout: the same pairs as sendmail's newaliases wrote, plus ours.
dbpairs aliases.db | grep -v '^team' > ours
dbpairs "$FIXTURES/sendmail-aliases.db" > theirs
cmp -s ours theirs || { diff ours theirs >&2; fail "aliases.db differs from sendmail's"; }
dbpairs aliases.db | grep -qx 'team\\00	alice, bob,\\09carol\\00' || fail "team entry: $(dbpairs aliases.db)"
db5.3_dump -p second.db | grep -q '^type=btree$' || fail "second.db is not a btree"

# sendmail -bi does the same; the rebuild replaces the file whole.
ino1=$(ls -i aliases.db | cut -d' ' -f1)
sendmail -C "$TERN_DIR" -bi > out 2>&1 || fail "sendmail -bi exited $?"
grep -q "^$TERN_DIR/aliases: 12 aliases" out || fail "sendmail -bi output: $(cat out)"
ino2=$(ls -i aliases.db | cut -d' ' -f1)
[ "$ino1" != "$ino2" ] || fail "the rebuild wrote aliases.db in place"
ls | grep -q '\.tmp\.' && fail "temporary file left: $(ls)"

# A bad line: reported with file and line, exit 65, the rest still built.
printf 'no colon here\nnew: dave\n' >> second
newaliases > out 2> err
[ $? -eq 65 ] || fail "bad line: want exit 65"
grep -q "second:2: no colon here... missing colon" err || fail "bad line report: $(cat err)"
[ "$(ternmap -q new btree:second)" = dave ] || fail "good lines after a bad one were lost"
# A missing source: 66, and the old table stays.
rm second
newaliases > /dev/null 2>&1
[ $? -eq 66 ] || fail "missing source: want 66"
[ -s second.db ] || fail "a failed rebuild removed second.db"
printf 'x: y\n' > second

# Delivery reads the table newaliases wrote.
ternconf -e "alias_maps = hash:$TERN_DIR/aliases" || fail "ternconf -e alias_maps"
tern_start
printf 'Subject: team\n\nhello team\n' | sendmail -f sender@localhost team@localhost ||
	fail "sendmail exited $?"
for u in alice bob carol; do
	wait_for_mail "$u" 1
done
# A change is seen after newaliases, without a reload.
printf 'late: erin\n' >> aliases
newaliases > /dev/null || fail "newaliases (2)"
printf 'Subject: late\n\nhello\n' | sendmail -f sender@localhost late@localhost || fail "sendmail (2)"
wait_for_mail erin 1
pass
