# Fuzz targets (tests/fuzz/fuzz_*.c, one property each) in two builds:
#   make fuzz FUZZ_SECONDS=N   libFuzzer with clang, ASan and UBSan, N seconds per target (with
#                              the target's own libFuzzer options, FUZZ_FLAGS_<target>); new
#                              inputs go to $(B)/fuzz/corpus/<target>, crashes to
#                              $(B)/fuzz/artifacts/<target>/ (copy the good ones into
#                              tests/fuzz/corpus/<target>/ to keep them)
#   make test                  replays tests/fuzz/corpus/<target>/ through replay.c, built with
#                              the normal compiler (and SANITIZE= flags): no libFuzzer needed
# Both link the library code statically, never an installed .so: the fuzz build compiles the
# sources with coverage instrumentation and the sanitizers, the replay build takes this
# build's libzs.a and libswap.a.  So a target may reach internals; fuzz_swap_corrupt wraps
# zs_obj_write (ld --wrap) to learn where the memory backend put each compressed page, and
# the swap targets wrap posix_fallocate to leave their swap files (in /dev/shm) sparse (fuzz.h).
# A target over a program's code names its sources in FUZZ_EXTRA_SRCS_<target> (zcache.mk
# does for fuzz_zcache_proto); both builds compile them in.  Such a target may link the library
# without coverage instrumentation (FUZZ_LIB_OBJS_<target> = $(FUZZ_ZS_NOCOV_OBJS)): still
# under ASan and UBSan, but the fuzzer's feedback and time go to the program's code.

FUZZ_TARGETS := $(patsubst tests/fuzz/%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_SECONDS ?= 60
FUZZ_CC ?= clang
FUZZ_DIR := $(B)/fuzz
# FUZZ_OPT: -O1, or what a fragment sets for its own objects and target (zcache.mk: -O2).
FUZZ_OPT := -O1
FUZZ_CFLAGS = -std=gnu11 -g $(FUZZ_OPT) $(WARN_FLAGS) $(WERROR) -D_GNU_SOURCE -Iinclude -pthread \
	-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_LIB_OBJS := $(patsubst %.c,$(FUZZ_DIR)/obj/%.o,$(ZS_SRCS) $(SW_SRCS))
FUZZ_BINS := $(addprefix $(FUZZ_DIR)/,$(FUZZ_TARGETS))
FUZZ_LIBS := $(LIBS_SW) -lm
FUZZ_WRAP_fuzz_swap_corrupt := -Wl,--wrap=zs_obj_write -Wl,--wrap=posix_fallocate
FUZZ_WRAP_fuzz_swap_ops := -Wl,--wrap=posix_fallocate
FUZZ_HDRS := tests/fuzz/fuzz.h $(wildcard include/zs/*.h libzs/*.h libswap/*.h)

# The libraries are built without comparison tracing, but for the files that compare input
# bytes against values a fuzzer has to guess (the swap header's magic and fields, zcache's
# command names, flags and numbers): elsewhere the comparisons are of sizes, counts, links and
# page words, which no input has to guess, and tracing them took half the time of fuzz_zs_ops
# (compaction's loops) and a tenth of the swap targets' (the same-filled page test and fill).
# Edge coverage stays everywhere.
FUZZ_CMP_FILES := libswap/swap_header examples/zcache/proto examples/zcache/meta \
	examples/zcache/store examples/zcache/codec
FUZZ_COV = $(if $(filter $(1),$(FUZZ_CMP_FILES)),,-fno-sanitize-coverage=trace-cmp)

FUZZ_ZS_NOCOV_OBJS := $(patsubst %.c,$(FUZZ_DIR)/obj-nocov/%.o,$(ZS_SRCS))

# The swap targets' feedback goes to libswap: libzs, which fuzz_zs_ops covers on its own, is
# linked without coverage instrumentation (still under ASan and UBSan).  Its edges were a fifth
# of their time (libFuzzer's per-edge bookkeeping and the counters themselves).
FUZZ_SW_OBJS := $(patsubst %.c,$(FUZZ_DIR)/obj/%.o,$(SW_SRCS))
FUZZ_LIB_OBJS_fuzz_swap_ops = $(FUZZ_SW_OBJS) $(FUZZ_ZS_NOCOV_OBJS)
FUZZ_LIB_OBJS_fuzz_swap_corrupt = $(FUZZ_SW_OBJS) $(FUZZ_ZS_NOCOV_OBJS)
FUZZ_LIB_OBJS_fuzz_swap_header = $(FUZZ_SW_OBJS) $(FUZZ_ZS_NOCOV_OBJS)

# libFuzzer's options of a target (FUZZ_FLAGS_<target>).  fuzz_swap_ops keeps its areas across
# inputs, and an input that reaches new slots grows their swap cache's tree, which stays with
# the area: libFuzzer took every such input for a possible leak, ran it again and then a full
# leak scan, which was 40% of the target's time.  fuzz_zs_ops keeps its pools likewise (their
# heap blocks of long zspages and per-thread caches stay with the pool): 14% of its time.
# Leaks are still found: LeakSanitizer checks at exit, after every kept area and pool has been
# taken down, and the corpus replay under ASan in `make test SANITIZE=address,undefined`
# checks each input's.
FUZZ_FLAGS_fuzz_swap_ops := -detect_leaks=0
FUZZ_FLAGS_fuzz_zs_ops := -detect_leaks=0

.SECONDARY: $(FUZZ_LIB_OBJS) $(FUZZ_ZS_NOCOV_OBJS)
$(FUZZ_DIR)/obj/%.o: %.c $(wildcard include/zs/*.h libzs/*.h libswap/*.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link $(call FUZZ_COV,$*) \
		-fvisibility=hidden -DZS_BUILDING_LIBRARY -c $< -o $@
$(FUZZ_DIR)/obj-nocov/%.o: %.c $(wildcard include/zs/*.h libzs/*.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fvisibility=hidden -DZS_BUILDING_LIBRARY -c $< -o $@

# The fuzz build's objects of a target's extra sources (none for most), and of the libraries.
fuzz_extra_objs = $(addprefix $(FUZZ_DIR)/obj/,$(patsubst %.c,%.o,$(FUZZ_EXTRA_SRCS_$(1))))
fuzz_lib_objs = $(or $(FUZZ_LIB_OBJS_$(1)),$(FUZZ_LIB_OBJS))

.SECONDEXPANSION:
$(FUZZ_DIR)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_HDRS) $$(call fuzz_lib_objs,fuzz_$$*) \
		$$(call fuzz_extra_objs,fuzz_$$*)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -Ilibzs -Ilibswap -o $@ $< \
		$(call fuzz_lib_objs,fuzz_$*) $(call fuzz_extra_objs,fuzz_$*) $(FUZZ_WRAP_fuzz_$*) \
		$(FUZZ_LIBS)

# The replay build: the target, replay.c's main() and the static libraries of this build.
FUZZ_REPLAY_BINS := $(addprefix $(B)/fuzz-replay/,$(FUZZ_TARGETS))
$(B)/fuzz-replay/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/replay.c $(FUZZ_HDRS) $(LIB_TARGETS) \
		$$(FUZZ_EXTRA_SRCS_fuzz_$$*)
	@mkdir -p $(dir $@)
	$(CC) $(PROG_CFLAGS) -Ilibzs -Ilibswap -o $@ $< tests/fuzz/replay.c \
		$(FUZZ_EXTRA_SRCS_fuzz_$*) \
		$(FUZZ_WRAP_fuzz_$*) $(B)/libswap.a $(B)/libzs.a $(LDFLAGS) $(FUZZ_LIBS)

ifneq ($(HAVE_SWAP),)
EXTRA_PROGRAMS += $(FUZZ_REPLAY_BINS)
EXTRA_TESTS += fuzz-replay
endif

.PHONY: fuzz fuzz-build fuzz-replay
fuzz-replay: $(FUZZ_REPLAY_BINS)
	@set -e; for t in $(FUZZ_TARGETS); do \
		echo "== replay tests/fuzz/corpus/$$t"; \
		$(B)/fuzz-replay/$$t tests/fuzz/corpus/$$t; \
	done

fuzz-build:
	@sh scripts/deps.sh build fuzz
	$(MAKE) $(FUZZ_BINS)

fuzz: fuzz-build
	@set -e; $(foreach t,$(FUZZ_TARGETS), \
		mkdir -p $(FUZZ_DIR)/corpus/$(t) $(FUZZ_DIR)/artifacts/$(t); \
		echo "== fuzz $(t) for $(FUZZ_SECONDS) s"; \
		$(FUZZ_DIR)/$(t) $(FUZZ_FLAGS_$(t)) -max_total_time=$(FUZZ_SECONDS) \
			-print_final_stats=1 -timeout=20 -artifact_prefix=$(FUZZ_DIR)/artifacts/$(t)/ \
			$(FUZZ_DIR)/corpus/$(t) tests/fuzz/corpus/$(t);)
