"""Plots of a pool prediction: parity (paper Figure 3) and atomic uncertainty vs true per-atom error."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from ..io_utils import atomic_path


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def low_accuracy_bins(true_eV: np.ndarray, err_meV: np.ndarray, *, n_bins: int = 20, factor: float = 2.0,
                      min_frames: int = 5) -> list[tuple[float, float, float]]:
    """Energy intervals where the model is poor: bins of the true energy per atom (equal width over the
    pool's range) whose MAE exceeds ``factor`` × the pool MAE, with at least ``min_frames`` frames.
    Returns ``(lo_eV, hi_eV, bin_mae_meV)`` per such bin; the paper marks such a region in Figure 3."""
    true_eV, err_meV = np.asarray(true_eV, float), np.abs(np.asarray(err_meV, float))
    if len(true_eV) == 0:
        return []
    overall = float(err_meV.mean())
    edges = np.linspace(true_eV.min(), true_eV.max(), n_bins + 1)
    which = np.clip(np.searchsorted(edges, true_eV, side="right") - 1, 0, n_bins - 1)
    out = []
    for b in range(n_bins):
        sel = which == b
        if sel.sum() >= min_frames and err_meV[sel].mean() > factor * overall:
            out.append((float(edges[b]), float(edges[b + 1]), float(err_meV[sel].mean())))
    return out


def parity_plot(scores: pd.DataFrame, path: str | os.PathLike, *, n_points: int = 1000, seed: int = 0,
                title: str = "") -> None:
    """True vs predicted energy per atom of ``n_points`` random frames (as the paper's Figure 3), coloured
    by the frame's mean atomic uncertainty. Energy ranges where the whole-pool MAE of that range exceeds
    twice the pool MAE are shaded as the low-accuracy region (see :func:`low_accuracy_bins`)."""
    plt = _plt()
    ok = scores[np.isfinite(scores["energy_true_eV_per_atom"])]
    rng = np.random.default_rng(seed)
    sub = ok.iloc[np.sort(rng.choice(len(ok), size=min(n_points, len(ok)), replace=False))] if len(ok) else ok
    fig, (ax, res) = plt.subplots(2, 1, figsize=(4.6, 5.6), sharex=True,
                                  gridspec_kw={"height_ratios": [1.0, 0.55]})
    x, y = sub["energy_true_eV_per_atom"], sub["energy_pred_eV_per_atom"]
    points = ax.scatter(x, y, s=6, alpha=0.6, c=1000 * sub["uq_mean_eV"], cmap="viridis")
    fig.colorbar(points, ax=[ax, res], label="mean atomic uncertainty (meV)", fraction=0.046, pad=0.03)
    # the errors are meV on an eV axis: the lower panel shows them (the parity line hides them)
    res.scatter(x, 1000 * (y - x), s=6, alpha=0.6, c=1000 * sub["uq_mean_eV"], cmap="viridis")
    res.axhline(0.0, color="k", ls="--", lw=0.8)
    if len(sub):
        lo, hi = float(min(x.min(), y.min())), float(max(x.max(), y.max()))
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
        err = 1000 * (ok["energy_pred_eV_per_atom"] - ok["energy_true_eV_per_atom"])
        poor = low_accuracy_bins(ok["energy_true_eV_per_atom"].to_numpy(), err.to_numpy())
        for i, (a, b, _) in enumerate(poor):
            ax.axvspan(a, b, color="C3", alpha=0.12, lw=0, label="MAE > 2× pool MAE" if i == 0 else None)
            res.axvspan(a, b, color="C3", alpha=0.12, lw=0)
        if poor:
            ax.legend(loc="lower right", fontsize=7)
        ax.text(0.04, 0.94, f"MAE {np.abs(err).mean():.2f} meV/atom\nRMSE {np.sqrt((err**2).mean()):.2f} "
                f"meV/atom\n{len(ok)} frames", transform=ax.transAxes, va="top", fontsize=8)
    res.set_xlabel("true energy (eV/atom)")
    res.set_ylabel("error (meV/atom)")
    ax.set_ylabel("predicted energy (eV/atom)")
    ax.set_title(title, fontsize=9)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=150, format=str(path).rsplit(".", 1)[-1], bbox_inches="tight")
    plt.close(fig)


def uncertainty_plot(uq_eV: np.ndarray, pred_eV: np.ndarray, true_eV: np.ndarray, path: str | os.PathLike,
                     *, rho: float | None = None, max_points: int = 20000, seed: int = 0) -> None:
    """Atomic uncertainty vs true |per-atom error| (log-log scatter of a random subsample), with the
    calibration curve over all atoms (RMS error per equal-count uncertainty bin,
    :func:`nnpdistill.nnp.metrics.calibration_curve`) and the line of a calibrated spread (error = spread)."""
    from .metrics import calibration_curve

    plt = _plt()
    calib = calibration_curve(uq_eV, pred_eV, true_eV)
    err = np.abs(np.asarray(pred_eV) - np.asarray(true_eV))
    ok = np.flatnonzero(np.isfinite(err) & (err > 0) & (np.asarray(uq_eV) > 0))
    if len(ok) > max_points:
        ok = np.sort(np.random.default_rng(seed).choice(ok, max_points, replace=False))
    fig, ax = plt.subplots(figsize=(4.2, 4.0))
    if not len(ok):  # e.g. DFT labels: totals only, no per-atom reference energies to compare with
        ax.text(0.5, 0.5, "no per-atom reference energies:\natomic uncertainty cannot be\nchecked against "
                "atomic errors", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=150, format=str(path).rsplit(".", 1)[-1])
        plt.close(fig)
        return
    ax.scatter(1000 * np.asarray(uq_eV)[ok], 1000 * err[ok], s=3, alpha=0.3, label="atoms")
    calib = calib[(calib["uq_mean_meV"] > 0) & (calib["rmse_meV"] > 0)]
    if len(calib):
        ax.plot(calib["uq_mean_meV"], calib["rmse_meV"], "o-", color="C3", ms=4, label="RMS error per bin")
        lo, hi = float(calib["uq_mean_meV"].min()), float(calib["uq_mean_meV"].max())
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8, label="calibrated: error = spread")
        ax.legend(fontsize=7, loc="lower right")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("atomic uncertainty (meV)")
    ax.set_ylabel("|per-atom error| vs reference (meV)")
    if rho is not None:
        ax.set_title(f"Spearman ρ = {rho:.3f}", fontsize=9)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=150, format=str(path).rsplit(".", 1)[-1])
    plt.close(fig)


def validation_plot(curves: list[dict], points: list[tuple[str, float]], nnp: dict, settings, path) -> None:
    """One column per state point: g(r) of the NNP over the reference's (the overlap range shaded), and the
    largest atomic uncertainty along the NNP's run against the candidate threshold."""
    plt = _plt()
    n = len(points)
    fig, axes = plt.subplots(2, n, figsize=(3.6 * n, 5.6), squeeze=False, constrained_layout=True)
    t_ps = nnp["step"] * settings.timestep_fs / 1000.0
    for b, ((phase, temp), c) in enumerate(zip(points, curves, strict=True)):
        ax = axes[0, b]
        ax.plot(c["r_A"], c["g_reference"], color="k", lw=1.4, label="reference (EAM)")
        ax.plot(c["r_A"], c["g_nnp"], color="C1", lw=1.2, ls="--", label="NNP ensemble")
        ax.axvspan(0, float(c["r_cut_A"]), color="0.92", zorder=0)
        ax.set(title=f"{phase}, {temp:.0f} K", xlabel="r (Å)", ylabel="g(r)")
        if b == 0:
            ax.legend(frameon=False, fontsize=8)
        ax = axes[1, b]
        ax.plot(t_ps, nnp["uncertainty"][:, b].max(-1) * 1000.0, color="C0", lw=1)
        ax.axhline(settings.uncertainty_threshold_eV * 1000.0, color="C3", ls=":",
                   label="candidate threshold")
        ax.set(xlabel="time (ps)", ylabel="largest atomic uncertainty (meV)")
        if b == 0:
            ax.legend(frameon=False, fontsize=8)
    fig.savefig(path, dpi=120, format="png")
    plt.close(fig)
