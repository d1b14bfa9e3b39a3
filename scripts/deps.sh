#!/bin/sh
# Install the Debian packages the build needs, when they are missing.
# As root: apt-get installs them.  Otherwise: say what to install and fail.
set -e
need=""
have_hdr() { printf '#include <%s>\n' "$1" | ${CC:-cc} -E -x c - >/dev/null 2>&1; }
command -v cc >/dev/null 2>&1 || need="$need gcc"
command -v make >/dev/null 2>&1 || need="$need make"
command -v pkg-config >/dev/null 2>&1 || need="$need pkg-config"
command -v python3 >/dev/null 2>&1 || need="$need python3"
have_hdr lz4.h || need="$need liblz4-dev"
have_hdr zstd.h || need="$need libzstd-dev"
have_hdr urcu/urcu-memb.h || need="$need liburcu-dev"
have_hdr criterion/criterion.h || need="$need libcriterion-dev"
have_hdr benchmark/benchmark.h 2>/dev/null || [ -f /usr/include/benchmark/benchmark.h ] || need="$need libbenchmark-dev"
command -v g++ >/dev/null 2>&1 || need="$need g++"
[ -z "$need" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
	echo "deps: installing$need"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >/dev/null
	apt-get install -y -qq $need >/dev/null
else
	echo "deps: missing build dependencies:$need" >&2
	echo "deps: install them with: sudo apt-get install$need" >&2
	exit 1
fi
