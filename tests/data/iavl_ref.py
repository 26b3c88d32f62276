#!/usr/bin/env python3
"""Independent reference implementation of the cosmos/iavl v1 Merkle layer.

Standard library only.  Written from /work/shared/IAVL.md (sections 1-3, 4.8)
and cross-checked against cosmos/iavl and cosmos/ics23 sources; it exists so
that the C implementation in iodb and this file can be compared by fixtures.

Contents
  * persistent (immutable-node) AVL+ tree with iavl v1 set/remove semantics,
    including node versions, "updated" short-circuit and newKey propagation;
  * node hashing and root hash (empty tree = SHA256(""));
  * ICS23 existence / non-existence proof construction as cosmos/iavl builds
    them, plus a protobuf encoder matching gogoproto's output byte for byte;
  * an ICS23 verifier (IavlSpec, incl. the ics23-go >= 0.10 IAVL op checks)
    used as a self-check;
  * the Cosmos SDK CommitInfo hash over named store roots.

Command line
  python3 iavl_ref.py check [iavl_public.json]       reproduce every vector
  python3 iavl_ref.py replay [iavl_changesets.txt]   re-check a changeset file
  python3 iavl_ref.py proofs [iavl_proofs.txt]       re-check a proof file
  python3 iavl_ref.py commits [commit_info.txt]      re-check commit infos
"""

import hashlib
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def sha256(b):
    return hashlib.sha256(b).digest()


EMPTY_HASH = sha256(b"")

# ---------------------------------------------------------------------------
# Encodings (Go encoding/binary)
# ---------------------------------------------------------------------------


def uvarint(n):
    """Go binary.PutUvarint / protobuf varint (unsigned LEB128)."""
    if n < 0:
        raise ValueError("uvarint of negative number")
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def varint(n):
    """Go binary.PutVarint: zigzag, then LEB128 (int64)."""
    if not -(1 << 63) <= n < (1 << 63):
        raise ValueError("varint out of int64 range")
    return uvarint((n << 1) ^ (n >> 63) if n < 0 else n << 1)


def read_uvarint(b, pos):
    shift = 0
    val = 0
    while True:
        if pos >= len(b):
            raise ValueError("truncated varint")
        c = b[pos]
        pos += 1
        val |= (c & 0x7F) << shift
        if not c & 0x80:
            return val, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint overflow")


def read_varint(b, pos):
    u, pos = read_uvarint(b, pos)
    v = u >> 1
    if u & 1:
        v = ~v
    return v, pos


# ---------------------------------------------------------------------------
# Nodes
# ---------------------------------------------------------------------------


class Node:
    """An immutable tree node.  Never mutated after construction; every
    'clone' of iavl is a fresh Node carrying the version being built."""

    __slots__ = ("key", "value", "version", "height", "size", "left", "right", "_hash")

    def __init__(self, key, value, version, left=None, right=None):
        self.key = key
        self.value = value          # None for inner nodes
        self.version = version
        self.left = left
        self.right = right
        if left is None:
            self.height = 0
            self.size = 1
        else:
            self.height = max(left.height, right.height) + 1
            self.size = left.size + right.size
        self._hash = None

    def is_leaf(self):
        return self.left is None

    def hash(self):
        if self._hash is None:
            if self.is_leaf():
                pre = (varint(0) + varint(1) + varint(self.version)
                       + uvarint(len(self.key)) + self.key
                       + b"\x20" + sha256(self.value))
            else:
                pre = (varint(self.height) + varint(self.size) + varint(self.version)
                       + b"\x20" + self.left.hash() + b"\x20" + self.right.hash())
            self._hash = sha256(pre)
        return self._hash


def new_leaf(key, value, version):
    if value is None:
        raise ValueError("nil value")  # iavl rejects nil; b"" is legal
    return Node(bytes(key), bytes(value), version)


def new_inner(key, left, right, version):
    return Node(key, None, version, left, right)


def bal(n):
    return n.left.height - n.right.height


def rotate_right(s, v):
    # clone S and L = S.left (both get v); S.left = L.right; L.right = S
    l = s.left
    new_s = new_inner(s.key, l.right, s.right, v)
    return new_inner(l.key, l.left, new_s, v)


def rotate_left(s, v):
    r = s.right
    new_s = new_inner(s.key, s.left, r.left, v)
    return new_inner(r.key, new_s, r.right, v)


def balance(n, v):
    """n is a node created in version v (heights/sizes already computed)."""
    b = bal(n)
    if b > 1:
        if bal(n.left) >= 0:
            return rotate_right(n, v)
        n = new_inner(n.key, rotate_left(n.left, v), n.right, v)
        return rotate_right(n, v)
    if b < -1:
        if bal(n.right) <= 0:
            return rotate_left(n, v)
        n = new_inner(n.key, n.left, rotate_right(n.right, v), v)
        return rotate_left(n, v)
    return n


def set_rec(node, key, value, v):
    """Returns (new node, updated)."""
    if node.is_leaf():
        if key < node.key:
            return new_inner(node.key, new_leaf(key, value, v), node, v), False
        if key > node.key:
            return new_inner(key, node, new_leaf(key, value, v), v), False
        return new_leaf(key, value, v), True
    if key < node.key:
        child, updated = set_rec(node.left, key, value, v)
        clone = new_inner(node.key, child, node.right, v)
    else:
        child, updated = set_rec(node.right, key, value, v)
        clone = new_inner(node.key, node.left, child, v)
    if updated:
        # iavl returns the clone as is: no recompute, no balance.  (Replacing
        # a leaf by a leaf cannot change height or size anyway.)
        return clone, True
    return balance(clone, v), False


def remove_rec(node, key, v):
    """Returns (new node or None, newKey or None, removed)."""
    if node.is_leaf():
        if key == node.key:
            return None, None, True
        return node, None, False
    if key < node.key:
        child, new_key, removed = remove_rec(node.left, key, v)
        if not removed:
            return node, None, False
        if child is None:
            # the left leaf was removed: the right subtree replaces the node
            # without being cloned; the node's key is the new leftmost key.
            return node.right, node.key, True
        n = new_inner(node.key, child, node.right, v)
        return balance(n, v), new_key, True
    child, new_key, removed = remove_rec(node.right, key, v)
    if not removed:
        return node, None, False
    if child is None:
        return node.left, None, True
    n = new_inner(new_key if new_key is not None else node.key, node.left, child, v)
    return balance(n, v), None, True


def get(node, key):
    while node is not None:
        if node.is_leaf():
            return node.value if node.key == key else None
        node = node.left if key < node.key else node.right
    return None


def get_with_index(node, key):
    """iavl Node.get: (index, value).  index = number of keys < key."""
    if node is None:
        return 0, None
    idx = 0
    while not node.is_leaf():
        if key < node.key:
            node = node.left
        else:
            idx += node.left.size
            node = node.right
    if node.key < key:
        return idx + 1, None
    if node.key > key:
        return idx, None
    return idx, node.value


def get_by_index(node, index):
    if node is None or index < 0 or index >= node.size:
        return None
    while not node.is_leaf():
        if index < node.left.size:
            node = node.left
        else:
            index -= node.left.size
            node = node.right
    return node


def iter_leaves(node):
    if node is None:
        return
    stack = [node]
    while stack:
        n = stack.pop()
        if n.is_leaf():
            yield n
        else:
            stack.append(n.right)
            stack.append(n.left)


def root_hash(root):
    return EMPTY_HASH if root is None else root.hash()


def check_invariants(node):
    """AVL/IAVL structural invariants; raises AssertionError.  Returns
    (min key, max key)."""
    if node.is_leaf():
        assert node.height == 0 and node.size == 1
        return node.key, node.key
    lmin, lmax = check_invariants(node.left)
    rmin, rmax = check_invariants(node.right)
    assert lmax < rmin, "keys out of order"
    assert node.key == rmin, "inner key is not the smallest key of the right subtree"
    assert node.height == max(node.left.height, node.right.height) + 1
    assert node.size == node.left.size + node.right.size
    assert abs(bal(node)) <= 1, "unbalanced"
    assert node.version >= node.left.version and node.version >= node.right.version
    return lmin, rmax


class MutableTree:
    """A versioned tree.  initial_version follows iavl v1: if > 1, the first
    saved version is numbered initial_version and its nodes carry it."""

    def __init__(self, initial_version=0):
        self.initial_version = initial_version
        self.version = 0          # last saved version (0 = none)
        self.root = None          # working root
        self.saved = {}           # version -> root node (None = empty tree)

    def working_version(self):
        if self.version == 0 and self.initial_version > 1:
            return self.initial_version
        return self.version + 1

    def set(self, key, value):
        key, value = bytes(key), bytes(value)
        v = self.working_version()
        if self.root is None:
            self.root = new_leaf(key, value, v)
            return False
        self.root, updated = set_rec(self.root, key, value, v)
        return updated

    def remove(self, key):
        if self.root is None:
            return False
        new_root, _, removed = remove_rec(self.root, bytes(key), self.working_version())
        if removed:
            self.root = new_root
        return removed

    def get(self, key):
        return get(self.root, bytes(key))

    def working_hash(self):
        return root_hash(self.root)

    def save_version(self):
        v = self.working_version()
        self.saved[v] = self.root
        self.version = v
        return root_hash(self.root), v

    def root_at(self, version):
        return self.saved[version]


# ---------------------------------------------------------------------------
# ICS23 proofs (cosmos/iavl proof_ics23.go semantics)
# ---------------------------------------------------------------------------
#
# Proofs are held as plain dicts:
#   ExistenceProof    {"key", "value", "leaf": LeafOp, "path": [InnerOp...]}
#   LeafOp            {"hash", "prehash_key", "prehash_value", "length", "prefix"}
#   InnerOp           {"hash", "prefix", "suffix"}
#   NonExistenceProof {"key", "left": ExistenceProof|None, "right": ...|None}
#   CommitmentProof   {"exist": ...} or {"nonexist": ...}

HASHOP_NO_HASH, HASHOP_SHA256 = 0, 1
LENGTHOP_NO_PREFIX, LENGTHOP_VAR_PROTO = 0, 1


def path_to_leaf(root, key):
    """Root-to-leaf list of (inner node, went_right) and the leaf (or None)."""
    path = []
    node = root
    while not node.is_leaf():
        if key < node.key:
            path.append((node, False))
            node = node.left
        else:
            path.append((node, True))
            node = node.right
    return path, (node if node.key == key else None)


def leaf_op(version):
    return {"hash": HASHOP_SHA256, "prehash_key": HASHOP_NO_HASH,
            "prehash_value": HASHOP_SHA256, "length": LENGTHOP_VAR_PROTO,
            "prefix": varint(0) + varint(1) + varint(version)}


def existence_proof(root, key):
    if root is None:
        raise KeyError("empty tree")
    path, leaf = path_to_leaf(root, bytes(key))
    if leaf is None:
        raise KeyError("cannot create ExistenceProof when key not in state")
    ops = []
    for node, went_right in reversed(path):          # leaf -> root
        p = varint(node.height) + varint(node.size) + varint(node.version)
        if went_right:
            ops.append({"hash": HASHOP_SHA256,
                        "prefix": p + b"\x20" + node.left.hash() + b"\x20",
                        "suffix": b""})
        else:
            ops.append({"hash": HASHOP_SHA256, "prefix": p + b"\x20",
                        "suffix": b"\x20" + node.right.hash()})
    return {"key": leaf.key, "value": leaf.value, "leaf": leaf_op(leaf.version), "path": ops}


def nonexistence_proof(root, key):
    key = bytes(key)
    idx, val = get_with_index(root, key)
    if val is not None:
        raise KeyError("cannot create NonExistenceProof when key in state")
    ne = {"key": key, "left": None, "right": None}
    if idx >= 1:
        ne["left"] = existence_proof(root, get_by_index(root, idx - 1).key)
    r = get_by_index(root, idx)
    if r is not None:
        ne["right"] = existence_proof(root, r.key)
    return ne


def membership_proof(root, key):
    return {"exist": existence_proof(root, key)}


def non_membership_proof(root, key):
    return {"nonexist": nonexistence_proof(root, key)}


# --- protobuf (proto3, as gogoproto marshals: ascending field order,
#     zero enums and empty bytes omitted, nil sub-messages omitted,
#     non-nil sub-messages always written even if empty) -----------------

def _tag(field, wire):
    return uvarint((field << 3) | wire)


def pb_enum(field, v):
    return b"" if v == 0 else _tag(field, 0) + uvarint(v)


def pb_bytes(field, b):
    return b"" if len(b) == 0 else _tag(field, 2) + uvarint(len(b)) + b


def pb_msg(field, body):
    return _tag(field, 2) + uvarint(len(body)) + body


def enc_leaf_op(op):
    return (pb_enum(1, op["hash"]) + pb_enum(2, op["prehash_key"])
            + pb_enum(3, op["prehash_value"]) + pb_enum(4, op["length"])
            + pb_bytes(5, op["prefix"]))


def enc_inner_op(op):
    return pb_enum(1, op["hash"]) + pb_bytes(2, op["prefix"]) + pb_bytes(3, op["suffix"])


def enc_existence(ep):
    out = pb_bytes(1, ep["key"]) + pb_bytes(2, ep["value"])
    out += pb_msg(3, enc_leaf_op(ep["leaf"]))
    for op in ep["path"]:
        out += pb_msg(4, enc_inner_op(op))
    return out


def enc_nonexistence(ne):
    out = pb_bytes(1, ne["key"])
    if ne["left"] is not None:
        out += pb_msg(2, enc_existence(ne["left"]))
    if ne["right"] is not None:
        out += pb_msg(3, enc_existence(ne["right"]))
    return out


def encode_commitment_proof(cp):
    if "exist" in cp:
        return pb_msg(1, enc_existence(cp["exist"]))
    return pb_msg(2, enc_nonexistence(cp["nonexist"]))


# --- minimal protobuf decoder (for round-trip self-checks) -----------------

def _fields(b):
    pos = 0
    while pos < len(b):
        t, pos = read_uvarint(b, pos)
        f, w = t >> 3, t & 7
        if w == 0:
            v, pos = read_uvarint(b, pos)
        elif w == 2:
            n, pos = read_uvarint(b, pos)
            v = bytes(b[pos:pos + n])
            if len(v) != n:
                raise ValueError("truncated")
            pos += n
        else:
            raise ValueError("unsupported wire type %d" % w)
        yield f, v


def dec_leaf_op(b):
    op = {"hash": 0, "prehash_key": 0, "prehash_value": 0, "length": 0, "prefix": b""}
    names = {1: "hash", 2: "prehash_key", 3: "prehash_value", 4: "length", 5: "prefix"}
    for f, v in _fields(b):
        op[names[f]] = v
    return op


def dec_inner_op(b):
    op = {"hash": 0, "prefix": b"", "suffix": b""}
    names = {1: "hash", 2: "prefix", 3: "suffix"}
    for f, v in _fields(b):
        op[names[f]] = v
    return op


def dec_existence(b):
    ep = {"key": b"", "value": b"", "leaf": None, "path": []}
    for f, v in _fields(b):
        if f == 1:
            ep["key"] = v
        elif f == 2:
            ep["value"] = v
        elif f == 3:
            ep["leaf"] = dec_leaf_op(v)
        elif f == 4:
            ep["path"].append(dec_inner_op(v))
    return ep


def decode_commitment_proof(b):
    for f, v in _fields(b):
        if f == 1:
            return {"exist": dec_existence(v)}
        if f == 2:
            ne = {"key": b"", "left": None, "right": None}
            for g, w in _fields(v):
                if g == 1:
                    ne["key"] = w
                elif g == 2:
                    ne["left"] = dec_existence(w)
                elif g == 3:
                    ne["right"] = dec_existence(w)
            return {"nonexist": ne}
    raise ValueError("empty CommitmentProof")


# --- verifier (IavlSpec), used as a self-check ------------------------------

IAVL_SPEC = {
    "leaf": {"hash": HASHOP_SHA256, "prehash_key": HASHOP_NO_HASH,
             "prehash_value": HASHOP_SHA256, "length": LENGTHOP_VAR_PROTO, "prefix": b"\x00"},
    "child_order": [0, 1], "child_size": 33, "min_prefix": 4, "max_prefix": 12,
    "max_depth": 128,
}


class ProofError(Exception):
    pass


def _validate_iavl_op(prefix, layer, is_inner, hashop):
    # ics23-go >= 0.10 validateIavlOps
    pos = 0
    vals = []
    for _ in range(3):
        v, pos = read_varint(prefix, pos)
        if v < 0:
            raise ProofError("negative value in IAVL op")
        vals.append(v)
    if vals[0] < layer:
        raise ProofError("height %d below layer %d" % (vals[0], layer))
    rest = len(prefix) - pos
    if not is_inner:
        if rest != 0:
            raise ProofError("trailing bytes in leaf prefix")
    else:
        if rest not in (1, 34):
            raise ProofError("inner prefix has %d bytes after varints" % rest)
        if hashop != HASHOP_SHA256:
            raise ProofError("inner hash op")


def _apply_leaf(op, key, value):
    if not key:
        raise ProofError("leaf op needs key")
    if not value:
        raise ProofError("leaf op needs value")
    return sha256(op["prefix"] + uvarint(len(key)) + key + uvarint(32) + sha256(value))


def _check_spec(ep):
    s = IAVL_SPEC
    leaf = ep["leaf"]
    for k in ("hash", "prehash_key", "prehash_value", "length"):
        if leaf[k] != s["leaf"][k]:
            raise ProofError("leaf op %s mismatch" % k)
    if not leaf["prefix"].startswith(s["leaf"]["prefix"]):
        raise ProofError("leaf prefix")
    _validate_iavl_op(leaf["prefix"], 0, False, leaf["hash"])
    if len(ep["path"]) > s["max_depth"]:
        raise ProofError("too deep")
    for i, op in enumerate(ep["path"]):
        if op["hash"] != HASHOP_SHA256:
            raise ProofError("inner hash op")
        if op["prefix"].startswith(s["leaf"]["prefix"]):
            raise ProofError("inner prefix starts with leaf prefix")
        if len(op["prefix"]) < s["min_prefix"]:
            raise ProofError("inner prefix too short")
        if len(op["prefix"]) > s["max_prefix"] + s["child_size"]:
            raise ProofError("inner prefix too long")
        if len(op["suffix"]) % s["child_size"] != 0:
            raise ProofError("inner suffix length")
        _validate_iavl_op(op["prefix"], i + 1, True, op["hash"])


def calc_existence_root(ep):
    h = _apply_leaf(ep["leaf"], ep["key"], ep["value"])
    for op in ep["path"]:
        h = sha256(op["prefix"] + h + op["suffix"])
    return h


def verify_existence(ep, root, key, value):
    _check_spec(ep)
    if calc_existence_root(ep) != root:
        raise ProofError("root mismatch")
    if ep["key"] != key or ep["value"] != value:
        raise ProofError("key/value mismatch")


def _padding(branch):
    s = IAVL_SPEC
    prefix = branch * s["child_size"]
    suffix = (len(s["child_order"]) - 1 - branch) * s["child_size"]
    return s["min_prefix"] + prefix, s["max_prefix"] + prefix, suffix


def _has_padding(op, branch):
    mn, mx, suf = _padding(branch)
    return mn <= len(op["prefix"]) <= mx and len(op["suffix"]) == suf


def verify_nonexistence(ne, root, key):
    l, r = ne["left"], ne["right"]
    if l is None and r is None:
        raise ProofError("neither left nor right proof")
    if l is not None:
        verify_existence(l, root, l["key"], l["value"])
        if not l["key"] < key:
            raise ProofError("left key not below key")
    if r is not None:
        verify_existence(r, root, r["key"], r["value"])
        if not key < r["key"]:
            raise ProofError("right key not above key")
    if l is None:
        if not all(_has_padding(op, 0) for op in r["path"]):
            raise ProofError("right proof not leftmost")
    elif r is None:
        if not all(_has_padding(op, 1) for op in l["path"]):
            raise ProofError("left proof not rightmost")
    else:
        lp, rp = list(l["path"]), list(r["path"])
        tl, tr = lp.pop(), rp.pop()
        while tl["prefix"] == tr["prefix"] and tl["suffix"] == tr["suffix"]:
            tl, tr = lp.pop(), rp.pop()
        if not (_has_padding(tl, 0) and _has_padding(tr, 1)):
            raise ProofError("not left neighbours at first divergent step")
        if not all(_has_padding(op, 1) for op in lp):
            raise ProofError("left proof not rightmost below divergence")
        if not all(_has_padding(op, 0) for op in rp):
            raise ProofError("right proof not leftmost below divergence")


# ---------------------------------------------------------------------------
# Cosmos SDK CommitInfo hash (section 4.8)
# ---------------------------------------------------------------------------


def simple_merkle_root(items):
    """CometBFT merkle.HashFromByteSlices."""
    n = len(items)
    if n == 0:
        return EMPTY_HASH
    if n == 1:
        return sha256(b"\x00" + items[0])
    k = 1 << ((n - 1).bit_length() - 1)     # largest power of 2 < n
    return sha256(b"\x01" + simple_merkle_root(items[:k]) + simple_merkle_root(items[k:]))


def commit_info_leaf(name, root):
    name = name.encode() if isinstance(name, str) else bytes(name)
    vh = sha256(root)
    return uvarint(len(name)) + name + uvarint(len(vh)) + vh


def commit_info_hash(stores):
    """stores: iterable of (name, root hash bytes).  Sorted by name bytes."""
    items = sorted(((n.encode() if isinstance(n, str) else bytes(n), r) for n, r in stores),
                   key=lambda t: t[0])
    names = [n for n, _ in items]
    if len(set(names)) != len(names):
        raise ValueError("duplicate store name")
    if not items:
        return EMPTY_HASH
    return simple_merkle_root([commit_info_leaf(n, r) for n, r in items])


# ---------------------------------------------------------------------------
# Fixture file readers (shared with gen_fixtures.py)
# ---------------------------------------------------------------------------


def unhex(s):
    return b"" if s == "-" else bytes.fromhex(s)


def hexs(b):
    return "-" if len(b) == 0 else b.hex()


def parse_changesets(path):
    """Yield dicts {name, initial_version, versions: [(v, ops, root)]}."""
    cases = []
    cur = None
    ops = None
    ver = None
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            t = line.split()
            if not t or t[0].startswith("#"):
                continue
            if t[0] == "case":
                cur = {"name": t[1], "initial_version": int(t[3]), "versions": []}
            elif t[0] == "version":
                ver, ops = int(t[1]), []
            elif t[0] == "set":
                ops.append(("set", unhex(t[1]), unhex(t[2])))
            elif t[0] == "del":
                ops.append(("del", unhex(t[1])))
            elif t[0] == "root":
                cur["versions"].append((ver, ops, bytes.fromhex(t[1])))
                ver = ops = None
            elif t[0] == "end":
                cases.append(cur)
                cur = None
            else:
                raise ValueError("%s:%d: bad line" % (path, lineno))
    return cases


def apply_ops(tree, ops):
    for op in ops:
        if op[0] == "set":
            tree.set(op[1], op[2])
        else:
            tree.remove(op[1])


# ---------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------


def cmd_check(path):
    data = json.load(open(path))
    total = 0
    for case in data:
        iv = case.get("initial_version") or 0
        tree = MutableTree(iv)
        for ver in case["versions"]:
            for ch in ver["changes"]:
                k = bytes.fromhex(ch["key"])
                if ch.get("delete"):
                    tree.remove(k)
                else:
                    tree.set(k, bytes.fromhex(ch["value"]))
            h, v = tree.save_version()
            if v != ver["version"]:
                raise SystemExit("FAIL %s: saved version %d, expected %d" % (case["source"], v, ver["version"]))
            if h.hex() != ver["root_hash"]:
                raise SystemExit("FAIL %s v%d: got %s want %s" % (case["source"], v, h.hex(), ver["root_hash"]))
            if tree.root is not None:
                check_invariants(tree.root)
            total += 1
        print("ok  %-45s %d versions" % (case["source"], len(case["versions"])))
    print("check: %d/%d root hashes of %s reproduced" % (total, total, os.path.basename(path)))


def cmd_replay(path):
    n = 0
    for case in parse_changesets(path):
        tree = MutableTree(case["initial_version"])
        for v, ops, root in case["versions"]:
            apply_ops(tree, ops)
            h, sv = tree.save_version()
            if sv != v or h != root:
                raise SystemExit("FAIL %s v%d" % (case["name"], v))
            n += 1
        print("ok  %-28s %4d versions" % (case["name"], len(case["versions"])))
    print("replay: %d versions reproduced" % n)


def cmd_proofs(path):
    n = 0
    for line in open(path):
        t = line.split()
        if not t or t[0] != "proof":
            continue
        kind, key = t[3], unhex(t[4])
        if kind == "exist":
            value, root, pb = unhex(t[5]), bytes.fromhex(t[6]), bytes.fromhex(t[7])
            cp = decode_commitment_proof(pb)
            verify_existence(cp["exist"], root, key, value)
        else:
            root, pb = bytes.fromhex(t[5]), bytes.fromhex(t[6])
            cp = decode_commitment_proof(pb)
            verify_nonexistence(cp["nonexist"], root, key)
        if encode_commitment_proof(cp) != pb:
            raise SystemExit("FAIL re-encode differs: %s" % line[:80])
        n += 1
    print("proofs: %d proofs verified by the Python verifier" % n)


def cmd_commits(path):
    stores = []
    n = 0
    for line in open(path):
        t = line.split()
        if not t or t[0].startswith("#"):
            continue
        if t[0] == "store":
            stores.append((t[1], bytes.fromhex(t[2])))
        elif t[0] == "commit":
            if commit_info_hash(stores).hex() != t[1]:
                raise SystemExit("FAIL commit info %d" % n)
            stores = []
            n += 1
    print("commits: %d commit-info hashes reproduced" % n)


def main(argv):
    cmd = argv[1] if len(argv) > 1 else "check"
    arg = argv[2] if len(argv) > 2 else None
    if cmd == "check":
        cmd_check(arg or os.path.join(HERE, "iavl_public.json"))
    elif cmd == "replay":
        cmd_replay(arg or os.path.join(HERE, "iavl_changesets.txt"))
    elif cmd == "proofs":
        cmd_proofs(arg or os.path.join(HERE, "iavl_proofs.txt"))
    elif cmd == "commits":
        cmd_commits(arg or os.path.join(HERE, "commit_info.txt"))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
