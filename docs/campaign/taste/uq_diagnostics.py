"""Issue 16: can anything rank the loop's frame errors? For each iteration of a finished loop, the Spearman
rank correlation between each pool frame's |energy error| (meV/atom) and the candidate scores:
the committee's (``uq_max_eV``, the loop's; ``uq_mean_eV``; ``energy_std_eV_per_atom``), the distance
to the training set in descriptor space (mean distance to the 5 nearest training frames of the pooled,
standardised ANI descriptors, the DIRECT/FPS space) and the frame's own enthalpy, order parameter and
volume; frames already in the training set left out.

    python docs/campaign/taste/uq_diagnostics.py results/taste/Ni/distill/uncertainty AEVS.h5 [--out CSV]

AEVS.h5: the selection pool's AEV cache (rule compute_pool_aevs, results/{element}/sample/aev/{pool}.h5).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from nnpdistill.nnp.aev_cache import frame_descriptors

SCORES = ("uq_max_eV", "uq_mean_eV", "energy_std_eV_per_atom")
STATE = ("enthalpy_eV", "order_parameter", "volume_A3")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("strategy_dir", type=Path, help="results/{element}/distill/{strategy}")
    ap.add_argument("aevs", type=Path, help="the selection pool's AEV cache")
    ap.add_argument("--pool", default="momt_32", help="the scored pool (pred_{pool})")
    ap.add_argument("--out", type=Path, default=None, help="write the table as CSV")
    args = ap.parse_args()
    z = frame_descriptors(args.aevs)
    z = (z - z.mean(0)) / np.where(z.std(0) > 0, z.std(0), 1.0)
    iters = sorted(int(p.name.split("_")[1]) for p in args.strategy_dir.glob("iter_*")
                   if (p / f"pred_{args.pool}" / "scores.csv").exists())
    last = max(int(p.name.split("_")[1]) for p in args.strategy_dir.glob("iter_*"))
    sel = pd.read_csv(args.strategy_dir / f"iter_{last}" / "selection.csv")
    rows = []
    for it in iters:
        d = pd.read_csv(args.strategy_dir / f"iter_{it}" / f"pred_{args.pool}" / "scores.csv")
        train = sel.frame_index[sel.iteration_added <= it].to_numpy()
        dist = np.sqrt(((z[:, None, :] - z[None, train, :]) ** 2).sum(-1))
        knn = np.sort(dist, axis=1)[:, :5].mean(1)
        keep = ~np.isin(d.frame_index.to_numpy(), train)
        err = d.abs_error_meV_per_atom.to_numpy()[keep]
        row = {"iteration": it, "training_frames": len(train), "pool_mae_meV_per_atom": float(err.mean())}
        for col in SCORES + STATE:
            row[f"rho_{col}"] = float(spearmanr(d[col].to_numpy()[keep], err)[0])
        row["rho_descriptor_knn_distance"] = float(spearmanr(knn[d.frame_index.to_numpy()][keep], err)[0])
        rows.append(row)
    table = pd.DataFrame(rows)
    print(table.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    if args.out:
        table.to_csv(args.out, index=False, float_format="%.4g")


if __name__ == "__main__":
    main()
