# Stand-alone multi-thread stress programs (plain C, no Criterion, so that they run under the
# thread sanitizer too): tests/stress_zs.c and tests/stress_swap.c.  Each takes a run length in
# seconds (default 3); `make test` runs short ones, `make stress STRESS_SECONDS=N` longer ones.
STRESS_SECONDS ?= 1
STRESS_BINS := $(B)/tests/stress_zs $(if $(HAVE_SWAP),$(B)/tests/stress_swap,)

$(B)/tests/stress_zs: tests/stress_zs.c tests/stress/stress.h $(LIB_TARGETS)
	@mkdir -p $(dir $@)
	$(CC) $(PROG_CFLAGS) -Itests/stress -Itests -o $@ $< $(PROG_LDFLAGS) $(PROG_LIBS_ZS)

$(B)/tests/stress_swap: tests/stress_swap.c tests/stress/stress.h $(LIB_TARGETS)
	@mkdir -p $(dir $@)
	$(CC) $(PROG_CFLAGS) -Itests/stress -Itests -o $@ $< $(PROG_LDFLAGS) $(PROG_LIBS_SW)

.PHONY: stress
stress: $(STRESS_BINS)
	@set -e; for t in $(STRESS_BINS); do echo "== $$t $(STRESS_SECONDS)"; $$t $(STRESS_SECONDS); done

EXTRA_PROGRAMS += $(STRESS_BINS)
EXTRA_TESTS += stress
