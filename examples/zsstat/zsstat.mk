# zsstat: pool and swap statistics as zramctl and debugfs show them (zsstat.c, zsstat_swap.c),
# the zsstat program, and the demo that prints its tables.

ZSSTAT := $(B)/examples/zsstat/zsstat
ZSSTAT_HDR := examples/zsstat/zsstat.h

$(ZSSTAT): examples/zsstat/main.c examples/zsstat/zsstat.c $(ZSSTAT_HDR) $(LIB_TARGETS)
	@mkdir -p $(dir $@)
	$(CC) $(PROG_CFLAGS) -o $@ examples/zsstat/main.c examples/zsstat/zsstat.c \
		$(PROG_LDFLAGS) $(PROG_LIBS_ZS)

# The demo runs pages through libswap and prints zsstat's tables: an explicit rule, taking
# precedence over the generic examples/% one of the main Makefile.
$(B)/examples/demo: examples/demo.c examples/zsstat/zsstat.c examples/zsstat/zsstat_swap.c \
		$(ZSSTAT_HDR) $(LIB_TARGETS)
	@mkdir -p $(dir $@)
	$(CC) $(PROG_CFLAGS) -Iexamples/zsstat -o $@ examples/demo.c examples/zsstat/zsstat.c \
		examples/zsstat/zsstat_swap.c $(PROG_LDFLAGS) $(PROG_LIBS_SW)

EXTRA_PROGRAMS += $(ZSSTAT)
EXTRA_TESTS += zsstat-test

.PHONY: zsstat-test
zsstat-test: $(ZSSTAT) $(B)/examples/demo
	sh examples/zsstat/test-zsstat.sh $(ZSSTAT) $(B)/examples/demo
