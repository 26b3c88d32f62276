"""Per-call overhead of the Python binding against C, on the same operations.

    python3 bindings/python/bench.py [--build BUILD_DIR] [--keys N] [--gets N] [--puts N]
                                     [--commits N] [--passes N]

BUILD_DIR holds libiodb.so (default: the directory of $IODB_LIBRARY, else ./build). The
script compiles bench/overhead.c with cc against ../../include and BUILD_DIR/libiodb.so,
runs it, runs the same operations through the iodb package, and prints ns/op for C and
Python, their ratio and the difference (the binding's cost per call):

  get     db.get(key) of an existing key (pseudo-random), vs iodb_get + iodb_free
  put     a one-put version, sync off: Batch.clear + Batch.put + DB.update
  commit  a 1,000-put version (per commit): 1,000 Batch.put + DB.update
  next    one step of `for k, v in it` (iodb_iter_next + key + value)
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))


def parse():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=None)
    ap.add_argument("--keys", type=int, default=10000)
    ap.add_argument("--gets", type=int, default=100000)
    ap.add_argument("--puts", type=int, default=5000)
    ap.add_argument("--commits", type=int, default=20)
    ap.add_argument("--passes", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3,
                    help="runs of each side, on fresh stores; the fastest of each op counts")
    return ap.parse_args()


def main():
    args = parse()
    build = args.build or (os.path.dirname(os.environ["IODB_LIBRARY"])
                           if os.environ.get("IODB_LIBRARY") else os.path.join(ROOT, "build"))
    build = os.path.abspath(build)
    libpath = os.path.join(build, "libiodb.so")
    if not os.path.exists(libpath):
        sys.exit("bench.py: no %s (build it: cmake --build %s --target iodb_shared)"
                 % (libpath, build))
    os.environ["IODB_LIBRARY"] = libpath
    sys.path.insert(0, HERE)
    import iodb

    tmp = tempfile.mkdtemp(prefix="iodb-bench-")
    try:
        exe = os.path.join(tmp, "overhead")
        subprocess.run(["cc", "-O2", "-I", os.path.join(ROOT, "include"),
                        os.path.join(HERE, "bench", "overhead.c"), "-L", build, "-liodb",
                        "-Wl,-rpath," + build, "-o", exe], check=True)
        c_ns, py_ns = {}, {}
        for r in range(args.rounds):  # alternating, so that load changes hit both sides
            out = subprocess.run([exe, os.path.join(tmp, "c-db%d" % r), str(args.keys),
                                  str(args.gets), str(args.puts), str(args.commits),
                                  str(args.passes)],
                                 check=True, capture_output=True, text=True).stdout
            for line in out.splitlines():
                name, ns = line.split()
                c_ns[name] = min(float(ns), c_ns.get(name, float("inf")))
            for name, ns in run_python(iodb, os.path.join(tmp, "py-db%d" % r), args).items():
                py_ns[name] = min(ns, py_ns.get(name, float("inf")))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print("%-8s %12s %12s %7s %12s" % ("op", "C ns/op", "Python ns/op", "ratio", "Py-C ns"))
    for name in ("get", "put", "commit", "next"):
        c, p = c_ns[name], py_ns[name]
        print("%-8s %12.0f %12.0f %6.2fx %12.0f" % (name, c, p, p / c, p - c))
    print("(keys %d, gets %d, puts %d, commits %d of 1,000 ops, %d iteration passes, best of "
          "%d rounds; python %s, %s)" % (args.keys, args.gets, args.puts, args.commits,
                                          args.passes, args.rounds, sys.version.split()[0],
                                          sys.executable))


def run_python(iodb, path, args):
    """The operations of overhead.c, in the same order on the same data."""
    ns = {}
    val = b"v" * 32
    vn = 0
    with iodb.DB(path, sync=False) as db, iodb.Batch() as b:
        for i in range(args.keys):
            b.put(b"key%08d" % i, val)
        db.update(b"v%d" % vn, b)
        vn += 1

        x = 88172645463325252
        mask = (1 << 64) - 1
        keys = []
        for _ in range(args.gets):  # the same xorshift sequence, keys made beforehand
            x ^= (x << 13) & mask
            x ^= x >> 7
            x ^= (x << 17) & mask
            keys.append(b"key%08d" % (x % args.keys))
        get = db.get
        t0 = time.perf_counter_ns()
        for k in keys:
            get(k)
        ns["get"] = (time.perf_counter_ns() - t0) / args.gets

        pkeys = [b"put%08d" % i for i in range(args.puts)]
        vids = [b"v%d" % (vn + i) for i in range(args.puts)]
        vn += args.puts
        t0 = time.perf_counter_ns()
        for k, vid in zip(pkeys, vids):
            b.clear()
            b.put(k, val)
            db.update(vid, b)
        ns["put"] = (time.perf_counter_ns() - t0) / args.puts

        ckeys = [[b"c%03d%07d" % (c % 1000, i) for i in range(1000)]
                 for c in range(args.commits)]
        t0 = time.perf_counter_ns()
        for c in range(args.commits):
            b.clear()
            put = b.put
            for k in ckeys[c]:
                put(k, val)
            db.update(b"v%d" % vn, b)
            vn += 1
        ns["commit"] = (time.perf_counter_ns() - t0) / args.commits

        n = 0
        with db.iterator() as it:
            t0 = time.perf_counter_ns()
            for _ in range(args.passes):
                for k, v in it:
                    n += 1
            ns["next"] = (time.perf_counter_ns() - t0) / n
    return ns


if __name__ == "__main__":
    main()
