#!/usr/bin/env python3
"""Write the hand-made seed inputs of the fuzz targets into tests/fuzz/corpus/<target>/.

Each seed walks one path the target's comment describes (the input formats are documented at
the top of each fuzz_*.c); the fuzzer mutates from there.  Inputs the fuzzer found and that
were worth keeping sit beside them as found-<sha1> (picked from a `make fuzz` run's merged
corpus, the ones adding the most coverage); this script leaves those alone.
Run it again after changing a target's input format:  python3 tests/fuzz/make-seeds.py
"""
import os
import struct
import subprocess
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
PAGE = 4096


def u8(v):
    return struct.pack("<B", v & 0xFF)


def u16(v):
    return struct.pack("<H", v & 0xFFFF)


def u32(v):
    return struct.pack("<I", v & 0xFFFFFFFF)


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


class ZsOps:
    """fuzz_zs_ops: tracks the live-object count, since ops read an index byte only when an
    object is live."""

    def __init__(self, max_pages=0, flags=0, pack=0):
        self.b = u8(max_pages) + u8(flags) + u16(pack)
        self.nr = 0

    def op(self, code, idx=0):
        self.b += u8(code)
        if self.nr:
            self.b += u8(idx)

    def malloc(self, size, how=3, seed=1):
        self.op(0)
        r = size - 1 if size <= 0x800 else 0x8000 | (size - 1)
        self.b += u16(r) + u8(how)
        if how & 1:
            self.b += u32(seed)
        self.nr += 1

    def free(self, idx):
        self.op(3, idx)
        self.nr -= 1

    def map(self, idx, how):
        self.op(5, idx)
        self.b += u8(how)

    def unmap(self, idx):
        self.op(6, idx)

    def rewrite(self, idx, seed, through_map=False):
        self.op(7 | (0x10 if through_map else 0), idx)
        self.b += u32(seed)

    def compact(self):
        self.op(8)

    def bogus(self, how, *args):
        self.op(9)
        self.b += u8(how) + (u8(0) if self.nr else b"") + b"".join(args)

    def bad_args(self, how, *args):
        self.op(10)
        self.b += u8(how) + b"".join(args)

    def check(self, idx=0):
        self.op(11, idx)


def zs_seeds():
    t = "fuzz_zs_ops"
    s = ZsOps()
    for i, size in enumerate([1, 31, 32, 33, 100, 500, 1000, 2000, 3000, 4096]):
        s.malloc(size, how=1 | (2 if i % 2 else 0), seed=i)
    for i in range(10):
        s.check(i)
    s.free(3)
    s.free(0)
    s.rewrite(2, 77)
    s.rewrite(4, 78, through_map=True)
    s.compact()
    s.check()
    write(t, "basic", s.b)

    # many objects of one class, every other one freed, some kept mapped across compaction
    s = ZsOps(max_pages=4)
    for i in range(48):
        s.malloc(200 + (i % 3) * 8, seed=i)
    for i in range(0, 24, 2):
        s.free(i)
    s.map(5, 4)
    s.map(9, 5)
    s.map(9, 6)
    s.compact()
    s.unmap(9)
    s.compact()
    s.unmap(5)
    s.unmap(9)
    s.compact()
    s.check()
    write(t, "compact-mapped", s.b)

    # huge objects: pages of their own and the kept free pages
    s = ZsOps(flags=1)
    for i in range(20):
        s.malloc(3700 + i * 20, seed=i)
    for i in range(0, 15):
        s.free(0)
    s.compact()
    s.malloc(4096, seed=99)
    s.check()
    write(t, "huge", s.b)

    # automatic compaction, one-page zspages, wide cross-class packing
    s = ZsOps(max_pages=1, flags=2 | 0x10, pack=4096)
    for i in range(60):
        s.malloc(40 + i * 37 % 1500, how=1, seed=i)
    for i in range(40):
        s.free(i % 7)
    s.check()
    write(t, "auto-compact", s.b)

    # handles that are not live: flipped bits, neighbours, foreign, zero, stale, random
    s = ZsOps()
    for i in range(4):
        s.malloc(64, seed=i)
    s.free(1)
    s.bogus(0, u8(40))
    s.bogus(0, u8(33))
    s.bogus(1, u16(1))
    s.bogus(2)
    s.bogus(3)
    s.bogus(4, u8(0))
    s.bogus(5, struct.pack("<Q", 0x0001000100000001))
    s.bad_args(0)
    s.bad_args(1, u16(0))
    s.bad_args(2, u8(0))
    s.bad_args(3, u8(1))
    s.check()
    write(t, "bogus", s.b)


class SwapOps:
    """fuzz_swap_ops: tracks live entries (ops read an index byte only when one is live)."""

    def __init__(self, areas):
        self.b = u8(len(areas) - 1)
        for a in areas:
            self.b += a
        self.counts = []

    def op(self, code, idx=0):
        self.b += u8(code)
        if self.counts:
            self.b += u8(idx)

    def out(self, kind, seed):
        self.op(0)
        self.b += u8(kind) + u32(seed)
        self.counts.append(1)

    def swap_in(self, idx):
        self.op(3, idx)

    def dup(self, idx, how):
        self.op(4, idx)
        self.b += u8(how)
        self.counts[idx] += 40 + (how & 0x7F) if how & 0x80 else 1 + how % 4

    def free(self, idx):
        self.op(5, idx)
        self.counts[idx] -= 1
        if not self.counts[idx]:
            # the model moves its last entry into the freed place
            last = self.counts.pop()
            if idx < len(self.counts):
                self.counts[idx] = last

    def bogus(self, how, typ, *args):
        self.op(7)
        self.b += u8(how) + u8(typ) + b"".join(args)

    def off(self, typ):
        self.op(8)
        self.b += u8(typ + 1)

    def on_again(self, how):
        self.op(8 + 11 * 12)  # 140: 8 modulo 11, with the top bit set
        self.b += u8(how)

    def stats(self):
        self.op(9)

    def bad_args(self, how):
        self.op(10)
        self.b += u8(how)


def mem_area(pages, zstd=False, prio=1, limit=None):
    k = (1 if zstd else 0) | (0x10 if limit is not None else 0)
    b = u8(k) + u16(pages - 2) + u8(prio + 1)
    if limit is not None:
        b += u8(limit - 1)
    return b


def file_area(pages, checksum=False, prio=1, bad=()):
    k = (3 if checksum else 2) | (0x20 if bad else 0) | (max(len(bad) - 1, 0) << 6)
    b = u8(k) + u16(pages - 10) + u8(prio + 1)
    for x in bad:
        b += u16(x - 1)
    return b


def swap_seeds():
    t = "fuzz_swap_ops"
    s = SwapOps([mem_area(64)])
    for i in range(12):
        s.out(i % 6, i)
    for i in range(12):
        s.swap_in(i)
    s.dup(3, 1)
    s.free(3)
    s.free(0)
    s.stats()
    s.swap_in(2)
    write(t, "basic", s.b)

    # three areas, two priorities: swap_off refused while busy, then done, then on again
    s = SwapOps([mem_area(300, zstd=True, prio=0), file_area(40, prio=1, bad=(3, 17)),
                 file_area(20, checksum=True, prio=1)])
    for i in range(30):
        s.out(i % 6, 100 + i)
    s.stats()
    s.off(1)
    while s.counts:
        s.free(0)
    s.off(1)
    s.off(2)
    s.stats()
    s.on_again(0x80)
    s.on_again(0)
    for i in range(8):
        s.out(2, i)
    s.stats()
    write(t, "areas", s.b)

    # counts past SWAP_MAP_MAX (continuation), taken down again
    s = SwapOps([mem_area(10)])
    s.out(2, 1)
    s.out(4, 2)
    s.dup(0, 0xFF)
    s.dup(0, 0xFF)
    s.dup(1, 0x90)
    s.stats()
    for _ in range(50):
        s.free(1)
    s.swap_in(0)
    s.swap_in(1)
    write(t, "continuation", s.b)

    # a full area, and a memory area at its limit
    s = SwapOps([mem_area(5, prio=1), mem_area(100, prio=0, limit=2)])
    for i in range(40):
        s.out(4, i)
    s.stats()
    write(t, "full", s.b)

    # entries that are not live
    s = SwapOps([mem_area(300), file_area(12)])
    s.out(2, 1)
    s.out(3, 2)
    s.free(0)
    s.bogus(0, 0, u8(0))
    s.bogus(1, 0, u8(1))
    s.bogus(1, 1, u8(2))
    s.bogus(2, 33, u16(5))
    s.bogus(2, 5, u16(1))
    s.bogus(3, 0, struct.pack("<Q", 1 << 63 | 1))
    for how in range(5):
        s.bad_args(how | 0x80)
        s.bad_args(how | 0x20)
    s.off(-1)
    s.off(3)
    write(t, "bogus", s.b)


def header(last_page, nbad=0, bad=(), label=b"", version=1, magic=b"SWAPSPACE2"):
    h = bytearray(PAGE)
    struct.pack_into("<III", h, 1024, version, last_page, nbad)
    h[1036:1052] = bytes(range(0x10, 0x20))
    h[1052:1052 + len(label)] = label
    for i, b in enumerate(bad):
        struct.pack_into("<I", h, 1536 + 4 * i, b)
    h[PAGE - 10:] = magic
    return bytes(h)


def header_seeds():
    t = "fuzz_swap_header"
    write(t, "valid", u8(9) + u8(0) + u8(0) + header(9))
    write(t, "valid-checksum", u8(15) + u8(0) + u8(0x80) + header(14, label=b"fuzz"))
    write(t, "bad-pages", u8(19) + u8(0) + u8(0) + header(19, 3, (2, 5, 5), b"0123456789abcdef"))
    write(t, "shorter-area", u8(12) + u8(0xC0 | 6) + u8(0) + header(11, 2, (3, 10)))
    write(t, "all-bad", u8(3) + u8(0) + u8(0) + header(2, 2, (1, 2)))
    write(t, "partial-tail", u8(0x80 | 5) + u8(0) + u8(3) + header(5))
    write(t, "past-the-file", u8(4) + u8(0) + u8(0) + header(9))
    write(t, "bad-page-zero", u8(9) + u8(0) + u8(0) + header(9, 1, (0,)))
    write(t, "too-many-bad", u8(9) + u8(0) + u8(0) + header(9, 638))
    write(t, "version-2", u8(9) + u8(0) + u8(0) + header(9, version=2))
    write(t, "old-magic", u8(9) + u8(0) + u8(0) + header(9, magic=b"SWAP-SPACE"))
    write(t, "byte-swapped", u8(9) + u8(0) + u8(0) + header(9, version=1 << 24))
    # the header util-linux's mkswap writes, when it is installed (its UUID is random, so this
    # seed differs on every run)
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "swap")
        with open(p, "wb") as f:
            f.truncate(16 * PAGE)
        try:
            subprocess.run(["mkswap", "-L", "seed", p], check=True, capture_output=True)
            with open(p, "rb") as f:
                write(t, "mkswap", u8(15) + u8(0) + u8(0) + f.read(PAGE))
        except (OSError, subprocess.CalledProcessError):
            pass


def corrupt_seeds():
    t = "fuzz_swap_corrupt"
    for mode, name in enumerate(["lz4", "zstd", "file", "file-checksum"]):
        b = u8(mode) + u8(7)  # 8 pages
        for i in range(8):
            b += u8(i % 6) + u32(i)
        for i in range(8):
            b += u8(2) + u8(i)  # swap_in, all intact
        if mode < 2:
            b += u8(0) + u8(2) + u8(0) + u16(3) + u16(0) + u8(0x55)  # set one byte
            b += u8(0) + u8(3) + u8(2) + u16(0) + u16(50)  # xor a range
            b += u8(0) + u8(4) + u8(3) + u16(10) + u16(19) + bytes(range(20))
            b += u8(0x80) + u8(5)  # swap_debug_corrupt
        else:
            b += u8(0) + u8(0) + u8(0x40) + u8(2) + u16(100) + bytes(17)  # bytes of a slot
            b += u8(0) + u8(0) + u8(3) + bytes(16) + u16(8)  # the header
            b += u8(3) + u8(6) + u8(2) + u32(6)  # replace an entry
            b += u8(0) + u8(0) + u8(2) + u8(5)  # cut the file after slot 4
        for i in range(8):
            b += u8(2) + u8(i)
        write(t, name, b)


def zcache_seeds():
    """fuzz_zcache_proto: a first byte choosing how the rest is cut into reads (0: whole),
    then what a client sends.  The differential test's conversations, each whole and cut into
    small reads, and some that no client should send."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        "test_differential", os.path.join(HERE, "..", "..", "examples", "zcache",
                                          "test_differential.py"))
    diff = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(diff)
    t = "fuzz_zcache_proto"
    convs = [(name, b"".join(r.replace(b"{cas}", b"2") for r in reqs))
             for name, reqs in diff.CASES] + \
            [(name, b"".join(r.replace(b"{cas}", b"2") for r in reqs))
             for name, reqs, _ in diff.ZCACHE_ONLY]
    for i, (name, data) in enumerate(convs):
        if len(data) > 4000:
            continue  # libFuzzer's max_len stays its default 4096
        slug = "".join(ch if ch.isalnum() else "-" for ch in name.lower())[:40].strip("-")
        write(t, "%02d-%s" % (i, slug), u8(0) + data)
        write(t, "%02d-%s-pieces" % (i, slug), u8(i * 7 + 1) + data)
    hostile = {
        "huge-lengths": b"set k 0 0 2147483645\r\nxx\r\nms k 99999999999 T1\r\nx\r\n"
                        b"ms k 2147483647\r\nget k\r\n",
        "unterminated-long": b"incr " + b" " * 3000 + b"k 1",
        "long-get": b"get " + b" ".join(b"k%d" % i for i in range(800)) + b"\r\n",
        "garbage": bytes(range(256)) * 4,
        "nul-in-line": b"get a\x00b\r\nmg a\x00 v\r\n",
        "cr-only": b"get a\rset b 0 0 1\r\nx\rget b\r\n",
        "noreply-storm": b"".join(b"set n%d 0 0 1 noreply\r\nx\r\n" % i for i in range(50)) +
                         b"mg n1 q v\r\nmn\r\n",
        "stale-race": b"ms s 3 T100\r\nabc\r\nmd s I T30\r\nmg s v c\r\n"
                      b"ms s 3 C1 I\r\nnew\r\nmg s N30 R60 v t\r\nmd s x\r\nma s\r\n",
        "tombstone": b"ms t 5\r\nhello\r\nmd t x I T10 F3\r\nmg t v f t c\r\nma t N0\r\n",
        "append-grow": b"set c 0 0 1800\r\n" + bytes(range(256)) * 7 + b"ab" * 4 +
                       b"\r\nappend c 0 0 1800\r\n" + bytes(range(255, -1, -1)) * 7 + b"cd" * 4 +
                       b"\r\ngat 100 c\r\nmg c T0 s\r\n",
    }
    for name, data in hostile.items():
        write(t, name, u8(0) + data)
        write(t, name + "-pieces", u8(3) + data)


if __name__ == "__main__":
    zcache_seeds()
    zs_seeds()
    swap_seeds()
    header_seeds()
    corrupt_seeds()
