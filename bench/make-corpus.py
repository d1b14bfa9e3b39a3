#!/usr/bin/env python3
"""make-corpus.py: write a file of 4 KiB pages resembling what a swap device is handed.

The benchmark driver (bench/zs_bench.c), the demo (examples/demo.c) and the zram comparison
(bench/zram_compare.sh) all read such a file.  Nothing is downloaded: every page is cut from
files a Debian system already has, or synthesised.

usage: make-corpus.py OUT [--mib N] [--kind mixed|bin|text|zero|random|heap] [--seed S]

Kinds of page:
  bin     slices of shared libraries and executables (code, relocations, data)
  text    slices of a stream of documentation, Python and Perl sources laid end to end
  zero    all-zero pages (zram keeps these as "same-filled" without storing anything)
  word    one random 8-byte word repeated over the page (also same-filled)
  random  slices of gzip'd man pages laid end to end: they do not compress
  heap    a mostly empty malloc arena: chunk headers, pointers and small counters
"mixed" (the default) is 45% bin, 25% text, 10% zero, 5% word, 10% random, 5% heap, with the
kinds interleaved in a shuffled order.  For one machine, equal arguments give equal files.
Python 3 standard library only.
"""
import argparse
import glob
import os
import random
import struct
import sys

PAGE_SIZE = 4096
WORDS_PER_PAGE = PAGE_SIZE // 8
# Take at most this many pages from one library so the corpus spans many files, not a few
# large ones.
MAX_PAGES_PER_BINARY = 128

MIXES = {
	"mixed": (("bin", 45), ("text", 25), ("zero", 10), ("word", 5), ("random", 10),
		  ("heap", 5)),
	"bin": (("bin", 100),),
	"text": (("text", 100),),
	"zero": (("zero", 100),),
	"random": (("random", 100),),
	"heap": (("heap", 100),),
}

TEXT_SKIP_SUFFIXES = (".gz", ".xz", ".bz2", ".zst", ".lz4", ".png", ".jpg", ".jpeg", ".gif",
		      ".zip", ".pdf", ".ico", ".woff", ".woff2", ".pyc")


def die(msg):
	sys.stderr.write("make-corpus: %s\n" % msg)
	sys.exit(1)


def regular_files(patterns):
	"""Sorted list of regular, non-symlink files matching any of the glob patterns."""
	found = set()
	for pat in patterns:
		for path in glob.iglob(pat, recursive=True):
			if os.path.isfile(path) and not os.path.islink(path):
				found.add(path)
	return sorted(found)


def split_counts(total, mix):
	"""Share @total pages among the kinds of @mix by weight, largest remainders first."""
	weight_sum = sum(w for _, w in mix)
	counts = {}
	remainders = []
	for kind, weight in mix:
		exact = total * weight / weight_sum
		counts[kind] = int(exact)
		remainders.append((exact - int(exact), kind))
	short = total - sum(counts.values())
	for _, kind in sorted(remainders, key=lambda r: (-r[0], r[1]))[:short]:
		counts[kind] += 1
	return counts


def binary_pages(rng, want):
	"""Whole pages of libraries and executables, a few files at a time in a seeded order."""
	files = regular_files(["/usr/lib/x86_64-linux-gnu/**/*.so*", "/usr/lib/*-linux-gnu/*.so*",
			       "/usr/bin/*", "/usr/sbin/*"])
	rng.shuffle(files)
	made = 0
	for path in files:
		try:
			with open(path, "rb") as f:
				blob = f.read(MAX_PAGES_PER_BINARY * PAGE_SIZE)
		except OSError:
			continue
		for off in range(0, len(blob) - PAGE_SIZE + 1, PAGE_SIZE):
			if made == want:
				return
			yield blob[off:off + PAGE_SIZE]
			made += 1
	if made < want:
		die("found only %d of the %d binary pages wanted" % (made, want))


def stream_pages(files, want, what, accept=None):
	"""Pages cut from @files concatenated in the given order (small files are the norm)."""
	pending = bytearray()
	made = 0
	for path in files:
		if made == want:
			return
		try:
			with open(path, "rb") as f:
				data = f.read()
		except OSError:
			continue
		if accept is not None and not accept(data):
			continue
		pending += data
		while len(pending) >= PAGE_SIZE and made < want:
			yield bytes(pending[:PAGE_SIZE])
			del pending[:PAGE_SIZE]
			made += 1
	if made < want:
		die("found only %d of the %d %s pages wanted" % (made, want, what))


def looks_like_text(data):
	return len(data) > 0 and b"\0" not in data[:PAGE_SIZE]


def text_pages(rng, want):
	files = regular_files(["/usr/share/doc/**/*", "/usr/lib/python3*/**/*.py",
			       "/usr/share/perl/**/*.pm", "/usr/share/perl5/**/*.pm"])
	files = [p for p in files if not p.lower().endswith(TEXT_SKIP_SUFFIXES)]
	rng.shuffle(files)
	return stream_pages(files, want, "text", looks_like_text)


def incompressible_pages(rng, want):
	files = regular_files(["/usr/share/man/**/*.gz"])
	if sum(os.path.getsize(p) for p in files) < want * PAGE_SIZE:
		files += regular_files(["/usr/share/doc/**/*.gz"])
	rng.shuffle(files)
	return stream_pages(files, want, "incompressible")


def heap_page(rng):
	"""A page of a lightly used malloc arena: mostly zero, with chunk size words, pointers
	into one region and small integers scattered over it."""
	words = [0] * WORDS_PER_PAGE
	region = 0x7f0000000000 + (rng.getrandbits(28) << 16)
	pos = rng.randrange(4)
	while pos < WORDS_PER_PAGE:
		chunk_words = 2 * rng.choice((2, 2, 3, 4, 4, 6, 8, 16, 32))
		words[pos] = (chunk_words * 8) | 1
		# A chunk in use holds a few live fields; a free one holds list links or nothing.
		for _ in range(rng.randrange(0, 4)):
			slot = pos + 1 + rng.randrange(chunk_words - 1)
			if slot >= WORDS_PER_PAGE:
				break
			if rng.random() < 0.65:
				words[slot] = region + 16 * rng.randrange(1 << 18)
			else:
				words[slot] = rng.randrange(1 << rng.choice((4, 8, 16)))
		pos += chunk_words + (rng.randrange(8, 64) if rng.random() < 0.3 else 0)
	return struct.pack("<%dQ" % WORDS_PER_PAGE, *words)


def word_page(rng):
	return struct.pack("<Q", rng.getrandbits(64)) * WORDS_PER_PAGE


def main():
	ap = argparse.ArgumentParser(description="Write a corpus of 4 KiB pages for the benchmarks.")
	ap.add_argument("out", help="file to write")
	ap.add_argument("--mib", type=int, default=64, help="size in MiB (default 64)")
	ap.add_argument("--kind", default="mixed", choices=sorted(MIXES),
			help="which pages (default mixed)")
	ap.add_argument("--seed", type=int, default=1, help="seed of every random choice (default 1)")
	args = ap.parse_args()
	if args.mib <= 0:
		die("--mib must be positive")

	total = args.mib * (1 << 20) // PAGE_SIZE
	counts = split_counts(total, MIXES[args.kind])

	# One generator per kind, each with its own seeded stream, so that the choices made for
	# one kind do not depend on how many pages another kind needed.
	def rng_for(kind):
		return random.Random("%d/%s" % (args.seed, kind))

	sources = {}
	if counts.get("bin"):
		sources["bin"] = binary_pages(rng_for("bin"), counts["bin"])
	if counts.get("text"):
		sources["text"] = text_pages(rng_for("text"), counts["text"])
	if counts.get("random"):
		sources["random"] = incompressible_pages(rng_for("random"), counts["random"])
	word_rng = rng_for("word")
	heap_rng = rng_for("heap")
	zero = bytes(PAGE_SIZE)

	order = []
	for kind, _ in MIXES[args.kind]:
		order.extend([kind] * counts[kind])
	rng_for("order").shuffle(order)

	tmp = args.out + ".tmp"
	with open(tmp, "wb") as out:
		for kind in order:
			if kind == "zero":
				page = zero
			elif kind == "word":
				page = word_page(word_rng)
			elif kind == "heap":
				page = heap_page(heap_rng)
			else:
				page = next(sources[kind])
			out.write(page)
	os.replace(tmp, args.out)
	summary = ", ".join("%s %d" % (k, counts[k]) for k, _ in MIXES[args.kind])
	print("%s: %d pages (%d MiB), kind %s, seed %d: %s" %
	      (args.out, total, args.mib, args.kind, args.seed, summary))


if __name__ == "__main__":
	main()
