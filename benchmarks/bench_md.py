"""MD throughput of the sampling stage: µs per atom-step and frames per hour for 32- and 108-atom Ni,
plain NPT vs MOMT on the box-aligned order parameter (momt) and on the q6 bond-order correlation
(momt-q6, ``momt.order: q6_bonds``), each with its ratio to plain NPT, at the default walker count and
frame stride; and the extrapolated wall time of the
paper-scale run (20,000 frames of 108-atom Ni, 100 steps between frames) on this machine, one thread.

    .venv/bin/python benchmarks/bench_md.py [--steps 200] [--walkers 16] [--stride 100] [--sizes 32 108] \
        [--kernels torch cpp]

``--kernels``: the compiled-kernel choices measured side by side in this one process (``eam_kernel``:
torch, eager torch for the EAM and the q6 order parameter; cpp, the C++ kernels for both), each row
also as a ratio to the first kernel's; default: this environment's choice only.
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from nnpdistill.device import on_device
from nnpdistill.io_utils import set_torch_threads
from nnpdistill.md.integrators import plain_forces
from nnpdistill.md.momt import Bias2D, MOMTForce, order_range
from nnpdistill.md.order import make_order
from nnpdistill.md.run import potential_from_eam
from nnpdistill.md.setup import MDParams, fcc_state
from nnpdistill.potentials.eam_cpp import KERNEL_VARIABLE, default_kernel
from nnpdistill.units import BAR_EV_PER_A3


def bench(pot, n_atoms: int, walkers: int, steps: int, momt: str | None) -> float:
    """Seconds per MD step of the whole batch (forces and order parameter on ``pot.device``)."""
    gen = torch.Generator().manual_seed(0)
    md = MDParams()
    state = fcc_state(walkers, n_atoms, pot.lattice_A, pot.mass_amu, 2000.0, gen)
    ev = pot.factory()
    if momt:
        e = ev(state.positions, state.cells).energy
        bias = Bias2D((float(e.min()) - 10, float(e.max()) + 60), order_range(n_atoms), 60, 80)
        fn = MOMTForce(ev, bias, md.pressure_bar * BAR_EV_PER_A3, 2000.0, 1000.0, 3000.0,
                       order=on_device(make_order(momt, n_atoms, pot.lattice_A), pot.device))
    else:
        fn = plain_forces(ev)
    integ = md.integrator(2000.0, gen)
    f, s, _ = fn(state.positions, state.cells)
    for _ in range(10):  # warm-up (kernel builds; on a GPU its context)
        f, s, _ = integ.step(state, fn, f, s)
    if pot.device != "cpu":
        torch.cuda.synchronize()
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
    ap.add_argument("--kernels", nargs="+", choices=["torch", "cpp", "auto"], default=None,
                    help="eam_kernel choices to measure side by side (EAM and q6 kernels)")
    args = ap.parse_args()
    set_torch_threads(1)
    kernels = args.kernels or [default_kernel()]
    print(f"Ni, {args.walkers} walkers, frame every {args.stride} steps, 1 thread, load average "
          f"{os.getloadavg()[0]:.2f}, kernels {' '.join(kernels)}")
    print(f"{'N':>5} {'method':>8} {'kernel':>6} {'us/atom-step':>13} {'x npt':>6} {'x first':>8} "
          f"{'frames/hour':>12} {'paper-scale run (h)':>20}")
    first: dict = {}
    for n in args.sizes:
        for kernel in kernels:
            os.environ[KERNEL_VARIABLE] = kernel  # the evaluator and the q6 coordinate read it when made
            pot = potential_from_eam("Ni")
            base = None
            for name, order in (("npt", None), ("momt", "fcc_box"), ("momt-q6", "q6_bonds")):
                sec = bench(pot, n, args.walkers, args.steps, order)
                base = sec if base is None else base
                ref = first.setdefault((n, name), sec)
                us = sec / (n * args.walkers) * 1e6
                frames_per_hour = 3600.0 / sec * args.walkers / args.stride
                hours = args.frames / frames_per_hour
                print(f"{n:>5} {name:>8} {kernel:>6} {us:>13.2f} {sec / base:>6.2f} {sec / ref:>8.2f} "
                      f"{frames_per_hour:>12.0f} {hours:>20.2f}")

if __name__ == "__main__":
    main()
