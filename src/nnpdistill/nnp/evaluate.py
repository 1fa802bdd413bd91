"""An ensemble judged on a labelled test store (e.g. frames labelled by DFT), and the learning curve
of test error against the number of labelled training frames.

Works with any reference: DFT labels have no per-atom energies, so the uncertainty check falls back
from atoms (uncertainty against per-atom error) to frames (frame score against per-atom energy error)
and says which level it used (``uq_level``).
"""

from __future__ import annotations

import logging
import os

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from ..io_utils import atomic_path
from .metrics import energy_metrics, uncertainty_error_correlation

log = logging.getLogger("nnpdistill.nnp")


def frame_uncertainty_error_correlation(scores: pd.DataFrame, column: str = "uq_max_eV") -> dict:
    """Spearman rank correlation between a frame's uncertainty score and its |energy error| per atom."""
    err = np.abs(
        scores["energy_pred_eV_per_atom"].to_numpy(float) - scores["energy_true_eV_per_atom"].to_numpy(float)
    )
    uq = scores[column].to_numpy(float)
    ok = np.isfinite(err) & np.isfinite(uq)
    if ok.sum() < 3:
        return {"spearman_rho": float("nan"), "n_frames": int(ok.sum())}
    rho, _ = spearmanr(uq[ok], err[ok])
    return {"spearman_rho": float(rho), "n_frames": int(ok.sum())}


def uncertainty_quality(pred) -> tuple[float, str]:
    """(Spearman rho, level): per atom when the labels have per-atom energies, else per frame."""
    corr = uncertainty_error_correlation(pred.uq_eV, pred.energy_pred_eV, pred.energy_true_eV)
    if corr["n_atoms"] >= 3:
        return corr["spearman_rho"], "atom"
    log.info(
        "no per-atom reference energies (e.g. DFT labels): uncertainty quality from frame scores "
        "against frame errors instead of atoms"
    )
    return frame_uncertainty_error_correlation(pred.scores)["spearman_rho"], "frame"


def evaluate_testset(
    members: list[str | os.PathLike],
    store: str | os.PathLike,
    scores_csv: str | os.PathLike,
    metrics_csv: str | os.PathLike,
    parity_png: str | os.PathLike,
    *,
    batch_frames: int = 128,
) -> pd.DataFrame:
    """Predict a labelled store with an ensemble; write its scores, metrics (meV/atom) and parity plot."""
    from .plots import parity_plot
    from .predict import load_ensemble, predict_pool

    model = load_ensemble(list(members))
    pred = predict_pool(model, store, batch_frames=batch_frames, progress=False)
    if not np.isfinite(pred.scores["energy_true_eV_per_atom"]).any():
        from ..errors import DatasetError

        raise DatasetError(f"{store}: no energy labels to test against")
    metrics = energy_metrics(pred.scores)
    rho, level = uncertainty_quality(pred)
    metrics["spearman_uq_vs_error"] = rho
    metrics["uq_level"] = level
    with atomic_path(scores_csv) as tmp:
        pred.scores.to_csv(tmp, index=False, float_format="%.10g")
    with atomic_path(metrics_csv) as tmp:
        metrics.to_csv(tmp, index=False, float_format="%.6g")
    parity_plot(pred.scores, parity_png, title=f"{model.settings.element}: {len(pred.scores)} test frames")
    log.info(
        "test MAE %.2f meV/atom on %d frames, Spearman(uq, error) %.3f per %s",
        metrics.loc[0, "mae_meV_per_atom"],
        len(pred.scores),
        rho,
        level,
    )
    return metrics


def labelled_learning_curve(
    metrics: dict[str, str], frames: dict[str, str], out_csv: str | os.PathLike, out_png: str | os.PathLike
) -> pd.DataFrame:
    """Test MAE/RMSE against the number of training frames: ``metrics`` and ``frames`` map a training
    set name to its test ``metrics.csv`` and its training store."""
    from ..frames import FrameStore

    rows = []
    for name, path in metrics.items():
        with FrameStore(frames[name]) as store:
            n = len(store)
        m = pd.read_csv(path)
        row = m.loc[m["subset"] == "all"].iloc[0]
        rows.append(
            {
                "trainset": name,
                "n_train_frames": n,
                "test_frames": int(row["n_frames"]),
                "mae_meV_per_atom": float(row["mae_meV_per_atom"]),
                "rmse_meV_per_atom": float(row["rmse_meV_per_atom"]),
            }
        )
    table = pd.DataFrame(rows).sort_values("n_train_frames", kind="stable").reset_index(drop=True)
    with atomic_path(out_csv) as tmp:
        table.to_csv(tmp, index=False, float_format="%.6g")
    from .plots import _plt

    plt = _plt()
    fig, ax = plt.subplots(figsize=(4.5, 3.4), dpi=120)
    ax.plot(table["n_train_frames"], table["mae_meV_per_atom"], "o-", label="MAE")
    ax.plot(table["n_train_frames"], table["rmse_meV_per_atom"], "s--", label="RMSE")
    ax.set_xlabel("labelled training frames")
    ax.set_ylabel("test error (meV/atom)")
    ax.set_ylim(bottom=0)
    ax.legend(frameon=False)
    fig.tight_layout()
    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, format="png", metadata={"Software": None})
    plt.close(fig)
    return table
