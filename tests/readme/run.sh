#!/usr/bin/env bash
# The README test: the ```c block under "## API example" in README.md must compile (-Wall
# -Wextra -Werror) and link against the built libiodb.a, run in a fresh directory with exit
# status 0, and print exactly the ```text block that follows it.
#
#   run.sh README.md BUILD_DIR [C_COMPILER]
#
# The example is built as a tiny CMake project using find_package(iodb) on BUILD_DIR, which
# holds the build tree's iodbConfig.cmake. Last line: "N passed, M failed"; exit status 1
# if M > 0.
set -uo pipefail

if [ $# -lt 2 ]; then
	echo "usage: $0 README.md BUILD_DIR [C_COMPILER]" >&2
	exit 2
fi
readme=$1
build=$(cd "$2" && pwd)
cc=${3:-cc}

work=$(mktemp -d "${TMPDIR:-/tmp}/iodb-readme-test.XXXXXX")
trap 'rm -rf "$work"' EXIT

passed=0
failed=0
n=0
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
	fi
}

# extract LANG: print the first ```LANG block of the "## API example" section.
extract() {
	awk -v lang="$1" '
		/^## / { in_section = ($0 ~ /^## API example[[:space:]]*$/); next }
		!in_section || done { next }
		inside && /^```[[:space:]]*$/ { inside = 0; done = 1; next }
		inside { print; next }
		$0 == "```" lang { inside = 1 }
	' "$readme"
}

extract_code() {
	extract c >"$work/example.c"
	[ -s "$work/example.c" ] || { echo "no \`\`\`c block under \"## API example\" in $readme"; return 1; }
	wc -l "$work/example.c"
}

compile() {
	cat >"$work/CMakeLists.txt" <<'CMAKE'
cmake_minimum_required(VERSION 3.16)
project(readme_example LANGUAGES C)
find_package(iodb REQUIRED CONFIG)
add_executable(example example.c)
set_target_properties(example PROPERTIES C_STANDARD 11 C_STANDARD_REQUIRED ON C_EXTENSIONS OFF)
target_compile_options(example PRIVATE -Wall -Wextra -Werror)
target_link_libraries(example PRIVATE iodb::iodb)
CMAKE
	cmake -S "$work" -B "$work/build" -Diodb_DIR="$build" -DCMAKE_C_COMPILER="$cc" \
		-DCMAKE_BUILD_TYPE=Release &&
		cmake --build "$work/build" --verbose &&
		cp "$work/build/example" "$work/example"
}

run_example() {
	mkdir -p "$work/run" &&
		(cd "$work/run" && "$work/example" "$work/run/example-db") >"$work/output.txt"
	local rc=$?
	cat "$work/output.txt"
	[ $rc -eq 0 ] || { echo "exit status $rc"; return 1; }
}

compare_output() {
	extract text >"$work/expected.txt"
	[ -s "$work/expected.txt" ] || { echo "no \`\`\`text output block after the example"; return 1; }
	diff -u "$work/expected.txt" "$work/output.txt"
}

check "README has a \`\`\`c block under \"## API example\"" extract_code
if [ -s "$work/example.c" ]; then
	check "the example compiles (C11, -Wall -Wextra -Werror) and links iodb::iodb (libiodb.a)" compile
	if [ -x "$work/example" ]; then
		check "the example runs and exits 0" run_example
		check "its output is the README's \`\`\`text block" compare_output
	fi
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
