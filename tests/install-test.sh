#!/bin/sh
# Install into a scratch tree (PREFIX + DESTDIR), then build and run a program against the
# installed headers and libraries found only through pkg-config; then uninstall and check that
# nothing is left.  Run by `make test`; with SANITIZE=... the installed libraries carry the
# sanitizer, so the programs are built with its flags ($SAN_CFLAGS, from the Makefile).
set -e
top=$(pwd)
root=$(mktemp -d "${TMPDIR:-/tmp}/zs-install.XXXXXX")
trap 'rm -rf "$root"' EXIT
prefix=/opt/zs-test
make -s install DESTDIR="$root" PREFIX="$prefix" >/dev/null
lib="$root$prefix/lib"
export PKG_CONFIG_PATH="$lib/pkgconfig"
export PKG_CONFIG_SYSROOT_DIR="$root"

fail() { echo "install-test: FAIL: $*" >&2; exit 1; }
[ -L "$lib/libzs.so" ] && [ -L "$lib/libzs.so.0" ] && [ -f "$lib/libzs.so.0.1.0" ] || fail "libzs.so links"
[ -f "$lib/libzs.a" ] || fail "libzs.a missing"
soname=$(objdump -p "$lib/libzs.so.0.1.0" | awk '/SONAME/ {print $2}')
[ "$soname" = libzs.so.0 ] || fail "SONAME is '$soname'"
bad=$(nm -D --defined-only "$lib/libzs.so.0.1.0" | awk '$2 ~ /[TDBR]/ {print $3}' | grep -v '^zs_' || true)
[ -z "$bad" ] || fail "non-public symbols exported: $bad"

cat > "$root/prog.c" <<'PROG'
#include <string.h>
#include <stdio.h>
#include <zs/zsmalloc.h>
int main(void)
{
	struct zs_pool *pool = zs_create_pool("install-test");
	unsigned long h = zs_malloc(pool, 100);
	char *p = zs_map_object(pool, h, ZS_MM_WO);
	memcpy(p, "installed", 10);
	zs_unmap_object(pool, h);
	p = zs_map_object(pool, h, ZS_MM_RO);
	int ok = strcmp(p, "installed") == 0;
	zs_unmap_object(pool, h);
	ok = ok && zs_free(pool, h) == 0 && zs_free(pool, h) == -22;
	zs_destroy_pool(pool);
	puts(ok ? "libzs: ok" : "libzs: FAIL");
	return !ok;
}
PROG
${CC:-cc} $SAN_CFLAGS $(pkg-config --cflags libzs) -o "$root/prog" "$root/prog.c" $(pkg-config --libs libzs)
LD_LIBRARY_PATH="$lib" "$root/prog" || fail "program against the installed libzs"
# the static library links too
${CC:-cc} $SAN_CFLAGS $(pkg-config --cflags libzs) -o "$root/prog-static" "$root/prog.c" "$lib/libzs.a" -lpthread
"$root/prog-static" >/dev/null || fail "program against libzs.a"

if [ -f "$lib/pkgconfig/libswap.pc" ] && [ -f "$top/tests/install-prog-swap.c" ]; then
	${CC:-cc} $SAN_CFLAGS $(pkg-config --cflags libswap) -o "$root/prog-swap" "$top/tests/install-prog-swap.c" \
		$(pkg-config --libs libswap) || fail "build against the installed libswap"
	LD_LIBRARY_PATH="$lib" "$root/prog-swap" || fail "program against the installed libswap"
fi

make -s uninstall DESTDIR="$root" PREFIX="$prefix" >/dev/null
left=$(find "$root$prefix" -type f 2>/dev/null | head -5)
[ -z "$left" ] || fail "uninstall left: $left"
echo "install-test: 1 passed, 0 failed"
