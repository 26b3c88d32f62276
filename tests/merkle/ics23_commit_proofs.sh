#!/bin/sh
# ics23_commit_proofs.sh TEST_BINARY VERIFY_SCRIPT — ctest merkle_commit_proof_ics23.
#
# Runs test_merkle_commit_proof with IODB_COMMIT_PROOFS_OUT set, so that it writes every
# proof it makes, then checks them all with @confio/ics23 (tests/data/verify_commit_proofs.mjs).
# Exit 77 (ctest reports it as skipped) when node or the module cannot be found: the module
# is looked for in $ICS23_NODE_MODULES, then /tmp/icsverify/node_modules. To install it:
#   mkdir -p /tmp/icsverify && cd /tmp/icsverify && npm init -y && npm install @confio/ics23
set -u
bin=$1
script=$2

if ! command -v node >/dev/null 2>&1; then
	echo "SKIP: node not found"
	exit 77
fi
mods=
for d in "${ICS23_NODE_MODULES:-}" /tmp/icsverify/node_modules; do
	if [ -n "$d" ] && [ -f "$d/@confio/ics23/package.json" ]; then
		mods=$d
		break
	fi
done
if [ -z "$mods" ]; then
	echo "SKIP: @confio/ics23 not found (set ICS23_NODE_MODULES or install it in /tmp/icsverify)"
	exit 77
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/iodb-ics23.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
if ! IODB_COMMIT_PROOFS_OUT="$tmp/proofs.txt" "$bin"; then
	echo "FAIL: $bin"
	exit 1
fi
ICS23_NODE_MODULES=$mods node "$script" "$tmp/proofs.txt"
