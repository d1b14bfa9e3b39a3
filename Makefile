# libzs and libswap: plain GNU make, no configure step.
#   make                build both libraries (.so with SONAME, .a), their .pc files and the tools
#                       (zsstat, zcache); needs only a C compiler and lz4, zstd, xxhash, liburcu
#   make test           install missing build dependencies, build everything, run every test
#   make demo           build a page corpus and run the main job over it, then the region demo
#   make bench          run the benchmarks (bench/bench.mk: BENCHMARKS.md, plots, README figures)
#   make install        honours PREFIX, DESTDIR, LIBDIR, INCLUDEDIR, PKGCONFIGDIR
#   make uninstall
# Build variants, each in a directory of its own (combine freely):
#   DEBUG=1             invariant checks after every public call (ZS_DEBUG): build-debug/
#   SANITIZE=address,undefined or SANITIZE=thread: build-san-*/
#   CI=1                warnings are errors

# The version is stated once, in the public header.
VERSION_MAJOR := $(shell sed -n 's/^\#define ZS_VERSION_MAJOR //p' include/zs/zsmalloc.h)
VERSION_MINOR := $(shell sed -n 's/^\#define ZS_VERSION_MINOR //p' include/zs/zsmalloc.h)
VERSION_PATCH := $(shell sed -n 's/^\#define ZS_VERSION_PATCH //p' include/zs/zsmalloc.h)
VERSION := $(VERSION_MAJOR).$(VERSION_MINOR).$(VERSION_PATCH)

PREFIX ?= /usr/local
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
DESTDIR ?=

CC ?= cc
AR ?= ar
OPT ?= -O2
CFLAGS ?= $(OPT) -g
WERROR ?= $(if $(CI),-Werror,)
# lz4's warning set on top of -Wall -Wextra.
WARN_FLAGS := -Wall -Wextra -Wshadow -Wcast-qual -Wstrict-prototypes -Wundef -Wpointer-arith
# Header dependencies come from the compiler: each object or program has a .d file beside it.
DEP_FLAGS := -MMD -MP
BASE_CFLAGS := -std=gnu11 $(WARN_FLAGS) $(WERROR) $(DEP_FLAGS) -D_GNU_SOURCE -Iinclude -pthread
# "=", not ":=": it must take in the sanitizer flags BASE_CFLAGS gets below.
LIB_CFLAGS = $(BASE_CFLAGS) -fPIC -fvisibility=hidden -DZS_BUILDING_LIBRARY

# SANITIZE=address,undefined or SANITIZE=thread builds everything (libraries, tests,
# programs) with those sanitizers into a build directory of its own.
SANITIZE ?=
DEBUG ?=
comma := ,
B := build$(if $(DEBUG),-debug,)
ifneq ($(SANITIZE),)
B := $(B:build%=build-san-$(subst $(comma),-,$(SANITIZE))%)
SAN_FLAGS := -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
BASE_CFLAGS += $(SAN_FLAGS)
LDFLAGS += $(SAN_FLAGS)
endif
# ZS_DEBUG: the validators of libzs/debug.c and libswap/debug.c run at the end of every public
# call and abort on the first broken invariant.  Tests see it too (some errors are then always
# detected).
ifneq ($(DEBUG),)
BASE_CFLAGS += -DZS_DEBUG=1
endif

ZS_SRCS := $(wildcard libzs/*.c)
ZS_OBJS := $(ZS_SRCS:%.c=$(B)/%.o)
SW_SRCS := $(wildcard libswap/*.c)
SW_OBJS := $(SW_SRCS:%.c=$(B)/%.o)
HAVE_SWAP := $(if $(SW_SRCS),1,)

ZS_SO := $(B)/libzs.so.$(VERSION)
SW_SO := $(B)/libswap.so.$(VERSION)
LIBS_ZS := -lpthread
LIBS_SW := -llz4 -lzstd -lxxhash -lurcu-bp -lpthread

LIB_TARGETS := $(ZS_SO) $(B)/libzs.so.$(VERSION_MAJOR) $(B)/libzs.so $(B)/libzs.a $(B)/libzs.pc
ifneq ($(HAVE_SWAP),)
LIB_TARGETS += $(SW_SO) $(B)/libswap.so.$(VERSION_MAJOR) $(B)/libswap.so $(B)/libswap.a $(B)/libswap.pc
endif

.PHONY: all deps programs test check demo install uninstall install-test clean format tsan
all: $(LIB_TARGETS)

deps:
	@sh scripts/deps.sh

$(B)/libzs/%.o: libzs/%.c
	@mkdir -p $(dir $@)
	$(CC) $(LIB_CFLAGS) $(CFLAGS) -c $< -o $@
$(B)/libswap/%.o: libswap/%.c
	@mkdir -p $(dir $@)
	$(CC) $(LIB_CFLAGS) $(CFLAGS) -c $< -o $@

$(B):
	@mkdir -p $(B)

$(ZS_SO): $(ZS_OBJS)
	$(CC) -shared -Wl,-soname,libzs.so.$(VERSION_MAJOR) -o $@ $^ $(LDFLAGS) $(LIBS_ZS)
$(B)/libzs.so.$(VERSION_MAJOR): $(ZS_SO)
	ln -sf libzs.so.$(VERSION) $@
$(B)/libzs.so: $(B)/libzs.so.$(VERSION_MAJOR)
	ln -sf libzs.so.$(VERSION_MAJOR) $@
$(B)/libzs.a: $(ZS_OBJS)
	rm -f $@ && $(AR) rcs $@ $^

$(SW_SO): $(SW_OBJS) $(B)/libzs.so
	$(CC) -shared -Wl,-soname,libswap.so.$(VERSION_MAJOR) -o $@ $(SW_OBJS) $(LDFLAGS) -L$(B) -lzs $(LIBS_SW)
$(B)/libswap.so.$(VERSION_MAJOR): $(SW_SO)
	ln -sf libswap.so.$(VERSION) $@
$(B)/libswap.so: $(B)/libswap.so.$(VERSION_MAJOR)
	ln -sf libswap.so.$(VERSION_MAJOR) $@
$(B)/libswap.a: $(SW_OBJS)
	rm -f $@ && $(AR) rcs $@ $^

# .pc files are made again at install time, so they always carry the PREFIX installed to.
PC_SED = sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' \
	    -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' -e 's|@VERSION@|$(VERSION)|g'
$(B)/%.pc: pkgconfig/%.pc.in Makefile | $(B)
	$(PC_SED) $< > $@

# ---- programs linked against the freshly built shared libraries ----
PROG_CFLAGS := $(BASE_CFLAGS) $(CFLAGS)
PROG_LDFLAGS := -L$(B) -Wl,-rpath,$(abspath $(B))
PROG_LIBS_ZS := -lzs -llz4 -lzstd -lpthread -lm
PROG_LIBS_SW := -Wl,--no-as-needed -lswap -lzs -llz4 -lzstd -lxxhash -lurcu-bp -lpthread -lm

# One program per library, and one per fault-injection suite: those interpose mmap, pread and
# pwrite for the whole executable, so they are kept away from the other suites.
ZS_FAULT_TESTS := tests/test_zs_faults.c
SW_FAULT_TESTS := tests/test_swap_faults.c
ZS_TESTS := $(filter-out $(ZS_FAULT_TESTS),$(wildcard tests/test_zs_*.c))
SW_TESTS := $(filter-out $(SW_FAULT_TESTS),$(wildcard tests/test_swap_*.c))
TEST_BINS := $(B)/tests/test_zs $(B)/tests/test_zs_faults \
	$(if $(HAVE_SWAP),$(B)/tests/test_swap $(B)/tests/test_swap_faults,)

# Criterion 2.4 crashes at startup under the thread sanitizer, so a SANITIZE=thread build
# compiles the same suites against tests/nocr, a stand-in header and runner (one forked
# process per test, as Criterion), instead of linking Criterion.
SAN_THREAD := $(filter thread,$(subst $(comma), ,$(SANITIZE)))
CR_CFLAGS := $(if $(SAN_THREAD),-Itests/nocr,)
CR_SRCS := $(if $(SAN_THREAD),tests/nocr/runner.c,)
CR_LIBS := $(if $(SAN_THREAD),,-lcriterion)
# Some tests make an allocation fail on purpose (a calloc of terabytes must return NULL); the
# sanitizers' allocators would end the process instead unless told otherwise.  And
# tests/lsan.supp: a leak inside Criterion's own runner.
SAN_TEST_ENV := $(if $(SANITIZE),ASAN_OPTIONS=allocator_may_return_null=1 \
	TSAN_OPTIONS=allocator_may_return_null=1 LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp,)

# Each suite file is compiled on its own (so the compiler can give its dependencies), then
# linked into one program per library.
TEST_OBJ = $(patsubst %.c,$(B)/obj/%.o,$(1))
$(B)/obj/tests/%.o: tests/%.c
	@mkdir -p $(dir $@)
	$(CC) $(PROG_CFLAGS) $(CR_CFLAGS) -Itests -c $< -o $@

$(B)/tests/test_zs: $(call TEST_OBJ,$(ZS_TESTS) $(CR_SRCS)) $(LIB_TARGETS)
	@mkdir -p $(dir $@)
	$(CC) $(PROG_CFLAGS) -o $@ $(call TEST_OBJ,$(ZS_TESTS) $(CR_SRCS)) $(PROG_LDFLAGS) $(PROG_LIBS_ZS) $(CR_LIBS)

$(B)/tests/test_swap: $(call TEST_OBJ,$(SW_TESTS) $(CR_SRCS)) $(LIB_TARGETS)
	@mkdir -p $(dir $@)
	$(CC) $(PROG_CFLAGS) -o $@ $(call TEST_OBJ,$(SW_TESTS) $(CR_SRCS)) $(PROG_LDFLAGS) $(PROG_LIBS_SW) -lurcu-memb $(CR_LIBS)

$(B)/tests/test_zs_faults: $(call TEST_OBJ,$(ZS_FAULT_TESTS) $(CR_SRCS)) $(LIB_TARGETS)
	@mkdir -p $(dir $@)
	$(CC) $(PROG_CFLAGS) -o $@ $(call TEST_OBJ,$(ZS_FAULT_TESTS) $(CR_SRCS)) $(PROG_LDFLAGS) $(PROG_LIBS_ZS) -ldl $(CR_LIBS)

$(B)/tests/test_swap_faults: $(call TEST_OBJ,$(SW_FAULT_TESTS) $(CR_SRCS)) $(LIB_TARGETS)
	@mkdir -p $(dir $@)
	$(CC) $(PROG_CFLAGS) -o $@ $(call TEST_OBJ,$(SW_FAULT_TESTS) $(CR_SRCS)) $(PROG_LDFLAGS) $(PROG_LIBS_SW) -ldl $(CR_LIBS)

EXAMPLE_SRCS := $(wildcard examples/*.c)
EXAMPLE_BINS := $(patsubst examples/%.c,$(B)/examples/%,$(filter-out examples/swap_%.c,$(EXAMPLE_SRCS))) \
	$(if $(HAVE_SWAP),$(patsubst examples/%.c,$(B)/examples/%,$(filter examples/swap_%.c,$(EXAMPLE_SRCS))),)
$(B)/examples/swap_%: examples/swap_%.c $(LIB_TARGETS)
	@mkdir -p $(dir $@)
	$(CC) $(PROG_CFLAGS) -o $@ $< $(PROG_LDFLAGS) $(PROG_LIBS_SW)
$(B)/examples/%: examples/%.c $(LIB_TARGETS)
	@mkdir -p $(dir $@)
	$(CC) $(PROG_CFLAGS) -o $@ $< $(PROG_LDFLAGS) $(PROG_LIBS_ZS)

# Each part may add a fragment (bench/*.mk, tests/*/*.mk, examples/*/*.mk) that appends to
#   TOOLS            programs `make` builds and `make install` installs (C compiler only)
#   EXTRA_PROGRAMS   built by `make programs` (and so by `make test`)
#   EXTRA_TESTS      phony targets `make test` runs after the Criterion suites
# A fragment defines rules only for its own files.
TOOLS :=
EXTRA_PROGRAMS :=
EXTRA_TESTS :=
include $(sort $(wildcard bench/*.mk tests/*/*.mk examples/*/*.mk))

all: $(TOOLS)
programs: $(TEST_BINS) $(EXAMPLE_BINS) $(TOOLS) $(EXTRA_PROGRAMS)

# ---- the two commands ----
test: deps
	$(MAKE) all programs
	$(if $(SAN_THREAD),@echo "== SANITIZE=$(SANITIZE): the Criterion suites run on tests/nocr's runner; then $(EXTRA_TESTS)")
	@set -e; for t in $(TEST_BINS); do echo "== $$t"; $(SAN_TEST_ENV) $$t --jobs=2; done
	$(if $(EXTRA_TESTS),$(MAKE) $(EXTRA_TESTS))
	$(MAKE) install-test
check: test

CORPUS ?= $(B)/corpus-mixed-64.bin
$(B)/corpus-mixed-%.bin: bench/make-corpus.py | $(B)
	python3 bench/make-corpus.py $@ --mib $* --kind mixed

# make demo DIR=/some/dir swaps the files of that folder instead of the corpus;
# DEMO_FLAGS=-v adds the pool's full per-class table (-m MIB sets the memory limit).
# Then the region demo: a hash table of text records from files on the machine, four times
# its RAM budget, inside a libswap region (REGION_DEMO_FLAGS: see examples/demo/region_demo.c).
# The programs are in examples/demo/ (their rules are in examples/demo/demo.mk).
demo: deps
	$(MAKE) all $(DEMO) $(REGION_DEMO) $(if $(DIR),,$(CORPUS))
	$(DEMO) $(DEMO_FLAGS) $(or $(DIR),$(CORPUS))
	$(REGION_DEMO) $(REGION_DEMO_FLAGS)

# Install into a scratch tree, then build and run a program against it through pkg-config.
install-test: all
	@CC="$(CC)" SAN_CFLAGS="$(SAN_FLAGS)" sh tests/install-test.sh

install: all
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR)/zs $(DESTDIR)$(PKGCONFIGDIR)
	install -m 644 include/zs/zsmalloc.h $(DESTDIR)$(INCLUDEDIR)/zs/
	install -m 755 $(ZS_SO) $(DESTDIR)$(LIBDIR)/
	ln -sf libzs.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libzs.so.$(VERSION_MAJOR)
	ln -sf libzs.so.$(VERSION_MAJOR) $(DESTDIR)$(LIBDIR)/libzs.so
	install -m 644 $(B)/libzs.a $(DESTDIR)$(LIBDIR)/
	$(PC_SED) pkgconfig/libzs.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/libzs.pc
ifneq ($(HAVE_SWAP),)
	install -m 644 include/zs/swap.h include/zs/region.h $(DESTDIR)$(INCLUDEDIR)/zs/
	install -m 755 $(SW_SO) $(DESTDIR)$(LIBDIR)/
	ln -sf libswap.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libswap.so.$(VERSION_MAJOR)
	ln -sf libswap.so.$(VERSION_MAJOR) $(DESTDIR)$(LIBDIR)/libswap.so
	install -m 644 $(B)/libswap.a $(DESTDIR)$(LIBDIR)/
	$(PC_SED) pkgconfig/libswap.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/libswap.pc
endif

uninstall:
	rm -f $(DESTDIR)$(INCLUDEDIR)/zs/zsmalloc.h $(DESTDIR)$(INCLUDEDIR)/zs/swap.h \
		$(DESTDIR)$(INCLUDEDIR)/zs/region.h
	-rmdir $(DESTDIR)$(INCLUDEDIR)/zs 2>/dev/null
	rm -f $(DESTDIR)$(LIBDIR)/libzs.so* $(DESTDIR)$(LIBDIR)/libzs.a $(DESTDIR)$(PKGCONFIGDIR)/libzs.pc
	rm -f $(DESTDIR)$(LIBDIR)/libswap.so* $(DESTDIR)$(LIBDIR)/libswap.a $(DESTDIR)$(PKGCONFIGDIR)/libswap.pc

# Every test under the thread sanitizer: the suites, the stress programs, the corpus replays.
tsan:
	$(MAKE) test SANITIZE=thread

format:
	clang-format -i include/zs/*.h libzs/*.[ch] $(wildcard libswap/*.[ch]) \
		$(wildcard tests/*.[ch] tests/*/*.[ch] bench/*.[ch] examples/*.c examples/*/*.[ch])

clean:
	rm -rf build build-debug build-san-*

# The compiler's dependency files of everything built so far.
-include $(shell find $(B) -name '*.d' 2>/dev/null)
