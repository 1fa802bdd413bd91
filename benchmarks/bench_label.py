"""Cost of labelling with CP2K: seconds per frame, the labelling stage's overhead over bare CP2K calls,
and (from a finished DFT campaign's logs) the campaign's labelling and total wall time.

Side by side in one run, on the same frames (32-atom Al, the DFT campaign's settings from
``config/campaign-dft-al.yaml``):

- ``bare``: ASE's CP2K calculator called directly on each frame, a fresh calculator per frame (as the
  stage does, so that a label does not depend on the frame labelled before it);
- ``stage``: :func:`nnpdistill.label.label_chunk` on the same frames (reading the store, journal
  writes with fsync, SCF checks, the labelled HDF5 store);
- ``reused``: one calculator for all frames (CP2K starts each SCF from the previous density): what a
  hand-written loop would do, shown for what history-independence costs.

    .venv/bin/python benchmarks/bench_label.py [--frames 3] [--results results]

The overhead target of the issue is under 5 % (stage against bare).
"""

from __future__ import annotations

import argparse
import re
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]


def campaign_reference():
    from nnpdistill.reference import make_reference

    cfg = yaml.safe_load((ROOT / "config" / "campaign-dft-al.yaml").read_text())
    return make_reference("Al", cfg["element_overrides"]["Al"]["reference"])


def frames(n: int, seed: int = 0):
    from ase.build import bulk

    out = []
    rng = np.random.default_rng(seed)
    for _ in range(n):
        atoms = bulk("Al", "fcc", a=4.05 * 1.03, cubic=True).repeat((2, 2, 2))  # hot: 3 % expanded
        atoms.positions += rng.normal(0.0, 0.15, atoms.positions.shape)
        out.append(atoms)
    return out


def campaign_times(results: Path) -> None:
    """Wall times of the DFT campaign's jobs from their logs (first to last record of each log)."""
    stamp = re.compile(r"^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}),\d+ ")
    per_frame = re.compile(r"(\d+) computed now.* ([0-9.]+) s per frame")
    from datetime import datetime

    logs = sorted((results / "Al").rglob("*.log"))
    if not logs:
        print(f"no logs under {results}/Al: run the DFT campaign first (config/campaign-dft-al.yaml)")
        return
    first, last, label_s, frames_done = None, None, 0.0, 0
    for log in logs:
        times = [datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S") for line in log.read_text().splitlines()
                 if (m := stamp.match(line))]
        if not times:
            continue
        first = min(first or times[0], times[0])
        last = max(last or times[-1], times[-1])
        if "label_chunk" in log.name:
            for m in per_frame.finditer(log.read_text()):
                frames_done += int(m.group(1))
                label_s += int(m.group(1)) * float(m.group(2))
    if frames_done:
        print(f"campaign labelling: {frames_done} frames computed, {label_s / frames_done:.1f} s per frame "
              f"(CPU of one core, two chunks side by side), {label_s / 3600:.2f} core-hours")
    if first and last:
        minutes = (last - first).total_seconds() / 60
        print(f"campaign wall time (first to last log record under {results}/Al): {minutes:.0f} min")


def main() -> int:
    from nnpdistill.frames import Frames, write_frames
    from nnpdistill.label import calculate_frame, label_chunk

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=3)
    parser.add_argument("--results", default=str(ROOT / "results"))
    args = parser.parse_args()
    ref = campaign_reference()
    ref.check()
    images = frames(args.frames)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        bare = [calculate_frame(ref, a.copy(), tmp / "bare")["energy"] for a in images]
        t_bare = time.perf_counter() - t0

        write_frames(tmp / "in.h5", Frames.from_atoms(images), {"element": "Al"})
        t0 = time.perf_counter()
        label_chunk(tmp / "in.h5", tmp / "out.h5", ref, progress=False)
        t_stage = time.perf_counter() - t0

        calc = ref.make_calculator(tmp / "reused")
        t0 = time.perf_counter()
        reused = []
        for a in images:
            a = a.copy()
            a.calc = calc
            reused.append(a.get_potential_energy())
            a.get_forces()
            a.get_stress()
        t_reused = time.perf_counter() - t0
        calc.close()
    n = len(images)
    print(f"CP2K on 32-atom Al, campaign settings ({ref.cp2k.basis_set}, {ref.cp2k.cutoff_Ry:g} Ry, "
          f"k-points {ref.cp2k.kpoints}), {n} frames, one core each:")
    print(f"  bare CP2K (fresh calculator per frame): {t_bare / n:7.2f} s/frame")
    print(f"  labelling stage (label_chunk):          {t_stage / n:7.2f} s/frame  "
          f"overhead {100 * (t_stage / t_bare - 1):+.1f} % (target < 5 %)")
    diff_meV = 1e3 * max(abs(a - b) for a, b in zip(bare, reused, strict=True)) / 32
    print(f"  one calculator reused for all frames:   {t_reused / n:7.2f} s/frame  "
          f"({100 * (t_reused / t_bare - 1):+.1f} %; labels differ by up to {diff_meV:.2g} meV/atom)")
    campaign_times(Path(args.results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
