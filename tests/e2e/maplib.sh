# maplib.sh - shared set-up for the map tool tests (t_ternmap.sh,
# t_makemap.sh, t_map_interop.sh): sourced, not run. Makes a tern init
# instance (lib.sh; TERN_CONFIG_DIR points to it, so the tools read its
# main.cf) and works in a directory inside it, removed by lib.sh's trap.
here=$(dirname "$0")
[ -f "$here/lib.sh" ] || { echo "skip: tests/e2e/lib.sh is missing"; exit 77; }
. "$here/lib.sh"
top=$TERN_TOP
TERNMAP="$top/tools/ternmap"
MAKEMAP="$top/tools/makemap"
FIXTURES="$top/tests/fixtures/maps"
[ -x "$TERNMAP" ] || skip "ternmap is not built"
[ -x "$MAKEMAP" ] || skip "makemap is not built"
tern_instance
work="$TERN_DIR/maps"
mkdir "$work" && cd "$work" || fail "cannot make $work"

# expect STATUS COMMAND...: run it and check its exit status.
expect() {
	want=$1
	shift
	"$@"
	got=$?
	[ "$got" -eq "$want" ] || fail "$* exited $got, want $want"
}

# same FILE1 FILE2: their contents must be equal.
same() {
	cmp -s "$1" "$2" || { diff "$1" "$2" >&2; fail "$1 and $2 differ"; }
}

# dbpairs FILE: the raw key/value pairs of a Berkeley DB file as
# db5.3_dump -p prints them (NULs shown as \00), one "key<TAB>value" a
# line, sorted: the same table gives the same text whatever the order.
dbpairs() {
	db5.3_dump -p "$1" | sed -n '/^HEADER=END$/,/^DATA=END$/p' | sed '1d;$d' |
		sed 's/^ //' | paste - - | LC_ALL=C sort
}

# Postfix's tools want a main.cf; an empty one in a directory of our own.
postfix_conf() {
	mkdir -p "$work/pf"
	: > "$work/pf/main.cf"
}
