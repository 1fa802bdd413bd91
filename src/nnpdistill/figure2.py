"""Figure 2 of the paper for a distillation: MAE against the fraction of the pool per strategy, on each
evaluation pool, and the uncertainty-vs-error rank correlation per iteration."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from . import selection as sel
from .io_utils import atomic_path


def plot_learning_curves(curve: pd.DataFrame, path: str | os.PathLike, element: str) -> None:
    """One panel per evaluation pool: MAE (meV/atom) against the fraction of the pool, per strategy;
    plus the uncertainty-vs-error rank correlation of each iteration (paper Figure 2)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    def plain(value, _pos):  # log-axis labels as plain numbers, the minor ones at mantissas 2 to 5 only
        if value <= 0:
            return ""
        mantissa = round(value / 10 ** np.floor(np.log10(value)), 6)
        return f"{value:g}" if mantissa in (1.0, 2.0, 3.0, 4.0, 5.0) else ""

    pools = list(dict.fromkeys(curve["pool"]))
    fig, axes = plt.subplots(1, len(pools) + 1, figsize=(4.2 * (len(pools) + 1) + 1.4, 3.6), squeeze=False,
                             layout="constrained")
    styles = {name: s.style for name, s in sel.REGISTRY.items()}
    for ax, pool in zip(axes[0], pools, strict=False):
        for strategy, sub in curve[curve["pool"] == pool].groupby("strategy", sort=True):
            color, marker = styles.get(strategy, ("k", "x"))
            ax.plot(100 * sub["fraction_of_pool"], sub["mae_meV_per_atom"], marker=marker, color=color,
                    label=strategy)
        ax.set_xlabel("frames used (% of the selection pool)")
        ax.set_ylabel("MAE (meV/atom)")
        ax.set_title(f"{element}: error on {pool}")
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(FuncFormatter(plain))
        ax.yaxis.set_minor_formatter(FuncFormatter(plain))
        ax.grid(alpha=0.3)
        ax.grid(alpha=0.15, which="minor")
    ax = axes[0][-1]
    first = curve[curve["pool"] == pools[0]]
    for strategy, sub in first.groupby("strategy", sort=True):
        color, marker = styles.get(strategy, ("k", "x"))
        ax.plot(sub["iteration"], sub["spearman_uq_vs_atomic_error"], marker=marker, color=color,
                label=strategy)
    ax.set_xlabel("iteration")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # iterations are whole numbers
    ax.set_ylabel("Spearman ρ (uncertainty vs |atomic error|)")
    ax.set_title(f"uncertainty quality on {pools[0]}")
    ax.grid(alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right upper", fontsize=8)  # one legend, beside the panels
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png", metadata={"Software": None})
    plt.close(fig)
