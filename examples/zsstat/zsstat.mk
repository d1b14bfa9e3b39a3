# zsstat: pool and swap statistics as zramctl and debugfs show them (zsstat.c, zsstat_swap.c)
# and the zsstat program (installed by make install).  zsstat-test also runs the demo
# (examples/demo/demo.mk), which prints its tables.

ZSSTAT := $(B)/examples/zsstat/zsstat
ZSSTAT_HDR := examples/zsstat/zsstat.h

# Linked with libzs.a, like zcache, so the installed program stands alone.
$(ZSSTAT): examples/zsstat/main.c examples/zsstat/zsstat.c $(ZSSTAT_HDR) $(LIB_TARGETS)
	@mkdir -p $(dir $@)
	$(CC) $(PROG_CFLAGS) -o $@ examples/zsstat/main.c examples/zsstat/zsstat.c \
		$(B)/libzs.a -llz4 -lzstd -lpthread -lm

TOOLS += $(ZSSTAT)
EXTRA_TESTS += zsstat-test

.PHONY: zsstat-test
zsstat-test: $(ZSSTAT) $(DEMO)
	sh examples/zsstat/test-zsstat.sh $(ZSSTAT) $(DEMO)

.PHONY: install-zsstat uninstall-zsstat
install: install-zsstat
install-zsstat: $(ZSSTAT)
	install -d $(DESTDIR)$(BINDIR)
	install -m 755 $(ZSSTAT) $(DESTDIR)$(BINDIR)/zsstat

uninstall: uninstall-zsstat
uninstall-zsstat:
	rm -f $(DESTDIR)$(BINDIR)/zsstat
