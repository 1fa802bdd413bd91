"""MD throughput of the sampling stage: µs per atom-step and frames per hour for 32- and 108-atom Ni,
plain NPT vs MOMT, at the default walker count and frame stride; and the extrapolated wall time of the
paper-scale run (20,000 frames of 108-atom Ni, 100 steps between frames) on this machine, one thread.

    .venv/bin/python benchmarks/bench_md.py [--steps 200] [--walkers 16] [--stride 100] [--sizes 32 108]
"""

from __future__ import annotations

import argparse
import time

import torch

from nnpdistill.io_utils import set_torch_threads
from nnpdistill.md.integrators import plain_forces
from nnpdistill.md.momt import Bias2D, MOMTForce, order_range
from nnpdistill.md.run import potential_from_eam
from nnpdistill.md.setup import MDParams, fcc_state
from nnpdistill.units import BAR_EV_PER_A3


def bench(pot, n_atoms: int, walkers: int, steps: int, momt: bool) -> float:
    """Seconds per MD step of the whole batch."""
    gen = torch.Generator().manual_seed(0)
    md = MDParams()
    state = fcc_state(walkers, n_atoms, pot.lattice_A, pot.mass_amu, 2000.0, gen)
    ev = pot.factory()
    if momt:
        e = ev(state.positions, state.cells).energy
        bias = Bias2D((float(e.min()) - 10, float(e.max()) + 60), order_range(n_atoms), 60, 80)
        fn = MOMTForce(ev, bias, md.pressure_bar * BAR_EV_PER_A3, 2000.0, 1000.0, 3000.0)
    else:
        fn = plain_forces(ev)
    integ = md.integrator(2000.0, gen)
    f, s, _ = fn(state.positions, state.cells)
    for _ in range(10):  # warm-up
        f, s, _ = integ.step(state, fn, f, s)
    t0 = time.perf_counter()
    for _ in range(steps):
        f, s, _ = integ.step(state, fn, f, s)
    return (time.perf_counter() - t0) / steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--walkers", type=int, default=16)
    ap.add_argument("--stride", type=int, default=100)
    ap.add_argument("--frames", type=int, default=20000)
    ap.add_argument("--sizes", type=int, nargs="+", default=[32, 108])
    args = ap.parse_args()
    set_torch_threads(1)
    pot = potential_from_eam("Ni")
    print(f"Ni ({pot.name}), {args.walkers} walkers, frame every {args.stride} steps, 1 thread")
    print(f"{'N':>5} {'method':>7} {'us/atom-step':>13} {'frames/hour':>12} {'paper-scale run (h)':>20}")
    for n in args.sizes:
        for momt in (False, True):
            sec = bench(pot, n, args.walkers, args.steps, momt)
            us = sec / (n * args.walkers) * 1e6
            frames_per_hour = 3600.0 / sec * args.walkers / args.stride
            hours = args.frames / frames_per_hour
            name = "momt" if momt else "npt"
            print(f"{n:>5} {name:>7} {us:>13.2f} {frames_per_hour:>12.0f} {hours:>20.2f}")


if __name__ == "__main__":
    main()
