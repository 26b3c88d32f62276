#!/bin/sh
# Run the Go binding's checks against a build tree's libiodb.so:
#   run_tests.sh SRC_DIR LIB_DIR [WORK_DIR]
# SRC_DIR is the iodb source tree (for include/iodb.h and tests/data), LIB_DIR the
# directory holding libiodb.so (the CMake target iodb_shared), WORK_DIR where the Go build
# cache goes (default: $LIB_DIR/go-cache). ctest's go_binding test runs this.
set -eu
src=$(cd "${1:?usage: run_tests.sh SRC_DIR LIB_DIR [WORK_DIR]}" && pwd)
lib=$(cd "${2:?usage: run_tests.sh SRC_DIR LIB_DIR [WORK_DIR]}" && pwd)
work=${3:-$lib}
go=${IODB_GO:-go}

CGO_ENABLED=1
CGO_CFLAGS="-I$src/include"
CGO_LDFLAGS="-L$lib -Wl,-rpath,$lib"
LD_LIBRARY_PATH="$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
GOFLAGS=-buildvcs=false
# Offline: no module proxy (the module needs nothing outside the standard library).
GOPROXY=off
export CGO_ENABLED CGO_CFLAGS CGO_LDFLAGS LD_LIBRARY_PATH GOFLAGS GOPROXY
# A build cache of our own under the build tree, unless the caller chose one; HOME may be
# unwritable under ctest.
if [ -z "${GOCACHE:-}" ]; then
	GOCACHE="$work/go-cache"
	export GOCACHE
fi
# go wants a writable HOME (GOPATH, its config); ctest may run without one.
if [ -z "${HOME:-}" ] || [ ! -w "$HOME" ]; then
	HOME="$work"
	GOPATH="$work/gopath"
	export HOME GOPATH
fi
IODB_TEST_DATA="$src/tests/data"
export IODB_TEST_DATA

cd "$src/bindings/go"
"$go" version
"$go" vet ./...
# The race detector needs about 2 cores' worth of time here; 1 package at a time keeps
# the machine usable beside other work.
"$go" test -race -count=1 -p 1 ./...
