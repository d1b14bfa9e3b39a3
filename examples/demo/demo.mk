# The demo: `make demo` (the main Makefile's target) runs it over a page corpus or a folder;
# zsstat-test runs it over a small folder.  It prints zsstat's tables, so it is built with
# zsstat's sources.
DEMO := $(B)/examples/demo/demo
DEMO_SRCS := examples/demo/demo.c examples/zsstat/zsstat.c examples/zsstat/zsstat_swap.c

$(DEMO): $(DEMO_SRCS) $(LIB_TARGETS)
	@mkdir -p $(dir $@)
	$(CC) $(PROG_CFLAGS) -Iexamples/zsstat -o $@ $(DEMO_SRCS) $(PROG_LDFLAGS) $(PROG_LIBS_SW)

EXTRA_PROGRAMS += $(DEMO)

# The region demo (`make demo` runs it after the demo): a hash table four times its RAM budget
# inside a libswap region.
REGION_DEMO := $(B)/examples/demo/region_demo

$(REGION_DEMO): examples/demo/region_demo.c $(LIB_TARGETS)
	@mkdir -p $(dir $@)
	$(CC) $(PROG_CFLAGS) -o $@ $< $(PROG_LDFLAGS) $(PROG_LIBS_SW)

EXTRA_PROGRAMS += $(REGION_DEMO)
