# zcache: a memcached-protocol cache keeping its values compressed in a libzs pool
# (examples/zcache/*.c, with zsstat's STAT output for "stats" and "stats classes").
#   make programs        builds $(B)/examples/zcache/zcache
#   make zcache-test     real clients against it: pymemcache, memcp/memcat/memslap, HashClient;
#                        the meta and text protocols byte for byte against Debian's memcached
#                        (test_differential.py); three instances behind twemproxy
#                        (test_twemproxy.py)
#   make zcache-memcached-suite MEMCACHED_SRC=DIR   memcached's own Perl tests (t/ of a memcached
#                        checkout, not part of this tree) against zcache; a development tool,
#                        not run by make test
#   make install         installs it as $(PREFIX)/bin/zcache
#   make bench-zcache    its memory and speed against memcached (bench/zcache_compare.py), into
#                        BENCHMARKS.md and the README table (see below)

ZCACHE := $(B)/examples/zcache/zcache
ZCACHE_SRCS := $(wildcard examples/zcache/*.c) examples/zsstat/zsstat.c
BINDIR ?= $(PREFIX)/bin

# Linked with libzs.a, so the installed program does not depend on where libzs is installed.
$(ZCACHE): $(ZCACHE_SRCS) examples/zcache/zcache.h examples/zsstat/zsstat.h $(LIB_TARGETS)
	@mkdir -p $(dir $@)
	$(CC) $(PROG_CFLAGS) -o $@ $(ZCACHE_SRCS) $(B)/libzs.a -llz4 -lzstd -lpthread -lm

TOOLS += $(ZCACHE)

# tests/fuzz/fuzz_zcache_proto.c runs the protocol code without main.c (tests/fuzz/fuzz.mk),
# built at -O2: at -O1 it ran about 4000 inputs a second, at -O2 about 4500-6000, and with
# libzs uninstrumented for coverage more (2 loaded cores; the note in the report has figures).
FUZZ_EXTRA_SRCS_fuzz_zcache_proto := $(filter-out examples/zcache/main.c,$(ZCACHE_SRCS))
$(B)/fuzz/obj/examples/%.o $(B)/fuzz/fuzz_zcache_proto: FUZZ_OPT := -O2
# libzs without coverage: its own targets fuzz it; here the feedback is the protocol's.
FUZZ_LIB_OBJS_fuzz_zcache_proto = $(FUZZ_ZS_NOCOV_OBJS)
EXTRA_TESTS += zcache-test

.PHONY: zcache-test install-zcache uninstall-zcache
zcache-test: $(ZCACHE)
	@sh scripts/deps.sh zcache
	ZC_SANITIZE="$(SANITIZE)" /usr/bin/python3 examples/zcache/test_zcache.py $(ZCACHE)
	/usr/bin/python3 examples/zcache/test_differential.py $(ZCACHE)
	/usr/bin/python3 examples/zcache/test_twemproxy.py $(ZCACHE)

# The text and meta protocol files of memcached's suite, the ones zcache's protocol covers
# (the rest test memcached's slabs, LRU maintainer, extstore, proxy, TLS, SASL, UDP, unix
# sockets or binary protocol; expirations.t moves the clock with memcached-debug's "debugtime").
ZC_SUITE_FILES ?= bogus-commands.t cas.t flags.t flush-all.t getandtouch.t \
	getset.t idle-timeout.t incrdecr.t issue_104.t issue_108.t issue_14.t issue_140.t \
	issue_152.t issue_183.t issue_192.t issue_260.t issue_3.t issue_41.t issue_68.t \
	issue_70.t line-lengths.t malicious-commands.t maxconns.t metaget.t noreply.t quit.t \
	stats.t touch.t whitespace.t dash-M.t
.PHONY: zcache-memcached-suite
zcache-memcached-suite: $(ZCACHE)
	@test -d "$(MEMCACHED_SRC)/t" || { echo "set MEMCACHED_SRC to a memcached checkout" >&2; exit 2; }
	ZC_SUITE_FILES="$(ZC_SUITE_FILES)" sh scripts/memcached-suite.sh $(MEMCACHED_SRC) $(ZCACHE)

install: install-zcache
install-zcache: $(ZCACHE)
	install -d $(DESTDIR)$(BINDIR)
	install -m 755 $(ZCACHE) $(DESTDIR)$(BINDIR)/zcache

uninstall: uninstall-zcache
uninstall-zcache:
	rm -f $(DESTDIR)$(BINDIR)/zcache

# The figures against Debian's memcached (bench/zcache_compare.py), alone: into
# bench/results/zcache.txt, then BENCHMARKS.md and the README table regenerated from it and the
# committed bench/results/bench.json (make bench-readme pastes the table), so zcache's rows can
# be measured again without the 15 minutes of the whole suite.
.PHONY: bench-zcache
bench-zcache: $(ZCACHE)
	@sh scripts/deps.sh bench zcache
	/usr/bin/python3 bench/zcache_compare.py --zcache $(ZCACHE) --runs 5 > bench/results/zcache.txt
	cat bench/results/zcache.txt
	/usr/bin/python3 bench/report.py bench/results/bench.json --md BENCHMARKS.md \
		--plots bench/plots --readme-table bench/results/readme-table.md \
		--zcache bench/results/zcache.txt
