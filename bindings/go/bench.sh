#!/bin/sh
# Go binding overhead per call against C: builds bench/overhead.c and runs it, runs the
# BenchmarkOverhead* Go benchmarks on the same workload, and prints one table.
#   bench.sh [SRC_DIR [LIB_DIR]]
# SRC_DIR defaults to the tree this script is in, LIB_DIR to /tmp/hGo (a build dir holding
# libiodb.so: cmake --build DIR --target iodb_shared).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "${1:-$here/../..}" && pwd)
lib=$(cd "${2:-/tmp/hGo}" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

CGO_CFLAGS="-I$src/include"
CGO_LDFLAGS="-L$lib -Wl,-rpath,$lib"
GOFLAGS=-buildvcs=false
GOPROXY=off
export CGO_CFLAGS CGO_LDFLAGS GOFLAGS GOPROXY

${CC:-cc} -O2 -I"$src/include" -o "$tmp/overhead" "$here/bench/overhead.c" \
	-L"$lib" -Wl,-rpath,"$lib" -liodb
"$tmp/overhead" "$tmp/cdb" > "$tmp/c.txt"
(cd "$here" && go test -run '^$' -bench Overhead -benchtime "${BENCHTIME:-1s}" .) > "$tmp/go.txt"

echo "machine: $(nproc) cores, $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1); $(go version | cut -d' ' -f3)"
printf '%-12s %12s %12s %8s %12s\n' op "C ns/op" "Go ns/op" ratio "Go-C ns"
for op in get iter_next put commit1000; do
	case $op in
	get) g=Get ;; iter_next) g=IterNext ;; put) g=Put ;; commit1000) g=Commit1000 ;;
	esac
	c=$(awk -v o="$op" '$1 == o { print $2 }' "$tmp/c.txt")
	n=$(awk -v o="BenchmarkOverhead$g" '$1 ~ "^"o"(-[0-9]+)?$" { print $3 }' "$tmp/go.txt")
	awk -v op="$op" -v c="$c" -v g="$n" \
		'BEGIN { printf "%-12s %12.1f %12.1f %8.2f %12.1f\n", op, c, g, g / c, g - c }'
done
