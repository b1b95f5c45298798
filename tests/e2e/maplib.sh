# maplib.sh - shared set-up for the map tool tests (t_ternmap.sh,
# t_makemap.sh, t_map_interop.sh): sourced, not run.
# The map tools need no instance and no running Tern, so these tests do
# not use lib.sh (which skips unless `tern` is built and makes instances);
# they work in a private temporary directory, removed by their own trap,
# with an empty main.cf of their own. Helper names follow lib.sh's.
set -u
top=${TERN_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
fail() { echo "FAIL: $*" >&2; exit 1; }
skip() { echo "skip: $*"; exit 77; }
need_cmd() {
	for _c in "$@"; do
		command -v "$_c" >/dev/null 2>&1 || skip "needs $_c"
	done
}
TERNMAP="$top/tools/ternmap"
MAKEMAP="$top/sendmail/makemap"
FIXTURES="$top/tests/fixtures/maps"
work=$(mktemp -d /tmp/tern-e2e-maps.XXXXXX) || fail "mktemp"
trap 'rm -rf "$work"' EXIT
trap 'exit 1' INT TERM
cd "$work" || fail "cd $work"
# No system configuration may leak in: an empty main.cf of our own.
: > "$work/main.cf"
TERN_CONFIG_DIR=$work
export TERN_CONFIG_DIR

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
