# The demo: `make demo` (the main Makefile's target) runs it over a page corpus or a folder;
# zsstat-test runs it over a small folder.  It prints zsstat's tables, so it is built with
# zsstat's sources.
DEMO := $(B)/examples/demo/demo
DEMO_SRCS := examples/demo/demo.c examples/zsstat/zsstat.c examples/zsstat/zsstat_swap.c

$(DEMO): $(DEMO_SRCS) $(LIB_TARGETS)
	@mkdir -p $(dir $@)
	$(CC) $(PROG_CFLAGS) -Iexamples/zsstat -o $@ $(DEMO_SRCS) $(PROG_LDFLAGS) $(PROG_LIBS_SW)

EXTRA_PROGRAMS += $(DEMO)
