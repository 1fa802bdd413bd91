"""Pool prediction with an ensemble: energies, per-atom energies, atomic uncertainty, frame scores.

Atomic uncertainty of atom i: the standard deviation across members (ddof=1) of its predicted
per-atom energy, in eV. Frame scores: its maximum (``uq_max_eV``) and mean (``uq_mean_eV``) over
the frame's atoms.

Output (read by the selection step):

- ``scores.csv``: one row per frame, columns ``frame_index, n_atoms, energy_true_eV_per_atom,
  energy_pred_eV_per_atom, abs_error_meV_per_atom, energy_std_eV_per_atom, uq_max_eV, uq_mean_eV``
  then every per-frame meta of the store (``order_parameter``, ``temperature_K``, ``method``...).
  True energies are NaN for unlabelled frames. With ``forces=True`` two more columns follow the
  ``uq_*`` ones, the force committee's ``uq_force_max_eV_per_A, uq_force_mean_eV_per_A``
  (:mod:`nnpdistill.nnp.force_committee`; a backward pass per member, so only where asked).
- ``atomic.npz``: ``frame_index (F,)``, ``atom_offset (F+1,)`` and flat per-atom arrays
  ``uq_eV``, ``energy_pred_eV``, ``energy_true_eV`` (NaN without per-atom labels), in CSV row order.

With an AEV cache of the pool (:mod:`nnpdistill.nnp.aev_cache`, ``aevs=``) only the member networks run
per atom: the descriptors, which depend on the pool and the AEV settings but not on the networks, are
read from the cache (same results to float32 precision, ~20-40x faster on one core).
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from ..device import device_for, model_device
from ..io_utils import atomic_path, save_npz
from .aev_cache import AEVCache, AEVCacheMismatchError
from .batch import compute_aevs, neighbor_pairs
from .builder import NNPModel, combine_members
from .cached_scoring import score_from_cache
from .data import check_groups, load_groups
from .force_committee import frame_force_scores

log = logging.getLogger("nnpdistill.nnp.predict")

SCORE_COLUMNS = (
    "frame_index",
    "n_atoms",
    "energy_true_eV_per_atom",
    "energy_pred_eV_per_atom",
    "abs_error_meV_per_atom",
    "energy_std_eV_per_atom",
    "uq_max_eV",
    "uq_mean_eV",
)


def load_ensemble(paths: list[str | os.PathLike]) -> NNPModel:
    """Load member model files and join them into one ensemble."""
    return combine_members([NNPModel.load(p) for p in paths])


@dataclass
class PoolPrediction:
    scores: pd.DataFrame
    atom_offset: np.ndarray
    uq_eV: np.ndarray
    energy_pred_eV: np.ndarray
    energy_true_eV: np.ndarray
    seconds: float

    @property
    def atoms_per_second(self) -> float:
        return float(self.atom_offset[-1] / max(self.seconds, 1e-12))


def _member_energies(model: NNPModel, g, batch_frames: int, bar) -> np.ndarray:
    """Member per-atom energies ``(M, F, N)`` eV of group ``g``, AEVs computed batch by batch."""
    dtype = model.self_energy_hartree().dtype
    dev = model_device(model)
    member = np.empty((model.n_members, g.n_frames, g.n_atoms))
    for s in range(0, g.n_frames, batch_frames):
        e = min(s + batch_frames, g.n_frames)
        pairs = neighbor_pairs(g.positions[s:e], g.cell[s:e], model.cutoff_A)
        x = compute_aevs(model, torch.tensor(g.positions[s:e], dtype=dtype, device=dev),
                         torch.tensor(g.cell[s:e], dtype=dtype, device=dev), pairs)
        member[:, s:e] = model.atomic_energies_from_aevs(x).reshape(
            model.n_members, e - s, g.n_atoms).double().cpu().numpy()
        if bar is not None:
            bar.update(e - s)
    return member


def _open_cache(model: NNPModel, aevs, groups, source, on_mismatch: str) -> AEVCache | None:
    """Open and check the AEV cache ``aevs``; on a mismatch raise, or warn and return None."""
    if on_mismatch not in ("error", "recompute"):
        raise ValueError(f"on_mismatch must be 'error' or 'recompute', got {on_mismatch!r}")
    cache = AEVCache(aevs)
    try:
        cache.check(model.settings, groups,
                    pool_path=source if isinstance(source, (str, os.PathLike)) else None)
    except AEVCacheMismatchError as exc:
        cache.close()
        if on_mismatch == "error":
            raise
        log.warning("%s -- computing the AEVs on the fly instead (slow)", exc)
        return None
    return cache


def predict_pool(
    model: NNPModel, source, *, batch_frames: int = 128, progress: bool = True,
    aevs: str | os.PathLike | None = None, on_mismatch: str = "error", forces: bool = False,
    device: str | torch.device | None = None,
) -> PoolPrediction:
    """Predict every frame of ``source`` (frame store path, Frames-like or list) with ``model``.

    ``aevs``: an AEV cache of ``source`` (:func:`nnpdistill.nnp.aev_cache.compute_pool_aevs`). A cache
    made with other AEV settings or for other frames raises
    :class:`~nnpdistill.nnp.aev_cache.AEVCacheMismatchError` (``on_mismatch="error"``) or is ignored
    with a logged warning (``"recompute"``: AEVs computed on the fly). ``forces``: add the force
    committee's frame scores (member forces from the positions; the AEV cache does not hold derivatives).
    ``device``: where the networks run (``cpu``, ``cuda``, ``auto``; default: the workflow's
    ``device.predict``, else the CPU); the model is moved there (:mod:`nnpdistill.device`).
    """
    t0 = time.perf_counter()
    model.to(device_for("predict", device))
    groups = load_groups(source)
    check_groups(groups, model.atomic_number, model.settings.element, need_energy=False)
    cache = _open_cache(model, aevs, groups, source, on_mismatch) if aevs is not None else None
    n_total = sum(g.n_frames for g in groups)
    from ..runtime import Progress

    bar = Progress(n_total, "predict", "frame", enabled=progress)
    tables, uq_parts, pred_parts, true_parts = [], [], [], []
    model.eval()
    with torch.no_grad():
        for g_no, g in enumerate(groups):
            try:
                member = (score_from_cache(model, cache, g_no, bar=bar) if cache is not None
                          else _member_energies(model, g, batch_frames, bar))
            except BaseException:
                if cache is not None:
                    cache.close()
                raise
            mean = member.mean(0)
            uq = member.std(0, ddof=1) if model.n_members > 1 else np.zeros_like(mean)
            pred = mean.sum(1) / g.n_atoms
            true = g.energy / g.n_atoms if g.energy is not None else np.full(g.n_frames, np.nan)
            table = pd.DataFrame({
                "frame_index": g.index,
                "n_atoms": g.n_atoms,
                "energy_true_eV_per_atom": true,
                "energy_pred_eV_per_atom": pred,
                "abs_error_meV_per_atom": 1000.0 * np.abs(pred - true),
                "energy_std_eV_per_atom": (member.sum(2).std(0, ddof=1) / g.n_atoms
                                           if model.n_members > 1 else np.zeros(g.n_frames)),
                "uq_max_eV": uq.max(1),
                "uq_mean_eV": uq.mean(1),
            })
            if forces:
                for key, value in frame_force_scores(model, g.positions, g.cell,
                                                     batch_frames=max(1, batch_frames // 4)).items():
                    table[key] = value
            for key, value in g.meta.items():
                table[key] = value
            tables.append(table)
            uq_parts.append(uq)
            pred_parts.append(mean)
            true_parts.append(g.energies if g.energies is not None else np.full_like(mean, np.nan))
    if bar is not None:
        bar.close()
    if cache is not None:
        cache.close()
    scores = pd.concat(tables, ignore_index=True)
    order = np.argsort(scores["frame_index"].to_numpy(), kind="stable")
    scores = scores.iloc[order].reset_index(drop=True)
    flat_rows = [row for part in uq_parts for row in part]
    flat_pred = [row for part in pred_parts for row in part]
    flat_true = [row for part in true_parts for row in part]
    counts = np.array([len(flat_rows[i]) for i in order], dtype=np.int64)
    offset = np.concatenate([[0], np.cumsum(counts)])
    seconds = time.perf_counter() - t0
    result = PoolPrediction(
        scores=scores,
        atom_offset=offset,
        uq_eV=np.concatenate([flat_rows[i] for i in order]),
        energy_pred_eV=np.concatenate([flat_pred[i] for i in order]),
        energy_true_eV=np.concatenate([flat_true[i] for i in order]),
        seconds=seconds,
    )
    log.info("predicted %d frames (%d atoms) in %.1f s: %.0f atoms/s (%s)", len(scores), offset[-1], seconds,
             result.atoms_per_second, "AEVs from cache" if cache is not None else "AEVs computed")
    return result


def write_prediction(pred: PoolPrediction, csv_path: str | os.PathLike, npz_path: str | os.PathLike) -> None:
    """Write ``scores.csv`` and ``atomic.npz`` (atomically)."""
    with atomic_path(csv_path) as tmp:
        pred.scores.to_csv(tmp, index=False, float_format="%.10g")
    with atomic_path(npz_path) as tmp:
        save_npz(tmp, frame_index=pred.scores["frame_index"].to_numpy(), atom_offset=pred.atom_offset,
                 uq_eV=pred.uq_eV, energy_pred_eV=pred.energy_pred_eV, energy_true_eV=pred.energy_true_eV)


def read_prediction(csv_path: str | os.PathLike, npz_path: str | os.PathLike | None = None) -> PoolPrediction:
    scores = pd.read_csv(csv_path)
    if npz_path is None:
        n = len(scores)
        return PoolPrediction(scores, np.zeros(n + 1, np.int64), np.zeros(0), np.zeros(0), np.zeros(0), 0.0)
    with np.load(npz_path) as z:
        return PoolPrediction(scores, z["atom_offset"], z["uq_eV"], z["energy_pred_eV"],
                              z["energy_true_eV"], 0.0)


def score_pool(members: list[str | os.PathLike], pool: str | os.PathLike, scores: str | os.PathLike,
               atomic: str | os.PathLike, *, metrics: str | os.PathLike | None = None,
               parity: str | os.PathLike | None = None, uq: str | os.PathLike | None = None,
               aevs: str | os.PathLike | None = None, batch_frames: int = 128, progress: bool = False,
               on_mismatch: str = "recompute", forces: bool = False,
               device: str | None = None) -> PoolPrediction:
    """The pool-prediction stage, as rule ``predict_pool`` and ``nnpdistill predict`` run it: score
    ``pool`` with the ensemble of ``members`` and write ``scores`` (CSV) and ``atomic`` (NPZ), and,
    where given, ``metrics`` (CSV: MAE/RMSE overall, per phase and per order-parameter bin, plus the
    Spearman rank correlation of atomic uncertainty with atomic error), the ``parity`` plot and the
    uncertainty-against-error plot ``uq``. A pool without labels gets scores only (said in the log).
    ``forces``: add the force committee's frame scores (and, in ``metrics``, their Spearman rank
    correlation with the frames' energy errors). ``device``: where the networks run (see
    :func:`predict_pool`)."""
    model = load_ensemble(list(members))
    pred = predict_pool(model, pool, batch_frames=int(batch_frames), progress=progress, aevs=aevs or None,
                        on_mismatch=on_mismatch, forces=forces, device=device)
    write_prediction(pred, scores, atomic)
    if not any((metrics, parity, uq)):
        return pred
    if not np.isfinite(pred.scores["energy_true_eV_per_atom"].to_numpy(float)).any():
        log.warning("%s has no energy labels: scores only, no metrics or plots", pool)
        return pred
    from .metrics import energy_metrics, uncertainty_error_correlation
    from .plots import parity_plot, uncertainty_plot

    table = energy_metrics(pred.scores)
    corr = uncertainty_error_correlation(pred.uq_eV, pred.energy_pred_eV, pred.energy_true_eV)
    table["spearman_uq_vs_atomic_error"] = corr["spearman_rho"]
    if forces:
        from .evaluate import frame_uncertainty_error_correlation

        rho = frame_uncertainty_error_correlation(pred.scores, "uq_force_max_eV_per_A")
        table["spearman_force_uq_vs_frame_error"] = rho["spearman_rho"]
    if metrics:
        with atomic_path(metrics) as tmp:
            table.to_csv(tmp, index=False, float_format="%.6g")
    if parity:
        parity_plot(pred.scores, parity, title=f"{model.settings.element}: {len(pred.scores)} frames")
    if uq:
        uncertainty_plot(pred.uq_eV, pred.energy_pred_eV, pred.energy_true_eV, uq, rho=corr["spearman_rho"])
    log.info("pool MAE %.2f meV/atom, Spearman(uq, atomic error) %.3f", table.loc[0, "mae_meV_per_atom"],
             corr["spearman_rho"])
    return pred
