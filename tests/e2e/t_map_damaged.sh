#!/bin/sh
# t_map_damaged.sh - a damaged Berkeley DB file never crashes a lookup.
# A hash: and a btree: table of 2,000 entries are built with ternmap; then
# copies with one bit flipped are queried with `ternmap -q`: every bit of
# the first 96 bytes of the meta page (page size, counts, the hash's
# bucket mask: flipping bit 4 of byte 21 makes the page size 0, and
# Berkeley DB 5.3 dies of SIGFPE inside a plain get), and 300 random bits
# anywhere (a fixed seed, so a failure repeats). Every run must end with an
# answer, "not found" or a clear error (exit 0, 1, 66, 75 or 78, an error
# with one line on stderr), never killed by a signal or hung: the map
# layer has Berkeley DB verify a file before its first use
# (lib/util/map_db.c). The sound tables still answer.
. "$(dirname "$0")/lib.sh"

tern_instance
need_cmd python3
d=$TERN_DIR/maps
mkdir -p "$d"
python3 -c 'for i in range(2000): print("key%d value-%d-%s" % (i, i, "x" * (i % 50)))' > "$d/src"
for t in hash btree; do
	cp "$d/src" "$d/$t"
	ternmap "$t:$d/$t" || fail "ternmap could not build $t:$d/$t"
	[ "$(ternmap -q key1234 "$t:$d/$t")" = "value-1234-$(printf 'x%.0s' $(seq 34))" ] \
		|| fail "the sound $t table does not answer key1234"
done

python3 - "$d" "$TERN_TOP/stage/ternmap" <<'EOF' || fail "a damaged table crashed or hung a lookup (see above)"
import os, random, shutil, subprocess, sys
d, ternmap = sys.argv[1], sys.argv[2]
rng = random.Random(2026)
bad = 0
counts = {}
for t in ("hash", "btree"):
    src = open(os.path.join(d, t + ".db"), "rb").read()
    flips = [(off, bit) for off in range(96) for bit in range(8)]
    flips += [(rng.randrange(len(src)), rng.randrange(8)) for _ in range(300)]
    for i, (off, bit) in enumerate(flips):
        data = bytearray(src)
        data[off] ^= 1 << bit
        path = os.path.join(d, "flip")
        with open(path + ".db", "wb") as f:
            f.write(data)
        key = "key%d" % rng.randrange(2000)
        try:
            p = subprocess.run([ternmap, "-q", key, "%s:%s" % (t, path)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=20)
        except subprocess.TimeoutExpired:
            print("%s: byte %d bit %d flipped: the lookup of %s hung" % (t, off, bit, key))
            bad += 1
            shutil.copy(path + ".db", os.path.join(d, "hung-%s-%d.db" % (t, i)))
            continue
        rc = p.returncode
        counts[rc] = counts.get(rc, 0) + 1
        if rc < 0 or rc >= 128 or rc not in (0, 1, 66, 75, 78) or (rc > 1 and not p.stderr):
            print("%s: byte %d bit %d flipped: ternmap -q %s ended with %d: %s"
                  % (t, off, bit, key, rc, p.stderr.decode(errors="replace").strip()))
            bad += 1
print("exit statuses over %d damaged copies:" % sum(counts.values()), dict(sorted(counts.items())))
sys.exit(1 if bad else 0)
EOF
pass
