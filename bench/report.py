#!/usr/bin/python3
"""report.py - turn the suite's Google Benchmark JSON into BENCHMARKS.md, PNG plots and the
README's figure table.  Every figure printed comes from the JSON: the median over the
repetitions of each benchmark; every ratio is between two medians of the same run.

usage: /usr/bin/python3 bench/report.py RESULTS.json --md OUT.md --plots DIR --readme-table OUT.md

Needs Debian's python3-matplotlib (hence /usr/bin/python3).  Exits 1 when a benchmark failed
(an error "failed: ..."); rows skipped on this machine ("skipped: ...") are listed, not fatal.
"""
import argparse
import json
import os
import statistics
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)

KINDS = ["mixed", "bin", "text"]
ALLOCATORS = ["libzs", "glibc", "jemalloc", "mimalloc"]
# libzs pools with other chain lengths than the default, either side of it.
ZS_VARIANTS = ["libzs-8pages", "libzs-16pages"]
CODECS = ["lz4", "zstd:1", "zstd:3", "zstd:9"]
PHASES = ["fill", "churn", "freed", "shrink"]
# Fields of Google Benchmark's own, not counters of a body.
STANDARD_KEYS = {"family_index", "per_family_instance_index", "repetitions", "repetition_index",
                 "threads", "iterations", "real_time", "cpu_time"}
# Benchmark families the sections below present; any other goes to "Other benchmarks".
KNOWN_FAMILIES = ("memory/", "swap_out/", "swap_in/", "zram/", "zs_malloc_free/",
                  "glibc_malloc_free/", "zs_map_read/", "glibc_read/", "zs_compact/",
                  "glibc_trim/", "slot_alloc_free/", "swap_cache_lookup/", "tier_",
                  "recompress/", "region_fault/", "region_zipf/")
# Name parts Google Benchmark appends that say how, not what, was run.
NOISE = ("iterations:", "min_time:", "repeats:")
NOISE_WORDS = ("manual_time", "real_time", "process_time")
NS_PER_UNIT = {"ns": 1, "us": 1e3, "ms": 1e6, "s": 1e9}


class Result:
    """One benchmark instance: medians of its repetitions."""

    def __init__(self, name, runs):
        self.name = name
        self.n = len(runs)
        keys = set()
        for r in runs:
            keys.update(k for k, v in r.items() if isinstance(v, (int, float)))
        self.v = {k: statistics.median(r[k] for r in runs if k in r) for k in keys}
        self.unit = runs[0].get("time_unit", "ns")

    def __getitem__(self, key):
        return self.v[key]

    def get(self, key, default=None):
        return self.v.get(key, default)

    def ns(self):
        """Median wall time per iteration in nanoseconds."""
        return self.v["real_time"] * NS_PER_UNIT[self.unit]

    def cpu_ns(self):
        """Median CPU time per iteration in nanoseconds (with threads: per iteration of one
        thread), which other work on a shared machine does not inflate."""
        return self.v["cpu_time"] * NS_PER_UNIT[self.unit]


def one_thread_rate(r):
    """Operations per CPU-second of a 1-thread run: a swap body's pages (its own CPU clock),
    else Google Benchmark's iterations."""
    if r.get("ns_per_page"):
        return 1e9 / r["ns_per_page"]
    return 1e9 / r.cpu_ns() if r.cpu_ns() else None


def two_thread_rate(r):
    """Operations per wall-clock second of a multi-thread run, all threads together."""
    return r.get("pages_per_s", r.get("items_per_second"))


def clean_name(run_name):
    parts = [p for p in run_name.split("/")
             if not p.startswith(NOISE) and p not in NOISE_WORDS]
    return "/".join(parts)


def load(path):
    with open(path) as f:
        data = json.load(f)
    runs, errors = {}, {}
    for b in data["benchmarks"]:
        if b.get("run_type") == "aggregate":
            continue
        name = clean_name(b.get("run_name", b["name"]))
        if b.get("error_occurred"):
            errors[name] = b.get("error_message", "error")
            continue
        runs.setdefault(name, []).append(b)
    results = {name: Result(name, rs) for name, rs in runs.items()}
    return data["context"], results, errors


def fmt(v, digits=3):
    if v is None:
        return "—"
    if abs(v) >= 1e6:
        return "%.2fM" % (v / 1e6)
    if abs(v) >= 1e4:
        return "%.0fk" % (v / 1e3)
    if abs(v) >= 100:
        return "%.0f" % v
    return "%.*f" % (digits, v)


def ratio(a, b):
    return a / b if a is not None and b not in (None, 0) else None


class Report:
    def __init__(self, ctx, res, errors, plots_dir, md_dir):
        self.ctx, self.res, self.errors = ctx, res, errors
        self.plots_dir = plots_dir
        self.md_dir = md_dir
        self.out = []
        self.zc = {}  # zcache_compare.py's FIGURE lines, once zcache() read them

    def r(self, name):
        return self.res.get(name)

    def val(self, name, key):
        r = self.r(name)
        return r.get(key) if r else None

    def p(self, *lines):
        self.out.extend(lines)

    def table(self, head, rows):
        self.p("| " + " | ".join(head) + " |", "|" + "---|" * len(head))
        for row in rows:
            self.p("| " + " | ".join(row) + " |")
        self.p("")

    def sizes(self, family):
        """The S of every "FAMILY/size:S..." run present, in order."""
        return sorted({int(n.split("size:")[1].split("/")[0]) for n in self.res
                       if n.startswith(family + "/size:")})

    def skipped(self, prefix):
        notes = sorted((n, m) for n, m in self.errors.items() if n.startswith(prefix))
        for n, m in notes:
            self.p("- `%s`: %s" % (n, m))
        if notes:
            self.p("")

    def plot(self, fig, name, caption):
        os.makedirs(self.plots_dir, exist_ok=True)
        path = os.path.join(self.plots_dir, name)
        fig.tight_layout()
        fig.savefig(path, dpi=90)
        plt.close(fig)
        rel = os.path.relpath(path, self.md_dir)
        self.p("![%s](%s)" % (caption, rel), "")

    # ---- sections ------------------------------------------------------------------------

    def machine(self):
        c = self.ctx
        reps = max((r.n for r in self.res.values()), default=0)
        self.p("# Benchmarks", "",
               "Generated by `make bench` (bench/report.py over `bench/results/bench.json`); "
               "do not edit by hand.", "",
               "| machine | |", "|---|---|",
               "| CPU | %s |" % c.get("cpu_model", "?"),
               "| cores online | %s |" % c.get("cpus_online", c.get("num_cpus", "?")),
               "| kernel | %s |" % c.get("kernel", "?"),
               "| memory | %s |" % c.get("mem_total", "?").strip(),
               "| run | %s, %s repetition%s per benchmark%s, medians |"
               % (c.get("date", "?"), reps, "s" if reps > 1 else "",
                  " (random interleaving)" if reps > 1 else ""),
               "| corpora | %s MiB each of mixed, bin, text from make-corpus.py |"
               % c.get("corpus_mib", "?"),
               "| load average at start | %s (other work shares the machine) |"
               % " / ".join("%.1f" % x for x in c.get("load_avg", [])),
               "| Google Benchmark | Debian's libbenchmark (library built as %s) |"
               % c.get("library_build_type", "?"),
               "")
        if c.get("quick") == "1":
            self.p("**Quick run** (`make bench-quick`): small corpora, short runs; a smoke "
                   "test, not figures to quote.", "")
        self.p("Every figure is a median over the repetitions; a ratio is taken between two "
               "medians of the same run. The machine is shared and has 2 cores: the rows "
               "marked *threads:2* need both cores free and move most between runs "
               "(see [Scaling](#scaling)); memory figures do not depend on cores.", "")

    def memory(self):
        self.p("## Memory overhead: a corpus held by libzs, glibc, jemalloc, mimalloc", "",
               "Each corpus is stored as zram stores it (same-filled pages left out, LZ4 "
               "images, raw pages from the pool's huge threshold on); every allocator holds "
               "exactly these objects, in a fresh process each (`bench/bm_memory.c`). "
               "Figures are RSS growth / bytes stored (1.000 = no overhead): **fill** "
               "(store all), **churn** (free a random half, store as many again), "
               "**freed** (free a random 3/4 of what is live), **shrink** (then give memory "
               "back: `zs_compact`, `malloc_trim(0)`, jemalloc `arena.<all>.purge`, "
               "mimalloc `mi_collect(true)`). libzs's pool figure is pool pages + metadata; "
               "its pages-only figure is what the kernel's mm_stat counts.", "")
        for kind in KINDS:
            rows = []
            for t in (1, 2):
                for a in ALLOCATORS:
                    r = self.r("memory/%s/%s/threads:%d" % (a, kind, t))
                    if not r:
                        continue
                    rows.append(["%s%s" % (a, "" if t == 1 else ", 2 threads")] +
                                [fmt(r.get(p + "_rss"), 4) for p in PHASES] +
                                [fmt(ratio(r.get("shrink_rss"),
                                           self.val("memory/libzs/%s/threads:%d" % (kind, t),
                                                    "shrink_rss")), 2)])
                    if a == "libzs":
                        rows.append(["  libzs pool (pages + metadata)"] +
                                    [fmt(r.get(p + "_pool"), 4) for p in PHASES] + [""])
                        rows.append(["  libzs pool pages only"] +
                                    [fmt(r.get(p + "_pages"), 4) for p in PHASES] + [""])
            for a in ZS_VARIANTS:
                r = self.r("memory/%s/%s/threads:1" % (a, kind))
                if r:
                    # its pool against the default pool's (the column's ratio, of pools)
                    rows.append(["%s (pool)" % a] +
                                [fmt(r.get(p + "_pool"), 4) for p in PHASES] +
                                [fmt(ratio(r.get("shrink_pool"),
                                           self.val("memory/libzs/%s/threads:1" % kind,
                                                    "shrink_pool")), 3)])
            z = self.r("zram/lz4/%s" % kind)
            if z:
                rows.append(["kernel zram, pages only (mm_stat)",
                             fmt(z.get("fill_mem_per_compr"), 4), "—",
                             fmt(z.get("freed_mem_per_compr"), 4),
                             fmt(z.get("shrink_mem_per_compr"), 4), ""])
            if rows:
                self.p("### %s corpus" % kind, "")
                self.table(["holder", "fill", "churn", "freed", "shrink", "shrink ÷ libzs"],
                           rows)
        self.p("zram row: after its own `compact`, without a churn phase; its mm_stat leaves "
               "out zram's table and handles, so compare it with libzs's pages-only row. "
               "libzs-8pages / libzs-16pages: pools whose zspages are at most 8 or 16 pages "
               "long (the default is %s), the measurement behind the default." %
               "`ZS_DEFAULT_PAGES_PER_ZSPAGE`", "")
        self.skipped("memory/")
        self.memory_plot()

    # The measurement that chose ZS_DEFAULT_PAGES_PER_ZSPAGE: a one-off run, kept here as it
    # was taken so that the constant's reason lives with the figures, not in the header.
    # Pool memory / stored bytes, (fill, after freeing a random 3/4 and compacting).
    CHAIN_LIMIT_CORPORA = ["mixed 64 MiB", "bin 64 MiB", "text 64 MiB", "mixed 256 MiB"]
    CHAIN_LIMIT_RUN = [
        (8, [(1.0300, 1.0517), (1.0309, 1.0496), (1.0342, 1.0624), (1.0226, 1.0376)]),
        (12, [(1.0271, 1.0553), (1.0260, 1.0493), (1.0298, 1.0616), (1.0171, 1.0329)]),
        (16, [(1.0269, 1.0597), (1.0254, 1.0509), (1.0290, 1.0664), (1.0153, 1.0321)]),
    ]

    def chain_limit(self):
        self.p("## Chain limit", "",
               "Why `ZS_DEFAULT_PAGES_PER_ZSPAGE` is 12: pool memory / stored bytes after "
               "storing a corpus lz4-compressed (**fill**), and after freeing a random 3/4 "
               "and compacting (**shrink**), with zspages of at most 8, 12 or 16 pages. A "
               "one-off measurement, shown as it was taken (a static table in "
               "bench/report.py); the libzs-8pages and libzs-16pages rows of the memory "
               "tables above measure the same pools again on every `make bench`.", "")
        self.table(["longest zspage"] + ["%s fill / shrink" % c for c in self.CHAIN_LIMIT_CORPORA],
                   [["%d pages" % pages] + ["%s / %s" % (fmt(f, 4), fmt(sh, 4)) for f, sh in row]
                    for pages, row in self.CHAIN_LIMIT_RUN])
        self.p("Zspages are populated lazily, so a long chain costs little while partly used. "
               "12 keeps every fill under 1.03 and gives up little after a shrink, where longer "
               "chains mean more classes, each ending in a partly used page.", "")

    # Resident runs (libzs/arena.h, libzs/pool.h): the bound on the resident pages of emptied
    # zspages kept for reuse.  A one-off measurement, 3 runs each, medians, 2 shared cores:
    # swap_out lz4 mixed (1 thread) speed / bare codec, swap_writeback pages/s / plain pwrite,
    # and RSS / stored bytes after freeing a random 3/4 (memory/libzs/mixed, before compaction).
    RESIDENT_RUN = [
        ("none (every emptied zspage given back at once)", 0.796, 0.514, 3.2158),
        ("1 page per 64 in use", 0.812, 0.591, 3.2537),
        ("1 per 32", 0.819, 0.598, 3.2915),
        ("1 per 16", 0.812, 0.620, 3.3580),
        ("1 per 16, and at most the demand, decay 1/16 (chosen)", 0.807, 0.595, 3.2204),
        ("1 per 16, and at most the demand, decay 1/32", 0.800, 0.595, 3.2254),
        ("1 per 16, and at most the demand, decay 1/64", 0.814, 0.596, 3.2395),
    ]

    def resident_runs(self):
        self.p("## Resident runs", "",
               "Why libzs keeps the pages of emptied zspages as it does (`ZS_RESIDENT_SHARE`, "
               "`ZS_RESIDENT_MAX`, `ZS_RESIDENT_DECAY`): how many resident pages it may keep "
               "for the next zspages, against swap_out of the mixed corpus (lz4, 1 thread, "
               "speed ÷ bare codec), swap_writeback (pages/s ÷ a plain pwrite) and the memory "
               "right after freeing a random 3/4 of the mixed corpus (RSS ÷ stored, before "
               "compaction). A one-off measurement, 3 runs each, medians (a static table in "
               "bench/report.py); the runs move by about ±0.03 on this shared machine.", "")
        self.table(["pages kept", "swap_out ÷ bare", "writeback ÷ pwrite", "freed 3/4 RSS"],
                   [[name, fmt(a, 3), fmt(b, 3), fmt(c, 4)] for name, a, b, c in
                    self.RESIDENT_RUN])
        self.p("A share of the pool alone holds up to that share after a burst of frees (the "
               "freed column); capped by what new zspages took lately, the runs are kept while "
               "zspages are made as fast as they empty and fall away when they are not. "
               "Faults of newly resident pages turned out to be a small part of swap_out's "
               "cost here; the copy of the compressed bytes into cold pool memory is the larger "
               "one.", "")

    def memory_plot(self):
        fig, axes = plt.subplots(1, len(KINDS), figsize=(13, 3.8), sharey=True)
        for ax, kind in zip(axes, KINDS):
            width = 0.8 / len(ALLOCATORS)
            for i, a in enumerate(ALLOCATORS):
                r = self.r("memory/%s/%s/threads:1" % (a, kind))
                if not r:
                    continue
                xs = [j + i * width for j in range(len(PHASES))]
                ax.bar(xs, [r.get(p + "_rss", 0) for p in PHASES], width, label=a)
            ax.set_xticks([j + 0.4 - width / 2 for j in range(len(PHASES))])
            ax.set_xticklabels(PHASES)
            ax.axhline(1.0, color="black", linewidth=0.6)
            ax.set_title("%s corpus, 1 thread" % kind)
        axes[0].set_ylabel("RSS growth / bytes stored")
        axes[0].legend(fontsize=8)
        self.plot(fig, "memory.png", "memory overhead by phase and allocator")

    def swap(self):
        self.p("## swap_out / swap_in against the bare codec", "",
               "One memory area of the given compressor; each iteration handles 64 pages per "
               "thread and then times the bare codec (LZ4_compress_default / "
               "ZSTD_compressCCtx, LZ4_decompress_safe / ZSTD_decompressDCtx) on the same "
               "pages (`bench/bm_swap.c`). swap_out runs in a steady state (the area holds "
               "half the corpus; the oldest entries are freed, untimed, as new ones go in). "
               "pages/s: wall clock, all threads together. *speed ÷ bare*: the codec's CPU "
               "time per page over libswap's (1.00 = libswap costs nothing on top of the "
               "codec); *ns/page*: libswap's CPU time per page. *mem/orig*: the area's pool memory over the bytes of the pages it "
               "holds (same-filled pages cost nothing), beside the bare codec's compressed "
               "bytes over the same pages.", "")
        for op in ("swap_out", "swap_in"):
            rows = [["%s %s" % (codec, kind), str(t),
                     fmt(r.get("pages_per_s")), fmt(r.get("bare_pages_per_s")),
                     fmt(r.get("vs_bare"), 2),
                     fmt(r.get("ns_per_page"), 0),
                     fmt(r.get("mem_per_orig"), 3) if t == 1 else "",
                     fmt(r.get("bare_compr_per_orig"), 3) if t == 1 else ""]
                    for codec, kind, t, r in self.swap_runs(op)]
            if rows:
                self.p("### %s" % op, "")
                self.table(["codec, corpus", "threads", "pages/s", "bare pages/s",
                            "speed ÷ bare", "ns/page", "mem/orig", "bare compr/orig"], rows)
        self.skipped("swap_")
        self.swap_plot()

    def swap_runs(self, op):
        """(codec, corpus kind, threads, result) of every @op run present, in table order."""
        for codec in CODECS:
            for kind in KINDS:
                for t in (1, 2):
                    r = self.r("%s/%s/%s/threads:%d" % (op, codec, kind, t))
                    if r:
                        yield codec, kind, t, r

    def swap_plot(self):
        fig, axes = plt.subplots(1, 2, figsize=(13, 4))
        for ax, op in zip(axes, ("swap_out", "swap_in")):
            labels, lib, bare = [], [], []
            for codec, kind, t, r in self.swap_runs(op):
                labels.append("%s %s\n%dT" % (codec, kind, t))
                lib.append(r.get("pages_per_s", 0) / 1e3)
                bare.append(r.get("bare_pages_per_s", 0) / 1e3)
            xs = range(len(labels))
            ax.bar([x - 0.2 for x in xs], lib, 0.4, label="libswap")
            ax.bar([x + 0.2 for x in xs], bare, 0.4, label="bare codec")
            ax.set_xticks(list(xs))
            ax.set_xticklabels(labels, fontsize=6, rotation=90)
            ax.set_ylabel("thousand pages/s")
            ax.set_title(op)
            ax.legend(fontsize=8)
        self.plot(fig, "swap.png", "swap_out and swap_in throughput against the bare codec")

    def zram(self):
        self.p("## The kernel's zram on the same corpora", "",
               "`dd bs=4096 oflag=direct` into /dev/zram0 (lz4) and `iflag=direct` out of it, "
               "one stream (`bench/bm_zram.c`); beside it libswap's swap_out / swap_in and the "
               "bare LZ4 calls on the same corpus, 1 thread, and the compaction cost of each.",
               "")
        rows = []
        for kind in KINDS:
            z = self.r("zram/lz4/%s" % kind)
            if not z:
                continue
            so = self.r("swap_out/lz4/%s/threads:1" % kind)
            si = self.r("swap_in/lz4/%s/threads:1" % kind)
            rows.append([kind, fmt(z.get("write_pages_per_s")),
                         fmt(so.get("pages_per_s") if so else None),
                         fmt(ratio(z.get("write_pages_per_s"),
                                   so.get("bare_pages_per_s") if so else None), 2),
                         fmt(z.get("read_pages_per_s")),
                         fmt(si.get("pages_per_s") if si else None),
                         fmt(ratio(z.get("read_pages_per_s"),
                                   si.get("bare_pages_per_s") if si else None), 2),
                         fmt(z.get("compact_ms_per_MiB"), 3)])
        if rows:
            self.table(["corpus", "zram write pages/s", "swap_out pages/s",
                        "zram write ÷ bare lz4", "zram read pages/s", "swap_in pages/s",
                        "zram read ÷ bare lz4", "zram compact ms/MiB"], rows)
            zc = self.r("zs_compact/mixed")
            if zc:
                self.p("libzs `zs_compact` on the mixed corpus: %s ms per MiB freed "
                       "(`zs_compact/mixed` below)." % fmt(zc.get("ms_per_MiB"), 3), "")
        else:
            self.p("No zram rows in this run:", "")
        self.skipped("zram/")

    REGION_FAULTS = (("major", "major (swap_in + install)",
                      "LZ4_decompress_safe + UFFDIO_COPY"),
                     ("minor_cache", "minor, from the swap cache", "UFFDIO_MOVE"),
                     ("minor_zero", "minor, first touch (zero page)", "UFFDIO_ZEROPAGE"))
    REGION_RUNS = (("rw", 1, "80% reads"), ("rw", 2, "80% reads"), ("read", 1, "95% reads"))

    def region(self):
        self.p("## Regions: a program's own memory swapped within a RAM budget", "",
               "`include/zs/region.h` over one lz4 memory area, mixed corpus pages "
               "(`bench/bm_region.c`). Latencies are taken by the faulting thread itself "
               "around one load (the fault, its round trip through the handler thread, the "
               "install); the bare calls are timed on the same pages in the same run, "
               "interleaved page by page. *handler* is the region's own service time "
               "(`swap_region_stats`, from reading the fault to the page installed).", "")
        us = lambda v: fmt(v / 1e3 if v is not None else None, 2)
        rows = []
        for key, label, bare in self.REGION_FAULTS:
            r = self.r("region_fault/" + key)
            if r:
                rows.append([label, us(r.get("p50_ns")), us(r.get("p99_ns")), bare,
                             us(r.get("bare_p50_ns")), us(r.get("bare_p99_ns")),
                             fmt(r.get("p50_vs_bare"), 2), fmt(r.get("p99_vs_bare"), 2),
                             us(r.get("handler_p50_ns"))])
        if rows:
            self.p("### Fault latency", "", "Aim: a major fault's p50 under 1.5 times the bare "
                   "pair.", "")
            self.table(["fault", "p50 µs", "p99 µs", "bare call", "bare p50 µs",
                        "bare p99 µs", "p50 ÷ bare", "p99 ÷ bare", "handler p50 µs"], rows)
        rows = []
        for name, t, mix in self.REGION_RUNS:
            r = self.r("region_zipf/%s/threads:%d" % (name, t))
            if r:
                rows.append(["%s, %s" % (name, mix), str(t), fmt(r.get("acc_per_s")),
                             fmt(r.get("plain_acc_per_s")), fmt(r.get("vs_plain"), 5),
                             fmt(r.get("fault_share"), 3), fmt(r.get("major_share"), 3),
                             fmt(r.get("lru_miss_share"), 3), fmt(r.get("faults_vs_lru"), 2),
                             fmt(r.get("major_vs_lru"), 2), fmt(r.get("rss_max_ratio"), 3),
                             fmt(r.get("proc_rss_drift"), 2)])
        if rows:
            self.p("### A working set four times the budget", "",
                   "Zipf(0.99) one-word accesses over a region 4x its `resident_max` (ranks "
                   "scattered over the pages), after a warm-up of a quarter as many, each "
                   "thread its own sequence; the same sequences over plain memory, and an exact "
                   "LRU of `resident_max` pages simulated over them (2 threads: the sequences "
                   "interleaved one by one, an approximation). Faults count major and minor. "
                   "*max RAM*: the most the region and its swap cache held, sampled every 2 ms "
                   "from the kernel (their Rss in smaps where mappings are named, else mincore "
                   "of the region plus the cache's pages), over `resident_max`; *RSS drift*: "
                   "the most the whole process grew during the run (the compressed copies "
                   "included), over `resident_max`. Aims: faults at most 1.3 times the LRU's, "
                   "max RAM at most 1.05.", "")
            self.table(["run", "threads", "accesses/s", "plain memory accesses/s",
                        "region ÷ plain", "faults / access", "major / access",
                        "LRU misses / access", "faults ÷ LRU", "major ÷ LRU", "max RAM ÷ budget",
                        "RSS drift ÷ budget"], rows)
        one, two = self.r("region_zipf/rw/threads:1"), self.r("region_zipf/rw/threads:2")
        if one and two:
            self.p("### Scaling", "", "The read-write run with 2 threads against 1, wall "
                   "clock, both threads together (needs both cores free; see the load "
                   "average above).", "")
            self.table(["", "1 thread, accesses/s", "2 threads, accesses/s", "2 ÷ 1"],
                       [["region", fmt(one.get("acc_per_s")), fmt(two.get("acc_per_s")),
                         fmt(ratio(two.get("acc_per_s"), one.get("acc_per_s")), 2)],
                        ["plain memory", fmt(one.get("plain_acc_per_s")),
                         fmt(two.get("plain_acc_per_s")),
                         fmt(ratio(two.get("plain_acc_per_s"), one.get("plain_acc_per_s")),
                             2)]])
        rows = []
        for name, t, mix in self.REGION_RUNS:
            r = self.r("region_zipf/%s/threads:%d" % (name, t))
            if r:
                rows.append(["%s, %s" % (name, mix), str(t),
                             fmt(r.get("reclaim_ms_per_MiB"), 2),
                             fmt(r.get("bare_lz4_ms_per_MiB"), 2),
                             fmt(ratio(r.get("reclaim_ms_per_MiB"),
                                       r.get("bare_lz4_ms_per_MiB")), 2),
                             fmt(r.get("clean_share"), 3), fmt(r.get("refault_share"), 3),
                             fmt(r.get("direct_share"), 3)])
        if rows:
            self.p("### Reclaim cost", "", "CPU time of reclaim (the reclaim thread and "
                   "direct reclaim: choosing, moving out, hashing, compressing) per MiB "
                   "reclaimed, beside `LZ4_compress_default` of the corpus per MiB in the same "
                   "run; *clean*: the share of reclaims that dropped a page whose swap copy was "
                   "still valid, without compressing; *refaults*: major faults within the "
                   "refault distance, over major faults; *direct*: faults that reclaimed before "
                   "installing, over faults.", "")
            self.table(["run", "threads", "reclaim CPU ms/MiB", "bare lz4 ms/MiB",
                        "reclaim ÷ bare", "clean", "refaults", "direct"], rows)
        self.skipped("region_")

    def micro(self):
        self.p("## Micro benchmarks", "")
        rows = []
        for s in self.sizes("zs_malloc_free"):
            for t in (1, 2):
                z = self.r("zs_malloc_free/size:%d/threads:%d" % (s, t))
                g = self.r("glibc_malloc_free/size:%d/threads:%d" % (s, t))
                if not z or not g:
                    continue
                rows.append([str(s), str(t), fmt(z.cpu_ns(), 1), fmt(g.cpu_ns(), 1),
                             fmt(ratio(z.cpu_ns(), g.cpu_ns()), 2),
                             fmt(z.get("items_per_second")), fmt(g.get("items_per_second"))])
        for t in (1, 2):
            z = self.r("zs_malloc_free/corpus_sizes/threads:%d" % t)
            g = self.r("glibc_malloc_free/corpus_sizes/threads:%d" % t)
            if z and g:
                rows.append(["corpus sizes, 100000 live", str(t), fmt(z.cpu_ns(), 1),
                             fmt(g.cpu_ns(), 1), fmt(ratio(z.cpu_ns(), g.cpu_ns()), 2),
                             fmt(z.get("items_per_second")), fmt(g.get("items_per_second"))])
        if rows:
            self.p("### zs_free + zs_malloc against free + malloc", "",
                   "1024 live objects of one size per thread; each iteration frees the oldest "
                   "and allocates one (`bench/bm_zs.c`). *corpus sizes*: 100000 live objects "
                   "per thread with the sizes the mixed corpus compresses to, a random one "
                   "replaced by one of the next size and stamped with 16 bytes. ns per pair: CPU time of the thread "
                   "(robust on a shared machine); pairs/s: wall clock, all threads together. "
                   "With 2 threads both share one pool (libzs) or use glibc's per-thread "
                   "arenas.", "")
            self.table(["size", "threads", "libzs ns/pair", "glibc ns/pair", "libzs ÷ glibc",
                        "libzs pairs/s", "glibc pairs/s"], rows)
        rows = []
        for s in self.sizes("zs_map_read"):
            z, g = self.r("zs_map_read/size:%d" % s), self.r("glibc_read/size:%d" % s)
            if z and g:
                rows.append([str(s), fmt(z.cpu_ns(), 1), fmt(g.cpu_ns(), 1),
                             fmt(ratio(z.cpu_ns(), g.cpu_ns()), 2)])
        if rows:
            self.p("### zs_map_object + copy + zs_unmap_object against a copy from malloc'd "
                   "memory", "", "4096 objects read in a fixed random order; CPU ns per "
                   "read.", "")
            self.table(["size", "libzs ns", "glibc ns", "libzs ÷ glibc"], rows)
        zc, gt = self.r("zs_compact/mixed"), self.r("glibc_trim/mixed")
        if zc or gt:
            self.p("### Giving memory back after freeing a random 3/4 of the mixed corpus", "")
            self.table(["call", "ms per MiB freed", "MiB freed"],
                       [[n, fmt(r.get("ms_per_MiB"), 3), fmt(r.get("MiB_freed"), 1)]
                        for n, r in (("zs_compact", zc), ("glibc malloc_trim(0)", gt)) if r])
        rows = []
        for op in ("slot_alloc_free", "swap_cache_lookup"):
            one, two = self.r(op + "/threads:1"), self.r(op + "/threads:2")
            if one:
                rows.append([op, fmt(one.cpu_ns(), 1), fmt(one.get("items_per_second")),
                             fmt(two.get("items_per_second") if two else None),
                             fmt(ratio(two.get("items_per_second") if two else None,
                                       one.get("items_per_second")), 2)])
        if rows:
            self.p("### libswap slots and swap cache", "",
                   "`swap_alloc_slot` + `swap_cache_delete` (per-CPU clusters); "
                   "`swap_cache_lookup` + `swap_cache_put` of one of 4096 cached pages "
                   "(lock-free under RCU). No malloc equivalent; the 2-thread column is the "
                   "scaling figure.", "")
            self.table(["operation", "ns/op (1 thread)", "ops/s, 1 thread", "ops/s, 2 threads",
                        "2 ÷ 1"], rows)
        rows = []
        for op in ("swap_out", "swap_in"):
            for codec in CODECS:
                r = self.r("%s/%s/mixed/threads:1" % (op, codec))
                if r:
                    rows.append([op, codec, fmt(r.get("ns_per_page"), 0),
                                 fmt(r.get("bare_ns_per_page"), 0), fmt(r.get("vs_bare"), 2)])
        if rows:
            self.p("### Per page, mixed corpus, 1 thread", "")
            self.table(["call", "codec", "libswap CPU ns/page", "bare codec CPU ns/page",
                        "speed ÷ bare"], rows)
        self.skipped("zs_")
        self.skipped("glibc_")
        self.skipped("slot_")
        self.micro_plot()

    def micro_plot(self):
        fig, axes = plt.subplots(1, 2, figsize=(12, 3.8))
        sizes = self.sizes("zs_malloc_free")
        for prefix, label in (("zs_malloc_free", "libzs"), ("glibc_malloc_free", "glibc")):
            for t in (1, 2):
                pts = [(s, self.r("%s/size:%d/threads:%d" % (prefix, s, t)))
                       for s in sizes]
                pts = [(s, r.cpu_ns()) for s, r in pts if r]
                if pts:
                    axes[0].plot([p[0] for p in pts], [p[1] for p in pts], marker="o",
                                 linestyle="-" if t == 1 else "--",
                                 label="%s, %d thread%s" % (label, t, "s" if t > 1 else ""))
        axes[0].set_xscale("log", base=2)
        axes[0].set_xlabel("object size (bytes)")
        axes[0].set_ylabel("CPU ns per free + malloc pair")
        axes[0].set_title("free + malloc")
        axes[0].legend(fontsize=7)
        msizes = self.sizes("zs_map_read")
        for prefix, label in (("zs_map_read", "libzs map + copy + unmap"),
                              ("glibc_read", "copy from malloc'd memory")):
            pts = [(s, self.r("%s/size:%d" % (prefix, s))) for s in msizes]
            pts = [(s, r.cpu_ns()) for s, r in pts if r]
            if pts:
                axes[1].plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=label)
        axes[1].set_xscale("log", base=2)
        axes[1].set_xlabel("object size (bytes)")
        axes[1].set_ylabel("CPU ns per read")
        axes[1].set_title("reading an object")
        axes[1].legend(fontsize=7)
        self.plot(fig, "micro.png", "allocator micro benchmarks")

    def scaling_rows(self):
        rows = []
        for name, r1 in sorted(self.res.items()):
            if not name.endswith("/threads:1"):
                continue
            base = name[: -len("/threads:1")]
            r2 = self.res.get(base + "/threads:2")
            if not r2:
                continue
            if base.startswith(("memory/", "region_")):
                continue  # memory: no rate; regions: their own section
            rows.append((base, one_thread_rate(r1), two_thread_rate(r2),
                         ratio(two_thread_rate(r2), one_thread_rate(r1))))
        return rows

    def scaling(self):
        self.p("## Scaling", "",
               "Throughput with 2 threads over 1 thread, same run: the 2-thread rate is wall "
               "clock (both threads together), the 1-thread rate is per CPU-second (what one "
               "thread does with a core to itself, which other work on the machine cannot "
               "deflate). **These figures depend on "
               "the cores**: every *threads:2* row above needs two cores free, and this "
               "machine has exactly 2, shared with other work (see the load average in the "
               "machine table). Figures that do not depend on the cores: the memory ratios "
               "(the threads only change which arena or size-class lock an object meets; "
               "the 2-thread memory rows show that), the compression ratios, and the "
               "single-thread speed ratios (which move by about ±0.1 between runs on a shared "
               "machine).", "")
        rows = self.scaling_rows()
        self.table(["benchmark", "1 thread, per CPU-s", "2 threads, per s", "2 ÷ 1"],
                   [[n, fmt(a), fmt(b), fmt(c, 2)] for n, a, b, c in rows])
        fig, ax = plt.subplots(figsize=(12, 4))
        ax.bar(range(len(rows)), [c or 0 for _, _, _, c in rows])
        ax.axhline(2.0, color="green", linewidth=0.6, label="perfect (2 cores)")
        ax.axhline(1.0, color="black", linewidth=0.6)
        ax.set_xticks(range(len(rows)))
        ax.set_xticklabels([n for n, _, _, _ in rows], fontsize=5, rotation=90)
        ax.set_ylabel("2-thread ÷ 1-thread throughput")
        ax.legend(fontsize=8)
        self.plot(fig, "scaling.png", "2-thread over 1-thread throughput")

    def tier(self):
        """The writeback tier (bench/bm_tier.c): LRU order, a paging workload against an exact
        LRU, writeback and store speed, recompression."""
        lo = self.r("tier_lru_order/mixed")
        pg = self.r("tier_paging/mixed")
        wb = self.r("tier_writeback/mixed")
        al = self.r("tier_swap_out_at_limit/mixed")
        rc = self.r("recompress/mixed")
        if not any((lo, pg, wb, al, rc)):
            return
        self.p("## The writeback tier", "",
               "A tiered area (compressed memory with mem_limit in front of a swap file) "
               "against *priority spill* (a memory area with the same mem_limit at a higher "
               "priority than a file area: what libswap offered before) and against an exact "
               "LRU of the compressed pages at the same memory, simulated by the benchmark "
               "over the same trace (`bench/bm_tier.c`). The files are in the page cache, so "
               "file writes are memory copies.", "")
        rows = []
        if lo:
            rows.append(["swap_in of the newest tenth of a stream 4x mem_limit: share from "
                         "memory", fmt(lo.get("tier_recent_from_memory")),
                         fmt(lo.get("spill_recent_from_memory")), "—", "≥ 0.95"])
        if pg:
            rows.append(["Zipf(0.99) paging, resident set 1/16, pool 1/4 of the data: share "
                         "of swap_ins from memory", fmt(pg.get("tier_from_memory")),
                         fmt(pg.get("spill_from_memory")), fmt(pg.get("lru_sim_from_memory")),
                         "tier ≥ 0.9 × LRU (%s)" % fmt(pg.get("vs_lru"), 2)])
        if rows:
            self.table(["figure", "tier", "priority spill", "exact LRU", "target"], rows)
        rows = []
        if wb:
            rows.append(["swap_writeback, pages/s", fmt(wb.get("wb_pages_per_s")),
                         "sequential pwrite, 32 pages a call", fmt(wb.get("pwrite_pages_per_s")),
                         fmt(wb.get("vs_pwrite"), 2), "≥ 0.8"])
        if al:
            rows.append(["swap_out into a tier at its limit, pages/s",
                         fmt(al.get("tier_pages_per_s")), "swap_out into a memory area with room",
                         fmt(al.get("memory_pages_per_s")), fmt(al.get("vs_memory"), 2),
                         "aim 0.8"])
        if rows:
            self.table(["figure", "tier", "baseline", "", "ratio", "target"], rows)
        if rc:
            self.table(["recompression, lz4 to zstd:9, mixed corpus", "value"],
                       [["entries stored smaller", fmt(rc.get("recompressed"))],
                        ["stored bytes / page bytes, lz4 then zstd:9",
                         "%s → %s" % (fmt(rc.get("lz4_compr_per_orig")),
                                      fmt(rc.get("zstd9_compr_per_orig")))],
                        ["saved, share of the page bytes", fmt(rc.get("saved_per_orig"))],
                        ["CPU ms per MiB of pages", fmt(rc.get("cpu_ms_per_mib"))]])

    def others(self):
        """Benchmarks no section above knows (a body added since): their time and counters,
        so that a new bench/*.c shows up in BENCHMARKS.md without touching this script."""
        rest = sorted(n for n in self.res if not n.startswith(KNOWN_FAMILIES))
        if not rest:
            return
        self.p("## Other benchmarks", "",
               "Medians of each benchmark's time per iteration and of its counters.", "")
        rows = []
        for n in rest:
            r = self.res[n]
            counters = ", ".join("%s=%s" % (k, fmt(v)) for k, v in sorted(r.v.items())
                                 if k not in STANDARD_KEYS)
            rows.append([n, fmt(r.ns(), 1), counters])
        self.table(["benchmark", "ns per iteration", "counters"], rows)

    def failures(self):
        failed = sorted((n, m) for n, m in self.errors.items() if not m.startswith("skipped:"))
        skipped = sorted((n, m) for n, m in self.errors.items() if m.startswith("skipped:"))
        if skipped:
            self.p("## Rows skipped on this machine", "")
            for n, m in skipped:
                self.p("- `%s`: %s" % (n, m))
            self.p("")
        if failed:
            self.p("## FAILED", "")
            for n, m in failed:
                self.p("- `%s`: %s" % (n, m))
            self.p("")
        return failed

    def zcache(self, path):
        """zcache against Debian's memcached (bench/zcache_compare.py's output, kept beside the
        JSON): its raw lines verbatim, its FIGURE lines as a table."""
        if not path or not os.path.exists(path):
            return
        lines = open(path).read().splitlines()
        self.zc_values = next((l.split()[1].rstrip(",") for l in lines
                               if l.startswith("values:")), "?")
        for line in lines:
            if line.startswith("FIGURE "):
                parts = line.split()
                kv = dict(x.split("=", 1) for x in parts[2:] if "=" in x)
                self.zc[parts[1]] = kv
        self.p("## zcache against memcached", "",
               "`examples/zcache` and Debian's memcached, same `-m` and `-t`, loaded through "
               "pymemcache with the same values, every value read back, RSS compared: "
               "*friendly* cache-like values (text, JSON, hex with repeated structure; "
               "100-2000 bytes) and *unfriendly* ones (a third hex of random bytes, a third "
               "short text lines, a third small JSON records; 60-600 bytes). Then memslap set "
               "and get, the two servers taking turns (`bench/zcache_compare.py`). "
               "Throughput ratios are medians of per-run ratios. Under each mix, zcache's "
               "`stats` memory breakdown and how much of its RSS growth it accounts for.",
               "")
        rows = [[name, kv.get("median", "?"), kv.get("runs", "?"), kv.get("target", "")]
                for name, kv in sorted(self.zc.items())]
        self.table(["figure", "median", "runs", "target"], rows)
        self.p("```", *[l for l in lines if not l.startswith("FIGURE ")], "```", "")

    # ---- the README's table ----------------------------------------------------------------

    def readme_table(self):
        c = self.ctx
        L = ["<!-- generated by bench/report.py from bench/results/bench.json; "
             "do not edit -->",
             "Measured by `make bench` on %s (%s cores online), %s; medians of %s "
             "repetitions over %s MiB corpora from make-corpus.py; ratios between medians of "
             "the same run. Full tables and plots: [BENCHMARKS.md](BENCHMARKS.md)." % (
                 c.get("cpu_model", "?"), c.get("cpus_online", "?"), c.get("kernel", "?"),
                 max((r.n for r in self.res.values()), default=0),
                 c.get("corpus_mib", "?")),
             ""]
        holders = ["libzs"] + [a for a in ALLOCATORS if a != "libzs"]
        L += ["Memory / bytes stored, mixed corpus, 1 thread (RSS growth of the process; "
              "*pool pages* is what the kernel's mm_stat counts):", "",
              "| phase | " + " | ".join(holders) + " | libzs pool pages | kernel zram |",
              "|---|" + "---|" * (len(holders) + 2)]
        z = self.r("zram/lz4/mixed")
        for phase, label, zkey in (("fill", "fill", "fill_mem_per_compr"),
                                   ("churn", "churn: free ½, store as many", None),
                                   ("shrink", "free ¾, then compact / trim / purge",
                                    "shrink_mem_per_compr")):
            cells = [fmt(self.val("memory/%s/mixed/threads:1" % a, phase + "_rss"), 3)
                     for a in holders]
            cells.append(fmt(self.val("memory/libzs/mixed/threads:1", phase + "_pages"), 3))
            cells.append(fmt(z.get(zkey), 3) if z and zkey else "—")
            L.append("| %s | %s |" % (label, " | ".join(cells)))
        L += ["", "Speed (pages/s or ns; the baseline is measured in the same run):", "",
              "| figure | libzs / libswap | baseline | ratio |", "|---|---|---|---|"]

        def row(label, mine, base, base_label, digits=3, rdigits=2):
            if mine is None or base is None:
                return
            L.append("| %s | %s | %s %s | %s |" % (label, fmt(mine, digits), base_label,
                                                  fmt(base, digits),
                                                  fmt(ratio(mine, base), rdigits)))

        zr = self.r("zs_malloc_free/corpus_sizes/threads:1")
        gr = self.r("glibc_malloc_free/corpus_sizes/threads:1")
        if zr and gr:
            row("zs_free + zs_malloc, corpus sizes, 100000 live, CPU ns per pair", zr.cpu_ns(),
                gr.cpu_ns(), "glibc", 1)
        for size in (256, 4096):
            zr = self.r("zs_malloc_free/size:%d/threads:1" % size)
            gr = self.r("glibc_malloc_free/size:%d/threads:1" % size)
            if zr and gr:
                row("zs_free + zs_malloc, 1024 live of %d B, CPU ns per pair" % size, zr.cpu_ns(),
                    gr.cpu_ns(), "glibc", 1)
        row("zs_compact, ms per MiB given back", self.val("zs_compact/mixed", "ms_per_MiB"),
            self.val("glibc_trim/mixed", "ms_per_MiB"), "glibc malloc_trim")
        for op, codec in (("swap_out", "lz4"), ("swap_in", "lz4"), ("swap_out", "zstd:3"),
                          ("swap_in", "zstd:3")):
            r = self.r("%s/%s/mixed/threads:1" % (op, codec))
            if r and r.get("ns_per_page") and r.get("bare_ns_per_page"):
                # speed: pages per CPU-second, so the ratio is the codec's cost over ours
                row("%s %s, pages per CPU-second" % (op, codec), 1e9 / r["ns_per_page"],
                    1e9 / r["bare_ns_per_page"], "bare " + codec)
        if z:
            so = self.r("swap_out/lz4/mixed/threads:1")
            si = self.r("swap_in/lz4/mixed/threads:1")
            if so:
                row("swap_out lz4 against zram's write, pages/s", so.get("pages_per_s"),
                    z.get("write_pages_per_s"), "kernel zram (dd oflag=direct)")
            if si:
                row("swap_in lz4 against zram's read, pages/s", si.get("pages_per_s"),
                    z.get("read_pages_per_s"), "kernel zram (dd iflag=direct)")
        for op in ("swap_out", "swap_in"):
            r1 = self.r("%s/lz4/mixed/threads:1" % op)
            r2 = self.r("%s/lz4/mixed/threads:2" % op)
            if r1 and r2:
                row("%s lz4, 2 threads (wall; needs 2 free cores) against 1 (per CPU-second), "
                    "pages/s" % op, two_thread_rate(r2), one_thread_rate(r1), "1 thread")
        lo = self.r("tier_lru_order/mixed")
        pg = self.r("tier_paging/mixed")
        wb = self.r("tier_writeback/mixed")
        if lo:
            row("writeback tier: newest tenth of a 4x stream served from memory",
                lo.get("tier_recent_from_memory"), lo.get("spill_recent_from_memory"),
                "priority spill", 3, 1)
        if pg:
            row("writeback tier: Zipf paging, swap_ins from memory", pg.get("tier_from_memory"),
                pg.get("lru_sim_from_memory"), "exact LRU", 3, 2)
        if wb:
            row("writeback tier: swap_writeback, pages/s", wb.get("wb_pages_per_s"),
                wb.get("pwrite_pages_per_s"), "sequential pwrite")
        rf = self.r("region_fault/major")
        if rf:
            row("region major fault p50 (faulting thread's view), µs",
                rf.get("p50_ns") / 1e3, rf.get("bare_p50_ns") / 1e3,
                "bare LZ4_decompress_safe + UFFDIO_COPY", 2)
        rz = self.r("region_zipf/rw/threads:1")
        if rz:
            row("region Zipf(0.99) over 4x its budget, faults per access",
                rz.get("fault_share"), rz.get("lru_miss_share"), "exact LRU of the budget")
            row("region Zipf(0.99), most RAM held ÷ resident_max", rz.get("rss_max_ratio"),
                1.05, "aim at most")
        zc = self.zc
        if zc:
            L += ["", "zcache (examples/zcache) against Debian's memcached, %s values of each "
                  "mix, same `-m` and `-t`:" % self.zc_values, "",
                  "| figure | zcache ÷ memcached | target |", "|---|---|---|"]
            for key, label in (("zcache_rss_ratio", "RSS holding the same values (friendly)"),
                               ("zcache_rss_ratio_unfriendly",
                                "RSS holding the same values (unfriendly mix)"),
                               ("zcache_set_throughput_ratio", "memslap set throughput"),
                               ("zcache_get_throughput_ratio", "memslap get throughput")):
                if key in zc:
                    L.append("| %s | %s | %s |" % (label, zc[key].get("median", "?"),
                                                 zc[key].get("target", "")))
        L.append("")
        return "\n".join(L)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("json")
    ap.add_argument("--md", required=True)
    ap.add_argument("--plots", required=True)
    ap.add_argument("--readme-table", required=True)
    ap.add_argument("--zcache", help="bench/zcache_compare.py's output, if it was run")
    a = ap.parse_args()
    ctx, res, errors = load(a.json)
    rep = Report(ctx, res, errors, a.plots, os.path.dirname(os.path.abspath(a.md)))
    rep.machine()
    rep.memory()
    rep.chain_limit()
    rep.resident_runs()
    rep.swap()
    rep.zram()
    rep.region()
    rep.micro()
    rep.scaling()
    rep.tier()
    rep.others()
    rep.zcache(a.zcache)
    failed = rep.failures()
    os.makedirs(os.path.dirname(os.path.abspath(a.md)), exist_ok=True)
    with open(a.md, "w") as f:
        f.write("\n".join(rep.out))
    table = rep.readme_table()
    os.makedirs(os.path.dirname(os.path.abspath(a.readme_table)), exist_ok=True)
    with open(a.readme_table, "w") as f:
        f.write(table)
    print("report: %d benchmarks, %d skipped, %d failed -> %s, %s, %s/*.png" % (
        len(res), len(errors) - len(failed), len(failed), a.md, a.readme_table, a.plots))
    for n, m in failed:
        print("report: FAILED %s: %s" % (n, m), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
