"""Three-seed comparison of selectors on the taste campaign's Ni pools (issue 16): the taste campaign
(seed 0, results/taste) and its replicates (results/taste_rep{1,2}, diverse-replicate.sh). Writes
{prefix}_three_seeds.csv (pool MAE mean and sd per strategy, pool and budget), {prefix}_learning_curves.csv
(every seed and iteration) and {prefix}_spearman.csv: per strategy and iteration, the Spearman rank
correlation between the frames' |energy error| and each committee score of the selection pool's
prediction (uq_max_eV, uq_mean_eV, energy_std_eV_per_atom, uq_force_max_eV_per_A where present), so
the ranking power of every committee score is measured on the frames it selects from.
    python docs/campaign/taste/seed_table.py committee uncertainty random uncertainty_diverse force_committee
"""

import sys
from pathlib import Path

import pandas as pd
from scipy.stats import spearmanr

prefix, strategies = sys.argv[1], sys.argv[2:]
here = Path(__file__).parent
runs = {0: Path("results/taste"), 1: Path("results/taste_rep1"), 2: Path("results/taste_rep2")}
curves, rhos = [], []
for seed, root in runs.items():
    lc = pd.read_csv(root / "Ni/distill/learning_curve.csv")
    curves.append(lc[lc.strategy.isin(strategies)].assign(seed=seed))
    for strategy in strategies:
        for pred in sorted((root / f"Ni/distill/{strategy}").glob("iter_*/pred_momt_32/scores.csv")):
            d = pd.read_csv(pred)
            row = {"seed": seed, "strategy": strategy, "iteration": int(pred.parent.parent.name[5:])}
            for col in ("uq_max_eV", "uq_mean_eV", "energy_std_eV_per_atom", "uq_force_max_eV_per_A"):
                if col in d:
                    row[col] = spearmanr(d[col], d["abs_error_meV_per_atom"])[0]
            rhos.append(row)
curves = pd.concat(curves, ignore_index=True)
table = (curves.groupby(["pool", "n_frames", "strategy"])["mae_meV_per_atom"].agg(["mean", "std", "count"])
         .reset_index())
table = table[table["count"] == len(runs)]
table.to_csv(here / f"{prefix}_three_seeds.csv", index=False, float_format="%.4g")
curves.to_csv(here / f"{prefix}_learning_curves.csv", index=False, float_format="%.6g")
rho = pd.DataFrame(rhos).sort_values(["strategy", "seed", "iteration"])
rho.to_csv(here / f"{prefix}_spearman.csv", index=False, float_format="%.3f")
print(table.pivot_table(index=["pool", "n_frames"], columns="strategy", values=["mean", "std"]).round(2)
      .to_string())
print(rho.drop(columns="seed").groupby("strategy").agg(["min", "max"]).round(2).to_string())

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from nnpdistill.selection import REGISTRY  # noqa: E402

fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
for ax, pool in zip(axes, ("momt_32", "momt_108"), strict=True):
    for strategy in strategies:
        t = table[(table.pool == pool) & (table.strategy == strategy)]
        colour, marker = REGISTRY[strategy].style
        ax.errorbar(t.n_frames, t["mean"], yerr=t["std"], color=colour, marker=marker, capsize=3,
                    label=strategy)
    ax.set(title=f"Ni {pool} pool (2,000 frames)", xlabel="selected frames", yscale="log")
    ax.grid(alpha=0.3)
axes[0].set_ylabel("pool MAE (meV/atom), mean ± sd of 3 seeds")
axes[0].legend()
fig.tight_layout()
fig.savefig(here / f"{prefix}_three_seeds.png", dpi=120)
