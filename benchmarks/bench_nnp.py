"""Benchmark of the NNP stage against torchani used as its docs show (one periodic frame per call).

Figures (1 thread, float32, default NNPSettings):
1. training seconds per epoch per 1,000 frames of 32 atoms, energy only (ours: cached AEVs) and
   energy + forces (ours: batched pairs, one graph per batch), each beside the per-frame baseline;
2. pool scoring throughput (atoms/s) on 108-atom frames with a 5-member ensemble (energies +
   per-atom spread), beside per-frame ``model((species, coords), cell, pbc, atomic=True,
   ensemble_values=True)``;
3. pool scoring from the AEV cache (``predict_pool(..., aevs=)``: networks only) beside the uncached
   scoring of figure 2 (best of ``--repeats`` each, interleaved), and the one-off cost of the cache
   (``compute_pool_aevs``: AEVs computed in float64, stored float32; and computed in float32), with the
   largest per-atom and per-frame energy difference of float32 storage vs float64 AEVs.

Usage: python benchmarks/bench_nnp.py [--frames 200] [--pool-frames 100]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

os.environ.setdefault("TORCHANI_NO_WARN_EXTENSIONS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from ase.build import bulk  # noqa: E402

from nnpdistill.nnp.aev_cache import compute_pool_aevs  # noqa: E402
from nnpdistill.nnp.builder import NNPSettings, build_model  # noqa: E402
from nnpdistill.nnp.predict import predict_pool  # noqa: E402
from nnpdistill.nnp.train import TrainSettings, train_member  # noqa: E402
from nnpdistill.units import HARTREE_EV  # noqa: E402


def frames(n: int, rep, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    base = bulk("Ni", "fcc", a=3.52, cubic=True).repeat(rep)
    pos = np.array([base.positions + rng.normal(0, 0.08, base.positions.shape) for _ in range(n)])
    cell = np.array([base.cell[:] * (1 + rng.uniform(-0.03, 0.03)) for _ in range(n)])
    frac = np.linalg.solve(base.cell[:].T, pos.transpose(0, 2, 1)).transpose(0, 2, 1)
    pos = np.einsum("fni,fij->fnj", frac, cell)
    n_atoms = len(base)
    return {"numbers": np.full((n, n_atoms), 28), "positions": pos, "cell": cell,
            "energy": -4.4 * n_atoms + rng.normal(0, 0.5, n), "forces": rng.normal(0, 0.3, (n, n_atoms, 3))}


def ours_epoch(data: dict, force_weight: float, epochs: int) -> float:
    ts = TrainSettings(train_fraction=0.5, max_epochs=epochs, batch_frames=16, force_weight=force_weight,
                       progress_every=0, early_stop_patience=10**6)
    res = train_member(data, NNPSettings(element="Ni"), ts, seed=0)
    times = [h["seconds"] for h in res.history]
    # per epoch (train + validation passes) after the one-off descriptor cache, per 1000 frames
    per_epoch = (times[-1] - times[0]) / max(len(times) - 1, 1) if len(times) > 1 else times[0]
    return per_epoch / len(data["energy"]) * 1000


def baseline_epoch(data: dict, forces: bool) -> float:
    """torchani as documented: ``model((species, coords), cell, pbc)`` one periodic frame per call."""
    model = build_model(NNPSettings(element="Ni", self_energy_eV=-4.4), 1, seed=0).ani
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    pbc = torch.tensor([True, True, True])
    n = len(data["energy"])
    n_train = n // 2
    t0 = time.perf_counter()
    for start in range(0, n_train, 16):  # training half
        opt.zero_grad()
        loss = 0.0
        for f in range(start, min(start + 16, n_train)):
            species = torch.tensor(data["numbers"][f:f + 1])
            coords = torch.tensor(data["positions"][f:f + 1], dtype=torch.float32, requires_grad=forces)
            cell = torch.tensor(data["cell"][f], dtype=torch.float32)
            e = model((species, coords), cell=cell, pbc=pbc).energies * HARTREE_EV
            loss = loss + ((e - float(data["energy"][f])) / 32) ** 2
            if forces:
                fp = -torch.autograd.grad(e.sum(), coords, create_graph=True)[0]
                f_true = torch.tensor(data["forces"][f:f + 1], dtype=torch.float32)
                loss = loss + 0.1 * ((fp - f_true) ** 2).mean()
        loss.backward()
        opt.step()
    for f in range(n_train, n):  # validation half
        species = torch.tensor(data["numbers"][f:f + 1])
        coords = torch.tensor(data["positions"][f:f + 1], dtype=torch.float32, requires_grad=forces)
        cell = torch.tensor(data["cell"][f], dtype=torch.float32)
        e = model((species, coords), cell=cell, pbc=pbc).energies
        if forces:
            torch.autograd.grad(e.sum(), coords)
    return (time.perf_counter() - t0) / n * 1000


def pool_throughput(data: dict) -> tuple[float, float]:
    model = build_model(NNPSettings(element="Ni", self_energy_eV=-4.4), 5, seed=0)
    pred = predict_pool(model, data, batch_frames=128, progress=False)
    ours = pred.atoms_per_second
    ani = model.ani
    pbc = torch.tensor([True, True, True])
    t0 = time.perf_counter()
    n_atoms = 0
    with torch.no_grad():
        for f in range(len(data["energy"])):
            species = torch.tensor(data["numbers"][f:f + 1])
            coords = torch.tensor(data["positions"][f:f + 1], dtype=torch.float32)
            e = ani((species, coords), cell=torch.tensor(data["cell"][f], dtype=torch.float32), pbc=pbc,
                    atomic=True, ensemble_values=True).energies
            e.std(0)
            n_atoms += species.shape[1]
    return ours, n_atoms / (time.perf_counter() - t0)


def cached_throughput(data: dict, repeats: int) -> dict:
    """Figures 3: uncached vs cached scoring (atoms/s, best of ``repeats``), cache cost, float32 error."""
    settings = NNPSettings(element="Ni", self_energy_eV=-4.4)
    model = build_model(settings, 5, seed=0)
    with torch.no_grad():  # a non-trivial per-member standardisation, as after training
        gen = torch.Generator().manual_seed(1)
        model.aev_mean.copy_(0.1 * torch.rand(model.aev_mean.shape, generator=gen))
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        c64 = compute_pool_aevs(data, settings, f"{tmp}/aev.h5")
        c32 = compute_pool_aevs(data, settings, f"{tmp}/aev32.h5", compute_dtype=torch.float32)
        out["cache_f64_atoms_per_s"] = c64.atoms_per_second
        out["cache_f32_atoms_per_s"] = c32.atoms_per_second
        out["cache_MB"] = os.path.getsize(f"{tmp}/aev.h5") / 1e6
        uncached, cached = 0.0, 0.0
        for _ in range(repeats):
            ref = predict_pool(model, data, batch_frames=128, progress=False)
            got = predict_pool(model, data, progress=False, aevs=f"{tmp}/aev.h5")
            uncached = max(uncached, ref.atoms_per_second)
            cached = max(cached, got.atoms_per_second)
        out["uncached_atoms_per_s"], out["cached_atoms_per_s"] = uncached, cached
        out["cached_vs_uncached_f32_max_meV_per_atom"] = 1000 * float(np.abs(
            got.scores["energy_pred_eV_per_atom"] - ref.scores["energy_pred_eV_per_atom"]).max())
        # float32 storage vs float64 AEVs: the same networks in float64 on both sides
        m64 = build_model(settings, 5, seed=0, dtype=torch.float64)
        m64.load_state_dict({k: v.double() for k, v in model.state_dict().items()})
        ref64 = predict_pool(m64, data, batch_frames=128, progress=False)
        got64 = predict_pool(m64, data, progress=False, aevs=f"{tmp}/aev.h5")
        out["f32_store_max_atom_meV"] = 1000 * float(
            np.abs(got64.energy_pred_eV - ref64.energy_pred_eV).max())
        out["f32_store_max_frame_meV_per_atom"] = 1000 * float(np.abs(
            got64.scores["energy_pred_eV_per_atom"] - ref64.scores["energy_pred_eV_per_atom"]).max())
        out["f32_store_max_uq_meV"] = 1000 * float(np.abs(got64.uq_eV - ref64.uq_eV).max())
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=200, help="32-atom frames for the training figures")
    ap.add_argument("--pool-frames", type=int, default=100, help="108-atom frames for the pool figure")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--cache-frames", type=int, default=400, help="108-atom frames for the AEV-cache figures")
    ap.add_argument("--repeats", type=int, default=3, help="best-of repeats of the cached/uncached scoring")
    ap.add_argument("--only-cache", action="store_true", help="only the AEV-cache figures (3)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    if not args.only_cache:
        training_and_pool_figures(args)
    c = cached_throughput(frames(args.cache_frames, (3, 3, 3), seed=2), args.repeats)
    print(f"\nAEV cache: {args.cache_frames} frames x 108 atoms, 5 members, 1 thread, best of {args.repeats}")
    rows = [
        ("pool scoring, uncached (atoms/s)", c["uncached_atoms_per_s"], ".0f"),
        ("pool scoring, from AEV cache (atoms/s)", c["cached_atoms_per_s"], ".0f"),
        ("  speed-up (x)", c["cached_atoms_per_s"] / c["uncached_atoms_per_s"], ".1f"),
        ("one-off cache, AEVs in float64 (atoms/s)", c["cache_f64_atoms_per_s"], ".0f"),
        ("one-off cache, AEVs in float32 (atoms/s)", c["cache_f32_atoms_per_s"], ".0f"),
        ("cache size (MB)", c["cache_MB"], ".1f"),
        ("cached vs uncached, float32 model (meV/atom)", c["cached_vs_uncached_f32_max_meV_per_atom"], ".2e"),
        ("f32 storage vs f64 AEVs: frame (meV/atom)", c["f32_store_max_frame_meV_per_atom"], ".2e"),
        ("f32 storage vs f64 AEVs: atom energy (meV)", c["f32_store_max_atom_meV"], ".2e"),
        ("f32 storage vs f64 AEVs: atomic uq (meV)", c["f32_store_max_uq_meV"], ".2e"),
    ]
    for name, value, fmt in rows:
        print(f"{name:<48}{value:>12{fmt}}")


def training_and_pool_figures(args) -> None:
    data = frames(args.frames, (2, 2, 2))
    print(f"{'figure':<48}{'ours':>12}{'torchani/frame':>16}{'speed-up':>10}")
    o, b = ours_epoch(data, 0.0, args.epochs), baseline_epoch(data, forces=False)
    print(f"{'train, energy only (s/epoch/1000 frames)':<48}{o:>12.2f}{b:>16.2f}{b / o:>9.1f}x")
    small = {k: v[: max(args.frames // 4, 16)] for k, v in data.items()}
    o, b = ours_epoch(small, 0.1, 2), baseline_epoch(small, forces=True)
    print(f"{'train, energy + forces (s/epoch/1000 frames)':<48}{o:>12.2f}{b:>16.2f}{b / o:>9.1f}x")
    o, b = pool_throughput(frames(args.pool_frames, (3, 3, 3), seed=1))
    print(f"{'pool scoring, 5 members, 108 atoms (atoms/s)':<48}{o:>12.0f}{b:>16.0f}{o / b:>9.1f}x")


if __name__ == "__main__":
    main()
