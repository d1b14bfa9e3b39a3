# zsstat: pool and swap statistics as zramctl and debugfs show them (zsstat.c, zsstat_swap.c),
# the zsstat program (installed by make install), and the demo that prints its tables.

ZSSTAT := $(B)/examples/zsstat/zsstat
ZSSTAT_HDR := examples/zsstat/zsstat.h

# Linked with libzs.a, like zcache, so the installed program stands alone.
$(ZSSTAT): examples/zsstat/main.c examples/zsstat/zsstat.c $(ZSSTAT_HDR) $(LIB_TARGETS)
	@mkdir -p $(dir $@)
	$(CC) $(PROG_CFLAGS) -o $@ examples/zsstat/main.c examples/zsstat/zsstat.c \
		$(B)/libzs.a -llz4 -lzstd -lpthread -lm

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

.PHONY: install-zsstat uninstall-zsstat
install: install-zsstat
install-zsstat: $(ZSSTAT)
	install -d $(DESTDIR)$(BINDIR)
	install -m 755 $(ZSSTAT) $(DESTDIR)$(BINDIR)/zsstat

uninstall: uninstall-zsstat
uninstall-zsstat:
	rm -f $(DESTDIR)$(BINDIR)/zsstat
