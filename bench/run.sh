#!/bin/sh
# run.sh - `make bench`: the figures of README.md, libzs (bench/zs_bench) next to the kernel's
# zram (bench/zram_compare.sh) on the same 64 MiB mixed corpus.
#
#   usage: sh bench/run.sh [BUILD_DIR]        (default build)
#   ZS_BENCH_ARGS="-r 7 -p 4" passes options to zs_bench (see zs_bench -h).
#
# Makes the corpus with bench/make-corpus.py when it is missing.  Exits non-zero when
# zs_bench or zram_compare.sh fails; zram_compare.sh skips itself (exit 0) where there is no
# usable zram.
set -eu

BUILD=${1:-build}
HERE=$(dirname "$0")
CORPUS=$BUILD/corpus-mixed-64.bin

if [ ! -x "$BUILD/bench/zs_bench" ]; then
	echo "run.sh: $BUILD/bench/zs_bench is not built (make programs)" >&2
	exit 1
fi
if [ ! -f "$CORPUS" ]; then
	python3 "$HERE/make-corpus.py" "$CORPUS" --mib 64 --kind mixed
fi

# Outputs are kept in $BUILD/bench-zs.txt and $BUILD/bench-zram.txt for the summary below.
status=0
echo "== libzs: $BUILD/bench/zs_bench ${ZS_BENCH_ARGS:-} $CORPUS"
# shellcheck disable=SC2086 # ZS_BENCH_ARGS is a list of options
"$BUILD/bench/zs_bench" ${ZS_BENCH_ARGS:-} "$CORPUS" > "$BUILD/bench-zs.txt" || status=1
cat "$BUILD/bench-zs.txt"
echo
echo "== kernel: sh $HERE/zram_compare.sh $CORPUS $BUILD"
sh "$HERE/zram_compare.sh" "$CORPUS" "$BUILD" > "$BUILD/bench-zram.txt" || status=1
cat "$BUILD/bench-zram.txt"

if [ -x "$BUILD/bench/swap_bench" ]; then
	echo
	echo "== libswap: $BUILD/bench/swap_bench $CORPUS"
	"$BUILD/bench/swap_bench" "$CORPUS" > "$BUILD/bench-swap.txt" || status=1
	cat "$BUILD/bench-swap.txt"
fi

# One summary: each libzs figure against its target and, where there is one, the kernel's.
# The kernel's mm_stat mem_used_total counts pool pages only (no zram table, no handles), so
# it sits beside libzs's "pool pages only" rows; RSS and pool rows include libzs's metadata.
echo
echo "== summary (medians)"
python3 - "$BUILD/bench-zs.txt" "$BUILD/bench-zram.txt" <<'EOF'
import sys

def figures(path):
	out = {}
	for line in open(path):
		if line.startswith("FIGURE "):
			parts = line.split()
			out[parts[1]] = float(parts[2].split("=")[1])
	return out

zs, kern = figures(sys.argv[1]), figures(sys.argv[2])
rows = [
	("fill: memory / stored (RSS)", "fill_rss_ratio", "kernel_fill_ratio", "<= 1.03"),
	("fill: memory / stored (pool)", "fill_pool_ratio", None, "<= 1.03"),
	("fill: pool pages only / stored", "fill_pages_ratio", "kernel_fill_ratio", ""),
	("free 3/4 + compact: memory / live (RSS)", "shrink_rss_ratio", "kernel_shrink_ratio",
	 "<= 1.03 and <= kernel"),
	("free 3/4 + compact: memory / live (pool)", "shrink_pool_ratio", None,
	 "<= 1.03 and <= kernel"),
	("free 3/4 + compact: pool pages only / live", "shrink_pages_ratio", "kernel_shrink_ratio",
	 ""),
	("compaction ms per MiB freed", "compact_ms_per_mib", "kernel_compact_ms_per_mib", ""),
	("zs/glibc time per free+malloc pair", "speed_ratio", None, "<= 1.5"),
]
print("%-44s %9s %9s  %s" % ("figure", "libzs", "kernel", "target"))
for label, zkey, kkey, target in rows:
	z = zs.get(zkey)
	k = kern.get(kkey) if kkey else None
	fmt = lambda v: "%9.4f" % v if v is not None and v == v else "%9s" % "n/a"
	print("%-44s %s %s  %s" % (label, fmt(z), fmt(k), target))
EOF
exit $status
