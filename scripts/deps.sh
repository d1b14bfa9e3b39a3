#!/bin/sh
# Install the Debian packages a make target needs, when they are missing.
#   usage: sh scripts/deps.sh [GROUP...]     (default: build)
#   build   compilers and the libraries the build and the tests link
#   bench   make bench: jemalloc, mimalloc and matplotlib for the comparisons and plots
#   fuzz    make fuzz: clang with libFuzzer and the sanitizer runtimes
#   zcache  zcache's tests: memcached, pymemcache, libmemcached's tools and twemproxy
#           (nutcracker) as real peers
# As root: apt-get installs them.  Otherwise: say what to install and fail.
set -e
need=""
have_hdr() { printf '#include <%s>\n' "$1" | ${CC:-cc} -E -x c - >/dev/null 2>&1; }
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'ok installed'; }
want_pkg() { have_pkg "$1" || need="$need $1"; }

[ $# -eq 0 ] && set -- build
for group in "$@"; do
	case $group in
	build)
		command -v cc >/dev/null 2>&1 || need="$need gcc"
		command -v g++ >/dev/null 2>&1 || need="$need g++"
		command -v make >/dev/null 2>&1 || need="$need make"
		command -v pkg-config >/dev/null 2>&1 || need="$need pkg-config"
		command -v python3 >/dev/null 2>&1 || need="$need python3"
		have_hdr lz4.h || need="$need liblz4-dev"
		have_hdr zstd.h || need="$need libzstd-dev"
		have_hdr xxhash.h || need="$need libxxhash-dev"
		have_hdr urcu/urcu-bp.h || need="$need liburcu-dev"
		have_hdr criterion/criterion.h || need="$need libcriterion-dev"
		[ -f /usr/include/benchmark/benchmark.h ] || need="$need libbenchmark-dev"
		;;
	bench)
		for p in libjemalloc2 libmimalloc2.0 python3-matplotlib; do want_pkg $p; done
		;;
	fuzz)
		for p in clang libclang-rt-14-dev; do want_pkg $p; done
		;;
	zcache)
		for p in memcached python3-pymemcache libmemcached-tools nutcracker; do want_pkg $p; done
		;;
	*)
		echo "deps: unknown group '$group'" >&2
		exit 2
		;;
	esac
done
[ -z "$need" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
	echo "deps: installing$need"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >/dev/null
	apt-get install -y -qq $need >/dev/null
else
	echo "deps: missing dependencies:$need" >&2
	echo "deps: install them with: sudo apt-get install$need" >&2
	exit 1
fi
