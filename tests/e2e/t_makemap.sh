#!/bin/sh
# t_makemap.sh - Tern's makemap against sendmail's: the same source gives
# the same stored keys and values as the tables sendmail's makemap made
# (committed fixtures, see tests/fixtures/README.md), in every mode; and
# sendmail's messages and exit statuses for bad input. Unprivileged.
. "$(dirname "$0")/maplib.sh"
need_cmd db5.3_dump

# Byte-for-byte the same pairs as sendmail's makemap wrote.
check_same() {	# OPTIONS TYPE FIXTURE
	"$MAKEMAP" $1 "$2" "tern-$3" < "$FIXTURES/table.src" || fail "makemap $1 $2 exited $?"
	dbpairs "tern-$3.db" > ours
	dbpairs "$FIXTURES/$3.db" > theirs
	same ours theirs
	db5.3_dump -p "tern-$3.db" | grep -q "^type=$2\$" || fail "tern-$3.db is not a $2 table"
}
check_same "" hash makemap-hash
check_same "-N" hash makemap-hash-N
check_same "" btree makemap-btree
check_same "-f" hash makemap-hash-f
# Without -N nothing is NUL-terminated; with -N everything is.
dbpairs tern-makemap-hash.db | grep -q '\\00' && fail "NUL stored without -N"
[ "$(dbpairs tern-makemap-hash-N.db | grep -c '\\00	.*\\00$')" -eq 5 ] || fail "-N did not store NULs"

# -u dumps sendmail's fixture and ours alike: "key<TAB>value".
"$MAKEMAP" -u hash "$FIXTURES/makemap-hash" | LC_ALL=C sort > theirs
"$MAKEMAP" -u hash tern-makemap-hash | LC_ALL=C sort > ours
same ours theirs
grep -q '^user@example.org	RELAY with several words$' ours || fail "-u output: $(cat ours)"
# "implicit" is hash; -l lists the types.
"$MAKEMAP" implicit impl < "$FIXTURES/table.src" || fail "implicit"
db5.3_dump -p impl.db | grep -q '^type=hash$' || fail "implicit is not hash"
"$MAKEMAP" -l | grep -qx btree || fail "-l"

# Bad input: sendmail's messages and exit status 65; good lines are kept.
printf 'a x\na y\n' | "$MAKEMAP" hash dup 2> err
[ $? -eq 65 ] || fail "duplicate key: want 65"
grep -qx 'makemap: dup: line 2: key a: duplicate key' err || fail "duplicate message: $(cat err)"
[ "$("$MAKEMAP" -u hash dup)" = "$(printf 'a\tx')" ] || fail "duplicate replaced the first value"
printf 'a x\na y\n' | "$MAKEMAP" -r hash dup || fail "-r exited $?"
[ "$("$MAKEMAP" -u hash dup)" = "$(printf 'a\ty')" ] || fail "-r did not replace"

printf 'a x \n  b y\nc z\n' | "$MAKEMAP" hash lead 2> err
[ $? -eq 65 ] || fail "leading space: want 65"
grep -qx 'makemap: lead: line 2: syntax error (leading space)' err || fail "leading space message: $(cat err)"
# sendmail keeps trailing white space in values.
"$MAKEMAP" -u hash lead | LC_ALL=C sort > out
printf 'a\tx \nc\tz\n' > want
same out want

printf 'a\n' | "$MAKEMAP" hash empty 2> err
[ $? -eq 65 ] || fail "no RHS: want 65"
grep -qx 'makemap: empty: line 1: no RHS for LHS a' err || fail "no RHS message: $(cat err)"
printf 'a\n' | "$MAKEMAP" -e hash empty || fail "-e exited $?"

# -t delimiter (for building and dumping), -D comment character.
printf 'a:b:c\nd::e\n' | "$MAKEMAP" -t : hash delim || fail "-t"
"$MAKEMAP" -t : -u hash delim | LC_ALL=C sort > out
printf 'a:b:c\nd:e\n' > want
same out want
printf ';comment\na b\n' | "$MAKEMAP" -D ';' hash cmt || fail "-D"
[ "$("$MAKEMAP" -u hash cmt)" = "$(printf 'a\tb')" ] || fail "-D output"

# -o appends; without it the table is rebuilt.
printf 'n1 v1\n' | "$MAKEMAP" hash app || fail "app"
printf 'n2 v2\n' | "$MAKEMAP" -o hash app || fail "-o"
[ "$("$MAKEMAP" -u hash app | wc -l)" -eq 2 ] || fail "-o did not append"
printf 'n3 v3\n' | "$MAKEMAP" hash app || fail "rebuild"
[ "$("$MAKEMAP" -u hash app)" = "$(printf 'n3\tv3')" ] || fail "rebuild kept old entries"

# Usage errors.
"$MAKEMAP" dbm x < /dev/null 2>/dev/null
[ $? -eq 64 ] || fail "unknown type: want 64"
"$MAKEMAP" hash 2>/dev/null
[ $? -eq 64 ] || fail "missing name: want 64"
# Tern reads what sendmail's makemap wrote (no NUL, folded keys).
[ "$("$TERNMAP" -q EXAMPLE.COM "$FIXTURES/makemap-hash")" = OK ] || fail "ternmap -q on makemap's table"
echo "makemap: all checks passed"
