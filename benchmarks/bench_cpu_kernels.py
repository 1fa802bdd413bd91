"""The cost of pinning the CPU kernels (issue 20, item 4): each level of ``cpu_kernels`` side by side.

For each level (native = no pin, avx2, default) a fresh process, pinned as the workflow pins its
jobs, times on one thread:
1. NNP training, energy only (cached AEVs) and energy + forces, seconds per epoch per 1,000 frames of
   32 atoms (default NNPSettings, float32);
2. pool scoring, a 5-member ensemble on 108-atom frames (atoms/s);
3. EAM energy + forces on 108-atom liquid-like Ni frames, batch 64, float64 (µs per atom-step).
Rounds are interleaved (native, avx2, default, native, ...) and the best of ``--rounds`` is kept, so a
load change on the machine hits every level alike. Printed: each figure, and its ratio to native.

Usage: python benchmarks/bench_cpu_kernels.py [--rounds 3] [--frames 160]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys

from nnpdistill.cpu_kernels import kernel_env

CHILD = r"""
import json, sys, time
level = sys.argv[1]
if level != "native":
    from nnpdistill.cpu_kernels import pin_environment
    pin_environment(level)
import numpy as np, torch
torch.set_num_threads(1)
sys.path.insert(0, sys.argv[3])
from bench_eam import bench_engine
from bench_nnp import frames, ours_epoch
from nnpdistill.nnp.builder import NNPSettings, build_model
from nnpdistill.nnp.predict import predict_pool
n = int(sys.argv[2])
out = {"capability": torch.backends.cpu.get_cpu_capability()}
data = frames(n, (2, 2, 2))
out["train_energy_s"] = ours_epoch(data, 0.0, 6)
out["train_forces_s"] = ours_epoch(data, 0.1, 3)
pool = frames(60, (3, 3, 3), seed=1)
model = build_model(NNPSettings(element="Ni"), n_members=5, seed=0)
predict_pool(model, pool, batch_frames=128, progress=False)  # warm-up
t = time.perf_counter()
predict_pool(model, pool, batch_frames=128, progress=False)
out["score_atoms_per_s"] = 60 * 108 / (time.perf_counter() - t)
out["eam_us_per_atom_step"] = bench_engine(64, torch.float64, 20, 1.0, mode="npt")[0]
print(json.dumps(out))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the best of each is kept")
    ap.add_argument("--frames", type=int, default=160, help="32-atom training frames")
    args = ap.parse_args()
    here = os.path.dirname(os.path.abspath(__file__))
    levels = ["native", "avx2", "default"]
    best: dict[str, dict] = {}
    for r in range(args.rounds):
        for level in levels:
            pins = set(kernel_env("avx2"))  # every variable a pin sets: the child sets its own
            env = {k: v for k, v in os.environ.items() if k not in pins}
            env["TORCHANI_NO_WARN_EXTENSIONS"] = "1"
            proc = subprocess.run([sys.executable, "-c", CHILD, level, str(args.frames), here], env=env,
                                  capture_output=True, text=True, check=False)
            if proc.returncode:
                sys.exit(f"{level}: {proc.stderr[-2000:]}")
            res = json.loads(proc.stdout.strip().splitlines()[-1])
            keep = best.setdefault(level, res)
            for k, v in res.items():
                if k == "capability":
                    continue
                better = max if k == "score_atoms_per_s" else min
                keep[k] = better(keep[k], v)
            print(f"round {r + 1}/{args.rounds} {level}: done", file=sys.stderr)
    print(f"machine: {platform.processor() or platform.machine()} ({os.cpu_count()} CPUs), torch threads: 1, "
          f"best of {args.rounds} interleaved rounds")
    figures = [("train_energy_s", "training, energy only (s/epoch/1k frames)", True),
               ("train_forces_s", "training, energy + forces (s/epoch/1k frames)", True),
               ("score_atoms_per_s", "pool scoring, 5 members, 108 atoms (atoms/s)", False),
               ("eam_us_per_atom_step", "EAM energy + forces, 108 atoms x 64, float64 (us/atom-step)", True)]
    print(f"{'figure':62s}" + "".join(f"{lv + ' (' + best[lv]['capability'] + ')':>22s}" for lv in levels))
    for key, label, lower_is_better in figures:
        base = best["native"][key]
        cells = []
        for lv in levels:
            v = best[lv][key]
            ratio = v / base if lower_is_better else base / v  # > 1: slower than native
            cells.append(f"{v:9.3g} ({ratio:4.2f}x)")
        print(f"{label:62s}" + "".join(f"{c:>22s}" for c in cells))
    print("ratio: time relative to native (> 1 is slower)")


if __name__ == "__main__":
    main()
