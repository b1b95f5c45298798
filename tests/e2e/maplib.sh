# maplib.sh - shared set-up for the map tool tests (t_ternmap.sh,
# t_makemap.sh, t_map_interop.sh): sourced, not run. The map tools need no
# running instance, so these tests work in a private temporary directory
# of their own instead of one made by `tern init`.
top=${TERN_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
TERNMAP="$top/tools/ternmap"
MAKEMAP="$top/sendmail/makemap"
FIXTURES="$top/tests/fixtures/maps"
work=$(mktemp -d /tmp/tern-e2e-maps.XXXXXX)
trap 'rm -rf "$work"' EXIT INT TERM
cd "$work" || exit 1

fail() {
	echo "FAIL: $*"
	exit 1
}

skip() {
	echo "$*"
	exit 77
}

need() {
	for tool in "$@"; do
		command -v "$tool" >/dev/null 2>&1 || skip "missing $tool"
	done
}

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
	cmp -s "$1" "$2" || { diff "$1" "$2"; fail "$1 and $2 differ"; }
}

# dbpairs FILE: the raw key/value pairs of a Berkeley DB file as
# db5.3_dump -p prints them (NULs shown as \00), one "key<TAB>value" a
# line, sorted: the same table gives the same text whatever the order.
dbpairs() {
	db5.3_dump -p "$1" | sed -n '/^HEADER=END$/,/^DATA=END$/p' | sed '1d;$d' |
		sed 's/^ //' | paste - - | LC_ALL=C sort
}

# Postfix's tools want a main.cf; an empty one of our own.
postfix_conf() {
	mkdir -p "$work/pf"
	: > "$work/pf/main.cf"
}
