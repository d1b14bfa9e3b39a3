#!/bin/sh
# Run memcached's own Perl test suite (t/*.t of a memcached checkout) against zcache.
#   usage: sh scripts/memcached-suite.sh MEMCACHED_CHECKOUT ZCACHE [TEST.t ...]
# The suite is not ours and is never copied into this tree: its t/ is copied into a scratch
# directory, which is the "build directory" the harness (t/lib/MemcachedTest.pm) expects, and
# two stand-ins are put beside it there:
#   memcached-debug  runs ZCACHE, dropping the options that only matter to memcached's own
#                    process (-u user, -U udp port, -o relaxed_privileges)
#   timedrun         runs its command without memcached's watchdog (zcache dies with the test)
# With no TEST, the files listed in ZC_SUITE_FILES (the text and meta protocol ones zcache
# claims) are run.  Prints prove's summary; exits non-zero when a file fails.
set -e
src=$1
zc=$2
[ -d "$src/t/lib" ] && [ -x "$zc" ] || {
	echo "usage: sh scripts/memcached-suite.sh MEMCACHED_CHECKOUT ZCACHE [TEST.t ...]" >&2
	exit 2
}
shift 2
zc=$(cd "$(dirname "$zc")" && pwd)/$(basename "$zc")
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cp -r "$src/t" "$dir/t"
# Some files read the protocol document (line-lengths.t) from the build directory too.
[ -d "$src/doc" ] && cp -r "$src/doc" "$dir/doc"
cat > "$dir/memcached-debug" <<SHIM
#!/bin/bash
# Translates memcached's test-harness options for zcache.
args=()
while [ \$# -gt 0 ]; do
	case "\$1" in
	-u|-U) shift 2; continue ;;
	-o) if [ "\$2" = relaxed_privileges ]; then shift 2; continue; fi ;;
	esac
	args+=("\$1")
	shift
done
exec "$zc" "\${args[@]}"
SHIM
printf '#!/bin/sh\nshift\nexec "$@"\n' > "$dir/timedrun"
chmod +x "$dir/memcached-debug" "$dir/timedrun"
[ $# -eq 0 ] && set -- ${ZC_SUITE_FILES:?set ZC_SUITE_FILES or name the test files}
cd "$dir"
files=
for t in "$@"; do files="$files t/$(basename "$t")"; done
# Each file gets a bounded time: a helper waiting for a reply zcache does not send would
# otherwise hang the run.
status=0
for f in $files; do
	if timeout ${ZC_SUITE_TIMEOUT:-120} prove -Q "$f" >"$dir/out" 2>&1; then
		echo "ok   $f"
	else
		echo "FAIL $f"
		sed 's/^/     /' "$dir/out" | head -${ZC_SUITE_LINES:-15}
		status=1
	fi
done
exit $status
