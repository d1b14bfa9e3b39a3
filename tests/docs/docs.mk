# The API reference (docs/libzs.md, docs/libswap.md, docs/region.md) is generated from the public headers'
# comments by scripts/gendocs.py, with snippets from the examples:
#   make docs           regenerate it after editing a header comment or an example
#   make docs-check     (part of make test) fail if the committed pages differ from what the
#                       headers give, if an exported symbol has no section, or if an example
#                       is missing from docs/README.md
#   make examples-test  (part of make test) run every small example; each must exit 0
.PHONY: docs docs-check examples-test
EXTRA_TESTS += docs-check examples-test

# library:its pages (comma-separated); every symbol it exports needs a section in one of them
DOC_LIBS := $(B)/libzs.so:docs/libzs.md \
	$(if $(HAVE_SWAP),$(B)/libswap.so:docs/libswap.md$(comma)docs/region.md,)

docs:
	python3 scripts/gendocs.py

docs-check: $(LIB_TARGETS)
	@python3 scripts/gendocs.py --check
	@set -e; missing=; \
	for pair in $(DOC_LIBS); do \
		lib=$${pair%%:*}; page=$${pair#*:}; \
		for sym in $$(nm -D --defined-only $$lib | awk '$$2 == "T" {print $$3}'); do \
			grep -q "<a id=\"$$sym\"></a>" $$(echo $$page | tr , ' ') || missing="$$missing $$sym"; \
		done; \
	done; \
	for ex in $(wildcard examples/*.c); do \
		grep -q "$$ex" docs/README.md || missing="$$missing $$ex"; \
	done; \
	if [ -n "$$missing" ]; then echo "docs-check: no reference section or index entry for:$$missing (document it in the header, then run make docs)" >&2; exit 1; fi
	@echo "docs-check: reference pages match the headers; every exported symbol and example is documented"

# The demo (examples/demo/) takes a corpus and runs under `make demo` and zsstat-test.
examples-test: $(EXAMPLE_BINS)
	@set -e; for ex in $(EXAMPLE_BINS); do \
		echo "== $$ex"; \
		timeout 120 $$ex || { echo "examples-test: $$ex failed (exit $$?)" >&2; exit 1; }; \
	done
