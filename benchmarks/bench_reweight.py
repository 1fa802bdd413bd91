"""The reweighting stage's two costs (rule ``reweight_momt``), each beside what it replaced, in one run.

1. Solid scores (ten Wolde's q6 criterion per frame, needed to count crossings and call frames solid): the
   package's polynomial Y6m over m >= 0 in cache-sized chunks against scipy's ``sph_harm_y`` over all 13 m
   in 64-frame chunks (the code before), on ``--frames`` frames; the scores must agree exactly.
2. MBAR bootstrap replicas: pymbar's ``robust`` solver warm-started from the full data's free energies
   (before) against Newton's method from there (now), on ``--replicas`` whole-walker resamplings; the
   free energies must agree to 1e-7.

Input: a MOMT store with Wang-Landau stages (``STORE.h5``, e.g. results/thermo_q6s_144_long/Al/sample/
momt_144.h5); without one, synthetic stand-ins of the 144-atom Al run's shape (rattled 144-atom FCC and
random frames; 151 stages x 43,200 frames of Gamma-distributed enthalpies under Wang-Landau-like biases).

Usage: python benchmarks/bench_reweight.py [STORE.h5] [--frames 512] [--replicas 3]
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import torch

from nnpdistill.md.mbar import _import_mbar, mbar_log_density
from nnpdistill.md.structure import solid_like_fraction
from nnpdistill.units import KB_EV_PER_K


def scipy_solid_like_fraction(positions, cells, chunk_frames=64, n_neighbors=12, d_min=0.7, min_bonds=7):
    """The criterion as the package computed it before (einsum distances, scipy harmonics over m = -6..6)."""
    from scipy.special import sph_harm_y

    n_atoms = positions.shape[1]
    out = np.empty(len(positions))
    m = np.arange(-6, 7)[:, None, None, None]
    for s in range(0, len(positions), chunk_frames):
        pos, cell = positions[s:s + chunk_frames], cells[s:s + chunk_frames]
        frac = np.einsum("fni,fij->fnj", pos, np.linalg.inv(cell))
        d = frac[:, :, None, :] - frac[:, None, :, :]
        d -= np.round(d)
        vec = np.einsum("fabi,fij->fabj", d, cell)
        dist = np.linalg.norm(vec, axis=-1)
        dist[:, np.arange(n_atoms), np.arange(n_atoms)] = np.inf
        idx = np.argpartition(dist, n_neighbors, axis=-1)[..., :n_neighbors]
        unit = np.take_along_axis(vec, idx[..., None], axis=2)
        unit /= np.linalg.norm(unit, axis=-1, keepdims=True)
        theta, phi = np.arccos(np.clip(unit[..., 2], -1, 1)), np.arctan2(unit[..., 1], unit[..., 0])
        q = sph_harm_y(6, m, theta[None], phi[None]).mean(axis=-1)
        q /= np.sqrt((np.abs(q) ** 2).sum(axis=0, keepdims=True))
        qj = np.take_along_axis(q[:, :, :, None], idx[None], axis=2)
        overlap = np.real((q[..., None] * np.conj(qj)).sum(axis=0))
        out[s:s + chunk_frames] = ((overlap > d_min).sum(axis=-1) >= min_bonds).mean(axis=-1)
    return out


def store_inputs(path, n_frames):
    from nnpdistill.frames import FrameStore
    from nnpdistill.md import momt_store as ms

    sel = ms.select_frames(path, 0.1, "mbar", 0.25, 1)
    meta = sel["meta"]
    with FrameStore(path) as st:
        index = np.linspace(0, len(st) - 1, n_frames).astype(np.int64)
        fr = st.read(index, labels=False, meta=False)
    H, O = meta["enthalpy_eV"], ms.bias_coordinate(meta)
    beta0 = 1.0 / (KB_EV_PER_K * float(sel["attrs"]["settings"]["temperature_K"]))
    h, Ht, Ot = H - H.mean(), torch.from_numpy(H), torch.from_numpy(O)
    u_kn = np.stack([beta0 * (h + b(Ht, Ot)[0].numpy()) for b in sel["stage_biases"]])
    return fr.positions, fr.cell, u_kn, sel["stage"], meta["walker"]


def synthetic_inputs(n_frames, rng, n_stages=151, per_stage=286, k=400):
    from ase.build import bulk

    base = bulk("Al", "fcc", a=4.05, cubic=True).repeat((3, 3, 4))
    pos = [base.positions + rng.normal(0, 0.1 if i % 2 else 0.5, base.positions.shape)
           for i in range(n_frames)]
    cells = np.repeat(base.cell[:][None], n_frames, 0)
    a = np.linspace(0.0, 0.3, n_stages) ** 2  # bias slopes: stages up to k ln(1.09) ~ 35 k_B T apart
    H = np.concatenate([rng.gamma(k, 1 / (1 + aj), size=per_stage) for aj in a])
    return np.stack(pos), cells, (1 + a)[:, None] * H[None, :], np.repeat(np.arange(n_stages), per_stage), \
        np.tile(np.arange(16), H.size // 16 + 1)[:H.size]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("store", nargs="?", help="a MOMT store with Wang-Landau stages (default: synthetic)")
    ap.add_argument("--frames", type=int, default=512, help="frames for the solid scores")
    ap.add_argument("--replicas", type=int, default=3, help="bootstrap replicas timed")
    args = ap.parse_args()
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    pos, cells, u_kn, stage, walker = (store_inputs(args.store, args.frames) if args.store
                                       else synthetic_inputs(args.frames, rng))
    print(f"{platform.processor() or platform.machine()}, one thread; {args.store or 'synthetic input'}")

    solid_like_fraction(pos[:2], cells[:2])
    t = time.perf_counter()
    old = scipy_solid_like_fraction(pos, cells)
    t_old = time.perf_counter() - t
    t = time.perf_counter()
    new = solid_like_fraction(pos, cells)
    t_new = time.perf_counter() - t
    n = pos.shape[1]
    print(f"solid scores, {len(pos)} frames x {n} atoms: scipy {1e3 * t_old / len(pos):.2f} ms/frame, "
          f"polynomial {1e3 * t_new / len(pos):.2f} ms/frame ({t_old / t_new:.1f}x); "
          f"identical: {bool(np.array_equal(old, new))}")

    _, f_full = mbar_log_density(u_kn, stage)
    n_w = int(walker.max()) + 1
    t_py = t_nt = 0.0
    worst = 0.0
    for _ in range(args.replicas):
        mult = np.bincount(rng.integers(0, n_w, n_w), minlength=n_w)[walker]
        t = time.perf_counter()
        _, f = mbar_log_density(u_kn, stage, mult, f_full)
        t_nt += time.perf_counter() - t
        idx = np.repeat(np.arange(stage.size), mult)
        idx = idx[np.argsort(stage[idx], kind="stable")]
        n_k = np.bincount(stage[idx], minlength=u_kn.shape[0])
        used = n_k > 0
        t = time.perf_counter()
        ref = _import_mbar()(u_kn[used][:, idx], n_k[used], initial_f_k=f_full[used] - f_full[used][0],
                             x_kindices=(np.cumsum(used) - 1)[stage[idx]], solver_protocol="robust").f_k
        t_py += time.perf_counter() - t
        worst = max(worst, float(np.abs((f[used] - f[used][0]) - (ref - ref[0])).max()))
    r = args.replicas
    print(f"MBAR replica, {u_kn.shape[0]} stages x {u_kn.shape[1]} frames: pymbar {t_py / r:.2f} s, "
          f"Newton {t_nt / r:.2f} s ({t_py / t_nt:.1f}x); largest f_k difference {worst:.1e} k_B T")


if __name__ == "__main__":
    main()
