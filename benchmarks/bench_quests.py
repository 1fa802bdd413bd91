"""The cost of the ``quests`` strategy's one-off ranking (rule ``rank_frames``) on a pool-sized input.

Synthetic pool: ``--frames`` perturbed 32-atom Ni frames (a third of them strongly disordered). Timed on
one thread: QUESTS descriptors, per-frame entropies, and ``--picks`` greedy picks after a 100-frame
initial subset, beside the quests package's own ``msc_conditional`` on the first ``--package-frames``
frames (it loops over frames for every pick, quadratic in the pool), with the orders compared.
Printed: seconds per frame and per pick, and the ranking's cost extrapolated to the default 1,000 picks
(the per-pick cost grows linearly with the pool's environments).

Usage: python benchmarks/bench_quests.py [--frames 20000] [--picks 50] [--package-frames 2000]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
from ase.build import bulk

from nnpdistill import selection as sel


def pool(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    base = bulk("Ni", "fcc", a=3.52, cubic=True).repeat((2, 2, 2))
    frac = base.get_scaled_positions()
    pos, cells = [], []
    for i in range(n):
        cell = base.cell[:] * (1 + rng.uniform(-0.02, 0.04))
        amp = 0.4 if i % 3 == 0 else rng.uniform(0.03, 0.12)
        pos.append(frac @ cell + rng.normal(0, amp, (len(base), 3)))
        cells.append(cell)
    return pos, cells


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=20000, help="pool frames (32 atoms each)")
    ap.add_argument("--picks", type=int, default=50, help="greedy picks timed")
    ap.add_argument("--package-frames", type=int, default=2000, help="pool size for the package's own loop")
    args = ap.parse_args()
    import numba
    from quests.compression.fps import msc_conditional

    numba.set_num_threads(1)
    pos, cells = pool(args.frames)
    sel.quests_descriptors(pos[:2], cells[:2])  # compile
    t = time.perf_counter()
    desc, offsets = sel.quests_descriptors(pos, cells)
    t_desc = time.perf_counter() - t
    t = time.perf_counter()
    ent = sel.quests_entropies(desc, offsets)
    t_ent = time.perf_counter() - t
    initial = np.arange(0, args.frames, max(1, args.frames // 100))[:100]
    t = time.perf_counter()
    sel.quests_rank(desc, offsets, ent, initial, 1)
    t_init = time.perf_counter() - t
    t = time.perf_counter()
    sel.quests_rank(desc, offsets, ent, initial, args.picks + 1)
    t_picks = time.perf_counter() - t - t_init
    per_pick = t_picks / args.picks

    # the package's loop on a smaller pool, beside ours on the same one
    m = args.package_frames
    sub_off = offsets[: m + 1]
    sub_desc, sub_ent = desc[: sub_off[-1]], ent[:m]
    ref = [i for i in initial if i < m]
    cand = [i for i in range(m) if i not in set(ref)]
    frames = [sub_desc[sub_off[i]:sub_off[i + 1]] for i in range(m)]
    k = min(10, len(cand))
    t = time.perf_counter()
    theirs = msc_conditional([frames[i] for i in cand], sub_ent[cand], k, reference=[frames[i] for i in ref])
    t_pkg = time.perf_counter() - t
    t = time.perf_counter()
    ours = sel.quests_rank(sub_desc, sub_off, sub_ent, ref, k)
    t_ours = time.perf_counter() - t
    same = ours.tolist() == [cand[j] for j in theirs]

    print(f"machine: {platform.processor() or platform.machine()} ({os.cpu_count()} CPUs), numba threads: 1")
    print(f"pool: {args.frames} frames x 32 atoms = {desc.shape[0]} environments x {desc.shape[1]} features")
    print(f"descriptors: {t_desc:.1f} s ({t_desc / args.frames * 1e3:.2f} ms/frame)")
    print(f"entropies: {t_ent:.1f} s ({t_ent / args.frames * 1e3:.2f} ms/frame)")
    print(f"kernel of the 100 initial frames: {t_init:.1f} s; greedy picks: {per_pick:.2f} s/pick")
    total = t_desc + t_ent + t_init + 1000 * per_pick
    print(f"ranking of 1,000 frames (the default budget), extrapolated: {total / 60:.1f} min")
    print(f"package's msc_conditional, {m} frames, {k} picks: {t_pkg:.2f} s; ours: {t_ours:.2f} s "
          f"(ratio {t_pkg / max(t_ours, 1e-9):.1f}x); same order: {same}")


if __name__ == "__main__":
    main()
