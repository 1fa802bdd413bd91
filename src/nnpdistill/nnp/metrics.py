"""Error metrics of a pool prediction: MAE/RMSE in meV/atom (whole pool, by phase, by order-parameter
bin) and the rank correlation between atomic uncertainty and the true per-atom error."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from ..errors import DatasetError


def mae_rmse_meV(pred_eV: np.ndarray, true_eV: np.ndarray) -> tuple[float, float]:  # noqa: N802
    """MAE and RMSE in meV of two equally shaped arrays in eV (NaN labels skipped)."""
    err = np.asarray(pred_eV, dtype=float) - np.asarray(true_eV, dtype=float)
    err = err[np.isfinite(err)]
    if err.size == 0:
        return float("nan"), float("nan")
    return float(1000 * np.abs(err).mean()), float(1000 * np.sqrt((err**2).mean()))


def _row(name: str, value, sub: pd.DataFrame) -> dict:
    mae, rmse = mae_rmse_meV(sub["energy_pred_eV_per_atom"], sub["energy_true_eV_per_atom"])
    return {"subset": name, "value": value, "n_frames": len(sub), "mae_meV_per_atom": mae,
            "rmse_meV_per_atom": rmse, "uq_mean_eV": float(sub["uq_mean_eV"].mean()) if len(sub) else np.nan}


def energy_metrics(
    scores: pd.DataFrame, *, order_bins: int = 5, phase_column: str | None = None
) -> pd.DataFrame:
    """Rows: ``all``; each value of ``phase_column`` (default: ``phase`` or ``method`` if present);
    ``order_parameter`` in ``order_bins`` equal-count bins (value = bin centre)."""
    for col in ("energy_pred_eV_per_atom", "energy_true_eV_per_atom", "uq_mean_eV"):
        if col not in scores:
            raise DatasetError(f"scores table has no column {col!r}")
    rows = [_row("all", "", scores)]
    if phase_column is None:
        phase_column = next((c for c in ("phase", "method") if c in scores), None)
    if phase_column is not None and phase_column in scores:
        for value, sub in scores.groupby(phase_column, sort=True):
            rows.append(_row(phase_column, value, sub))
    if "order_parameter" in scores and order_bins > 0:
        q = scores["order_parameter"].to_numpy(dtype=float)
        ok = np.isfinite(q)
        if ok.sum() >= order_bins:
            edges = np.unique(np.quantile(q[ok], np.linspace(0, 1, order_bins + 1)))
            which = np.clip(np.searchsorted(edges, q, side="right") - 1, 0, len(edges) - 2)
            for b in range(len(edges) - 1):
                sub = scores[ok & (which == b)]
                rows.append(_row("order_parameter_bin", f"{edges[b]:.4g}..{edges[b + 1]:.4g}", sub))
    return pd.DataFrame(rows)


def uncertainty_error_correlation(uq_eV: np.ndarray, pred_eV: np.ndarray, true_eV: np.ndarray) -> dict:
    """Spearman rank correlation between atomic uncertainty and |per-atom error| (flat arrays, eV)."""
    err = np.abs(np.asarray(pred_eV, float) - np.asarray(true_eV, float))
    uq = np.asarray(uq_eV, float)
    ok = np.isfinite(err) & np.isfinite(uq)
    if ok.sum() < 3:
        return {"spearman_rho": float("nan"), "p_value": float("nan"), "n_atoms": int(ok.sum()),
                "atomic_mae_meV": float("nan")}
    rho, p = spearmanr(uq[ok], err[ok])
    return {"spearman_rho": float(rho), "p_value": float(p), "n_atoms": int(ok.sum()),
            "atomic_mae_meV": float(1000 * err[ok].mean())}


def calibration_curve(uq_eV: np.ndarray, pred_eV: np.ndarray, true_eV: np.ndarray,
                      n_bins: int = 10) -> pd.DataFrame:
    """The ensemble's calibration: atoms binned by their uncertainty (equal-count quantile bins), and per
    bin the mean uncertainty against the observed error (meV). A calibrated spread has ``rmse_meV`` ≈
    ``uq_mean_meV`` (for Gaussian errors ``mae_meV`` ≈ 0.80 ``uq_mean_meV``); a ranking-only score has
    errors that rise with the bins but not 1:1. Columns: ``bin``, ``uq_lo_meV``, ``uq_hi_meV``,
    ``uq_mean_meV``, ``n_atoms``, ``mae_meV``, ``rmse_meV``."""
    err = 1000 * np.abs(np.asarray(pred_eV, float).ravel() - np.asarray(true_eV, float).ravel())
    uq = 1000 * np.asarray(uq_eV, float).ravel()
    ok = np.isfinite(err) & np.isfinite(uq)
    err, uq = err[ok], uq[ok]
    cols = ["bin", "uq_lo_meV", "uq_hi_meV", "uq_mean_meV", "n_atoms", "mae_meV", "rmse_meV"]
    if uq.size < n_bins:
        return pd.DataFrame(columns=cols)
    order = np.argsort(uq, kind="stable")
    rows = []
    for b, idx in enumerate(np.array_split(order, n_bins)):
        rows.append({"bin": b, "uq_lo_meV": float(uq[idx].min()), "uq_hi_meV": float(uq[idx].max()),
                     "uq_mean_meV": float(uq[idx].mean()), "n_atoms": int(idx.size),
                     "mae_meV": float(err[idx].mean()), "rmse_meV": float(np.sqrt((err[idx] ** 2).mean()))})
    return pd.DataFrame(rows, columns=cols)
