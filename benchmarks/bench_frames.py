"""Frame-store I/O on a pool-sized store (20,000 frames × 108 atoms, every field): write, read all, read
in a random permutation (what training batches do), read 500 sparse frames (what selection does), read
one metadata column. Prints seconds and the ratio of each read to reading everything.

    .venv/bin/python benchmarks/bench_frames.py [--frames 20000] [--atoms 108]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def main() -> None:
    from test_frames import ATTRS, make_frames

    from nnpdistill.frames import FrameStore, FrameWriter

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=20000)
    ap.add_argument("--atoms", type=int, default=108)
    args = ap.parse_args()
    block = make_frames(min(2000, args.frames), args.atoms, 80)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.h5"
        t0 = time.perf_counter()
        with FrameWriter(path, ATTRS) as w:
            done = 0
            while done < args.frames:
                n = min(len(block), args.frames - done)
                part = block if n == len(block) else block.select(slice(0, n))
                w.append(part)
                done += len(part)
        t_write = time.perf_counter() - t0
        with FrameStore(path) as store:
            t0 = time.perf_counter()
            store.read()
            t_all = time.perf_counter() - t0
            perm = np.random.default_rng(0).permutation(len(store))
            t0 = time.perf_counter()
            store.read(perm)
            t_perm = time.perf_counter() - t0
            sparse = np.sort(np.random.default_rng(1).choice(len(store), min(500, len(store)), replace=False))
            t0 = time.perf_counter()
            store.read(sparse)
            t_sparse = time.perf_counter() - t0
            t0 = time.perf_counter()
            store.meta("temperature_K")
            t_meta = time.perf_counter() - t0
        size_mb = path.stat().st_size / 1e6
    print(f"{args.frames} frames x {args.atoms} atoms ({size_mb:.0f} MB)")
    print(f"{'operation':<22}{'seconds':>10}{'/ read all':>12}")
    for name, t in (("write", t_write), ("read all", t_all), ("read permuted", t_perm),
                    ("read 500 sparse", t_sparse), ("read one meta column", t_meta)):
        print(f"{name:<22}{t:>10.3f}{t / t_all:>12.2f}")


if __name__ == "__main__":
    main()
