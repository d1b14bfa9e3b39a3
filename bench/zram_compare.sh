#!/bin/sh
# zram_compare.sh - the kernel baseline for bench/zs_bench.c: the same corpus stored by zram
# (lz4) in the kernel's zsmalloc, measured the same way.
#
#   usage: sh bench/zram_compare.sh [CORPUS] [BUILD_DIR]
#          (defaults: build/corpus-mixed-64.bin, build; ZRAM_RUNS=N sets the runs, default 3)
#
# Each run: reset /dev/zram0, lz4, write the corpus with O_DIRECT, read mm_stat (fill figure
# mem_used_total / compr_data_size; compr_data_size counts a huge page as 4096 bytes, as
# zs_bench counts a raw page); discard the pages zs_bench frees in (b) (the list comes from
# `zs_bench -V`, so both free the same objects in the same order); echo 1 > compact; read
# mm_stat again.
# mem_used_total is the pool's pages only: zram's own metadata (its table, the handles) is
# not in it, whereas zs_bench's pool figure includes libzs's metadata.
#
# Needs root and an unused /dev/zram0; otherwise it says why and exits 0 (skipped).
# zram0 is left reset.
set -eu

CORPUS=${1:-build/corpus-mixed-64.bin}
BUILD=${2:-build}
RUNS=${ZRAM_RUNS:-3}
DEV=/dev/zram0
SYS=/sys/block/zram0

skip() {
	echo "zram_compare: skipped: $*"
	exit 0
}

[ -f "$CORPUS" ] || { echo "zram_compare: $CORPUS: no such corpus" >&2; exit 1; }
[ "$(id -u)" = 0 ] || skip "needs root"
[ -d "$SYS" ] || modprobe zram num_devices=1 2>/dev/null || true
if [ ! -d "$SYS" ] || [ ! -b "$DEV" ]; then
	skip "no $DEV (zram module not available)"
fi
if awk '{ print $1 }' /proc/swaps | grep -qx "$DEV"; then
	skip "$DEV is in use as swap (swapon --show)"
fi
if grep -q "^${DEV}[[:space:]]" /proc/mounts 2>/dev/null; then
	skip "$DEV is mounted"
fi
grep -qw lz4 "$SYS/comp_algorithm" || skip "the kernel's zram has no lz4"
command -v python3 >/dev/null 2>&1 || skip "needs python3"

tmp=$(mktemp -d)
cleanup() {
	echo 1 > "$SYS/reset" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

# The pages zs_bench frees: from zs_bench itself when it is built, else the same shuffle
# (splitmix64 seeded 0x5eedf00d over the pages that are not same-filled) done here.
if [ -x "$BUILD/bench/zs_bench" ]; then
	"$BUILD/bench/zs_bench" -V "$tmp/victims" "$CORPUS"
	victim_source="zs_bench -V"
else
	python3 - "$CORPUS" > "$tmp/victims" <<'EOF'
import struct, sys
MASK = (1 << 64) - 1
state = 0x5eedf00d
def rng():
	global state
	state = (state + 0x9e3779b97f4a7c15) & MASK
	z = state
	z = ((z ^ (z >> 30)) * 0xbf58476d1ce4e5b9) & MASK
	z = ((z ^ (z >> 27)) * 0x94d049bb133111eb) & MASK
	return z ^ (z >> 31)
objs = []
with open(sys.argv[1], "rb") as f:
	n = 0
	while True:
		page = f.read(4096)
		if len(page) < 4096:
			break
		if page != page[:8] * 512:
			objs.append(n)
		n += 1
order = list(range(len(objs)))
for i in range(len(order), 1, -1):
	j = rng() % i
	order[i - 1], order[j] = order[j], order[i - 1]
for i in order[:len(order) * 3 // 4]:
	print(objs[i])
EOF
	victim_source="python replica of zs_bench -V"
fi

corpus_bytes=$(stat -c %s "$CORPUS")
disksize=$(( (corpus_bytes / 1048576 + 16) * 1048576 ))
echo "zram_compare: kernel $(uname -r), $DEV lz4, corpus $CORPUS ($corpus_bytes bytes)," \
	"$(wc -l < "$tmp/victims") pages discarded ($victim_source), $RUNS runs"

run=1
while [ "$run" -le "$RUNS" ]; do
	echo 1 > "$SYS/reset"
	echo lz4 > "$SYS/comp_algorithm"
	echo "$disksize" > "$SYS/disksize"
	dd if="$CORPUS" of="$DEV" bs=4096 oflag=direct status=none
	# Discard the victims, compact, and print the mm_stat fields before and after as one
	# line of key=value pairs.
	python3 - "$DEV" "$SYS" "$tmp/victims" >> "$tmp/runs" <<'EOF'
import fcntl, os, struct, sys, time
dev, sysdir, victims = sys.argv[1:4]
BLKDISCARD = 0x1277  # _IO(0x12, 119)
PAGE = 4096

def mm_stat():
	with open(os.path.join(sysdir, "mm_stat")) as f:
		v = [int(x) for x in f.read().split()]
	return {"orig": v[0], "compr": v[1], "mem": v[2], "same": v[5], "compacted": v[6],
		"huge": v[7]}

fill = mm_stat()
# One page at a time, in the order zs_bench frees them: the order decides which zspages
# empty out before compaction.
with open(victims) as f:
	pages = [int(line) for line in f if line.strip()]
fd = os.open(dev, os.O_WRONLY)
for page in pages:
	fcntl.ioctl(fd, BLKDISCARD, struct.pack("QQ", page * PAGE, PAGE))
os.close(fd)
freed = mm_stat()
t0 = time.monotonic()
with open(os.path.join(sysdir, "compact"), "w") as f:
	f.write("1")
ms = (time.monotonic() - t0) * 1e3
after = mm_stat()
pages_compacted = after["compacted"] - freed["compacted"]
print("fill_ratio=%.4f freed_ratio=%.4f shrink_ratio=%.4f compact_ms=%.3f compact_pages=%d "
      "compact_ms_per_mib=%s fill_mem=%d fill_compr=%d same=%d huge=%d shrink_mem=%d "
      "shrink_compr=%d" % (
	fill["mem"] / fill["compr"], freed["mem"] / freed["compr"], after["mem"] / after["compr"],
	ms, pages_compacted,
	"%.3f" % (ms / (pages_compacted * PAGE / 2**20)) if pages_compacted else "nan",
	fill["mem"], fill["compr"], fill["same"], fill["huge"], after["mem"], after["compr"]))
EOF
	run=$((run + 1))
done
echo 1 > "$SYS/reset"

python3 - "$tmp/runs" "$(basename "$CORPUS")" <<'EOF'
import statistics, sys
runs = [dict(kv.split("=") for kv in line.split()) for line in open(sys.argv[1])]
first = runs[0]
print("  after fill: mem_used_total %s, compr_data_size %s, same_pages %s, huge_pages %s"
      % (first["fill_mem"], first["fill_compr"], first["same"], first["huge"]))
print("  after discard 3/4 + compact: mem_used_total %s, compr_data_size %s"
      % (first["shrink_mem"], first["shrink_compr"]))
rows = [
	("kernel_fill_ratio", "fill: mem_used_total / compr_data_size", "fill_ratio", 4),
	("kernel_freed_ratio", "discard 3/4, no compact: mem / compr", "freed_ratio", 4),
	("kernel_shrink_ratio", "discard 3/4 + compact: mem / compr", "shrink_ratio", 4),
	("kernel_compact_ms_per_mib", "compact ms per MiB freed", "compact_ms_per_mib", 3),
	("kernel_compact_ms", "compact time, ms", "compact_ms", 3),
	("kernel_compact_pages", "pages freed by compact", "compact_pages", 0),
]
print("\n%-44s %10s %10s %10s" % ("kernel zram figure", "median", "min", "max"))
lines = []
for name, label, key, dec in rows:
	vals = [float(r[key]) for r in runs if r[key] != "nan"]
	if not vals:
		print("%-44s %10s" % (label, "n/a"))
		lines.append("FIGURE %s median=nan runs= corpus=%s" % (name, sys.argv[2]))
		continue
	med = statistics.median(vals)
	print("%-44s %10.*f %10.*f %10.*f" % (label, dec, med, dec, min(vals), dec, max(vals)))
	lines.append("FIGURE %s median=%.*f runs=%s corpus=%s" % (
		name, dec, med, ",".join("%.*f" % (dec, v) for v in vals), sys.argv[2]))
print()
print("\n".join(lines))
EOF
