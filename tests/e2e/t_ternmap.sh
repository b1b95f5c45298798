#!/bin/sh
# t_ternmap.sh - ternmap end to end: build (atomically), -q, -q -, -s, -d,
# -i, -f, -n, btree, errors; the tables it writes are checked with
# db5.3_dump. Runs unprivileged in a temporary directory.
. "$(dirname "$0")/maplib.sh"
need_cmd db5.3_dump

cat > access <<'SRC'
# a comment
Example.COM	OK
list	a,
	b, c
dup	first
dup	second
   # an indented comment
spaced  value with   inner spaces   
SRC

expect 0 "$TERNMAP" access 2> build.err
grep -q 'access:6: duplicate key "dup", first value kept' build.err || fail "no duplicate warning: $(cat build.err)"
[ -f access.db ] || fail "access.db not made"

# Stored NUL-terminated, keys folded, continuation joined, first duplicate kept.
dbpairs access.db > pairs
cat > want <<'W'
dup\00	first\00
example.com\00	OK\00
list\00	a,\09b, c\00
spaced\00	value with   inner spaces\00
W
same pairs want

# -q: value and exit 0; folded lookup; exit 1 when absent.
[ "$("$TERNMAP" -q EXAMPLE.com access)" = OK ] || fail "-q EXAMPLE.com"
[ "$("$TERNMAP" -q list hash:access)" = "a,	b, c" ] || fail "-q list"
expect 1 "$TERNMAP" -q nosuchkey access
# -q -: keys on standard input, "key<TAB>value" for those found.
printf 'example.com\nnope\n  dup  \n' | "$TERNMAP" -q - access > out
printf 'example.com\tOK\ndup\tfirst\n' > want
same out want
printf 'nope\n' | "$TERNMAP" -q - access > /dev/null && fail "-q - with no key found exited 0"

# -s lists every entry.
"$TERNMAP" -s access | LC_ALL=C sort > out
printf 'dup\tfirst\nexample.com\tOK\nlist\ta,\tb, c\nspaced\tvalue with   inner spaces\n' > want
same out want

# -d deletes; again: not found.
expect 0 "$TERNMAP" -d DUP access
expect 1 "$TERNMAP" -q dup access
expect 1 "$TERNMAP" -d dup access

# -i adds from standard input; an existing key keeps its value.
printf 'new value one\nexample.com REJECT\n' | "$TERNMAP" -i access 2> add.err || fail "-i failed"
[ "$("$TERNMAP" -q new access)" = "value one" ] || fail "-i did not add"
[ "$("$TERNMAP" -q example.com access)" = OK ] || fail "-i replaced an existing key"
grep -q 'duplicate key "example.com"' add.err || fail "-i gave no duplicate warning"
# -r -i: the new value wins.
printf 'example.com REJECT\n' | "$TERNMAP" -r -i access || fail "-r -i failed"
[ "$("$TERNMAP" -q example.com access)" = REJECT ] || fail "-r -i did not replace"

# -f keeps the case of keys, when building and querying.
printf 'MiXeD v\n' > cased
"$TERNMAP" -f cased || fail "-f build"
dbpairs cased.db | grep -q '^MiXeD\\00' || fail "-f folded the key"
expect 1 "$TERNMAP" -q mixed cased
expect 0 "$TERNMAP" -f -q MiXeD cased > /dev/null

# -n: no NUL, as sendmail's makemap writes.
printf 'k v\n' > nonul
"$TERNMAP" -n nonul || fail "-n build"
[ "$(dbpairs nonul.db)" = "$(printf 'k\tv')" ] || fail "-n stored a NUL: $(dbpairs nonul.db)"
[ "$("$TERNMAP" -q k nonul)" = v ] || fail "no-NUL table not readable"

# btree: and several files at once.
cp access access2
"$TERNMAP" btree:access2 hash:cased || fail "btree build"
db5.3_dump -p access2.db | grep -q '^type=btree' || fail "not a btree"
[ "$("$TERNMAP" -q example.com btree:access2)" = OK ] || fail "btree -q"
# -q searches the maps in order.
[ "$("$TERNMAP" -q example.com inline:{example.com=first} access)" = first ] || fail "map order"

# Atomic rebuild: a new file replaces the old one whole; a failed build
# leaves the old table and no temporary file.
ino1=$(ls -i access.db | cut -d' ' -f1)
"$TERNMAP" access 2>/dev/null || fail "rebuild"
ino2=$(ls -i access.db | cut -d' ' -f1)
[ "$ino1" != "$ino2" ] || fail "rebuild wrote in place"
before=$(dbpairs access.db)
mkdir broken && : > broken.db
"$TERNMAP" broken 2> err && fail "building from a directory succeeded"
[ -s broken.db ] && fail "failed build replaced broken.db"
ls | grep -q tmp && fail "temporary file left: $(ls)"
[ "$(dbpairs access.db)" = "$before" ] || fail "access.db changed"

# default_database_type from main.cf (-c, or TERN_CONFIG_DIR) types bare names.
mkdir cf && printf 'default_database_type = btree\n' > cf/main.cf
printf 'a b\n' > deftype
"$TERNMAP" -c cf deftype || fail "build with default_database_type"
db5.3_dump -p deftype.db | grep -q '^type=btree$' || fail "default_database_type ignored"
[ "$(TERN_CONFIG_DIR=$work/cf "$TERNMAP" -q a deftype)" = b ] || fail "TERN_CONFIG_DIR ignored"
printf 'message_size_limit = lots\n' > cf/main.cf
expect 78 "$TERNMAP" -c cf -q a deftype 2>/dev/null

# Errors: missing source, unknown type, bad inline, usage.
expect 66 "$TERNMAP" nosuchfile 2>/dev/null
expect 64 "$TERNMAP" texthash:access 2>/dev/null
expect 66 "$TERNMAP" -q x "inline:{ x }" 2>/dev/null
expect 66 "$TERNMAP" -q x nosuchmap 2>/dev/null
expect 64 "$TERNMAP" 2>/dev/null
# texthash:, inline: and static: answer queries.
[ "$("$TERNMAP" -q list texthash:access)" = "a,	b, c" ] || fail "texthash -q"
[ "$("$TERNMAP" -q any 'static:{ all the same }')" = "all the same" ] || fail "static -q"
# regexp: keys are matched as given (the i flag decides), errors name file and line.
printf '/^Ab$/i case-sensitive\n/^ab$/ folded\n' > rx
[ "$("$TERNMAP" -q Ab regexp:rx)" = case-sensitive ] || fail "regexp: key folded"
[ "$("$TERNMAP" -q AB regexp:rx)" = folded ] || fail "regexp: default not case-insensitive"
printf '/a/ x\nif /b/\n/c/ d\n' > badrx
"$TERNMAP" -q a regexp:badrx 2> err && fail "regexp: if without endif accepted"
grep -q 'regexp:badrx: line 2: if without endif' err || fail "regexp: error without line: $(cat err)"
expect 66 "$TERNMAP" -q a regexp:badrx 2>/dev/null
expect 66 "$TERNMAP" -s regexp:rx 2>/dev/null
"$TERNMAP" -q a pcre:rx 2> err && fail "pcre: accepted"
grep -q 'use regexp:' err || fail "pcre: error does not point at regexp: $(cat err)"
echo "ternmap: all checks passed"
