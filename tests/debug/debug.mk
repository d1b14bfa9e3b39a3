# The validators of a DEBUG=1 build must be able to fail: tests/debug/zs_debug_abort.c breaks
# one invariant of a live pool at a time (through libzs's internal headers, in a forked child)
# and checks that the next call aborts with the validator's message.  In a normal build the
# validators are compiled out and the program says so and passes.
ZS_DEBUG_ABORT := $(B)/tests/zs_debug_abort

$(ZS_DEBUG_ABORT): tests/debug/zs_debug_abort.c $(LIB_TARGETS)
	@mkdir -p $(dir $@)
	$(CC) $(PROG_CFLAGS) -Ilibzs -o $@ $< $(PROG_LDFLAGS) $(PROG_LIBS_ZS)

.PHONY: debug-abort-test
debug-abort-test: $(ZS_DEBUG_ABORT)
	$(ZS_DEBUG_ABORT)

EXTRA_PROGRAMS += $(ZS_DEBUG_ABORT)
EXTRA_TESTS += debug-abort-test
