// Independent check of iavl_proofs.txt and commit_info.txt with @confio/ics23.
//
// Not run by the C test suite (it needs node + npm).  Usage:
//   mkdir -p /tmp/icsverify && cd /tmp/icsverify && npm init -y && npm install @confio/ics23
//   cd /tmp/icsverify && node /work/main/tests/data/verify_proofs.mjs \
//        [path/to/iavl_proofs.txt] [path/to/commit_info.txt]
// @confio/ics23 is resolved from the current directory, so run it from the
// directory holding node_modules.  Exits non-zero on any failure.
//
// Checks:
//  1. every proof decodes as ics23.CommitmentProof and verifies with
//     verifyMembership / verifyNonMembership under iavlSpec;
//  2. the ics23-go >= 0.10 IAVL op checks (validateIavlOps), which this JS
//     release does not perform, re-implemented here;
//  3. protobufjs re-encodes the decoded message to exactly the same bytes
//     (the fixture is canonical proto3 encoding, as gogoproto emits it);
//  4. tampering fails: one flipped byte per proof, every byte position of a
//     few proofs, a wrong value, a wrong root;
//  5. every store of every commit info is proven against the app hash with
//     an ICS23 existence proof under tendermintSpec (independent check of the
//     CommitInfo leaf format and the simple-merkle split).

import fs from "node:fs";
import path from "node:path";
import crypto from "node:crypto";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const require = createRequire(path.join(process.cwd(), "noop.js"));
const ics = require("@confio/ics23");
const icsVersion = require("@confio/ics23/package.json").version;
const { ics23, iavlSpec, tendermintSpec, verifyMembership, verifyNonMembership } = ics;

const here = path.dirname(fileURLToPath(import.meta.url));
const proofsPath = process.argv[2] || path.join(here, "iavl_proofs.txt");
const commitPath = process.argv[3] || path.join(here, "commit_info.txt");

let failures = 0;
function fail(msg) {
  failures++;
  console.error("FAIL: " + msg);
}
const unhex = (s) => (s === "-" ? new Uint8Array(0) : Uint8Array.from(Buffer.from(s, "hex")));
const hex = (b) => Buffer.from(b).toString("hex");
const sha256 = (b) => Uint8Array.from(crypto.createHash("sha256").update(b).digest());

// ---- ics23-go >= 0.10 validateIavlOps -------------------------------------
function readVarint(b, pos) {
  let u = 0n, shift = 0n;
  for (;;) {
    if (pos >= b.length) throw new Error("truncated varint");
    const c = b[pos++];
    u |= BigInt(c & 0x7f) << shift;
    if (!(c & 0x80)) break;
    shift += 7n;
    if (shift > 63n) throw new Error("varint overflow");
  }
  const v = u & 1n ? -(u >> 1n) - 1n : u >> 1n;
  return [v, pos];
}
function validateIavlOp(prefix, layer, isInner) {
  let pos = 0;
  const vals = [];
  for (let i = 0; i < 3; i++) {
    let v;
    [v, pos] = readVarint(prefix, pos);
    if (v < 0n) throw new Error("negative value in IAVL op");
    vals.push(v);
  }
  if (vals[0] < BigInt(layer)) throw new Error(`height ${vals[0]} < layer ${layer}`);
  const rest = prefix.length - pos;
  if (!isInner && rest !== 0) throw new Error("leaf prefix has trailing bytes");
  if (isInner && rest !== 1 && rest !== 34) throw new Error(`inner prefix rest ${rest}`);
}
function goIavlChecks(exist) {
  validateIavlOp(exist.leaf.prefix, 0, false);
  (exist.path || []).forEach((op, i) => {
    if (op.hash !== ics23.HashOp.SHA256) throw new Error("inner hash op");
    validateIavlOp(op.prefix, i + 1, true);
  });
}

// ---- 1-4: proofs ------------------------------------------------------------
// libVerify: what @confio/ics23 itself accepts.
function libVerify(kind, key, value, root, bytes) {
  let proof;
  try {
    proof = ics23.CommitmentProof.decode(bytes);
    return kind === "exist"
      ? verifyMembership(proof, iavlSpec, root, key, value)
      : verifyNonMembership(proof, iavlSpec, root, key);
  } catch (e) {
    return false;
  }
}
// strictVerify: libVerify plus what a Go verifier / our fixture contract adds:
//  - ics23-go >= 0.10 validateIavlOps;
//  - canonical encoding: protobufjs re-encodes the decoded message to the same
//    bytes (protobufjs ignores wire-type bits when decoding; gogoproto rejects
//    a wrong wire type, so a non-canonical input is not what Go would accept
//    or produce);
//  - NonExistenceProof.key equals the queried key (ICS23 verification does
//    not look at that field; the fixture still pins it).
function strictVerify(kind, key, value, root, bytes) {
  if (!libVerify(kind, key, value, root, bytes)) return false;
  try {
    const proof = ics23.CommitmentProof.decode(bytes);
    if (kind === "exist") {
      goIavlChecks(proof.exist);
    } else {
      if (proof.nonexist.left) goIavlChecks(proof.nonexist.left);
      if (proof.nonexist.right) goIavlChecks(proof.nonexist.right);
      if (hex(proof.nonexist.key) !== hex(key)) return false;
    }
    const re = ics23.CommitmentProof.encode(proof).finish();
    if (hex(re) !== hex(bytes)) return false;
  } catch (e) {
    return false;
  }
  return true;
}

const lines = fs.readFileSync(proofsPath, "utf8").split("\n").filter((l) => l.startsWith("proof "));
let nExist = 0, nAbsent = 0, nStrict = 0, nWrong = 0;
const flips = { total: 0, lib: 0, strictOnly: 0 };
let seed = 12345;
const rnd = (n) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff), seed % n);
function tamper(kind, key, value, root, bytes, what) {
  flips.total++;
  if (!libVerify(kind, key, value, root, bytes)) flips.lib++;
  else if (!strictVerify(kind, key, value, root, bytes)) flips.strictOnly++;
  else fail(`tampered proof accepted (${what})`);
}

lines.forEach((line, idx) => {
  const t = line.split(" ");
  const [, cas, ver, kind] = t;
  const key = unhex(t[4]);
  const value = kind === "exist" ? unhex(t[5]) : null;
  const root = unhex(kind === "exist" ? t[6] : t[5]);
  const bytes = unhex(kind === "exist" ? t[7] : t[6]);
  const where = `${cas} v${ver} ${kind} ${t[4]}`;

  if (!libVerify(kind, key, value, root, bytes)) {
    fail(`proof did not verify with @confio/ics23: ${where}`);
    return;
  }
  kind === "exist" ? nExist++ : nAbsent++;
  if (!strictVerify(kind, key, value, root, bytes)) fail(`strict checks failed: ${where}`);
  else nStrict++;

  // one flipped byte at a pseudo-random position
  const pos = rnd(bytes.length);
  const flipped = Uint8Array.from(bytes);
  flipped[pos] ^= 0xff;
  tamper(kind, key, value, root, flipped, `byte ${pos} ^ 0xff: ${where}`);

  // wrong root; wrong value (exist) or a present neighbour's key (absent):
  // these must be rejected by the library itself
  const badRoot = Uint8Array.from(root);
  badRoot[idx % 32] ^= 0x01;
  if (libVerify(kind, key, value, badRoot, bytes)) fail(`wrong root verifies: ${where}`);
  else nWrong++;
  if (kind === "exist") {
    const badValue = Uint8Array.from([...value, 0x00]);
    if (libVerify(kind, key, badValue, root, bytes)) fail(`wrong value verifies: ${where}`);
    else nWrong++;
  } else {
    const p = ics23.CommitmentProof.decode(bytes).nonexist;
    const neighbour = (p.left || p.right).key;
    if (libVerify("absent", neighbour, null, root, bytes)) fail(`absent proof accepted for a present key: ${where}`);
    else nWrong++;
  }

  // every byte position with two different bit flips, for every 25th proof
  if (idx % 25 === 0) {
    for (let i = 0; i < bytes.length; i++) {
      for (const x of [0x01, 0x80]) {
        const f = Uint8Array.from(bytes);
        f[i] ^= x;
        tamper(kind, key, value, root, f, `byte ${i} ^ ${x}: ${where}`);
      }
    }
  }
});

console.log(`@confio/ics23 ${icsVersion}: ${proofsPath}`);
console.log(`  verified ${nExist + nAbsent}/${lines.length} proofs with verifyMembership/verifyNonMembership + iavlSpec (${nExist} existence, ${nAbsent} non-existence)`);
console.log(`  strict checks (ics23-go validateIavlOps, canonical protobuf re-encoding, nonexist key) passed: ${nStrict}/${lines.length}`);
console.log(`  tampered proofs rejected: ${flips.lib + flips.strictOnly}/${flips.total} byte/bit flips ` +
  `(${flips.lib} by @confio/ics23 itself, ${flips.strictOnly} only by the strict checks), ${nWrong} wrong root/value/key cases`);

// ---- 5: commit info ---------------------------------------------------------
function splitPoint(n) {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}
// inner ops (leaf -> root) proving items[i] in the simple merkle tree of items
function merklePath(items, i) {
  if (items.length === 1) return [];
  const k = splitPoint(items.length);
  const hashOf = (xs) => simpleRoot(xs);
  if (i < k) {
    return [...merklePath(items.slice(0, k), i),
      { hash: ics23.HashOp.SHA256, prefix: Uint8Array.from([1]), suffix: hashOf(items.slice(k)) }];
  }
  return [...merklePath(items.slice(k), i - k),
    { hash: ics23.HashOp.SHA256, prefix: Uint8Array.from([1, ...hashOf(items.slice(0, k))]), suffix: new Uint8Array(0) }];
}
function simpleRoot(items) {
  if (items.length === 0) return sha256(new Uint8Array(0));
  if (items.length === 1) return sha256(Uint8Array.from([0, ...items[0]]));
  const k = splitPoint(items.length);
  return sha256(Uint8Array.from([1, ...simpleRoot(items.slice(0, k)), ...simpleRoot(items.slice(k))]));
}
function uvarint(n) {
  const out = [];
  while (n >= 0x80) { out.push((n & 0x7f) | 0x80); n >>>= 7; }
  out.push(n);
  return out;
}

let sets = 0, storesProven = 0;
let stores = [];
for (const raw of fs.readFileSync(commitPath, "utf8").split("\n")) {
  const t = raw.trim().split(" ");
  if (t[0] === "store") stores.push({ name: Buffer.from(t[1], "utf8"), root: unhex(t[2]) });
  if (t[0] !== "commit") continue;
  const appHash = unhex(t[1]);
  sets++;
  stores.sort((a, b) => Buffer.compare(a.name, b.name));
  if (stores.length === 0) {
    if (hex(appHash) !== hex(sha256(new Uint8Array(0)))) fail("empty commit info is not SHA256(\"\")");
  }
  // the leaf bytes (used only to build sibling hashes of the path); the leaf
  // itself is recomputed by ics23 from (name, root) via tendermintSpec
  const items = stores.map((s) => Uint8Array.from([...uvarint(s.name.length), ...s.name, 32, ...sha256(s.root)]));
  stores.forEach((s, i) => {
    const proof = {
      exist: {
        key: s.name, value: s.root,
        leaf: tendermintSpec.leafSpec,
        path: merklePath(items, i),
      },
    };
    if (!verifyMembership(proof, tendermintSpec, appHash, s.name, s.root)) {
      fail(`commit set ${sets}: store ${s.name} not proven against ${hex(appHash)}`);
    } else storesProven++;
    const bad = Uint8Array.from(s.root);
    bad[0] ^= 1;
    if (verifyMembership(proof, tendermintSpec, appHash, s.name, bad)) fail(`commit set ${sets}: wrong root proven`);
  });
  stores = [];
}
console.log(`  commit_info: ${sets} app hashes, ${storesProven} store roots proven with tendermintSpec`);

if (failures) {
  console.error(`${failures} FAILURE(S)`);
  process.exit(1);
}
console.log("ALL OK");
