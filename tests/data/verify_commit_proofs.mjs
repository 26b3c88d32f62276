// Independent check of iodb's proofs up to the commit hash with @confio/ics23.
//
// Usage: node verify_commit_proofs.mjs PROOFS.txt
// PROOFS.txt is what tests/merkle/test_commit_proof.c writes with IODB_COMMIT_PROOFS_OUT set
// (ctest merkle_commit_proof_ics23 runs both, tests/merkle/ics23_commit_proofs.sh):
//   ops HEXCOMMIT STORE HEXKEY HEXVALUE|- HEXPROOFOPS   a key (or its absence, '-') proven
//                                                       against a commit hash
//   simple HEXAPPHASH STORE HEXROOT HEXPROOF            commit_info_prove's proof of a store
//                                                       root (tests/data/commit_info.txt)
// @confio/ics23 is loaded from $ICS23_NODE_MODULES (a node_modules directory) if set, else
// from the current directory's node_modules. Exits 1 on any failure.
//
// What is checked, per ProofOps (tendermint.crypto.ProofOps, decoded here by hand):
//  1. the Cosmos SDK's verification (ProofOperators.Verify with the default proof runtime):
//     the ops run in order, each op's key must be the next key of the path /STORE/KEY from
//     the end, each CommitmentOp computes its root with calculateExistenceRoot and checks
//     verifyMembership (with the value handed up) or verifyNonMembership (no value) under
//     its type's spec (ics23:iavl -> iavlSpec, ics23:simple -> tendermintSpec), and the last
//     root must be the commit hash;
//  2. strict checks that a Go verifier or our contract adds: exactly two ops of types
//     ics23:iavl then ics23:simple; the ProofOps and both CommitmentProofs re-encode to
//     exactly the same bytes (canonical proto3, as gogoproto writes); ics23-go >= 0.10's
//     validateIavlOps on op 1; a non-existence proof names the key asked about;
//  3. tampering fails: a flipped byte per proof, every byte position (two bit flips) of
//     every 150th, a wrong value, the other kind of statement, a wrong commit hash, a wrong
//     store, the ops swapped.

import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";

const base = process.env.ICS23_NODE_MODULES
  ? path.join(path.resolve(process.env.ICS23_NODE_MODULES), "..", "noop.js")
  : path.join(process.cwd(), "noop.js");
const require = createRequire(base);
const ics = require("@confio/ics23");
const icsVersion = require("@confio/ics23/package.json").version;
const { ics23, iavlSpec, tendermintSpec, verifyMembership, verifyNonMembership, calculateExistenceRoot } = ics;

let failures = 0;
function fail(msg) {
  failures++;
  if (failures <= 50) console.error("FAIL: " + msg);
}
const unhex = (s) => (s === "-" ? new Uint8Array(0) : Uint8Array.from(Buffer.from(s, "hex")));
const hex = (b) => Buffer.from(b).toString("hex");
const eq = (a, b) => hex(a) === hex(b);
const utf8 = (s) => Uint8Array.from(Buffer.from(s, "utf8"));

// ---- ProofOps, by hand --------------------------------------------------------------
function readUvarint(b, pos) {
  let v = 0, mul = 1;
  for (let i = 0; i < 10; i++) {
    if (pos >= b.length) throw new Error("truncated varint");
    const c = b[pos++];
    v += (c & 0x7f) * mul;
    if (!(c & 0x80)) return [v, pos];
    mul *= 128;
  }
  throw new Error("varint too long");
}
// proto3 reading as gogoproto does: fields in any order, the last of a singular field wins,
// unknown varint / length-delimited / fixed fields skipped.
function readMessage(b, onField) {
  let pos = 0;
  while (pos < b.length) {
    let tag;
    [tag, pos] = readUvarint(b, pos);
    const field = Math.floor(tag / 8), wt = tag & 7;
    if (field === 0) throw new Error("field 0");
    if (wt === 2) {
      let n;
      [n, pos] = readUvarint(b, pos);
      if (pos + n > b.length) throw new Error("length past the end");
      onField(field, b.subarray(pos, pos + n));
      pos += n;
    } else if (wt === 0) {
      [, pos] = readUvarint(b, pos);
      onField(field, null);
    } else if (wt === 1 || wt === 5) {
      pos += wt === 1 ? 8 : 4;
      if (pos > b.length) throw new Error("truncated fixed field");
      onField(field, null);
    } else throw new Error("unsupported wire type " + wt);
  }
}
function decodeProofOps(b) {
  const ops = [];
  readMessage(b, (f, v) => {
    if (f !== 1) return;
    if (!v) throw new Error("ops is not length-delimited");
    const op = { type: "", key: new Uint8Array(0), data: new Uint8Array(0) };
    readMessage(v, (g, w) => {
      if (g >= 1 && g <= 3 && !w) throw new Error("ProofOp field of the wrong wire type");
      if (g === 1) op.type = Buffer.from(w).toString("utf8");
      if (g === 2) op.key = Uint8Array.from(w);
      if (g === 3) op.data = Uint8Array.from(w);
    });
    ops.push(op);
  });
  return ops;
}
function uvarint(n) {
  const out = [];
  while (n >= 0x80) { out.push((n & 0x7f) | 0x80); n = Math.floor(n / 128); }
  out.push(n);
  return out;
}
function field(tag, bytes) {
  return bytes.length ? [tag, ...uvarint(bytes.length), ...bytes] : [];
}
function encodeProofOps(ops) {
  const out = [];
  for (const op of ops) {
    const body = [...field(0x0a, utf8(op.type)), ...field(0x12, op.key), ...field(0x1a, op.data)];
    out.push(0x0a, ...uvarint(body.length), ...body);
  }
  return Uint8Array.from(out);
}

// ---- ics23-go >= 0.10 validateIavlOps ----------------------------------------------------
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
  return [u & 1n ? -(u >> 1n) - 1n : u >> 1n, pos];
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
  (exist.path || []).forEach((op, i) => validateIavlOp(op.prefix, i + 1, true));
}

// ---- Verification -------------------------------------------------------------------------
const specs = { "ics23:iavl": iavlSpec, "ics23:simple": tendermintSpec };

function calcRoot(proof) {
  if (proof.exist) return calculateExistenceRoot(proof.exist);
  if (proof.nonexist) return calculateExistenceRoot(proof.nonexist.left || proof.nonexist.right);
  throw new Error("no existence proof to calculate a root from");
}

// The SDK's ProofOperators.Verify(root, "/store/key", args) over ics23 CommitmentOps.
function libVerify(commit, store, key, value, bytes) {
  try {
    const ops = decodeProofOps(bytes);
    let keys = [utf8(store), key];
    let args = value ? [value] : [];
    for (const op of ops) {
      const spec = specs[op.type];
      if (!spec) return false;
      if (op.key.length) {
        if (!keys.length || !eq(keys[keys.length - 1], op.key)) return false;
        keys = keys.slice(0, -1);
      }
      const proof = ics23.CommitmentProof.decode(op.data);
      const root = calcRoot(proof);
      const ok = args.length === 0 ? verifyNonMembership(proof, spec, root, op.key)
        : args.length === 1 ? verifyMembership(proof, spec, root, op.key, args[0]) : false;
      if (!ok) return false;
      args = [root];
    }
    return keys.length === 0 && args.length === 1 && eq(args[0], commit);
  } catch (e) {
    return false;
  }
}

function strictVerify(commit, store, key, value, bytes) {
  if (!libVerify(commit, store, key, value, bytes)) return false;
  try {
    const ops = decodeProofOps(bytes);
    if (ops.length !== 2 || ops[0].type !== "ics23:iavl" || ops[1].type !== "ics23:simple") return false;
    if (!eq(encodeProofOps(ops), bytes)) return false;
    for (const op of ops) {
      const p = ics23.CommitmentProof.decode(op.data);
      if (!eq(ics23.CommitmentProof.encode(p).finish(), op.data)) return false;
    }
    const p1 = ics23.CommitmentProof.decode(ops[0].data);
    if (p1.exist) goIavlChecks(p1.exist);
    else {
      if (p1.nonexist.left) goIavlChecks(p1.nonexist.left);
      if (p1.nonexist.right) goIavlChecks(p1.nonexist.right);
      if (!eq(p1.nonexist.key, key)) return false;
    }
    if (!ics23.CommitmentProof.decode(ops[1].data).exist) return false;
  } catch (e) {
    return false;
  }
  return true;
}

// ---- The proofs ---------------------------------------------------------------------------
const file = process.argv[2];
if (!file) {
  console.error("usage: node verify_commit_proofs.mjs PROOFS.txt");
  process.exit(2);
}
const lines = fs.readFileSync(file, "utf8").split("\n").filter((l) => l.length);
let seed = 4242;
const rnd = (n) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff), seed % n);
const n = { present: 0, absent: 0, strict: 0, simple: 0, flips: 0, flipsLib: 0, flipsStrict: 0, wrong: 0 };

function tamper(commit, store, key, value, bytes, what) {
  n.flips++;
  if (!libVerify(commit, store, key, value, bytes)) n.flipsLib++;
  else if (!strictVerify(commit, store, key, value, bytes)) n.flipsStrict++;
  else fail(`tampered proof accepted (${what})`);
}
function mustFail(ok, what) {
  if (ok) fail(`accepted: ${what}`);
  else n.wrong++;
}

lines.forEach((line, idx) => {
  const t = line.split(" ");
  if (t[0] === "simple") {
    const [, app, store, root, pr] = t;
    try {
      const proof = ics23.CommitmentProof.decode(unhex(pr));
      if (!verifyMembership(proof, tendermintSpec, unhex(app), utf8(store), unhex(root)))
        fail(`commit-info proof of ${store} does not verify against ${app}`);
      else if (!eq(ics23.CommitmentProof.encode(proof).finish(), unhex(pr)))
        fail(`commit-info proof of ${store} is not canonical`);
      else n.simple++;
      const bad = unhex(root);
      bad[0] ^= 1;
      mustFail(verifyMembership(proof, tendermintSpec, unhex(app), utf8(store), bad), `wrong root for ${store}`);
    } catch (e) {
      fail(`commit-info proof of ${store}: ${e.message}`);
    }
    return;
  }
  if (t[0] !== "ops") return;
  const commit = unhex(t[1]), store = t[2], key = unhex(t[3]);
  const value = t[4] === "-" ? null : unhex(t[4]);
  const bytes = unhex(t[5]);
  const where = `line ${idx + 1}: ${store} ${t[3]} ${value ? "present" : "absent"}`;

  if (!libVerify(commit, store, key, value, bytes)) {
    fail(`does not verify with @confio/ics23: ${where}`);
    return;
  }
  value ? n.present++ : n.absent++;
  if (!strictVerify(commit, store, key, value, bytes)) fail(`strict checks failed: ${where}`);
  else n.strict++;

  const pos = rnd(bytes.length);
  const f = Uint8Array.from(bytes);
  f[pos] ^= 0xff;
  tamper(commit, store, key, value, f, `byte ${pos} ^ 0xff, ${where}`);

  if (value) {
    mustFail(libVerify(commit, store, key, Uint8Array.from([...value, 0]), bytes), `wrong value, ${where}`);
    mustFail(libVerify(commit, store, key, null, bytes), `present key proven absent, ${where}`);
  } else {
    mustFail(libVerify(commit, store, key, utf8("v"), bytes), `absent key proven present, ${where}`);
  }
  const badCommit = Uint8Array.from(commit);
  badCommit[idx % 32] ^= 0x01;
  mustFail(libVerify(badCommit, store, key, value, bytes), `wrong commit hash, ${where}`);
  mustFail(libVerify(commit, store + "x", key, value, bytes), `wrong store, ${where}`);
  const ops = decodeProofOps(bytes);
  mustFail(libVerify(commit, store, key, value, encodeProofOps([ops[1], ops[0]])), `ops swapped, ${where}`);

  if (idx % 150 === 0) {
    for (let i = 0; i < bytes.length; i++) {
      for (const x of [0x01, 0x80]) {
        const g = Uint8Array.from(bytes);
        g[i] ^= x;
        tamper(commit, store, key, value, g, `byte ${i} ^ ${x}, ${where}`);
      }
    }
  }
});

console.log(`@confio/ics23 ${icsVersion}: ${file}`);
console.log(`  ProofOps verified (SDK-style op chain, iavlSpec then tendermintSpec, up to the commit hash): ` +
  `${n.present + n.absent} (${n.present} membership, ${n.absent} non-membership); strict checks passed: ${n.strict}`);
console.log(`  commit-info proofs (tendermintSpec, commit_info.txt): ${n.simple}`);
console.log(`  tampered proofs rejected: ${n.flipsLib + n.flipsStrict}/${n.flips} byte/bit flips ` +
  `(${n.flipsLib} by the SDK-style check itself, ${n.flipsStrict} only by the strict checks); ` +
  `${n.wrong} wrong value/kind/commit/store/order cases`);
if (n.present + n.absent === 0 || n.simple === 0) fail("no proofs to check");
if (failures) {
  console.error(`${failures} FAILURE(S)`);
  process.exit(1);
}
console.log("ALL OK");
