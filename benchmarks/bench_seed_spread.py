"""Seed spread of the distillation learning curves, from replicate campaigns (nothing is re-run).

A replicate (``distill.replicate: N``, see ``docs/campaign/replicate.sh``) runs the same distillation
with new seeds for the initial subset, the selections and the members, on the same sampled pools.
Given the results folders of the recorded campaign and its replicates, this prints, per evaluation
pool, strategy and budget, the pool MAE of each replicate, their mean and sample standard deviation,
and for the uncertainty loop the mean difference from each baseline with its standard error (paired
by replicate: the strategies of one replicate share their iteration-0 frames and member seeds).

    .venv/bin/python benchmarks/bench_seed_spread.py results results/replicate1 results/replicate2 \
        [--element Ni] [--csv seed_spread.csv]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd


def load_curves(folders: list[str], element: str) -> pd.DataFrame:
    parts = []
    for rep, folder in enumerate(folders):
        path = Path(folder) / element / "distill" / "learning_curve.csv"
        if not path.is_file():
            sys.exit(f"no learning curve at {path}: run that campaign (or replicate) first")
        df = pd.read_csv(path)
        df["replicate"] = rep
        parts.append(df)
    return pd.concat(parts, ignore_index=True)


def spread_table(curves: pd.DataFrame) -> pd.DataFrame:
    """MAE per replicate, mean and sample std per (pool, strategy, n_frames) present in every replicate."""
    n_rep = curves["replicate"].nunique()
    wide = curves.pivot_table(index=["pool", "strategy", "n_frames"], columns="replicate",
                              values="mae_meV_per_atom")
    wide = wide.dropna()
    wide.columns = [f"rep{c}" for c in wide.columns]
    values = wide.to_numpy()
    wide["mean"] = values.mean(axis=1)
    wide["std"] = values.std(axis=1, ddof=1) if n_rep > 1 else np.nan
    return wide.reset_index()


def paired_differences(curves: pd.DataFrame, loop: str = "uncertainty") -> pd.DataFrame:
    """Loop minus baseline, paired by replicate: mean and standard error of the mean."""
    rows = []
    wide = curves.pivot_table(index=["pool", "n_frames", "replicate"], columns="strategy",
                              values="mae_meV_per_atom")
    for (pool, n_frames), g in wide.groupby(level=[0, 1]):
        if loop not in g:
            continue
        for base in [c for c in g.columns if c != loop]:
            d = (g[loop] - g[base]).dropna().to_numpy()
            if d.size == 0:
                continue
            sem = d.std(ddof=1) / np.sqrt(d.size) if d.size > 1 else np.nan
            rows.append({"pool": pool, "n_frames": n_frames, "baseline": base, "n_replicates": d.size,
                         "mean_difference_meV_per_atom": d.mean(), "sem_meV_per_atom": sem,
                         "loop_lower_in": int(np.sum(d < 0))})
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folders", nargs="+", help="results folders: the campaign's and its replicates'")
    ap.add_argument("--element", default="Ni")
    ap.add_argument("--csv", help="also write the spread table here")
    args = ap.parse_args(argv)
    curves = load_curves(args.folders, args.element)
    table = spread_table(curves)
    pd.set_option("display.width", 160)
    print(f"pool MAE (meV/atom) over {curves['replicate'].nunique()} seeds of the distillation")
    print(table.to_string(index=False, float_format=lambda x: f"{x:.2f}"))
    diffs = paired_differences(curves)
    if not diffs.empty:
        print("\nuncertainty loop minus baseline, paired by replicate (negative: the loop is lower)")
        print(diffs.to_string(index=False, formatters={
            "mean_difference_meV_per_atom": lambda x: f"{x:+.2f}", "sem_meV_per_atom": lambda x: f"{x:.2f}"}))
    if args.csv:
        table.to_csv(args.csv, index=False, float_format="%.4f")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
