#!/bin/sh
# t_map_interop.sh - tables made by Tern are read by Postfix (postmap -q,
# postalias -q) and by db5.3_dump in the layout sendmail expects; tables
# made by Postfix now, and by postmap, makemap and sendmail's newaliases
# earlier (committed fixtures), are read by Tern; a regexp: table answers
# as postmap's does. Unprivileged.
. "$(dirname "$0")/maplib.sh"
need_cmd db5.3_dump postmap postalias
STUB="$top/tests/e2e/newaliases_stub"
[ -x "$STUB" ] || fail "missing $STUB (make check builds it)"
postfix_conf

# 1. Tern's tables, read by postmap -q (hash and btree).
cp "$FIXTURES/table.src" t
"$TERNMAP" hash:t btree:t 2>/dev/null || fail "ternmap build"
for type in hash btree; do
	"$TERNMAP" $type:t || fail "ternmap $type"
	[ "$(postmap -c pf -q EXAMPLE.com $type:t)" = OK ] || fail "postmap -q on Tern's $type table"
	[ "$(postmap -c pf -q user@example.org $type:t)" = "RELAY with several words" ] ||
		fail "postmap -q multi-word value ($type)"
	postmap -c pf -q nosuch $type:t && fail "postmap found a missing key"
	# Every entry, as postmap -s sees it, equals ternmap -s.
	postmap -c pf -s $type:t | LC_ALL=C sort > theirs
	"$TERNMAP" -s $type:t | LC_ALL=C sort > ours
	same ours theirs
done
# And the same bytes as postmap's own table from the same source.
dbpairs t.db > ours
dbpairs "$FIXTURES/postmap-hash.db" > theirs
same ours theirs

# 2. Postfix's tables (made now, and the committed ones) read by Tern.
cp "$FIXTURES/table.src" p
postmap -c pf hash:p || fail "postmap"
[ "$("$TERNMAP" -q mixed.case.key p)" = "Value Keeps Its Case" ] || fail "ternmap -q on postmap's table"
for f in postmap-hash postmap-btree makemap-hash makemap-hash-N makemap-btree; do
	case $f in *btree) type=btree ;; *) type=hash ;; esac
	[ "$("$TERNMAP" -q 192.168.1 $type:"$FIXTURES/$f")" = REJECT ] || fail "ternmap -q on $f"
	"$TERNMAP" -s $type:"$FIXTURES/$f" | LC_ALL=C sort > ours
	grep -v '^#' "$FIXTURES/table.src" | awk -F'\t' '{ printf "%s\t%s\n", tolower($1), $2 }' |
		LC_ALL=C sort > want
	same ours want
done
# makemap -f kept the case: a folded lookup misses, an exact one finds.
"$TERNMAP" -q mixed.case.key "$FIXTURES/makemap-hash-f" && fail "folded lookup found a -f key"
[ "$("$TERNMAP" -f -q Mixed.Case.Key "$FIXTURES/makemap-hash-f")" = "Value Keeps Its Case" ] ||
	fail "exact lookup in makemap -f table"

# 3. Tern's aliases.db: sendmail's layout, read by Postfix.
cp "$FIXTURES/aliases.src" aliases
"$STUB" hash:"$work/aliases" > summary 2> diag || fail "newaliases exited $?"
grep -qx "$work/aliases: 11 aliases, longest 20 bytes, 159 bytes total" summary ||
	fail "summary line: $(cat summary)"
grep -q 'aliases:13: duplicate alias name dup' diag || fail "no duplicate warning"
dbpairs aliases.db > ours
grep -qx '@\\00	@\\00' ours || fail "no @ marker with NULs"
grep -v '\\00	.*\\00$' ours && fail "an entry without NULs"
# The same pairs, byte for byte, as sendmail's newaliases wrote.
dbpairs "$FIXTURES/sendmail-aliases.db" > theirs
same ours theirs
[ "$(postalias -c pf -q PostMaster hash:aliases)" = root ] || fail "postalias -q on Tern's aliases.db"
[ "$(postalias -c pf -q pipe hash:aliases)" = '"|/usr/bin/prog arg"' ] || fail "postalias -q pipe"

# 3b. newaliases as sendmail -bi runs it: every map in alias_database.
mkdir conf
cp "$FIXTURES/aliases.src" a1
printf 'root: admin\nbad line\n' > a2
cat > conf/main.cf <<CF
alias_database = hash:$work/a1,
	btree:$work/a2
CF
"$STUB" -C conf > summary 2> diag
[ $? -eq 65 ] || fail "newaliases with a bad line: want 65"
printf '%s\n' "$work/a1: 11 aliases, longest 20 bytes, 159 bytes total" \
	"$work/a2: 1 aliases, longest 5 bytes, 9 bytes total" > want
same summary want
grep -q "warning: $work/a2:2: bad line... missing colon" diag || fail "no warning for the bad line: $(cat diag)"
db5.3_dump -p a2.db | grep -q '^type=btree$' || fail "a2.db is not a btree"
[ "$(dbpairs a1.db)" = "$(dbpairs "$FIXTURES/sendmail-aliases.db")" ] || fail "a1.db differs from sendmail's"
[ "$(postalias -c pf -q root btree:a2)" = admin ] || fail "postalias -q on a2"

# 4. Aliases built by Postfix's postalias and sendmail's newaliases, read by Tern.
cp "$FIXTURES/aliases.src" pa
postalias -c pf hash:pa 2>/dev/null || fail "postalias"
# (postalias joins continuation lines with one space and keeps the first of
# two equal names; Tern reads whatever it stored.)
[ "$("$TERNMAP" -q list pa)" = "a, b, c" ] || fail "ternmap -q on postalias's table"
[ "$("$TERNMAP" -q dup pa)" = first ] || fail "ternmap -q dup on postalias's table"
[ "$("$TERNMAP" -q root "$FIXTURES/sendmail-aliases")" = admin@example.com ] ||
	fail "ternmap -q on sendmail's aliases.db"
[ "$("$TERNMAP" -q @ "$FIXTURES/sendmail-aliases")" = @ ] || fail "@ marker"
# 5. A regexp: table answers every key as Postfix's postmap -q does: flags,
# negation, nested if/endif, other delimiters, continuation, substitutions.
cat > rx <<'EOF'
# header checks as a milter would trigger them
/^X-Spam-Flag:[[:space:]]+YES/	HOLD spam
/^Subject: (.*) money (.*)$/	REJECT no $1 ${2} $(1) $$
if !/^Received:/
/^From: .*@(example)\.com$/i	OK $1
/^From:/	DUNNO
endif
|^To: a/b$|	pipe delimiter
/^To: a\/b\/c$/	escaped delimiter
!/^[A-Za-z]/	not a letter
/^multi/	REJECT first
	second
if /^nest/
if /x/
/y/	nest-x-y
endif
/y/	nest-y
endif
/^a+$/x	basic syntax
EOF
cat > rxkeys <<'EOF'
X-Spam-Flag: YES
x-spam-flag:  yes
Subject: make money fast
From: a@EXAMPLE.com
From: a@example.com
Received: From: a@example.com
To: a/b
To: a/b/c
1abc
multi
nest x y
nest y
nesty
a+
aa
EOF
postmap -c pf -q - regexp:rx < rxkeys > theirs || fail "postmap -q - regexp:"
"$TERNMAP" -q - regexp:rx < rxkeys > ours || fail "ternmap -q - regexp:"
same ours theirs
[ "$(wc -l < ours)" -eq 13 ] || fail "regexp: not the answers expected: $(cat ours)"
echo "map interop: all checks passed"
