#!/usr/bin/env bash
# The consumer test: install a built iodb tree into a temporary prefix and use it the ways
# a downstream project would.
#
#   run.sh BUILD_DIR SOURCE_DIR [C_COMPILER]
#
# Checks: include/iodb.h compiles alone as pedantic C99 and as C++; `cmake --install` lays
# down the library, header, iodb.pc and CMake package; a CMake project using
# find_package(iodb) builds and runs against iodb::iodb (static) and iodb::iodb_shared;
# main.c builds and runs with `pkg-config --cflags --libs --static iodb`, against the shared
# library and against libiodb.a. Last line: "N passed, M failed"; exit status 1 if M > 0.
set -uo pipefail

if [ $# -lt 2 ]; then
	echo "usage: $0 BUILD_DIR SOURCE_DIR [C_COMPILER]" >&2
	exit 2
fi
build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
cc=${3:-cc}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

work=$(mktemp -d "${TMPDIR:-/tmp}/iodb-consumer-test.XXXXXX")
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix
export TMPDIR=$work

passed=0
failed=0
n=0

# check NAME CMD...: run CMD, its output in a log shown only on failure.
check() {
	local name=$1
	shift
	n=$((n + 1))
	local log=$work/check-$n.log
	if "$@" >"$log" 2>&1; then
		echo "PASS $name"
		passed=$((passed + 1))
	else
		echo "FAIL $name"
		sed 's/^/    /' "$log" | tail -n 60
		failed=$((failed + 1))
		return 1
	fi
}

# run_ok PROGRAM: the program must exit 0 and print OK as its last line.
run_ok() {
	local out rc=0
	out=$("$@") || rc=$?
	printf '%s\n' "$out"
	[ "$rc" -eq 0 ] || { echo "exit status $rc"; return 1; }
	[ "$(printf '%s\n' "$out" | tail -n 1)" = "OK" ]
}

header_c() {
	gcc -std=c99 -pedantic -Wall -Werror -fsyntax-only -x c "$src/include/iodb.h" &&
		gcc -std=c11 -pedantic -Wall -Wextra -Werror -fsyntax-only -x c "$src/include/iodb.h"
}
header_cxx() {
	g++ -fsyntax-only -x c++ "$src/include/iodb.h" &&
		g++ -std=c++11 -pedantic -Wall -Wextra -Werror -fsyntax-only -x c++ "$src/include/iodb.h"
}

install_tree() {
	cmake --install "$build" --prefix "$prefix" || return 1
	# GNUInstallDirs may pick lib/ or lib/<multiarch>/: find where it went.
	local a
	a=$(find "$prefix" -name 'libiodb.a' | head -n 1)
	if [ -z "$a" ]; then
		echo "no libiodb.a under $prefix"
		return 1
	fi
	libdir=$(dirname "$a")
	local f
	for f in "$libdir/libiodb.a" "$libdir/libiodb.so" "$prefix/include/iodb.h" \
		"$libdir/pkgconfig/iodb.pc" "$libdir/cmake/iodb/iodbConfig.cmake" \
		"$libdir/cmake/iodb/iodbConfigVersion.cmake" "$libdir/cmake/iodb/iodbTargets.cmake"; do
		[ -e "$f" ] || { echo "missing: $f"; return 1; }
	done
	echo "installed into $prefix (libdir $libdir)"
}

cmake_consumer() {
	cmake -S "$here" -B "$work/consumer-build" -DCMAKE_PREFIX_PATH="$prefix" \
		-DCMAKE_C_COMPILER="$cc" -DCMAKE_BUILD_TYPE=Release &&
		cmake --build "$work/consumer-build" -j 2
}

pc() {
	PKG_CONFIG_PATH=$libdir/pkgconfig pkg-config "$@"
}

# pkg-config as given: -liodb picks libiodb.so when both are installed.
pkgconfig_shared() {
	local flags
	flags=$(pc --cflags --libs --static iodb) || return 1
	echo "pkg-config: $flags"
	# shellcheck disable=SC2086
	"$cc" -std=c11 -Wall -Wextra -Werror -o "$work/pc_shared" "$here/main.c" $flags &&
		LD_LIBRARY_PATH=$libdir run_ok "$work/pc_shared"
}

# The same flags with libiodb.a forced: proves Requires.private/Libs.private are complete.
pkgconfig_static() {
	local flags
	flags=$(pc --cflags --libs --static iodb) || return 1
	flags=$(printf '%s' "$flags" | sed 's/-liodb\b/-l:libiodb.a/')
	echo "flags: $flags"
	# shellcheck disable=SC2086
	"$cc" -std=c11 -Wall -Wextra -Werror -o "$work/pc_static" "$here/main.c" $flags &&
		{ ! readelf -d "$work/pc_static" | grep -q 'libiodb\.so' || { echo "linked libiodb.so"; return 1; }; } &&
		run_ok "$work/pc_static"
}

libdir=
check "iodb.h compiles alone as C (c99/c11, -pedantic -Werror)" header_c
check "iodb.h compiles as C++" header_cxx
if check "cmake --install into a temporary prefix" install_tree; then
	check "find_package(iodb): consumer project configures and builds" cmake_consumer
	check "find_package(iodb): iodb::iodb (static) runs" \
		run_ok "$work/consumer-build/consumer_static"
	check "find_package(iodb): iodb::iodb_shared runs" \
		run_ok "$work/consumer-build/consumer_shared"
	check "pkg-config --static iodb: builds and runs (libiodb.so)" pkgconfig_shared
	check "pkg-config --static iodb: builds and runs (libiodb.a)" pkgconfig_static
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
