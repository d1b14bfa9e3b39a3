# bench/bench.mk - the benchmark suite (included by the main Makefile).
#
#   make bench         build and run every benchmark (medians of BENCH_REPS repetitions, random
#                      interleaving), write Google Benchmark's JSON to bench/results/bench.json,
#                      then regenerate BENCHMARKS.md, bench/plots/*.png and
#                      bench/results/readme-table.md (bench/report.py); about 20 minutes on
#                      2 cores.
#   make bench-readme  paste bench/results/readme-table.md into README.md between the lines
#                      <!-- figures:begin --> and <!-- figures:end --> (bench/update-readme.py).
#   make bench-quick   every benchmark once, briefly, over small corpora, into $(B)/bench/quick/
#                      (the committed results are left alone); fails if any benchmark failed.
#                      Rows that need root or zram are skipped with a message.
#   Both also run bench/zcache_compare.py (zcache against Debian's memcached; the quick run
#   with 3000 values and one memslap round) and put its figures in the same report.
#
# One program, $(B)/bench/zsbench: every bench/*.c (benchmark bodies in C, see bench/bench.h)
# plus bench/bench_main.cc.  Extra Google Benchmark options: BENCH_ARGS=..., e.g.
# BENCH_ARGS=--benchmark_filter=swap_ to run a part.

BENCH_BIN := $(B)/bench/zsbench
BENCH_C_SRCS := $(wildcard bench/*.c)
BENCH_OBJS := $(BENCH_C_SRCS:bench/%.c=$(B)/bench/%.o) $(B)/bench/bench_main.o
BENCH_HDRS := $(wildcard bench/*.h include/zs/*.h)
CXX ?= g++
BENCH_CXXFLAGS := -std=gnu++17 -Wall -Wextra -Wshadow -Wcast-qual -Wundef -Wpointer-arith $(WERROR) $(SAN_FLAGS) $(CFLAGS) -Iinclude -Ibench -Itests

# The page corpora, made by the project's own copy of make-corpus.py.
BENCH_KINDS := mixed bin text
BENCH_MIB ?= 64
BENCH_QUICK_MIB := 4
BENCH_REPS ?= 5
CORPUS_PY := bench/make-corpus.py
BENCH_CORPUS_DIR := $(B)/bench/corpus-$(BENCH_MIB)
BENCH_QUICK_CORPUS_DIR := $(B)/bench/corpus-$(BENCH_QUICK_MIB)
BENCH_PY := /usr/bin/python3

EXTRA_PROGRAMS += $(BENCH_BIN)

.PHONY: bench bench-quick bench-readme

$(B)/bench/%.o: bench/%.c $(BENCH_HDRS) | $(B)
	@mkdir -p $(dir $@)
	$(CC) $(PROG_CFLAGS) -Ibench -Itests -c $< -o $@

$(B)/bench/bench_main.o: bench/bench_main.cc bench/bench.h | $(B)
	@mkdir -p $(dir $@)
	$(CXX) $(BENCH_CXXFLAGS) -c $< -o $@

$(BENCH_BIN): $(BENCH_OBJS) $(LIB_TARGETS)
	$(CXX) $(SAN_FLAGS) -o $@ $(BENCH_OBJS) $(PROG_LDFLAGS) $(PROG_LIBS_SW) -lbenchmark -lpthread

$(BENCH_CORPUS_DIR)/corpus-%.bin: $(CORPUS_PY)
	@mkdir -p $(dir $@)
	python3 $(CORPUS_PY) $@ --mib $(BENCH_MIB) --kind $*

$(BENCH_QUICK_CORPUS_DIR)/corpus-%.bin: $(CORPUS_PY)
	@mkdir -p $(dir $@)
	python3 $(CORPUS_PY) $@ --mib $(BENCH_QUICK_MIB) --kind $*

bench:
	@sh scripts/deps.sh build bench
	$(MAKE) all $(BENCH_BIN) $(BENCH_KINDS:%=$(BENCH_CORPUS_DIR)/corpus-%.bin)
	@mkdir -p bench/results bench/plots
	$(BENCH_BIN) --corpus-dir=$(BENCH_CORPUS_DIR) --benchmark_context=corpus_mib=$(BENCH_MIB) \
		--benchmark_repetitions=$(BENCH_REPS) --benchmark_enable_random_interleaving=true \
		--benchmark_display_aggregates_only=true \
		--benchmark_out=bench/results/bench.json --benchmark_out_format=json $(BENCH_ARGS)
	@sh scripts/deps.sh zcache
	$(MAKE) $(ZCACHE)
	$(BENCH_PY) bench/zcache_compare.py --zcache $(ZCACHE) --runs 5 > bench/results/zcache.txt
	cat bench/results/zcache.txt
	$(BENCH_PY) bench/report.py bench/results/bench.json --md BENCHMARKS.md \
		--plots bench/plots --readme-table bench/results/readme-table.md \
		--zcache bench/results/zcache.txt

bench-quick:
	@sh scripts/deps.sh build bench
	$(MAKE) all $(BENCH_BIN) $(BENCH_KINDS:%=$(BENCH_QUICK_CORPUS_DIR)/corpus-%.bin)
	@mkdir -p $(B)/bench/quick
	$(BENCH_BIN) --quick --corpus-dir=$(BENCH_QUICK_CORPUS_DIR) --benchmark_min_time=0.01 \
		--benchmark_context=corpus_mib=$(BENCH_QUICK_MIB) \
		--benchmark_out=$(B)/bench/quick/bench.json --benchmark_out_format=json $(BENCH_ARGS)
	@sh scripts/deps.sh zcache
	$(MAKE) $(ZCACHE)
	$(BENCH_PY) bench/zcache_compare.py --zcache $(ZCACHE) --values 3000 --mb 64 --runs 1 \
		--execute 2000 > $(B)/bench/quick/zcache.txt
	$(BENCH_PY) bench/report.py $(B)/bench/quick/bench.json --md $(B)/bench/quick/BENCHMARKS.md \
		--plots $(B)/bench/quick/plots --readme-table $(B)/bench/quick/readme-table.md \
		--zcache $(B)/bench/quick/zcache.txt

bench-readme:
	python3 bench/update-readme.py README.md bench/results/readme-table.md
