# zcache: a memcached-protocol cache keeping its values compressed in a libzs pool
# (examples/zcache/*.c, with zsstat's STAT output for "stats" and "stats classes").
#   make programs        builds $(B)/examples/zcache/zcache
#   make zcache-test     real clients against it: pymemcache, memcp/memcat/memslap, HashClient
#   make install         installs it as $(PREFIX)/bin/zcache
#   make bench-zcache    its memory and speed against memcached (bench/zcache_compare.py)

ZCACHE := $(B)/examples/zcache/zcache
ZCACHE_SRCS := $(wildcard examples/zcache/*.c) examples/zsstat/zsstat.c
BINDIR ?= $(PREFIX)/bin

# Linked with libzs.a, so the installed program does not depend on where libzs is installed.
$(ZCACHE): $(ZCACHE_SRCS) examples/zcache/zcache.h examples/zsstat/zsstat.h $(LIB_TARGETS)
	@mkdir -p $(dir $@)
	$(CC) $(PROG_CFLAGS) -o $@ $(ZCACHE_SRCS) $(B)/libzs.a -llz4 -lzstd -lpthread -lm

TOOLS += $(ZCACHE)
EXTRA_TESTS += zcache-test

.PHONY: zcache-test install-zcache uninstall-zcache
zcache-test: $(ZCACHE)
	@sh scripts/deps.sh zcache
	/usr/bin/python3 examples/zcache/test_zcache.py $(ZCACHE)

install: install-zcache
install-zcache: $(ZCACHE)
	install -d $(DESTDIR)$(BINDIR)
	install -m 755 $(ZCACHE) $(DESTDIR)$(BINDIR)/zcache

uninstall: uninstall-zcache
uninstall-zcache:
	rm -f $(DESTDIR)$(BINDIR)/zcache

# The figures against Debian's memcached (run by hand; see bench/zcache_compare.py).
.PHONY: bench-zcache
bench-zcache: $(ZCACHE)
	@sh scripts/deps.sh zcache
	/usr/bin/python3 bench/zcache_compare.py --zcache $(ZCACHE)
