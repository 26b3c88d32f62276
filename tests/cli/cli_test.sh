#!/usr/bin/env bash
# cli_test.sh — end-to-end checks of the iodb command-line tool.
#
#   bash cli_test.sh PATH/TO/iodb
#
# Every check runs the tool and compares its exit status and its exact stdout (and, for
# errors, the shape of its one stderr line). The first failed check prints what was expected
# and what came back, and exits 1. Set IODB_CLI_WRAPPER to run every command under a wrapper,
# e.g. IODB_CLI_WRAPPER="valgrind -q --leak-check=full --error-exitcode=99".
set -euo pipefail

IODB=${1:?usage: cli_test.sh PATH/TO/iodb}
read -r -a WRAP <<<"${IODB_CLI_WRAPPER:-}"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
passed=0

# run ARGS...: run the tool (stdin inherited); sets RC, and stdout/stderr in $TMP/out, $TMP/err.
run() {
	RC=0
	"${WRAP[@]}" "$IODB" "$@" >"$TMP/out" 2>"$TMP/err" || RC=$?
}

# fail NAME EXPECTED: report the last run against what was expected, and stop.
fail() {
	printf 'FAIL: %s\n' "$1"
	printf -- '--- expected:\n%s\n' "$2"
	printf -- '--- got: exit %s, stdout:\n' "$RC"
	cat "$TMP/out"
	printf -- '--- stderr:\n'
	cat "$TMP/err"
	printf '%d passed, 1 failed\n' "$passed"
	exit 1
}

pass() {
	passed=$((passed + 1))
}

# expect NAME RC OUT ARGS...: the tool exits RC and its stdout is exactly OUT plus a newline.
expect() {
	local name=$1 want_rc=$2 want_out=$3
	shift 3
	run "$@"
	printf '%s\n' "$want_out" >"$TMP/want"
	if [[ $RC != "$want_rc" ]] || ! cmp -s "$TMP/want" "$TMP/out"; then
		fail "$name: iodb $*" "exit $want_rc, stdout:"$'\n'"$want_out"
	fi
	pass
}

# quiet NAME ARGS...: the tool exits 0 and prints nothing.
quiet() {
	local name=$1
	shift
	run "$@"
	if [[ $RC != 0 || -s $TMP/out || -s $TMP/err ]]; then
		fail "$name: iodb $*" "exit 0, no output"
	fi
	pass
}

# expect_error NAME RC PATTERN ARGS...: the tool exits RC, prints nothing on stdout, and
# exactly one line on stderr, matching the glob PATTERN.
expect_error() {
	local name=$1 want_rc=$2 pattern=$3
	shift 3
	run "$@"
	# shellcheck disable=SC2053  # PATTERN is a glob on purpose
	if [[ $RC != "$want_rc" || -s $TMP/out || $(wc -l <"$TMP/err") != 1 ||
		$(cat "$TMP/err") != $pattern ]]; then
		fail "$name: iodb $*" "exit $want_rc, no stdout, one stderr line like: $pattern"
	fi
	pass
}

# check NAME COMMAND...: an ad-hoc condition about the last run or the file system.
check() {
	local name=$1
	shift
	if ! "$@"; then
		fail "$name" "$*"
	fi
	pass
}

# --- help and usage ---------------------------------------------------------------------
run --help
check "--help exits 0" test "$RC" = 0
check "--help prints usage on stdout" test "$(head -n 1 "$TMP/out")" = \
	"usage: iodb DIR COMMAND [ARGS] [OPTIONS]"
run
check "no arguments exits 2" test "$RC" = 2
check "no arguments prints usage on stderr only" \
	test "$(head -n 1 "$TMP/err")" = "usage: iodb DIR COMMAND [ARGS] [OPTIONS]" -a ! -s "$TMP/out"

DB=$TMP/db
expect_error "unknown command" 2 "iodb: unknown command 'frobnicate'*" "$DB" frobnicate
expect_error "missing command" 2 "iodb: missing command*" "$DB"
expect_error "missing argument" 2 "iodb: usage: iodb DIR put KEY VALUE*" "$DB" put onlykey
expect_error "extra argument" 2 "iodb: usage: iodb DIR get KEY*" "$DB" get a b
expect_error "option of another command" 2 "iodb: put: unknown option --at*" \
	"$DB" put a 1 --at 1
expect_error "bad hex" 2 "iodb: bad hex for KEY*" "$DB" put --hex 0g 00
expect_error "odd hex" 2 "iodb: bad hex for VALUE*" "$DB" put --hex 00 abc
expect_error "bad number" 2 "iodb: bad number for --limit*" "$DB" scan --limit -1
expect_error "KEEP 0" 2 "iodb: bad number for KEEP*" "$DB" clean 0
expect_error "bad update op" 2 "iodb: update: expected KEY=VALUE or --del KEY*" \
	"$DB" update v1 noequals
expect_error "hash takes no KEY" 2 "iodb: usage: iodb DIR hash [--at VID]*" "$DB" hash k
expect_error "prove needs a KEY" 2 "iodb: usage: iodb DIR prove KEY*" "$DB" prove
expect_error "prove: --proof is verify-proof's" 2 "iodb: prove: unknown option --proof*" \
	"$DB" prove k --proof 00
expect_error "verify-proof without --proof" 2 "iodb: verify-proof: --proof is required*" \
	"$DB" verify-proof k v
expect_error "verify-proof with 3 positionals" 2 "iodb: usage: iodb DIR verify-proof KEY*" \
	"$DB" verify-proof k v w --proof 00
expect_error "verify-proof bad hex proof" 2 "iodb: bad hex for --proof: 'zz'*" \
	"$DB" verify-proof k --proof 00zz
expect_error "verify-proof odd hex proof" 2 "iodb: bad hex for --proof: odd number*" \
	"$DB" verify-proof k --proof 0a0
expect_error "verify-proof bad hex root" 2 "iodb: bad hex for --root*" \
	"$DB" verify-proof k --proof 00 --root xy
expect_error "verify-proof short root" 2 "iodb: bad --root: 31 bytes, a root hash has 32*" \
	"$DB" verify-proof k --proof 00 --root "$(printf '%062d' 0)"
expect_error "verify-proof --root with --at" 2 "iodb: verify-proof: --root excludes --at*" \
	"$DB" verify-proof k --proof 00 --root "$(printf '%064d' 0)" --at 1
expect_error "verify-proof --root with --at-height" 2 "iodb: verify-proof: --root excludes --at*" \
	"$DB" verify-proof k --proof 00 --root "$(printf '%064d' 0)" --at-height 1
expect_error "verify-proof --root with --store" 2 "iodb: verify-proof: --root excludes*" \
	"$DB" verify-proof k --proof 00 --root "$(printf '%064d' 0)" --store s
expect_error "verify-proof bad hex KEY" 2 "iodb: bad hex for KEY*" \
	"$DB" verify-proof --hex 6 --proof 00
check "usage errors create nothing" test ! -e "$DB"

# --- read commands never create a store ---------------------------------------------------
NODIR=$TMP/nonexistent
for cmd in "get a" "scan" "versions" "head" "stats" "rollback 1" "checkout 1" "clean 1" \
	"hash" "prove a" "verify-proof a --proof 00"; do
	# shellcheck disable=SC2086  # split the command into its words
	expect_error "$cmd on a missing dir" 1 "iodb: open $NODIR: not found*" "$NODIR" $cmd
	check "$cmd leaves no directory behind" test ! -e "$NODIR"
done
expect_error "--no-create put on a missing dir" 1 "iodb: open $NODIR: not found*" \
	"$NODIR" put a 1 --no-create
check "--no-create put leaves no directory behind" test ! -e "$NODIR"

# --- put, get, update, del ----------------------------------------------------------------
expect "first put is version 1" 0 "1" "$DB" put a 1
expect "second put is version 2" 0 "2" "$DB" put b 2 --nosync
expect "get a" 0 "1" "$DB" get a
expect "get b" 0 "2" "$DB" get b
expect "head" 0 "2" "$DB" head
quiet "update with several ops" "$DB" update v3 c=3 a=10 --del b d=x=y
expect "head after update" 0 "v3" "$DB" head
expect "get after update" 0 "10" "$DB" get a
expect "value holding '='" 0 "x=y" "$DB" get d
expect_error "deleted key" 1 "iodb: get b: not found*" "$DB" get b
expect "get --at an old version" 0 "1" "$DB" get a --at 2
expect "get --at before a delete" 0 "2" "$DB" get --at 2 b
expect_error "get --at before the key existed" 1 "iodb: get c: not found*" "$DB" get c --at 1
expect_error "get --at an unknown version" 1 "iodb: version nosuch: not found*" \
	"$DB" get a --at nosuch
expect "del makes version 4 (height 4)" 0 "4" "$DB" del c
expect_error "get a deleted key" 1 "iodb: get c: not found*" "$DB" get c
expect "del of a missing key still commits" 0 "5" "$DB" del nosuchkey
quiet "empty update" "$DB" update empty
expect "head after empty update" 0 "empty" "$DB" head
expect "put with --vid" 0 "mine" "$DB" put e "" --vid mine
expect "empty value prints an empty line" 0 "" "$DB" get e
expect "value with spaces" 0 "8" "$DB" put sp "hello world"
expect "get value with spaces" 0 "hello world" "$DB" get sp
expect "option before the command" 0 "hello world" "$DB" --nosync get sp
expect "-- ends options" 0 "9" "$DB" put -- --dashed v
expect "get a key that looks like an option" 0 "v" "$DB" get -- --dashed
expect "non-printable bytes print as hex" 0 "10" "$DB" put tab $'a\tb'
expect "get a non-printable value" 0 "0x610962" "$DB" get tab

# update - reads ops from stdin.
quiet "update from stdin" "$DB" update fromstdin - <<'EOF'
put s1 one
put s2 two words

del a
put s3 
EOF
expect "stdin put" 0 "two words" "$DB" get s2
expect "stdin empty value" 0 "" "$DB" get s3
expect_error "stdin del" 1 "iodb: get a: not found*" "$DB" get a
expect_error "bad stdin line" 2 "iodb: stdin line 2: expected*" \
	"$DB" update never - <<<$'put k v\nfrob k'
expect_error "nothing committed on a bad stdin line" 1 "iodb: get k: not found*" "$DB" get k

# --- duplicate version IDs ----------------------------------------------------------------
expect_error "duplicate ID via update" 1 "iodb: update v3: *" "$DB" update v3 z=1
expect_error "duplicate ID via --vid" 1 "iodb: update 2: *" "$DB" put z 1 --vid 2
expect_error "nothing committed by a duplicate" 1 "iodb: get z: not found*" "$DB" get z

# --- scan -----------------------------------------------------------------------------------
S=$TMP/scan
quiet "scan fixture" "$S" update s k1=v1 k2=v2 k3=v3 k4=v4 k5=v5
expect "scan all" 0 $'k1\tv1\nk2\tv2\nk3\tv3\nk4\tv4\nk5\tv5' "$S" scan
expect "scan [from, to)" 0 $'k2\tv2\nk3\tv3' "$S" scan --from k2 --to k4
expect "scan --from between keys" 0 $'k3\tv3\nk4\tv4' "$S" scan --from k2x --limit 2
expect "scan --reverse" 0 $'k5\tv5\nk4\tv4\nk3\tv3\nk2\tv2\nk1\tv1' "$S" scan --reverse
expect "scan --reverse [from, to)" 0 $'k4\tv4\nk3\tv3\nk2\tv2' \
	"$S" scan --reverse --from k2 --to k5
expect "scan --reverse --limit" 0 $'k4\tv4\nk3\tv3' "$S" scan --to k5 --limit 2 --reverse
expect "scan --reverse --to past the end" 0 $'k5\tv5' "$S" scan --reverse --to z --limit 1
quiet "scan --reverse --to before the start" "$S" scan --reverse --to a
quiet "scan --limit 0" "$S" scan --limit 0
quiet "scan empty range" "$S" scan --from k4 --to k2
quiet "scan change" "$S" update 2 k2=new --del k4 k6=v6
expect "scan sees the head" 0 $'k1\tv1\nk2\tnew\nk3\tv3\nk5\tv5\nk6\tv6' "$S" scan
expect "scan --at" 0 $'k2\tv2\nk3\tv3\nk4\tv4' "$S" scan --at s --from k2 --to k5
expect "scan --at --reverse" 0 $'k5\tv5\nk4\tv4' "$S" scan --at s --reverse --limit 2

# --- named stores ----------------------------------------------------------------------------
expect "put in a named store" 0 "3" "$S" put k1 other --store st1
expect "get from the named store" 0 "other" "$S" --store st1 get k1
expect "the default store is apart" 0 "v1" "$S" get k1
expect "scan the named store" 0 $'k1\tother' "$S" scan --store st1

# --- stores, --at-height ----------------------------------------------------------------------
# $S: "1" wrote k1..k6 (default), "2" changed them, "3" wrote st1 (heights 1, 2, 3).
run "$S" stores
check "stores lists the default store and st1" test "$RC" = 0 -a "$(cut -f1 "$TMP/out" | tr '\n' ' ')" = "(default) st1 "
check "stores prints 64-hex roots" test "$(cut -f2 "$TMP/out" | grep -c '^[0-9a-f]\{64\}$')" = 2
ST1_ROOT=$("$IODB" "$S" hash --store st1)
check "a listed root is the store's root hash" grep -q "^st1	$ST1_ROOT\$" "$TMP/out"
expect "stores --at a version before st1" 0 "(default)	$("$IODB" "$S" hash --store "" --at 2)" "$S" stores --at 2
expect "get --at-height" 0 "v4" "$S" get k4 --at-height 1
expect "hash --at-height is hash --at" 0 "$("$IODB" "$S" hash --at 2)" "$S" hash --at-height 2
expect "scan --at-height" 0 $'k2\tnew\nk3\tv3' "$S" scan --at-height 2 --from k2 --to k4
expect_error "--at-height past the head" 1 "iodb: --at-height 9: not found: *" "$S" get k1 --at-height 9
expect_error "--at-height 0" 2 "iodb: *--at-height*" "$S" get k1 --at-height 0
expect_error "--at and --at-height" 2 "iodb: get: --at and --at-height exclude each other*" \
	"$S" get k1 --at 1 --at-height 1

# --- hex --------------------------------------------------------------------------------------
H=$TMP/hex
expect "hex put prints the ID as hex" 0 "31" "$H" put --hex 00ff 0a0b
expect "hex get" 0 "0a0b" "$H" get --hex 00ff
expect "hex with 0x prefix" 0 "0a0b" "$H" --hex get 0x00FF
expect "hex put with --vid" 0 "dead" "$H" put --hex 01 "" --vid dead
expect "hex head" 0 "dead" "$H" head --hex
expect "binary ID prints as 0x without --hex" 0 "0xdead" "$H" head
expect "hex empty value" 0 "" "$H" get --hex 01
expect "hex scan" 0 $'00ff\t0a0b\n01\t' "$H" scan --hex
expect "text scan of binary data" 0 $'0x00ff\t0x0a0b\n0x01\t' "$H" scan
quiet "hex update" "$H" update --hex beef 6b=76 --del 01
expect "hex get --at" 0 "" "$H" get --hex 01 --at dead
expect_error "hex deleted" 1 "iodb: get 01: not found*" "$H" get --hex 01
expect "hex key readable as text" 0 "v" "$H" get k
quiet "hex rollback" "$H" rollback --hex dead
expect "after hex rollback" 0 "dead" "$H" head --hex

# --- branches: checkout, versions, rollback -----------------------------------------------------
B=$TMP/branch
expect "branch v1" 0 "1" "$B" put x 1
expect "branch v2" 0 "2" "$B" put x 2
expect "branch v3" 0 "3" "$B" put x 3
quiet "checkout" "$B" checkout 2
expect "head after checkout" 0 "2" "$B" head
expect "checkout reads the old version" 0 "2" "$B" get x
expect "taken height gets a suffix" 0 "3.1" "$B" put y 9
expect "versions with two branches" 0 "1 (height 1)
2 (height 2)
├─ 3 (height 3)
└─ 3.1 (height 3) (head)" "$B" versions
expect "branch reads its own key" 0 "9" "$B" get y
expect "branch sees its parent's value" 0 "2" "$B" get x
expect "other branch unchanged" 0 "3" "$B" get x --at 3
expect_error "other branch lacks the key" 1 "iodb: get y: not found*" "$B" get y --at 3
expect "grow the branch" 0 "4" "$B" put z 1
quiet "checkout the first branch" "$B" checkout 3
expect "second suffix level" 0 "4.1" "$B" put w 1
expect "versions with nested connectors" 0 "1 (height 1)
2 (height 2)
├─ 3 (height 3)
│  4.1 (height 4) (head)
└─ 3.1 (height 3)
   4 (height 4)" "$B" versions
expect "versions --hex" 0 "31 (height 1)
32 (height 2)
├─ 33 (height 3)
│  342e31 (height 4) (head)
└─ 332e31 (height 3)
   34 (height 4)" "$B" versions --hex
quiet "rollback" "$B" rollback 2
expect "versions after rollback" 0 "1 (height 1)
2 (height 2) (head)" "$B" versions
expect_error "rollback makes a key vanish" 1 "iodb: get y: not found*" "$B" get y
expect_error "rollback discards the other branch too" 1 "iodb: get w: not found*" "$B" get w
expect "rollback keeps the older value" 0 "2" "$B" get x
expect_error "a discarded version is gone" 1 "iodb: version 3: not found*" "$B" get x --at 3
expect_error "rollback to an unknown version" 1 "iodb: rollback nosuch: not found*" \
	"$B" rollback nosuch
expect_error "checkout an unknown version" 1 "iodb: checkout nosuch: not found*" \
	"$B" checkout nosuch
expect "a discarded ID can be used again" 0 "3" "$B" put x 30
expect "versions after reuse" 0 "1 (height 1)
2 (height 2)
3 (height 3) (head)" "$B" versions

# --- clean ------------------------------------------------------------------------------------
quiet "clean 2" "$B" clean 2
expect "versions after clean" 0 "2 (height 2)
3 (height 3) (head)" "$B" versions
expect_error "a cleaned version is gone" 1 "iodb: version 1: not found*" "$B" get x --at 1
expect "the base stays readable" 0 "2" "$B" get x --at 2
expect "the head is unchanged" 0 "30" "$B" get x
quiet "clean more than the history" "$B" clean 100
expect "versions after a large clean" 0 "2 (height 2)
3 (height 3) (head)" "$B" versions
expect "heights continue after clean" 0 "4" "$B" put x 40

# --- stats --------------------------------------------------------------------------------------
# Which fields there are is the library's business; the layout is the tool's. --json: one JSON
# object followed by a newline.
stats_shape() {
	[[ $(head -c 1 "$TMP/out") == "{" && $(tail -c 2 "$TMP/out" | head -c 1) == "}" &&
		$(tail -c 1 "$TMP/out" | wc -l) == 1 ]]
}
# Without --json: every line is a name and a value, or an object's name alone (a heading) with
# its members indented two spaces below it; the values share one column.
stats_lines() {
	local line col="" heading=0 c
	while IFS= read -r line; do
		if [[ $line =~ ^([a-z_]+)$ ]]; then
			heading=1
			continue
		fi
		[[ $line =~ ^((  )?[a-z_]+ +)[-0-9.e+]+$ ]] || return 1
		[[ $line != "  "* || $heading == 1 ]] || return 1
		[[ $line == "  "* ]] || heading=0
		c=${#BASH_REMATCH[1]}
		[[ -z $col || $c == "$col" ]] || return 1
		col=$c
	done <"$TMP/out"
	[[ -n $col ]]
}
run "$B" stats
check "stats exits 0" test "$RC" = 0
check "stats prints one statistic per line, values in one column" stats_lines
# the line after the heading NAME
after_heading() {
	grep -A1 -x "$1" "$TMP/out" | tail -n 1
}
check "stats: a top-level value" grep -Eq '^versions +3$' "$TMP/out"
check "stats: an object's heading, its members indented" \
	test -n "$(after_heading journal | grep -E '^  [a-z_]+ +[0-9]+$')"
check "stats prints nothing on stderr" test ! -s "$TMP/err"
run "$B" stats --json
check "stats --json exits 0" test "$RC" = 0
check "stats --json prints a JSON object and a newline" stats_shape
check "stats --json: the same statistic" grep -q '"versions": 3,' "$TMP/out"
expect_error "stats takes no argument" 2 "iodb: usage: iodb DIR stats [--json]*" "$B" stats x
expect_error "--json is stats' option" 2 "iodb: head: unknown option --json*" "$B" head --json

# --- flush, --no-merkle -------------------------------------------------------------------------
F=$TMP/flush
expect "put before flush" 0 "1" "$F" put fk fv --no-merkle
quiet "flush exits 0 and prints nothing" "$F" flush --no-merkle
check "flush wrote a run file" test -n "$(ls "$F/shards")"
expect "get after flush" 0 "fv" "$F" get fk --no-merkle
# Flushed with the Merkle layer off, the journal behind the shards was released (a flush
# starts a new segment): the Merkle layer cannot be rebuilt, and the open says so.
expect_error "get after flush, Merkle layer on (journal released)" 1 \
	"iodb: open $F: invalid argument: the Merkle roots of version 1 cannot be rebuilt: *open with merkle = 0" \
	"$F" get fk
expect "put after flush" 0 "2" "$F" put fk2 fv2 --no-merkle
quiet "compact exits 0 and prints nothing" "$F" compact --no-merkle
check "compact left one run file" test "$(ls "$F/shards" | wc -l)" -eq 1
expect "get after compact" 0 "fv" "$F" get fk --no-merkle
expect "get after compact, second key" 0 "fv2" "$F" get fk2 --no-merkle
expect_error "compact takes no argument" 2 "iodb: usage: iodb DIR compact*" "$F" compact x

# --- Merkle: hash, prove, verify-proof --------------------------------------------------------
# Hashes computed here from the rules (docs/merkle.md) with coreutils alone.
# sha256 HEX: SHA-256 of the bytes HEX spells, in hex. hexof TEXT: TEXT's bytes in hex.
sha256() {
	local hex=$1 esc=""
	while [[ -n $hex ]]; do
		esc+="\\x${hex:0:2}"
		hex=${hex:2}
	done
	printf '%b' "$esc" | sha256sum | cut -c 1-64
}
hexof() {
	printf '%s' "$1" | od -An -v -tx1 | tr -d ' \n'
}
# iavl_leaf VERSION KEY VALUE (short text): varint 0, varint 1, varint VERSION (zigzag: x2),
# uvarint len(KEY), KEY, 0x20, SHA-256(VALUE).
iavl_leaf() {
	sha256 "$(printf '0002%02x%02x' $(($1 * 2)) ${#2})$(hexof "$2")20$(sha256 "$(hexof "$3")")"
}
# commit_leaf NAME ROOT: the CometBFT leaf hash (0x00 prefix) of uvarint len(NAME), NAME,
# 0x20, SHA-256(ROOT).
commit_leaf() {
	sha256 "00$(printf '%02x' ${#1})$(hexof "$1")20$(sha256 "$2")"
}
EMPTY=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
ROOT1=$(iavl_leaf 1 hello world)
check "hello->world at version 1 has the IAVL spec's root" test \
	"$ROOT1" = 6032661ab0d201132db7a8fa1da6a0afe427e6278bd122c301197680ab79ca02
COMMIT1=$(commit_leaf "" "$ROOT1") # one store: the leaf is the root
ROOT_ST=$(iavl_leaf 2 k v)
COMMIT2=$(sha256 "01$(commit_leaf "" "$ROOT1")$(commit_leaf st "$ROOT_ST")")
ROOT3=$(iavl_leaf 3 hello there)

M=$TMP/merkle
expect "merkle v1" 0 "1" "$M" put hello world
expect "hash --store \"\": the default store's root" 0 "$ROOT1" "$M" hash --store ""
expect "hash: the commit hash" 0 "$COMMIT1" "$M" hash
check "the commit hash is not the root hash" test "$COMMIT1" != "$ROOT1"
expect "merkle v2" 0 "2" "$M" put k v --store st
expect "merkle v3" 0 "3" "$M" put hello there
expect "hash of the head's default store" 0 "$ROOT3" "$M" hash --store ""
expect "hash --at an older version" 0 "$ROOT1" "$M" hash --at 2 --store ""
expect "hash of a named store" 0 "$ROOT_ST" "$M" hash --store st
expect "commit hash over two stores" 0 "$COMMIT2" "$M" hash --at 2
expect "commit hash --at 1" 0 "$COMMIT1" "$M" hash --at 1
expect "hash --hex --at" 0 "$COMMIT1" "$M" hash --hex --at 31
expect_error "hash --at an unknown version" 1 "iodb: hash: not found: *" "$M" hash --at nosuch
expect_error "hash of a store that does not exist" 1 \
	"iodb: hash: not found: store \"nope\" does not exist*" "$M" hash --store nope
expect_error "hash of a store before it existed" 1 "iodb: hash: not found: *" \
	"$M" hash --store st --at 1

# Proofs at version 1 are those of cosmos/iavl (tests/data/iavl_proofs.txt).
P1=0a1b0a0568656c6c6f1205776f726c641a0b0801180120012a03000202
A1=12230a0468656c6c1a1b0a0568656c6c6f1205776f726c641a0b0801180120012a03000202
expect "prove a present key" 0 "$P1" "$M" prove hello --at 1
expect "prove an absent key" 0 "$A1" "$M" prove hell --at 1
expect "prove --hex" 0 "$P1" "$M" prove --hex 68656c6c6f --at 31
expect "verify-proof of presence" 0 "ok" "$M" verify-proof hello world --proof "$P1" --at 1
expect "verify-proof of absence" 0 "ok" "$M" verify-proof hell --proof "$A1" --at 1
expect "verify-proof --hex" 0 "ok" "$M" verify-proof --hex 68656c6c6f 776f726c64 --proof "$P1" \
	--at 31
expect_error "verify-proof with a wrong value" 1 \
	"iodb: verify-proof: proof does not verify: *another value*" \
	"$M" verify-proof hello there --proof "$P1" --at 1
expect_error "verify-proof against a later root" 1 "iodb: verify-proof: proof does not verify: *" \
	"$M" verify-proof hello world --proof "$P1"
expect_error "a presence proof does not prove absence" 1 \
	"iodb: verify-proof: proof does not verify: *" "$M" verify-proof hello --proof "$P1" --at 1
expect_error "an absence proof does not prove presence" 1 \
	"iodb: verify-proof: proof does not verify: *" "$M" verify-proof hell x --proof "$A1" --at 1
run "$M" prove hello
P3=$(cat "$TMP/out")
check "prove at the head" test "$RC" = 0 -a -n "$P3" -a "$P3" != "$P1"
expect "verify-proof at the head" 0 "ok" "$M" verify-proof hello there --proof "$P3"
# Flip one hex digit in the middle of a proof with a path: it lands in a sibling's hash.
G=$TMP/big
quiet "a tree of nine keys" "$G" update g k1=v1 k2=v2 k3=v3 k4=v4 k5=v5 k6=v6 k7=v7 k8=v8 k9=v9
run "$G" prove k5
PG=$(cat "$TMP/out")
expect "verify-proof with a path" 0 "ok" "$G" verify-proof k5 v5 --proof "$PG"
MID=$((${#PG} / 2))
FLIPPED=${PG:0:MID}$(printf '%x' $((0x${PG:MID:1} ^ 1)))${PG:MID+1}
expect_error "a flipped digit does not verify" 1 \
	"iodb: verify-proof: proof does not verify: *root*" \
	"$G" verify-proof k5 v5 --proof "$FLIPPED"
expect_error "an empty proof does not verify" 1 "iodb: verify-proof: proof does not verify: *" \
	"$M" verify-proof hello there --proof ""

# prove --commit: the ProofOps of a Cosmos SDK query, written out here field by field
# (docs/merkle.md "Proofs"): op 1 {"ics23:iavl", k, the IAVL proof of k -> v at height 2},
# op 2 {"ics23:simple", st, the existence proof of st's root in the commit-info tree of
# ("" , st), where st is the right leaf: one inner op, prefix 01 || the left leaf}.
IAVL_K=0a130a016b1201761a0b0801180120012a03000204
SIMPLE_ST=0a580a0273741220${ROOT_ST}1a090801180120012a0100222508011221"01$(commit_leaf "" "$ROOT1")"
SIMPLE_ST=${SIMPLE_ST//\"/}
PC=0a260a0a$(hexof ics23:iavl)12016b1a15${IAVL_K}0a6e0a0c$(hexof ics23:simple)120273741a5a${SIMPLE_ST}
expect "prove --commit: the ProofOps bytes" 0 "$PC" "$M" prove k --store st --commit --at 2
expect "verify-proof --commit of presence" 0 "ok" \
	"$M" verify-proof k v --store st --proof "$PC" --commit "$COMMIT2"
expect "verify-proof --commit does not open DIR" 0 "ok" \
	"$TMP/nodir" verify-proof k v --store st --proof "$PC" --commit "$COMMIT2"
check "verify-proof --commit left no DIR" test ! -e "$TMP/nodir"
expect_error "verify-proof --commit with a wrong value" 1 \
	"iodb: verify-proof: proof does not verify: commit proof: op 1 *another value*" \
	"$M" verify-proof k w --store st --proof "$PC" --commit "$COMMIT2"
expect_error "verify-proof --commit against another commit hash" 1 \
	"iodb: verify-proof: proof does not verify: commit proof: op 2 *" \
	"$M" verify-proof k v --store st --proof "$PC" --commit "$COMMIT1"
expect_error "verify-proof --commit for another store" 1 \
	"iodb: verify-proof: proof does not verify: commit proof: op 2 is for another store*" \
	"$M" verify-proof k v --store su --proof "$PC" --commit "$COMMIT2"
expect_error "verify-proof --commit of a store root proof" 1 \
	"iodb: verify-proof: proof does not verify: commit proof: malformed ProofOps*" \
	"$M" verify-proof k v --store st --proof "$IAVL_K" --commit "$COMMIT2"
expect_error "verify-proof --commit for the default store" 1 \
	"iodb: verify-proof: invalid argument: *default store*" \
	"$M" verify-proof k v --proof "$PC" --commit "$COMMIT2"
expect_error "verify-proof --commit with --root" 2 "iodb: verify-proof: --commit excludes*" \
	"$M" verify-proof k v --proof "$PC" --commit "$COMMIT2" --root "$COMMIT2"
expect_error "verify-proof --commit with --at" 2 "iodb: verify-proof: --commit excludes*" \
	"$M" verify-proof k v --store st --proof "$PC" --commit "$COMMIT2" --at 2
expect_error "verify-proof short --commit" 2 "iodb: bad --commit: 31 bytes*" \
	"$M" verify-proof k v --store st --proof "$PC" --commit "$(printf '%062d' 0)"
expect_error "verify-proof --commit needs a hash" 2 "iodb: verify-proof: --commit needs a value*" \
	"$M" verify-proof k v --store st --proof "$PC" --commit
run "$M" prove j --store st --commit
PCA=$(cat "$TMP/out")
run "$M" hash
HEADC=$(cat "$TMP/out")
expect "verify-proof --commit of absence at the head" 0 "ok" \
	"$M" verify-proof j --store st --proof "$PCA" --commit "$HEADC"
expect_error "an absence proof up to the commit hash does not prove presence" 1 \
	"iodb: verify-proof: proof does not verify: commit proof: op 1 *" \
	"$M" verify-proof j x --store st --proof "$PCA" --commit "$HEADC"
expect_error "a proof at the head against version 2's commit hash" 1 \
	"iodb: verify-proof: proof does not verify: commit proof: op 2 *" \
	"$M" verify-proof j --store st --proof "$PCA" --commit "$COMMIT2"

# --root: DIR is not opened at all.
expect "verify-proof --root" 0 "ok" "$NODIR" verify-proof hello world --proof "$P1" \
	--root "$ROOT1"
check "verify-proof --root leaves no directory behind" test ! -e "$NODIR"
run "$M" hash --store "" --at 3
expect "verify-proof --root from hash" 0 "ok" "$M" verify-proof hello there --proof "$P3" \
	--root "$(cat "$TMP/out")"
expect_error "verify-proof --root of another version" 1 \
	"iodb: verify-proof: proof does not verify: *" \
	"$NODIR" verify-proof hello there --proof "$P3" --root "$ROOT1"

# --out FILE and @FILE.
quiet "prove --out" "$M" prove hell --at 1 --out "$TMP/proof.bin"
check "--out writes the raw bytes" test "$(od -An -v -tx1 "$TMP/proof.bin" | tr -d ' \n')" = "$A1"
expect "verify-proof @FILE" 0 "ok" "$M" verify-proof hell --proof "@$TMP/proof.bin" --at 1
expect "verify-proof @FILE --root" 0 "ok" "$NODIR" verify-proof hell --proof "@$TMP/proof.bin" \
	--root "$ROOT1"
expect_error "verify-proof @FILE that is missing" 1 "iodb: reading $TMP/nofile: *" \
	"$M" verify-proof hell --proof "@$TMP/nofile"
expect_error "prove --out into a missing directory" 1 "iodb: writing $TMP/no/dir: *" \
	"$M" prove hello --out "$TMP/no/dir"

# Stores with nothing to prove against.
expect_error "prove in a store that does not exist" 1 \
	"iodb: prove k: not found: store \"nope\" does not exist*" "$M" prove k --store nope
expect_error "prove in a store before it existed" 1 "iodb: prove k: not found: *" \
	"$M" prove k --store st --at 1
expect "merkle v4" 0 "4" "$M" del k --store st
expect "an emptied store's root is SHA-256 of nothing" 0 "$EMPTY" "$M" hash --store st
expect_error "prove in an empty tree" 1 "iodb: prove k: not found: *empty*" \
	"$M" prove k --store st
expect_error "verify-proof against an unknown version" 1 "iodb: root hash: not found: *" \
	"$M" verify-proof hello --proof "$A1" --at nosuch

# Merkle snapshots and state sync.
quiet "snapshot" "$M" snapshot
BEFORE_HASH=$("$IODB" "$M" hash)
cp -r "$M/snapshots" "$TMP/snapshots-before"
quiet "snapshot incremental" "$M" snapshot incremental
quiet "snapshot incremental of a version that has one" "$M" snapshot incremental
check "a version's snapshot is left as it was by the repeats" diff -r "$TMP/snapshots-before" "$M/snapshots"
quiet "and full again" "$M" snapshot
check "and by a full one" diff -r "$TMP/snapshots-before" "$M/snapshots"
check "a snapshot directory" test -n "$(ls "$M/snapshots" | grep '^snapshot-')"
quiet "clean after the repeats" "$M" clean 1
quiet "flush after the repeats" "$M" flush
quiet "and a second flush (the first's freeze distributed)" "$M" flush
expect "the same commit hash from the snapshot" 0 "$BEFORE_HASH" "$M" hash
expect_error "snapshot with a bad argument" 2 "iodb: snapshot: expected nothing or 'incremental'*" \
	"$M" snapshot partial
HEAD_HASH=$("$IODB" "$M" hash)
expect "export prints the commit hash" 0 "$HEAD_HASH" "$M" export "$TMP/state.exp"
quiet "import" "$TMP/imported" import "$TMP/state.exp" "$HEAD_HASH"
expect "the import has the same commit hash" 0 "$HEAD_HASH" "$TMP/imported" hash
expect "and the same values" 0 "there" "$TMP/imported" get hello
WRONG=$(printf '%s' "$HEAD_HASH" | sed 's/^./0/;s/^00/11/')
expect_error "import against another hash" 1 "iodb: import into $TMP/imported2: proof does not verify: *" \
	"$TMP/imported2" import "$TMP/state.exp" "$WRONG"
check "a rejected import leaves nothing" test ! -e "$TMP/imported2"
expect_error "import into a store that exists" 1 "iodb: import into $M: invalid argument: *" \
	"$M" import "$TMP/state.exp" "$HEAD_HASH"

# --- read-only access ---------------------------------------------------------------------------
# Read commands open read-only (a shared lock, nothing written); write commands read-write.
# tree DIR: every path with its size, mtime and checksum, sorted.
tree() {
	(cd "$1" && find . -printf '%p %s %T@\n' | sort && find . -type f -print0 | sort -z |
		xargs -0 md5sum)
}
cp -a "$M" "$TMP/ro"
RO_BEFORE=$(tree "$TMP/ro")
expect "get reads a copy read-only" 0 "there" "$TMP/ro" get hello
expect "hash too" 0 "$HEAD_HASH" "$TMP/ro" hash
run "$TMP/ro" versions
check "versions too" test "$RC" = 0 -a -s "$TMP/out"
run "$TMP/ro" stats --json
check "stats too" test "$RC" = 0 -a -s "$TMP/out"
expect "export too" 0 "$HEAD_HASH" "$TMP/ro" export "$TMP/ro.exp"
check "reads wrote nothing in the store" test "$(tree "$TMP/ro")" = "$RO_BEFORE"
expect_error "--read-only refuses a write" 1 "iodb: *: invalid argument: the store was opened read-only" \
	"$TMP/ro" --read-only put k v
expect_error "--read-only refuses an import" 1 "iodb: import into $TMP/ro3: invalid argument: *read_only*" \
	"$TMP/ro3" --read-only import "$TMP/state.exp" "$HEAD_HASH"
check "and wrote nothing" test "$(tree "$TMP/ro")" = "$RO_BEFORE"
expect_error "a read of a missing store" 1 "iodb: open $TMP/ro2: not found: *read-only open never creates*" \
	"$TMP/ro2" get hello
check "creates nothing" test ! -e "$TMP/ro2"
# Read-only media: root ignores file modes, so as root the tool runs as nobody here (setpriv,
# util-linux), on a store every user may read.
MEDIA_WRAP=()
if [[ $(id -u) == 0 ]]; then
	if command -v setpriv >/dev/null && chmod a+rx "$TMP" && chmod -R a+rX "$TMP/ro" &&
		setpriv --reuid=65534 --regid=65534 --clear-groups test -r "$TMP/ro/LOCK" &&
		setpriv --reuid=65534 --regid=65534 --clear-groups "$IODB" --help >/dev/null 2>&1; then
		MEDIA_WRAP=(setpriv --reuid=65534 --regid=65534 --clear-groups)
	else
		MEDIA_WRAP=(skip)
		echo "cli_test.sh: read-only media checks skipped (root, and no way to run as nobody)"
	fi
fi
if [[ ${MEDIA_WRAP[0]:-} != skip ]]; then
	SAVED_WRAP=("${WRAP[@]}")
	WRAP=("${MEDIA_WRAP[@]}" "${WRAP[@]}")
	chmod -R a-w "$TMP/ro"
	expect "get on read-only media" 0 "there" "$TMP/ro" get hello
	expect "hash on read-only media" 0 "$HEAD_HASH" "$TMP/ro" hash
	expect_error "a write on read-only media" 1 "iodb: open $TMP/ro: *" "$TMP/ro" put k v
	check "read-only media unchanged" test "$(tree "$TMP/ro")" = "$RO_BEFORE"
	chmod -R u+w "$TMP/ro"
	WRAP=("${SAVED_WRAP[@]}")
fi
quiet "a write command opens read-write" "$TMP/ro" rollback "$(cd "$TMP/ro" && "$IODB" . head)"

printf '%d passed, 0 failed\n' "$passed"
