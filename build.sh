#!/usr/bin/env bash
# Build iodb and run its demo or its tests (Debian 12).
#
#   ./build.sh demo                                Release build in ./build, run the demo
#   ./build.sh test                                build ./build, run every test with ctest
#   ./build.sh test --sanitize=address,undefined   the same in ./build-asan (ASan + UBSan)
#   ./build.sh test --sanitize=thread              the same in ./build-tsan (TSan)
#
# Arguments after `--` go to ctest (e.g. ./build.sh test -- -R journal).
# Missing Debian packages are installed first (apt-get; sudo when not root).
# Environment: JOBS (default: number of CPUs), CTEST_TIMEOUT (seconds per test).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$here"

PACKAGES=(cmake gcc g++ make pkg-config liblz4-dev libroaring-dev check libjemalloc-dev libssl-dev)
# The bindings' tests (bindings/go, bindings/python) need these too.
TEST_PACKAGES=(golang-go python3)
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}

say() { printf '\n==> %s\n' "$*"; }
die() {
	printf 'build.sh: %s\n' "$*" >&2
	exit 1
}

usage() {
	sed -n '2,11s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
	exit "${1:-2}"
}

install_packages() {
	local missing=() p
	for p in "${PACKAGES[@]}"; do
		dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
	done
	if [ ${#missing[@]} -eq 0 ]; then
		echo "build.sh: packages present: ${PACKAGES[*]}"
		return
	fi
	say "installing missing packages: ${missing[*]}"
	local sudo=()
	if [ "$(id -u)" -ne 0 ]; then
		command -v sudo >/dev/null 2>&1 ||
			die "not root and no sudo: install these packages first: ${missing[*]}"
		sudo=(sudo)
	fi
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y --no-install-recommends "${missing[@]}"
}

# configure DIR CMAKE_ARGS...
configure() {
	local dir=$1
	shift
	say "configuring $dir"
	cmake -S "$here" -B "$dir" "$@"
}

# build DIR [TARGET...]
build() {
	local dir=$1
	shift
	local targets=()
	if [ $# -gt 0 ]; then
		targets=(--target "$@")
	fi
	say "building $dir (${JOBS} jobs)"
	cmake --build "$dir" -j "$JOBS" "${targets[@]}"
}

cmd=${1:-}
[ -n "$cmd" ] || usage
shift
sanitize=
ctest_args=()
while [ $# -gt 0 ]; do
	case $1 in
	--sanitize=*) sanitize=${1#--sanitize=} ;;
	--) shift; ctest_args=("$@"); break ;;
	-h | --help) usage 0 ;;
	*) die "unknown argument: $1 (see ./build.sh --help)" ;;
	esac
	shift
done

case $cmd in
demo)
	[ -z "$sanitize" ] || die "--sanitize is for ./build.sh test"
	install_packages
	configure build -DCMAKE_BUILD_TYPE=Release
	build build iodb_demo
	demo=build/examples/iodb_demo
	[ -x "$demo" ] || die "$demo was not built (is add_subdirectory(examples) in CMakeLists.txt?)"
	rm -rf build/demo-db
	say "running $demo build/demo-db"
	"$demo" build/demo-db
	;;
test)
	case $sanitize in
	'')
		dir=build
		timeout=${CTEST_TIMEOUT:-300}
		cmake_args=(-DCMAKE_BUILD_TYPE=Release)
		;;
	address,undefined | undefined,address | address | undefined)
		dir=build-asan
		timeout=${CTEST_TIMEOUT:-600}
		;;
	thread)
		dir=build-tsan
		timeout=${CTEST_TIMEOUT:-900}
		;;
	*) die "--sanitize takes address,undefined or thread, not '$sanitize'" ;;
	esac
	if [ -n "$sanitize" ]; then
		# RelWithDebInfo without NDEBUG: -O2 as in the default build, and the asserts stay on.
		cmake_args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_C_FLAGS_RELWITHDEBINFO=-O2 -g"
			"-DIODB_SANITIZE=$sanitize" -DIODB_BUILD_BENCH=OFF)
	fi
	PACKAGES+=("${TEST_PACKAGES[@]}")
	install_packages
	configure "$dir" "${cmake_args[@]}" -DIODB_BUILD_TESTS=ON
	build "$dir"
	say "testing $dir (ctest -j $JOBS, timeout ${timeout}s per test)"
	if [ "$sanitize" = thread ]; then
		export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1 second_deadlock_stack=1}
	elif [ -n "$sanitize" ]; then
		export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
		export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1 halt_on_error=1}
	fi
	ctest --test-dir "$dir" --output-on-failure -j "$JOBS" --timeout "$timeout" \
		"${ctest_args[@]}"
	;;
-h | --help | help) usage 0 ;;
*) die "unknown command '$cmd' (demo or test)" ;;
esac
